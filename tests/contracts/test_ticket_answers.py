"""WM's side of the contract: the message it writes reads back as BE reads it, and the answers
BE writes (the contract's sample among them) read back as what they say."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from connector.contracts.ticket_answers import BatchAnswer, batch_message, read_answers
from connector.contracts.ticket_batch import (
    Ticket,
    batch_response,
    error_response,
    parse_batches,
    ticket_members,
    validate_ticket,
)
from connector.engine.interapp import InterAppError, ReturnAddress, serialize_call
from tests.conftest import sample_text
from tests.strategies import interapp_ticket_candidates

WM = ReturnAddress(agent_id=1, element_id=2)


def sample_answer() -> str:
    """The contract's sample answer, its placeholders (shape only) filled in."""
    raw = sample_text("ticket-batch-response.json")
    return raw.replace('"<when sent>"', '"2026-11-26T10:09:31-06:00"').replace("<new guid>", "0f0f")


@settings(max_examples=200, deadline=None)
@given(candidate=interapp_ticket_candidates())
def test_a_valid_ticket_written_by_wm_reads_back_the_same_at_be(candidate) -> None:
    members, _ = candidate
    ticket = validate_ticket(members)
    if not isinstance(ticket, Ticket):
        return  # an invalid one is never written (WM refuses it at intake)
    [read] = parse_batches(serialize_call([batch_message("g-1", WM, [ticket_members(ticket)])]))
    assert read.error is None and read.tickets == (ticket,) and read.rejected == ()
    assert (read.guid, read.return_address) == ("g-1", WM)


def test_the_sample_batch_written_again_by_wm_reads_the_same(ticket_batch) -> None:
    [original] = parse_batches(ticket_batch)
    again = serialize_call([batch_message("g", WM, [ticket_members(t) for t in original.tickets])])
    assert parse_batches(again)[0].tickets == original.tickets


def test_the_sample_answer_reads_as_it_says() -> None:
    [answer] = read_answers(sample_answer()).answers
    assert answer == BatchAnswer(
        guid="7a9e3c1d-2b4f-4d6a-9e8c-1f3b5d7a9c22",
        accepted=("WM-20261126-000201", "WM-20261126-000204"),
        duplicates=("WM-20261126-000201",),
        rejected=(
            ("WM-20261126-000202", "category: must be 'Falla de Linea' or 'SNR', got 'Incendio'"),
            ("WM-20261126-000203", "node: required"),
        ),
    )


def test_be_s_reply_to_the_mixed_sample_reads_as_the_sample_answer(ticket_batch_mixed) -> None:
    [read] = parse_batches(ticket_batch_mixed)
    ids = [t.ticket_id for t in read.tickets]
    # The valid ones are 201, 204 and 201 again: BE accepts the first two, the third is a duplicate.
    reply = serialize_call([read.reply(accepted=ids[:2], duplicates=ids[2:])])
    [answer] = read_answers(reply).answers
    assert answer == read_answers(sample_answer()).answers[0]


def test_an_error_response_reads_as_a_refusal() -> None:
    [answer] = read_answers(serialize_call([error_response("g-9", "too large")])).answers
    assert answer == BatchAnswer(guid="g-9", error="too large")


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ({"accepted": "WM-1"}, "messages[0].accepted: must be an array of ticket ids, got 'WM-1'"),
        ({"duplicates": [1]}, "messages[0].duplicates: must be an array of ticket ids, got an array"),
        ({"rejected": [{"ticketId": "WM-1"}]}, "messages[0].rejected[0].reason: must be a string, got null"),
    ],
)
def test_an_answer_not_of_the_contract_is_a_problem_not_a_guess(members, problem) -> None:
    document = json.loads(serialize_call([batch_response("g", [], [], [])]))
    document["messages"]["$values"][0].update(members)
    read = read_answers(json.dumps(document))
    assert read.answers == () and read.problems == (problem,)


def test_an_answer_of_another_type_is_a_problem() -> None:
    read = read_answers(serialize_call([batch_message("g", WM, [])]))
    assert read.problems == ("messages[0].$type: expected an answer to a ticket batch, got 'TicketBatchMessage'",)


def test_an_unreadable_answer_raises() -> None:
    with pytest.raises(InterAppError):
        read_answers("{")
