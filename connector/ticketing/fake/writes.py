"""How many times the fake platform holds each ticket: the exactly-once check of tests and the demo.

A ticket reaches the platform as an incident it created (its external id is the ticket id) or as
a note on a node's open incident (its details start `[<ticket id>]`); either way, once.
"""

from __future__ import annotations

from connector.ticketing.fake.platform import FakePlatform


def writes_per_ticket(platform: FakePlatform) -> dict[str, int]:
    """Ticket id -> incidents created plus notes added for it."""
    writes: dict[str, int] = {}
    for ticket_id, incidents in platform.incidents_by_external_id().items():
        writes[ticket_id] = writes.get(ticket_id, 0) + len(incidents)
    for note in platform.notes:
        if note.details.startswith("["):
            ticket_id = note.details[1:].partition("]")[0]
            writes[ticket_id] = writes.get(ticket_id, 0) + 1
    return writes


def written_twice(platform: FakePlatform) -> list[str]:
    """The tickets the platform holds more than once (each is a bug of the connector)."""
    return sorted(ticket_id for ticket_id, count in writes_per_ticket(platform).items() if count > 1)
