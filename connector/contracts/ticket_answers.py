"""Ticketing WM's side of the InterApp contract: the TicketBatchMessage it sends, and reading the
TicketBatchResponse or ErrorResponse a BE element answers it with (shared/contracts/interapp.md).

An answer names the message it answers by that message's guid; its ticket ids say what became of
each ticket:

    accepted     stored by BE now                       -> the ticket is delivered
    duplicates   BE had it already (a re-send)          -> the ticket is delivered
    rejected     a rule of the contract is broken       -> not delivered; the reason says which
    ErrorResponse  the whole message was refused        -> none of its tickets was stored

An answer that does not keep the contract (a member of the wrong type) is not guessed at: it is
reported as a problem and its message stays unanswered, so its tickets are sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from connector.contracts.ticket_batch import ERROR_RESPONSE, KNOWN_TYPES, TICKET_BATCH_MESSAGE, TICKET_BATCH_RESPONSE
from connector.engine.interapp import DEFAULT_MAX_BYTES, Message, OutgoingMessage, ReturnAddress, parse_call, show

__all__ = ["AnswersRead", "BatchAnswer", "batch_message", "read_answers"]


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _pairs(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(items)


@frozen(kw_only=True)
class BatchAnswer:
    """One answer: `guid` is the guid of the TicketBatchMessage it answers. `error` is set for an
    ErrorResponse (then the lists are empty); `rejected` holds (ticket id, reason) pairs."""

    guid: str | None
    accepted: tuple[str, ...] = field(default=(), converter=_strings)
    duplicates: tuple[str, ...] = field(default=(), converter=_strings)
    rejected: tuple[tuple[str, str], ...] = field(default=(), converter=_pairs)
    error: str | None = None


@frozen(kw_only=True)
class AnswersRead:
    answers: tuple[BatchAnswer, ...]
    problems: tuple[str, ...]  # messages that are no answer of the contract, each with why


def batch_message(guid: str, return_address: ReturnAddress, tickets: Iterable[Mapping[str, Any]]) -> OutgoingMessage:
    """A TicketBatchMessage of `tickets` (members as the contract writes them)."""
    members = {"guid": guid, "returnAddress": return_address, "source": None, "tickets": list(tickets)}
    return OutgoingMessage(type=TICKET_BATCH_MESSAGE, members=members)


def read_answers(raw: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AnswersRead:
    """The answers in a raw InterApp call. Raises InterAppError when the call cannot be read."""
    call = parse_call(raw, KNOWN_TYPES, max_bytes=max_bytes)
    answers: list[BatchAnswer] = []
    problems: list[str] = []
    for index, message in enumerate(call.messages):
        answer = _answer(message, f"messages[{index}]")
        if isinstance(answer, BatchAnswer):
            answers.append(answer)
        else:
            problems.append(answer)
    return AnswersRead(answers=tuple(answers), problems=tuple(problems))


def _answer(message: Message, where: str) -> BatchAnswer | str:
    members = message.members
    if message.type == ERROR_RESPONSE:
        reason = members.get("reason")
        return BatchAnswer(guid=message.guid, error=reason if isinstance(reason, str) else "(no reason given)")
    if message.type != TICKET_BATCH_RESPONSE:
        return f"{where}.$type: expected an answer to a ticket batch, got {show(message.type)}"
    try:
        return BatchAnswer(
            guid=message.guid,
            accepted=_ids(members.get("accepted"), f"{where}.accepted"),
            duplicates=_ids(members.get("duplicates"), f"{where}.duplicates"),
            rejected=_rejected(members.get("rejected"), f"{where}.rejected"),
        )
    except _NotTheContract as broken:
        return str(broken)


class _NotTheContract(Exception):
    pass


def _ids(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _NotTheContract(f"{where}: must be an array of ticket ids, got {show(value)}")
    return value


def _rejected(value: Any, where: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _NotTheContract(f"{where}: must be an array, got {show(value)}")
    pairs = []
    for index, entry in enumerate(value):
        ticket_id = entry.get("ticketId") if isinstance(entry, Mapping) else None
        reason = entry.get("reason") if isinstance(entry, Mapping) else None
        if not isinstance(reason, str):
            raise _NotTheContract(f"{where}[{index}].reason: must be a string, got {show(reason)}")
        if isinstance(ticket_id, str):  # a rejected ticket without a readable id names no ticket of ours
            pairs.append((ticket_id, reason))
    return pairs
