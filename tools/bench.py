"""How fast a backlog drains, against the floor of bare HTTP (issue 6).

    .venv/bin/python -m tools.bench [--tickets 5000] [--latency-ms 0] [--concurrency 1]
                                      [--sizes 1000,10000,50000] [--memory 100000] [--json FILE]

Every measurement runs the fake platform as its own server process on loopback (a fresh one
per measurement, same seed, so each starts from the same state), and the element as a real
`connector run` process:

- the floor: a bare httpx script that sends exactly the least requests the drain needs
  (login, metadata, the search pages, then ceil(n / 100) batches per operation), nothing else;
- the element: all tickets received with processing disabled, then the time from enabling it
  to the end of the cycle that wrote the last ticket; its ratio to the floor, and its write
  requests against the least;
- the receive rate over the API (100 tickets a message);
- the runtime's peak memory (VmHWM) with --memory tickets in the table;
- per-ticket drain time at each of --sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.engine.http import httpx
from connector.ticketing import cherwell as cw
from connector.ticketing import sfyc
from connector.ticketing.calls import PlatformCall, PlatformReply
from tools.chaos.element import CLIENT_ID, USERNAME, ElementSettings, credentials, write_element_yaml
from tools.chaos.plan import batch_message, open_nodes
from tools.chaos.processes import PLATFORM_CALLS, PlatformProcess, RuntimeProcess

BATCH = 100
SEED = 11
PASSWORD, API_KEY = credentials(SEED)


# -- processes: the chaos tool's (the same platform and `connector run`, started the same way) --


@contextmanager
def platform_server(workdir: Path, latency: float = 0.0, incidents: int = 0) -> Iterator[PlatformProcess]:
    platform = PlatformProcess(seed=SEED, password=PASSWORD, api_key=API_KEY, log_path=workdir / "platform.log")
    try:
        if incidents:
            platform.seed_incidents(incidents, SEED)
        if latency:
            platform.set_faults({"latency": latency})
        yield platform
    finally:
        platform.stop()


@contextmanager
def runtime(platform: PlatformProcess, workdir: Path, concurrency: int) -> Iterator[RuntimeProcess]:
    settings = ElementSettings(request_batch=BATCH, concurrency=concurrency, processing_interval=3600)
    element, env = write_element_yaml(
        workdir, platform.port, password=PASSWORD, api_key=API_KEY, settings=settings, processing=False
    )
    process = RuntimeProcess(element, env, log_path=workdir / "runtime.log")
    process.start()
    try:
        yield process
    finally:
        process.terminate()
        process.close()


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used: what a drain costs, whatever else the
    machine runs (its wall time moves with the load; this moves far less)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the scenario --------------------------------------------------------------------------------


def open_incidents(platform: PlatformProcess) -> list[tuple[str, str]]:
    return open_nodes(platform.state())


def wm_tickets(n: int, notes_on: list[tuple[str, str]], prefix: str = "WM") -> list[dict[str, Any]]:
    """n tickets; 30% on the nodes of open incidents (they become notes), the rest on new nodes."""
    rng = random.Random(n)
    rows = []
    for i in range(n):
        if notes_on and i % 10 < 3:
            category, node = notes_on[(i // 10 * 3 + i % 10) % len(notes_on)]
        else:
            category, node = rng.choice(("SNR", "Falla de Linea")), f"BENCH-NODO-{i:06d}"
        rows.append(
            {
                "ticketId": f"{prefix}-{i:06d}",
                "category": category,
                "node": node,
                "summary": f"{category} en {node}",
                "description": "Bench ticket.",
                "priority": 2,
            }
        )
    return rows


def send_all(element: RuntimeProcess, rows: list[dict[str, Any]]) -> float:
    """POST the tickets 100 a message; returns tickets stored per second."""
    start = time.perf_counter()
    for index in range(0, len(rows), BATCH):
        element.post_interapp(batch_message(rows[index : index + BATCH], f"bench-{index}")).raise_for_status()
    return len(rows) / (time.perf_counter() - start)


def element_drain(element: RuntimeProcess, n: int, timeout: float = 1800.0) -> float:
    """Seconds from enabling processing to the end of the cycle that completed the last ticket.

    The end is the element's own Last Cycle Start + Last Cycle Duration, so the bench's slow
    polling (every 100 ms, to leave the runtime's event loop alone) adds nothing to it.
    """
    enabled_at = time.time()
    element.set_param("Ticketing Processing", "Enabled").raise_for_status()
    while time.time() - enabled_at < timeout:
        time.sleep(0.1)
        if element.param("Tickets Completed") == n:
            return float(element.param("Last Cycle Start")) + float(element.param("Last Cycle Duration")) - enabled_at
        if element.param("Tickets Error"):
            raise RuntimeError(f"tickets in Error during the bench: {element.param('Last Cycle Result')}")
    raise RuntimeError(f"not drained within {timeout:g} s")


# -- the floor: bare httpx, the least requests ---------------------------------------------------


class Bare:
    """A bare httpx client that sends platform calls and counts them."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=120, trust_env=False)
        self.requests = 0
        self._lock = threading.Lock()

    def send(self, call: PlatformCall) -> PlatformReply:
        with self._lock:
            self.requests += 1
        answer = self.client.request(
            call.method,
            call.path,
            headers=dict(call.headers),
            content=None if call.body is None else call.body.encode(),
        )
        return PlatformReply(status=answer.status_code, reason=answer.reason_phrase, body=answer.text)


def _node(row: dict[str, Any]) -> tuple[str, str]:
    return row["category"].casefold(), row["node"].casefold()


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for index in range(0, len(items), BATCH):
        yield items[index : index + BATCH]


class Floor:
    """The least requests a drain needs, sent by `Bare`: a login, the metadata, the search pages
    of open incidents, then ceil(n / 100) batches per operation. The batches of one operation go
    `width` at a time (1: one after the other), the operations one after the other."""

    incident: cw.BusinessObject  # the schemas, looked up in the timed part
    note: cw.BusinessObject

    def __init__(self, url: str, width: int = 1) -> None:
        self.bare = Bare(url)
        self.width = width
        self.token = ""
        self.open_by_node: dict[tuple[str, str], cw.Record] = {}

    def drain(self, rows: list[dict[str, Any]]) -> tuple[float, int]:
        """(seconds, requests) to drain `rows`."""
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.width) as pool:
            self._prepare()
            notes = [r for r in rows if _node(r) in self.open_by_node]
            creates = [r for r in rows if _node(r) not in self.open_by_node]
            self._each(pool, notes, self._add_notes)
            created = [pair for chunk in self._each(pool, creates, self._create) for pair in chunk]
            ordered = [pair for chunk in self._each(pool, created, self._order) for pair in chunk]
            self._each(pool, ordered, self._update)
        return time.perf_counter() - start, self.bare.requests

    def _each(self, pool: ThreadPoolExecutor, items: list[Any], send: Callable[[list[Any]], Any]) -> list[Any]:
        chunks = _batches(items)
        return list(pool.map(send, chunks)) if self.width > 1 else [send(chunk) for chunk in chunks]

    def _prepare(self) -> None:
        """The login, the business objects' ids and schemas, and the open incidents by node."""
        send = self.bare.send
        self.token = cw.parse_token(send(cw.login_call(CLIENT_ID, USERNAME, PASSWORD))).access_token
        incident_id = cw.parse_summary(send(cw.summary_call(self.token, cw.INCIDENT)), cw.INCIDENT)
        note_id = cw.parse_summary(send(cw.summary_call(self.token, cw.JOURNAL)), cw.JOURNAL, member=cw.NOTE)
        self.incident = cw.parse_schema(
            send(cw.schema_call(self.token, incident_id)), cw.INCIDENT, incident_id, cw.INCIDENT_FIELDS
        )
        self.note = cw.parse_schema(send(cw.schema_call(self.token, note_id)), cw.NOTE, note_id, cw.NOTE_FIELDS)
        page = 1
        while True:
            call = cw.search_call(
                self.token,
                self.incident,
                cw.existing_incidents_filters(),
                cw.INCIDENT_RESULT_FIELDS,
                page=page,
                page_size=500,
            )
            found = cw.parse_search(send(call), self.incident)
            for record in found.records:
                self.open_by_node.setdefault((record.get("Category").casefold(), record.get("Node").casefold()), record)
            if not found.has_more:
                break
            page += 1

    def _add_notes(self, chunk: list[dict[str, Any]]) -> None:
        saves = [
            cw.Save(
                bo=self.note,
                values={
                    "ParentRecID": self.open_by_node[_node(r)].rec_id,
                    "ParentTypeID": self.incident.bus_ob_id,
                    "Details": f"[{r['ticketId']}] {r['summary']}",
                },
            )
            for r in chunk
        ]
        cw.parse_save_batch(self.bare.send(cw.save_batch_call(self.token, "add_note", saves)), saves)

    def _create(self, chunk: list[dict[str, Any]]) -> list[tuple[dict[str, Any], cw.SaveResult]]:
        saves = [
            cw.Save(
                bo=self.incident,
                values={
                    "Category": r["category"],
                    "ShortDescription": r["summary"],
                    "Description": r["description"],
                    "Priority": str(r["priority"]),
                    "Node": r["node"],
                    "ExternalID": r["ticketId"],
                    "Source": "DataMiner Ticketing BE",
                },
            )
            for r in chunk
        ]
        answer = self.bare.send(cw.save_batch_call(self.token, "create_ticket", saves))
        return list(zip(chunk, cw.parse_save_batch(answer, saves), strict=True))

    def _order(self, chunk: list[tuple[dict[str, Any], cw.SaveResult]]) -> list[tuple[cw.SaveResult, str]]:
        orders = [
            sfyc.OrderRequest(
                ticket=res.public_id,
                referencia=r["ticketId"],
                categoria=r["category"],
                nodo=r["node"],
                descripcion=r["summary"],
                prioridad=r["priority"],
            )
            for r, res in chunk
        ]
        results = sfyc.parse_create_orders(self.bare.send(sfyc.create_orders_call(API_KEY, orders)), orders)
        return [(res, result.ot) for (_, res), result in zip(chunk, results, strict=True)]

    def _update(self, chunk: list[tuple[cw.SaveResult, str]]) -> None:
        saves = [cw.Save(bo=self.incident, rec_id=res.rec_id, values={"OTNumber": ot}) for res, ot in chunk]
        cw.parse_save_batch(self.bare.send(cw.save_batch_call(self.token, "update_ticket_ot", saves)), saves)


