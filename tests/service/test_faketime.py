"""Clocks for real (issue 11): `connector run` under libfaketime, its wall clock sent back an hour
while tickets back off. They are tried within one interval of their back-off, as if nothing
happened: waits and timers run on the monotonic clock, which libfaketime leaves alone here
(FAKETIME_DONT_FAKE_MONOTONIC=1: a real clock jump does not move CLOCK_MONOTONIC either)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tools.chaos.element import ElementSettings
from tools.chaos.plan import batch_message
from tools.chaos.processes import wait_for
from tools.chaos.rig import set_up

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
RETRY_DELAY = 10.0
INTERVAL = 2


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "ticketId": f"FT-{i:04d}",
            "category": "SNR",
            "node": f"FT-NODE-{i:04d}",
            "summary": f"faketime {i}",
            "priority": 3,
        }
        for i in range(n)
    ]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime is not installed (apt-get install faketime)")
def test_a_backward_jump_of_an_hour_under_faketime_holds_no_ticket(tmp_path: Path) -> None:
    settings = ElementSettings(max_retries=9, retry_delay=RETRY_DELAY, processing_interval=INTERVAL, request_batch=50)
    setup = set_up(tmp_path, seed=11, incidents=0, settings=settings)
    stamp = tmp_path / "faketime"
    stamp.write_text("+0\n", encoding="utf-8")
    setup.runtime.env.update(
        LD_PRELOAD=str(LIBFAKETIME),
        FAKETIME_TIMESTAMP_FILE=str(stamp),
        FAKETIME_NO_CACHE="1",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    try:
        setup.platform.set_faults({"fail_operation": {"create_ticket": "Cherwell en mantenimiento"}})
        setup.runtime.start()
        ids = [row["ticketId"] for row in _rows(20)]
        assert setup.runtime.post_interapp(batch_message(_rows(20), guid="ft-1")).status_code == 202
        wait_for(
            lambda: all(int(setup.runtime.table().get(i, {}).get("Retries") or 0) >= 1 for i in ids),
            timeout=60,
            what="every ticket backing off",
        )
        before = float(setup.runtime.get("/params/Last%20Cycle%20Start").json()["value"] or 0)
        stamp.write_text("-3600\n", encoding="utf-8")  # the element's wall clock goes back an hour
        setup.platform.set_faults({})
        jumped = time.monotonic()
        wait_for(
            lambda: all(setup.runtime.table().get(i, {}).get("Status") == "Completed" for i in ids),
            timeout=2 * RETRY_DELAY + 4 * INTERVAL + 20,
            what="every ticket Completed after the jump",
            every=0.2,
        )
        waited = time.monotonic() - jumped
        after = float(setup.runtime.get("/params/Last%20Cycle%20Start").json()["value"] or 0)
        assert after < before - 3000, "the element's wall clock did not jump: is libfaketime in effect?"
        assert waited < 2 * RETRY_DELAY + 4 * INTERVAL + 20
        print(f"every ticket Completed {waited:.1f} s after the wall clock went back an hour")
    finally:
        setup.close()
