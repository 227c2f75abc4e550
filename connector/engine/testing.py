"""Drive an element without sockets or sleeping: a fake clock, a fake transport, a harness.

The harness carries out an element's effects through the runtime's own router
(`connector.engine.effects`: persist first, then requests, timers, InterApp, deferred
triggers when no other event waits), but synchronously: a request is answered by a transport
function on the spot, and timers fire when the test advances the fake clock. Tests of the
engine and of connectors use it; so does the in-process benchmark.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from typing import Protocol as TypingProtocol

from connector.engine import events as ev
from connector.engine.effects import EffectRouter
from connector.engine.element import Element, Saved

Transport = Callable[[ev.SendRequest], ev.HttpResult]


class FakeClock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self, start: float = 1_795_651_200.0) -> None:  # 2026-11-26T00:00:00Z
        self.time = start

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


class PersistSink(TypingProtocol):
    def commit(self, persist: ev.Persist) -> None: ...


def answer(
    request: ev.SendRequest,
    status: int = 200,
    body: str = "",
    reason: str = "",
    headers: Mapping[str, str] | None = None,
) -> ev.HttpResult:
    """An HTTP answer to `request` (for fake transports)."""
    from http import HTTPStatus

    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return ev.HttpResult(
        request_id=request.request_id, status=status, reason=reason, body=body, headers=dict(headers or {})
    )


def failure(request: ev.SendRequest, error: str, detail: str = "") -> ev.HttpResult:
    """No HTTP answer to `request`: `error` is "timeout", "connect", "lost", ..."""
    return ev.HttpResult(request_id=request.request_id, error=error, detail=detail)


class Harness:
    def __init__(
        self,
        element: Element,
        clock: FakeClock,
        *,
        transport: Transport | None = None,
        store: PersistSink | None = None,
        route: Callable[[ev.SendInterApp], None] | None = None,
    ) -> None:
        self.element = element
        self.clock = clock
        self.transport = transport
        self.store = store
        self.route = route
        self.requests: list[ev.SendRequest] = []  # every request sent
        self.unanswered: deque[ev.SendRequest] = deque()  # sent without a transport
        self.interapp: list[ev.SendInterApp] = []
        self.persisted: list[ev.Persist] = []
        self.metrics: list[ev.Metric] = []  # every Observe and Count, in order
        self._timers: dict[int, tuple[float, float]] = {}  # timer -> (due, interval)
        self._events: deque[ev.Event] = deque()
        self._router = EffectRouter(self)

    # -- driving --------------------------------------------------------------------------

    def start(
        self,
        saved: Saved | None = None,
        initial: Mapping[int, Any] | None = None,
        always: Mapping[int, Any] | None = None,
    ) -> None:
        self._carry_out(self.element.start(saved, initial, always))
        self.advance(0)

    def dispatch(self, event: ev.Event) -> None:
        self._events.append(event)
        self._drain()

    def set(self, param: int | str, value: Any) -> None:
        self.dispatch(ev.SetParameter(param=param, value=value))

    def respond(self, make: Callable[[ev.SendRequest], ev.HttpResult]) -> ev.SendRequest:
        """Answer the oldest unanswered request (when there is no transport)."""
        request = self.unanswered.popleft()
        self.dispatch(make(request))
        return request

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer that falls due on the way, in time order."""
        target = self.clock.time + seconds
        while True:
            due = [(when, timer) for timer, (when, _) in self._timers.items() if when <= target]
            if not due:
                break
            when, timer = heapq.nsmallest(1, due)[0]
            self.clock.time = max(self.clock.time, when)
            interval = self._timers[timer][1]
            self._timers[timer] = (when + interval, interval)
            self.dispatch(ev.TimerFired(timer=timer))
        self.clock.time = max(self.clock.time, target)

    def timer_due(self, timer: int) -> float | None:
        entry = self._timers.get(timer)
        return None if entry is None else entry[0]

    # -- effects --------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            event: ev.Event | None = self._router.take_deferred(others_waiting=bool(self._events))
            if event is None:
                if not self._events:
                    return
                event = self._events.popleft()
            self._carry_out(self.element.handle(event))

    def _carry_out(self, effects: list[ev.Effect]) -> None:
        self._router.carry_out(effects)

    # -- the effect sink (connector.engine.effects.EffectSink) ------------------------------

    def commit(self, persist: ev.Persist) -> None:
        self.persisted.append(persist)
        if self.store is not None:
            self.store.commit(persist)

    def send(self, request: ev.SendRequest) -> None:
        self.requests.append(request)
        if self.transport is None:
            self.unanswered.append(request)
        else:
            self._events.append(self.transport(request))

    def schedule(self, timer: ev.ScheduleTimer) -> None:
        self._timers[timer.timer] = (self.clock.time + timer.first_in, max(timer.interval, 1e-3))

    def cancel(self, timer: ev.CancelTimer) -> None:
        self._timers.pop(timer.timer, None)

    def deliver(self, message: ev.SendInterApp) -> None:
        self.interapp.append(message)
        if self.route is not None:
            self.route(message)

    def record(self, metric: ev.Metric) -> None:
        self.metrics.append(metric)
