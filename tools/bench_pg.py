"""`python -m tools.bench --store postgresql://USER@HOST:PORT/DB`: the drain on PostgreSQL against SQLite.

Each repeat drains the same backlog twice, each time from a fresh platform: once with the
element's store in SQLite (the default), once in PostgreSQL (a database of its own on the given
server, dropped afterwards); the ratio of the two times is the figure (target: within 1.5x).
Then the takeover: two agents share the element, the owner is SIGKILLed, and the seconds until
the other runs it are measured; and the same after a SIGTERM (a hand-over).

The figure depends on the server's own settings: a server with `fsync=off` or
`synchronous_commit=off` is not the durability SQLite's `synchronous=FULL` gives; run it on a
server with the defaults for the figure to mean anything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.bench import (
    API_KEY,
    BATCH,
    PASSWORD,
    element_drain,
    line,
    measure_drain,
    open_incidents,
    platform_server,
    send_all,
    wm_tickets,
)
from tools.chaos.agents import Cluster, fresh_database
from tools.chaos.element import ElementSettings, write_element_yaml
from tools.chaos.processes import PlatformProcess, RuntimeProcess


@contextmanager
def pg_runtime(platform: PlatformProcess, workdir: Path, url: str) -> Iterator[RuntimeProcess]:
    """A `connector run --store URL` of the bench's element, once it runs the element."""
    settings = ElementSettings(request_batch=BATCH, processing_interval=3600)
    element, env = write_element_yaml(
        workdir, platform.port, password=PASSWORD, api_key=API_KEY, settings=settings, processing=False
    )
    process = RuntimeProcess(element, env, log_path=workdir / "runtime.log", extra_args=("--store", url))
    process.start()
    try:
        Cluster.wait_running(process)
        yield process
    finally:
        process.terminate()
        process.close()


def pg_drain(n: int, server: str) -> dict[str, Any]:
    incidents = max(1, int(n * 0.3 / 0.8 * 1.1))
    notes = sum(1 for i in range(n) if i % 10 < 3)
    with (
        tempfile.TemporaryDirectory() as work,
        platform_server(Path(work), 0.0, incidents) as platform,
        fresh_database(server, "bench") as url,
    ):
        rows = wm_tickets(n, open_incidents(platform)[:notes])
        with pg_runtime(platform, Path(work), url) as element:
            receive = send_all(element, rows)
            seconds = element_drain(element, n)
    return {"element_s": seconds, "receive_per_s": receive}


def takeover(server: str) -> dict[str, float]:
    """Seconds until a second agent runs the element: after a SIGKILL of its owner, after a SIGTERM."""
    with (
        tempfile.TemporaryDirectory() as work,
        platform_server(Path(work)) as platform,
        fresh_database(server, "bench") as url,
    ):
        element, env = write_element_yaml(Path(work), platform.port, password=PASSWORD, api_key=API_KEY)
        cluster = Cluster(element, env, url, count=2, workdir=Path(work))
        try:
            cluster.start()
            killed = cluster.kill_owner()
            handed = cluster.terminate_owner()
        finally:
            cluster.stop()
            cluster.close()
    return {"sigkill_s": killed, "sigterm_s": handed}


def main(args: argparse.Namespace) -> int:
    runs = []
    for _ in range(max(1, args.repeat)):
        sqlite = measure_drain(args.tickets, with_floor=False)
        postgres = pg_drain(args.tickets, args.store)
        runs.append({"sqlite_s": sqlite["element_s"], "postgres_s": postgres["element_s"]})
        runs[-1]["ratio"] = runs[-1]["postgres_s"] / runs[-1]["sqlite_s"]
        runs[-1]["receive_sqlite"], runs[-1]["receive_postgres"] = sqlite["receive_per_s"], postgres["receive_per_s"]
    runs.sort(key=lambda run: run["ratio"])
    middle = runs[len(runs) // 2]
    print(f"drain of {args.tickets} tickets (30% notes), batch {BATCH}: SQLite against PostgreSQL")
    line("SQLite", f"{middle['sqlite_s']:>9.3f} s")
    line("PostgreSQL", f"{middle['postgres_s']:>9.3f} s")
    ratios = ", ".join(f"{run['ratio']:.2f}" for run in runs)
    line("ratio (target <= 1.5)", f"{middle['ratio']:>9.3f}  (median of {len(runs)}: {ratios})")
    line(
        "receive rate SQLite / PostgreSQL",
        f"{middle['receive_sqlite']:,.0f} / {middle['receive_postgres']:,.0f} tickets/s",
    )
    report: dict[str, Any] = {"store_runs": runs, "store_ratio": middle["ratio"]}
    report["takeover"] = times = takeover(args.store)
    line("takeover after SIGKILL", f"{times['sigkill_s']:>9.2f} s")
    line("hand-over after SIGTERM", f"{times['sigterm_s']:>9.2f} s")
    report["ratio_of_medians"] = statistics.median(r["postgres_s"] for r in runs) / statistics.median(
        r["sqlite_s"] for r in runs
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0
