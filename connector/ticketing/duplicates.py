"""Duplicates a late write left on the platform: a ticket id with two incidents, an incident with two OTs.

A write whose answer never came may still be applied later by something in between (a queuing
gateway, a slow Cherwell). The flow waits a settle time before it looks such a write up
(`tickets.sent_unknown`), so a write held for less than that is found and adopted; and it looks
it up again before every re-send (Sent At kept), so one that lands while its ticket waits to be
sent again is adopted too. One held longer lands after the look-up found nothing and the write
was sent again: two incidents for one ticket, or two OTs for one incident. Nothing can undo that
from here; what the element does is find it, keep the one the ticket holds (else the first: the
lowest IncidentID, the lowest OT number), and report the extra so an operator can close it:

- every search of the open incidents groups them by ExternalID (`IncidentGroups`), and each
  ticket's first incident by node: a node's creator in Error after its held write was sent
  again, the node's next ticket created one, and the held write landed beside it (NODE_INCIDENT);
- every SFyC look-up of work orders by incident groups them by (incident, referencia);
- every look-up of notes groups them by the "[ticket id]" they start with (a note has no
  number: the one kept is the lowest RecID, which says nothing of which came first).

A ticket re-sent after an unknown outcome (Sent At kept, Outcome Unknown cleared) is watched
for `watch_window` after its write: every cycle (one runs each Processing Interval while any
is watched) searches the open incidents and looks its notes or OTs up.

Pure functions: the cycle's report carries what was found (`CycleReport.duplicates`), and the
handlers log it, count it once per extra in *Duplicates Detected* and keep it in the
*Duplicates* table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from attrs import frozen

if TYPE_CHECKING:
    from connector.ticketing.tickets import Ticket

INCIDENT = "Incident"
NODE_INCIDENT = "Node incident"  # a second ticket's incident on a node that has one already
OT = "OT"
NOTE = "Note"

T = TypeVar("T")

WATCH_FACTOR = 10.0  # a re-sent ticket is watched for a late twin this many settle times...
WATCH_LEAST = 3600.0  # ... and at least this long (seconds) after its unknown write was sent


def watch_window(settle: float) -> float:
    return max(WATCH_FACTOR * settle, WATCH_LEAST)


def watched_tickets(tickets: Iterable[Ticket], now: float, settle: float) -> list[Ticket]:
    """Tickets whose write of unknown outcome was looked up, not found and sent again, recently
    enough that its late twin may still land (`watch_window`)."""
    window = watch_window(settle)
    return [t for t in tickets if t.sent_at and not t.outcome_unknown and t.sent_at + window > now]


@frozen
class Duplicate:
    """One extra object on the platform: `extra` duplicates `kept`, both made for `ticket`."""

    kind: str  # INCIDENT, OT or NOTE
    ticket: str  # the ticket id (ExternalID, referencia, the note's "[ticket id]")
    kept: str  # the one the ticket is linked to (IncidentID, OT number, the note's RecID)
    extra: str  # the one an operator should close

    @property
    def key(self) -> str:
        """The extra's identity, unique across kinds (the Duplicates table's key)."""
        return f"{self.kind} {self.extra}"

    def describe(self) -> str:
        return f"ticket {self.ticket} has a duplicate {self.kind}: kept {self.kept}, extra {self.extra}"


def platform_order(identifier: str) -> tuple[int, int | str]:
    """The order the platform numbers things in: numbers by value (IncidentID "99" before "100"),
    anything else after them, as text."""
    return (0, int(identifier)) if identifier.isdigit() else (1, identifier)


def first_and_extras(items: Iterable[T], ident: Callable[[T], str]) -> tuple[T, list[T]]:
    """The earliest of `items` (lowest id) and the others, earliest first; `items` is not empty."""
    ordered = sorted(items, key=lambda item: platform_order(ident(item)))
    return ordered[0], ordered[1:]


def find(
    kind: str, groups: dict[str, list[T]], ident: Callable[[T], str], held: Mapping[str, str] | None = None
) -> list[Duplicate]:
    """A Duplicate for every item beyond the one kept of each group (ticket id -> its items).

    Kept: the one the ticket holds already (`held`: ticket id -> its IncidentID or OT number),
    since the ticket and the platform refer to it; else the earliest. When the late twin is the
    earlier one (numbered when it was held, or landed before a re-send that was not looked up),
    telling the operator to close the other would close the one in use.
    """
    found: list[Duplicate] = []
    for ticket, items in groups.items():
        if len(items) < 2:
            continue
        first, extras = first_and_extras(items, ident)
        own = (held or {}).get(ticket)
        mine = [item for item in extras if ident(item) == own]
        if mine:
            first, extras = mine[0], [first, *(item for item in extras if item is not mine[0])]
        found.extend(Duplicate(kind, ticket, ident(first), ident(extra)) for extra in extras)
    return found
