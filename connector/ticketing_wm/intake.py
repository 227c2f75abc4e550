"""Tickets coming in: one path for an InterApp call, a set of New Tickets and a drop file.

Each ticket is checked against the contract's rules (`connector.contracts.ticket_batch`), the
ones BE checks too, so that a broken ticket is refused where it came in, with its reason, and
not after a round trip:

    valid, new id              -> Pending (a Rejected row of that id is replaced: fixed and sent again)
    valid, id in the table     -> a duplicate: the row there stays as it is
    invalid, with a usable id  -> Rejected, Reason "at intake: <the rule>"
    invalid, no usable id      -> listed in the result only

Plain JSON (a set, most drop files) is a ticket object, a list of them, or {"tickets": [...]};
a drop file may also be a whole InterApp call, as `connector send` takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import define, field

from connector.contracts.ticket_batch import BatchRead, check_ticket_id, parse_batches, read_tickets
from connector.engine.interapp import DEFAULT_MAX_BYTES
from connector.engine.table import Table
from connector.ticketing_wm import outbox


@define
class Intake:
    """What became of the tickets of one message, set or file."""

    accepted: list[str] = field(factory=list)
    duplicates: list[str] = field(factory=list)
    rejected: list[tuple[str | None, str]] = field(factory=list)  # (ticket id as sent, reason)

    def summary(self) -> str:
        text = f"{len(self.accepted)} taken in, {len(self.duplicates)} duplicates, {len(self.rejected)} rejected"
        if self.rejected:
            ticket_id, reason = self.rejected[0]
            text += f"; first rejected: {ticket_id or '(no ticket id)'}: {reason}"
        return text


def take_batch(table: Table, batch: BatchRead, source: str, now: float) -> Intake:
    """Take in the tickets of a batch read (one that was not refused whole)."""
    intake = Intake()
    for ticket in batch.tickets:
        if outbox.take_in(table, ticket, source, now):
            intake.accepted.append(ticket.ticket_id)
        else:
            intake.duplicates.append(ticket.ticket_id)
    for refused in batch.rejected:
        intake.rejected.append((refused.ticket_id, refused.reason))
        if refused.ticket_id is not None and check_ticket_id(refused.ticket_id) is None:
            outbox.refuse_at_intake(table, refused.ticket_id, refused.reason, source, now)
    return intake


def read_json(text: str | bytes) -> list[BatchRead]:
    """Tickets as JSON, read: a whole InterApp call (a top-level "$type" or "messages"), or plain
    tickets (a ticket, a list, or {"tickets": [...]}). Text that is neither is one refused
    BatchRead, its `error` saying why."""
    if len(text) > DEFAULT_MAX_BYTES:
        return [_refused(f"larger than {DEFAULT_MAX_BYTES} bytes")]
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [_refused(f"not JSON: {exc}")]
    if isinstance(document, Mapping) and ("$type" in document or "messages" in document):
        return parse_batches(text, max_bytes=DEFAULT_MAX_BYTES)
    tickets = _ticket_list(document)
    if tickets is None:
        return [_refused('expected a ticket, a list of tickets or {"tickets": [...]}')]
    return [read_tickets(tickets)]


def _refused(reason: str) -> BatchRead:
    return BatchRead(guid=None, return_address=None, error=reason)


def _ticket_list(document: Any) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping):
        if "ticketId" in document:
            return [document]
        tickets = document.get("tickets")
        if isinstance(tickets, list):
            return tickets
    return None
