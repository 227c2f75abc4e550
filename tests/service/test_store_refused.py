"""`connector run` refuses a store that is not the element's to use, before anything starts.

A second process on a store in use, an element on another element's store, an empty file: each
is one line on stderr naming the store file and its owner, exit code 1, no traceback (issue 11).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from connector.engine.http import Connection, httpx
from connector.engine.store import SQLiteStore, StoreError, StoreOwner
from connector.service.runtime import ElementConfig, Runtime
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol
from tests.service.test_run import REPO, free_port, wait_until

pytestmark = pytest.mark.slow


def element_yaml(folder: Path, name: str, store: str = "state/be.sqlite") -> Path:
    """An element that needs no platform to start (Ticketing Processing stays Disabled)."""
    path = folder / f"{name.replace(' ', '-')}.yaml"
    path.write_text(
        f"name: {name}\nprotocol: {REPO / 'protocol.yaml'}\nconnection: {{host: 127.0.0.1, port: 9}}\nstore: {store}\n"
    )
    return path


def run(path: Path) -> tuple[subprocess.Popen[str], str]:
    api = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", str(path), "--api", api],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://{api}"


def refused(path: Path) -> tuple[int | None, list[str]]:
    """Run it and wait for it to give up: its exit code (None if it ran on) and its stderr lines."""
    proc, _ = run(path)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return None, err.splitlines()
    return proc.returncode, err.splitlines()


def test_a_second_run_on_a_store_in_use_is_refused(tmp_path: Path) -> None:
    path = element_yaml(tmp_path, "BE 01")
    first, api = run(path)
    try:
        wait_until(lambda: httpx.get(api + "/api/health", timeout=1).status_code == 200, what="the first run")
        code, err = refused(path)
        store = tmp_path / "state" / "be.sqlite"
        assert code == 1 and err == [
            f"connector run: store {store} is in use by element 'BE 01' (pid {first.pid}): "
            "a store is held by one process, for one element, at a time"
        ]
        assert httpx.get(api + "/api/health", timeout=5).status_code == 200, "the first run goes on"
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0


def test_an_element_on_another_elements_store_is_refused(tmp_path: Path) -> None:
    first, api = run(element_yaml(tmp_path, "BE 01"))
    wait_until(lambda: httpx.get(api + "/api/health", timeout=1).status_code == 200, what="the first run")
    first.send_signal(signal.SIGTERM)
    assert first.wait(20) == 0
    code, err = refused(element_yaml(tmp_path, "BE 02"))
    store = tmp_path / "state" / "be.sqlite"
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"connector run: store {store} belongs to element 'BE 01' (protocol ")
    assert "not to 'BE 02'" in err[0]


def test_two_elements_of_one_run_on_one_store_are_refused(tmp_path: Path) -> None:
    both = [element_yaml(tmp_path, "BE 01"), element_yaml(tmp_path, "BE 02")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", *map(str, both), "--api", f"127.0.0.1:{free_port()}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    store = tmp_path / "state" / "be.sqlite"
    assert proc.returncode == 1 and len(err.splitlines()) == 1, err
    assert f"store {store} is in use by element 'BE 01' (pid {proc.pid}, this process)" in err


def test_an_empty_store_file_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "state" / "be.sqlite"
    store.parent.mkdir()
    store.touch()
    code, err = refused(element_yaml(tmp_path, "BE 01"))
    assert code == 1 and len(err) == 1 and err[0].startswith(f"connector run: store {store} is empty (0 bytes)")
    assert store.stat().st_size == 0 and "Traceback" not in "".join(err)
    assert not os.path.exists(tmp_path / "state" / "be.sqlite-wal")


def test_a_refused_store_leaves_no_store_of_the_run_held(tmp_path: Path) -> None:
    """In process: the stores opened before the refused one are closed, their locks released."""

    def config(name: str, store: str) -> ElementConfig:
        return ElementConfig(
            name=name,
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=9),
            params={},
            secrets={},
            store_path=tmp_path / store,
        )

    runtime = Runtime()
    configs = [config("BE 01", "a.sqlite"), config("BE 02", "b.sqlite"), config("BE 03", "a.sqlite")]
    with pytest.raises(StoreError, match="a.sqlite is in use by element 'BE 01'"):
        asyncio.run(runtime.start(configs, {PROTOCOL_YAML: ticketing_protocol()}))
    assert runtime.elements == {}
    protocol = ticketing_protocol().name
    for name, store in (("BE 01", "a.sqlite"), ("BE 02", "b.sqlite")):
        SQLiteStore(tmp_path / store, owner=StoreOwner(element=name, protocol=protocol)).close()
