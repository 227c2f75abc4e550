"""The InterApp dialect: reading the contract samples and every rule of parse_call, the shape
serialize_call writes, and that nothing but InterAppError ever leaves parse_call."""

from __future__ import annotations

import json
import pickle
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.engine.interapp import (
    NOT_SET,
    InterAppCall,
    InterAppError,
    Message,
    OutgoingMessage,
    ReturnAddress,
    format_date,
    parse_call,
    parse_date,
    serialize_call,
    short_type_name,
    show,
)
from tests.conftest import sample_text
from tests.strategies import (
    interapp_dates,
    interapp_json_values,
    interapp_members,
    interapp_mutated_samples,
)

# The engine knows no connector: these tests name their own known types.
KNOWN = frozenset({"TicketBatchMessage", "Ticket"})
SAMPLES = ("ticket-batch.json", "ticket-batch-mixed.json")
SAMPLE_TEXTS = [sample_text(name) for name in SAMPLES]
MESSAGES_TYPE = "Skyline.DataMiner.Core.InterAppCalls.Common.CallBulk.Messages,"
RETURN_ADDRESS_TYPE = "Skyline.DataMiner.Core.InterAppCalls.Common.Shared.ReturnAddress,"
CST = timezone(timedelta(hours=-6))
SENDER = ReturnAddress(agent_id=101, element_id=12, parameter_id=9000001)
BATCH_GUID = "c3e1f7b2-6d4a-4f0e-8b1c-9a2d5e7f3b60"  # the message guid of ticket-batch.json
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample(name: str = "ticket-batch.json") -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sample_text(name))
    return document


