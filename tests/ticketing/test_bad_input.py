"""Bad input through the element: InterApp payloads on 9000000, parameter sets, element YAML.

In process, under a fake clock (connector.ticketing.fake.inprocess). The parser and the protocol
loader have their own Hypothesis tests; these go through the element, as WM and operators reach
it. Whatever comes in: no unhandled exception (the engine logs a failing handler on
"connector.element": none may be logged), no partial row (every stored row keeps every receive
rule), always the documented refusal (an ErrorResponse, or a rejected entry with its reason),
and the element keeps serving afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.contracts import ticket_batch
from connector.engine.interapp import parse_call
from connector.engine.testing import FakeClock, Harness
from connector.engine.values import ValueRefused, coerce
from connector.protocol.errors import ProtocolError
from connector.protocol.model import INTERAPP_RECEIVE, ParamType
from connector.service.config import load_element
from connector.ticketing import PROTOCOL_YAML, ticket_table, tickets
from connector.ticketing import fake as fp
from connector.ticketing.fake.inprocess import ticketing_element, ticketing_protocol
from connector.ticketing.ids import ids
from tests.conftest import sample_text
from tests.strategies import (
    badinput_element_yaml_texts,
    badinput_interapp_payloads,
    badinput_json_values,
    badinput_ticket_batches,
)

SAMPLES = [sample_text("ticket-batch.json"), sample_text("ticket-batch-mixed.json")]
PRELOADED = ["WM-20261126-000101", "WM-20261126-000102", "WM-20261126-000103"]  # ticket-batch.json
TICKET_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# BADINPUT_EXAMPLES=2000 for a longer hunt; CI keeps the default.
EXAMPLES = int(os.environ.get("BADINPUT_EXAMPLES", "120"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENGINE_LOGGERS = ("connector.element", "connector.handler", "connector.runtime")


def element(*, processing: bool = False) -> Harness:
    """A fresh element holding the three sample tickets, on a fresh fake platform."""
    clock = FakeClock()
    platform = fp.FakePlatform(seed=1, clock=clock.now)
    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled" if processing else "Disabled"})
    h.set(INTERAPP_RECEIVE, SAMPLES[0])
    assert h.element.view.tables[ids().ticket_overview].keys() == PRELOADED
    return h


def handler_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(ENGINE_LOGGERS)]


def assert_rows_keep_the_receive_rules(h: Harness) -> None:
    """No partial row: every stored row has every receive-path cell, valid per the Ticket rules."""
    table = h.element.view.tables[ids().ticket_overview]
    for key in table.keys():  # noqa: SIM118 - a Table is not iterable: keys() lists its rows
        row = table.row(key)
        assert TICKET_ID.fullmatch(key), key
        assert row[tickets.CATEGORY] in ticket_batch.CATEGORIES, row
        assert isinstance(row[tickets.NODE], str) and 1 <= len(row[tickets.NODE]) <= 128, row
        assert isinstance(row[tickets.SUMMARY], str) and 1 <= len(row[tickets.SUMMARY]) <= 255, row
        assert isinstance(row[tickets.DESCRIPTION], str) and len(row[tickets.DESCRIPTION]) <= 4000, row
        assert type(row[tickets.PRIORITY]) is int and 1 <= row[tickets.PRIORITY] <= 5, row
        customers = row[tickets.AFFECTED_CUSTOMERS]
        assert customers is None or (type(customers) is int and 0 <= customers <= 2**31 - 1), row
        assert row[tickets.DETECTED_AT] is None or isinstance(row[tickets.DETECTED_AT], float), row
        assert row[tickets.STATUS] in tickets.STATUSES and row[tickets.OPERATION] in tickets.OPERATIONS, row
        assert isinstance(row[tickets.RECEIVED_AT], float) and row[tickets.RETRIES] == 0 or row[tickets.RETRIES] > 0


def replies_since(h: Harness, start: int) -> list[tuple[str, dict[str, Any]]]:
    """The InterApp replies the element sent since `start`, read back in the contract's dialect."""
    read = []
    for reply in h.interapp[start:]:
        for message in parse_call(reply.raw, ticket_batch.KNOWN_TYPES).messages:
            read.append((message.type, dict(message.members)))
    return read


def still_serving(h: Harness, ticket_id: str = "WM-AFTER-0001") -> None:
    start = len(h.interapp)
    h.set(
        INTERAPP_RECEIVE,
        json.dumps(
            {
                "$type": "InterAppCall,",
                "messages": [
                    {
                        "$type": "TicketBatchMessage,",
                        "guid": "after",
                        "tickets": [
                            {"ticketId": ticket_id, "category": "SNR", "node": "N-1", "summary": "after the storm"}
                        ],
                    }
                ],
            }
        ),
    )
    [(kind, members)] = replies_since(h, start)
    assert kind == "TicketBatchResponse" and members["accepted"] == [ticket_id], members


# -- InterApp payloads --------------------------------------------------------------------------


