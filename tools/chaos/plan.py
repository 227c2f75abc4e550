"""The tickets WM sends in a run, and what each must become on the platform."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field

from connector.engine.interapp import OutgoingMessage, serialize_call


@define
class Plan:
    """The tickets in send order, and what each must become on the platform."""

    rows: list[dict[str, Any]] = field(factory=list)
    created: set[str] = field(factory=set)  # its own incident, then an OT written back
    noted: dict[str, tuple[str, str]] = field(factory=dict)  # a note on an open incident of this node
    followers: dict[str, str] = field(factory=dict)  # a note on the incident its leader created

    @property
    def ids(self) -> list[str]:
        return [row["ticketId"] for row in self.rows]

    def node_groups(self) -> dict[str, list[str]]:
        """Each created ticket with the followers on its node, in send order."""
        position = {key: index for index, key in enumerate(self.ids)}
        groups: dict[str, list[str]] = {key: [key] for key in self.ids if key in self.created}
        for follower, leader in self.followers.items():
            groups[leader].append(follower)
        for members in groups.values():
            members.sort(key=position.__getitem__)
        return groups

    def batches(self, size: int) -> list[list[dict[str, Any]]]:
        return [self.rows[i : i + size] for i in range(0, len(self.rows), size)]


def open_nodes(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(Category, Node) of the platform's open incidents of our categories, one entry per node."""
    nodes = {
        (i["category"], i["node"])
        for i in state["incidents"]
        if i["status"] in ("New", "Assigned", "In Progress", "Pending") and i["category"] in ("SNR", "Falla de Linea")
    }
    return sorted(nodes)


def plan_tickets(
    count: int,
    rng: random.Random,
    nodes: Sequence[tuple[str, str]],
    *,
    note_share: float = 0.3,
    follower_share: float = 0.0,
    prefix: str = "WM-CHAOS",
) -> Plan:
    """`count` tickets: `note_share` on the open incidents' nodes, `follower_share` on the node of
    an earlier created ticket (the waiter path), the rest on nodes of their own."""
    plan = Plan()
    leaders: list[str] = []
    by_id: dict[str, dict[str, Any]] = {}
    for i in range(count):
        ticket_id = f"{prefix}-{i:06d}"
        draw = rng.random()
        if nodes and draw < note_share:
            category, node = rng.choice(list(nodes))
            plan.noted[ticket_id] = (category, node)
        elif leaders and draw < note_share + follower_share:
            leader = rng.choice(leaders[-50:])  # recent: often in the same batch, sometimes not
            category, node = by_id[leader]["category"], by_id[leader]["node"]
            plan.followers[ticket_id] = leader
        else:
            category = rng.choice(("SNR", "Falla de Linea"))
            node = f"CHAOS-{'NODO' if category == 'SNR' else 'SG'}-{i:06d}"
            plan.created.add(ticket_id)
            leaders.append(ticket_id)
        row: dict[str, Any] = {
            "ticketId": ticket_id,
            "category": category,
            "node": node,
            "summary": f"{'SNR bajo' if category == 'SNR' else 'Falla de linea'} en {node}",
            "priority": rng.randint(1, 5),
        }
        if rng.random() < 0.5:
            row["description"] = f"{rng.randint(2, 40)} eventos criticos en las ultimas 24 horas."
            row["affectedCustomers"] = rng.randint(0, 2500)
        plan.rows.append(row)
        by_id[ticket_id] = row
    return plan


def batch_message(rows: list[dict[str, Any]], guid: str) -> str:
    """A TicketBatchMessage call as WM serializes it."""
    members = {"guid": guid, "source": "chaos WM", "tickets": rows, "returnAddress": None}
    return serialize_call([OutgoingMessage(type="TicketBatchMessage", members=members)])
