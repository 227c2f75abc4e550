"""Ticketing WM (and Ticketing BE) elements on the engine's Harness, and InterApp between them.

`Wire` routes InterApp messages between harnesses as the runtime does (by element name or
DataMinerID/ElementID, onto the target's parameter, not as a set from outside), but only when a
test pumps it: a message is never delivered inside the step that sent it, and a test can lose,
repeat or hold back any message on the way (what a crash does to it).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.contracts.ticket_batch import batch_response
from connector.engine import events as ev
from connector.engine.element import Element, Saved
from connector.engine.interapp import parse_call, serialize_call
from connector.engine.loading import param_values, resolve_handlers
from connector.engine.store import MemoryStore
from connector.engine.table import Table
from connector.engine.testing import FakeClock, Harness
from connector.protocol.loader import load_protocol
from connector.ticketing_wm import PROTOCOL_YAML, outbox

WM_PROTOCOL = load_protocol(PROTOCOL_YAML)
WM_NAME = "Ticketing WM 01"
WM_ID = "1/2"
BE_NAME = "Ticketing BE 01"


def wm_element(
    clock: FakeClock,
    *,
    store: MemoryStore | None = None,
    params: Mapping[int | str, Any] | None = None,
    wire: Wire | None = None,
) -> Harness:
    """A started Ticketing WM element that sends to `BE_NAME` (initial values `params` by name),
    on `wire` from its start (a restart sends at once)."""
    element = Element(
        WM_PROTOCOL,
        name=WM_NAME,
        handlers=resolve_handlers(WM_PROTOCOL),
        now=clock.now,
        monotonic=clock.monotonic,
        element_id=WM_ID,
    )
    harness = Harness(element, clock, store=store)
    if wire is not None:
        wire.attach(harness, WM_ID)
    harness.start(
        saved=store.load() if store is not None else Saved(),
        initial=param_values(WM_PROTOCOL, {"Destination Element": BE_NAME, **(params or {})}),
    )
    return harness


def outgoing_table() -> Table:
    """An empty Outgoing Tickets table, as the element has it."""
    return Table(WM_PROTOCOL.tables[outbox.TABLE])


def wm_tickets(count: int, prefix: str = "WM-T") -> list[dict[str, Any]]:
    return [
        {"ticketId": f"{prefix}-{i:05d}", "category": "SNR", "node": f"NODO-{i:05d}", "summary": f"SNR bajo {i}"}
        for i in range(count)
    ]


def states(h: Harness) -> dict[str, int]:
    return {state: n for state, n in outbox.counts(h.element.view.table(outbox.TABLE)).items() if n}


def row(h: Harness, key: str) -> dict[str, Any]:
    return h.element.view.table(outbox.TABLE).row(key)


def sent_batches(h: Harness) -> list[dict[str, Any]]:
    """The TicketBatchMessages the element sent, oldest first, as plain members."""
    found = []
    for message in h.interapp:
        if message.parameter == 9000000:
            for call_message in parse_call(message.raw, {"TicketBatchMessage", "Ticket"}).messages:
                found.append({"guid": call_message.guid, "to": message.target, **call_message.members})
    return found


def answer(h: Harness, guid: str, accepted: Iterable[str] = (), duplicates: Iterable[str] = (), rejected=()) -> None:
    """BE's answer to a message, on the element's InterApp Return."""
    raw = serialize_call([batch_response(guid, accepted, duplicates, rejected)])
    h.set(9000001, raw, from_outside=False)


def ids_of(batch: Mapping[str, Any]) -> list[str]:
    return [ticket["ticketId"] for ticket in batch["tickets"]]


class Wire:
    """InterApp between harnesses that share one clock (see the module's docstring)."""

    def __init__(self) -> None:
        self.elements: dict[str, Harness] = {}
        self.queue: deque[ev.SendInterApp] = deque()
        self.lose: Callable[[ev.SendInterApp], bool] = lambda message: False

    def attach(self, harness: Harness, element_id: str) -> Harness:
        harness.route = self.queue.append
        self.elements[harness.element.view.name] = harness
        self.elements[element_id] = harness
        return harness

    def pump(self) -> int:
        """Deliver what is on the wire (and what that sends), oldest first; how many arrived."""
        arrived = 0
        while self.queue:
            message = self.queue.popleft()
            target = self.elements.get(message.target)
            if target is None or self.lose(message):
                continue
            arrived += 1
            target.dispatch(ev.SetParameter(param=message.parameter, value=message.raw, from_outside=False))
        return arrived

    def run(self, seconds: float, step: float = 0.5) -> None:
        """Let time pass: every element's timers fire on the way, and the wire is pumped."""
        harnesses = list({id(h): h for h in self.elements.values()}.values())
        for _ in range(round(seconds / step)):
            harnesses[0].advance(step)  # the shared clock moves here ...
            for harness in harnesses[1:]:
                harness.advance(0)  # ... and the others fire what fell due
            self.pump()


def new_tickets(h: Harness, tickets: Any) -> None:
    h.set("New Tickets", json.dumps(tickets))
