"""Ticketing WM and Ticketing BE in one process, on one fake clock: WM -> BE -> the fake platform.

Both elements run their real protocol and handlers; only the platform is the fake. The wire
between them (tests/ticketing_wm/elements.Wire) can lose any message, which is what a crash does
to a message on its way, and WM can restart from its store at any point.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.engine import events as ev
from connector.engine.store import MemoryStore
from connector.engine.testing import FakeClock, Harness
from connector.ticketing import fake as fp
from connector.ticketing import ticket_table, tickets
from connector.ticketing.fake.inprocess import ticketing_element
from connector.ticketing.fake.writes import writes_per_ticket
from connector.ticketing_wm import outbox
from tests.ticketing_wm.elements import Wire, new_tickets, row, states, wm_element, wm_tickets

BE_ID = "1/1"
WM_PARAMS = {"Acknowledge Timeout": 10, "Send Interval": 2, "Max Tickets Per Batch": 25}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def be_element(platform: fp.FakePlatform, clock: FakeClock, store: MemoryStore | None = None) -> Harness:
    return ticketing_element(
        platform,
        clock,
        store=store,
        params={"Ticketing Processing": "Enabled", "Settle Time": 5, "Retry Delay": 1, "Processing Interval": 5},
    )


def be_statuses(be: Harness) -> dict[str, int]:
    return {s: n for s, n in ticket_table.counts(be.element.view.table("Ticket Overview")).items() if n}


def test_wm_and_be_deliver_every_ticket_to_the_platform_exactly_once(clock) -> None:
    platform = fp.FakePlatform(seed=3, clock=clock.now)
    wire = Wire()
    be = wire.attach(be_element(platform, clock), BE_ID)
    wm = wm_element(clock, params=WM_PARAMS, wire=wire)
    new_tickets(wm, wm_tickets(300))
    wire.pump()
    wire.run(60)
    assert states(wm) == {outbox.ACKNOWLEDGED: 300}
    assert be_statuses(be) == {tickets.COMPLETED: 300}
    assert writes_per_ticket(platform) == {f"WM-T-{i:05d}": 1 for i in range(300)}
    assert wm.element.view.get("Batches Sent") == 12 and wm.element.view.get("Tickets Sent Again") == 0


def test_a_crash_after_be_stored_the_batch_is_answered_as_duplicates_not_sent_twice(clock) -> None:
    platform = fp.FakePlatform(seed=3, clock=clock.now)
    wire, store = Wire(), MemoryStore()
    be = wire.attach(be_element(platform, clock), BE_ID)
    wm = wm_element(clock, store=store, params=WM_PARAMS, wire=wire)
    wire.lose = lambda message: message.parameter == 9000001  # BE's answers die with WM
    new_tickets(wm, wm_tickets(10))
    wire.pump()
    assert len(be.element.view.table("Ticket Overview")) == 10 and states(wm) == {outbox.SENT: 10}
    wire.lose = lambda message: False
    wm = wm_element(clock, store=store, params=WM_PARAMS, wire=wire)  # the restart
    wire.pump()
    assert states(wm) == {outbox.ACKNOWLEDGED: 10} and row(wm, "WM-T-00000")["Answer"] == "duplicate"
    wire.run(30)
    assert be_statuses(be) == {tickets.COMPLETED: 10}
    assert writes_per_ticket(platform) == {f"WM-T-{i:05d}": 1 for i in range(10)}


def test_a_crash_before_the_message_left_sends_it_after_the_restart(clock) -> None:
    platform = fp.FakePlatform(seed=3, clock=clock.now)
    wire, store = Wire(), MemoryStore()
    be = wire.attach(be_element(platform, clock), BE_ID)
    wm = wm_element(clock, store=store, params=WM_PARAMS, wire=wire)
    new_tickets(wm, wm_tickets(10))
    wire.queue.clear()  # committed Sent, but the process died before the message left
    wm = wm_element(clock, store=store, params=WM_PARAMS, wire=wire)
    wire.pump()
    assert states(wm) == {outbox.ACKNOWLEDGED: 10} and row(wm, "WM-T-00000")["Answer"] == "accepted"
    assert row(wm, "WM-T-00000")["Sends"] == 2
    wire.run(30)
    assert writes_per_ticket(platform) == {f"WM-T-{i:05d}": 1 for i in range(10)}
    assert be_statuses(be) == {tickets.COMPLETED: 10}


def test_be_down_then_up_gets_the_tickets_after_the_timeout(clock) -> None:
    platform = fp.FakePlatform(seed=3, clock=clock.now)
    wire = Wire()
    wm = wm_element(clock, params=WM_PARAMS, wire=wire)
    new_tickets(wm, wm_tickets(5))
    wire.pump()  # no BE element yet: the runtime drops a message to an element that is not there
    be = wire.attach(be_element(platform, clock), BE_ID)
    wire.run(15)
    assert states(wm) == {outbox.ACKNOWLEDGED: 5} and row(wm, "WM-T-00000")["Answer"] == "accepted"
    assert len(be.element.view.table("Ticket Overview")) == 5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    losses=st.lists(st.booleans(), min_size=1, max_size=40),
    repeats=st.lists(st.booleans(), min_size=1, max_size=40),
    wm_restarts=st.lists(st.integers(min_value=0, max_value=12), max_size=3),
    be_restarts=st.lists(st.integers(min_value=0, max_value=12), max_size=2),
)
def test_lost_and_repeated_messages_and_restarts_still_deliver_each_ticket_once(
    losses: list[bool], repeats: list[bool], wm_restarts: list[int], be_restarts: list[int]
) -> None:
    clock = FakeClock()
    platform = fp.FakePlatform(seed=5, clock=clock.now)
    wire, wm_store, be_store = Wire(), MemoryStore(), MemoryStore()
    be = wire.attach(be_element(platform, clock, be_store), BE_ID)
    wm = wm_element(clock, store=wm_store, params=WM_PARAMS, wire=wire)
    fate = iter(zip(losses * 50, repeats * 50, strict=False))

    def lose(message: ev.SendInterApp) -> bool:
        lost, repeated = next(fate, (False, False))
        if repeated and not lost:
            wire.queue.append(message)  # delivered twice: BE answers the copy with duplicates
        return lost

    wire.lose = lose
    new_tickets(wm, wm_tickets(60))
    for second in range(40):
        if second in wm_restarts or second in be_restarts:
            wire.queue.clear()  # what was on its way dies with the process
        if second in be_restarts:
            be = wire.attach(be_element(platform, clock, be_store), BE_ID)
        if second in wm_restarts:
            wm = wm_element(clock, store=wm_store, params=WM_PARAMS, wire=wire)
        wire.run(1)
    wire.lose = lambda message: False
    wire.run(60)
    assert states(wm) == {outbox.ACKNOWLEDGED: 60}
    assert be_statuses(be) == {tickets.COMPLETED: 60}
    assert writes_per_ticket(platform) == {f"WM-T-{i:05d}": 1 for i in range(60)}
