"""The Ticketing InterApp messages: what Ticketing WM sends a BE element, and what it gets back (BE's side).

On top of the generic dialect (`connector.engine.interapp`) this module knows the four types of
the contract (shared/contracts/interapp.md) and the rules of a Ticket:

    member             rule (a member that is null counts as absent)
    ticketId           required; 1-64 characters of A-Z a-z 0-9 . _ : -  (Ticket Overview's key)
    category           required; exactly 'Falla de Linea' or 'SNR'
    node               required; 1-128 characters
    summary            required; 1-255 characters
    description        optional; at most 4000 characters
    priority           optional; an integer from 1 to 5 (not true, not 2.0); default 3
    detectedAt         optional; an ISO 8601 date (0001-01-01T00:00:00 is "not set")
    affectedCustomers  optional; an integer from 0 to 2147483647 (.NET's int)

Rules are checked in that order and the first broken one is the reason, written
`member: rule, got value` so that the WM operator can fix the ticket; the value is quoted short
(`interapp.show`). The two reasons of the contract's sample reply are matched word for word.
Unknown members are ignored.

A batch is read ticket by ticket (`read_batch`): valid tickets go on to be stored, invalid ones
are listed with their reason, and nothing else is affected. A message that is not a
TicketBatchMessage, or has no ticket list, is refused whole and answered with an ErrorResponse.
Storing, and so telling accepted from duplicates, is the receive handler's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn, overload

from attrs import field, frozen

from connector.engine.context import HandlerContext
from connector.engine.interapp import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    INTERAPP_RETURN,
    InterAppCall,
    InterAppError,
    OutgoingMessage,
    ReturnAddress,
    format_date,
    parse_call,
    parse_date,
    show,
)

__all__ = [
    "CATEGORIES",
    "KNOWN_TYPES",
    "BatchRead",
    "RejectedTicket",
    "Ticket",
    "batch_response",
    "check_ticket_id",
    "error_response",
    "parse_batches",
    "read_batch",
    "read_tickets",
    "reply_to",
    "ticket_members",
    "validate_ticket",
]

TICKET_BATCH_MESSAGE = "TicketBatchMessage"
TICKET = "Ticket"
TICKET_BATCH_RESPONSE = "TicketBatchResponse"
ERROR_RESPONSE = "ErrorResponse"
# The known-types list: the same at sender and receiver, or the receiver refuses the call.
KNOWN_TYPES = frozenset({TICKET_BATCH_MESSAGE, TICKET, TICKET_BATCH_RESPONSE, ERROR_RESPONSE})

CATEGORIES = ("Falla de Linea", "SNR")
DEFAULT_PRIORITY = 3
_TICKET_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_TICKET_ID_LENGTH = 64
_INT32_MAX = 2**31 - 1


@frozen(kw_only=True)
class Ticket:
    ticket_id: str
    category: str
    node: str
    summary: str
    description: str | None = None
    priority: int = DEFAULT_PRIORITY
    detected_at: datetime | None = None
    affected_customers: int | None = None


@frozen(kw_only=True)
class RejectedTicket:
    index: int  # its position in the batch, from 0
    ticket_id: str | None  # as sent when it was a string (at most 64 characters of it), else None
    reason: str


def _tickets(items: Iterable[Ticket]) -> tuple[Ticket, ...]:
    return tuple(items)


def _rejected(items: Iterable[RejectedTicket]) -> tuple[RejectedTicket, ...]:
    return tuple(items)


@frozen(kw_only=True)
class BatchRead:
    """One message of a call, read: the valid tickets in batch order and the rejected ones, or
    `error` when the whole message is refused. `guid` and `return_address` say whom to answer."""

    guid: str | None
    return_address: ReturnAddress | None
    tickets: tuple[Ticket, ...] = field(default=(), converter=_tickets)
    rejected: tuple[RejectedTicket, ...] = field(default=(), converter=_rejected)
    error: str | None = None

    def reply(self, *, accepted: Iterable[str] = (), duplicates: Iterable[str] = ()) -> OutgoingMessage:
        """The answer once the valid tickets are stored: a TicketBatchResponse, or the
        ErrorResponse of a refused message (which stored nothing)."""
        if self.error is not None:
            return error_response(self.guid, self.error)
        rejected = [(ticket.ticket_id, ticket.reason) for ticket in self.rejected]
        return batch_response(self.guid, accepted, duplicates, rejected)


# -- tickets -------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reject(reason: str) -> NoReturn:
    raise _Rejected(reason)


def validate_ticket(obj: Any) -> Ticket | str:
    """A Ticket when `obj` (a decoded JSON object) keeps every rule, else the first broken rule."""
    if not isinstance(obj, Mapping):
        return "ticket: must be an object"
    try:
        # Keyword arguments are evaluated in order: this is the order the rules are checked in.
        return Ticket(
            ticket_id=_ticket_id(obj.get("ticketId")),
            category=_category(obj.get("category")),
            node=_required_text(obj, "node", 128),
            summary=_required_text(obj, "summary", 255),
            description=_optional_text(obj, "description", 4000),
            priority=_integer(obj, "priority", 1, 5, DEFAULT_PRIORITY),
            detected_at=_date(obj, "detectedAt"),
            affected_customers=_integer(obj, "affectedCustomers", 0, _INT32_MAX, None),
        )
    except _Rejected as rejected:
        return rejected.reason


def check_ticket_id(value: Any) -> str | None:
    """Why `value` cannot be a ticket id (the first broken rule), or None when it can."""
    try:
        _ticket_id(value)
    except _Rejected as rejected:
        return rejected.reason
    return None


def ticket_members(ticket: Ticket) -> dict[str, Any]:
    """The ticket as the contract writes it (camelCase members; unset optional ones left out):
    what `validate_ticket` reads back as the same Ticket."""
    members: dict[str, Any] = {
        "ticketId": ticket.ticket_id,
        "category": ticket.category,
        "node": ticket.node,
        "summary": ticket.summary,
        "priority": ticket.priority,
    }
    optional = {
        "description": ticket.description,
        "detectedAt": format_date(ticket.detected_at) if ticket.detected_at is not None else None,
        "affectedCustomers": ticket.affected_customers,
    }
    members.update({member: value for member, value in optional.items() if value is not None})
    return members


def _ticket_id(value: Any) -> str:
    text = _text(value, "ticketId")
    if text is None:
        _reject("ticketId: required")
    if not _TICKET_ID.fullmatch(text):
        # No "got": the rejected entry carries the id as sent.
        _reject("ticketId: must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    return text


def _category(value: Any) -> str:
    if value is None:
        _reject("category: required")
    if not isinstance(value, str) or value not in CATEGORIES:
        _reject(f"category: must be 'Falla de Linea' or 'SNR', got {show(value)}")
    return value


def _required_text(obj: Mapping[str, Any], member: str, longest: int) -> str:
    text = _text(obj.get(member), member)
    if text is None:
        _reject(f"{member}: required")
    if not 1 <= len(text) <= longest:
        got = show(text) if not text else f"{len(text)} characters"
        _reject(f"{member}: must be 1-{longest} characters, got {got}")
    return text


def _optional_text(obj: Mapping[str, Any], member: str, longest: int) -> str | None:
    text = _text(obj.get(member), member)
    if text is not None and len(text) > longest:
        _reject(f"{member}: must be at most {longest} characters, got {len(text)} characters")
    return text


def _text(value: Any, member: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    _reject(f"{member}: must be a string, got {show(value)}")


@overload
def _integer(obj: Mapping[str, Any], member: str, low: int, high: int, default: int) -> int: ...
@overload
def _integer(obj: Mapping[str, Any], member: str, low: int, high: int, default: None) -> int | None: ...
def _integer(obj: Mapping[str, Any], member: str, low: int, high: int, default: int | None) -> int | None:
    value = obj.get(member)
    if value is None:
        return default
    # type() and not isinstance(): true is not 1 here, and 2.0 is not an integer on the wire.
    if type(value) is not int or not low <= value <= high:
        _reject(f"{member}: must be an integer from {low} to {high}, got {show(value)}")
    return value


def _date(obj: Mapping[str, Any], member: str) -> datetime | None:
    value = obj.get(member)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_date(value)
        except ValueError:
            pass
    _reject(f"{member}: must be an ISO 8601 date, got {show(value)}")


def _readable_id(obj: Any) -> str | None:
    """The ticket id to name in a rejected entry: what was sent, when it was a string."""
    value = obj.get("ticketId") if isinstance(obj, Mapping) else None
    return value[:_TICKET_ID_LENGTH] if isinstance(value, str) else None


# -- batches -------------------------------------------------------------------------------


def parse_batches(
    raw: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> list[BatchRead]:
    """Read a raw InterApp call: a call that cannot be read at all is one refused BatchRead."""
    try:
        call = parse_call(raw, KNOWN_TYPES, max_bytes=max_bytes, max_depth=max_depth)
    except InterAppError as error:
        return [BatchRead(guid=error.guid, return_address=error.return_address, error=error.reason)]
    return read_batch(call)


def read_batch(call: InterAppCall) -> list[BatchRead]:
    """Each message of the call, read as a ticket batch, in the call's order."""
    reads = []
    for index, message in enumerate(call.messages):
        where = f"messages[{index}]"
        refused = _refused_message(message.type, message.members, where)
        if refused is not None:
            read = BatchRead(guid=message.guid, return_address=message.return_address, error=refused)
        else:
            read = read_tickets(message.members["tickets"], message.guid, message.return_address)
        reads.append(read)
    return reads


