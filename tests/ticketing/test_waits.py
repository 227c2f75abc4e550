"""Clocks (issue 11): Next Try and the token's life on the monotonic clock, saved and shown as
wall-clock times. A jump of an hour either way changes no wait by more than one interval."""

from __future__ import annotations

import pytest

from connector.engine.store import MemoryStore
from connector.engine.testing import FakeClock
from connector.ticketing import fake as fp
from connector.ticketing import tickets
from connector.ticketing.fake.inprocess import ticketing_element
from connector.ticketing.ids import ids
from connector.ticketing.waits import Waits
from tests.strategies import flow_ticket_table
from tests.ticketing.test_element import batch, make_tickets, statuses
from tests.ticketing.test_tickets import put

INTERVAL = 30.0  # the Processing Timer's default interval
HOUR = 3600.0


def test_fake_clock_jump_moves_the_wall_clock_only() -> None:
    clock = FakeClock()
    wall, mono = clock.now(), clock.monotonic()
    clock.jump(-HOUR)
    assert clock.now() == wall - HOUR and clock.monotonic() == mono
    clock.advance(5)
    assert clock.now() == wall - HOUR + 5 and clock.monotonic() == mono + 5


@pytest.mark.parametrize("jump", [-HOUR, HOUR])
def test_a_noted_next_try_waits_its_back_off_whatever_the_wall_clock_does(jump: float) -> None:
    clock = FakeClock()
    waits = Waits(clock.now, clock.monotonic)
    next_try = clock.now() + 100
    waits.note("A", next_try)
    clock.jump(jump)
    clock.advance(99)
    assert not waits.ready("A", next_try)
    clock.advance(1)
    assert waits.ready("A", next_try)


def test_a_next_try_first_seen_at_start_is_converted_and_clamped() -> None:
    clock = FakeClock()
    waits = Waits(clock.now, clock.monotonic)
    table = flow_ticket_table()
    put(table, "SOON", **{tickets.STATUS: tickets.IN_PROGRESS, tickets.NEXT_TRY: clock.now() + 10})
    # Saved before a backward jump across the restart: an hour and more ahead of the wall clock now.
    put(table, "AHEAD", **{tickets.STATUS: tickets.IN_PROGRESS, tickets.NEXT_TRY: clock.now() + HOUR + 20})
    put(table, "PAST", **{tickets.STATUS: tickets.IN_PROGRESS, tickets.NEXT_TRY: clock.now() - HOUR})
    assert waits.has_ready_work(table)  # PAST
    assert waits.next_wait(table) == pytest.approx(10)
    clock.advance(10)
    assert waits.next_wait(table) == pytest.approx(tickets.MAX_BACKOFF - 10)  # AHEAD: at most the longest back-off


def test_after_a_backward_jump_of_an_hour_backing_off_tickets_are_tried_within_one_interval() -> None:
    """Issue 11: a backward jump of an hour held 72 backing-off tickets for 3,570 s."""
    clock = FakeClock()
    platform = fp.FakePlatform(seed=7, clock=clock.now)
    platform.faults = fp.Faults(fail_operation={"create_ticket": "Cherwell en mantenimiento"})
    h = ticketing_element(
        platform, clock, params={"Ticketing Processing": "Enabled", "Max Retries": 9, "Retry Delay": 60}
    )
    h.set(9000000, batch(make_tickets(72)))
    assert statuses(h) == {tickets.IN_PROGRESS: 72}
    table = h.element.view.tables[ids().ticket_overview]
    longest = max(table.row(k)["Next Try"] for k in table.keys()) - clock.now()  # noqa: SIM118
    assert 0 < longest <= 60
    platform.faults = fp.Faults()
    clock.jump(-HOUR)
    h.advance(longest + INTERVAL)
    assert statuses(h) == {tickets.COMPLETED: 72}


def test_after_a_forward_jump_nothing_waits_less_than_one_interval_early() -> None:
    clock = FakeClock()
    platform = fp.FakePlatform(seed=7, clock=clock.now)
    platform.faults = fp.Faults(fail_operation={"create_ticket": "Cherwell en mantenimiento"})
    h = ticketing_element(
        platform, clock, params={"Ticketing Processing": "Enabled", "Max Retries": 9, "Retry Delay": 200}
    )
    h.set(9000000, batch(make_tickets(4)))
    creates = platform.requests["create_ticket"]
    clock.jump(HOUR)
    h.advance(1)  # the wall clock says every Next Try has passed; the monotonic one says ~100 s to go
    h.advance(INTERVAL)
    assert platform.requests["create_ticket"] == creates


def test_after_a_forward_jump_the_token_is_not_taken_for_expired() -> None:
    """Our clock jumped, the platform's did not: the token it gave still has its life."""
    clock = FakeClock()
    platform = fp.FakePlatform(seed=7, clock=clock.monotonic)
    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled"})
    h.set(9000000, batch(make_tickets(2, prefix="A")))
    logins = platform.requests["login"] + platform.requests["refresh"]
    assert logins == 1
    clock.jump(HOUR)
    h.set(9000000, batch(make_tickets(2, prefix="B")))
    h.advance(INTERVAL)
    assert statuses(h) == {tickets.COMPLETED: 4}
    assert platform.requests["login"] + platform.requests["refresh"] == logins
    assert h.timer_due(1) is not None


def test_after_a_backward_jump_the_token_is_refreshed_on_time() -> None:
    clock = FakeClock()
    platform = fp.FakePlatform(seed=7, clock=clock.monotonic)
    platform.faults = fp.Faults(token_ttl=600)
    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled"})
    h.set(9000000, batch(make_tickets(1, prefix="A")))
    clock.jump(-HOUR)
    h.advance(600)
    unauthorized = sum(1 for r in platform.log if r.status == 401)
    h.set(9000000, batch(make_tickets(1, prefix="B")))
    assert statuses(h) == {tickets.COMPLETED: 2}
    assert sum(1 for r in platform.log if r.status == 401) == unauthorized  # refreshed before, not after a 401


def test_a_restart_converts_saved_next_try_back() -> None:
    """Saved Next Try stays a wall-clock time; a new process waits what is left of it, at most
    the longest back-off, even when the clock went back an hour while it was down."""
    clock = FakeClock()
    store = MemoryStore()
    platform = fp.FakePlatform(seed=7, clock=clock.now)
    platform.faults = fp.Faults(fail_operation={"create_ticket": "Cherwell en mantenimiento"})
    h = ticketing_element(
        platform, clock, store=store, params={"Ticketing Processing": "Enabled", "Max Retries": 9, "Retry Delay": 60}
    )
    h.set(9000000, batch(make_tickets(5)))
    platform.faults = fp.Faults()
    clock.jump(-HOUR)
    again = ticketing_element(platform, clock, store=store)
    again.advance(tickets.MAX_BACKOFF + INTERVAL)
    assert statuses(again) == {tickets.COMPLETED: 5}


def test_a_wait_this_process_wrote_is_not_clamped_but_one_first_seen_is() -> None:
    clock = FakeClock()
    waits = Waits(clock.now, clock.monotonic, longest=300)
    waits.note("MINE", clock.now() + 900)  # e.g. a settle time longer than the longest back-off
    assert waits.deadline("MINE", clock.now() + 900) == clock.monotonic() + 900
    assert waits.deadline("SAVED", clock.now() + 901) == clock.monotonic() + 300
