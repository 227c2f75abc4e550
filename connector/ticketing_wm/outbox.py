"""The Outgoing Tickets table: each ticket WM took in, and how far its delivery to BE got.

    state         means                                   goes to
    Pending       taken in, not sent yet                  Sent (in a message)
    Sent          in a message BE has not answered yet    Acknowledged, Rejected, Sent (again)
    Acknowledged  BE has it: accepted now, or a duplicate  (stays; Clear Acknowledged removes it)
    Rejected      BE (or the intake) refused it; Reason   Pending (Retry Rejected, or the sender
                  says why                                 sends the ticket again, fixed)

The table is WM's journal: a row is Sent, with its message's guid, in the same commit as
everything else of the step that sends the message, and the message leaves after that commit.
So after a crash a Sent row may or may not have reached BE, and is sent again; BE answers a
ticket it has with `duplicates`, which acknowledges it here as well: a ticket is never handed
over twice as new, and never dropped.

Answers are applied by ticket id, whichever message they answer: BE's word on a ticket holds
for every copy of it, so a late answer to a message that was sent again is still right.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from connector.contracts.ticket_answers import BatchAnswer
from connector.contracts.ticket_batch import Ticket, ticket_members
from connector.engine.table import Table

PENDING = "Pending"
SENT = "Sent"
ACKNOWLEDGED = "Acknowledged"
REJECTED = "Rejected"
STATES = (PENDING, SENT, ACKNOWLEDGED, REJECTED)

# Column ids of Outgoing Tickets (protocol.yaml).
TABLE = 1000
CATEGORY, NODE, SUMMARY, PRIORITY, STATE, REASON, ANSWER = 1002, 1003, 1004, 1005, 1006, 1007, 1008
SOURCE, BATCH, SENDS, TAKEN_IN, SENT_AT, ANSWERED_AT, TICKET = 1009, 1010, 1011, 1012, 1013, 1014, 1015

ACCEPTED_ANSWER = "accepted"
DUPLICATE_ANSWER = "duplicate"


def take_in(table: Table, ticket: Ticket, source: str, now: float) -> bool:
    """Add a valid ticket as Pending; False when its id is taken (a duplicate). A Rejected
    row of that id is replaced: the ticket came again, fixed."""
    cells: dict[int | str, Any] = {
        CATEGORY: ticket.category,
        NODE: ticket.node,
        SUMMARY: ticket.summary,
        PRIORITY: ticket.priority,
        STATE: PENDING,
        REASON: "",
        ANSWER: "",
        SOURCE: source,
        BATCH: "",
        SENDS: 0,
        TAKEN_IN: now,
        TICKET: json.dumps(ticket_members(ticket), ensure_ascii=False, separators=(",", ":")),
    }
    if table.add_row(ticket.ticket_id, cells):
        return True
    if table.get(ticket.ticket_id, STATE) != REJECTED:
        return False
    table.set_row(ticket.ticket_id, cells)
    return True


def refuse_at_intake(table: Table, ticket_id: str, reason: str, source: str, now: float) -> bool:
    """Keep a ticket that broke a rule of the contract as Rejected, so that the operator sees it;
    False when its id is taken already (the row there stays as it is)."""
    cells: dict[int | str, Any] = {
        STATE: REJECTED,
        REASON: f"at intake: {reason}",
        SOURCE: source,
        SENDS: 0,
        TAKEN_IN: now,
        ANSWER: "",
    }
    return table.add_row(ticket_id, cells)


def counts(table: Table) -> dict[str, int]:
    # A `find` a state: the table's own comprehension, no call a row (the hot path of every step).
    return {state: len(table.find(STATE, state)) for state in STATES}


def pending(table: Table) -> list[str]:
    """The Pending tickets, in the order they were taken in."""
    return table.find(STATE, PENDING)


def unanswered(table: Table, in_flight: Mapping[str, Any]) -> list[str]:
    """The Sent tickets whose message is not waiting for its answer any more (it timed out, or
    the element restarted since it left): to be sent again."""
    batch = table.position(BATCH)
    return [key for key in table.find(STATE, SENT) if table.raw_cells(key)[batch] not in in_flight]


def wire_tickets(table: Table, keys: Iterable[str]) -> list[dict[str, Any]]:
    """The tickets of these rows as the contract writes them."""
    position = table.position(TICKET)
    tickets: list[dict[str, Any]] = [json.loads(table.raw_cells(key)[position]) for key in keys]
    return tickets


def mark_sent(table: Table, keys: Iterable[str], guid: str, now: float) -> None:
    sends = table.position(SENDS)
    for key in keys:
        table.set_row(key, {STATE: SENT, BATCH: guid, SENT_AT: now, SENDS: int(table.raw_cells(key)[sends] or 0) + 1})


def apply_answer(table: Table, answer: BatchAnswer, keys_of_batch: Iterable[str], now: float) -> dict[str, int]:
    """Apply BE's answer; how many tickets it acknowledged and rejected. `keys_of_batch`: the
    tickets of the answered message (an ErrorResponse names no ticket: it refuses them all)."""
    done = {ACKNOWLEDGED: 0, REJECTED: 0}
    if answer.error is not None:
        for key in keys_of_batch:
            done[REJECTED] += _settle(table, key, REJECTED, now, reason=f"BE refused the message: {answer.error}")
        return done
    for key in answer.accepted:
        done[ACKNOWLEDGED] += _settle(table, key, ACKNOWLEDGED, now, answer=ACCEPTED_ANSWER)
    for key in answer.duplicates:
        done[ACKNOWLEDGED] += _settle(table, key, ACKNOWLEDGED, now, answer=DUPLICATE_ANSWER)
    for key, reason in answer.rejected:
        done[REJECTED] += _settle(table, key, REJECTED, now, reason=reason)
    return done


def _settle(table: Table, key: str, state: str, now: float, *, answer: str = "", reason: str = "") -> int:
    # Only a ticket on its way is settled: one BE answered for already keeps that answer (the
    # contract lists a ticket twice in a batch as accepted AND duplicate: the first word holds).
    if key not in table or table.get(key, STATE) not in (SENT, PENDING):
        return 0
    table.set_row(key, {STATE: state, ANSWER: answer, REASON: reason, ANSWERED_AT: now})
    return 1


def retry_rejected(table: Table) -> int:
    """Rejected tickets that can be sent go back to Pending; the ones refused at intake (no
    ticket to send) stay."""
    keys = [key for key in table.find(STATE, REJECTED) if table.get(key, TICKET)]
    for key in keys:
        table.set_row(key, {STATE: PENDING, REASON: ""})
    return len(keys)


def clear_acknowledged(table: Table, answered_before: float | None = None) -> int:
    """Remove the Acknowledged tickets (answered before that time, when given)."""
    keys = table.find(STATE, ACKNOWLEDGED)
    if answered_before is not None:
        answered = table.position(ANSWERED_AT)
        keys = [key for key in keys if (table.raw_cells(key)[answered] or 0) < answered_before]
    table.delete_rows(keys)
    return len(keys)
