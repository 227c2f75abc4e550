"""`connector demo`: the whole product on one machine, in a few seconds, with nothing to set up.

It starts the fake Cherwell/SFyC platform on a free loopback port (seeded with open
incidents), and in one runtime two elements: a Ticketing WM element and a Ticketing BE element
pointed at the platform, with the management API. The network monitoring's tickets reach WM in
bursts, one burst through the API (WM's InterApp parameter), the next as a file in WM's Drop
Folder; WM hands them to BE in TicketBatchMessage batches over InterApp, and BE sends them to
the platform. It shows both elements' progress live and ends with a summary.

Ctrl-C (or SIGTERM) prints "interrupted" and the summary so far, and exits 130. The element's
state lives in a temporary folder, removed at the end unless `--keep`.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from attrs import frozen
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table as RichTable

from connector.commandline import EXIT_CANNOT_LISTEN, EXIT_INTERRUPTED, EXIT_UNREADABLE
from connector.engine.http import Connection, httpx
from connector.engine.interapp import OutgoingMessage, serialize_call
from connector.protocol.loader import load_protocol
from connector.service.runtime import ElementConfig, ElementHost, Runtime
from connector.service.serve import ApiAddressError, api_server, configure_logging, parse_api_address, serve
from connector.ticketing import PROTOCOL_YAML, ticket_table, tickets
from connector.ticketing import fake as fp
from connector.ticketing.fake.demo_view import progress, summary
from connector.ticketing.fake.inprocess import ticketing_protocol
from connector.ticketing.fake.writes import written_twice
from connector.ticketing_wm import PROTOCOL_YAML as WM_PROTOCOL_YAML
from connector.ticketing_wm import outbox

ELEMENT = "Ticketing BE 01"
WM_ELEMENT = "Ticketing WM 01"
INVALID_EVERY = 50  # one ticket in 50 breaks a rule of the contract: WM rejects it where it came in
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
    """Realistic tickets; about 30% on nodes that already have an open incident (notes), and one
    in INVALID_EVERY with a category the contract does not know."""
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
        if (i + 1) % INVALID_EVERY == 0:
            rows[-1]["category"] = "Incendio"
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

    def start_platform_and_elements() -> list[ElementConfig]:
        # Called once the API's address is ours: nothing is started or created before that.
        platform_server, platform_socket = api_server(fp.create_app(demo.platform), "127.0.0.1", 0)
        started.append((platform_server, asyncio.create_task(platform_server.serve(sockets=[platform_socket]))))
        return demo.element_configs(platform_socket.getsockname()[1])

    try:
        code = await serve(
            start_platform_and_elements,
            {PROTOCOL_YAML: ticketing_protocol(), WM_PROTOCOL_YAML: load_protocol(WM_PROTOCOL_YAML)},
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
    """One run: the seeded fake platform, the monitoring's tickets, and what the console shows."""

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
        self.handed: dict[str, int] = {"API": 0, "Drop Folder": 0}  # tickets given to WM, by way
        self.done: bool | None = None  # every ticket accounted for, at the end
        self.started = time.monotonic()
        self.interrupted = False
        self.state_dir: Path | None = None
        self.drop_folder: Path | None = None

    def clean_up(self) -> None:
        """Remove the elements' state folder, unless --keep (then say where it is)."""
        if self.state_dir is None:
            return
        if self.options.keep:
            self.console.print(f"state kept in {self.state_dir}", markup=False, highlight=False)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def element_configs(self, platform_port: int) -> list[ElementConfig]:
        state_dir = self.state_dir = Path(tempfile.mkdtemp(prefix="connector-demo-"))
        drop_folder = self.drop_folder = state_dir / "wm-drop"
        drop_folder.mkdir()
        self.console.print(
            f"[bold]connector demo[/]: fake Cherwell/SFyC on http://127.0.0.1:{platform_port} "
            f"({self.seeded} open incidents); elements [cyan]{WM_ELEMENT}[/] -> [cyan]{ELEMENT}[/], "
            f"state in {state_dir}"
        )
        be = ElementConfig(
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
            element_id="1/1",
        )
        wm = ElementConfig(
            name=WM_ELEMENT,
            protocol_path=WM_PROTOCOL_YAML,
            # WM talks to no HTTP server: its connection is never used.
            connection=Connection(host="127.0.0.1", port=9, scheme="http", bus_address="BypassProxy"),
            params={
                "Destination Element": ELEMENT,
                "Max Tickets Per Batch": self.options.batch,
                "Acknowledge Timeout": 10,
                "Send Interval": 1,
                "Drop Folder": str(drop_folder),
                "Drop Folder Interval": 0.2,
            },
            secrets={},
            store_path=state_dir / "ticketing-wm-01.sqlite",
            element_id="1/2",
        )
        return [be, wm]

    async def drive(self, runtime: Runtime, port: int) -> None:
        """The monitoring's side: hand the tickets to WM, watch them settle, show the summary."""
        self.console.print(f"management API: http://{self.api_host}:{port}/api/elements")
        self.console.print(f"element card: http://{self.api_host}:{port}/ (open it in a browser)")
        self.platform.faults = fp.Faults(html_503_rate=self.options.fault_rate)
        wm, be = runtime.elements[WM_ELEMENT], runtime.elements[ELEMENT]
        self.started = time.monotonic()
        base_url = f"http://{self.api_host}:{port}"
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
                with Live(console=self.console, refresh_per_second=8, transient=False) as live:
                    await self._hand_over(client, wm, be, live)
                    await self._settle(wm, be, live)
        except asyncio.CancelledError:  # Ctrl-C (SIGINT) or SIGTERM: what was done so far
            self.interrupted = True
            self.console.print()
            self.console.print("[yellow]interrupted[/]: the summary so far")
            self.console.print(self._summary(wm, be))
            raise
        self.console.print()
        self.console.print(self._summary(wm, be))
        if self.options.keep_running:
            self.console.print(
                f'[green]still running[/]: try `connector table "{WM_ELEMENT}" "Outgoing Tickets" --api {base_url}` '
                f'or `connector params "{ELEMENT}" ...`; Ctrl+C stops.'
            )
            await asyncio.Event().wait()

    async def _hand_over(self, client: httpx.AsyncClient, wm: ElementHost, be: ElementHost, live: Live) -> None:
        """Bursts of tickets, by turns through the API (WM's InterApp) and as a drop file."""
        batch = self.options.batch
        for index, start in enumerate(range(0, len(self.rows), batch)):
            rows = self.rows[start : start + batch]
            if index % 2 == 0:
                answer = await client.post(
                    f"/api/elements/{WM_ELEMENT.replace(' ', '%20')}/interapp", content=wm_message(rows, index)
                )
                answer.raise_for_status()
                self.handed["API"] += len(rows)
            else:
                self._drop(rows, index)
                self.handed["Drop Folder"] += len(rows)
            live.update(self._progress(wm, be))
            await asyncio.sleep(0.15)  # the monitoring sends in bursts, not all at once

    def _drop(self, rows: list[dict[str, Any]], index: int) -> None:
        # Written under another name and renamed into place: WM never reads half a file.
        assert self.drop_folder is not None
        partial = self.drop_folder / f"burst-{index:04d}.json.tmp"
        partial.write_text(json.dumps({"tickets": rows}), encoding="utf-8")
        partial.replace(partial.with_suffix(""))

    async def _settle(self, wm: ElementHost, be: ElementHost, live: Live) -> None:
        while True:
            live.update(self._progress(wm, be))
            if self._all_settled(wm, be):
                return
            if time.monotonic() - self.started > 55:
                self.console.print("[yellow]still working after 55 s; stopping the demo here[/]")
                return
            await asyncio.sleep(0.1)

    def _all_settled(self, wm: ElementHost, be: ElementHost) -> bool:
        sent = outbox.counts(wm.view.tables[outbox.TABLE])
        received = ticket_table.counts(be.view.tables[1000])
        return sent[outbox.ACKNOWLEDGED] + sent[outbox.REJECTED] == len(self.rows) and received[
            tickets.COMPLETED
        ] + received[tickets.ERROR] == len(be.view.tables[1000])

    def _summary(self, wm: ElementHost, be: ElementHost) -> RichTable:
        self.done = self._all_settled(wm, be) and not written_twice(self.platform)
        return summary(wm, be, self.platform, seeded=self.seeded, offered=len(self.rows), elapsed=self._elapsed())

    def _progress(self, wm: ElementHost, be: ElementHost) -> Group:
        return progress(wm, be, handed=self.handed, elapsed=self._elapsed())

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def all_accounted_for(self) -> bool:
        """Whether every ticket ended Acknowledged or Rejected at WM, and Completed or Error at BE,
        and none is on the platform twice."""
        return bool(self.done)


__all__ = ["DemoOptions", "run_demo"]
