"""The chaos runs of tools/chaos in CI size: the same functions, fewer tickets and kills.

The two process tests drive a real `connector run` subprocess and the fake platform as its own
process (marked `slow`); the checker tests below them show that a lost or duplicated ticket
would indeed fail these runs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tools.chaos.__main__ import main as chaos_main
from tools.chaos.actors import LIGHT_FAULTS, read_acknowledgement
from tools.chaos.checks import check_outcome, check_reported_extras
from tools.chaos.element import ElementSettings
from tools.chaos.plan import Plan, plan_tickets
from tools.chaos.report import Report, render
from tools.chaos.scenarios import ChaosOptions, FailOptions, run_crash, run_fail_for_good


def explain(report: Report) -> str:
    return render([report]) + "\n" + "\n".join(report.problems[:20])


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_crash_run_with_kills_and_light_faults_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    options = ChaosOptions(
        tickets=300,
        kills=4,
        seed=5,
        faults=LIGHT_FAULTS,
        fault_rate=0.05,
        follower_share=0.1,
        settings=ElementSettings(concurrency=2, request_batch=20),
    )
    report = run_crash(options, tmp_path)
    assert report.kills >= 4, explain(report)
    assert report.lost == 0 and report.duplicated == 0, explain(report)
    assert report.completed == 300 and report.errors == 0, explain(report)
    assert report.exit_code == 0 and report.integrity == "ok", explain(report)
    assert report.ok, explain(report)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_retry_errors_pressed_during_kills_and_faults_completes_everything_once(tmp_path: Path) -> None:
    """Max Retries 1 under faults puts tickets in Error; Retry Errors pressed at random moments
    (kills included) and at the end brings every one back, creators and waiters swapping roles;
    meanwhile processing goes off and on and the batch size and concurrency change."""
    options = ChaosOptions(
        tickets=200,
        kills=3,
        seed=8,
        faults=LIGHT_FAULTS,
        fault_rate=0.1,
        follower_share=0.25,
        retry_errors_every=0.5,
        fiddle=True,
        settings=ElementSettings(max_retries=1, request_batch=5, concurrency=4),
    )
    report = run_crash(options, tmp_path)
    assert report.lost == 0 and report.duplicated == 0, explain(report)
    assert report.completed == 200 and report.retry_presses > 0, explain(report)
    # The careless operator (tools.chaos.fiddler) also tried sets that must be refused: read-only
    # parameters with 403, bad values with 422; none accepted, refused otherwise, or a 5xx.
    assert report.fiddler["bad sets refused 403"] > 0 and report.fiddler["bad sets refused 422"] > 0, explain(report)
    assert report.fiddler["bad sets accepted"] == report.fiddler["bad sets refused wrongly"] == 0, explain(report)
    assert report.ok, explain(report)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_operation_failing_for_good_ends_its_tickets_in_error_then_retry_errors_completes_them(
    tmp_path: Path,
) -> None:
    report = run_fail_for_good(FailOptions(tickets=60, seed=3, operation="ot_create", max_retries=2), tmp_path)
    assert report.errors > 0, explain(report)  # every created ticket went to Error first...
    assert report.faults["fail_operation"] == 3 * report.errors, explain(report)  # ...after exactly 2 + 1 tries
    assert report.completed == 60 and report.lost == 0 and report.duplicated == 0, explain(report)  # ...then done
    assert report.ok, explain(report)


# -- the checks catch what they are for (no processes) -------------------------------------------


def state_for(plan: Plan, *, extra_incident_for: str | None = None, drop: str | None = None) -> dict[str, Any]:
    """The platform state a perfect run of `plan` leaves, give or take one defect."""
    incidents: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    open_by_node: dict[tuple[str, str], dict[str, Any]] = {}

    def incident(category: str, node: str, external: str = "", ot: str = "") -> dict[str, Any]:
        number = str(102400 + len(incidents))
        record = {
            "rec_id": f"r{number}",
            "incident_id": number,
            "status": "New",
            "category": category,
            "node": node,
            "external_id": external,
            "ot_number": ot,
        }
        incidents.append(record)
        return record

    for category, node in {v for v in plan.noted.values()}:
        open_by_node[(category, node)] = incident(category, node)
    for row in plan.rows:
        key = row["ticketId"]
        if key == drop:
            continue
        if key in plan.created:
            copies = 2 if key == extra_incident_for else 1
            for _ in range(copies):
                made = incident(row["category"], row["node"], key, ot=f"OT-{key}")
                orders.append({"ot": f"OT-{key}", "ticket": made["incident_id"], "referencia": key})
        else:
            leader = plan.followers.get(key)
            parent = (
                next(i for i in incidents if i["external_id"] == leader)
                if leader
                else open_by_node[(row["category"], row["node"])]
            )
            notes.append({"parent_rec_id": parent["rec_id"], "details": f"[{key}] {row['summary']}"})
    return {"incidents": incidents, "notes": notes, "work_orders": orders}


def rows_for(plan: Plan, state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_ext = {i["external_id"]: i for i in state["incidents"] if i["external_id"]}
    by_rec = {i["rec_id"]: i for i in state["incidents"]}
    noted = {n["details"][1:].split("]")[0]: n for n in state["notes"]}
    rows = {}
    for key in plan.ids:
        if key in plan.created:
            incident = by_ext.get(key, {})
            platform_ticket, ot = incident.get("incident_id"), incident.get("ot_number")
        else:
            note = noted.get(key)
            platform_ticket, ot = (by_rec[note["parent_rec_id"]]["incident_id"] if note else None), None
        rows[key] = {"Status": "Completed", "Operation": "None", "Platform Ticket": platform_ticket, "OT Number": ot}
    return rows


@pytest.fixture
def plan() -> Plan:
    nodes = [("SNR", "GDL-ZAP-NODO-0001"), ("Falla de Linea", "MTY-SPG-NODO-0002")]
    return plan_tickets(60, random.Random(1), nodes, note_share=0.3, follower_share=0.2)


def test_a_perfect_run_passes_the_checks(plan: Plan) -> None:
    state = state_for(plan)
    found = check_outcome(plan, state, rows_for(plan, state))
    assert (found.lost, found.duplicated, found.problems) == (0, 0, [])
    assert found.completed == 60 and plan.created and plan.noted and plan.followers


def test_a_second_incident_for_a_ticket_is_a_duplicate(plan: Plan) -> None:
    victim = sorted(plan.created)[0]
    state = state_for(plan, extra_incident_for=victim)
    found = check_outcome(plan, state, rows_for(plan, state))
    assert found.duplicated == 1 and victim in found.duplicates[0]


@pytest.mark.parametrize("kind", ["created", "noted", "followers"])
def test_a_completed_ticket_missing_on_the_platform_is_lost(plan: Plan, kind: str) -> None:
    alone = set(plan.created) - set(plan.followers.values())  # no follower's note hangs on it
    victim = sorted(alone if kind == "created" else getattr(plan, kind))[-1]
    rows = rows_for(plan, state_for(plan))
    found = check_outcome(plan, state_for(plan, drop=victim), rows)
    assert found.lost == 1 and victim in " ".join(found.problems)


def test_a_ticket_missing_from_the_table_is_lost(plan: Plan) -> None:
    state = state_for(plan)
    rows = rows_for(plan, state)
    del rows[plan.ids[7]]
    assert check_outcome(plan, state, rows).lost == 1


def swap_creator(state: dict[str, Any], leader: str, follower: str) -> None:
    """The follower created the node's incident (its leader was in Error), the leader noted on it."""
    incident = next(i for i in state["incidents"] if i["external_id"] == leader)
    note = next(n for n in state["notes"] if n["details"].startswith(f"[{follower}]"))
    incident["external_id"] = follower
    note["details"] = f"[{leader}] {note['details'].split('] ', 1)[1]}"


