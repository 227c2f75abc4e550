"""A Ticketing BE element with tickets in its table, for the card's tests (no server, no clock)."""

from __future__ import annotations

from typing import Any

from connector.engine.interapp import OutgoingMessage, serialize_call
from connector.engine.testing import FakeClock
from connector.protocol.model import INTERAPP_RECEIVE
from connector.ticketing import fake as fp
from connector.ticketing.fake.inprocess import ticketing_element
from tests.service.test_api import FakeHost, FakeRuntime

NAME = "Ticketing BE 01"
SECRET = "Sup3r-s3cret-Cherwell"


def tickets(count: int, prefix: str = "WM") -> list[dict[str, Any]]:
    return [
        {
            "ticketId": f"{prefix}-{i:06d}",
            "category": "SNR",
            "node": f"{prefix}-NODO-{i:05d}",  # a node of its own: a new incident, not a note
            "summary": f"SNR bajo en {prefix}-NODO-{i:05d}",
            "priority": i % 5 + 1,
        }
        for i in range(count)
    ]


def batch(rows: list[dict[str, Any]], guid: str = "card-1") -> str:
    return serialize_call([OutgoingMessage(type="TicketBatchMessage", members={"guid": guid, "tickets": rows})])


def ticketing_runtime(count: int = 0) -> tuple[FakeRuntime, FakeHost]:
    """One element, processing off (its tickets stay Received), its password set, `count` tickets in."""
    harness = ticketing_element(
        fp.FakePlatform(seed=1), FakeClock(), params={"Ticketing Processing": 0, "Cherwell Password": SECRET}
    )
    host = FakeHost(harness.element)
    for start in range(0, count, 1000):
        harness.set(INTERAPP_RECEIVE, batch(tickets(count)[start : start + 1000], f"card-{start}"))
    return FakeRuntime(host), host