def first_message(document: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = document["messages"]["$values"][0]
    return message


def parse(document: Any, known: frozenset[str] = KNOWN, **limits: int) -> InterAppCall:
    return parse_call(json.dumps(document), known, **limits)


def refusal(document: Any, known: frozenset[str] = KNOWN, **limits: int) -> InterAppError:
    """The error for a document (decoded, or raw text or bytes as they are)."""
    raw = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(InterAppError) as caught:
        parse_call(raw, known, **limits)
    return caught.value


def deep_array(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


# -- the samples ---------------------------------------------------------------------------


def test_sample_batch_is_read_whole() -> None:
    call = parse_call(sample_text("ticket-batch.json"), KNOWN)

    assert call.guid == "5f0c6a2e-8a61-4c1b-9d0e-2b7f3a9c1d40"
    assert call.sending_time == datetime(2026, 11, 26, 10, 4, 0, 123456, tzinfo=CST)
    assert call.sending_time is not None and call.sending_time.utcoffset() == timedelta(hours=-6)
    assert call.receiving_time is None  # 0001-01-01T00:00:00: not set
    assert call.source is None
    assert call.return_address == SENDER  # {"$ref": "3"}: the message's return address
    [message] = call.messages
    assert message.type == "TicketBatchMessage"
    assert message.guid == BATCH_GUID
    assert message.return_address == SENDER
    assert set(message.members) == {"source", "tickets"}
    tickets = message.members["tickets"]
    assert [ticket["ticketId"] for ticket in tickets] == [
        "WM-20261126-000101",
        "WM-20261126-000102",
        "WM-20261126-000103",
    ]
    assert tickets[2] == {  # "$id" stripped, everything else as sent
        "category": "SNR",
        "node": "MTY-SPG-NODO-0007",
        "summary": "SNR degradado en MTY-SPG-NODO-0007",
        "ticketId": "WM-20261126-000103",
    }


def test_mixed_sample_is_read_whole() -> None:
    call = parse_call(sample_text("ticket-batch-mixed.json").encode("utf-8"), KNOWN)

    [message] = call.messages
    assert message.guid == "7a9e3c1d-2b4f-4d6a-9e8c-1f3b5d7a9c22"
    assert len(message.members["tickets"]) == 5
    assert call.sending_time == datetime(2026, 11, 26, 10, 9, 30, tzinfo=CST)


# -- type names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "short"),
    [
        ("TicketBatchMessage,", "TicketBatchMessage"),
        ("TicketBatchMessage", "TicketBatchMessage"),
        ("Telefonia.Ticketing.TicketBatchMessage, Ticketing.Common", "TicketBatchMessage"),
        ("Telefonia.Ticketing.TicketBatchMessage, Ticketing, Version=1.0.0.0, Culture=neutral", "TicketBatchMessage"),
        ("Telefonia.Messages+TicketBatchMessage, Ticketing", "TicketBatchMessage"),
        ("Ticket[],", "Ticket"),
        (" Ticket ,", "Ticket"),
    ],
)
def test_type_names_come_down_to_the_short_name(written: str, short: str) -> None:
    assert short_type_name(written) == short
    document = sample()
    first_message(document)["$type"] = written
    assert parse(document).messages[0].type == short


def test_unknown_message_type_is_refused_with_whom_to_answer() -> None:
    document = sample()
    first_message(document)["$type"] = "Foo,"

    error = refusal(document)

    assert error.reason == "messages[0].$type: unknown type 'Foo'"
    assert error.guid == BATCH_GUID
    assert error.return_address == SENDER


def test_only_the_types_named_known_are_messages() -> None:
    error = refusal(sample(), known=frozenset({"Ticket"}))
    assert error.reason == "messages[0].$type: unknown type 'TicketBatchMessage'"


def test_nested_object_with_an_unknown_type_is_refused() -> None:
    document = sample()
    first_message(document)["tickets"][1]["$type"] = "System.Windows.Data.ObjectDataProvider, PresentationFramework"

    error = refusal(document)

    assert error.reason == "messages[0].tickets[1].$type: unknown type 'ObjectDataProvider'"
    assert error.guid == BATCH_GUID


def test_nested_objects_with_known_dialect_or_container_types_are_read() -> None:
    document = sample()
    message = first_message(document)
    message["tickets"][0]["$type"] = "Telefonia.Ticketing.Ticket, Ticketing"
    message["tickets"] = {
        "$type": "System.Collections.Generic.List`1[[Ticket, Ticketing]], mscorlib",
        "$values": message["tickets"],
    }
    message["origin"] = {"$type": RETURN_ADDRESS_TYPE, "agentId": 1, "elementId": 2}
    dictionary = "System.Collections.Generic.Dictionary`2[[System.String],[System.Object]], mscorlib"
    message["labels"] = {"$type": dictionary, "a": 1}

    members = parse(document).messages[0].members

    assert members["tickets"][0]["ticketId"] == "WM-20261126-000101"
    assert "$type" not in members["tickets"][0]
    assert members["origin"] == {"agentId": 1, "elementId": 2}
    assert members["labels"] == {"a": 1}


@pytest.mark.parametrize("written", [RETURN_ADDRESS_TYPE, "InterAppCall,", MESSAGES_TYPE])
def test_a_dialect_type_is_not_a_message(written: str) -> None:
    document = sample()
    first_message(document)["$type"] = written
    error = refusal(document)
    assert error.reason.startswith("messages[0].$type: '")
    assert error.reason.endswith("' is not a message type")


def test_a_message_must_name_its_type() -> None:
    document = sample()
    del first_message(document)["$type"]
    assert refusal(document).reason == "messages[0].$type: required, a message names its type"


def test_a_type_name_must_be_a_string() -> None:
    document = sample()
    first_message(document)["tickets"][0]["$type"] = 5
    assert refusal(document).reason == "messages[0].tickets[0].$type: must be a string, got 5"


def test_a_long_type_name_is_clipped_in_the_reason() -> None:
    document = sample()
    first_message(document)["$type"] = "A" * 1_000_000 + ","
    reason = refusal(document).reason
    assert reason.startswith("messages[0].$type: unknown type 'AAAA")
    assert len(reason) < 120


# -- collections -----------------------------------------------------------------------------


def test_plain_arrays_and_values_wrappers_read_alike() -> None:
    expected = parse(sample())
    document = sample()
    message = first_message(document)
    message["tickets"] = {"$id": "40", "$values": message["tickets"]}  # PreserveReferences.Arrays
    document["messages"] = document["messages"]["$values"]  # the messages as a plain array

    assert parse(document) == expected


def test_a_values_wrapper_must_hold_an_array() -> None:
    document = sample()
    document["messages"]["$values"] = {"a": 1}
    assert refusal(document).reason == "messages.$values: must be an array, got an object"


# -- references ------------------------------------------------------------------------------


def test_a_reference_repeats_an_earlier_object() -> None:
    document = sample()
    tickets = first_message(document)["tickets"]
    tickets[2] = {"$ref": "4"}  # the first ticket

    tickets_read = parse(document).messages[0].members["tickets"]

    assert tickets_read[2] == tickets_read[0]
    assert tickets_read[2]["ticketId"] == "WM-20261126-000101"


def test_numeric_ids_and_references_are_read() -> None:
    document = sample()
    first_message(document)["returnAddress"]["$id"] = 3
    document["returnAddress"] = {"$ref": 3}
    assert parse(document).return_address == SENDER


def test_a_reference_to_an_unknown_id_is_refused() -> None:
    document = sample()
    first_message(document)["returnAddress"] = {"$ref": "99"}
    error = refusal(document)
    assert error.reason == "messages[0].returnAddress.$ref: no object with $id '99' before this point"
    assert error.guid == BATCH_GUID


def test_a_reference_forward_is_refused() -> None:
    document = sample()
    reordered = {"returnAddress": document.pop("returnAddress"), **document}  # before the messages
    error = refusal(reordered)
    assert error.reason == "returnAddress.$ref: no object with $id '3' before this point"
    assert error.guid == BATCH_GUID  # still answerable: the message's guid and return address
    assert error.return_address == SENDER


def test_a_reference_to_an_enclosing_object_is_refused() -> None:
    document = sample()
    first_message(document)["tickets"][0]["parent"] = {"$ref": "2"}  # the message itself
    assert refusal(document).reason == (
        "messages[0].tickets[0].parent.$ref: '2' is an object that contains this reference"
    )


def test_an_id_defined_twice_is_refused() -> None:
    document = sample()
    first_message(document)["tickets"][1]["$id"] = "4"
    assert refusal(document).reason == "messages[0].tickets[1].$id: '4' is defined twice"


def test_a_reference_with_other_members_is_refused() -> None:
    document = sample()
    document["returnAddress"] = {"$ref": "3", "agentId": 5}
    assert refusal(document).reason == "returnAddress.$ref: a reference must have no other members"


@pytest.mark.parametrize("ref", [None, True, 1.5, ["3"]])
def test_a_reference_must_be_a_string(ref: Any) -> None:
    document = sample()
    document["returnAddress"] = {"$ref": ref}
    assert refusal(document).reason.startswith("returnAddress.$ref: must be a string, got ")


def test_references_cannot_expand_past_the_limit() -> None:
    # "Billion laughs": each level names the one before twice, so 40 levels stand for 2**40 values.
    document = sample()
    message = first_message(document)
    message["level0"] = {"$id": "L0", "values": [1, 2, 3, 4]}
    for level in range(1, 40):
        previous = {"$ref": f"L{level - 1}"}
        message[f"level{level}"] = {"$id": f"L{level}", "a": previous, "b": dict(previous)}

    error = refusal(document)

    assert "references expand the message to more than 4194304 values" in error.reason
    assert error.guid == BATCH_GUID


# -- key order and unknown members ----------------------------------------------------------------


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def test_any_key_order_is_read_metadata_last_too() -> None:
    document = sample()
    document["returnAddress"] = dict(first_message(document)["returnAddress"], **{"$id": "30"})
    expected = parse(document)

    assert parse(reversed_keys(document)) == expected
    assert expected.return_address == SENDER


def test_unknown_members_are_ignored_at_call_level_and_kept_for_messages() -> None:
    document = sample()
    document["priority"] = {"nested": [1, {"deep": True}]}
    first_message(document)["batchNumber"] = 7

    call = parse(document)

    assert call.messages[0].members["batchNumber"] == 7
    assert call.guid == "5f0c6a2e-8a61-4c1b-9d0e-2b7f3a9c1d40"


# -- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:04:00.1234567-06:00", datetime(2026, 11, 26, 10, 4, 0, 123456, tzinfo=CST)),
        ("2024-02-21T12:11:09.7761323+01:00", datetime(2024, 2, 21, 11, 11, 9, 776132, tzinfo=UTC)),
        ("2026-11-26T10:04:00Z", datetime(2026, 11, 26, 10, 4, tzinfo=UTC)),
        ("2026-11-26T10:04:00", datetime(2026, 11, 26, 10, 4)),
        ("0001-01-01T00:00:00", None),
        ("0001-01-01T00:00:00+00:00", None),
        ("0001-01-01T00:00:00.0000000-06:00", None),
    ],
)
def test_dates_are_iso_8601_with_net_fractions_and_year_1_is_not_set(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01T00:00:00", "26/11/2026"])
def test_a_bad_date_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


@pytest.mark.parametrize("value", ["yesterday", 20261126, True])
def test_a_bad_sending_time_refuses_the_call_but_names_whom_to_answer(value: Any) -> None:
    document = sample()
    document["sendingTime"] = value

    error = refusal(document)

    assert error.reason == f"sendingTime: must be an ISO 8601 date, got {show(value)}"
    # A refusal at call level is answered to the first message, which is who waits for a reply.
    assert error.guid == BATCH_GUID
    assert error.return_address == SENDER


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (None, NOT_SET),
        (datetime(2026, 11, 26, 10, 4, 0, 123456, tzinfo=CST), "2026-11-26T10:04:00.123456-06:00"),
        (datetime(2026, 11, 26, 10, 4, 0, 100000, tzinfo=CST), "2026-11-26T10:04:00.1-06:00"),
        (datetime(2026, 11, 26, 10, 4), "2026-11-26T10:04:00"),
        (datetime(2026, 11, 26, 10, 4, tzinfo=timezone(timedelta(hours=5, minutes=30))), "2026-11-26T10:04:00+05:30"),
        (datetime(2026, 11, 26, 10, 4, tzinfo=UTC), "2026-11-26T10:04:00+00:00"),
        (datetime(5, 1, 2, 3, 4, 5), "0005-01-02T03:04:05"),
    ],
)
def test_dates_are_written_as_newtonsoft_writes_them(moment: datetime | None, text: str) -> None:
    assert format_date(moment) == text


