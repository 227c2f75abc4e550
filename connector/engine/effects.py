"""Carrying out an element's effects: one router for the runtime and the test harness.

The element returns a step's effects in the order they must be carried out, the `Persist`
first: a change is committed before the request or the acknowledgement that depends on it
leaves. The router hands each effect, in that order, to the method of a sink that does the
I/O (the runtime's: SQLite, httpx, APScheduler, other elements; the harness's: lists and a
fake clock). `Defer` is the router's own: the trigger comes back as a `CheckTrigger` event
when no other event waits, so that an answer that is already in goes first and its next
request leaves before the deferred work is done.

Both drivers use this one class, so the order and the deferral policy cannot drift apart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from typing import Protocol as TypingProtocol

from connector.engine import events as ev


class EffectSink(TypingProtocol):
    """What a driver does with each kind of effect (all but Defer)."""

    def commit(self, persist: ev.Persist) -> None:
        """Commit, in one transaction; raise when it cannot (nothing after it is carried out)."""

    def send(self, request: ev.SendRequest) -> None:
        """Send the request; its answer comes back later as an HttpResult event."""

    def schedule(self, timer: ev.ScheduleTimer) -> None: ...

    def cancel(self, timer: ev.CancelTimer) -> None: ...

    def deliver(self, message: ev.SendInterApp) -> None:
        """Hand an InterApp message to its target element (and, for a reply, to the caller)."""

    def record(self, metric: ev.Metric) -> None:
        """Add a connector's metric (an Observe or a Count) to the driver's metrics."""


class EffectRouter:
    """Sorts each step's effects onto a sink, in order, and keeps the deferred triggers."""

    __slots__ = ("_routes", "_deferred")

    def __init__(self, sink: EffectSink) -> None:
        self._deferred: deque[ev.CheckTrigger] = deque()
        self._routes: Mapping[type, Callable[[Any], None]] = {
            ev.Persist: sink.commit,
            ev.SendRequest: sink.send,
            ev.ScheduleTimer: sink.schedule,
            ev.CancelTimer: sink.cancel,
            ev.SendInterApp: sink.deliver,
            ev.Defer: self._defer,
            ev.Observe: sink.record,
            ev.Count: sink.record,
        }

    def carry_out(self, effects: Iterable[ev.Effect]) -> None:
        """Carry out one step's effects in their order. An exception (a refused commit)
        stops here: what follows it in the step is not carried out."""
        routes = self._routes
        for effect in effects:
            routes[type(effect)](effect)

    def _defer(self, effect: ev.Defer) -> None:
        self._deferred.append(ev.CheckTrigger(trigger=effect.trigger))

    def take_deferred(self, *, others_waiting: bool) -> ev.CheckTrigger | None:
        """The deferred trigger to run now, oldest first: only when no other event waits."""
        if others_waiting or not self._deferred:
            return None
        return self._deferred.popleft()

    @property
    def deferred(self) -> int:
        """How many deferred triggers wait."""
        return len(self._deferred)