def test_a_follower_that_took_over_creating_its_node_is_fine(plan: Plan) -> None:
    follower, leader = sorted(plan.followers.items())[0]
    state = state_for(plan)
    rows = rows_for(plan, state)
    swap_creator(state, leader, follower)
    rows[follower]["OT Number"], rows[leader]["OT Number"] = rows[leader]["OT Number"], None
    found = check_outcome(plan, state, rows)
    assert (found.lost, found.duplicated, found.problems) == (0, 0, [])


def test_a_second_ot_is_a_duplicate_whichever_the_incident_holds(plan: Plan) -> None:
    creator = sorted(set(plan.created) - set(plan.followers.values()))[0]
    state = state_for(plan)
    rows = rows_for(plan, state)
    incident = next(i for i in state["incidents"] if i["external_id"] == creator)
    state["work_orders"].insert(0, {"ot": "OT-LATE", "ticket": incident["incident_id"], "referencia": creator})
    found = check_outcome(plan, state, rows)
    assert (found.duplicated, found.problems) == (1, []), "the late OT landed first: the ticket holds the other"
    incident["ot_number"] = "OT-ELSEWHERE"
    assert check_outcome(plan, state, rows).problems, "an incident holding an OT it does not have"


def test_a_late_incident_numbered_first_is_a_duplicate_not_a_loss(plan: Plan) -> None:
    # Seen at seed 7, 8 in flight: the late twin had the lower IncidentID; the checks took it for
    # the creator's incident and counted the ticket lost ("Completed but incident ... has no OT").
    creator = sorted(set(plan.created) - set(plan.followers.values()))[0]
    state = state_for(plan)
    rows = rows_for(plan, state)
    twin = dict(next(i for i in state["incidents"] if i["external_id"] == creator), rec_id="r-late")
    state["incidents"].insert(0, dict(twin, incident_id="100000", ot_number=""))
    found = check_outcome(plan, state, rows)
    assert (found.lost, found.duplicated, found.problems) == (0, 1, [])