# -- a single message, return addresses, the call's members --------------------------------------


def test_a_single_message_is_a_call_of_one() -> None:
    message = first_message(sample())

    call = parse(message)

    assert call.guid is None
    assert [m.guid for m in call.messages] == [BATCH_GUID]
    assert call.return_address == SENDER
    assert call.messages[0].return_address == SENDER


def test_a_document_without_a_type_is_refused() -> None:
    document = sample()
    del document["$type"]
    error = refusal(document)
    assert error.reason == "$type: required, InterAppCall or a known message type"
    assert error.guid == BATCH_GUID


def test_the_calls_return_address_bubbles_down_to_messages_without_one() -> None:
    document = sample()
    own = first_message(document)
    other = dict(own, **{"$id": "20", "guid": "other"})
    del other["returnAddress"]
    other["tickets"] = []
    document["messages"]["$values"].append(other)
    document["returnAddress"] = {"agentId": 7, "elementId": 8, "parameterId": 9000002}

    call = parse(document)

    assert call.messages[0].return_address == SENDER  # its own stays
    assert call.messages[1].return_address == ReturnAddress(agent_id=7, element_id=8, parameter_id=9000002)


def test_the_parameter_of_a_return_address_defaults_to_9000001() -> None:
    document = sample()
    del first_message(document)["returnAddress"]["parameterId"]
    assert parse(document).messages[0].return_address == ReturnAddress(agent_id=101, element_id=12)


