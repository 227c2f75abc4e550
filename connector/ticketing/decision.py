"""What each new ticket becomes: adopt the incident made for it, note on its node's, or create one.

Pure functions over the tickets and the open incidents: they change nothing and send nothing.
The flow (`connector.ticketing.flow`) applies what they say, through `connector.ticketing.tickets`.

One node never gets two incidents from this element: among the live tickets of a node that has
no open incident (ready or backing off, table order = receive order), the first is its creator;
the others wait at Check Existing and become notes on its incident once it exists. A creator
that ends in Error is no longer live, so the next one takes over. Create Ticket is therefore a
claim re-checked every cycle, not a commitment: a ticket there that is not (or no longer) its
node's creator goes back to waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from attrs import field, frozen

from connector.ticketing import tickets as tk
from connector.ticketing.cherwell import Record
from connector.ticketing.duplicates import INCIDENT, NODE_INCIDENT, Duplicate, find, first_and_extras
from connector.ticketing.tickets import Ticket

Node = tuple[str, str]  # tickets.node_key: Category and Node as the "same node" rule compares them


@frozen
class Incident:
    incident_id: str
    rec_id: str
    category: str
    node: str
    external_id: str
    ot_number: str

    @classmethod
    def from_record(cls, record: Record) -> Incident:
        return cls(
            record.get("IncidentID") or record.public_id,
            record.get("RecID") or record.rec_id,
            record.get("Category"),
            record.get("Node"),
            record.get("ExternalID"),
            record.get("OTNumber"),
        )


class OpenIncidents:
    """The incidents of our categories the platform has, by ExternalID and by node."""

    def __init__(self) -> None:
        self.by_external: dict[str, Incident] = {}
        self.by_node: dict[Node, Incident] = {}
        self.all_by_external: dict[str, list[Incident]] = {}  # two or more: a late write's duplicate

    def add(self, incident: Incident) -> None:
        """One found by the search of open incidents: the first of a node is the one notes go to.
        A ticket with two incidents (a late write landed after it was sent again) is linked to
        the first one, the lowest IncidentID (`duplicates`)."""
        if incident.external_id:
            same = self.all_by_external.setdefault(incident.external_id, [])
            same.append(incident)
            self.by_external[incident.external_id] = first_and_extras(same, _incident_id)[0]
        self.by_node.setdefault(tk.node_key(incident.category, incident.node), incident)

    def duplicates(self, held: Mapping[str, str] | None = None) -> list[Duplicate]:
        """Every incident beyond the first of its ticket id; and every ticket's incident on a node
        that has an earlier one of another ticket of ours. The element never creates that (one
        creator a node), but a late write can: the creator's write held past the Settle Time,
        looked up, not found, and the creator in Error, the node's next ticket created one.
        `held`: ticket id -> the incident its OT is on, kept whatever its number (`duplicates.find`)."""
        return find(INCIDENT, self.all_by_external, _incident_id, held) + self._node_duplicates()

    def _node_duplicates(self) -> list[Duplicate]:
        ours_by_node: dict[Node, list[Incident]] = {}
        for incident in self.by_external.values():  # each ticket's first incident
            ours_by_node.setdefault(tk.node_key(incident.category, incident.node), []).append(incident)
        found: list[Duplicate] = []
        for same in ours_by_node.values():
            if len(same) > 1:
                first, extras = first_and_extras(same, _incident_id)
                found.extend(Duplicate(NODE_INCIDENT, e.external_id, first.incident_id, e.incident_id) for e in extras)
        return found

    def created(self, ticket: Ticket, incident_id: str, rec_id: str) -> Incident:
        """The incident this cycle created for `ticket`: its node's notes go to it from now on."""
        incident = Incident(incident_id, rec_id, ticket.category, ticket.node, ticket.key, "")
        self.by_node[ticket.node_key] = incident
        return incident


