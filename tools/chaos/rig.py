"""What every scenario starts from and ends with: a platform with open incidents and a runtime not
started yet (`set_up`); SIGTERM and the checks of both sides into the report (`finish`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import define

from tools.chaos.checks import (
    check_outcome,
    check_reported_extras,
    log_findings,
    store_integrity,
    stored_ticket_ids,
)
from tools.chaos.element import PROTOCOL_YAML, ElementSettings, credentials, store_path, write_element_yaml
from tools.chaos.plan import Plan, open_nodes
from tools.chaos.processes import PlatformProcess, RuntimeProcess
from tools.chaos.report import Report


@define
class Setup:
    """A platform, its seeded open incidents, and a runtime not started yet: what every scenario
    (and tests/test_security.py) starts from."""

    workdir: Path
    platform: PlatformProcess
    runtime: RuntimeProcess
    nodes: list[tuple[str, str]]
    password: str
    api_key: str

    def close(self) -> None:
        self.runtime.close()
        self.platform.stop()


def set_up(
    workdir: Path,
    *,
    seed: int,
    incidents: int,
    settings: ElementSettings = ElementSettings(),
    protocol: Path = PROTOCOL_YAML,
    processing: bool = True,
    secrets: tuple[str, str] | None = None,
) -> Setup:
    """`secrets`: (Cherwell password, SFyC API key) the platform accepts and the element is given;
    default: `credentials(seed)`."""
    workdir.mkdir(parents=True, exist_ok=True)
    password, api_key = secrets or credentials(seed)
    platform = PlatformProcess(seed=seed, password=password, api_key=api_key, log_path=workdir / "platform.log")
    try:
        platform.seed_incidents(incidents, seed)
        nodes = open_nodes(platform.state())
        element_yaml, env = write_element_yaml(
            workdir,
            platform.port,
            password=password,
            api_key=api_key,
            settings=settings,
            protocol=protocol,
            processing=processing,
        )
        runtime = RuntimeProcess(element_yaml, env, log_path=workdir / "runtime.log")
    except BaseException:
        platform.stop()
        raise
    return Setup(workdir, platform, runtime, nodes, password, api_key)


def finish(
    report: Report,
    setup: Setup,
    plan: Plan,
    rows: Mapping[str, Mapping[str, Any]],
    *,
    allow_errors: bool = False,
    duplicates_expected: bool = False,
) -> None:
    """SIGTERM the runtime and check both sides into `report`. `duplicates_expected`: late writes
    held past the Settle Time make duplicates; each must be in the element's Duplicates Detected."""
    report.duplicates_expected = duplicates_expected
    report.duplicates_detected = int(setup.runtime.param("Duplicates Detected") or 0)
    report.problems += check_reported_extras(setup.runtime.table("Duplicates"), rows)
    _stop_runtime(report, setup.runtime)
    state = setup.platform.state()
    _keep_evidence(setup.workdir, state, rows, plan)
    found = check_outcome(plan, state, rows, allow_errors=allow_errors)
    report.completed, report.errors, report.lost, report.duplicated = (
        found.completed,
        found.errors,
        found.lost,
        found.duplicated,
    )
    report.problems += found.problems
    if not (duplicates_expected and found.duplicated == report.duplicates_detected):
        report.problems += found.duplicates
    _check_store(report, store_path(setup.workdir), plan, rows)
    bad, failures = log_findings(setup.runtime.log_path)
    report.problems += [f"log: {line}" for line in bad[:20]]
    report.count_platform(state)
    report.timeouts_seen = failures.get("timeout", 0)


def _stop_runtime(report: Report, runtime: RuntimeProcess) -> None:
    report.exit_code = runtime.terminate()
    if report.exit_code != 0:
        report.problems.append(f"connector run exited with {report.exit_code} on SIGTERM")
    for code in runtime.unexpected_exits:
        report.problems.append(f"connector run exited by itself with {code}")


def _keep_evidence(workdir: Path, state: Mapping[str, Any], rows: Mapping[str, Any], plan: Plan) -> None:
    """What the checks saw, kept beside the logs for whoever investigates a failure."""
    (workdir / "platform-state.json").write_text(json.dumps(state), encoding="utf-8")
    (workdir / "table.json").write_text(json.dumps(rows), encoding="utf-8")
    planned = {"rows": plan.rows, "created": sorted(plan.created), "noted": plan.noted, "followers": plan.followers}
    (workdir / "plan.json").write_text(json.dumps(planned), encoding="utf-8")


def _check_store(report: Report, store: Path, plan: Plan, rows: Mapping[str, Any]) -> None:
    """The store file is intact and holds every ticket (one missing from the table is counted
    lost already)."""
    report.integrity = store_integrity(store)
    if report.integrity != "ok":
        report.problems.append(f"store integrity_check: {report.integrity}")
    missing = set(plan.ids) - stored_ticket_ids(store)
    if missing:
        report.lost += len(missing - (set(plan.ids) - rows.keys()))
        report.problems.append(f"{len(missing)} tickets missing from the store file, e.g. {sorted(missing)[:3]}")