@pytest.mark.parametrize(
    ("member", "value", "reason"),
    [
        ("agentId", "101", "messages[0].returnAddress.agentId: must be a 32-bit integer, got '101'"),
        ("agentId", True, "messages[0].returnAddress.agentId: must be a 32-bit integer, got true"),
        ("elementId", 2**31, "messages[0].returnAddress.elementId: must be a 32-bit integer, got 2147483648"),
        ("elementId", None, "messages[0].returnAddress.elementId: required"),
        ("parameterId", 1.0, "messages[0].returnAddress.parameterId: must be a 32-bit integer, got 1.0"),
    ],
)
def test_a_bad_return_address_is_refused(member: str, value: Any, reason: str) -> None:
    document = sample()
    first_message(document)["returnAddress"][member] = value
    error = refusal(document)
    assert error.reason == reason
    assert error.guid == BATCH_GUID
    assert error.return_address is None  # the only one there is, the call's being a $ref to it


def test_a_return_address_must_be_an_object() -> None:
    document = sample()
    first_message(document)["returnAddress"] = "101/12"
    document["returnAddress"] = None  # was a $ref to the message's
    assert refusal(document).reason == "messages[0].returnAddress: must be an object, got '101/12'"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("messages"), "messages: required"),
        (lambda d: d.update(messages=5), "messages: must be an array, got 5"),
        (lambda d: d["messages"]["$values"].insert(0, 5), "messages[0]: must be an object, got 5"),
        (lambda d: d.update(guid=5), "guid: must be a string, got 5"),
        (lambda d: first_message(d).update(guid=["x"]), "messages[0].guid: must be a string, got an array"),
    ],
)
def test_the_calls_structure_is_checked(change: Any, reason: str) -> None:
    document = sample()
    document["returnAddress"] = None  # a $ref into the messages, which some changes remove
    change(document)
    assert refusal(document).reason == reason