@PROPERTY
@given(payload=badinput_interapp_payloads(SAMPLES))
def test_any_payload_is_stored_whole_or_refused_with_a_reason(payload: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    h = element()
    table = h.element.view.tables[ids().ticket_overview]
    before, start = set(table.keys()), len(h.interapp)

    h.set(INTERAPP_RECEIVE, payload)

    assert handler_errors(caplog) == []
    replies = replies_since(h, start)
    # Every message gets an answer, an ErrorResponse when the call cannot be read at all; a
    # call of no messages gets none, and stores nothing (checked below).
    assert replies or json.loads(payload)["messages"] in ([], {"$values": []}), payload[:200]
    accepted: list[str] = []
    for kind, members in replies:
        assert kind in ("TicketBatchResponse", "ErrorResponse"), kind
        if kind == "ErrorResponse":
            assert isinstance(members["reason"], str) and members["reason"].strip()
            continue
        accepted += members["accepted"]
        assert set(members["duplicates"]) <= before | set(accepted), members["duplicates"]
        for entry in members["rejected"]:
            assert isinstance(entry["reason"], str) and ":" in entry["reason"], entry
    assert set(table.keys()) - before == set(accepted) and len(accepted) == len(set(accepted))
    assert_rows_keep_the_receive_rules(h)
    still_serving(h)


@PROPERTY
@given(batch=badinput_ticket_batches())
def test_each_ticket_is_accepted_exactly_when_it_keeps_every_rule(
    batch: tuple[str, list[tuple[dict[str, Any], bool]]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    raw, candidates = batch
    h = element()
    start = len(h.interapp)

    h.set(INTERAPP_RECEIVE, raw)

    assert handler_errors(caplog) == []
    [(kind, members)] = replies_since(h, start)
    assert kind == "TicketBatchResponse", members
    expected_accepted, expected_duplicates, seen = [], [], set(PRELOADED)
    for ticket, valid in candidates:
        if valid:
            (expected_duplicates if ticket["ticketId"] in seen else expected_accepted).append(ticket["ticketId"])
            seen.add(ticket["ticketId"])
    assert members["accepted"] == expected_accepted
    assert members["duplicates"] == expected_duplicates
    invalid = [ticket for ticket, valid in candidates if not valid]
    assert len(members["rejected"]) == len(invalid)
    for entry, ticket in zip(members["rejected"], invalid, strict=True):
        sent = ticket.get("ticketId")
        assert entry["ticketId"] == (sent[:64] if isinstance(sent, str) else None)
        assert entry["reason"].split(":")[0] in {
            "ticketId",
            "category",
            "node",
            "summary",
            "description",
            "priority",
            "detectedAt",
            "affectedCustomers",
        }, entry
    assert_rows_keep_the_receive_rules(h)
    still_serving(h)


@settings(
    max_examples=max(25, EXAMPLES // 5), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=badinput_ticket_batches())
def test_whatever_is_accepted_goes_through_the_platform(
    batch: tuple[str, list[tuple[dict[str, Any], bool]]], caplog: pytest.LogCaptureFixture
) -> None:
    """Tickets at the edges of the rules (4000-character descriptions, odd nodes) are not only
    stored: the flow sends them and they complete."""
    caplog.clear()
    h = element(processing=True)
    h.set(INTERAPP_RECEIVE, batch[0])
    h.advance(120)
    assert handler_errors(caplog) == []
    assert ticket_table.counts(h.element.view.tables[ids().ticket_overview])[tickets.COMPLETED] == len(
        h.element.view.tables[ids().ticket_overview]
    )


# -- parameter sets -------------------------------------------------------------------------------


PROTOCOL = ticketing_protocol()
# Every parameter by id and by name, the table, and names and ids that are nobody's.
REFS: list[int | str] = [
    *sorted(PROTOCOL.params),
    *sorted({p.name for p in PROTOCOL.params.values()}),
    *PROTOCOL.tables,
    *(t.name for t in PROTOCOL.tables.values()),
    "No Such Parameter",
    123456,
    "",
    "9000000x",
]


@PROPERTY
@given(ref=st.sampled_from(REFS), value=badinput_json_values())
def test_a_set_is_stored_or_refused_and_a_refusal_changes_nothing(
    ref: int | str, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    h = element()
    values = dict(h.element.view.values)
    rows = {key: h.element.view.tables[ids().ticket_overview].row(key) for key in PRELOADED}
    persisted = len(h.persisted)
    try:
        h.set(ref, value)
    except (KeyError, ValueRefused):  # the two refusals of the set command; anything else fails
        assert h.element.view.values == values  # nothing changed...
        assert {key: h.element.view.tables[ids().ticket_overview].row(key) for key in PRELOADED} == rows
        assert len(h.persisted) == persisted  # ...and nothing was committed
    else:
        param = PROTOCOL.param(ref)
        write = PROTOCOL.write_of(param.id) if param.type is not ParamType.WRITE else None
        write = write or param
        target = PROTOCOL.read_of(write.id) if write.type is ParamType.WRITE else None
        assert h.element.view.values[(target or write).id] == coerce(write, value)
    assert handler_errors(caplog) == []
    still_serving(h)


def test_the_set_test_reaches_every_kind_of_parameter() -> None:
    assert {p.kind.value for p in PROTOCOL.params.values()} >= {
        "string",
        "number",
        "discreet",
        "toggle",
        "button",
        "datetime",
    }
    assert {p.type for p in PROTOCOL.params.values()} >= {ParamType.READ, ParamType.WRITE, ParamType.DUMMY}


# -- element YAML -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yaml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("element-yaml")
    (directory / "key.txt").write_text("k3y\n", encoding="utf-8")
    (directory / "state").mkdir()
    return directory


@settings(max_examples=2 * EXAMPLES, deadline=None)
@given(text=badinput_element_yaml_texts(str(PROTOCOL_YAML)))
def test_an_element_yaml_loads_or_raises_protocol_error_only(text: str, yaml_dir: Path) -> None:
    os.environ.setdefault("BADINPUT_PASSWORD", "pa55")
    path = yaml_dir / "element.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        config, protocol = load_element(path)
    except ProtocolError as refused:
        message = str(refused)
        assert message.strip()  # every problem says where and why
        assert "pa55" not in message and "k3y" not in message  # never a secret, even `protocol: key.txt`
    else:
        assert config.name.strip() and protocol.name
        assert all(pid in protocol.params for pid in (*config.params, *config.secrets))
