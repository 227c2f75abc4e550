"""The two scenarios: *crash* (kills while WM sends, faults until the settle phase at the end) and
*fail for good* (one platform operation fails every time); see the package's docstring."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from attrs import define, frozen

from tools.chaos.actors import LATE, FaultInjector, Killer, Presser, Sender, press_retry_errors
from tools.chaos.checks import TERMINAL, wait_drained
from tools.chaos.element import PROTOCOL_YAML, ElementSettings, short_timeout_protocol
from tools.chaos.fiddler import Fiddler
from tools.chaos.plan import Plan, plan_tickets
from tools.chaos.processes import RuntimeProcess
from tools.chaos.report import Report
from tools.chaos.rig import Setup, finish, set_up


@frozen(kw_only=True)
class ChaosOptions:
    tickets: int = 2000
    kills: int = 20
    seed: int = 2026
    faults: tuple[str, ...] = ()
    fault_rate: float = 0.03
    note_share: float = 0.3
    follower_share: float = 0.05
    wm_batch: int = 100
    settings: ElementSettings = ElementSettings()
    session_timeout: float = 0.6  # the short timeouts when latency is among the faults: shorter than a life
    kill_gap: tuple[float, float] = (0.2, 1.5)
    drain_timeout: float = 600.0
    deadline: float = 1800.0
    # Seconds between Retry Errors presses during the run (0: none). With a low Max Retries,
    # faults put tickets in Error; pressed at random moments (kills included), and again at the
    # end until every ticket is Completed: the Error -> retry path must not duplicate either.
    retry_errors_every: float = 0.0
    fiddle: bool = False  # the careless operator (tools.chaos.fiddler.Fiddler) during the run
    late_delay: float = 1.0  # with the "late" fault: seconds before a held write is applied
    late_rate: float | None = None  # with the "late" fault: the share of writes held (None: fault_rate)


@frozen(kw_only=True)
class FailOptions:
    tickets: int = 200
    seed: int = 2026
    operation: str = "ot_create"
    message: str = "SFyC en mantenimiento programado"
    max_retries: int = 3
    note_share: float = 0.3
    follower_share: float = 0.1
    wm_batch: int = 100
    retry_delay: float = 0.05
    drain_timeout: float = 120.0
    concurrency: int = 1
    request_batch: int = 20


# -- crash ----------------------------------------------------------------------------------------


@define
class Crew:
    """The actors of a crash run, built in a fixed order from one seeded generator so that a
    seed's choices are reproducible: the fault injector, the killer, WM, the operator."""

    sender: Sender
    injector: FaultInjector | None
    killer: Killer | None
    presser: Presser | None

    @classmethod
    def hire(cls, options: ChaosOptions, setup: Setup, plan: Plan, rng: random.Random) -> Crew:
        activity = threading.Event()  # set by WM on every 202: the injector aims at the burst
        posting = threading.Event()  # set by WM while a POST is out: the killer may aim at it
        injector = (
            FaultInjector(
                setup.platform,
                options.faults,
                options.fault_rate,
                random.Random(rng.random()),
                latency=options.session_timeout * 1.5,
                late_delay=options.late_delay,
                late_rate=options.late_rate,
                latency_window=options.session_timeout * 3,
                activity=activity,
                log_path=setup.workdir / "faults.log",
            )
            if options.faults
            else None
        )
        killer = (
            Killer(
                setup.runtime,
                options.kills,
                random.Random(rng.random()),
                gap=options.kill_gap,
                deadline=options.deadline,
                posting=posting,
            )
            if options.kills
            else None
        )
        sender = Sender(
            setup.runtime,
            plan,
            batch=options.wm_batch,
            may_send=_pacing(options.kills, len(plan.batches(options.wm_batch)), killer),
            deadline=options.deadline,
            rng=random.Random(rng.random()),
            think=options.kill_gap[1] if options.kills else 0.0,
            posting=posting,
            activity=activity,
        )
        presser: Presser | None = None
        if options.fiddle:  # the careless operator (tools.chaos.fiddler): settings, buttons, refused sets
            every = options.retry_errors_every or 0.3
            presser = Fiddler(setup.runtime, every, random.Random(rng.random()), options.settings)
        elif options.retry_errors_every:
            presser = Presser(setup.runtime, options.retry_errors_every, random.Random(rng.random()))
        return cls(sender, injector, killer, presser)

    def start(self) -> None:
        for thread in (self.injector, self.presser, self.sender, self.killer):
            if thread is not None:
                thread.start()

    def wait_sent(self, deadline: float, report: Report) -> None:
        """Until the killer has killed its share and WM has sent every batch."""
        if self.killer is not None:
            self.killer.join(deadline)
            if self.killer.error is not None:
                report.problems.append(f"killer: {self.killer.error!r}")
        self.sender.join(deadline)
        report.kills = self.sender.runtime.kills
        report.resends = self.sender.stats.resends
        report.duplicates_acknowledged = self.sender.stats.duplicates_acknowledged
        report.problems += self.sender.stats.problems

    def drain_under_faults(self, plan: Plan, timeout: float) -> None:
        """The platform keeps failing while the element works off what WM sent: until every
        ticket is Completed (or in Error, when no operator presses Retry Errors), or `timeout`.
        A drain that does not end under faults is no finding by itself: the settle phase after
        it (a healthy platform) must still complete every ticket once."""
        if self.injector is None:
            return
        settled = ("Completed",) if self.presser is not None else TERMINAL
        wait_drained(self.sender.runtime, plan.ids, timeout=timeout, statuses=settled)

    def quiet_faults(self, report: Report) -> None:
        """The platform healthy again for the drain's tail and the checks."""
        if self.injector is None:
            return
        self.injector.quiet()
        report.fault_seconds = round(self.injector.seconds_on, 1)
        if self.injector.stats.revokes:
            report.faults["revoke"] = self.injector.stats.revokes
        if self.injector.stats.latency_windows:
            report.faults["latency windows"] = self.injector.stats.latency_windows

    def stop(self) -> None:
        for thread in (self.killer, self.injector, self.presser):
            if thread is not None:
                thread.stop.set()


