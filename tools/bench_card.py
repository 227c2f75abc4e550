"""How much the element card costs (issue 13): its first page with 100,000 rows in the table, and
what eight open cards do to a drain.

    .venv/bin/python -m tools.bench_card [--rows 100000] [--drain 5000] [--cards 8] [--rounds 5]
                                         [--latency-ms 0] [--json FILE]

Both run the element as a real `connector run` process against the fake platform's own process
(tools.bench's). The render: the card's first page (`/elements/{name}?page=tickets`, every
page's tables rendered) and a live answer, timed over HTTP, as loaded, sorted and filtered. The
drain: 5,000 tickets received with processing off, then the time from enabling it to the end of
the cycle that completed the last one (tools.bench.element_drain), alone and with `--cards`
cards open on the Tickets page; an open card is what card.js does: ask
`/live?since=VERSION` again half a second after each answer. Rounds alternate (alone, with
cards, alone, ...) so that the machine's other load spreads over both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connector.engine.http import httpx
from connector.service.card.live import POLL_MS
from tools.bench import element_drain, open_incidents, platform_server, runtime, send_all, wm_tickets
from tools.chaos.element import ELEMENT
from tools.chaos.processes import RuntimeProcess

CARD = f"/elements/{quote(ELEMENT)}"
RENDER_REPEATS = 7


def timed_get(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = client.get(path, params=params)
    answer.raise_for_status()
    return time.perf_counter() - started


def measure_render(rows: int) -> dict[str, Any]:
    """Seconds for the card's first page with `rows` tickets in Ticket Overview (median and worst)."""
    views = {
        "first_page": {"page": "tickets"},
        "sorted_by_received_desc": {"page": "tickets", "t1000.sort": "-1012"},
        "filtered_status_received": {"page": "tickets", "t1000.f1006": "Received"},
        "search_by_key": {"page": "tickets", "t1000.q": "WM-0999"},
    }
    result: dict[str, Any] = {"rows": rows}
    with (
        tempfile.TemporaryDirectory() as work,
        platform_server(Path(work)) as platform,
        runtime(platform, Path(work), 1) as element,
    ):
        result["receive_per_s"] = send_all(element, wm_tickets(rows, []))
        with httpx.Client(base_url=element.api, timeout=60, trust_env=False) as client:
            for name, params in views.items():
                times = [timed_get(client, CARD, params) for _ in range(RENDER_REPEATS)]
                result[name] = {"first_s": times[0], "median_s": statistics.median(times), "max_s": max(times)}
            live = [timed_get(client, f"{CARD}/live", {"page": "tickets"}) for _ in range(RENDER_REPEATS)]
            result["live_answer"] = {"median_s": statistics.median(live), "max_s": max(live)}
    return result


class OpenCards:
    """`count` cards open on the Tickets page, polling as card.js does, each on its own thread."""

    def __init__(self, api: str, count: int) -> None:
        self.api = api
        self.count = count
        self.answers = 0
        self.updates = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._card, daemon=True) for _ in range(count)]

    def _card(self) -> None:
        version = ""
        with httpx.Client(base_url=self.api, timeout=30, trust_env=False) as client:
            while not self._stop.is_set():
                params = {"page": "tickets", **({"since": version} if version else {})}
                answer = client.get(f"{CARD}/live", params=params)
                self.answers += 1
                if answer.status_code == 200:
                    version = answer.json()["version"]
                    self.updates += 1
                self._stop.wait(POLL_MS / 1000)

    @contextmanager
    def open(self) -> Iterator[OpenCards]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()


