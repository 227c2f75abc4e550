"""What a run is judged by: the platform's state and the element's table against the plan, the
store file, the runtime's log; and the waits for the table to settle."""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import define, field

from connector.engine.http import httpx
from connector.engine.store import SQLiteStore
from tools.chaos.plan import Plan
from tools.chaos.processes import RuntimeProcess

TERMINAL = ("Completed", "Error")


@define
class Findings:
    completed: int = 0
    errors: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(factory=list)
    duplicates: list[str] = field(factory=list)  # what each duplicated count was (a problem unless expected)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def duplicate(self, extra: int, text: str) -> None:
        self.duplicated += extra
        self.duplicates.append(text)


class PlatformIndex:
    """The platform's state (GET /_fake/state) indexed the way the checks look things up."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.by_external: dict[str, list[dict[str, Any]]] = {}
        for incident in state["incidents"]:
            if incident["external_id"]:
                self.by_external.setdefault(incident["external_id"], []).append(incident)
        self.by_rec = {i["rec_id"].lower(): i for i in state["incidents"]}
        self.notes_by_id: dict[str, list[dict[str, Any]]] = {}
        for note in state["notes"]:
            if note["details"].startswith("["):  # ours: "[<ticket id>] <summary>"
                self.notes_by_id.setdefault(note["details"][1:].split("]", 1)[0], []).append(note)
        self.orders_by_ticket: dict[str, list[dict[str, Any]]] = {}
        for order in state["work_orders"]:
            self.orders_by_ticket.setdefault(order["ticket"], []).append(order)

    def incidents(self, ticket_id: str) -> list[dict[str, Any]]:
        return self.by_external.get(ticket_id, [])

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        return self.notes_by_id.get(ticket_id, [])

    def parent(self, note: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.by_rec.get(note["parent_rec_id"].lower())


def check_outcome(
    plan: Plan, state: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]], *, allow_errors: bool = False
) -> Findings:
    """The platform's state and the element's table against the plan.

    lost: a ticket missing from the table, or Completed without its incident (and OT) or its note
    on the platform. duplicated: every platform object beyond the one a ticket should have made
    (a second incident or note for one ticket, an incident and a note, a second incident for one
    node, a second OT for one incident). Anything else that is wrong is a problem.

    A node of our own (a created ticket and the followers on its node) must end with exactly one
    incident, made by one of its tickets, and a note on it from each of the others: usually the
    first ticket creates it, but when the creator ended in Error the next one took its place, and
    the first one, retried, became a note. Any of them may hold the incident.
    """
    found = Findings()
    index = PlatformIndex(state)
    for ticket_id in plan.ids:
        row = rows.get(ticket_id)
        if row is None:
            found.lost += 1
            found.problem(f"{ticket_id}: not in the table")
            continue
        status = row.get("Status")
        if status == "Completed":
            found.completed += 1
        elif status == "Error":
            found.errors += 1
            if not allow_errors:
                found.problem(f"{ticket_id}: Error: {row.get('Last Error')}")
        else:
            found.problem(f"{ticket_id}: still {status} at {row.get('Operation')} (wedged?)")
        made = len(index.incidents(ticket_id)) + len(index.notes(ticket_id))
        if made > 1:
            found.duplicate(
                made - 1,
                f"{ticket_id}: {len(index.incidents(ticket_id))} incidents and {len(index.notes(ticket_id))} notes",
            )
    for members in plan.node_groups().values():
        _check_node(found, members, rows, index)
    for ticket_id in plan.noted:
        _check_noted(found, plan, ticket_id, rows.get(ticket_id), index)
    return found


def _completed(rows: Mapping[str, Mapping[str, Any]], ticket_id: str) -> bool:
    return rows.get(ticket_id, {}).get("Status") == "Completed"


def _check_node(
    found: Findings, members: list[str], rows: Mapping[str, Mapping[str, Any]], index: PlatformIndex
) -> None:
    """One node of our own: one incident from one of its tickets, with its one OT written back,
    and a note on it from each other ticket."""
    creators = [t for t in members if index.incidents(t)]
    if len(creators) > 1:
        found.duplicate(len(creators) - 1, f"node of {members[0]}: {len(creators)} incidents, by {creators}")
    if not creators:
        for ticket_id in members:
            if _completed(rows, ticket_id):
                found.lost += 1
                found.problem(f"{ticket_id}: Completed but its node has no incident")
        return
    # Two incidents for the creator (a late twin, counted duplicated): the one its row holds.
    made = index.incidents(creators[0])
    held = rows.get(creators[0], {}).get("Platform Ticket")
    incident = next((i for i in made if i["incident_id"] == held), made[0])
    _check_creator(found, creators[0], incident, rows, index)
    for ticket_id in members:
        if ticket_id not in creators:
            _check_node_note(found, ticket_id, incident, rows, index)


def _check_creator(
    found: Findings,
    creator: str,
    incident: Mapping[str, Any],
    rows: Mapping[str, Mapping[str, Any]],
    index: PlatformIndex,
) -> None:
    """The ticket that created its node's incident: one OT, its number on the incident and in the
    table, and the incident in the table."""
    orders = index.orders_by_ticket.get(incident["incident_id"], [])
    if len(orders) > 1:
        found.duplicate(len(orders) - 1, f"{creator}: incident {incident['incident_id']} has {len(orders)} OTs")
    if not _completed(rows, creator):
        return
    row = rows[creator]
    if not orders:
        found.lost += 1
        found.problem(f"{creator}: Completed but incident {incident['incident_id']} has no OT")
    elif incident["ot_number"] not in {o["ot"] for o in orders} or row.get("OT Number") != incident["ot_number"]:
        # With two OTs (counted duplicated above), the one the incident holds is the ticket's.
        found.problem(
            f"{creator}: OTs {[o['ot'] for o in orders]}, incident says {incident['ot_number']!r}, "
            f"table says {row.get('OT Number')!r}"
        )
    if row.get("Platform Ticket") != incident["incident_id"]:
        found.problem(f"{creator}: Platform Ticket {row.get('Platform Ticket')!r}, incident {incident['incident_id']}")


def _check_node_note(
    found: Findings,
    ticket_id: str,
    incident: Mapping[str, Any],
    rows: Mapping[str, Mapping[str, Any]],
    index: PlatformIndex,
) -> None:
    """Another ticket of the node: a note on the node's incident."""
    notes = index.notes(ticket_id)
    if not notes:
        if _completed(rows, ticket_id):
            found.lost += 1
            found.problem(f"{ticket_id}: Completed but no note on incident {incident['incident_id']}")
        return
    parent = index.parent(notes[0])
    if parent is None or parent["rec_id"] != incident["rec_id"]:
        found.problem(
            f"{ticket_id}: its note is on {parent and parent['incident_id']}, "
            f"its node's incident is {incident['incident_id']}"
        )
    elif _completed(rows, ticket_id) and rows[ticket_id].get("Platform Ticket") != incident["incident_id"]:
        found.problem(
            f"{ticket_id}: Platform Ticket {rows[ticket_id].get('Platform Ticket')!r}, "
            f"note on {incident['incident_id']}"
        )