def _incident_id(incident: Incident) -> str:
    return incident.incident_id


@frozen(kw_only=True)
class Decision:
    """What the tickets at Check Existing / Create Ticket become, in table order."""

    adopt: tuple[tuple[Ticket, Incident], ...]  # the incident was created for the ticket
    note: tuple[tuple[Ticket, Incident], ...]  # a note on its node's open incident
    claim: tuple[Ticket, ...]  # its node's creator, not at Create Ticket yet
    unclaim: tuple[Ticket, ...]  # at Create Ticket, but another ticket creates: back to waiting
    creators: Mapping[Node, Ticket] = field(factory=dict)
    waiting: Mapping[Node, tuple[Ticket, ...]] = field(factory=dict)  # node -> tickets waiting for its creator


def decide(
    candidates: Iterable[Ticket],
    tickets: Iterable[Ticket],
    incidents: OpenIncidents,
    pending: Callable[[Ticket], bool],
) -> Decision:
    """Adopt, note or create, per ready ticket at Check Existing / Create Ticket (`candidates`).

    `tickets` is every row in table order (the creator of a node may be backing off); `pending`
    says whether the flow may still work on a ticket in this cycle.
    """
    adopt: list[tuple[Ticket, Incident]] = []
    note: list[tuple[Ticket, Incident]] = []
    decided: set[str] = set()
    for ticket in candidates:
        if (incident := incidents.by_external.get(ticket.key)) is not None:
            adopt.append((ticket, incident))
        elif (incident := incidents.by_node.get(ticket.node_key)) is not None:
            note.append((ticket, incident))
        else:
            continue
        decided.add(ticket.key)
    by_node: dict[Node, list[Ticket]] = {}
    for ticket in tickets:
        if ticket.live and ticket.operation in (tk.CHECK_EXISTING, tk.CREATE_TICKET) and ticket.key not in decided:
            by_node.setdefault(ticket.node_key, []).append(ticket)
    claim: list[Ticket] = []
    unclaim: list[Ticket] = []
    creators: dict[Node, Ticket] = {}
    waiting: dict[Node, tuple[Ticket, ...]] = {}
    for node, (creator, *others) in by_node.items():
        if node in incidents.by_node:
            continue  # only tickets backing off are left there; they note on it when ready
        if pending(creator) and creator.operation != tk.CREATE_TICKET:
            claim.append(creator)  # marked and stored when its batch is sent
        unclaim.extend(t for t in others if t.operation == tk.CREATE_TICKET and not t.outcome_unknown)
        creators[node] = creator
        waiting[node] = tuple(others)
    return Decision(
        adopt=tuple(adopt),
        note=tuple(note),
        claim=tuple(claim),
        unclaim=tuple(unclaim),
        creators=creators,
        waiting=waiting,
    )


def waiters_to_note(waiting: Iterable[Ticket], pending: Callable[[Ticket], bool]) -> list[Ticket]:
    """The waiters of a node whose creator has just got its incident: notes on it, in this cycle."""
    return [t for t in waiting if pending(t) and t.operation == tk.CHECK_EXISTING]


def waiter_holds(
    waiting: Mapping[Node, Sequence[Ticket]], creators: Mapping[Node, Ticket], incidents: OpenIncidents
) -> list[tuple[Ticket, float]]:
    """Waiters whose creator has not got its incident wait as long as it does: (ticket, Next Try).

    Without a Next Try they would look ready, and the engine starts the next cycle at once
    while ready work remains: it would spin until the creator's back-off ends.
    """
    holds: list[tuple[Ticket, float]] = []
    for node, waiters in waiting.items():
        if node in incidents.by_node or not waiters:
            continue
        creator = creators.get(node)
        hold = creator.next_try if creator is not None and creator.live else 0.0
        holds.extend((t, hold) for t in waiters if t.live and t.operation == tk.CHECK_EXISTING and t.next_try != hold)
    return holds
