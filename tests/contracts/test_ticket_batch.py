"""The Ticketing InterApp contract: every Ticket rule, reading batches, and the reply the contract's mixed
sample gets, word for word."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings

from connector.contracts.ticket_batch import (
    KNOWN_TYPES,
    BatchRead,
    RejectedTicket,
    Ticket,
    batch_response,
    error_response,
    parse_batches,
    read_batch,
    validate_ticket,
)
from connector.engine.interapp import (
    OutgoingMessage,
    ReturnAddress,
    parse_call,
    serialize_call,
)
from tests.conftest import sample_text
from tests.strategies import interapp_json_values, interapp_ticket_candidates

CST = timezone(timedelta(hours=-6))
SENDER = ReturnAddress(agent_id=101, element_id=12)
MIXED_GUID = "7a9e3c1d-2b4f-4d6a-9e8c-1f3b5d7a9c22"
BASE = {"ticketId": "WM-1", "category": "SNR", "node": "N", "summary": "S"}  # the least valid ticket
ABSENT = object()
PROPERTY = settings(max_examples=200, deadline=None)


def with_member(member: str, value: Any) -> dict[str, Any]:
    ticket = dict(BASE)
    if value is ABSENT:
        ticket.pop(member, None)
    else:
        ticket[member] = value
    return ticket


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sample_text(name))
    return document


def first_message(document: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = document["messages"]["$values"][0]
    return message


def test_the_known_types_are_the_contracts() -> None:
    assert {"TicketBatchMessage", "Ticket", "TicketBatchResponse", "ErrorResponse"} == KNOWN_TYPES


# -- the Ticket rules ------------------------------------------------------------------------


def test_the_sample_tickets_are_valid_with_defaults_for_what_is_absent() -> None:
    tickets = first_message(sample("ticket-batch.json"))["tickets"]

    first, _, third = (validate_ticket(ticket) for ticket in tickets)

    assert first == Ticket(
        ticket_id="WM-20261126-000101",
        category="SNR",
        node="GDL-ZAP-NODO-0142",
        summary="SNR bajo en nodo GDL-ZAP-NODO-0142",
        description="SNR upstream por debajo de 25 dB en 3 de 4 portadoras durante las ultimas 2 horas.",
        priority=2,
        detected_at=datetime(2026, 11, 26, 9, 42, tzinfo=CST),
        affected_customers=184,
    )
    assert third == Ticket(
        ticket_id="WM-20261126-000103",
        category="SNR",
        node="MTY-SPG-NODO-0007",
        summary="SNR degradado en MTY-SPG-NODO-0007",
    )
    assert (third.priority, third.description, third.detected_at, third.affected_customers) == (3, None, None, None)


def test_the_mixed_samples_reasons_are_the_contracts() -> None:
    tickets = first_message(sample("ticket-batch-mixed.json"))["tickets"]
    assert validate_ticket(tickets[1]) == "category: must be 'Falla de Linea' or 'SNR', got 'Incendio'"
    assert validate_ticket(tickets[2]) == "node: required"


ID_RULE = "ticketId: must be 1-64 characters of A-Z a-z 0-9 . _ : -"
PRIORITY_RULE = "priority: must be an integer from 1 to 5, got "
CUSTOMERS_RULE = "affectedCustomers: must be an integer from 0 to 2147483647, got "


@pytest.mark.parametrize(
    ("member", "value", "reason"),
    [
        ("ticketId", ABSENT, "ticketId: required"),
        ("ticketId", None, "ticketId: required"),
        ("ticketId", "", ID_RULE),
        ("ticketId", "A" * 65, ID_RULE),
        ("ticketId", "WM 1", ID_RULE),
        ("ticketId", "WM-1\n", ID_RULE),
        ("ticketId", "WM-ñ", ID_RULE),
        ("ticketId", "WM-\u0663", ID_RULE),  # an Arabic-Indic digit is not 0-9
        ("ticketId", 5, "ticketId: must be a string, got 5"),
        ("category", ABSENT, "category: required"),
        ("category", "snr", "category: must be 'Falla de Linea' or 'SNR', got 'snr'"),
        ("category", "Falla de linea", "category: must be 'Falla de Linea' or 'SNR', got 'Falla de linea'"),
        ("category", ["SNR"], "category: must be 'Falla de Linea' or 'SNR', got an array"),
        ("node", ABSENT, "node: required"),
        ("node", None, "node: required"),
        ("node", "", "node: must be 1-128 characters, got ''"),
        ("node", "n" * 129, "node: must be 1-128 characters, got 129 characters"),
        ("node", 5, "node: must be a string, got 5"),
        ("summary", ABSENT, "summary: required"),
        ("summary", "", "summary: must be 1-255 characters, got ''"),
        ("summary", "s" * 256, "summary: must be 1-255 characters, got 256 characters"),
        ("summary", {"text": "x"}, "summary: must be a string, got an object"),
        ("description", "d" * 4001, "description: must be at most 4000 characters, got 4001 characters"),
        ("description", 5, "description: must be a string, got 5"),
        ("priority", 0, PRIORITY_RULE + "0"),
        ("priority", 6, PRIORITY_RULE + "6"),
        ("priority", 7, PRIORITY_RULE + "7"),
        ("priority", True, PRIORITY_RULE + "true"),
        ("priority", 2.0, PRIORITY_RULE + "2.0"),
        ("priority", "2", PRIORITY_RULE + "'2'"),
        ("detectedAt", "yesterday", "detectedAt: must be an ISO 8601 date, got 'yesterday'"),
        ("detectedAt", 1764171720, "detectedAt: must be an ISO 8601 date, got 1764171720"),
        ("affectedCustomers", -1, CUSTOMERS_RULE + "-1"),
        ("affectedCustomers", 2**31, CUSTOMERS_RULE + "2147483648"),
        ("affectedCustomers", False, CUSTOMERS_RULE + "false"),
        ("affectedCustomers", 1.5, CUSTOMERS_RULE + "1.5"),
    ],
)
def test_each_broken_rule_is_named(member: str, value: Any, reason: str) -> None:
    assert validate_ticket(with_member(member, value)) == reason


@pytest.mark.parametrize(
    ("member", "value", "field", "read"),
    [
        ("ticketId", "A" * 64, "ticket_id", "A" * 64),
        ("ticketId", "Az09._:-", "ticket_id", "Az09._:-"),
        ("category", "Falla de Linea", "category", "Falla de Linea"),
        ("node", "n" * 128, "node", "n" * 128),
        ("summary", "s" * 255, "summary", "s" * 255),
        ("description", ABSENT, "description", None),
        ("description", "", "description", ""),
        ("description", "d" * 4000, "description", "d" * 4000),
        ("priority", ABSENT, "priority", 3),
        ("priority", None, "priority", 3),
        ("priority", 1, "priority", 1),
        ("priority", 5, "priority", 5),
        (
            "detectedAt",
            "2026-11-26T09:42:00.1234567-06:00",
            "detected_at",
            datetime(2026, 11, 26, 9, 42, 0, 123456, tzinfo=CST),
        ),
        ("detectedAt", "0001-01-01T00:00:00", "detected_at", None),
        ("detectedAt", None, "detected_at", None),
        ("affectedCustomers", 0, "affected_customers", 0),
        ("affectedCustomers", 2**31 - 1, "affected_customers", 2**31 - 1),
        ("affectedCustomers", None, "affected_customers", None),
    ],
)
def test_each_rule_lets_its_edge_cases_through(member: str, value: Any, field: str, read: Any) -> None:
    ticket = validate_ticket(with_member(member, value))
    assert isinstance(ticket, Ticket), ticket
    assert getattr(ticket, field) == read


def test_the_first_broken_rule_in_contract_order_is_the_reason() -> None:
    ticket = {"ticketId": "bad id", "category": "Incendio", "summary": ""}
    assert validate_ticket(ticket) == ID_RULE
    ticket["ticketId"] = "ok"
    assert validate_ticket(ticket) == "category: must be 'Falla de Linea' or 'SNR', got 'Incendio'"


@pytest.mark.parametrize("value", [None, [], ["a"], "ticket", 5, True])
def test_a_ticket_must_be_an_object(value: Any) -> None:
    assert validate_ticket(value) == "ticket: must be an object"


def test_a_huge_value_is_quoted_short() -> None:
    reason = validate_ticket(with_member("category", "X" * 1_000_000))
    assert isinstance(reason, str)
    assert reason.endswith("X...'")
    assert len(reason) < 120


def test_members_the_contract_does_not_name_are_ignored() -> None:
    ticket = dict(BASE, **{"$id": "4", "severity": {"level": [1, 2]}, "assignee": None})
    assert validate_ticket(ticket) == Ticket(ticket_id="WM-1", category="SNR", node="N", summary="S")


@PROPERTY
@given(interapp_ticket_candidates())
def test_a_ticket_is_valid_exactly_when_every_rule_holds(candidate: tuple[dict[str, Any], bool]) -> None:
    ticket, all_rules_hold = candidate

    result = validate_ticket(ticket)

    assert isinstance(result, Ticket) == all_rules_hold, result
    if isinstance(result, Ticket):
        assert (result.ticket_id, result.category, result.node) == (
            ticket["ticketId"],
            ticket["category"],
            ticket["node"],
        )
    else:
        assert result.split(":")[0] in {*ticket, "ticketId", "category", "node", "summary"}


@PROPERTY
@given(interapp_json_values())
def test_validate_ticket_never_raises(value: Any) -> None:
    result = validate_ticket(value)
    assert isinstance(result, (Ticket, str))


# -- reading batches -------------------------------------------------------------------------


def test_the_sample_batch_reads_three_tickets() -> None:
    [read] = read_batch(parse_call(sample_text("ticket-batch.json"), KNOWN_TYPES))

    assert read.guid == "c3e1f7b2-6d4a-4f0e-8b1c-9a2d5e7f3b60"
    assert read.return_address == SENDER
    assert [ticket.ticket_id for ticket in read.tickets] == [
        "WM-20261126-000101",
        "WM-20261126-000102",
        "WM-20261126-000103",
    ]
    assert (read.rejected, read.error) == ((), None)


def test_the_mixed_batch_reads_ticket_by_ticket() -> None:
    [read] = parse_batches(sample_text("ticket-batch-mixed.json"))

    assert read.guid == MIXED_GUID
    assert read.return_address == SENDER
    assert [ticket.ticket_id for ticket in read.tickets] == [
        "WM-20261126-000201",
        "WM-20261126-000204",
        "WM-20261126-000201",  # a duplicate is the storer's call, not a rule of the ticket
    ]
    assert read.rejected == (
        RejectedTicket(
            index=1,
            ticket_id="WM-20261126-000202",
            reason="category: must be 'Falla de Linea' or 'SNR', got 'Incendio'",
        ),
        RejectedTicket(index=2, ticket_id="WM-20261126-000203", reason="node: required"),
    )


def test_a_rejected_ticket_names_its_id_when_it_was_a_string() -> None:
    tickets = [dict(BASE, ticketId=5), dict(BASE, ticketId="X" * 100), "not a ticket"]
    call = parse_call(serialize_call([_batch(tickets)]), KNOWN_TYPES)

    [read] = read_batch(call)

    assert [(r.index, r.ticket_id) for r in read.rejected] == [(0, None), (1, "X" * 64), (2, None)]
    assert read.rejected[2].reason == "ticket: must be an object"


def _batch(tickets: Any, guid: str = "m-1", kind: str = "TicketBatchMessage") -> OutgoingMessage:
    return OutgoingMessage(type=kind, members={"guid": guid, "tickets": tickets, "returnAddress": SENDER})


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            _batch([BASE], kind="TicketBatchResponse"),
            "messages[0].$type: expected 'TicketBatchMessage', got 'TicketBatchResponse'",
        ),
        (_batch([BASE], kind="Ticket"), "messages[0].$type: expected 'TicketBatchMessage', got 'Ticket'"),
        (OutgoingMessage(type="TicketBatchMessage", members={"guid": "m-1"}), "messages[0].tickets: required"),
        (_batch({"a": 1}), "messages[0].tickets: must be an array, got an object"),
    ],
)
def test_a_message_that_is_not_a_ticket_batch_is_refused_whole(message: OutgoingMessage, error: str) -> None:
    [read] = read_batch(parse_call(serialize_call([message]), KNOWN_TYPES))

    assert read.error == error
    assert read.guid == "m-1"
    assert (read.tickets, read.rejected) == ((), ())
    assert read.reply() == error_response("m-1", error)


def test_each_message_of_a_call_is_read_on_its_own() -> None:
    text = serialize_call([_batch([BASE], guid="a"), _batch([BASE], guid="b", kind="ErrorResponse")])

    first, second = read_batch(parse_call(text, KNOWN_TYPES))

    assert (first.guid, first.error, len(first.tickets)) == ("a", None, 1)
    assert second.guid == "b"
    assert second.error == "messages[1].$type: expected 'TicketBatchMessage', got 'ErrorResponse'"


def test_a_call_that_cannot_be_read_is_one_refused_batch() -> None:
    document = sample("ticket-batch-mixed.json")
    first_message(document)["$type"] = "Foo,"

    [read] = parse_batches(json.dumps(document))

    assert read == BatchRead(guid=MIXED_GUID, return_address=SENDER, error="messages[0].$type: unknown type 'Foo'")
    assert parse_batches("{", max_bytes=10)[0].error is not None
    assert parse_batches(sample_text("ticket-batch.json"), max_bytes=100)[0].error == "message larger than 100 bytes"


# -- replies ---------------------------------------------------------------------------------


def store(read: BatchRead, known_ids: set[str]) -> tuple[list[str], list[str]]:
    """What the receive handler does with a table, done with a set: AddRow semantics."""
    accepted: list[str] = []
    duplicates: list[str] = []
    for ticket in read.tickets:
        (duplicates if ticket.ticket_id in known_ids else accepted).append(ticket.ticket_id)
        known_ids.add(ticket.ticket_id)
    return accepted, duplicates


def with_placeholders(raw: str) -> str:
    """The sample reply's placeholders in place of the call guid and the sending time."""
    call_guid = r'^(\{"\$id":"1","\$type":"InterAppCall,","guid":)"[^"]*"'
    raw = re.sub(call_guid, r'\1"<new guid>"', raw)
    return re.sub(r'"sendingTime":"[^"]*"', '"sendingTime":"<when sent>"', raw)


