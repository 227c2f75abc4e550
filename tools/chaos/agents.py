"""Several agents sharing the chaos element through PostgreSQL: their processes, and the faults.

Each agent is a `connector run --store URL --agent NAME` of the same element YAML, reaching the
database through a relay of its own (tools.chaos.pgproxy). The cluster finds the element's
owner through any agent's `/api/elements`, and does to the owner what the run asks:

- `kill`: SIGKILL, then the seconds until another agent runs the element (the takeover), then
  the agent started again (it comes back as a standby);
- `pause`: SIGSTOP past its lease (until another agent runs the element, and a little more),
  then SIGCONT: it must stop on waking, without a commit or a request;
- `cut`: its relay to the database cut until another agent runs the element, then restored.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from connector.engine.http import httpx
from tools.chaos.element import ELEMENT
from tools.chaos.pgproxy import Relay
from tools.chaos.processes import RuntimeProcess


@contextmanager
def fresh_database(server: str, prefix: str = "chaos") -> Iterator[str]:
    """A new database on the server of `server` (a postgresql:// URL) for one run; dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_database(url: str, name: str, *, port: int | None = None) -> str:
    params = conninfo.conninfo_to_dict(url)
    user = f"{params['user']}@" if params.get("user") else ""
    host = "127.0.0.1" if port else params.get("host", "127.0.0.1")
    return f"postgresql://{user}{host}:{port or params.get('port', 5432)}/{name}"


class Cluster:
    """`count` agents of one element YAML on the database at `url`."""

    def __init__(self, element_yaml: Path, env: dict[str, str], url: str, *, count: int, workdir: Path) -> None:
        params = conninfo.conninfo_to_dict(url)
        target = (str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432))))
        self.url = url
        self.relays: dict[str, Relay] = {}
        self.agents: dict[str, RuntimeProcess] = {}
        for index in range(count):
            name = f"agent-{index + 1}"
            relay = self.relays[name] = Relay(target)
            store = with_database(url, str(params["dbname"]), port=relay.port)
            self.agents[name] = RuntimeProcess(
                element_yaml, env, log_path=workdir / f"{name}.log", extra_args=("--store", store, "--agent", name)
            )
        self.paused: set[str] = set()
        self.takeovers: list[float] = []
        self.kills = self.pauses = self.cuts = 0
        self.problems: list[str] = []

    def start(self) -> None:
        for agent in self.agents.values():
            agent.spawn()
        for agent in self.agents.values():
            agent.wait_ready()

    def close(self) -> None:
        for name, agent in self.agents.items():
            if name in self.paused:
                assert agent.proc is not None
                agent.proc.send_signal(signal.SIGCONT)
            agent.close()
        for relay in self.relays.values():
            relay.close()

    def stop(self) -> dict[str, int]:
        """SIGTERM every agent; their exit codes."""
        return {name: agent.terminate() for name, agent in self.agents.items()}

    # -- who runs the element --

    def live(self) -> list[RuntimeProcess]:
        return [a for name, a in self.agents.items() if a.alive() and name not in self.paused]

    @staticmethod
    def listing(agent: RuntimeProcess) -> dict[str, Any] | None:
        try:
            answer = agent.client.get("/api/elements", timeout=2)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        return next((entry for entry in answer.json() if entry["name"] == ELEMENT), None)

    def owner(self) -> str | None:
        """The agent that runs the element now, by its own account."""
        for name, agent in self.agents.items():
            if name in self.paused or not agent.alive():
                continue
            entry = self.listing(agent)
            if entry is not None and entry["state"] in ("running", "timeout"):
                return name
        return None

    def wait_owner(self, *, other_than: str | None = None, timeout: float = 60.0) -> tuple[str, float]:
        """The agent that runs the element once one (not `other_than`) does, and the seconds it took."""
        begun = time.monotonic()
        while time.monotonic() - begun < timeout:
            owner = self.owner()
            if owner is not None and owner != other_than:
                return owner, time.monotonic() - begun
            time.sleep(0.05)
        raise AssertionError(f"no agent took {ELEMENT!r} over within {timeout:g} s")

    @staticmethod
    def wait_running(agent: RuntimeProcess, timeout: float = 60.0) -> None:
        """Until `agent` runs the element (a lone agent takes it after one loop)."""
        begun = time.monotonic()
        while (entry := Cluster.listing(agent)) is None or entry["state"] not in ("running", "timeout"):
            if time.monotonic() - begun > timeout:
                raise AssertionError(f"{ELEMENT!r} not running within {timeout:g} s")
            time.sleep(0.05)

    def owner_process(self) -> RuntimeProcess:
        owner, _ = self.wait_owner()
        return self.agents[owner]

    # -- the faults --

    def kill_owner(self) -> float:
        owner, _ = self.wait_owner()
        agent = self.agents[owner]
        agent.kill()
        killed = time.monotonic()
        _, _ = self.wait_owner(other_than=owner)
        took = time.monotonic() - killed
        self.takeovers.append(took)
        self.kills += 1
        agent.start()
        return took

    def terminate_owner(self) -> float:
        """SIGTERM the owner: the seconds until another agent runs the element (the hand-over)."""
        owner, _ = self.wait_owner()
        agent = self.agents[owner]
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        self.wait_owner(other_than=owner)
        took = time.monotonic() - stopped
        agent.proc.wait(30)
        return took

    def pause_owner(self, extra: float = 2.0) -> float:
        owner, _ = self.wait_owner()
        agent = self.agents[owner]
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGSTOP)
        self.paused.add(owner)
        paused = time.monotonic()
        try:
            self.wait_owner(other_than=owner)
            took = time.monotonic() - paused
            time.sleep(extra)
        finally:
            agent.proc.send_signal(signal.SIGCONT)
            self.paused.discard(owner)
        self.takeovers.append(took)
        self.pauses += 1
        self._must_stand_by(owner, "after SIGCONT")
        return took

    def cut_owner(self) -> float:
        owner, _ = self.wait_owner()
        relay = self.relays[owner]
        relay.cut()
        cut = time.monotonic()
        try:
            self.wait_owner(other_than=owner)
            took = time.monotonic() - cut
            metrics = self.agents[owner].client.get("/metrics", timeout=5).text
            if "connector_agent_database_up 0.0" not in metrics:
                self.problems.append(f"{owner}: cut off from the database, its metrics do not say so")
        finally:
            relay.restore()
        self.takeovers.append(took)
        self.cuts += 1
        self._must_stand_by(owner, "cut off from the database")
        return took

    def _must_stand_by(self, name: str, when: str) -> None:
        """The agent, back, must run the element no more (another does): within a second."""
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            entry = self.listing(self.agents[name])
            if entry is not None and entry["state"] == "standby":
                return
            time.sleep(0.05)
        self.problems.append(f"{name}: {when}, it still says it runs {ELEMENT!r}")

    def post_anywhere(self, raw: str, rng: random.Random) -> httpx.Response | None:
        """POST an InterApp message to any agent that answers; None when none took it."""
        live = self.live()
        if not live:
            return None
        agent = rng.choice(live)
        with contextlib.suppress(httpx.HTTPError):
            return agent.post_interapp(raw, timeout=10)
        return None
