"""`connector demo` end to end: WM -> BE -> the fake platform over real sockets, each ticket once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def summary_rows(out: str) -> dict[str, str]:
    return dict(re.findall(r"│ ([a-zA-Z>() -]+?) +│ ([^│]+?) +│", out))


@pytest.mark.slow
def test_the_demo_delivers_each_ticket_once_through_wm_and_be_despite_faults(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--tickets", "200", "--batch", "20", "--faults", "0.1"],
        cwd=REPO, env={**os.environ, "COLUMNS": "120", "TMPDIR": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = summary_rows(done.stdout)
    assert rows["tickets offered to WM"] == "200" and rows["rejected by WM at intake"] == "4"  # one in 50
    assert rows["acknowledged by BE"] == rows["received by BE"] == rows["completed"] == "196"
    assert int(rows["WM -> BE batches"]) >= 10 and rows["on the platform twice"] == "0"  # 20 a batch at most
    assert "Ticketing WM 01 -> Ticketing BE 01" in done.stdout
    assert list(tmp_path.iterdir()) == []  # the state folder (stores, drop folder) removed
