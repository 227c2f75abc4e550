"""`connector demo`: the whole product on one machine, in under a minute, with nothing to set up.

It starts the fake Cherwell/SFyC platform on a free loopback port (seeded with open
incidents), one Ticketing BE element from the repository's protocol.yaml pointed at it, the
management API, and a Ticketing WM stand-in that posts tickets in InterApp batches through
the API. It shows live progress and ends with a summary.

Ctrl-C (or SIGTERM) prints "interrupted" and the summary so far, and exits 130. The element's
state lives in a temporary folder, removed at the end unless `--keep`.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from attrs import frozen
from rich.console import Console
from rich.live import Live
from rich.table import Table as RichTable

from connector.commandline import EXIT_CANNOT_LISTEN, EXIT_INTERRUPTED, EXIT_UNREADABLE
from connector.engine.http import Connection, httpx
from connector.engine.interapp import OutgoingMessage, serialize_call
from connector.service.runtime import ElementConfig, ElementHost, Runtime
from connector.service.serve import ApiAddressError, api_server, configure_logging, parse_api_address, serve
from connector.ticketing import PROTOCOL_YAML, ticket_table, tickets
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
    keep: bool = False  # keep the element's state folder (removed otherwise)
    api: str = "127.0.0.1:0"
    seed: int = 2026
    log_level: str = "WARNING"
    log_format: str = "text"


def wm_tickets(count: int, rng: random.Random, noted_nodes: list[tuple[str, str]]) -> list[dict[str, Any]]:
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


def wm_message(rows: list[dict[str, Any]], index: int) -> str:
    members = {"guid": f"demo-batch-{index:04d}", "source": None, "tickets": rows, "returnAddress": None}
    return serialize_call([OutgoingMessage(type="TicketBatchMessage", members=members)])


def run_demo(options: DemoOptions) -> int:
    """The demo's exit code: 0 every ticket accounted for, 1 not, 130 interrupted (Ctrl-C), 2 the
    API's address is unusable or taken (then nothing was started or created)."""
    configure_logging(options.log_level, options.log_format)
    try:
        api_host, api_port = parse_api_address(options.api, token=None)
    except ApiAddressError as exc:
        print(f"connector demo: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    demo = _Demo(options, api_host)
    try:
        return asyncio.run(_demo(demo, api_host, api_port))
    except ApiAddressError as exc:
        print(f"connector demo: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    finally:
        demo.clean_up()


async def _demo(demo: _Demo, api_host: str, api_port: int) -> int:
    started: list[tuple[Any, asyncio.Task[None]]] = []

    def start_platform_and_element() -> list[ElementConfig]:
        # Called once the API's address is ours: nothing is started or created before that.
        platform_server, platform_socket = api_server(fp.create_app(demo.platform), "127.0.0.1", 0)
        started.append((platform_server, asyncio.create_task(platform_server.serve(sockets=[platform_socket]))))
        return [demo.element_config(platform_socket.getsockname()[1])]

    try:
        code = await serve(
            start_platform_and_element,
            {PROTOCOL_YAML: ticketing_protocol()},
            api_host=api_host,
            api_port=api_port,
            until=demo.drive,
        )
    finally:
        for platform_server, platform_task in started:
            platform_server.should_exit = True
            await platform_task
    if demo.interrupted:
        return EXIT_INTERRUPTED
    return code if demo.all_accounted_for() else 1


class _Demo:
    """One run: the seeded fake platform, WM's tickets, and what the console shows."""

    def __init__(self, options: DemoOptions, api_host: str) -> None:
        self.options = options
        self.console = Console(stderr=False)
        self.api_host = api_host
        rng = random.Random(options.seed)
        self.platform = fp.FakePlatform(seed=options.seed)
        noted_nodes = []
        for _ in range(25):
            category = rng.choice(("SNR", "Falla de Linea"))
            node = f"{rng.choice(REGIONS)}-NODO-{rng.randint(1, 4000):04d}"
            self.platform.add_incident(category, node, status=rng.choice(("New", "Assigned", "In Progress")))
            noted_nodes.append((category, node))
        self.seeded = len(self.platform.incidents)
        self.rows = wm_tickets(options.tickets, rng, noted_nodes)
        self.accepted = 0
        self.finished: int | None = None  # tickets in Completed or Error at the end
        self.started = time.monotonic()
        self.interrupted = False
        self.state_dir: Path | None = None

    def clean_up(self) -> None:
        """Remove the element's state folder, unless --keep (then say where it is)."""
        if self.state_dir is None:
            return
        if self.options.keep:
            self.console.print(f"state kept in {self.state_dir}", markup=False, highlight=False)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def element_config(self, platform_port: int) -> ElementConfig:
        state_dir = self.state_dir = Path(tempfile.mkdtemp(prefix="connector-demo-"))
        self.console.print(
            f"[bold]connector demo[/]: fake Cherwell/SFyC on http://127.0.0.1:{platform_port} "
            f"({self.seeded} open incidents), element [cyan]{ELEMENT}[/], state in {state_dir}"
        )
        return ElementConfig(
            name=ELEMENT,
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=platform_port, scheme="http", bus_address="BypassProxy"),
            params={
                "Ticketing Processing": 1,
                "Retry Delay": 1,
                "Processing Interval": 5,
                "Settle Time": 3,  # the demo's platform holds no write: a short wait before a look-up
                "Max Retries": 5,
                "Cherwell Client ID": fp.DEFAULT_CLIENT_ID,
                "Cherwell Username": fp.DEFAULT_USERNAME,
            },
            secrets={"Cherwell Password": fp.DEFAULT_PASSWORD, "SFyC API Key": fp.DEFAULT_API_KEY},
            store_path=state_dir / "ticketing-be-01.sqlite",
        )

    async def drive(self, runtime: Runtime, port: int) -> None:
        """WM's side: send the tickets through the API, watch them settle, show the summary."""
        self.console.print(f"management API: http://{self.api_host}:{port}/api/elements")
        self.platform.faults = fp.Faults(html_503_rate=self.options.fault_rate)
        host = runtime.elements[ELEMENT]
        self.started = time.monotonic()
        base_url = f"http://{self.api_host}:{port}"
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
                with Live(console=self.console, refresh_per_second=8, transient=False) as live:
                    await self._send(client, host, live)
                    await self._settle(host, live)
        except asyncio.CancelledError:  # Ctrl-C (SIGINT) or SIGTERM: what was done so far
            self.interrupted = True
            self.console.print()
            self.console.print("[yellow]interrupted[/]: the summary so far")
            self.console.print(self._summary(host))
            raise
        self.console.print()
        self.console.print(self._summary(host))
        if self.options.keep_running:
            self.console.print(
                f'[green]still running[/]: try `connector params "{ELEMENT}" --api {base_url}` '
                "or `connector table ...`; Ctrl+C stops."
            )
            await asyncio.Event().wait()

    async def _send(self, client: httpx.AsyncClient, host: ElementHost, live: Live) -> None:
        batch = self.options.batch
        for index, start in enumerate(range(0, len(self.rows), batch)):
            answer = await client.post(
                f"/api/elements/{ELEMENT.replace(' ', '%20')}/interapp",
                content=wm_message(self.rows[start : start + batch], index),
            )
            answer.raise_for_status()
            self.accepted += sum(len(r.get("accepted", [])) for r in answer.json().get("replies", []))
            live.update(self._progress(host))
            await asyncio.sleep(0.15)  # WM sends in bursts, not all at once

    async def _settle(self, host: ElementHost, live: Live) -> None:
        while True:
            counts = ticket_table.counts(host.view.tables[1000])
            live.update(self._progress(host))
            if counts[tickets.COMPLETED] + counts[tickets.ERROR] >= self.accepted:
                return
            if time.monotonic() - self.started > 55:
                self.console.print("[yellow]still working after 55 s; stopping the demo here[/]")
                return
            await asyncio.sleep(0.1)

    def _summary(self, host: ElementHost) -> RichTable:
        counts = ticket_table.counts(host.view.tables[1000])
        self.finished = counts[tickets.COMPLETED] + counts[tickets.ERROR]
        summary = {
            "received": self.accepted,
            "notes": len(self.platform.notes),
            "created": len(self.platform.incidents) - self.seeded,
            "OTs": len(self.platform.work_orders),
            "completed": counts[tickets.COMPLETED],
            "errors": counts[tickets.ERROR],
            "requests": _requests_sent(host),
            "faults injected": sum(self.platform.injected.values()),
            "time": f"{time.monotonic() - self.started:.1f} s",
        }
        table = RichTable(title="Summary", show_header=False)
        for key, value in summary.items():
            table.add_row(key, str(value))
        return table

    def _progress(self, host: ElementHost) -> RichTable:
        counts = ticket_table.counts(host.view.tables[1000])
        table = RichTable(title=f"{ELEMENT}: {time.monotonic() - self.started:4.1f} s")
        for column in ("received from WM", *tickets.STATUSES, "requests sent"):
            table.add_column(column, justify="right")
        table.add_row(str(self.accepted), *(str(counts[s]) for s in tickets.STATUSES), str(_requests_sent(host)))
        return table

    def all_accounted_for(self) -> bool:
        """Whether every ticket WM handed over ended Completed or Error."""
        return self.finished is not None and self.finished == self.accepted


def _requests_sent(host: ElementHost) -> int:
    return int(host.view.get("Requests Sent") or 0)


__all__ = ["DemoOptions", "run_demo"]
