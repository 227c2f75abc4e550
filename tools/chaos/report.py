"""A run's figures (`Report`), the table that shows runs side by side, and their JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import asdict, define, field

from tools.chaos.processes import PLATFORM_CALLS

# Platform counter names (FakePlatform.injected) -> the words of the report.
INJECTED_NAMES = {
    "error": "5xx",
    "html_503": "html503",
    "lost": "lost",
    "malformed": "malformed",
    "item_error": "item",
    "fail_operation": "fail_operation",
    "late": "late",
}


@define
class Report:
    """One scenario's figures; `ok` when nothing was lost or duplicated and nothing else is wrong."""

    scenario: str
    tickets: int = 0
    kills: int = 0
    faults: dict[str, int] = field(factory=dict)  # injected, by kind
    fault_seconds: float = 0.0  # how long the platform was failing: from the first batch to the settle phase
    timeouts_seen: int = 0  # requests the element logged as timed out (latency windows, late writes)
    fiddler: dict[str, int] = field(factory=dict)  # the careless operator's sets, by outcome (--fiddle)
    completed: int = 0
    errors: int = 0
    lost: int = 0
    duplicated: int = 0
    duplicates_detected: int = 0  # the element's Duplicates Detected at the end
    duplicates_expected: bool = False  # late writes held past the Settle Time: each must be detected
    seconds: float = 0.0
    exit_code: int | None = None
    integrity: str = ""
    resends: int = 0
    duplicates_acknowledged: int = 0
    retry_presses: int = 0
    platform_requests: dict[str, int] = field(factory=dict)  # the platform's own count, by operation
    problems: list[str] = field(factory=list)
    workdir: str = ""

    @property
    def ok(self) -> bool:
        detected = self.duplicated == 0 or (self.duplicates_expected and self.duplicated == self.duplicates_detected)
        return not self.problems and self.lost == 0 and detected and self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}

    def count_platform(self, state: Mapping[str, Any]) -> None:
        """The platform's own counts (GET /_fake/state): its requests by operation, and the
        faults it injected."""
        self.platform_requests = {name: int(count) for name, count in state.get("requests", {}).items()}
        injected = state.get("injected", {})
        for name, word in INJECTED_NAMES.items():
            if injected.get(name):
                self.faults[word] = self.faults.get(word, 0) + int(injected[name])


def write_json(reports: Sequence[Report], path: Path) -> None:
    path.write_text(json.dumps([report.to_json() for report in reports], indent=2), encoding="utf-8")


def _platform_calls(report: Report) -> str:
    calls = sum(count for name, count in report.platform_requests.items() if name in PLATFORM_CALLS)
    logins, refreshes = (report.platform_requests.get(name, 0) for name in ("login", "refresh"))
    return f"{calls} ({logins} / {refreshes})"


def _lines(reports: Sequence[Report]) -> list[tuple[str, list[str]]]:
    """The table's lines: a name, then a value for each report."""
    kinds = sorted({kind for report in reports for kind in report.faults})
    lines: list[tuple[str, list[str]]] = [
        ("tickets", [str(r.tickets) for r in reports]),
        ("kills (SIGKILL + restart)", [str(r.kills) for r in reports]),
    ]
    lines += [(f"faults injected: {kind}", [str(r.faults.get(kind, 0)) for r in reports]) for kind in kinds]
    lines += [
        ("faults injected: total", [str(sum(r.faults.values())) for r in reports]),
        ("faults on for", [f"{r.fault_seconds:.1f} s" for r in reports]),
        ("request timeouts the element logged", [str(r.timeouts_seen) for r in reports]),
    ]
    outcomes = sorted({outcome for report in reports for outcome in report.fiddler})
    lines += [(f"fiddler: {outcome}", [str(r.fiddler.get(outcome, 0)) for r in reports]) for outcome in outcomes]
    lines += [
        ("completed", [str(r.completed) for r in reports]),
        ("errors", [str(r.errors) for r in reports]),
        ("lost", [str(r.lost) for r in reports]),
        ("duplicated", [str(r.duplicated) for r in reports]),
        ("duplicates detected by the element", [str(r.duplicates_detected) for r in reports]),
        ("WM resends / duplicates acked", [f"{r.resends} / {r.duplicates_acknowledged}" for r in reports]),
        ("Retry Errors presses", [str(r.retry_presses) for r in reports]),
        ("platform calls (logins / refreshes)", [_platform_calls(r) for r in reports]),
        ("SIGTERM exit code", [str(r.exit_code) for r in reports]),
        ("store integrity_check", [r.integrity for r in reports]),
        ("other problems", [str(len(r.problems)) for r in reports]),
        ("time", [f"{r.seconds:.1f} s" for r in reports]),
        ("result", ["PASS" if r.ok else "FAIL" for r in reports]),
    ]
    return lines


def render(reports: Sequence[Report]) -> str:
    """One table, a column per scenario."""
    lines = _lines(reports)
    header = ("", [r.scenario for r in reports])
    width0 = max(len(name) for name, _ in [header, *lines])
    widths = [max(len(header[1][i]), *(len(values[i]) for _, values in lines)) for i in range(len(reports))]
    rule = "+" + "-" * (width0 + 2) + "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def row(name: str, values: list[str]) -> str:
        cells = " | ".join(value.rjust(width) for value, width in zip(values, widths, strict=True))
        return f"| {name.ljust(width0)} | {cells} |"

    return "\n".join([rule, row(*header), rule, *(row(name, values) for name, values in lines), rule])