def _check_noted(
    found: Findings, plan: Plan, ticket_id: str, row: Mapping[str, Any] | None, index: PlatformIndex
) -> None:
    """A ticket on the node of an open incident it did not create: one note on such an incident."""
    if index.incidents(ticket_id):
        found.problem(f"{ticket_id}: created an incident, but its node had an open one")
        return
    notes = index.notes(ticket_id)
    if not notes:
        if row is not None and row.get("Status") == "Completed":
            found.lost += 1
            found.problem(f"{ticket_id}: Completed but no note")
        return
    parent = index.parent(notes[0])
    category, node = plan.noted[ticket_id]
    if parent is None or (parent["category"], parent["node"].casefold()) != (category, node.casefold()):
        found.problem(f"{ticket_id}: its note is on the wrong incident ({parent and parent['incident_id']})")
    elif row is not None and row.get("Status") == "Completed" and row.get("Platform Ticket") != parent["incident_id"]:
        found.problem(f"{ticket_id}: Platform Ticket {row.get('Platform Ticket')!r}, note on {parent['incident_id']}")


def check_reported_extras(
    reported: Mapping[str, Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The element's Duplicates rows: each extra it tells the operator to close is one no ticket
    holds (its Platform Ticket, its OT Number); closing it must not close what is in use."""
    in_use = {row.get(column) for row in rows.values() for column in ("Platform Ticket", "OT Number")}
    return [
        f"{row.get('Ticket ID')}: the element says close {row.get('Kind')} {extra}, which a ticket holds"
        for extra, row in reported.items()
        if extra.split(" ")[-1] in in_use
    ]


def store_integrity(path: Path) -> str:
    """PRAGMA integrity_check of the element's store (read-only; the runtime has stopped)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def stored_ticket_ids(path: Path, table: int = 1000) -> set[str]:
    """The Ticket Overview keys the store file holds, read through the engine's own store (its
    schema is the store's business)."""
    store = SQLiteStore(path)
    try:
        return {key for key, _ in store.load().tables.get(table, ())}
    finally:
        store.close()


def log_findings(log_path: Path) -> tuple[list[str], Counter[str]]:
    """Tracebacks and ERROR/CRITICAL lines in the runtime's log; and request failures by kind."""
    bad: list[str] = []
    failures: Counter[str] = Counter()
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
            bad.append(line.strip()[:300])
        match = re.search(r": (TIMEOUT|LOST|CONNECT|ERROR): ", line)
        if match:
            failures[match.group(1).lower()] += 1
    return bad, failures


def wait_drained(
    runtime: RuntimeProcess, ids: Iterable[str], *, timeout: float, statuses: Sequence[str] = TERMINAL
) -> dict[str, dict[str, Any]]:
    """The table once every ticket in `ids` is in one of `statuses` (by default Completed or
    Error), or as it is at the deadline."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        try:
            rows = runtime.table()
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2)
            continue
        if wanted <= rows.keys() and all(rows[key].get("Status") in statuses for key in wanted):
            return rows
        time.sleep(0.25)
    return rows