def _pacing(kills: int, batches: int, killer: Killer | None) -> Callable[[int], bool]:
    """Batch i may go once enough kills happened: sending spans the first ~3/4 of the kills."""
    if killer is None or kills == 0 or batches == 0:
        return lambda index: True
    span = 0.75 * kills
    return lambda index: killer.kills >= math.floor(index * span / batches) or killer.done.is_set()


def run_crash(options: ChaosOptions, workdir: Path) -> Report:
    """The crash scenario (with `options.faults`); see the package's docstring."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    report = Report(
        scenario="crash" + (" + faults" if options.faults else ""), tickets=options.tickets, workdir=str(workdir)
    )
    workdir.mkdir(parents=True, exist_ok=True)
    latency = "latency" in options.faults
    protocol = short_timeout_protocol(workdir, options.session_timeout) if latency else PROTOCOL_YAML
    incidents = max(4, round(options.tickets * options.note_share / 3))
    setup = set_up(workdir, seed=options.seed, incidents=incidents, settings=options.settings, protocol=protocol)
    crew: Crew | None = None
    try:
        plan = plan_tickets(
            options.tickets, rng, setup.nodes, note_share=options.note_share, follower_share=options.follower_share
        )
        setup.runtime.start()
        crew = Crew.hire(options, setup, plan, rng)
        crew.start()
        crew.wait_sent(options.deadline, report)
        _restart_if_dead(setup.runtime)
        crew.drain_under_faults(plan, options.drain_timeout)
        crew.quiet_faults(report)  # the settle phase: a healthy platform for the tail and the checks
        rows = wait_drained(setup.runtime, plan.ids, timeout=options.drain_timeout)
        if crew.presser is not None:
            rows = _operator_done(crew.presser, options, setup.runtime, plan, report)
        late = LATE in options.faults
        if late:
            rows = _late_writes_landed(setup, plan, options)
        expected = late and options.late_delay > options.settings.settle_time
        finish(report, setup, plan, rows, duplicates_expected=expected)
    finally:
        if crew is not None:
            crew.stop()
        setup.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _late_writes_landed(setup: Setup, plan: Plan, options: ChaosOptions) -> dict[str, dict[str, Any]]:
    """Every held write applied on the platform, and the element given the time to find the
    duplicates they made (a cycle each Processing Interval while a re-sent ticket is watched):
    until Duplicates Detected has not moved for a few intervals. The table then."""
    deadline = time.monotonic() + options.late_delay + 60
    while setup.platform.state().get("late_pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    quiet = max(3.0 * options.settings.processing_interval, 3.0)
    seen, since = setup.runtime.param("Duplicates Detected"), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.2)
        now = setup.runtime.param("Duplicates Detected")
        if now != seen:
            seen, since = now, time.monotonic()
    return wait_drained(setup.runtime, plan.ids, timeout=options.drain_timeout)


def _restart_if_dead(runtime: RuntimeProcess) -> None:
    """Died on its own, or the killer failed to restart it: a finding, and the drain needs it up."""
    if not runtime.alive():
        runtime.unexpected_exits.append(runtime.proc.returncode if runtime.proc else -1)
        runtime.start()


def _operator_done(
    presser: Presser, options: ChaosOptions, runtime: RuntimeProcess, plan: Plan, report: Report
) -> dict[str, dict[str, Any]]:
    """The operator stops pressing at random, puts processing back on, and presses Retry Errors
    until every ticket is Completed; the table then."""
    presser.stop.set()
    presser.join(90)
    if isinstance(presser, Fiddler):
        report.fiddler = presser.outcomes()
        report.problems += presser.problems
        presser.restore()  # the run's own settings, and processing on, for the drain
    report.retry_presses = presser.presses
    return _retry_until_completed(runtime, plan, options.drain_timeout)


def _retry_until_completed(
    runtime: RuntimeProcess, plan: Plan, timeout: float, rounds: int = 5
) -> dict[str, dict[str, Any]]:
    """Press Retry Errors while tickets are in Error (the platform is healthy again by now)."""
    rows = wait_drained(runtime, plan.ids, timeout=timeout)
    for _ in range(rounds):
        if not any(rows.get(key, {}).get("Status") == "Error" for key in plan.ids):
            break
        press_retry_errors(runtime)
        rows = wait_drained(runtime, plan.ids, timeout=timeout)
    return rows


# -- fail for good --------------------------------------------------------------------------------


def run_fail_for_good(options: FailOptions, workdir: Path) -> Report:
    """One operation fails every time: its tickets end in Error after exactly Max Retries + 1
    tries with the platform's reason; the others complete; Retry Errors completes them once the
    fault is gone."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    report = Report(scenario=f"fail for good ({options.operation})", tickets=options.tickets, workdir=str(workdir))
    settings = ElementSettings(
        max_retries=options.max_retries,
        retry_delay=options.retry_delay,
        concurrency=options.concurrency,
        request_batch=options.request_batch,
    )
    setup = set_up(
        workdir, seed=options.seed, incidents=max(4, round(options.tickets * options.note_share / 3)), settings=settings
    )
    try:
        plan = plan_tickets(
            options.tickets, rng, setup.nodes, note_share=options.note_share, follower_share=options.follower_share
        )
        failing = _failing_tickets(plan, options.operation)
        setup.platform.set_faults({"fail_operation": {options.operation: options.message}})
        setup.runtime.start()
        sender = Sender(setup.runtime, plan, batch=options.wm_batch, deadline=options.drain_timeout)
        sender.start()
        sender.join(options.drain_timeout)
        report.problems += sender.stats.problems
        rows = wait_drained(setup.runtime, plan.ids, timeout=options.drain_timeout)
        report.problems += _check_failed_for_good(rows, failing, plan, options)
        report.problems += _check_tries(setup.platform.state(), len(failing), options)
        errors_before_retry = sum(1 for key in failing if rows.get(key, {}).get("Status") == "Error")
        setup.platform.set_faults({})
        answer = setup.runtime.set_param("Retry Errors", "Retry")
        report.retry_presses = 1
        if answer.status_code != 200:
            report.problems.append(f"Retry Errors: {answer.status_code} {answer.text[:200]}")
        rows = wait_drained(setup.runtime, plan.ids, timeout=options.drain_timeout, statuses=("Completed",))
        finish(report, setup, plan, rows)
        report.errors = errors_before_retry  # the column means "ended in Error", before the retry
    finally:
        setup.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _check_tries(state: Mapping[str, Any], failing: int, options: FailOptions) -> list[str]:
    """The platform failed each failing ticket's item exactly Max Retries + 1 times."""
    injected = state["injected"].get("fail_operation", 0)
    tries = (options.max_retries + 1) * failing
    if injected == tries:
        return []
    return [
        f"the platform failed {injected} {options.operation} items; {failing} tickets x (Max Retries + 1) = {tries}"
    ]


