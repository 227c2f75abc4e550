"""Set commands on Ticketing BE may only do what a user may do (issue 11).

A set from outside reaches write parameters (a set on a read parameter goes to its write
twin), buttons and toggles, and InterApp Receive; everything the element keeps for itself is
refused before anything changes. Values follow the parameter's declaration.
"""

from __future__ import annotations

import pytest

from connector.contracts import ticket_batch
from connector.engine import events as ev
from connector.engine.interapp import parse_call
from connector.engine.testing import FakeClock
from connector.engine.values import NotSettable, ValueRefused
from connector.ticketing import fake as fp
from connector.ticketing import tickets
from connector.ticketing.fake.inprocess import platform_transport, ticketing_element
from connector.ticketing.ids import ids
from tests.ticketing.test_element import batch, make_tickets, statuses

# The examples: read parameters with no write twin, and dummies.
ELEMENT_ONLY = [
    ("Tickets Completed", 7),
    ("Communication State", "HTTP/1.1 200 OK"),
    ("Request Path", "/CherwellAPI/api/V1/savebusinessobjectbatch"),
    ("Process Tickets", 1),  # a dummy
    ("In Flight", "[]"),
    ("Platform Response", "x"),
    ("InterApp Return", "{}"),
    (9000001, "{}"),
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> fp.FakePlatform:
    return fp.FakePlatform(seed=11, clock=clock.now)


def snapshot(h) -> tuple[dict[int, object], dict[str, dict[str, object]], int]:
    table = h.element.view.tables[ids().ticket_overview]
    return dict(h.element.view.values), {k: table.row(k) for k in table.keys()}  # noqa: SIM118 (a Table is not iterable), len(h.persisted)


@pytest.mark.parametrize(("ref", "value"), ELEMENT_ONLY)
def test_a_set_on_what_only_the_element_sets_is_refused_and_changes_nothing(platform, clock, ref, value) -> None:
    h = ticketing_element(platform, clock)
    h.set(9000000, batch(make_tickets(3)))
    before = snapshot(h)
    with pytest.raises(NotSettable, match="no write parameter: only the element sets it"):
        h.set(ref, value)
    assert snapshot(h) == before


def test_write_parameters_buttons_toggles_and_interapp_receive_are_set(platform, clock) -> None:
    h = ticketing_element(platform, clock)
    h.set(9000000, batch(make_tickets(3)))  # InterApp Receive: how messages arrive
    assert statuses(h) == {tickets.RECEIVED: 3}
    h.set("Max Retries", 4)  # the read parameter: goes to its write twin, copied back
    assert h.element.view.get(12) == 4 and h.element.view.get(13) == 4
    h.set("Ticketing Processing", "Enabled")  # a toggle
    assert statuses(h) == {tickets.COMPLETED: 3}
    h.set("Clear Completed", "Clear")  # a button
    assert statuses(h) == {}


@pytest.mark.parametrize("name", ["Max Retries", "Max Tickets Per Request", "Retry Delay"])
def test_null_on_a_setting_is_refused_and_the_next_cycle_runs(platform, clock, name: str) -> None:
    # Regression: null was stored, and every cycle then died on int(None).
    h = ticketing_element(platform, clock)
    h.set(9000000, batch(make_tickets(3)))
    before = snapshot(h)
    with pytest.raises(ValueRefused, match="clearable"):
        h.set(name, None)
    assert snapshot(h) == before
    h.set("Ticketing Processing", "Enabled")
    assert statuses(h) == {tickets.COMPLETED: 3}
    assert h.element.view.get("Last Cycle Result") == "OK"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("Max Retries", 2.5, "whole number"),
        ("Max Tickets Per Request", "12.5", "whole number"),
        ("Max Concurrent Requests", 17, "at most 16"),
        ("Retry Delay", float("nan"), "finite"),
        ("Retry Delay", float("inf"), "finite"),
        ("Clear Completed", 0, "one of: Clear"),
        ("Retry Errors", True, "a button takes its own value"),
        ("Ticketing Processing", "di\u017fabled", "one of"),
    ],
)
def test_values_follow_the_declaration(platform, clock, name: str, value: object, reason: str) -> None:
    h = ticketing_element(platform, clock)
    before = snapshot(h)
    with pytest.raises(ValueRefused, match=reason):
        h.set(name, value)
    assert snapshot(h) == before


