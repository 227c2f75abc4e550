"""The management API in process (httpx's ASGI transport): every call, every bad input of issue 4.

The runtime under the API is a small stand-in (`FakeRuntime` below) around real elements of the
engine's toy protocol: sets and InterApp go through `Element.handle`, as the real host does,
minus the queue and the store. Every answer any test receives is checked for the password.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.engine import events as ev
from connector.engine.element import Element, ElementView, internals
from connector.engine.http import httpx
from connector.engine.interapp import InterAppError, OutgoingMessage, parse_call, serialize_call
from connector.engine.testing import FakeClock
from connector.engine.values import MASK
from connector.protocol import model as m
from connector.service.api import create_app
from connector.service.runtime import HostState
from tests.conftest import sample_text
from tests.engine import toy

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-Passw0rd"  # the password the elements start with
NEW_SECRET = "n3w-s3cr3t-Passw0rd"  # a password set through the API
BE = "Toy BE 01"  # answers InterApp in the ticket dialect
PLAIN = "Plain"  # the toy's own receive handler: its reply is not the dialect
STOPPED = "Stopped"
BE_PATH = "/api/elements/Toy%20BE%2001"
MAX_MESSAGE_BYTES = 64 * 1024
NUMBER = {"kind": "number", "password": False, "discreets": [], "page": ""}  # a number parameter's other keys


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


# -- the runtime under the API -------------------------------------------------------------


class FakeHost:
    """The ElementHost interface of connector.service.runtime, without queue, store or timers."""

    def __init__(self, element: Element, state: HostState = HostState.RUNNING) -> None:
        self.name = element.view.name
        self.element = element
        self.view = element.view
        self.state = state
        self.failure: str | None = None  # why it is FAILED, as the real host says
        self.reason = ""
        self.sets: list[tuple[int | str, Any]] = []

    async def set(self, ref: int | str, value: Any) -> None:
        self.sets.append((ref, value))
        self.element.handle(ev.SetParameter(param=ref, value=value))

    async def interapp(self, raw: str) -> list[ev.SendInterApp]:
        effects = self.element.handle(ev.SetParameter(param=m.INTERAPP_RECEIVE, value=raw))
        return [effect for effect in effects if isinstance(effect, ev.SendInterApp)]


class FakeRuntime:
    def __init__(self, *hosts: FakeHost) -> None:
        self.elements = {host.name: host for host in hosts}


def ticket_receive(protocol: Any) -> None:
    """A connector-like receive handler: stores tickets in Things, answers as Ticketing BE does."""
    try:
        call = parse_call(protocol.get(m.INTERAPP_RECEIVE), {"TicketBatchMessage"}, max_bytes=MAX_MESSAGE_BYTES)
    except InterAppError as refused:
        _reply(
            protocol, OutgoingMessage(type="ErrorResponse", members={"guid": refused.guid, "reason": refused.reason})
        )
        return
    table = protocol.table("Things")
    for message in call.messages:
        tickets = message.members.get("tickets")
        if not isinstance(tickets, list):
            _reply(
                protocol,
                OutgoingMessage(type="ErrorResponse", members={"guid": message.guid, "reason": "tickets: required"}),
            )
            continue
        accepted, duplicates, rejected = [], [], []
        for ticket in tickets:
            reason = _ticket_problem(ticket)
            if reason is not None:
                rejected.append({"reason": reason, "ticketId": ticket.get("ticketId")})
            elif table.add_row(
                ticket["ticketId"], {"Value": ticket["summary"], "Scratch": ticket["node"], "Seen": protocol.now()}
            ):
                accepted.append(ticket["ticketId"])
            else:
                duplicates.append(ticket["ticketId"])
        _reply(
            protocol,
            OutgoingMessage(
                type="TicketBatchResponse",
                members={"guid": message.guid, "accepted": accepted, "duplicates": duplicates, "rejected": rejected},
            ),
        )


def _ticket_problem(ticket: Any) -> str | None:
    if ticket.get("category") not in ("Falla de Linea", "SNR"):
        return f"category: must be 'Falla de Linea' or 'SNR', got {ticket.get('category')!r}"
    if not ticket.get("node"):
        return "node: required"
    return None


def _reply(protocol: Any, message: OutgoingMessage) -> None:
    protocol.send_interapp("sender", serialize_call([message]), m.INTERAPP_RETURN)


def toy_element(name: str, receive: Any = toy.receive) -> Element:
    # The toy protocol, its Scratch column hidden (the API lists hidden columns as such), and a date.
    things = toy.toy_protocol().tables[1000]
    hidden = m.Table(
        id=1000,
        name="Things",
        key_column=1001,
        columns=(
            things.columns[0],
            things.columns[1],
            m.Column(id=1003, name="Scratch", save=False, hidden=True),
            m.Column(id=1004, name="Seen", kind=m.ValueKind.DATETIME),
        ),
    )
    # Echo and Token get write parameters: from outside, only a write parameter is set.
    writes = {
        123: m.Param(id=123, name="Token", type=m.ParamType.WRITE, password=True, setter=True),
        124: m.Param(id=124, name="Echo", type=m.ParamType.WRITE, setter=True, clearable=True),
    }
    params = {**toy.toy_protocol().params, **writes}
    clock = FakeClock()
    element = Element(
        toy.toy_protocol(tables={1000: hidden}, params=params),
        name=name,
        handlers={**toy.HANDLERS, 4: receive},
        now=clock.now,
    )
    element.start(always={23: SECRET})
    return element


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime(
        FakeHost(toy_element(BE, ticket_receive)),
        FakeHost(toy_element(PLAIN)),
        FakeHost(toy_element(STOPPED), state=HostState.STOPPED),
    )


@pytest.fixture
def be(runtime: FakeRuntime) -> ElementView:
    return runtime.elements[BE].view


@asynccontextmanager
async def api_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` that checks, on exit, that no answer it got holds a password."""
    answers: list[bytes] = []

    async def keep(response: httpx.Response) -> None:
        answers.append(await response.aread())

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", event_hooks={"response": [keep]}
    ) as client:
        yield client
    for body in answers:
        assert SECRET.encode() not in body and NEW_SECRET.encode() not in body, body


