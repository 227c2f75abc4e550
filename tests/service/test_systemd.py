"""sd_notify through $NOTIFY_SOCKET: what `connector run` tells systemd (`Type=notify`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.service import systemd
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="systemd's socket is a Unix socket")


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        listener.settimeout(30)
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        yield listener


def test_notify_sends_one_datagram(notify_socket: socket.socket) -> None:
    assert systemd.notify("READY=1")
    assert notify_socket.recv(100) == b"READY=1"


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"connector-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("STOPPING=1")
        assert listener.recv(100) == b"STOPPING=1"


@pytest.mark.parametrize("value", [None, "", "relative/path"])
def test_outside_systemd_notify_does_nothing(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert systemd.notify("READY=1") is False


def test_a_socket_that_is_gone_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.notify("READY=1") is False
    assert "cannot tell systemd READY=1" in caplog.text


@pytest.mark.slow
def test_connector_run_is_ready_once_the_api_answers_and_says_when_it_stops(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    element = tmp_path / "be.yaml"
    element.write_text(f"name: BE\nprotocol: {REPO / 'protocol.yaml'}\nconnection: {{host: 127.0.0.1, port: 9}}\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", str(element), "--api", f"127.0.0.1:{port}"],
        cwd=REPO,
        env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert notify_socket.recv(100) == b"READY=1"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # READY=1 came once the API listens
        proc.send_signal(signal.SIGTERM)
        assert notify_socket.recv(100) == b"STOPPING=1"
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.communicate()