def test_a_whole_float_is_the_whole_number(platform, clock) -> None:
    h = ticketing_element(platform, clock)
    h.set("Max Retries", 3.0)
    assert h.element.view.get(12) == 3 and isinstance(h.element.view.get(12), int)


def test_a_credential_may_be_cleared(platform, clock) -> None:
    h = ticketing_element(platform, clock)
    h.set("Cherwell Username", None)
    assert h.element.view.get(ids().username) is None


def test_between_elements_an_interapp_reply_lands_on_interapp_return(platform, clock) -> None:
    h = ticketing_element(platform, clock)
    h.dispatch(ev.SetParameter(param=9000001, value="{}", from_outside=False))
    assert h.element.view.get(9000001) == "{}"


@pytest.mark.parametrize("concurrency", [1, 8])
def test_sets_on_platform_response_and_in_flight_during_a_cycle_change_nothing(clock, concurrency: int) -> None:
    """Chaos-style: 8 sets on Platform Response / In Flight after each of 40 answers while a
    cycle's requests are on the wire. Regression: accepted (before issue 11), they left all 160
    tickets In Progress for good, with 1 and with 8 in flight (the issue also saw cross-wired
    answers: duplicate OTs, wrong Platform Tickets)."""
    platform = fp.FakePlatform(seed=5, clock=clock.now)
    rows = make_tickets(160)
    h = ticketing_element(
        platform, clock, params={"Max Tickets Per Request": 10, "Max Concurrent Requests": concurrency}
    )
    send = platform_transport(platform, clock)
    h.transport = None  # answer by hand, so that the sets land while requests are in flight
    h.set(9000000, batch(rows))
    h.set("Ticketing Processing", "Enabled")
    refused = 0
    for _ in range(10_000):
        if not h.unanswered:
            h.advance(5)
            if not h.unanswered:
                break
            continue
        if refused < 8 * 40:  # 8 sets after each of the first 40 answers
            for i in range(8):
                ref, value = ("Platform Response", "{}") if i % 2 else ("In Flight", "[]")
                with pytest.raises(NotSettable):
                    h.set(ref, value)
                refused += 1
        h.respond(send)  # one answer at a time: the sets land between them
    assert refused == 8 * 40
    assert statuses(h) == {tickets.COMPLETED: 160}
    by_external = platform.incidents_by_external_id()
    assert len(by_external) == 160 and all(len(found) == 1 for found in by_external.values())
    for incident in platform.incidents:
        orders = platform.orders_for(incident.incident_id)
        assert len(orders) == 1 and incident.ot_number == orders[0].ot
    table = h.element.view.tables[ids().ticket_overview]
    platform_ticket = {i.external_id: i.incident_id for i in platform.incidents}
    assert all(table.row(key)["Platform Ticket"] == platform_ticket[key] for key in table.keys())  # noqa: SIM118
    # Not wedged: the next batch goes through too.
    h.transport = send
    h.set(9000000, batch(make_tickets(5, prefix="XX"), guid="g-2"))
    h.advance(60)
    assert statuses(h) == {tickets.COMPLETED: 165}


@pytest.mark.parametrize(("key", "again"), [("ticketId", "WM-999999"), ("category", "Falla de Linea")])
def test_a_message_with_a_member_twice_stores_nothing_and_is_answered(platform, clock, key: str, again: str) -> None:
    # Regression: the last ticketId / category won silently.
    h = ticketing_element(platform, clock)
    raw = batch(make_tickets(3))
    raw = raw.replace('"category":', f'"{key}":"{again}","category":', 1)
    h.set(9000000, raw)
    reply = parse_call(h.interapp[-1].raw, ticket_batch.KNOWN_TYPES)
    assert reply.messages[0].type == "ErrorResponse"
    assert f"'{key}' appears twice" in reply.messages[0].members["reason"]
    assert len(h.element.view.tables[ids().ticket_overview]) == 0
