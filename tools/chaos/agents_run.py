"""`python -m tools.chaos --postgres URL --agents 3`: the crash run, on agents sharing the element.

WM sends the plan's batches to any live agent (the owner stores them and answers with its
replies; another agent stores them in the shared inbox and answers 202 too); a batch without a
202 is sent again, to another agent. Meanwhile, at random moments, the owner is SIGKILLed
(`--kills` times), paused with SIGSTOP past its lease and resumed, and cut off from the
database. Each time the seconds until another agent runs the element are measured. Then the
platform is checked as in the single-runtime run: 0 lost, 0 duplicated.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from attrs import asdict, define, field

from connector.engine.store import StoreOwner
from connector.engine.store_pg import PostgresStore
from connector.protocol.loader import load_protocol
from tools.chaos.actors import read_acknowledgement
from tools.chaos.agents import Cluster, fresh_database
from tools.chaos.checks import check_outcome, log_findings, wait_drained
from tools.chaos.element import ELEMENT, PROTOCOL_YAML, ElementSettings
from tools.chaos.plan import Plan, batch_message, plan_tickets
from tools.chaos.rig import set_up

# What an agent logs at ERROR by design when the run does its worst: not findings.
EXPECTED_ERRORS = ("cannot reach the database", "no lease renewal in time", "lease is lost", "cannot commit")


@define
class AgentsReport:
    agents: int
    tickets: int = 0
    kills: int = 0
    pauses: int = 0
    cuts: int = 0
    takeovers: list[float] = field(factory=list)
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    inbox_202: int = 0
    owner_202: int = 0
    resends: int = 0
    seconds: float = 0.0
    exit_codes: dict[str, int] = field(factory=dict)
    problems: list[str] = field(factory=list)

    @property
    def ok(self) -> bool:
        clean = all(code == 0 for code in self.exit_codes.values())
        return not self.problems and self.lost == 0 and self.duplicated == 0 and clean

    def render(self) -> str:
        times = sorted(self.takeovers)
        median = statistics.median(times) if times else math.nan
        return "\n".join(
            [
                f"agents {self.agents}: {self.tickets} tickets, {self.kills} kills, {self.pauses} pauses "
                f"(SIGSTOP past the lease), {self.cuts} cuts from the database, {self.seconds:.1f} s",
                f"  takeover: median {median:.2f} s, max {max(times, default=math.nan):.2f} s "
                f"({', '.join(f'{t:.2f}' for t in times)})",
                f"  completed {self.completed}, lost {self.lost}, duplicated {self.duplicated}",
                f"  202s: {self.owner_202} from the owner, {self.inbox_202} through the inbox; resends {self.resends}",
                f"  exit codes on SIGTERM: {self.exit_codes}",
                f"  {'PASS' if self.ok else 'FAIL'}",
            ]
        )


class Wm(threading.Thread):
    """Sends the plan's batches to any agent, as far as `allowed()` lets it."""

    def __init__(self, cluster: Cluster, plan: Plan, report: AgentsReport, *, batch: int, seed: int) -> None:
        super().__init__(name="chaos WM", daemon=True)
        self.cluster, self.plan, self.report, self.batch = cluster, plan, report, batch
        self.rng = random.Random(seed)
        self.allowed = len(plan.batches(batch))
        self.stop = threading.Event()

    def run(self) -> None:
        for index, rows in enumerate(self.plan.batches(self.batch)):
            while index >= self.allowed and not self.stop.wait(0.05):
                pass
            raw = batch_message(rows, guid=f"chaos-agents-{index:05d}")
            while not self.stop.is_set():
                answer = self.cluster.post_anywhere(raw, self.rng)
                if answer is not None and answer.status_code == 202:
                    self._acknowledged(index, rows, answer.json())
                    break
                self.report.resends += 1
                self.stop.wait(0.05)
            self.stop.wait(self.rng.uniform(0.0, 0.1))

    def _acknowledged(self, index: int, rows: list[dict[str, Any]], body: dict[str, Any]) -> None:
        if "queued" in body:
            self.report.inbox_202 += 1
            return
        self.report.owner_202 += 1
        ack = read_acknowledgement(body)
        if ack.accepted | ack.duplicates != {row["ticketId"] for row in rows}:
            self.report.problems.append(f"batch {index}: the owner's 202 does not list every ticket: {body!r:.200}")