def floor_drain(url: str, rows: list[dict[str, Any]], width: int = 1) -> tuple[float, int]:
    """The least requests for the drain; (seconds, requests)."""
    return Floor(url, width).drain(rows)


def least_writes(n: int, notes: int) -> int:
    return math.ceil(notes / BATCH) + 3 * math.ceil((n - notes) / BATCH)


WRITE_CALLS = ("save_batch", "ot_create")


# -- measurements ---------------------------------------------------------------------------------


def measure_drain(n: int, *, latency: float = 0.0, concurrency: int = 1, with_floor: bool = True) -> dict[str, Any]:
    incidents = max(1, int(n * 0.3 / 0.8 * 1.1))  # 80% of seeded incidents are open: enough nodes for 30%
    result: dict[str, Any] = {"tickets": n, "latency_ms": latency * 1000, "concurrency": concurrency}
    notes = sum(1 for i in range(n) if i % 10 < 3)
    if with_floor:
        with tempfile.TemporaryDirectory() as work, platform_server(Path(work), latency, incidents) as platform:
            rows = wm_tickets(n, open_incidents(platform)[:notes])
            result["floor_s"], result["floor_requests"] = floor_drain(platform.url, rows)
        if concurrency > 1:  # the same least requests, the batches `concurrency` at a time
            with tempfile.TemporaryDirectory() as work2, platform_server(Path(work2), latency, incidents) as platform:
                rows = wm_tickets(n, open_incidents(platform)[:notes])
                result["concurrent_floor_s"], _ = floor_drain(platform.url, rows, width=concurrency)
    with tempfile.TemporaryDirectory() as work, platform_server(Path(work), latency, incidents) as platform:
        rows = wm_tickets(n, open_incidents(platform)[:notes])
        with runtime(platform, Path(work), concurrency) as element:
            result["receive_per_s"] = send_all(element, rows)
            before = platform.state()["requests"]
            assert element.proc is not None
            cpu_before = cpu_seconds(element.proc.pid)
            result["element_s"] = element_drain(element, n)
            result["element_cpu_s"] = cpu_seconds(element.proc.pid) - cpu_before
            result["peak_mb"] = peak_memory_mb(element.proc.pid)
        after = platform.state()["requests"]
        # The platform counts requests by call (and save items by operation): count calls.
        result["element_requests"] = sum(after.get(k, 0) - before.get(k, 0) for k in PLATFORM_CALLS)
        result["element_writes"] = sum(after.get(k, 0) - before.get(k, 0) for k in WRITE_CALLS)
        result["least_writes"] = least_writes(n, notes)
    result["per_ticket_ms"] = result["element_s"] / n * 1000
    if with_floor:
        result["ratio"] = result["element_s"] / result["floor_s"]
    return result


