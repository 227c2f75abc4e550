"""The agents' chaos run in CI size: three `connector run` agents sharing the element through
PostgreSQL, its owner SIGKILLed, paused past its lease and cut off from the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import server_url
from tools.chaos.agents_run import run_agents


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_three_agents_lose_and_duplicate_nothing_through_a_kill_a_pause_and_a_cut(tmp_path: Path) -> None:
    report = run_agents(server_url(), 3, tickets=200, kills=1, seed=7, workdir=tmp_path)
    assert report.ok, report.render() + "\n" + "\n".join(report.problems[:20])
    assert (report.completed, report.kills, report.pauses, report.cuts) == (200, 1, 1, 1)
    assert len(report.takeovers) == 3 and max(report.takeovers) < 15.0, report.takeovers
    assert report.inbox_202 + report.owner_202 == 10