@pytest.fixture
async def client(runtime: FakeRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(create_app(runtime, max_body=MAX_MESSAGE_BYTES)) as client:
        yield client


def batch(*tickets: dict[str, Any]) -> str:
    return serialize_call([OutgoingMessage(type="TicketBatchMessage", members={"tickets": list(tickets)})])


def ticket(ticket_id: str, **members: Any) -> dict[str, Any]:
    return {"ticketId": ticket_id, "category": "SNR", "node": "NODE-1", "summary": f"about {ticket_id}", **members}


# -- health, elements ----------------------------------------------------------------------


async def test_health_needs_nothing(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


async def test_elements_lists_name_protocol_version_and_state(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/elements")
    assert answer.status_code == 200
    assert answer.json() == [
        {"name": BE, "protocol": "Toy", "version": "1.0.0.1", "state": "running", "summary": {}},
        {"name": PLAIN, "protocol": "Toy", "version": "1.0.0.1", "state": "running", "summary": {}},
        {"name": STOPPED, "protocol": "Toy", "version": "1.0.0.1", "state": "stopped", "summary": {}},
    ]


@pytest.mark.parametrize("state", list(HostState))
async def test_elements_shows_each_host_state_by_its_word(state: HostState) -> None:
    runtime = FakeRuntime(FakeHost(toy_element(BE), state=state))
    async with api_client(create_app(runtime)) as client:
        answer = await client.get("/api/elements")
    assert answer.json()[0]["state"] == state.value


def test_host_states_are_the_six_words_the_api_shows() -> None:
    words = ["starting", "running", "timeout", "stopping", "stopped", "failed"]
    assert [state.value for state in HostState] == words
    accepting = {HostState.STARTING, HostState.RUNNING, HostState.TIMEOUT}
    assert {state for state in HostState if state.accepting} == accepting


async def test_an_element_in_timeout_shows_why() -> None:
    host = FakeHost(toy_element(BE), state=HostState.TIMEOUT)
    host.reason = "Login failed: Cherwell invalid_grant: Could not login"
    async with api_client(create_app(FakeRuntime(host))) as client:
        answer = await client.get("/api/elements")
    assert answer.json()[0] == {
        "name": BE,
        "protocol": "Toy",
        "version": "1.0.0.1",
        "state": "timeout",
        "reason": "Login failed: Cherwell invalid_grant: Could not login",
        "summary": {},
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/elements/Nope/params",
        "/api/elements/Nope/params/10",
        "/api/elements/Nope/tables/1000",
        "/api/elements/Toy%20BE%2002/params",  # encoded, and close to a real name
    ],
)
async def test_an_unknown_element_is_a_404_that_names_it(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("no element named ")


async def test_unknown_routes_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing/here")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = await client.delete(f"{BE_PATH}/params/10")
    assert wrong.status_code == 405 and "error" in wrong.json()
    outside = await client.get("/no/such/page")  # "/" is the element card's list
    assert outside.status_code == 404 and "error" in outside.json()


# -- parameters ----------------------------------------------------------------------------


async def test_params_lists_every_standalone_parameter(client: httpx.AsyncClient, be: ElementView) -> None:
    answer = await client.get(f"{BE_PATH}/params")
    assert answer.status_code == 200
    params = {p["id"]: p for p in answer.json()}
    assert set(params) == set(be.protocol.params)
    assert params[10] == {"id": 10, "name": "Level", "type": "read", "value": 5, "display": "5", **NUMBER}
    assert params[12]["value"] == 0 and params[12]["display"] == "Disabled"
    assert params[13]["type"] == "write"


async def test_a_password_shows_a_mask_never_the_secret(client: httpx.AsyncClient, runtime: FakeRuntime) -> None:
    listed = {p["id"]: p for p in (await client.get(f"{BE_PATH}/params")).json()}
    assert listed[23]["value"] == MASK and listed[23]["display"] == MASK
    one = (await client.get(f"{BE_PATH}/params/Token")).json()
    assert one["value"] == MASK and one["display"] == MASK
    internals(runtime.elements[BE].element).values[23] = ""  # empty: nothing to hide, nothing to show
    empty = (await client.get(f"{BE_PATH}/params/23")).json()
    assert empty["value"] == "" and empty["display"] == ""


async def test_setting_a_password_answers_with_the_mask(client: httpx.AsyncClient, be: ElementView) -> None:
    answer = await client.put(f"{BE_PATH}/params/Token", json={"value": NEW_SECRET})
    assert answer.status_code == 200 and answer.json()["value"] == MASK
    assert be.values[23] == NEW_SECRET  # the set happened; the answer only hides it


@pytest.mark.parametrize(
    "ref, expected_id",
    [
        ("10", 10),
        ("Level", 10),  # a read/write pair by name: the read one
        ("level", 10),  # names are case-insensitive
        ("LEVEL", 10),
        ("11", 11),
        ("Status%20Line", 20),
    ],
)
async def test_one_parameter_by_id_or_name(client: httpx.AsyncClient, ref: str, expected_id: int) -> None:
    answer = await client.get(f"{BE_PATH}/params/{ref}")
    assert answer.status_code == 200
    assert answer.json()["id"] == expected_id


@pytest.mark.parametrize("ref", ["999", "Nope", "%C2%B2", "10%2F11", "-1"])  # "²" is a digit int() refuses
async def test_an_unknown_parameter_is_a_404_with_a_reason(client: httpx.AsyncClient, ref: str) -> None:
    got = await client.get(f"{BE_PATH}/params/{ref}")
    put = await client.put(f"{BE_PATH}/params/{ref}", json={"value": 1})
    for answer in (got, put):
        assert answer.status_code == 404
        assert "no parameter" in answer.json()["error"]


async def test_a_set_answers_with_the_new_value(
    client: httpx.AsyncClient, runtime: FakeRuntime, be: ElementView
) -> None:
    answer = await client.put(f"{BE_PATH}/params/Level", json={"value": 30})
    assert answer.status_code == 200
    assert answer.json() == {"id": 10, "name": "Level", "type": "read", "value": 30, "display": "30", **NUMBER}
    assert be.values[10] == 30 and be.values[11] == 30  # through the write parameter and its setter
    assert runtime.elements[BE].sets == [(10, 30)]


async def test_a_set_takes_text_as_the_command_line_sends_it(client: httpx.AsyncClient, be: ElementView) -> None:
    assert (await client.put(f"{BE_PATH}/params/level", json={"value": "42"})).json()["value"] == 42
    toggled = await client.put(f"{BE_PATH}/params/Mode", json={"value": "Enabled"})
    assert toggled.status_code == 200
    assert toggled.json()["value"] == 1 and toggled.json()["display"] == "Enabled"
    cleared = await client.put(f"{BE_PATH}/params/Echo", json={"value": None})
    assert cleared.status_code == 200 and cleared.json()["value"] is None


@pytest.mark.parametrize(
    "ref, value, words",
    [
        ("Level", "abc", "must be a number"),  # a string for a number
        ("Level", 101, "at most 100"),  # out of range
        ("Level", -1, "at least 0"),
        ("Level", True, "must be a number"),
        ("Level", 10**400, "out of range"),  # past a double: JSON numbers are doubles
        ("Mode", "Maybe", "must be one of"),  # an unknown discreet
        ("Mode", 7, "must be one of"),
        ("Echo", {"a": 1}, "single value"),
        ("Echo", [1, 2], "single value"),
        ("Echo", "\ud800", "not valid Unicode"),  # a lone surrogate, which no store can hold
    ],
)
async def test_a_refused_value_is_a_422_with_the_reason_and_changes_nothing(
    client: httpx.AsyncClient, be: ElementView, ref: str, value: Any, words: str
) -> None:
    before = dict(be.values)
    body = json.dumps({"value": value})  # json.dumps writes the lone surrogate as \ud800
    answer = await client.put(f"{BE_PATH}/params/{ref}", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert words in answer.json()["error"]
    assert be.values == before


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b'"value"',
        b"null",
        b"{}",
        b'{"val": 1}',
        b'{"value": NaN}',
        b'{"value": Infinity}',
        b"\xff\xfe\x00",
        b"[" * 20_000 + b"]" * 20_000,  # deeper than json.loads goes
        b'{"value": ' + b"9" * 5000 + b"}",  # more digits than int() reads
    ],
)
async def test_a_malformed_body_is_a_400_and_changes_nothing(
    client: httpx.AsyncClient, be: ElementView, body: bytes
) -> None:
    before = dict(be.values)
    answer = await client.put(f"{BE_PATH}/params/Level", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert be.values == before


async def test_a_set_body_over_the_limit_is_a_413(client: httpx.AsyncClient) -> None:
    answer = await client.put(f"{BE_PATH}/params/Echo", json={"value": "x" * MAX_MESSAGE_BYTES})
    assert answer.status_code == 413


async def test_an_element_that_is_not_running_takes_no_set(client: httpx.AsyncClient) -> None:
    answer = await client.put("/api/elements/Stopped/params/Level", json={"value": 1})
    assert answer.status_code == 503 and "stopped" in answer.json()["error"]
    readable = await client.get("/api/elements/Stopped/params/Level")
    assert readable.status_code == 200  # reading still works


class FailingHost(FakeHost):
    """A host whose store refuses the commit: the real host stops the element and re-raises."""

    async def set(self, ref: int | str, value: Any) -> None:
        self.state = HostState.FAILED
        raise sqlite3.OperationalError("disk I/O error")

    interapp = set  # type: ignore[assignment]


async def test_an_element_that_fails_on_the_change_is_a_503_not_a_500() -> None:
    runtime = FakeRuntime(FailingHost(toy_element("Failing")))
    async with api_client(create_app(runtime)) as client:
        put = await client.put("/api/elements/Failing/params/Level", json={"value": 1})
        assert put.status_code == 503 and "failed" in put.json()["error"]
        post = await client.post("/api/elements/Failing/interapp", content=b"{}")
        assert post.status_code == 503


# -- tables --------------------------------------------------------------------------------


async def _fill(client: httpx.AsyncClient, count: int) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=batch(*(ticket(f"T-{i:03}") for i in range(count))))
    assert answer.status_code == 202


async def test_a_table_has_its_columns_and_rows_by_column_name(client: httpx.AsyncClient) -> None:
    await _fill(client, 3)
    answer = await client.get(f"{BE_PATH}/tables/Things")
    assert answer.status_code == 200
    table = answer.json()
    assert table["id"] == 1000 and table["name"] == "Things" and table["total"] == 3
    assert table["columns"] == [
        {"id": 1001, "name": "Key", "hidden": False, "kind": "string"},
        {"id": 1002, "name": "Value", "hidden": False, "kind": "string"},
        {"id": 1003, "name": "Scratch", "hidden": True, "kind": "string"},
        {"id": 1004, "name": "Seen", "hidden": False, "kind": "datetime"},
    ]
    assert table["rows"][0] == {"Key": "T-000", "Value": "about T-000", "Scratch": "NODE-1", "Seen": FakeClock().now()}
    assert [row["Key"] for row in table["rows"]] == ["T-000", "T-001", "T-002"]  # in table order
    assert (await client.get(f"{BE_PATH}/tables/1000")).json() == table
    assert (await client.get(f"{BE_PATH}/tables/things")).json() == table


@pytest.mark.parametrize(
    "query, keys",
    [
        ("limit=2", ["T-000", "T-001"]),
        ("offset=3", ["T-003", "T-004"]),
        ("offset=1&limit=2", ["T-001", "T-002"]),
        ("limit=0", []),
        ("offset=99", []),
        ("limit=", ["T-000", "T-001", "T-002", "T-003", "T-004"]),
    ],
)
async def test_a_table_pages_with_limit_and_offset(client: httpx.AsyncClient, query: str, keys: list[str]) -> None:
    await _fill(client, 5)
    table = (await client.get(f"{BE_PATH}/tables/Things?{query}")).json()
    assert [row["Key"] for row in table["rows"]] == keys
    assert table["total"] == 5


async def test_elements_summarise_each_element_by_the_parameters_its_protocol_marks() -> None:
    protocol = toy.toy_protocol()
    marked = {10: attrs.evolve(protocol.params[10], summary=True), 20: attrs.evolve(protocol.params[20], summary=True)}
    element = Element(
        attrs.evolve(protocol, params={**protocol.params, **marked}),
        name=BE,
        handlers=toy.HANDLERS,
        now=FakeClock().now,
    )
    element.start(always={23: SECRET})
    async with api_client(create_app(FakeRuntime(FakeHost(element)))) as client:
        (listed,) = (await client.get("/api/elements")).json()
    names = [protocol.params[10].name, protocol.params[20].name]
    assert list(listed["summary"]) == names  # in the protocol's order, by name, as displayed
    assert listed["summary"][names[0]] == "5"


@pytest.mark.parametrize(
    "query, keys, total",
    [
        ("where=Key=T-003", ["T-003"], 1),
        ("where=key=t-003", ["T-003"], 1),  # column and value ignoring case
        ("where=Value=nothing", [], 0),
        ("sort=-Key&limit=2", ["T-004", "T-003"], 5),
        ("sort=1001&offset=3", ["T-003", "T-004"], 5),
        ("where=Scratch=NODE-1&sort=-key&limit=1", ["T-004"], 5),
        ("sort=-Seen", ["T-000", "T-001", "T-002", "T-003", "T-004"], 5),  # ties keep the table's order
    ],
)
async def test_a_table_filters_and_sorts_before_it_pages(
    client: httpx.AsyncClient, query: str, keys: list[str], total: int
) -> None:
    await _fill(client, 5)
    table = (await client.get(f"{BE_PATH}/tables/Things?{query}")).json()
    assert [row["Key"] for row in table["rows"]] == keys
    assert (table["total"], table["rows_in_table"]) == (total, 5)


async def test_empty_cells_sort_last_either_way(client: httpx.AsyncClient) -> None:
    await _fill(client, 3)
    await client.post(f"{BE_PATH}/interapp", content=batch(ticket("T-X", summary="")))
    for sort, first in (("Value", "T-000"), ("-Value", "T-002")):
        table = (await client.get(f"{BE_PATH}/tables/Things?sort={sort}")).json()
        assert [row["Key"] for row in table["rows"]][::3] == [first, "T-X"]


@pytest.mark.parametrize("query", ["where=Nope=1", "where=novalue", "sort=Nope", "sort=-"])
async def test_an_unknown_column_or_a_bad_condition_is_a_400(client: httpx.AsyncClient, query: str) -> None:
    answer = await client.get(f"{BE_PATH}/tables/Things?{query}")
    reason = answer.json()["error"]
    assert answer.status_code == 400 and ("Things" in reason or "COLUMN=VALUE" in reason)


@pytest.mark.parametrize("query", ["limit=-1", "limit=x", "offset=1.5", "limit=%C2%B2", "limit=" + "9" * 5000])
async def test_a_bad_limit_or_offset_is_a_400(client: httpx.AsyncClient, query: str) -> None:
    answer = await client.get(f"{BE_PATH}/tables/Things?{query}")
    assert answer.status_code == 400 and "whole number" in answer.json()["error"]


@pytest.mark.parametrize("ref", ["9999", "Nope", "%C2%B2"])
async def test_an_unknown_table_is_a_404(client: httpx.AsyncClient, ref: str) -> None:
    answer = await client.get(f"{BE_PATH}/tables/{ref}")
    assert answer.status_code == 404 and "no table" in answer.json()["error"]


# -- InterApp ------------------------------------------------------------------------------


def replies(answer: httpx.Response) -> list[dict[str, Any]]:
    """The replies of a 202 to an InterApp POST; the answer holds nothing else."""
    assert answer.status_code == 202, answer.text
    document = answer.json()
    assert list(document) == ["replies"]
    return document["replies"]


def tally(answer: httpx.Response, member: str) -> list[Any]:
    """One member's items over every reply (what `connector send` adds up)."""
    return [item for reply in replies(answer) for item in reply.get(member, [])]


async def test_interapp_stores_and_answers_202_with_the_elements_replies(
    client: httpx.AsyncClient, be: ElementView
) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=sample_text("ticket-batch.json"))
    (reply,) = replies(answer)
    assert reply["type"] == "TicketBatchResponse"
    assert reply["accepted"] == ["WM-20261126-000101", "WM-20261126-000102", "WM-20261126-000103"]
    assert reply["duplicates"] == [] and reply["rejected"] == []
    assert be.tables[1000].keys() == reply["accepted"]


async def test_interapp_replies_carry_every_member_as_the_element_wrote_it(
    client: httpx.AsyncClient, ticket_batch_response: dict[str, Any]
) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=sample_text("ticket-batch-mixed.json"))
    (reply,) = replies(answer)
    expected = ticket_batch_response["messages"]["$values"][0]
    assert reply["type"] == "TicketBatchResponse"
    assert reply["accepted"] == expected["accepted"] and reply["duplicates"] == expected["duplicates"]
    assert [{"ticketId": r["ticketId"], "reason": r["reason"]} for r in reply["rejected"]] == [
        {"ticketId": r["ticketId"], "reason": r["reason"]} for r in expected["rejected"]
    ]