def run_agents(server: str, agents: int, *, tickets: int, kills: int, seed: int, workdir: Path) -> AgentsReport:
    report = AgentsReport(agents=agents, tickets=tickets)
    rng = random.Random(seed)
    begun = time.monotonic()
    with fresh_database(server) as url:
        setup = set_up(workdir, seed=seed, incidents=40, settings=ElementSettings(request_batch=20))
        env = {**setup.runtime.env}
        plan = plan_tickets(tickets, rng, setup.nodes, follower_share=0.05)
        cluster = Cluster(setup.runtime.element_yaml, env, url, count=agents, workdir=workdir)
        wm = Wm(cluster, plan, report, batch=20, seed=seed)
        try:
            cluster.start()
            cluster.wait_owner()
            faults = ["kill"] * kills + ["pause", "cut"]
            rng.shuffle(faults)
            batches = len(plan.batches(20))
            wm.allowed = max(1, batches // (len(faults) + 1))
            wm.start()
            for done, fault in enumerate(faults, start=1):
                time.sleep(rng.uniform(0.5, 3.0))  # a random moment of the owner's life
                {"kill": cluster.kill_owner, "pause": cluster.pause_owner, "cut": cluster.cut_owner}[fault]()
                wm.allowed = max(wm.allowed, math.ceil(batches * (done + 1) / (len(faults) + 1)))
            wm.allowed = batches
            wm.join(timeout=300)
            rows = wait_drained(cluster.owner_process(), plan.ids, timeout=300)
            _judge(report, plan, setup.platform.state(), rows, url)
        finally:
            wm.stop.set()
            report.exit_codes = cluster.stop()
            cluster.close()
            setup.close()
        report.kills, report.pauses, report.cuts = cluster.kills, cluster.pauses, cluster.cuts
        report.takeovers = cluster.takeovers
        report.problems += cluster.problems
        for agent in cluster.agents.values():
            bad, _ = log_findings(agent.log_path)
            report.problems += [f"log: {line}" for line in bad if not any(e in line for e in EXPECTED_ERRORS)][:10]
    report.seconds = time.monotonic() - begun
    return report


def _judge(report: AgentsReport, plan: Plan, state: dict[str, Any], rows: dict[str, Any], url: str) -> None:
    found = check_outcome(plan, state, rows)
    report.completed, report.lost, report.duplicated = found.completed, found.lost, found.duplicated
    report.problems += found.problems[:20] + found.duplicates[:20]
    protocol = load_protocol(PROTOCOL_YAML)
    store = PostgresStore(url, StoreOwner(element=ELEMENT, protocol=protocol.name))
    try:
        stored = {key for key, _ in store.load().tables.get(1000, ())}
    finally:
        store.close()
    missing = set(plan.ids) - stored
    if missing:
        report.problems.append(f"{len(missing)} tickets missing from the shared store, e.g. {sorted(missing)[:3]}")


def main_agents(args: Any, base: Path) -> int:
    """The command's agents mode: the run, its figures, and the work folder kept when it fails."""
    report = run_agents(
        args.postgres, args.agents, tickets=args.tickets, kills=max(args.kills, 10), seed=args.seed, workdir=base
    )
    print(report.render())
    for problem in report.problems[:15]:
        print(f"agents: {problem}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(asdict(report) | {"ok": report.ok}, indent=2), encoding="utf-8")
    if report.ok and args.workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"logs and element YAML: {base}", file=sys.stderr)
    return 0 if report.ok else 1
