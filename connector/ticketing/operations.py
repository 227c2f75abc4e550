"""The four writes of a cycle: what each one sends for a batch of tickets, and how its answer
settles their rows.

    Create Ticket     Cherwell: one incident per ticket     -> Create OT (its waiters: Add Note)
    Add Note          Cherwell: one journal note per ticket -> Completed
    Create OT         SFyC: one work order per ticket       -> Update Ticket OT
    Update Ticket OT  Cherwell: the incident's OTNumber      -> Completed

A request is built without credentials (they are added when it is sent), so one built ahead,
while the batch before is on the wire, is the request that goes out. An answer for the whole
batch (refused, unanswered, unreadable) fails every ticket of it together; an item's answer
fails or advances that ticket alone. Whether the outcome is left open (`maybe_applied`) goes
into the ticket's Outcome Unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from typing import Protocol as TypingProtocol

from attrs import frozen

from connector.ticketing import cherwell as cw
from connector.ticketing import sfyc
from connector.ticketing import tickets as tk
from connector.ticketing.calls import PlatformCall, PlatformReply
from connector.ticketing.cherwell import Metadata, PlatformError
from connector.ticketing.decision import Node, OpenIncidents, waiters_to_note
from connector.ticketing.rows import CycleRows
from connector.ticketing.tickets import Ticket


class ItemResult(TypingProtocol):
    """One ticket's part of a batch answer (cherwell.SaveResult, sfyc.OrderResult)."""

    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...

    @property
    def maybe_applied(self) -> bool: ...


Outcome = Sequence[ItemResult] | PlatformError  # a batch's answer, item by item, or its failure


@frozen
class Operation:
    """One write: how a batch's request is built (`build(tickets, md)` gives the call and what
    `read(reply, context)` needs to read its answer item by item)."""

    name: str
    cherwell: bool  # needs a Cherwell session (prepared before the batch is noted)
    build: Callable[[Sequence[Ticket], Metadata | None], tuple[PlatformCall, Any]]
    read: Callable[[PlatformReply, Any], Sequence[ItemResult]]


class Operations:
    """The writes, and what their answers do to the rows (and to the open incidents)."""

    def __init__(self, rows: CycleRows, incidents: OpenIncidents, waiting: dict[Node, tuple[Ticket, ...]]) -> None:
        self.rows, self.incidents, self.waiting = rows, incidents, waiting
        self.specs: Mapping[str, Operation] = {
            tk.CREATE_TICKET: Operation(tk.CREATE_TICKET, True, _create_request, _read_saves),
            tk.ADD_NOTE: Operation(tk.ADD_NOTE, True, _note_request, _read_saves),
            tk.CREATE_OT: Operation(tk.CREATE_OT, False, _order_request, _read_orders),
            tk.UPDATE_TICKET_OT: Operation(tk.UPDATE_TICKET_OT, True, _update_request, _read_saves),
        }
        self._succeeded: Mapping[str, Callable[[Ticket, Any], Sequence[Ticket]]] = {
            tk.CREATE_TICKET: self._created,
            tk.ADD_NOTE: self._note_added,
            tk.CREATE_OT: self._ordered,
            tk.UPDATE_TICKET_OT: self._updated,
        }

    def settle(self, operation: str, tickets: Sequence[Ticket], outcome: Outcome, sent_at: float) -> list[Ticket]:
        """A batch's answer into its tickets' rows. Returns the tickets it let through that were not
        in it: a new incident's waiters, notes on it next. `sent_at`: when the batch left (an
        unknown outcome is not looked up before it has settled)."""
        if isinstance(outcome, PlatformError):  # failed together: retried together, in one batch
            self.rows.fail_together(tickets, outcome.message, outcome_unknown=outcome.maybe_applied, sent_at=sent_at)
            return []
        promoted: list[Ticket] = []
        succeeded = self._succeeded[operation]
        for ticket, result in zip(tickets, outcome, strict=True):  # the parsers give one result a ticket
            if result.ok:
                tk.settle_known(ticket)
                if waiters := succeeded(ticket, result):
                    promoted.extend(waiters)
                self.rows.store(ticket)
            else:
                self.rows.fail(ticket, result.message, outcome_unknown=result.maybe_applied, sent_at=sent_at)
        return promoted

    def _created(self, ticket: Ticket, result: cw.SaveResult) -> list[Ticket]:
        tk.created(ticket, result.public_id, result.rec_id)
        self.rows.report.tickets_created += 1
        incident = self.incidents.created(ticket, result.public_id, result.rec_id)
        # The node's waiters become notes on the new incident in this same cycle (Add Note runs next).
        waiters = waiters_to_note(self.waiting.pop(ticket.node_key, ()), self.rows.pending)
        for waiter in waiters:
            tk.note_on(waiter, incident.incident_id, incident.rec_id)
            self.rows.store(waiter)
        return waiters

    def _note_added(self, ticket: Ticket, result: cw.SaveResult) -> Sequence[Ticket]:
        self.rows.report.notes_added += 1
        self.rows.complete(ticket)
        return ()

    def _ordered(self, ticket: Ticket, result: sfyc.OrderResult) -> Sequence[Ticket]:
        tk.ordered(ticket, result.ot)
        self.rows.report.ots_created += 1
        return ()

    def _updated(self, ticket: Ticket, result: cw.SaveResult) -> Sequence[Ticket]:
        self.rows.complete(ticket)
        return ()