async def test_interapp_resent_tickets_are_duplicates(client: httpx.AsyncClient) -> None:
    first = await client.post(f"{BE_PATH}/interapp", content=batch(ticket("A"), ticket("B")))
    again = await client.post(f"{BE_PATH}/interapp", content=batch(ticket("B"), ticket("C")))
    assert tally(first, "accepted") == ["A", "B"]
    assert [(r["accepted"], r["duplicates"], r["rejected"]) for r in replies(again)] == [(["C"], ["B"], [])]


async def test_interapp_answers_one_reply_per_message_of_a_call(client: httpx.AsyncClient) -> None:
    raw = serialize_call(
        [
            OutgoingMessage(type="TicketBatchMessage", members={"tickets": [ticket("A")]}),
            OutgoingMessage(type="TicketBatchMessage", members={"tickets": [ticket("B"), ticket("A")]}),
        ]
    )
    answer = await client.post(f"{BE_PATH}/interapp", content=raw)
    assert [(r["type"], r["accepted"], r["duplicates"]) for r in replies(answer)] == [
        ("TicketBatchResponse", ["A"], []),
        ("TicketBatchResponse", ["B"], ["A"]),
    ]


async def test_interapp_a_message_refused_beside_stored_ones_is_a_reply_of_its_own(client: httpx.AsyncClient) -> None:
    raw = serialize_call(
        [
            OutgoingMessage(type="TicketBatchMessage", members={"tickets": [ticket("A")]}),
            OutgoingMessage(type="TicketBatchMessage", members={}),
        ]
    )
    answer = await client.post(f"{BE_PATH}/interapp", content=raw)
    first, second = replies(answer)
    assert first["type"] == "TicketBatchResponse" and first["accepted"] == ["A"]
    assert second["type"] == "ErrorResponse" and second["reason"] == "tickets: required"


