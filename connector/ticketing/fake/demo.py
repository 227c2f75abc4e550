"""`connector demo`: the whole product on one machine, in under a minute, with nothing to set up.

It starts the fake Cherwell/SFyC platform on a free loopback port (seeded with open
incidents), one Ticketing BE element from the repository's protocol.yaml pointed at it, the
management API, and a Ticketing WM stand-in that posts tickets in InterApp batches through
the API. It shows live progress and ends with a summary.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

from attrs import frozen
from rich.console import Console
from rich.live import Live
from rich.table import Table as RichTable

from connector.engine.http import Connection, httpx
from connector.engine.interapp import OutgoingMessage, serialize_call
from connector.service.runtime import ElementConfig, Runtime
from connector.service.serve import api_server, configure_logging, parse_api_address, serve
from connector.ticketing import PROTOCOL_YAML, tickets
from connector.ticketing import fake as fp
from connector.ticketing.fake.inprocess import ticketing_protocol

ELEMENT = "Ticketing BE 01"
REGIONS = ("GDL-ZAP", "GDL-TLQ", "MTY-SPG", "CDMX-IZT", "QRO-CEN", "PUE-CHO")


@frozen(kw_only=True)
class DemoOptions:
    tickets: int = 400
    batch: int = 50
    fault_rate: float = 0.03
    keep_running: bool = False
    api: str = "127.0.0.1:0"
    seed: int = 2026


def wm_tickets(count: int, rng: random.Random, noted_nodes: list[tuple[str, str]]) -> list[dict]:
    """Realistic tickets; about 30% on nodes that already have an open incident (notes)."""
    rows = []
    for i in range(count):
        if noted_nodes and rng.random() < 0.3:
            category, node = rng.choice(noted_nodes)
        else:
            category = rng.choice(("SNR", "Falla de Linea"))
            kind = "NODO" if category == "SNR" else rng.choice(("SG-DS", "SG-US"))
            node = f"{rng.choice(REGIONS)}-{kind}-{rng.randint(1, 4000):04d}"
        summary = f"SNR bajo en {node}" if category == "SNR" else f"Falla de linea en {node}"
        rows.append(
            {
                "ticketId": f"WM-20261126-{i + 1:06d}",
                "category": category,
                "node": node,
                "summary": summary,
                "description": f"{rng.randint(2, 40)} eventos criticos en las ultimas 24 horas.",
                "priority": rng.randint(1, 5),
                "affectedCustomers": rng.randint(0, 2500),
                "detectedAt": "2026-11-26T09:42:00-06:00",
            }
        )
    return rows


def wm_message(rows: list[dict], index: int) -> str:
    members = {"guid": f"demo-batch-{index:04d}", "source": None, "tickets": rows, "returnAddress": None}
    return serialize_call([OutgoingMessage(type="TicketBatchMessage", members=members)])


def run_demo(options: DemoOptions) -> int:
    configure_logging("WARNING")
    return asyncio.run(_demo(options))


async def _demo(options: DemoOptions) -> int:
    console = Console(stderr=False)
    rng = random.Random(options.seed)
    platform = fp.FakePlatform(seed=options.seed)
    noted_nodes = []
    for _ in range(25):
        category = rng.choice(("SNR", "Falla de Linea"))
        node = f"{rng.choice(REGIONS)}-NODO-{rng.randint(1, 4000):04d}"
        platform.add_incident(category, node, status=rng.choice(("New", "Assigned", "In Progress")))
        noted_nodes.append((category, node))
    seeded = len(platform.incidents)
    platform_server, platform_socket = api_server(fp.create_app(platform), "127.0.0.1", 0)
    platform_port = platform_socket.getsockname()[1]
    platform_task = asyncio.create_task(platform_server.serve(sockets=[platform_socket]))
    api_host, api_port = parse_api_address(options.api, token=None)
    state_dir = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    config = ElementConfig(
        name=ELEMENT,
        protocol_path=PROTOCOL_YAML,
        connection=Connection(host="127.0.0.1", port=platform_port, scheme="http", bus_address="BypassProxy"),
        params={
            "Ticketing Processing": 1,
            "Retry Delay": 1,
            "Processing Interval": 5,
            "Max Retries": 5,
            "Cherwell Client ID": fp.DEFAULT_CLIENT_ID,
            "Cherwell Username": fp.DEFAULT_USERNAME,
        },
        secrets={"Cherwell Password": fp.DEFAULT_PASSWORD, "SFyC API Key": fp.DEFAULT_API_KEY},
        store_path=state_dir / "ticketing-be-01.sqlite",
    )
    console.print(
        f"[bold]connector demo[/]: fake Cherwell/SFyC on http://127.0.0.1:{platform_port} "
        f"({seeded} open incidents), element [cyan]{ELEMENT}[/], state in {state_dir}"
    )
    rows = wm_tickets(options.tickets, rng, noted_nodes)
    summary: dict[str, object] = {}

    async def drive(runtime: Runtime, port: int) -> None:
        console.print(f"management API: http://{api_host}:{port}/api/elements")
        platform.faults = fp.Faults(html_503_rate=options.fault_rate)
        host = runtime.elements[ELEMENT]
        started = time.monotonic()
        accepted = 0
        async with httpx.AsyncClient(base_url=f"http://{api_host}:{port}", timeout=30, trust_env=False) as client:
            with Live(console=console, refresh_per_second=8, transient=False) as live:
                for index, start in enumerate(range(0, len(rows), options.batch)):
                    answer = await client.post(
                        f"/api/elements/{ELEMENT.replace(' ', '%20')}/interapp",
                        content=wm_message(rows[start : start + options.batch], index),
                    )
                    answer.raise_for_status()
                    accepted += len(answer.json().get("accepted", []))
                    live.update(_progress(host, platform, accepted, time.monotonic() - started))
                    await asyncio.sleep(0.15)  # WM sends in bursts, not all at once
                while True:
                    counts = tickets.counts(host.element.tables[1000])
                    live.update(_progress(host, platform, accepted, time.monotonic() - started))
                    if counts[tickets.COMPLETED] + counts[tickets.ERROR] >= accepted:
                        break
                    if time.monotonic() - started > 55:
                        console.print("[yellow]still working after 55 s; stopping the demo here[/]")
                        break
                    await asyncio.sleep(0.1)
        console.print()
        counts = tickets.counts(host.element.tables[1000])
        created = len(platform.incidents) - seeded
        summary.update(
            {
                "received": accepted,
                "notes": len(platform.notes),
                "created": created,
                "OTs": len(platform.work_orders),
                "completed": counts[tickets.COMPLETED],
                "errors": counts[tickets.ERROR],
                "requests": int(host.element.get("Requests Sent") or 0),
                "faults injected": sum(platform.injected.values()),
                "time": f"{time.monotonic() - started:.1f} s",
            }
        )
        table = RichTable(title="Summary", show_header=False)
        for key, value in summary.items():
            table.add_row(key, str(value))
        console.print(table)
        if options.keep_running:
            console.print(
                f'[green]still running[/]: try `connector params "{ELEMENT}" --api http://{api_host}:{port}` '
                "or `connector table ...`; Ctrl+C stops."
            )
            await asyncio.Event().wait()

    try:
        code = await serve(
            [config], {PROTOCOL_YAML: ticketing_protocol()}, api_host=api_host, api_port=api_port, until=drive
        )
    finally:
        platform_server.should_exit = True
        await platform_task
    finished = summary.get("completed", 0) + summary.get("errors", 0)  # type: ignore[operator]
    return code if summary and finished == summary["received"] else 1  # every ticket accounted for


def _progress(host, platform: fp.FakePlatform, accepted: int, elapsed: float) -> RichTable:
    counts = tickets.counts(host.element.tables[1000])
    table = RichTable(title=f"{ELEMENT}: {elapsed:4.1f} s")
    for column in ("received from WM", *tickets.STATUSES, "requests sent"):
        table.add_column(column, justify="right")
    table.add_row(
        str(accepted), *(str(counts[s]) for s in tickets.STATUSES), str(int(host.element.get("Requests Sent") or 0))
    )
    return table


__all__ = ["DemoOptions", "run_demo"]
