"""What a `GET /metrics` scrape costs, by element count and table size (issue 12).

Builds Ticketing BE element hosts in process (memory store, no transport, not started), fills
each Ticket Overview with N rows and its counters with some traffic, then times the scrape
through the API (httpx's ASGI transport, the token on): the whole answer, as Prometheus gets it.
The scrape reads parameters and counters, never the tables, so its cost should not move with N.

    .venv/bin/python -m tools.bench_metrics --elements 10 --rows 0,1000,10000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from connector.engine import events as ev
from connector.engine.element import internals
from connector.engine.http import Connection, httpx
from connector.engine.store import MemoryStore
from connector.service.api import create_app
from connector.service.runtime import ElementConfig, ElementHost, HostState, Runtime
from connector.ticketing import PROTOCOL_YAML, tickets
from connector.ticketing.fake.inprocess import ticketing_protocol

CALLS = ("login", "search", "create_ticket", "add_note", "create_ot", "update_ticket_ot")


def build(elements: int, rows: int) -> Runtime:
    runtime = Runtime()
    protocol = ticketing_protocol()
    for index in range(1, elements + 1):
        name = f"Ticketing BE {index:02d}"
        config = ElementConfig(
            name=name,
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=9),
            params={},
            secrets={},
            store_path=Path("unused.sqlite"),
        )
        host = ElementHost(config, protocol, runtime=runtime, store=MemoryStore(), element_id=f"1/{index}")
        host.state = HostState.RUNNING
        machine = internals(host.element)
        table = machine.tables[protocol.table("Ticket Overview").id]
        statuses = (tickets.COMPLETED, tickets.ERROR, tickets.IN_PROGRESS, tickets.RECEIVED)
        for row in range(rows):
            table.add_row(f"WM-{row:06d}", {tickets.STATUS: statuses[row % 4], tickets.RETRIES: 0})
        for param, status in zip(
            ("Tickets Completed", "Tickets Error", "Tickets Pending", "Tickets Received"), statuses, strict=True
        ):
            machine.values[protocol.param(param).id] = sum(1 for row in range(rows) if statuses[row % 4] == status)
        machine.values[protocol.param("Last Successful Cycle").id] = time.time()
        for n, call in enumerate(CALLS):
            for outcome_status in (200, 500):
                result = ev.HttpResult(request_id=n, status=outcome_status)
                for _ in range(10):
                    host.metrics.request(call, result, 0.05 * (n + 1))
        for _ in range(20):
            host.metrics.commit_seconds.observe(0.002)
            host.metrics.record(ev.Observe(metric="connector_cycle_duration_seconds", value=3.0))
        host.metrics.record(ev.Count(metric="connector_interapp_tickets_total", amount=rows, labels=("accepted",)))
        runtime.elements[name] = host
    return runtime


async def scrape_times(runtime: Runtime, repeat: int) -> tuple[list[float], int]:
    app = create_app(runtime, token="bench")
    headers = {"Authorization": "Bearer bench"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.get("/metrics", headers=headers)  # warm up
        times = []
        size = 0
        for _ in range(repeat):
            started = time.perf_counter()
            answer = await client.get("/metrics", headers=headers)
            times.append(time.perf_counter() - started)
            size = len(answer.content)
            assert answer.status_code == 200
    return times, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=10)
    parser.add_argument("--rows", default="0,1000,10000", help="rows per element, comma-separated")
    parser.add_argument("--repeat", type=int, default=50)
    options = parser.parse_args()
    print(f"{'elements':>8} {'rows/element':>12} {'median ms':>10} {'p90 ms':>8} {'bytes':>8}")
    for rows in (int(n) for n in options.rows.split(",")):
        runtime = build(options.elements, rows)
        times, size = asyncio.run(scrape_times(runtime, options.repeat))
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"{options.elements:>8} {rows:>12} {statistics.median(times) * 1000:>10.2f} {p90 * 1000:>8.2f} {size:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