@pytest.mark.parametrize(
    "raw, words",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"$type": "InterAppCall,", "messages": [{"$type": "Foo,"}]}', "unknown type 'Foo'"),  # unknown type
        ('{"$type": "InterAppCall,", "messages": ' + "[" * 200 + "]" * 200 + "}", "nesting deeper"),
        ("[" * 20_000 + "]" * 20_000, "nesting"),  # deeply nested, and deeper than json.loads goes
    ],
)
async def test_interapp_an_unreadable_message_is_answered_with_the_elements_refusal_and_stores_nothing(
    client: httpx.AsyncClient, be: ElementView, raw: str, words: str
) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=raw.encode())
    (reply,) = replies(answer)  # the API does not judge the element's words: its reply, as it is
    assert reply["type"] == "ErrorResponse" and words in reply["reason"]
    assert len(be.tables[1000]) == 0


@pytest.mark.parametrize("body", [b"", b"  \n"])
async def test_interapp_an_empty_body_is_a_400_before_the_element_sees_it(
    client: httpx.AsyncClient, be: ElementView, body: bytes
) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=body)
    assert answer.status_code == 400 and "empty" in answer.json()["error"]
    assert be.values[m.INTERAPP_RECEIVE] is None


async def test_interapp_a_body_that_is_not_utf8_is_a_400_before_the_element_sees_it(
    client: httpx.AsyncClient, be: ElementView
) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=b'{"a": "\xff"}')
    assert answer.status_code == 400 and "UTF-8" in answer.json()["error"]
    assert be.values[m.INTERAPP_RECEIVE] is None


