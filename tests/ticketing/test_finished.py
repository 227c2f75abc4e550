"""Re-sends after the rows are gone: Finished Tickets answers "already done" (issue 11).

In process: protocol.yaml, the handlers and the engine on the fake platform, under a fake clock.
"""

from __future__ import annotations

import logging

import pytest

from connector.contracts import ticket_batch
from connector.engine.interapp import parse_call
from connector.engine.testing import FakeClock
from connector.ticketing import fake as fp
from connector.ticketing import finished, tickets
from connector.ticketing.fake.inprocess import ticketing_element
from connector.ticketing.ids import ids
from tests.ticketing.test_element import batch, statuses

NOTED = 16


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> fp.FakePlatform:
    return fp.FakePlatform(seed=7, clock=clock.now)


def noted_rows() -> list[dict]:
    return [{"ticketId": f"WM-{i:03d}", "category": "SNR", "node": f"N-{i}", "summary": "s"} for i in range(NOTED)]


def drained(platform: fp.FakePlatform, clock: FakeClock):
    for i in range(NOTED):
        platform.add_incident("SNR", f"N-{i}")  # every ticket becomes a note on its node's incident
    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled"})
    h.set(9000000, batch(noted_rows()))
    h.advance(30)
    assert statuses(h) == {tickets.COMPLETED: NOTED} and len(platform.notes) == NOTED
    return h


def resend(h, guid: str) -> dict:
    h.interapp.clear()
    h.set(9000000, batch(noted_rows(), guid=guid))
    h.advance(60)
    reply = parse_call(h.interapp[-1].raw, ticket_batch.KNOWN_TYPES)
    return reply.messages[0].members


def test_a_resend_after_clear_completed_is_answered_as_duplicates_and_noted_once(platform, clock) -> None:
    # Regression (issue 11): after Clear Completed the re-send was accepted as new, and every
    # noted ticket got a second note (16 of 16).
    h = drained(platform, clock)
    h.set("Clear Completed", 1)
    assert len(h.element.view.tables[ids().ticket_overview]) == 0
    assert len(h.element.view.tables[ids().finished_tickets]) == NOTED
    reply = resend(h, "g-2")
    assert len(reply.get("duplicates") or []) == NOTED and not reply.get("accepted")
    assert len(h.element.view.tables[ids().ticket_overview]) == 0
    assert len(platform.notes) == NOTED, "no second note"


def test_a_resend_after_the_retention_purge_is_answered_as_duplicates(platform, clock) -> None:
    h = drained(platform, clock)
    clock.advance(8 * tickets.DAY)  # past the 7 days of Completed Retention
    h.set("Clean Up Tickets", 1, from_outside=False)
    assert len(h.element.view.tables[ids().ticket_overview]) == 0
    reply = resend(h, "g-2")
    assert len(reply.get("duplicates") or []) == NOTED
    assert len(platform.notes) == NOTED, "no second note"
    # Kept 10 x the retention (70 days), at least 90 days; forgotten after that.
    clock.advance(80 * tickets.DAY)
    h.set("Clean Up Tickets", 1, from_outside=False)
    assert len(h.element.view.tables[ids().finished_tickets]) == NOTED
    clock.advance(20 * tickets.DAY)
    h.set("Clean Up Tickets", 1, from_outside=False)
    assert len(h.element.view.tables[ids().finished_tickets]) == 0


def test_keep_days() -> None:
    assert finished.keep_days(0) == finished.keep_days(7) == 90
    assert finished.keep_days(30) == 300


def test_a_late_incident_twin_is_logged_counted_and_listed_once(platform, clock, caplog) -> None:
    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled", "Settle Time": 30})
    platform.faults = fp.Faults(late_rate=1.0, late_delay=100.0)
    h.set(9000000, batch([{"ticketId": "WM-1", "category": "SNR", "node": "N-1", "summary": "s"}]))
    platform.faults = fp.Faults()
    with caplog.at_level(logging.WARNING):
        h.advance(300)  # looked up after 30 s, not found, sent again; the twin lands at 100 s
    assert statuses(h) == {tickets.COMPLETED: 1}
    assert len(platform.incidents_by_external_id()["WM-1"]) == 2
    assert h.element.view.get("Duplicates Detected") == 1
    (row,) = h.element.view.tables[ids().duplicates].rows()
    assert row[1]["Ticket ID"] == "WM-1" and row[1]["Kind"] == "Incident"
    lines = [r.getMessage() for r in caplog.records if "duplicate detected" in r.getMessage()]
    assert len(lines) == 1 and "WM-1" in lines[0] and row[1]["Kept"] in lines[0]
