"""An element: one running instance of a protocol, as a sans-I/O state machine.

The rules it keeps (DataMiner's, see ../shared/reference/dataminer-model.md):

*Parameter changes.* A change runs, in this order: the triggers on the parameter (or the
`each` triggers when it has none), the save, the setter copy (write -> read), the handlers
on the parameter. A set from a handler or from outside always fires, even with the same
value; a value written by the protocol itself (an HTTP response, a copy) fires only when it
differs from the current one, or when a `clear` action erased the memory of it.

*The queue.* Groups run one at a time from one queue (`connector.engine.groups`). A group
of HTTP sessions sends its requests one after the other and is finished when the last
answer has been stored; only then does the next group start. Requests are built from the
parameters when the group is queued.

*Effects.* `start()` and `handle(event)` return the effects of the step in the order they
must be carried out. The first is the `Persist` of every saved value the step changed:
commits are batched per step (per group answer, per set command), never per cell.

*The surface.* `start`, `handle`, `hold` (a graceful stop) and `view`, a read-only view for
the API, the demo and tests. Handlers change the element through the handler API
(`connector.engine.context.HandlerContext`); the state machine behind both is
`connector.engine.machine.Machine`, internal to the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from connector.engine import events as ev
from connector.engine.machine import Handler, Machine
from connector.engine.persist import Saved
from connector.engine.table import Table
from connector.protocol.model import Protocol

__all__ = ["Element", "ElementView", "Handler", "Saved", "internals"]


class ElementView:
    """An element as the API, the demo and tests read it: nothing here changes it.

    `values`, `tables` and `memory` are read-only mappings over the live state (a table itself
    is the engine's `Table`: read it, do not write it; writes go through a set or a handler).
    """

    __slots__ = ("_machine", "values", "tables", "memory")

    def __init__(self, machine: Machine) -> None:
        self._machine = machine
        self.values: Mapping[int, Any] = MappingProxyType(machine.values)
        self.tables: Mapping[int, Table] = MappingProxyType(machine.tables)
        self.memory: Mapping[str, Any] = MappingProxyType(machine.memory)

    @property
    def name(self) -> str:
        return self._machine.name

    @property
    def protocol(self) -> Protocol:
        return self._machine.protocol

    def get(self, ref: int | str) -> Any:
        """A parameter's value, by id or name (KeyError for an unknown one)."""
        return self._machine.get(ref)

    def table(self, ref: int | str) -> Table:
        """A table, by id or name (KeyError for an unknown one)."""
        return self._machine.tables[self._machine.protocol.table(ref).id]

    @property
    def running(self) -> int | None:
        """The group that is running now (waiting for its HTTP answers), or None."""
        return self._machine.groups.running

    @property
    def queued(self) -> list[int]:
        """The groups waiting in the queue, in the order they will run."""
        return self._machine.groups.queue.groups()

    @property
    def idle(self) -> bool:
        """No group running and none queued."""
        return self._machine.groups.running is None and not self._machine.groups.queue


class Element:
    """One running instance of a protocol (see the module's docstring for its rules)."""

    __slots__ = ("_machine", "_view")

    def __init__(
        self,
        protocol: Protocol,
        *,
        name: str,
        handlers: Mapping[int, Handler],
        now: Callable[[], float],
        element_id: str = "1/1",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # element_id: "DataMinerID/ElementID" (e.g. "1/12"), what handlers put in a return address.
        self._machine = Machine(
            protocol, name=name, handlers=handlers, now=now, element_id=element_id, monotonic=monotonic
        )
        self._view = ElementView(self._machine)

    @property
    def view(self) -> ElementView:
        return self._view

    def start(
        self,
        saved: Saved | None = None,
        initial: Mapping[int, Any] | None = None,
        always: Mapping[int, Any] | None = None,
    ) -> list[ev.Effect]:
        """Start the element; the effects of the start, in order.

        `saved`: what the store kept; when there is nothing, the `initial` values apply.
        `always`: values applied at every start (passwords, never stored). Then defaults fill
        what is still empty, the initial timers start and the after-startup triggers fire.
        """
        return self._machine.start(saved, initial, always)

    def handle(self, event: ev.Event) -> list[ev.Effect]:
        """One step: the event's work, then queued groups; the step's effects, in order.

        A set refused before anything changed raises KeyError or ValueRefused.
        """
        return self._machine.handle(event)

    def hold(self) -> None:
        """Start no further group (a graceful stop lets the running one finish)."""
        self._machine.hold()


def internals(element: Element) -> Machine:
    """The element's state machine, for the engine's own tests and benchmarks only.

    Connectors use the handler API and services the view: what this gives may change.
    """
    return element._machine