def test_an_extra_reported_that_a_ticket_holds_is_a_problem(plan: Plan) -> None:
    state = state_for(plan)
    rows = rows_for(plan, state)
    held = rows[sorted(plan.created)[0]]["OT Number"]
    orphan = {"Kind": "OT", "Ticket ID": "T", "Kept": held, "Extra": "OT-ORPHAN"}
    assert check_reported_extras({"OT OT-ORPHAN": orphan}, rows) == []
    in_use = {**orphan, "Kept": "OT-ORPHAN", "Extra": held}
    assert len(check_reported_extras({f"OT {held}": in_use}, rows)) == 1


def test_two_incidents_for_one_node_are_a_duplicate(plan: Plan) -> None:
    follower, leader = sorted(plan.followers.items())[0]
    state = state_for(plan)
    rows = rows_for(plan, state)
    twin = dict(
        next(i for i in state["incidents"] if i["external_id"] == leader),
        external_id=follower,
        rec_id="r-twin",
        incident_id="999999",
    )
    state["incidents"].append(twin)
    state["notes"] = [n for n in state["notes"] if not n["details"].startswith(f"[{follower}]")]
    found = check_outcome(plan, state, rows)
    assert found.duplicated == 1 and "2 incidents" in " ".join(found.duplicates)


# -- WM's reading of the API's 202 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"accepted": ["A", "B"], "duplicates": ["C"], "rejected": []},
        {
            "replies": [
                {"type": "TicketBatchResponse", "guid": "g", "accepted": ["A"], "duplicates": [], "rejected": []},
                {"type": "TicketBatchResponse", "guid": "g", "accepted": ["B"], "duplicates": ["C"], "rejected": []},
            ]
        },
    ],
    ids=["merged", "replies"],
)
def test_the_202_is_read_in_either_shape(body: dict[str, Any]) -> None:
    acknowledged = read_acknowledgement(body)
    assert (acknowledged.accepted, acknowledged.duplicates, acknowledged.rejected) == ({"A", "B"}, {"C"}, ())


def test_a_rejected_ticket_in_any_reply_is_seen() -> None:
    rejected = {"ticketId": "A", "reason": "no node"}
    body = {
        "replies": [{"type": "ErrorResponse", "reason": "x"}, {"type": "TicketBatchResponse", "rejected": [rejected]}]
    }
    assert read_acknowledgement(body).rejected == (rejected,)


def test_a_workdir_holding_an_earlier_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: a second run given the first one's --workdir restarted its store (the same seed's
    # tickets already Completed) against a fresh platform, and reported all 5,000 tickets lost.
    (tmp_path / "crash").mkdir()
    with pytest.raises(SystemExit) as exited:
        chaos_main(["--workdir", str(tmp_path), "--tickets", "10"])
    assert exited.value.code == 2
    assert "is not empty" in capsys.readouterr().err
