"""The two processes of a run: the fake platform (`connector platform`) and the element's runtime
(`connector run`), each on a loopback port with its stderr in a log file, and the waits on them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connector.engine.http import httpx
from connector.ticketing.fake import CALL_OPERATIONS
from tools.chaos.element import CLIENT_ID, ELEMENT, LOOPBACK, REPO, TABLE, USERNAME

# The platform's request counter names that are calls (the others count saved items): the one
# place the chaos tools read the fake platform's own module.
PLATFORM_CALLS: tuple[str, ...] = tuple(CALL_OPERATIONS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, OSError, ValueError) as exc:  # not up yet, or answering half
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


def _spawn(
    args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None, *, banner: str = ""
) -> subprocess.Popen[bytes]:
    """`python -m connector ARGS` from the repository, its stderr appended to `log_path`.

    The child writes into its own copy of the file descriptor, so ours is closed at once.
    """
    with open(log_path, "a", encoding="utf-8") as log:
        if banner:
            log.write(banner)
            log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "connector", *args],
            cwd=REPO,
            env=dict(env or os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return -9


# -- the fake platform, as its own process -------------------------------------------------------


class PlatformProcess:
    """`python -m connector platform` on a loopback port, and its /_fake/ controls."""

    def __init__(self, *, seed: int, password: str, api_key: str, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = log_path
        self.proc = _spawn(
            [
                "platform",
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--seed",
                str(seed),
                "--client-id",
                CLIENT_ID,
                "--username",
                USERNAME,
                "--password",
                password,
                "--api-key",
                api_key,
                "--log-level",
                "warning",
            ],
            log_path,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)
        try:
            wait_for(lambda: self.client.get("/_fake/faults").status_code == 200, timeout=30, what="the fake platform")
        except AssertionError:
            self.stop()
            raise

    def state(self) -> dict[str, Any]:
        answer = self.client.get("/_fake/state")
        answer.raise_for_status()
        return dict(answer.json())

    def set_faults(self, faults: Mapping[str, Any]) -> None:
        self.client.put("/_fake/faults", json=dict(faults)).raise_for_status()

    def revoke(self) -> int:
        answer = self.client.post("/_fake/revoke")
        answer.raise_for_status()
        return int(answer.json()["revoked"])

    def seed_incidents(self, count: int, seed: int) -> list[str]:
        answer = self.client.post("/_fake/seed", json={"incidents": count, "seed": seed})
        answer.raise_for_status()
        return list(answer.json()["created"])

    def stop(self) -> None:
        _stop(self.proc)
        self.client.close()


# -- the element's runtime, as its own process ---------------------------------------------------


class RuntimeProcess:
    """`python -m connector run element.yaml --api 127.0.0.1:PORT`, restartable on the same port.

    Every life appends its stderr to one log file. `lives` counts starts; `kills` our SIGKILLs.
    A `token` goes to the runtime in a file beside the log (`--api-token-file`, mode 0600): on
    argv every local user could read it in /proc/PID/cmdline.
    """

    def __init__(
        self,
        element_yaml: Path,
        env: Mapping[str, str],
        *,
        log_path: Path,
        api_port: int | None = None,
        extra_args: Sequence[str] = (),
        listen: str = LOOPBACK,
        token: str | None = None,
    ) -> None:
        self.element_yaml = element_yaml
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.api_port = api_port or free_port()
        self.listen = listen  # where the API listens; requests always go to loopback
        self.api = f"http://{LOOPBACK}:{self.api_port}"
        self.extra_args = tuple(extra_args) + (("--api-token-file", str(self._token_file(token))) if token else ())
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.api, timeout=30, trust_env=False, headers=headers)

    def _token_file(self, token: str) -> Path:
        path = self.log_path.with_name(self.log_path.stem + ".api-token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(token + "\n")
        return path

    # -- life cycle --

    def spawn(self) -> None:
        self.lives += 1
        self.proc = _spawn(
            ["run", str(self.element_yaml), "--api", f"{self.listen}:{self.api_port}", *self.extra_args],
            self.log_path,
            self.env,
            banner=f"---- chaos: life {self.lives} ----\n",
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"connector run exited with {self.proc.returncode} while starting; see {self.log_path}"
                )
            return self.client.get("/api/health", timeout=2).status_code == 200

        wait_for(up, timeout=timeout, what="connector run's API")

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, nothing is closed."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.unexpected_exits.append(self.proc.returncode)
        self.proc.kill()
        self.proc.wait(30)
        self.kills += 1

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM: the element finishes its running group and commits; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is not None:  # died on its own: that is a finding, not a clean stop
            self.unexpected_exits.append(self.proc.returncode)
            return self.proc.returncode
        return _stop(self.proc, signal.SIGTERM, timeout)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _stop(self.proc, signal.SIGKILL)
        self.client.close()

    # -- the management API --

    def element_path(self, path: str = "") -> str:
        """The API path of the element, or of `path` under it."""
        return f"/api/elements/{quote(ELEMENT)}{path}"

    def post_interapp(self, raw: str, timeout: float = 30.0) -> httpx.Response:
        return self.client.post(self.element_path("/interapp"), content=raw.encode("utf-8"), timeout=timeout)

    def param(self, name: str) -> Any:
        answer = self.client.get(self.element_path(f"/params/{quote(name, safe='')}"))
        answer.raise_for_status()
        return answer.json()["value"]

    def set_param(self, name: str, value: Any) -> httpx.Response:
        return self.client.put(self.element_path(f"/params/{quote(name, safe='')}"), json={"value": value})

    def get(self, path: str) -> httpx.Response:
        """Any GET under the element (`/params`, `/tables/...`), for callers that keep the answer."""
        return self.client.get(self.element_path(path))

    def table(self, name: str = TABLE) -> dict[str, dict[str, Any]]:
        """The rows of a table (Ticket Overview by default) by key."""
        answer = self.get(f"/tables/{quote(name)}")
        answer.raise_for_status()
        body = answer.json()
        key = body["columns"][0]["name"]
        return {row[key]: row for row in body["rows"]}