async def test_interapp_over_the_limit_is_a_413_by_its_length(client: httpx.AsyncClient, be: ElementView) -> None:
    huge = batch(ticket("A", description="x" * MAX_MESSAGE_BYTES))
    answer = await client.post(f"{BE_PATH}/interapp", content=huge)
    assert answer.status_code == 413 and "limit" in answer.json()["error"]
    assert be.values[m.INTERAPP_RECEIVE] is None and len(be.tables[1000]) == 0


async def test_interapp_the_default_limit_is_4_mib(runtime: FakeRuntime) -> None:
    async with api_client(create_app(runtime)) as client:
        at_limit = await client.post(f"{BE_PATH}/interapp", content=b" " * (4 * 1024 * 1024))
        over = await client.post(f"{BE_PATH}/interapp", content=b" " * (4 * 1024 * 1024 + 1))
    assert at_limit.status_code == 400  # read whole (under the limit), then refused: blank is an empty body
    assert over.status_code == 413


async def test_interapp_a_streamed_body_is_cut_off_just_past_the_limit(runtime: FakeRuntime) -> None:
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the body is chunked
        for index in range(1000):
            pulled.append(index)
            yield b"x" * 100

    async with api_client(create_app(runtime, max_body=1000)) as client:
        answer = await client.post(f"{BE_PATH}/interapp", content=chunks())
    assert answer.status_code == 413
    assert len(pulled) <= 12  # 1000 bytes are 10 chunks; the 11th goes past the limit
    assert runtime.elements[BE].view.values[m.INTERAPP_RECEIVE] is None