def test_the_mixed_sample_gets_the_sample_reply_word_for_word(
    ticket_batch_mixed: str, ticket_batch_response: dict[str, Any]
) -> None:
    [read] = parse_batches(ticket_batch_mixed)
    accepted, duplicates = store(read, set())
    assert (accepted, duplicates) == (["WM-20261126-000201", "WM-20261126-000204"], ["WM-20261126-000201"])

    rejected = [(ticket.ticket_id, ticket.reason) for ticket in read.rejected]
    reply = serialize_call([batch_response(read.guid, accepted, duplicates, rejected)])

    assert with_placeholders(reply) == sample_text("ticket-batch-response.json").strip()
    assert json.loads(with_placeholders(reply)) == ticket_batch_response
    # BatchRead.reply builds the same message.
    expected = batch_response(read.guid, accepted, duplicates, rejected)
    assert read.reply(accepted=accepted, duplicates=duplicates) == expected


def test_tickets_stored_before_are_duplicates() -> None:
    [read] = parse_batches(sample_text("ticket-batch-mixed.json"))
    accepted, duplicates = store(read, {"WM-20261126-000204"})
    assert accepted == ["WM-20261126-000201"]
    assert duplicates == ["WM-20261126-000204", "WM-20261126-000201"]


def test_the_error_response_shape() -> None:
    text = serialize_call([error_response("m-1", "messages[0].$type: unknown type 'Foo'")], guid="c-1")
    message = json.loads(text)["messages"]["$values"][0]
    assert message == {
        "$id": "2",
        "$type": "ErrorResponse,",
        "guid": "m-1",
        "reason": "messages[0].$type: unknown type 'Foo'",
        "returnAddress": None,
        "source": None,
    }
    # WM reads it back with the same known types.
    [back] = parse_call(text, KNOWN_TYPES).messages
    assert (back.type, back.guid) == ("ErrorResponse", "m-1")
    assert back.members["reason"] == "messages[0].$type: unknown type 'Foo'"


def test_a_rejected_ticket_without_an_id_is_written_with_null() -> None:
    message = batch_response("m-1", [], [], [(None, "ticketId: required")])
    text = serialize_call([message], guid="c")
    assert '"rejected":[{"$id":"3","reason":"ticketId: required","ticketId":null}]' in text


# -- speed -----------------------------------------------------------------------------------


def test_a_100_ticket_batch_is_read_and_checked_well_under_5_ms() -> None:
    ticket = dict(first_message(sample("ticket-batch.json"))["tickets"][0])
    del ticket["$id"]
    tickets = [dict(ticket, ticketId=f"WM-20261126-{n:06d}") for n in range(100)]
    text = serialize_call([_batch(tickets)])

    timings = []
    for _ in range(20):
        start = time.perf_counter()
        [read] = parse_batches(text)
        timings.append(time.perf_counter() - start)

    assert len(read.tickets) == 100
    assert min(timings) < 0.005, f"best of 20: {min(timings) * 1000:.2f} ms"