def measure_memory(n: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as work,
        platform_server(Path(work)) as platform,
        runtime(platform, Path(work), 1) as element,
    ):
        rate = send_all(element, wm_tickets(n, []))
        assert element.proc is not None
        return {"tickets": n, "receive_per_s": rate, "peak_mb": peak_memory_mb(element.proc.pid)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--sizes", default="1000,10000,50000", help="per-ticket drain sizes ('' to skip)")
    parser.add_argument("--memory", type=int, default=100_000, help="tickets for the memory run (0 to skip)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="drain runs; the one with the median ratio is shown (this VM's disk and CPU vary)",
    )
    parser.add_argument(
        "--store",
        metavar="postgresql://USER@HOST:PORT/DB",
        help="instead: the drain with the store in PostgreSQL against SQLite, and the takeover (tools.bench_pg)",
    )
    parser.add_argument("--json", type=Path)
    return parser


def line(name: str, value: str) -> None:
    print(f"  {name:<34}{value}")


def drains(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """The drain against the floor, --repeat times; the run of the median ratio shown."""
    runs = sorted(
        (
            measure_drain(args.tickets, latency=args.latency_ms / 1000, concurrency=args.concurrency)
            for _ in range(max(1, args.repeat))
        ),
        key=lambda run: run["ratio"],
    )
    main_run = runs[len(runs) // 2]
    report["drain"] = main_run
    report["drain_ratios"] = [run["ratio"] for run in runs]
    print(
        f"drain of {args.tickets} tickets (30% notes), batch {BATCH}, latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}"
    )
    line("floor (bare httpx)", f"{main_run['floor_s']:>9.3f} s  {main_run['floor_requests']:>6} requests")
    line("element", f"{main_run['element_s']:>9.3f} s  {main_run['element_requests']:>6} requests")
    ratios = ", ".join(f"{run['ratio']:.2f}" for run in runs)
    line("ratio (target <= 1.25)", f"{main_run['ratio']:>9.3f}  (median of {len(runs)}: {ratios})")
    report["drain_runs"] = [{k: run[k] for k in ("floor_s", "element_s", "element_cpu_s", "ratio")} for run in runs]
    # This VM's speed drifts by a third within a minute: the floor's own runs spread as much as
    # the ratio does, so the ratio of the two medians is shown too.
    report["ratio_of_medians"] = statistics.median(run["element_s"] for run in runs) / statistics.median(
        run["floor_s"] for run in runs
    )
    line("median element / median floor", f"{report['ratio_of_medians']:>9.3f}")
    line("each run, floor / element (s)", ", ".join(f"{run['floor_s']:.3f}/{run['element_s']:.3f}" for run in runs))
    if "concurrent_floor_s" in main_run:
        least = main_run["element_requests"] * args.latency_ms / 1000 / args.concurrency
        line(f"bare httpx, {args.concurrency} batches at a time", f"{main_run['concurrent_floor_s']:>9.3f} s")
        line("requests x latency / concurrency", f"{least:>9.3f} s  (x 1.3 = {least * 1.3:.3f} s)")
    cpu = ", ".join(f"{run['element_cpu_s']:.2f}" for run in runs)
    line("element CPU (user + system)", f"{statistics.median(run['element_cpu_s'] for run in runs):>9.3f} s  ({cpu})")
    line("write requests / least", f"{main_run['element_writes']:>9} / {main_run['least_writes']}")
    line("receive rate (target >= 5,000/s)", f"{main_run['receive_per_s']:>9,.0f} tickets/s")


def memory(args: argparse.Namespace, report: dict[str, Any]) -> None:
    report["memory"] = measured = measure_memory(args.memory)
    line(f"peak memory, {args.memory} tickets", f"{measured['peak_mb']:>9.1f} MB (target <= 300)")
    line("receive rate at that size", f"{measured['receive_per_s']:>9,.0f} tickets/s")


def sizes(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Per-ticket drain time at each of --sizes, and the largest against the smallest."""
    report["sizes"] = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        # A drain under a second swings by half on this VM: the small sizes take the median of 3.
        tries = sorted(
            (
                measure_drain(size, with_floor=False, concurrency=args.concurrency, latency=args.latency_ms / 1000)
                for _ in range(3 if size < 10_000 else 1)
            ),
            key=lambda run: run["per_ticket_ms"],
        )
        run = tries[len(tries) // 2]
        report["sizes"].append(run)
        line(
            f"per ticket at {size}",
            f"{run['per_ticket_ms']:>9.3f} ms  ({run['element_s']:.2f} s, peak {run['peak_mb']:.0f} MB)",
        )
    if len(report["sizes"]) >= 2:
        ratio = report["sizes"][-1]["per_ticket_ms"] / report["sizes"][0]["per_ticket_ms"]
        report["size_ratio"] = ratio
        line("largest / smallest (target <= 1.3)", f"{ratio:>9.3f}")


def main() -> int:
    args = build_parser().parse_args()
    if args.store:
        from tools.bench_pg import main as store_main  # imports this module: not at the top

        return store_main(args)
    report: dict[str, Any] = {}
    drains(args, report)
    if args.memory:
        memory(args, report)
    sizes(args, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