async def test_interapp_a_content_length_that_lies_low_is_still_caught(runtime: FakeRuntime) -> None:
    async with api_client(create_app(runtime, max_body=1000)) as client:
        answer = await client.post(f"{BE_PATH}/interapp", content=b"x" * 5000, headers={"Content-Length": "10"})
    assert answer.status_code == 413


async def test_interapp_a_content_length_of_thousands_of_digits_is_a_413(client: httpx.AsyncClient) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=b"{}", headers={"Content-Length": "9" * 5000})
    assert answer.status_code == 413


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " "])
async def test_interapp_a_content_length_that_is_no_number_is_a_400(client: httpx.AsyncClient, length: str) -> None:
    answer = await client.post(f"{BE_PATH}/interapp", content=b"{}", headers={"Content-Length": length})
    assert answer.status_code == 400 and "Content-Length" in answer.json()["error"]


async def test_interapp_replies_in_no_known_shape_give_an_empty_202(client: httpx.AsyncClient) -> None:
    # The toy's handler replies "ack:<raw>": not the dialect. The message was taken, so 202.
    answer = await client.post("/api/elements/Plain/interapp", content=b"hello")
    assert replies(answer) == []


async def test_interapp_to_an_element_that_is_not_running_is_a_503(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/elements/Stopped/interapp", content=batch(ticket("A")))
    assert answer.status_code == 503


async def test_interapp_to_an_unknown_element_is_a_404(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/elements/Nope/interapp", content=batch(ticket("A")))
    assert answer.status_code == 404 and answer.json() == {"error": "no element named 'Nope'"}


# -- the token -----------------------------------------------------------------------------


@pytest.fixture
async def guarded(runtime: FakeRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(create_app(runtime, token="t0ken")) as client:
        yield client


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong", "Bearer t0ken2", "Basic t0ken", "t0ken", "Bearer t0ke"],
)
async def test_with_a_token_every_call_needs_it(guarded: httpx.AsyncClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [
        ("GET", "/api/elements"),
        ("GET", f"{BE_PATH}/params"),
        ("GET", f"{BE_PATH}/params/10"),
        ("PUT", f"{BE_PATH}/params/10"),
        ("GET", f"{BE_PATH}/tables/1000"),
        ("POST", f"{BE_PATH}/interapp"),
        ("GET", "/api/no/such/call"),
    ]:
        answer = await guarded.request(method, path, headers=headers, json={"value": 1})
        assert answer.status_code == 401, (method, path)
        assert "token" in answer.json()["error"]
        assert answer.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("authorization", ["Bearer t0ken", "bearer t0ken", "BEARER  t0ken"])
async def test_with_the_right_token_calls_go_through(
    guarded: httpx.AsyncClient, be: ElementView, authorization: str
) -> None:
    headers = {"Authorization": authorization}
    assert (await guarded.get("/api/elements", headers=headers)).status_code == 200
    assert (await guarded.put(f"{BE_PATH}/params/10", headers=headers, json={"value": 9})).status_code == 200
    assert be.values[10] == 9


async def test_health_needs_no_token(guarded: httpx.AsyncClient) -> None:
    assert (await guarded.get("/api/health")).status_code == 200


async def test_an_empty_token_is_no_token_as_connector_run_reads_an_empty_variable(runtime: FakeRuntime) -> None:
    async with api_client(create_app(runtime, token="")) as client:
        assert (await client.get("/api/elements")).status_code == 200
        assert (await client.get("/api/elements", headers={"Authorization": "Bearer "})).status_code == 200


# -- no input gives a 5xx ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
put_bodies = st.one_of(
    json_values.map(lambda value: {"value": value}),
    json_values,
    st.dictionaries(st.sampled_from(["value", "Value", "v", ""]), json_values, max_size=2),
).map(lambda document: json.dumps(document).encode())  # floats("nan") gives NaN: refused too
param_refs = st.sampled_from(
    [
        "10",
        "11",
        "Level",
        "mode",
        "13",
        "Token",
        "23",
        "Echo",
        "Counter",
        "9000000",
        "After Startup",
        "9000001",
        "999",
        "Nope",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=param_refs, body=put_bodies | st.binary(max_size=40))
def test_no_put_body_gives_a_5xx(ref: str, body: bytes) -> None:
    runtime = FakeRuntime(FakeHost(toy_element(BE, ticket_receive)))

    async def put() -> httpx.Response:
        async with api_client(create_app(runtime)) as client:
            return await client.put(f"{BE_PATH}/params/{ref}", content=body)

    answer = asyncio.run(put())
    assert answer.status_code in (200, 400, 403, 404, 422), answer.text
    assert set(answer.json()) == (
        {"error"} if answer.status_code >= 400 else {"id", "name", "type", "value", "display", *NUMBER}
    )
