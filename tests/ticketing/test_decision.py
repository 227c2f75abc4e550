"""The adopt / note / create decision (connector.ticketing.decision): pure, over tickets and incidents."""

from __future__ import annotations

from connector.ticketing import tickets as tk
from connector.ticketing.decision import Incident, OpenIncidents, decide, waiter_holds
from connector.ticketing.tickets import Ticket


def ticket(key: str, node: str = "N-1", *, operation: str = tk.CHECK_EXISTING, **changes: object) -> Ticket:
    cells: dict[str, object] = {tk.CATEGORY: "SNR", tk.NODE: node, tk.OPERATION: operation}
    made = Ticket.from_cells(key, cells)
    for name, value in changes.items():
        setattr(made, name, value)
    return made


def incidents(*found: Incident) -> OpenIncidents:
    open_incidents = OpenIncidents()
    for incident in found:
        open_incidents.add(incident)
    return open_incidents


def test_adopt_the_incident_made_for_the_ticket_else_note_on_the_nodes_else_create() -> None:
    mine = Incident("101", "r101", "SNR", "N-1", "A", "")
    other = Incident("102", "r102", "snr", " n-2 ", "", "")  # the same node, as Cherwell compares it
    a, b, c, d = ticket("A"), ticket("B", "N-2"), ticket("C", "N-3"), ticket("D", "N-3")
    everything = [a, b, c, d]
    before = [(t.operation, t.status) for t in everything]
    decision = decide(everything, everything, incidents(mine, other), lambda t: True)
    assert decision.adopt == ((a, mine),)
    assert decision.note == ((b, other),)
    assert decision.claim == (c,), "the first ticket of a node without an incident creates it"
    assert decision.creators == {c.node_key: c} and decision.waiting == {c.node_key: (d,)}
    assert [(t.operation, t.status) for t in everything] == before, "deciding changes nothing"


def test_a_creator_backing_off_keeps_its_claim_and_a_second_claim_goes_back_to_waiting() -> None:
    creator = ticket("A", operation=tk.CREATE_TICKET, next_try=50.0)  # not ready: backing off
    second = ticket("B", operation=tk.CREATE_TICKET)
    unsure = ticket("C", operation=tk.CREATE_TICKET, outcome_unknown=True)  # may have created: looked up
    everything = [creator, second, unsure]
    decision = decide([second, unsure], everything, OpenIncidents(), lambda t: t is not creator)
    assert decision.claim == () and decision.unclaim == (second,)
    assert decision.waiting == {creator.node_key: (second, unsure)}
    # Only waiters at Check Existing hold: the unclaim is the flow's to apply, deciding changed nothing.
    assert waiter_holds(decision.waiting, decision.creators, OpenIncidents()) == []


def test_waiters_hold_as_long_as_their_creator_and_not_once_the_node_has_an_incident() -> None:
    creator, waiter = ticket("A", operation=tk.CREATE_TICKET, next_try=70.0), ticket("B")
    decision = decide([waiter], [creator, waiter], OpenIncidents(), lambda t: True)
    assert waiter_holds(decision.waiting, decision.creators, OpenIncidents()) == [(waiter, 70.0)]
    made = incidents(Incident("9", "r9", "SNR", "N-1", "A", ""))
    assert waiter_holds(decision.waiting, decision.creators, made) == []