def test_a_refusal_in_a_later_message_answers_that_message() -> None:
    document = sample()
    second = json.loads(json.dumps(first_message(document)).replace('"$id": "', '"$id": "x'))
    second["guid"] = "second"
    second["returnAddress"] = {"agentId": 5, "elementId": 6}
    second["tickets"][0]["$type"] = "Nope,"
    document["messages"]["$values"].append(second)

    error = refusal(document)

    assert error.reason == "messages[1].tickets[0].$type: unknown type 'Nope'"
    assert error.guid == "second"
    assert error.return_address == ReturnAddress(agent_id=5, element_id=6)


def test_a_call_without_messages_is_read() -> None:
    document = sample()
    document["messages"]["$values"] = []
    document["returnAddress"] = None
    assert parse(document).messages == ()


# -- refusals of what is not a call at all ---------------------------------------------------


def test_not_json_is_refused_with_where() -> None:
    error = refusal("")
    assert error.reason == "not JSON: Expecting value at line 1 column 1"
    assert (error.guid, error.return_address) == (None, None)
    assert refusal('{"a":\n  }').reason == "not JSON: Expecting value at line 2 column 3"


def test_bytes_must_be_utf8_and_a_byte_order_mark_is_allowed() -> None:
    assert refusal(b'{"a": "\xff"}').reason == "not UTF-8: invalid start byte at byte 7"
    text = sample_text("ticket-batch.json")
    assert parse_call(b"\xef\xbb\xbf" + text.encode("utf-8"), KNOWN) == parse_call(text, KNOWN)
    assert parse_call("\ufeff" + text, KNOWN) == parse_call(text, KNOWN)


@pytest.mark.parametrize(
    ("raw", "got"),
    [("[1, 2]", "an array"), ("42", "42"), ("null", "null"), ('"hi"', "'hi'"), ("true", "true")],
)
def test_only_an_object_can_be_a_call(raw: str, got: str) -> None:
    assert refusal(raw).reason == f"not an InterApp call: expected a JSON object, got {got}"


@pytest.mark.parametrize("raw", [None, 42, ["x"], object()])
def test_input_that_is_not_text_is_refused(raw: Any) -> None:
    with pytest.raises(InterAppError, match="^not a message: expected text or bytes"):
        parse_call(raw, KNOWN)


def test_the_size_limit_counts_utf8_bytes() -> None:
    text = json.dumps(sample(), ensure_ascii=False).replace("Falla de linea", "Falla de línea")
    size = len(text.encode("utf-8"))
    assert size == len(text) + 1  # í is two bytes

    parse_call(text, KNOWN, max_bytes=size)
    parse_call(text.encode("utf-8"), KNOWN, max_bytes=size)
    assert refusal(text, max_bytes=size - 1).reason == f"message larger than {size - 1} bytes"
    assert refusal(text.encode("utf-8"), max_bytes=size - 1).reason == f"message larger than {size - 1} bytes"