def _failing_tickets(plan: Plan, operation: str) -> set[str]:
    """The tickets whose way goes through `operation`. A follower waits for its leader's
    incident: when creating fails for good, each of them becomes the node's creator in turn."""
    if operation == "create_ticket":
        return set(plan.created) | set(plan.followers)
    if operation in ("ot_create", "update_ticket_ot"):
        return set(plan.created)
    if operation == "add_note":
        return set(plan.noted) | set(plan.followers)
    raise ValueError(f"the fail-for-good scenario knows no ticket that goes through {operation!r}")


def _check_failed_for_good(
    rows: Mapping[str, Mapping[str, Any]], failing: set[str], plan: Plan, options: FailOptions
) -> list[str]:
    """The failing tickets in Error after exactly Max Retries + 1 tries with the platform's
    reason; every other ticket Completed."""
    problems = []
    for key in plan.ids:
        row = rows.get(key)
        if row is None:
            problems.append(f"{key}: not in the table")
        elif key in failing:
            if (
                row.get("Status") != "Error"
                or row.get("Retries") != options.max_retries + 1
                or options.message not in str(row.get("Last Error"))
            ):
                problems.append(
                    f"{key}: expected Error after {options.max_retries + 1} tries with the platform's "
                    f"reason, got {row.get('Status')} / Retries {row.get('Retries')} / {row.get('Last Error')!r}"
                )
        elif row.get("Status") != "Completed":
            problems.append(
                f"{key}: does not need {options.operation} but is {row.get('Status')}: {row.get('Last Error')!r}"
            )
    return problems
