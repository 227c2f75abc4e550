"""`connector run` as users run it: a real subprocess, the fake platform as its own process,
SIGTERM and SIGKILL restarts with the state intact; and a `connector demo` smoke test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector.engine.http import httpx
from connector.engine.store import SQLiteStore
from tests.conftest import sample_text

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ELEMENT = "Ticketing BE 01"
PATH = "/api/elements/Ticketing%20BE%2001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def connector(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def platform_port():
    port = free_port()
    proc = connector("platform", "--host", "127.0.0.1", "--port", str(port), "--seed", "5")
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/_fake/state", timeout=1).status_code == 200,
        what="the fake platform",
    )
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def element_yaml(tmp_path: Path, platform_port: int) -> Path:
    path = tmp_path / "be.yaml"
    path.write_text(f"""\
name: {ELEMENT}
protocol: {REPO / "protocol.yaml"}
connection: {{host: 127.0.0.1, port: {platform_port}, bus_address: BypassProxy}}
params:
  Cherwell Client ID: ticketing-be-fake-client
  Cherwell Username: dataminer
  Cherwell Password: env:TEST_CHERWELL_PASSWORD
  SFyC API Key: file:sfyc.key
  Retry Delay: 0
store: state/be.sqlite
""")
    (tmp_path / "sfyc.key").write_text("fake-sfyc-api-key\n")
    return path


class Run:
    def __init__(self, element_yaml: Path) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TEST_CHERWELL_PASSWORD": "fake-password"}
        self.proc = connector("run", str(element_yaml), "--api", f"127.0.0.1:{self.port}", env=env)
        wait_until(lambda: httpx.get(self.api + "/api/health", timeout=1).status_code == 200, what="connector run")

    def get(self, path: str):
        return httpx.get(self.api + path, timeout=10)

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(20)

    def logs(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr else ""


def param(run: Run, name: str):
    return run.get(f"{PATH}/params/{name}").json()["value"]


def test_state_survives_sigterm_and_sigkill(element_yaml: Path, tmp_path: Path) -> None:
    run = Run(element_yaml)
    answer = httpx.post(run.api + PATH + "/interapp", content=sample_text("ticket-batch.json"), timeout=10)
    assert answer.status_code == 202
    assert [len(reply["accepted"]) for reply in answer.json()["replies"]] == [3]
    assert httpx.put(run.api + PATH + "/params/Max%20Retries", json={"value": 7}, timeout=10).status_code == 200
    assert run.stop(signal.SIGTERM) == 0
    logs = run.logs()
    assert "Traceback" not in logs and "fake-password" not in logs

    run = Run(element_yaml)
    assert param(run, "Max Retries") == 7
    assert run.get(PATH + "/tables/Ticket%20Overview").json()["total"] == 3
    run.stop(signal.SIGKILL)

    run = Run(element_yaml)
    assert param(run, "Max Retries") == 7
    assert (
        httpx.put(run.api + PATH + "/params/Ticketing%20Processing", json={"value": "Enabled"}, timeout=10).status_code
        == 200
    )
    wait_until(lambda: param(run, "Tickets Completed") == 3, what="3 tickets completed")
    assert param(run, "Cherwell Password") == "********"
    assert run.stop(signal.SIGTERM) == 0
    store = SQLiteStore(tmp_path / "state" / "be.sqlite")
    assert store.integrity() == "ok"
    store.close()
    for file in (tmp_path / "state").iterdir():
        data = file.read_bytes()
        assert b"fake-password" not in data and b"fake-sfyc-api-key" not in data, file


def test_bad_element_yaml_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"name: X\nprotocol: {REPO / 'protocol.yaml'}\nconnection: {{host: h}}\nparams:\n  Max Retries: 99\n"
    )
    proc = connector("run", str(path), "--api", f"127.0.0.1:{free_port()}")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "bad.yaml:5:16: Max Retries: must be at most 10, got 99" in err
    assert "Traceback" not in err


def test_the_api_refuses_a_public_address_without_a_token(tmp_path: Path, element_yaml: Path) -> None:
    proc = connector("run", str(element_yaml), "--api", "0.0.0.0:0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--api-token" in err


def test_demo_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--tickets", "60", "--batch", "20"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Summary" in proc.stdout and "completed" in proc.stdout
    assert "Traceback" not in proc.stderr