def test_the_default_size_limit_is_4_mib() -> None:
    document = sample()
    first_message(document)["padding"] = "x" * (4 * 1024 * 1024)
    error = refusal(document)
    assert error.reason == "message larger than 4194304 bytes"
    assert error.guid is None  # nothing was read


def test_nesting_up_to_the_limit_is_read_and_deeper_is_refused() -> None:
    # call (1) > messages wrapper (2) > $values (3) > message (4) > arrays (5...)
    document = sample()
    first_message(document)["nested"] = deep_array(28)
    assert parse(document).messages[0].members["nested"] == deep_array(28)

    first_message(document)["nested"] = deep_array(29)
    error = refusal(document)
    assert error.reason == "nesting deeper than 32 levels"
    assert error.guid == BATCH_GUID

    assert parse(document, max_depth=33).messages[0].members["nested"] == deep_array(29)


def test_nesting_far_past_the_interpreters_limit_is_only_refused() -> None:
    text = sample_text("ticket-batch.json")
    deep = text.replace('"source":null', '"source":' + "[" * 100_000 + "]" * 100_000, 1)
    assert refusal(deep).reason == "nesting deeper than 32 levels"
    assert refusal(deep, max_depth=1_000_000).reason == "nesting deeper than 1000000 levels"
    assert refusal("{" * 100_000).reason.startswith(("not JSON", "nesting deeper"))


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("NaN", "not JSON: NaN is not a number JSON knows"),
        ("Infinity", "not JSON: Infinity is not a number JSON knows"),
        ("-Infinity", "not JSON: -Infinity is not a number JSON knows"),
        ("1e999", "not JSON: the number 1e999 is out of range"),
        ("9" * 5000, "not JSON: a number has too many digits"),
    ],
)
def test_numbers_json_does_not_have_are_refused(number: str, reason: str) -> None:
    text = sample_text("ticket-batch.json").replace('"priority":2', f'"priority":{number}', 1)
    assert refusal(text).reason == reason


def test_lone_surrogates_are_refused_in_values_and_names() -> None:
    text = sample_text("ticket-batch.json")
    in_value = text.replace('"summary":"SNR bajo', '"summary":"\\ud800 SNR bajo', 1)
    assert refusal(in_value).reason == "messages[0].tickets[0].summary: not valid Unicode (a lone surrogate)"
    in_name = text.replace('"node":', '"\\udfff":1,"node":', 1)
    assert refusal(in_name).reason == "messages[0].tickets[0].\\udfff: not valid Unicode (a lone surrogate)"
    # Proper pairs are fine.
    paired = text.replace('"summary":"SNR bajo', '"summary":"\\ud83d\\ude00 SNR bajo', 1)
    assert parse_call(paired, KNOWN).messages[0].members["tickets"][0]["summary"].startswith("\U0001f600")


def test_interapp_error_carries_its_fields_and_pickles() -> None:
    error = InterAppError("why", guid="g", return_address=SENDER)
    assert str(error) == "why"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.guid, copy.return_address) == ("why", "g", SENDER)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Incendio", "'Incendio'"),
        ("a\nb", "'a\\nb'"),
        ("x" * 100, "'" + "x" * 60 + "...'"),
        (None, "null"),
        (False, "false"),
        (7, "7"),
        (10**100, "a very large integer"),
        (2.0, "2.0"),
        ({"a": 1}, "an object"),
        ([1], "an array"),
        ({1}, "a set"),
    ],
)
def test_values_are_shown_short_and_as_json_words(value: Any, shown: str) -> None:
    assert show(value) == shown


# -- writing ---------------------------------------------------------------------------------