# How each write is built (without credentials: they are added when it is sent) ------------------


def _create_request(tickets: Sequence[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[cw.Save]]:
    assert md is not None
    return _saves_request("create_ticket", [cw.Save(bo=md.incident, values=_incident_values(t)) for t in tickets])


def _note_request(tickets: Sequence[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[cw.Save]]:
    assert md is not None
    return _saves_request(
        "add_note",
        [
            cw.Save(
                bo=md.note,
                values={
                    "ParentRecID": t.platform_record,
                    "ParentTypeID": md.incident.bus_ob_id,
                    "Details": note_text(t),
                },
            )
            for t in tickets
        ],
    )


def _update_request(tickets: Sequence[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[cw.Save]]:
    assert md is not None
    return _saves_request(
        "update_ticket_ot",
        [cw.Save(bo=md.incident, rec_id=t.platform_record, values={"OTNumber": t.ot_number}) for t in tickets],
    )


def _order_request(tickets: Sequence[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[sfyc.OrderRequest]]:
    orders = [
        sfyc.OrderRequest(
            ticket=t.platform_ticket,
            referencia=t.key,
            categoria=t.category,
            nodo=t.node,
            descripcion=note_text(t, with_id=False),
            prioridad=t.priority,
        )
        for t in tickets
    ]
    return sfyc.create_orders_call("", orders), orders


def _saves_request(session: str, saves: list[cw.Save]) -> tuple[PlatformCall, list[cw.Save]]:
    return cw.save_batch_call("", session, saves), saves


def _read_saves(reply: PlatformReply, saves: list[cw.Save]) -> Sequence[cw.SaveResult]:
    return cw.parse_save_batch(reply, saves)


def _read_orders(reply: PlatformReply, orders: list[sfyc.OrderRequest]) -> Sequence[sfyc.OrderResult]:
    return sfyc.parse_create_orders(reply, orders)


def note_text(ticket: Ticket, *, with_id: bool = True) -> str:
    """`[<ticket id>] <summary>`, then the description: the id prefix is how a look-up finds the note."""
    text = f"[{ticket.key}] {ticket.summary}" if with_id else ticket.summary
    return f"{text}\n{ticket.description}" if ticket.description else text


def _incident_values(ticket: Ticket) -> dict[str, str]:
    return {
        "Category": ticket.category,
        "ShortDescription": ticket.summary,
        "Description": ticket.description,
        "Priority": str(ticket.priority),
        "Node": ticket.node,
        "ExternalID": ticket.key,
        "Source": cw.SOURCE,
    }