def _refused_message(kind: str, members: Mapping[str, Any], where: str) -> str | None:
    if kind != TICKET_BATCH_MESSAGE:
        return f"{where}.$type: expected 'TicketBatchMessage', got {show(kind)}"
    tickets = members.get("tickets")
    if tickets is None:
        return f"{where}.tickets: required"
    if not isinstance(tickets, list):
        return f"{where}.tickets: must be an array, got {show(tickets)}"
    return None


def read_tickets(
    raw_tickets: list[Any], guid: str | None = None, return_address: ReturnAddress | None = None
) -> BatchRead:
    """A list of decoded JSON tickets, read one by one against the rules."""
    tickets: list[Ticket] = []
    rejected: list[RejectedTicket] = []
    for index, raw in enumerate(raw_tickets):
        result = validate_ticket(raw)
        if isinstance(result, Ticket):
            tickets.append(result)
        else:
            rejected.append(RejectedTicket(index=index, ticket_id=_readable_id(raw), reason=result))
    return BatchRead(guid=guid, return_address=return_address, tickets=tickets, rejected=rejected)


# -- replies -------------------------------------------------------------------------------


def batch_response(
    guid: str | None,
    accepted: Iterable[str],
    duplicates: Iterable[str],
    rejected: Iterable[tuple[str | None, str]],
) -> OutgoingMessage:
    """The TicketBatchResponse; `guid` is the guid of the message it answers."""
    return OutgoingMessage(
        type=TICKET_BATCH_RESPONSE,
        members={
            "guid": guid,
            "accepted": list(accepted),
            "duplicates": list(duplicates),
            "rejected": [{"ticketId": ticket_id, "reason": reason} for ticket_id, reason in rejected],
        },
    )


def error_response(guid: str | None, reason: str) -> OutgoingMessage:
    """The ErrorResponse to a message refused whole; `guid` is the refused message's."""
    return OutgoingMessage(type=ERROR_RESPONSE, members={"guid": guid, "reason": reason})


def reply_to(protocol: HandlerContext, address: ReturnAddress | None, raw: str) -> None:
    """Send a reply to the return address of the message it answers.

    No return address: the reply still goes out with an empty target, so that the runtime can
    hand it to whoever set 9000000 (the management API answers with it)."""
    target = f"{address.agent_id}/{address.element_id}" if address is not None else ""
    parameter = address.parameter_id if address is not None else INTERAPP_RETURN
    protocol.send_interapp(target, raw, parameter)