def test_serialize_writes_the_senders_shape() -> None:
    message = OutgoingMessage(
        type="Probe",
        members={
            "zeta": [{"b": 1, "a": None}, "text", [{"c": 2.5}]],
            "guid": "m-1",
            "alpha": {"when": datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=CST)},
            "returnAddress": ReturnAddress(agent_id=1, element_id=2),
            "empty": {},
        },
    )

    text = serialize_call([message], guid="c-1", sending_time=datetime(2026, 1, 2, tzinfo=CST))

    assert text == (
        '{"$id":"1","$type":"InterAppCall,","guid":"c-1","messages":{"$type":"' + MESSAGES_TYPE + '",'
        '"$values":[{"$id":"2","$type":"Probe,","alpha":{"$id":"3","when":"2026-01-02T03:04:05.6-06:00"},'
        '"empty":{"$id":"4"},"guid":"m-1","returnAddress":{"$id":"5","$type":"' + RETURN_ADDRESS_TYPE + '",'
        '"agentId":1,"elementId":2,"parameterId":9000001},"source":null,'
        '"zeta":[{"$id":"6","a":null,"b":1},"text",[{"$id":"7","c":2.5}]]}]},'
        '"receivingTime":"0001-01-01T00:00:00","returnAddress":null,'
        '"sendingTime":"2026-01-02T00:00:00-06:00","source":null}'
    )


def test_serialize_numbers_messages_in_document_order() -> None:
    text = serialize_call(
        [OutgoingMessage(type="A", members={"x": {}}), OutgoingMessage(type="B", members={"y": [{}]})],
        guid="g",
    )
    messages = json.loads(text)["messages"]["$values"]
    assert [(m["$id"], m["$type"]) for m in messages] == [("2", "A,"), ("4", "B,")]
    assert messages[0]["x"] == {"$id": "3"} and messages[1]["y"] == [{"$id": "5"}]


def test_serialize_makes_guids_and_the_sending_time_when_not_given() -> None:
    before = datetime.now(UTC)
    text = serialize_call([OutgoingMessage(type="A"), OutgoingMessage(type="B", members={"guid": None})])
    document = json.loads(text)

    uuid.UUID(document["guid"])
    uuid.UUID(document["messages"]["$values"][0]["guid"])
    assert document["messages"]["$values"][1]["guid"] is None  # given as None: stays null
    sent = parse_date(document["sendingTime"])
    assert sent is not None and sent.tzinfo is not None
    assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC)


def test_serialize_refuses_what_no_json_can_hold() -> None:
    with pytest.raises(ValueError, match=r"\$id"):
        serialize_call([OutgoingMessage(type="A", members={"$id": "9"})])
    with pytest.raises(TypeError):
        serialize_call([OutgoingMessage(type="A", members={"x": {1, 2}})])
    with pytest.raises(TypeError):
        serialize_call([OutgoingMessage(type="A", members={"x": {1: "a"}})])
    with pytest.raises(ValueError):
        serialize_call([OutgoingMessage(type="A", members={"x": float("nan")})])


def test_a_return_address_member_round_trips() -> None:
    address = ReturnAddress(agent_id=3, element_id=4, parameter_id=5)
    text = serialize_call([OutgoingMessage(type="Ticket", members={"returnAddress": address, "guid": "g"})])
    [message] = parse_call(text, KNOWN).messages
    assert message == Message(type="Ticket", guid="g", return_address=address, members={"source": None})


@PROPERTY
@given(
    members=interapp_members(),
    guid=st.one_of(st.none(), st.text(max_size=40)),
    sent=interapp_dates(),
)
def test_serialize_then_parse_keeps_everything(members: dict[str, Any], guid: str | None, sent: datetime) -> None:
    text = serialize_call(
        [OutgoingMessage(type="Probe", members={**members, "guid": "m"})], guid=guid, sending_time=sent
    )

    call = parse_call(text, {"Probe"})

    assert call.sending_time == sent
    assert call.sending_time is not None and call.sending_time.utcoffset() == sent.utcoffset()
    assert call.guid == (guid if guid is not None else call.guid)
    [message] = call.messages
    assert (message.type, message.guid, message.return_address) == ("Probe", "m", None)
    assert message.members == {**members, "source": None}


# -- nothing but InterAppError -------------------------------------------------------------


def only_refused(raw: str | bytes) -> None:
    try:
        parse_call(raw, KNOWN)
    except InterAppError as error:
        assert isinstance(error.reason, str) and error.reason
        assert len(error.reason) < 400  # reasons quote short, whatever was sent
        assert error.guid is None or isinstance(error.guid, str)
        assert error.return_address is None or isinstance(error.return_address, ReturnAddress)


@PROPERTY
@given(st.text())
def test_any_text_is_read_or_refused(raw: str) -> None:
    only_refused(raw)


