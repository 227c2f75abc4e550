"""The command: `python -m tools.chaos ...` from the repository's root; see the package's docstring."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tools.chaos
from tools.chaos.actors import FAULT_KINDS, KNOWN_FAULTS, LIGHT_FAULTS
from tools.chaos.element import ElementSettings
from tools.chaos.report import Report, render, write_json
from tools.chaos.scenarios import ChaosOptions, FailOptions, run_crash, run_fail_for_good


def parse_faults(text: str) -> tuple[str, ...]:
    """The --faults words: a comma-separated list of kinds, all and light among them (all,late),
    or none."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words in (["none"], []):
        return ()
    groups = {"all": FAULT_KINDS, "light": LIGHT_FAULTS}
    kinds = [kind for word in words for kind in groups.get(word, (word,))]
    unknown = sorted(set(kinds) - set(KNOWN_FAULTS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown faults {unknown}; known: {', '.join(KNOWN_FAULTS)}, all, light, none"
        )
    return tuple(dict.fromkeys(kinds))


def build_parser() -> argparse.ArgumentParser:
    assert tools.chaos.__doc__ is not None
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=tools.chaos.__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the runtime (at least)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--faults",
        type=parse_faults,
        default=FAULT_KINDS,
        help=f"comma-separated: {', '.join(KNOWN_FAULTS)}, all (default: every one but late), light; or none",
    )
    parser.add_argument(
        "--late-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="with the late fault: a held write is applied this long after its answer was lost "
        "(default 1; above --settle-time the duplicates it makes must all be detected)",
    )
    parser.add_argument(
        "--late-rate",
        type=float,
        metavar="RATE",
        help="with the late fault: the share of writes (save and OT batches) held (default: --fault-rate)",
    )
    parser.add_argument(
        "--settle-time", type=float, default=3.0, help="Settle Time of the element, seconds (default 3)"
    )
    parser.add_argument("--fault-rate", type=float, default=0.03, help="rate of each rate fault (default 0.03)")
    parser.add_argument(
        "--fail-operation",
        default="ot_create",
        help="the operation of the fail-for-good scenario (ot_create, create_ticket, add_note, "
        "update_ticket_ot); 'none' skips the scenario",
    )
    parser.add_argument("--fail-tickets", type=int, default=200)
    parser.add_argument(
        "--followers",
        type=float,
        default=0.05,
        help="share of tickets on the node of an earlier created ticket (default 0.05)",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="Max Concurrent Requests of the element (default 1)")
    parser.add_argument("--request-batch", type=int, default=20, help="Max Tickets Per Request (default 20)")
    parser.add_argument("--max-retries", type=int, default=10, help="Max Retries of the element (default 10)")
    parser.add_argument(
        "--retry-errors",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="press Retry Errors about every SECONDS during the run, and at the end until every "
        "ticket is Completed (default 0: never); pair with a low --max-retries",
    )
    parser.add_argument(
        "--fiddle",
        action="store_true",
        help="a careless operator during the crash run (tools.chaos.fiddler): random values of the "
        "settings a user may set, processing off and on, Retry Errors (every --retry-errors s, "
        "default 0.3), and sets that must be refused with 4xx (read-only, null, out of range)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run agents sharing the element through this PostgreSQL server instead (tools.chaos.agents_run); "
        "a database of its own is created and dropped",
    )
    parser.add_argument("--agents", type=int, default=3, help="with --postgres: how many agents (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--workdir", type=Path, help="keep logs, YAML and store here (default: a temp dir, removed when the run passes)"
    )
    return parser


def run(args: argparse.Namespace, base: Path) -> list[Report]:
    """The crash scenario, then (unless --fail-operation none) the fail-for-good one."""
    settings = ElementSettings(
        concurrency=args.concurrency,
        request_batch=args.request_batch,
        max_retries=args.max_retries,
        settle_time=args.settle_time,
    )
    crash = ChaosOptions(
        tickets=args.tickets,
        kills=args.kills,
        seed=args.seed,
        faults=args.faults,
        fault_rate=args.fault_rate,
        follower_share=args.followers,
        retry_errors_every=args.retry_errors,
        fiddle=args.fiddle,
        settings=settings,
        late_delay=args.late_delay,
        late_rate=args.late_rate,
    )
    reports = [run_crash(crash, base / "crash")]
    if args.fail_operation != "none":
        fail = FailOptions(
            tickets=args.fail_tickets,
            seed=args.seed,
            operation=args.fail_operation,
            concurrency=args.concurrency,
            request_batch=args.request_batch,
        )
        reports.append(run_fail_for_good(fail, base / "fail"))
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        # An earlier run's store would be restarted as this run's element: its tickets already
        # Completed on a fresh platform, every one reported lost.
        parser.error(f"--workdir {args.workdir} is not empty (an earlier run's store?): give a new or empty folder")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    if args.postgres:
        from tools.chaos.agents_run import main_agents

        return main_agents(args, base)
    reports = run(args, base)
    print(render(reports))
    for report in reports:
        for problem in report.problems[:15]:
            print(f"{report.scenario}: {problem}", file=sys.stderr)
    if args.json:
        write_json(reports, args.json)
    passed = all(report.ok for report in reports)
    if passed and args.workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"logs, element YAML and stores: {base}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
