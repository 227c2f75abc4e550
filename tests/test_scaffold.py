"""`connector new`: the connector it writes validates, passes its own tests and runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector import cli
from connector.engine.store import SQLiteStore
from connector.scaffold import render, slug_of


@pytest.mark.slow
def test_a_new_connector_validates_passes_its_tests_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "weather"
    assert cli.main(["new", "Weather Station", "--dir", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "element.yaml",
        "handlers.py",
        "protocol.yaml",
        "test_weather_station.py",
    ]
    capsys.readouterr()
    # Validate: no PYTHONPATH, the handler module is found beside the protocol.
    assert cli.main(["validate", str(folder / "protocol.yaml")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "valid (10 params, 1 table" in out

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout

    run = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "element.yaml", "--api", "127.0.0.1:0"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    try:
        time.sleep(3)  # a real process on a real clock: let it poll a few times (Poll Interval 2 s)
    finally:
        run.send_signal(signal.SIGTERM)
        _, log = run.communicate(timeout=60)
    assert run.returncode == 0, log
    assert "[Weather Station 01] started as element 1/1; Polling Enabled" in log
    assert "[Weather Station 01] running (Weather Station 1.0.0.1" in log
    assert "[Weather Station 01] stopped" in log
    store = SQLiteStore(folder / "element.sqlite")
    try:
        assert len(store.load().tables[1000]) >= 1  # it polled, and its rows were committed
    finally:
        store.close()


def test_nothing_is_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "protocol.yaml").write_text("mine\n")
    assert cli.main(["new", "Weather", "--dir", str(tmp_path)]) == 2
    assert "protocol.yaml exists" in capsys.readouterr().err
    assert (tmp_path / "protocol.yaml").read_text() == "mine\n"
    assert not (tmp_path / "handlers.py").exists()


@pytest.mark.parametrize("name", ["", "1st", "a: b", "x" * 65, "évian", "a#b", "$name"])
def test_a_name_that_cannot_go_into_yaml_unquoted_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["new", name, "--dir", str(tmp_path / "x")]) == 1
    assert "is no connector name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_templates_fill_in_the_name() -> None:
    files = render("Pump Station-2")
    assert slug_of("Pump Station-2") == "pump_station_2"
    assert set(files) == {"protocol.yaml", "handlers.py", "element.yaml", "test_pump_station_2.py"}
    assert "name: Pump Station-2\n" in files["protocol.yaml"]
    assert all("$" not in text for text in files.values())