@PROPERTY
@given(st.binary())
def test_any_bytes_are_read_or_refused(raw: bytes) -> None:
    only_refused(raw)


@PROPERTY
@given(interapp_json_values())
def test_any_json_value_is_read_or_refused(value: Any) -> None:
    only_refused(json.dumps(value))


@PROPERTY
@given(interapp_mutated_samples(SAMPLE_TEXTS))
def test_any_mutation_of_the_samples_is_read_or_refused(raw: str) -> None:
    only_refused(raw)


@PROPERTY
@given(st.text(max_size=40))
def test_parse_date_raises_only_value_error(text: str) -> None:
    try:
        parse_date(text)
    except ValueError:
        pass


# -- speed -----------------------------------------------------------------------------------


def test_a_100_ticket_message_parses_well_under_5_ms() -> None:
    ticket = dict(first_message(sample())["tickets"][0])
    del ticket["$id"]  # serialize_call numbers the objects itself
    tickets = [dict(ticket, ticketId=f"WM-20261126-{n:06d}") for n in range(100)]
    text = serialize_call([OutgoingMessage(type="TicketBatchMessage", members={"tickets": tickets})])

    best = min(_elapsed(lambda: parse_call(text, KNOWN)) for _ in range(20))

    assert best < 0.005, f"best of 20: {best * 1000:.2f} ms"


def _elapsed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def test_written_type_names_are_every_type_in_the_text_by_its_short_name() -> None:
    from connector.engine.interapp import written_type_names

    raw = '{"$type": "InterAppCall,", "messages": [{"$type": "A.B.Reply, X", "items": [{"$type": "Item,"}]}]}'
    assert written_type_names(raw) == {"InterAppCall", "Reply", "Item"}
    assert written_type_names("not json") == set()


# -- duplicate members (issue 11) ------------------------------------------------------------

_CALL_TYPE = "Skyline.DataMiner.Core.InterAppCalls.Common.CallBulk.InterAppCall, SLInterAppCalls"


def _duplicated(inner: str) -> str:
    return (
        f'{{"$type": "{_CALL_TYPE}", "guid": "g-1", "returnAddress": {{"agentId": 1, "elementId": 2}},'
        f' "messages": [{{"$type": "TicketBatchMessage, X", "tickets": [{inner}]}}]}}'
    )


@pytest.mark.parametrize(
    ("inner", "key", "where"),
    [
        ('{"ticketId": "WM-1", "ticketId": "WM-2", "category": "SNR"}', "ticketId", "messages[0].tickets[0].ticketId"),
        ('{"ticketId": "WM-1", "category": "SNR", "category": "Falla de Linea"}', "category", "tickets[0].category"),
        ('{"ticketId": "WM-1", "extra": {"a": {"b": 1, "b": 2}}}', "b", "tickets[0].extra.a.b"),
        ('{"ticketId": "WM-1", "ticket\\u0049d": "WM-2"}', "ticketId", "tickets[0].ticketId"),
    ],
)
def test_a_member_written_twice_refuses_the_message_whole(inner: str, key: str, where: str) -> None:
    # Regression: json.loads kept the last value silently, also for ticketId and category.
    with pytest.raises(InterAppError) as refused:
        parse_call(_duplicated(inner), KNOWN)
    assert f"the member '{key}' appears twice" in refused.value.reason and where in refused.value.reason
    assert refused.value.guid == "g-1" and refused.value.return_address is not None  # still answered


def test_a_duplicate_type_or_guid_is_refused_too() -> None:
    raw = _duplicated('{"ticketId": "WM-1"}').replace('"guid": "g-1"', '"guid": "g-1", "guid": "g-2"')
    with pytest.raises(InterAppError, match="'guid' appears twice"):
        parse_call(raw, KNOWN)


@given(st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=5), st.data())
def test_any_repeated_member_at_any_depth_is_refused(members: dict[str, int], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(members)))
    pairs = ", ".join(f"{json.dumps(k)}: {v}" for k, v in members.items())
    inner = f'{{"ticketId": "WM-1", "x": {{{pairs}, {json.dumps(key)}: 0}}}}'
    with pytest.raises(InterAppError, match="appears twice"):
        parse_call(_duplicated(inner), KNOWN)