def cpu_seconds(element: RuntimeProcess) -> float:
    """CPU time `connector run` has used (user + system): steadier than wall time on a shared machine."""
    assert element.proc is not None
    fields = Path(f"/proc/{element.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_once(n: int, cards: int, latency: float = 0.0) -> dict[str, Any]:
    incidents = max(1, int(n * 0.3 / 0.8 * 1.1))
    notes = sum(1 for i in range(n) if i % 10 < 3)
    with tempfile.TemporaryDirectory() as work, platform_server(Path(work), latency, incidents) as platform:
        rows = wm_tickets(n, open_incidents(platform)[:notes])
        with runtime(platform, Path(work), 1) as element:
            send_all(element, rows)
            cpu_before = cpu_seconds(element)
            if not cards:
                seconds = element_drain(element, n)
                return {"cards": 0, "drain_s": seconds, "cpu_s": cpu_seconds(element) - cpu_before}
            with OpenCards(element.api, cards).open() as open_cards:
                seconds = element_drain(element, n)
            return {
                "cards": cards,
                "drain_s": seconds,
                "cpu_s": cpu_seconds(element) - cpu_before,
                "updates_per_card_per_s": open_cards.updates / cards / seconds,
                "asks_per_card_per_s": open_cards.answers / cards / seconds,
            }


def measure_drain(n: int, cards: int, rounds: int, latency: float = 0.0) -> dict[str, Any]:
    lone: list[dict[str, Any]] = []
    watched: list[dict[str, Any]] = []
    for index in range(rounds):
        lone.append(drain_once(n, 0, latency))
        watched.append(drain_once(n, cards, latency))
        print(
            f"  round {index + 1}: alone {lone[-1]['drain_s']:.2f} s ({lone[-1]['cpu_s']:.2f} s CPU), "
            f"with {cards} cards {watched[-1]['drain_s']:.2f} s ({watched[-1]['cpu_s']:.2f} s CPU)"
        )
    alone = [r["drain_s"] for r in lone]
    with_cards = [w["drain_s"] for w in watched]
    slowdown = statistics.median(with_cards) / statistics.median(alone) - 1
    cpu_added = statistics.median(w["cpu_s"] for w in watched) / statistics.median(r["cpu_s"] for r in lone) - 1
    return {
        "tickets": n,
        "latency_ms": latency * 1000,
        "cards": cards,
        "alone_s": alone,
        "with_cards_s": with_cards,
        "slowdown_pct": slowdown * 100,
        "alone_cpu_s": [r["cpu_s"] for r in lone],
        "with_cards_cpu_s": [w["cpu_s"] for w in watched],
        "cpu_added_pct": cpu_added * 100,
        "updates_per_card_per_s": statistics.median(w["updates_per_card_per_s"] for w in watched),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_card", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="tickets in the table for the render (0: skip)")
    parser.add_argument("--drain", type=int, default=5000, help="tickets to drain (0: skip)")
    parser.add_argument("--cards", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="drains alone and with cards, alternating")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="the platform's added latency for the drain (a longer drain)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    if args.rows:
        report["render"] = render = measure_render(args.rows)
        for name in ("first_page", "sorted_by_received_desc", "filtered_status_received", "search_by_key"):
            figures = render[name]
            print(
                f"card with {args.rows} rows, {name}: first {figures['first_s'] * 1000:.0f} ms, "
                f"median {figures['median_s'] * 1000:.0f} ms, worst {figures['max_s'] * 1000:.0f} ms"
            )
        print(f"live answer: median {render['live_answer']['median_s'] * 1000:.0f} ms")
    if args.drain:
        report["drain"] = drain = measure_drain(args.drain, args.cards, args.rounds, args.latency_ms / 1000)
        print(
            f"drain of {args.drain}: alone {statistics.median(drain['alone_s']):.2f} s, with {args.cards} cards "
            f"{statistics.median(drain['with_cards_s']):.2f} s: {drain['slowdown_pct']:+.1f}% "
            f"({drain['updates_per_card_per_s']:.1f} updates a second per card); "
            f"the runtime's CPU time {drain['cpu_added_pct']:+.1f}%"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["OpenCards", "RuntimeProcess", "main", "measure_drain", "measure_render"]
