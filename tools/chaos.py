"""Chaos runs: prove that no ticket is lost or duplicated, whatever fails around the element.

    .venv/bin/python tools/chaos.py [--tickets 2000] [--kills 20] [--seed N] [--faults all]
                                    [--fault-rate 0.03] [--fail-operation ot_create] [--json FILE]

Two scenarios, one table:

*crash* -- the fake platform runs as its own server process (`connector platform`), seeded with
open incidents; a real `connector run` subprocess hosts one Ticketing BE element. A WM stand-in
sends the tickets in InterApp batches of 100 through the management API (re-sending a batch whose
202 it did not get, as WM does), while a killer SIGKILLs the runtime at random moments and
restarts it, and the platform fails as `--faults` says. When every ticket is Completed or Error
the runtime gets a SIGTERM (exit code 0 expected) and both sides are checked: on the platform,
exactly one incident per created ticket, one OT per incident with its number written back, one
note per noted ticket; on the element, an intact SQLite store holding every ticket.

*fail for good* -- one platform operation fails every time (`fail_operation`): its tickets must
end in Error after exactly Max Retries + 1 tries with the platform's reason in Last Error while
the others complete; then the fault goes away, Retry Errors is pressed, and they complete too.

Every piece (platform, runtime, sender, killer, fault injector, checks) is a function or a small
class here, so that tests/test_chaos.py and tests/test_security.py run the same code in short
variants. Only loopback traffic; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from attrs import define, field, frozen

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: tools/ is on the path, the repository is not
    sys.path.insert(0, str(REPO))

from connector.engine.http import httpx  # noqa: E402
from connector.engine.interapp import OutgoingMessage, serialize_call  # noqa: E402

ELEMENT = "Ticketing BE 01"
TABLE = "Ticket Overview"
PROTOCOL_YAML = REPO / "protocol.yaml"
LOOPBACK = "127.0.0.1"
# Credentials of the chaos platform: not the fake's defaults, so that a grep finds only leaks.
CLIENT_ID = "chaos-client"
USERNAME = "chaos-dataminer"
PASSWORD_ENV = "CHAOS_CHERWELL_PASSWORD"

# --faults words -> what they set on the platform (rates) or do (revoke, latency windows).
RATE_FAULTS = {
    "5xx": "error_rate",
    "html503": "html_503_rate",
    "lost": "lost_rate",
    "malformed": "malformed_rate",
    "item": "item_error_rate",
}
FAULT_KINDS = (*RATE_FAULTS, "latency", "revoke", "expiry")
LIGHT_FAULTS = ("5xx", "html503", "lost", "malformed", "item", "revoke")
# "expiry": tokens live this long, so that the flow refreshes them every few seconds (it refreshes
# when less than a minute is left) and a refresh can be lost or killed half-way.
SHORT_TOKEN_TTL = 60.5  # the flow refreshes below 60 s left: half a second into every token's life
# Platform counter names (FakePlatform.injected) -> the words of the report.
INJECTED_NAMES = {
    "error": "5xx",
    "html_503": "html503",
    "lost": "lost",
    "malformed": "malformed",
    "item_error": "item",
    "fail_operation": "fail_operation",
}
TERMINAL = ("Completed", "Error")


def credentials(seed: int) -> tuple[str, str]:
    """(Cherwell password, SFyC API key): distinctive, with characters a form must encode."""
    return f"Chaos pw&{seed:x}=%+ñ!", f"sfyc-key-{seed:08x}-9f3c"


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


def _spawn(args: Sequence[str], log: IO[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
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
        self._log = open(log_path, "a", encoding="utf-8")
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
            self._log,
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
        self._log.close()


# -- the element: its YAML and the `connector run` process -----------------------------------------


@frozen(kw_only=True)
class ElementSettings:
    max_retries: int = 10  # the most the protocol allows: injected faults must not exhaust it
    retry_delay: float = 0.1
    processing_interval: int = 1
    request_batch: int = 20  # Max Tickets Per Request: more requests, more moments to die in
    concurrency: int = 1  # Max Concurrent Requests (batches in flight at once)


def short_timeout_protocol(workdir: Path, timeout: float) -> Path:
    """A copy of protocol.yaml whose HTTP sessions time out after `timeout` s (for latency faults:
    the real 30-60 s would make every latency window cost a minute)."""
    text = PROTOCOL_YAML.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^(\s*timeout:\s*)\d+(\.\d+)?\s*$", lambda m: f"{m.group(1)}{timeout:g}", text)
    if not count:
        raise RuntimeError("protocol.yaml declares no session timeout to shorten")
    # Handlers resolve by module path, so the copy runs the same code wherever it lies.
    path = workdir / "protocol-short-timeouts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_element_yaml(
    workdir: Path,
    platform_port: int,
    *,
    password: str,
    api_key: str,
    settings: ElementSettings = ElementSettings(),
    protocol: Path = PROTOCOL_YAML,
    processing: bool = True,
) -> tuple[Path, dict[str, str]]:
    """The element YAML (password through `env:`, API key through `file:`) and the environment
    `connector run` needs for it."""
    (workdir / "sfyc.key").write_text(api_key + "\n", encoding="utf-8")
    path = workdir / "element.yaml"
    path.write_text(
        f"""\
name: {ELEMENT}
protocol: {json.dumps(str(protocol))}
connection: {{host: {LOOPBACK}, port: {platform_port}, bus_address: BypassProxy, scheme: http}}
params:
  Ticketing Processing: {"Enabled" if processing else "Disabled"}
  Max Retries: {settings.max_retries}
  Max Tickets Per Request: {settings.request_batch}
  Retry Delay: {settings.retry_delay:g}
  Processing Interval: {settings.processing_interval}
{f"  Max Concurrent Requests: {settings.concurrency}{chr(10)}" if settings.concurrency != 1 else ""}  Cherwell Client ID: {CLIENT_ID}
  Cherwell Username: {USERNAME}
  Cherwell Password: env:{PASSWORD_ENV}
  SFyC API Key: file:sfyc.key
store: state/element.sqlite
""",
        encoding="utf-8",
    )
    return path, {PASSWORD_ENV: password}


def store_path(workdir: Path) -> Path:
    return workdir / "state" / "element.sqlite"


class RuntimeProcess:
    """`python -m connector run element.yaml --api 127.0.0.1:PORT`, restartable on the same port.

    Every life appends its stderr to one log file. `lives` counts starts; `kills` our SIGKILLs.
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
        self.extra_args = tuple(extra_args) + (("--api-token", token) if token else ())
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []
        self._log = open(log_path, "a", encoding="utf-8")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.api, timeout=30, trust_env=False, headers=headers)

    # -- life cycle --

    def spawn(self) -> None:
        self.lives += 1
        self._log.write(f"---- chaos: life {self.lives} ----\n")
        self._log.flush()
        self.proc = _spawn(
            ["run", str(self.element_yaml), "--api", f"{self.listen}:{self.api_port}", *self.extra_args],
            self._log,
            self.env,
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
        self._log.close()

    # -- the management API --

    def _element(self, path: str = "") -> str:
        return f"/api/elements/{quote(ELEMENT)}{path}"

    def post_interapp(self, raw: str, timeout: float = 30.0) -> httpx.Response:
        return self.client.post(self._element("/interapp"), content=raw.encode("utf-8"), timeout=timeout)

    def param(self, name: str) -> Any:
        answer = self.client.get(self._element(f"/params/{quote(name, safe='')}"))
        answer.raise_for_status()
        return answer.json()["value"]

    def set_param(self, name: str, value: Any) -> httpx.Response:
        return self.client.put(self._element(f"/params/{quote(name, safe='')}"), json={"value": value})

    def get(self, path: str) -> httpx.Response:
        """Any GET under the element (`/params`, `/tables/...`), for callers that keep the answer."""
        return self.client.get(self._element(path))

    def table(self) -> dict[str, dict[str, Any]]:
        answer = self.get(f"/tables/{quote(TABLE)}")
        answer.raise_for_status()
        body = answer.json()
        key = body["columns"][0]["name"]
        return {row[key]: row for row in body["rows"]}


# -- the tickets WM sends, and what each should become ---------------------------------------------


@define
class Plan:
    """The tickets in send order, and what each must become on the platform."""

    rows: list[dict[str, Any]] = field(factory=list)
    created: set[str] = field(factory=set)  # its own incident, then an OT written back
    noted: dict[str, tuple[str, str]] = field(factory=dict)  # a note on an open incident of this node
    followers: dict[str, str] = field(factory=dict)  # a note on the incident its leader created

    @property
    def ids(self) -> list[str]:
        return [row["ticketId"] for row in self.rows]

    def node_groups(self) -> dict[str, list[str]]:
        """Each created ticket with the followers on its node, in send order."""
        position = {key: index for index, key in enumerate(self.ids)}
        groups: dict[str, list[str]] = {key: [key] for key in self.ids if key in self.created}
        for follower, leader in self.followers.items():
            groups[leader].append(follower)
        for members in groups.values():
            members.sort(key=position.__getitem__)
        return groups

    def batches(self, size: int) -> list[list[dict[str, Any]]]:
        return [self.rows[i : i + size] for i in range(0, len(self.rows), size)]


def open_nodes(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(Category, Node) of the platform's open incidents of our categories, one entry per node."""
    nodes = {
        (i["category"], i["node"])
        for i in state["incidents"]
        if i["status"] in ("New", "Assigned", "In Progress", "Pending") and i["category"] in ("SNR", "Falla de Linea")
    }
    return sorted(nodes)


def plan_tickets(
    count: int,
    rng: random.Random,
    nodes: Sequence[tuple[str, str]],
    *,
    note_share: float = 0.3,
    follower_share: float = 0.0,
    prefix: str = "WM-CHAOS",
) -> Plan:
    """`count` tickets: `note_share` on the open incidents' nodes, `follower_share` on the node of
    an earlier created ticket (the waiter path), the rest on nodes of their own."""
    plan = Plan()
    leaders: list[str] = []
    by_id: dict[str, dict[str, Any]] = {}
    for i in range(count):
        ticket_id = f"{prefix}-{i:06d}"
        draw = rng.random()
        if nodes and draw < note_share:
            category, node = rng.choice(list(nodes))
            plan.noted[ticket_id] = (category, node)
        elif leaders and draw < note_share + follower_share:
            leader = rng.choice(leaders[-50:])  # recent: often in the same batch, sometimes not
            category, node = by_id[leader]["category"], by_id[leader]["node"]
            plan.followers[ticket_id] = leader
        else:
            category = rng.choice(("SNR", "Falla de Linea"))
            node = f"CHAOS-{'NODO' if category == 'SNR' else 'SG'}-{i:06d}"
            plan.created.add(ticket_id)
            leaders.append(ticket_id)
        row: dict[str, Any] = {
            "ticketId": ticket_id,
            "category": category,
            "node": node,
            "summary": f"{'SNR bajo' if category == 'SNR' else 'Falla de linea'} en {node}",
            "priority": rng.randint(1, 5),
        }
        if rng.random() < 0.5:
            row["description"] = f"{rng.randint(2, 40)} eventos criticos en las ultimas 24 horas."
            row["affectedCustomers"] = rng.randint(0, 2500)
        plan.rows.append(row)
        by_id[ticket_id] = row
    return plan


def batch_message(rows: list[dict[str, Any]], guid: str) -> str:
    """A TicketBatchMessage call as WM serializes it."""
    members = {"guid": guid, "source": "chaos WM", "tickets": rows, "returnAddress": None}
    return serialize_call([OutgoingMessage(type="TicketBatchMessage", members=members)])


# -- the WM stand-in --------------------------------------------------------------------------------


@define
class SendStats:
    batches: int = 0
    posts: int = 0  # every POST, resends included
    resends: int = 0  # batches sent again because no 202 came back
    duplicates_acknowledged: int = 0  # ids a 202 called duplicates (expected after a resend)
    problems: list[str] = field(factory=list)


class Sender(threading.Thread):
    """Sends the plan's batches in order; a batch whose 202 did not come back is sent again.

    `may_send(i)` gates batch i (the crash run spreads sending over the kills); `stop` ends it.
    """

    def __init__(
        self,
        runtime: RuntimeProcess,
        plan: Plan,
        *,
        batch: int = 100,
        may_send: Callable[[int], bool] = lambda i: True,
        deadline: float = 600.0,
        rng: random.Random | None = None,
        think: float = 0.0,
    ) -> None:
        super().__init__(name="chaos sender", daemon=True)
        self.runtime, self.plan, self.batch_size, self.may_send = runtime, plan, batch, may_send
        # WM sends on its own timer: up to `think` s between batches, so that posts land at
        # any point of the element's life (and the killer can aim at one).
        self.rng, self.think = rng or random.Random(0), think
        self.deadline = time.monotonic() + deadline
        self.stats = SendStats()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.posting = threading.Event()  # a POST is on its way: the killer may aim at it
        self.activity = threading.Event()  # set on every 202: the element has work (FaultInjector)

    def run(self) -> None:
        try:
            for index, rows in enumerate(self.plan.batches(self.batch_size)):
                while not self.may_send(index):
                    self._pause(0.02)
                if self.think:
                    self._pause(self.rng.uniform(0.0, self.think))
                self._send(index, rows)
                self.stats.batches += 1
        except _Stopped:
            pass
        finally:
            self.done.set()

    def _pause(self, seconds: float) -> None:
        if self.stop.wait(seconds) or time.monotonic() > self.deadline:
            raise _Stopped()

    def _send(self, index: int, rows: list[dict[str, Any]]) -> None:
        raw = batch_message(rows, guid=f"chaos-batch-{index:05d}")
        wanted = {row["ticketId"] for row in rows}
        first = True
        while True:
            if not first:
                self.stats.resends += 1
            first = False
            self.stats.posts += 1
            self.posting.set()
            try:
                answer = self.runtime.post_interapp(raw)
            except httpx.HTTPError:  # refused while the runtime is down, or cut by a kill
                self._pause(0.05)
                continue
            finally:
                self.posting.clear()
            if answer.status_code != 202:
                self._pause(0.05)  # 503 while stopping/starting: WM tries again
                continue
            self.activity.set()
            body = answer.json()
            replies = body.get("replies", [])
            accepted = {ticket for reply in replies for ticket in reply.get("accepted", ())}
            duplicates = {ticket for reply in replies for ticket in reply.get("duplicates", ())}
            self.stats.duplicates_acknowledged += len(duplicates)
            if any(reply.get("rejected") for reply in replies) or accepted | duplicates != wanted:
                self.stats.problems.append(f"batch {index}: the 202 does not list every ticket once: {body!r:.300}")
            return


class _Stopped(Exception):
    pass


# -- the killer ---------------------------------------------------------------------------------------


class Killer(threading.Thread):
    """SIGKILLs the runtime at random moments, `kills` times, restarting it each time.

    A moment is drawn per life: mostly after a random number of platform requests (so that the
    kill lands inside a cycle, between any two requests) or a random time, whichever comes first;
    sometimes while the process is still starting; sometimes a few milliseconds into a WM POST
    (between the commit of its tickets and the 202). Seeded, so a run's choices are reproducible
    (the moments themselves depend on the machine's timing).
    """

    def __init__(
        self,
        runtime: RuntimeProcess,
        kills: int,
        rng: random.Random,
        *,
        gap: tuple[float, float] = (0.2, 1.5),
        deadline: float = 600.0,
        posting: threading.Event | None = None,
    ) -> None:
        super().__init__(name="chaos killer", daemon=True)
        self.runtime, self.target, self.rng, self.gap = runtime, kills, rng, gap
        self.posting = posting
        self.deadline = time.monotonic() + deadline
        self.stop = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._client = httpx.Client(base_url=runtime.api, timeout=2, trust_env=False, headers=runtime.client.headers)

    @property
    def kills(self) -> int:
        return self.runtime.kills

    def run(self) -> None:
        try:
            while self.kills < self.target and not self.stop.is_set() and time.monotonic() < self.deadline:
                draw = self.rng.random()
                if draw < 0.15:
                    time.sleep(self.rng.uniform(0.0, 0.6))  # during start-up: store load, first cycle
                elif draw < 0.35 and self.posting is not None:
                    self._wait_for_post()
                else:
                    self._wait_for_moment()
                if self.stop.is_set():
                    break
                self.runtime.kill()
                self.runtime.spawn()
                self.runtime.wait_ready()
        except BaseException as exc:  # surfaced by the scenario; the thread must not die silently
            self.error = exc
        finally:
            self._client.close()
            self.done.set()

    def _wait_for_moment(self) -> None:
        self.runtime.wait_ready()
        requests = self.rng.randint(1, 40)
        until = time.monotonic() + self.rng.uniform(*self.gap)
        start = self._requests_sent()
        while time.monotonic() < until and not self.stop.is_set():
            sent = self._requests_sent()
            if start is not None and sent is not None and sent - start >= requests:
                return
            if start is None:
                start = sent
            time.sleep(0.01)

    def _wait_for_post(self) -> None:
        self.runtime.wait_ready()
        assert self.posting is not None
        if self.posting.wait(2 * self.gap[1]):
            time.sleep(self.rng.uniform(0.0, 0.012))  # the step takes a few ms: land before or after its commit

    def _requests_sent(self) -> int | None:
        try:
            answer = self._client.get(f"/api/elements/{quote(ELEMENT)}/params/Requests%20Sent")
            return int(answer.json()["value"] or 0)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None


# -- the fault injector --------------------------------------------------------------------------------


@define
class FaultStats:
    revokes: int = 0
    latency_windows: int = 0


class FaultInjector(threading.Thread):
    """Keeps the platform failing as asked: rates set once; token revocations and latency windows
    (every answer slower than the client's timeout) at seeded random moments.

    The element is busy in bursts (a WM batch arrives, a cycle drains it, it idles), so a moment
    drawn on the clock alone mostly hits an idle element. Each burst (`activity`, set by the
    sender on every 202) therefore also draws a revocation and a latency window a few hundred
    milliseconds into it: mid-cycle, where they matter.
    """

    def __init__(
        self,
        platform: PlatformProcess,
        kinds: Iterable[str],
        rate: float,
        rng: random.Random,
        *,
        latency: float = 0.0,
        revoke_every: tuple[float, float] = (1.0, 4.0),
        latency_every: tuple[float, float] = (4.0, 10.0),
        latency_window: float = 6.0,
        activity: threading.Event | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(name="chaos faults", daemon=True)
        self.platform, self.kinds, self.rng = platform, set(kinds), rng
        self.base: dict[str, Any] = {RATE_FAULTS[k]: rate for k in self.kinds if k in RATE_FAULTS}
        if "expiry" in self.kinds:
            self.base["token_ttl"] = SHORT_TOKEN_TTL
        self.latency = latency
        self.revoke_every, self.latency_every, self.latency_window = revoke_every, latency_every, latency_window
        self.activity = activity or threading.Event()
        self.stats = FaultStats()
        self.stop = threading.Event()
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self._next = {"revoke": math.inf, "latency": math.inf}
        self._latency_ends = math.inf

    def run(self) -> None:
        self.platform.set_faults(self.base)
        now = time.monotonic()
        for kind, every in (("revoke", self.revoke_every), ("latency", self.latency_every)):
            if kind in self.kinds:
                self._next[kind] = now + self.rng.uniform(*every)
        while not self.stop.wait(0.02):
            try:
                self._step(time.monotonic())
            except httpx.HTTPError:
                continue  # the platform is busy; the next round tries again
        self.platform.set_faults({})  # the drain's tail and the checks run on a healthy platform
        if self._log:
            self._log.close()

    def _step(self, now: float) -> None:
        if self.activity.is_set():  # a burst begins: aim at its cycle
            self.activity.clear()
            for kind in ("revoke", "latency"):
                if kind in self.kinds and self.rng.random() < 0.5:
                    self._next[kind] = min(self._next[kind], now + self.rng.uniform(0.05, 0.4))
        if now >= self._next["revoke"]:
            self._note(f"revoked {self.platform.revoke()} tokens")
            self.stats.revokes += 1
            self._next["revoke"] = now + self.rng.uniform(*self.revoke_every)
        if now >= self._next["latency"] and self._latency_ends == math.inf:
            self.platform.set_faults({**self.base, "latency": self.latency})
            self._note(f"latency {self.latency:g} s on")
            self.stats.latency_windows += 1
            self._latency_ends, self._next["latency"] = now + self.latency_window, math.inf
        if now >= self._latency_ends:
            self.platform.set_faults(self.base)
            self._note("latency off")
            self._latency_ends = math.inf
            self._next["latency"] = now + self.rng.uniform(*self.latency_every)

    def _note(self, text: str) -> None:
        if self._log:
            self._log.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            self._log.flush()

    def quiet(self) -> None:
        self.stop.set()
        self.join(30)


# -- the operator ---------------------------------------------------------------------------------------


class Presser(threading.Thread):
    """Presses Retry Errors every `every` s (jittered) through the API, as an operator would;
    with `fiddle`, also changes settings mid-run: Ticketing Processing off for a moment and on
    again (a running cycle stops before its next request), Max Tickets Per Request and Max
    Concurrent Requests to random values."""

    def __init__(self, runtime: RuntimeProcess, every: float, rng: random.Random, *, fiddle: bool = False) -> None:
        super().__init__(name="chaos presser", daemon=True)
        self.runtime, self.every, self.rng, self.fiddle = runtime, every, rng, fiddle
        self.presses = 0
        self.changes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.5, 1.5) * self.every):
            if press_retry_errors(self.runtime):
                self.presses += 1
            if self.fiddle:
                self._change_a_setting()

    def _change_a_setting(self) -> None:
        choice = self.rng.randrange(3)
        try:
            if choice == 0:
                self.runtime.set_param("Ticketing Processing", "Disabled")
                self.stop.wait(self.rng.uniform(0.05, 1.0))
                self.changes += 1
                # Until it is on again: a kill in between must not leave processing off for good.
                wait_for(
                    lambda: self.runtime.set_param("Ticketing Processing", "Enabled").status_code == 200,
                    timeout=60,
                    what="Ticketing Processing back on",
                    every=0.1,
                )
            elif choice == 1:
                self.runtime.set_param("Max Tickets Per Request", self.rng.choice((1, 3, 10, 50, 200)))
            else:
                self.runtime.set_param("Max Concurrent Requests", self.rng.choice((1, 2, 4, 16)))
            self.changes += 1
        except httpx.HTTPError:
            pass  # killed meanwhile: the next round changes something else


def press_retry_errors(runtime: RuntimeProcess) -> bool:
    try:
        return runtime.set_param("Retry Errors", "Retry").status_code == 200
    except httpx.HTTPError:
        return False  # down (killed) or busy: the operator tries again later


# -- checks -------------------------------------------------------------------------------------------


@define
class Findings:
    completed: int = 0
    errors: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


class PlatformIndex:
    """The platform's state (GET /_fake/state) indexed the way the checks look things up."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.by_external: dict[str, list[dict[str, Any]]] = {}
        for incident in state["incidents"]:
            if incident["external_id"]:
                self.by_external.setdefault(incident["external_id"], []).append(incident)
        self.by_rec = {i["rec_id"].lower(): i for i in state["incidents"]}
        self.notes_by_id: dict[str, list[dict[str, Any]]] = {}
        for note in state["notes"]:
            if note["details"].startswith("["):  # ours: "[<ticket id>] <summary>"
                self.notes_by_id.setdefault(note["details"][1:].split("]", 1)[0], []).append(note)
        self.orders_by_ticket: dict[str, list[dict[str, Any]]] = {}
        for order in state["work_orders"]:
            self.orders_by_ticket.setdefault(order["ticket"], []).append(order)

    def incidents(self, ticket_id: str) -> list[dict[str, Any]]:
        return self.by_external.get(ticket_id, [])

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        return self.notes_by_id.get(ticket_id, [])

    def parent(self, note: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.by_rec.get(note["parent_rec_id"].lower())


def check_outcome(
    plan: Plan, state: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]], *, allow_errors: bool = False
) -> Findings:
    """The platform's state and the element's table against the plan.

    lost: a ticket missing from the table, or Completed without its incident (and OT) or its note
    on the platform. duplicated: every platform object beyond the one a ticket should have made
    (a second incident or note for one ticket, an incident and a note, a second incident for one
    node, a second OT for one incident). Anything else that is wrong is a problem.

    A node of our own (a created ticket and the followers on its node) must end with exactly one
    incident, made by one of its tickets, and a note on it from each of the others: usually the
    first ticket creates it, but when the creator ended in Error the next one took its place, and
    the first one, retried, became a note. Any of them may hold the incident.
    """
    found = Findings()
    index = PlatformIndex(state)
    for ticket_id in plan.ids:
        row = rows.get(ticket_id)
        if row is None:
            found.lost += 1
            found.problem(f"{ticket_id}: not in the table")
            continue
        status = row.get("Status")
        if status == "Completed":
            found.completed += 1
        elif status == "Error":
            found.errors += 1
            if not allow_errors:
                found.problem(f"{ticket_id}: Error: {row.get('Last Error')}")
        else:
            found.problem(f"{ticket_id}: still {status} at {row.get('Operation')} (wedged?)")
        made = len(index.incidents(ticket_id)) + len(index.notes(ticket_id))
        if made > 1:
            found.duplicated += made - 1
            found.problem(
                f"{ticket_id}: {len(index.incidents(ticket_id))} incidents and {len(index.notes(ticket_id))} notes"
            )
    for members in plan.node_groups().values():
        _check_node(found, members, rows, index)
    for ticket_id in plan.noted:
        _check_noted(found, plan, ticket_id, rows.get(ticket_id), index)
    return found


def _completed(rows: Mapping[str, Mapping[str, Any]], ticket_id: str) -> bool:
    return rows.get(ticket_id, {}).get("Status") == "Completed"


def _check_node(
    found: Findings, members: list[str], rows: Mapping[str, Mapping[str, Any]], index: PlatformIndex
) -> None:
    """One node of our own: one incident from one of its tickets, with its one OT written back,
    and a note on it from each other ticket."""
    creators = [t for t in members if index.incidents(t)]
    if len(creators) > 1:
        found.duplicated += len(creators) - 1
        found.problem(f"node of {members[0]}: {len(creators)} incidents, by {creators}")
    if not creators:
        for ticket_id in members:
            if _completed(rows, ticket_id):
                found.lost += 1
                found.problem(f"{ticket_id}: Completed but its node has no incident")
        return
    creator = creators[0]
    incident = index.incidents(creator)[0]
    orders = index.orders_by_ticket.get(incident["incident_id"], [])
    if len(orders) > 1:
        found.duplicated += len(orders) - 1
        found.problem(f"{creator}: incident {incident['incident_id']} has {len(orders)} OTs")
    if _completed(rows, creator):
        row = rows[creator]
        if not orders:
            found.lost += 1
            found.problem(f"{creator}: Completed but incident {incident['incident_id']} has no OT")
        elif incident["ot_number"] != orders[0]["ot"] or row.get("OT Number") != orders[0]["ot"]:
            found.problem(
                f"{creator}: OT {orders[0]['ot']}, incident says {incident['ot_number']!r}, "
                f"table says {row.get('OT Number')!r}"
            )
        if row.get("Platform Ticket") != incident["incident_id"]:
            found.problem(
                f"{creator}: Platform Ticket {row.get('Platform Ticket')!r}, incident {incident['incident_id']}"
            )
    for ticket_id in members:
        if ticket_id in creators:
            continue
        notes = index.notes(ticket_id)
        if not notes:
            if _completed(rows, ticket_id):
                found.lost += 1
                found.problem(f"{ticket_id}: Completed but no note on incident {incident['incident_id']}")
            continue
        parent = index.parent(notes[0])
        if parent is None or parent["rec_id"] != incident["rec_id"]:
            found.problem(
                f"{ticket_id}: its note is on {parent and parent['incident_id']}, "
                f"its node's incident is {incident['incident_id']}"
            )
        elif _completed(rows, ticket_id) and rows[ticket_id].get("Platform Ticket") != incident["incident_id"]:
            found.problem(
                f"{ticket_id}: Platform Ticket {rows[ticket_id].get('Platform Ticket')!r}, "
                f"note on {incident['incident_id']}"
            )


def _check_noted(
    found: Findings, plan: Plan, ticket_id: str, row: Mapping[str, Any] | None, index: PlatformIndex
) -> None:
    """A ticket on the node of an open incident it did not create: one note on such an incident."""
    if index.incidents(ticket_id):
        found.problem(f"{ticket_id}: created an incident, but its node had an open one")
        return
    notes = index.notes(ticket_id)
    if not notes:
        if row is not None and row.get("Status") == "Completed":
            found.lost += 1
            found.problem(f"{ticket_id}: Completed but no note")
        return
    parent = index.parent(notes[0])
    category, node = plan.noted[ticket_id]
    if parent is None or (parent["category"], parent["node"].casefold()) != (category, node.casefold()):
        found.problem(f"{ticket_id}: its note is on the wrong incident ({parent and parent['incident_id']})")
    elif row is not None and row.get("Status") == "Completed" and row.get("Platform Ticket") != parent["incident_id"]:
        found.problem(f"{ticket_id}: Platform Ticket {row.get('Platform Ticket')!r}, note on {parent['incident_id']}")


def store_integrity(path: Path) -> str:
    """PRAGMA integrity_check of the element's store (read-only; the runtime has stopped)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def stored_ticket_ids(path: Path, table: int = 1000) -> set[str]:
    """The Ticket Overview keys the store file holds, read through the engine's own store (its
    schema is the store's business)."""
    from connector.engine.store import SQLiteStore

    store = SQLiteStore(path)
    try:
        return {key for key, _ in store.load().tables.get(table, ())}
    finally:
        store.close()


def log_findings(log_path: Path) -> tuple[list[str], Counter[str]]:
    """Tracebacks and ERROR/CRITICAL lines in the runtime's log; and request failures by kind."""
    bad: list[str] = []
    failures: Counter[str] = Counter()
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
            bad.append(line.strip()[:300])
        match = re.search(r": (TIMEOUT|LOST|CONNECT|ERROR): ", line)
        if match:
            failures[match.group(1).lower()] += 1
    return bad, failures


def wait_drained(runtime: RuntimeProcess, ids: Iterable[str], *, timeout: float) -> dict[str, dict[str, Any]]:
    """The table once every ticket in `ids` is Completed or Error (or as it is at the deadline)."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        try:
            rows = runtime.table()
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2)
            continue
        if wanted <= rows.keys() and all(rows[key].get("Status") in TERMINAL for key in wanted):
            return rows
        time.sleep(0.25)
    return rows


# -- scenarios ----------------------------------------------------------------------------------------


@frozen(kw_only=True)
class ChaosOptions:
    tickets: int = 2000
    kills: int = 20
    seed: int = 2026
    faults: tuple[str, ...] = ()
    fault_rate: float = 0.03
    note_share: float = 0.3
    follower_share: float = 0.05
    wm_batch: int = 100
    settings: ElementSettings = ElementSettings()
    session_timeout: float = 0.6  # the short timeouts when latency is among the faults: shorter than a life
    kill_gap: tuple[float, float] = (0.2, 1.5)
    drain_timeout: float = 600.0
    deadline: float = 1800.0
    # Seconds between Retry Errors presses during the run (0: none). With a low Max Retries,
    # faults put tickets in Error; pressed at random moments (kills included), and again at the
    # end until every ticket is Completed: the Error -> retry path must not duplicate either.
    retry_errors_every: float = 0.0
    fiddle: bool = False  # with retry_errors_every: also change settings mid-run (see Presser)


@frozen(kw_only=True)
class FailOptions:
    tickets: int = 200
    seed: int = 2026
    operation: str = "ot_create"
    message: str = "SFyC en mantenimiento programado"
    max_retries: int = 3
    note_share: float = 0.3
    follower_share: float = 0.1
    wm_batch: int = 100
    retry_delay: float = 0.05
    drain_timeout: float = 120.0
    concurrency: int = 1
    request_batch: int = 20


@define
class Report:
    scenario: str
    tickets: int = 0
    kills: int = 0
    faults: dict[str, int] = field(factory=dict)
    completed: int = 0
    errors: int = 0
    lost: int = 0
    duplicated: int = 0
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
        return not self.problems and self.lost == 0 and self.duplicated == 0 and self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in (
                "scenario",
                "tickets",
                "kills",
                "faults",
                "completed",
                "errors",
                "lost",
                "duplicated",
                "seconds",
                "exit_code",
                "integrity",
                "resends",
                "duplicates_acknowledged",
                "retry_presses",
                "platform_requests",
                "problems",
                "workdir",
            )
        } | {"ok": self.ok}


@define
class Setup:
    """A platform, its seeded open incidents, and a runtime not started yet: what every scenario
    (and tests/test_security.py) starts from."""

    workdir: Path
    platform: PlatformProcess
    runtime: RuntimeProcess
    nodes: list[tuple[str, str]]
    password: str
    api_key: str

    def close(self) -> None:
        self.runtime.close()
        self.platform.stop()


def set_up(
    workdir: Path,
    *,
    seed: int,
    incidents: int,
    settings: ElementSettings = ElementSettings(),
    protocol: Path = PROTOCOL_YAML,
    processing: bool = True,
    secrets: tuple[str, str] | None = None,
) -> Setup:
    """`secrets`: (Cherwell password, SFyC API key) the platform accepts and the element is given;
    default: `credentials(seed)`."""
    workdir.mkdir(parents=True, exist_ok=True)
    password, api_key = secrets or credentials(seed)
    platform = PlatformProcess(seed=seed, password=password, api_key=api_key, log_path=workdir / "platform.log")
    try:
        platform.seed_incidents(incidents, seed)
        nodes = open_nodes(platform.state())
        element_yaml, env = write_element_yaml(
            workdir,
            platform.port,
            password=password,
            api_key=api_key,
            settings=settings,
            protocol=protocol,
            processing=processing,
        )
        runtime = RuntimeProcess(element_yaml, env, log_path=workdir / "runtime.log")
    except BaseException:
        platform.stop()
        raise
    return Setup(workdir, platform, runtime, nodes, password, api_key)


def finish(
    report: Report, setup: Setup, plan: Plan, rows: Mapping[str, Mapping[str, Any]], *, allow_errors: bool = False
) -> None:
    """SIGTERM the runtime and check both sides into `report`."""
    report.exit_code = setup.runtime.terminate()
    if report.exit_code != 0:
        report.problems.append(f"connector run exited with {report.exit_code} on SIGTERM")
    for code in setup.runtime.unexpected_exits:
        report.problems.append(f"connector run exited by itself with {code}")
    state = setup.platform.state()
    # Kept beside the logs: what the checks saw, for whoever investigates a failure.
    (setup.workdir / "platform-state.json").write_text(json.dumps(state), encoding="utf-8")
    (setup.workdir / "table.json").write_text(json.dumps(rows), encoding="utf-8")
    (setup.workdir / "plan.json").write_text(
        json.dumps(
            {"rows": plan.rows, "created": sorted(plan.created), "noted": plan.noted, "followers": plan.followers}
        ),
        encoding="utf-8",
    )
    found = check_outcome(plan, state, rows, allow_errors=allow_errors)
    report.completed, report.errors, report.lost, report.duplicated = (
        found.completed,
        found.errors,
        found.lost,
        found.duplicated,
    )
    report.problems += found.problems
    store = store_path(setup.workdir)
    report.integrity = store_integrity(store)
    if report.integrity != "ok":
        report.problems.append(f"store integrity_check: {report.integrity}")
    missing = set(plan.ids) - stored_ticket_ids(store)
    if missing:
        report.lost += len(missing - (set(plan.ids) - rows.keys()))
        report.problems.append(f"{len(missing)} tickets missing from the store file, e.g. {sorted(missing)[:3]}")
    bad, failures = log_findings(setup.runtime.log_path)
    report.problems += [f"log: {line}" for line in bad[:20]]
    report.platform_requests = {name: int(count) for name, count in state.get("requests", {}).items()}
    injected = state.get("injected", {})
    for name, word in INJECTED_NAMES.items():
        if injected.get(name):
            report.faults[word] = report.faults.get(word, 0) + int(injected[name])
    if failures.get("timeout"):
        report.faults["timeouts"] = failures["timeout"]


def _pacing(kills: int, batches: int, killer: Killer | None) -> Callable[[int], bool]:
    """Batch i may go once enough kills happened: sending spans the first ~3/4 of the kills."""
    if killer is None or kills == 0 or batches == 0:
        return lambda index: True
    span = 0.75 * kills
    return lambda index: killer.kills >= math.floor(index * span / batches) or killer.done.is_set()


def run_crash(options: ChaosOptions, workdir: Path) -> Report:
    """The crash scenario (with `options.faults`); see the module's docstring."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    report = Report(
        scenario="crash" + (" + faults" if options.faults else ""), tickets=options.tickets, workdir=str(workdir)
    )
    workdir.mkdir(parents=True, exist_ok=True)
    latency = "latency" in options.faults
    protocol = short_timeout_protocol(workdir, options.session_timeout) if latency else PROTOCOL_YAML
    incidents = max(4, round(options.tickets * options.note_share / 3))
    setup = set_up(workdir, seed=options.seed, incidents=incidents, settings=options.settings, protocol=protocol)
    injector = killer = presser = None
    try:
        plan = plan_tickets(
            options.tickets, rng, setup.nodes, note_share=options.note_share, follower_share=options.follower_share
        )
        setup.runtime.start()
        activity = threading.Event()
        if options.faults:
            injector = FaultInjector(
                setup.platform,
                options.faults,
                options.fault_rate,
                random.Random(rng.random()),
                latency=options.session_timeout * 1.5,
                latency_window=options.session_timeout * 3,
                activity=activity,
                log_path=workdir / "faults.log",
            )
            injector.start()
        posting = threading.Event()
        killer = (
            Killer(
                setup.runtime,
                options.kills,
                random.Random(rng.random()),
                gap=options.kill_gap,
                deadline=options.deadline,
                posting=posting,
            )
            if options.kills
            else None
        )
        batches = len(plan.batches(options.wm_batch))
        sender = Sender(
            setup.runtime,
            plan,
            batch=options.wm_batch,
            may_send=_pacing(options.kills, batches, killer),
            deadline=options.deadline,
            rng=random.Random(rng.random()),
            think=options.kill_gap[1] if options.kills else 0.0,
        )
        sender.posting, sender.activity = posting, activity
        presser = (
            Presser(setup.runtime, options.retry_errors_every, random.Random(rng.random()), fiddle=options.fiddle)
            if options.retry_errors_every
            else None
        )
        if presser is not None:
            presser.start()
        sender.start()
        if killer is not None:
            killer.start()
            killer.join(options.deadline)
            if killer.error is not None:
                report.problems.append(f"killer: {killer.error!r}")
        sender.join(options.deadline)
        report.kills = setup.runtime.kills
        report.resends, report.duplicates_acknowledged = sender.stats.resends, sender.stats.duplicates_acknowledged
        report.problems += sender.stats.problems
        if not setup.runtime.alive():  # died on its own, or the killer failed to restart it
            setup.runtime.unexpected_exits.append(setup.runtime.proc.returncode if setup.runtime.proc else -1)
            setup.runtime.start()
        if injector is not None:
            injector.quiet()
            report.faults.update({"revoke": injector.stats.revokes} if injector.stats.revokes else {})
            if injector.stats.latency_windows:
                report.faults["latency windows"] = injector.stats.latency_windows
        rows = wait_drained(setup.runtime, plan.ids, timeout=options.drain_timeout)
        if presser is not None:
            presser.stop.set()
            presser.join(90)
            if options.fiddle:
                report.faults["settings changed"] = presser.changes
                setup.runtime.set_param("Ticketing Processing", "Enabled")
            rows = _retry_until_completed(setup.runtime, plan, rows, options.drain_timeout)
            report.retry_presses = presser.presses
        finish(report, setup, plan, rows)
    finally:
        for thread in (killer, injector, presser):
            if thread is not None:
                thread.stop.set()
        setup.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _retry_until_completed(
    runtime: RuntimeProcess, plan: Plan, rows: dict[str, dict[str, Any]], timeout: float, rounds: int = 5
) -> dict[str, dict[str, Any]]:
    """Press Retry Errors while tickets are in Error (the platform is healthy again by now)."""
    for _ in range(rounds):
        if not any(rows.get(key, {}).get("Status") == "Error" for key in plan.ids):
            break
        press_retry_errors(runtime)
        rows = wait_drained(runtime, plan.ids, timeout=timeout)
    return rows


def run_fail_for_good(options: FailOptions, workdir: Path) -> Report:
    """One operation fails every time: its tickets end in Error after exactly Max Retries + 1
    tries with the platform's reason; the others complete; Retry Errors completes them once the
    fault is gone."""
    started = time.monotonic()
    rng = random.Random(options.seed)
    report = Report(scenario=f"fail for good ({options.operation})", tickets=options.tickets, workdir=str(workdir))
    settings = ElementSettings(
        max_retries=options.max_retries,
        retry_delay=options.retry_delay,
        concurrency=options.concurrency,
        request_batch=options.request_batch,
    )
    setup = set_up(
        workdir, seed=options.seed, incidents=max(4, round(options.tickets * options.note_share / 3)), settings=settings
    )
    try:
        plan = plan_tickets(
            options.tickets, rng, setup.nodes, note_share=options.note_share, follower_share=options.follower_share
        )
        failing = _failing_tickets(plan, options.operation)
        setup.platform.set_faults({"fail_operation": {options.operation: options.message}})
        setup.runtime.start()
        sender = Sender(setup.runtime, plan, batch=options.wm_batch, deadline=options.drain_timeout)
        sender.start()
        sender.join(options.drain_timeout)
        report.problems += sender.stats.problems
        rows = wait_drained(setup.runtime, plan.ids, timeout=options.drain_timeout)
        report.problems += _check_failed_for_good(rows, failing, plan, options)
        injected = setup.platform.state()["injected"].get("fail_operation", 0)
        tries = (options.max_retries + 1) * len(failing)
        if injected != tries:
            report.problems.append(
                f"the platform failed {injected} {options.operation} items; "
                f"{len(failing)} tickets x (Max Retries + 1) = {tries}"
            )
        errors_before_retry = sum(1 for key in failing if rows.get(key, {}).get("Status") == "Error")
        setup.platform.set_faults({})
        answer = setup.runtime.set_param("Retry Errors", "Retry")
        report.retry_presses = 1
        if answer.status_code != 200:
            report.problems.append(f"Retry Errors: {answer.status_code} {answer.text[:200]}")
        rows = _wait_all_completed(setup.runtime, plan.ids, options.drain_timeout)
        finish(report, setup, plan, rows)
        report.errors = errors_before_retry  # the column means "ended in Error", before the retry
    finally:
        setup.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _failing_tickets(plan: Plan, operation: str) -> set[str]:
    """The tickets whose way goes through `operation`. A follower waits for its leader's
    incident: when creating fails for good, each of them becomes the node's creator in turn."""
    if operation == "create_ticket":
        return set(plan.created) | set(plan.followers)
    if operation in ("ot_create", "update_ticket_ot"):
        return set(plan.created)
    if operation == "add_note":
        return set(plan.noted) | set(plan.followers)
    raise ValueError(f"the fail-for-good scenario knows no ticket that goes through {operation!r}")


def _check_failed_for_good(
    rows: Mapping[str, Mapping[str, Any]], failing: set[str], plan: Plan, options: FailOptions
) -> list[str]:
    problems = []
    for key in plan.ids:
        row = rows.get(key)
        if row is None:
            problems.append(f"{key}: not in the table")
        elif key in failing:
            if (
                row.get("Status") != "Error"
                or row.get("Retries") != options.max_retries + 1
                or options.message not in str(row.get("Last Error"))
            ):
                problems.append(
                    f"{key}: expected Error after {options.max_retries + 1} tries with the platform's "
                    f"reason, got {row.get('Status')} / Retries {row.get('Retries')} / {row.get('Last Error')!r}"
                )
        elif row.get("Status") != "Completed":
            problems.append(
                f"{key}: does not need {options.operation} but is {row.get('Status')}: {row.get('Last Error')!r}"
            )
    return problems


def _wait_all_completed(runtime: RuntimeProcess, ids: Sequence[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        rows = runtime.table()
        if all(rows.get(key, {}).get("Status") == "Completed" for key in ids):
            break
        time.sleep(0.25)
    return rows


# -- the table ----------------------------------------------------------------------------------------


_CALLS = ("login", "refresh", "summary", "schema", "search", "save_batch", "ot_create", "ot_lookup")


def render(reports: Sequence[Report]) -> str:
    """One table, a column per scenario."""
    kinds = sorted({kind for report in reports for kind in report.faults})
    lines: list[tuple[str, list[str]]] = [
        ("tickets", [str(r.tickets) for r in reports]),
        ("kills (SIGKILL + restart)", [str(r.kills) for r in reports]),
    ]
    lines += [(f"faults injected: {kind}", [str(r.faults.get(kind, 0)) for r in reports]) for kind in kinds]
    lines += [
        ("completed", [str(r.completed) for r in reports]),
        ("errors", [str(r.errors) for r in reports]),
        ("lost", [str(r.lost) for r in reports]),
        ("duplicated", [str(r.duplicated) for r in reports]),
        ("WM resends / duplicates acked", [f"{r.resends} / {r.duplicates_acknowledged}" for r in reports]),
        ("Retry Errors presses", [str(r.retry_presses) for r in reports]),
        (
            "platform calls (logins / refreshes)",
            [
                f"{sum(v for k, v in r.platform_requests.items() if k in _CALLS)} "
                f"({r.platform_requests.get('login', 0)} / {r.platform_requests.get('refresh', 0)})"
                for r in reports
            ],
        ),
        ("SIGTERM exit code", [str(r.exit_code) for r in reports]),
        ("store integrity_check", [r.integrity for r in reports]),
        ("other problems", [str(len(r.problems)) for r in reports]),
        ("time", [f"{r.seconds:.1f} s" for r in reports]),
        ("result", ["PASS" if r.ok else "FAIL" for r in reports]),
    ]
    header = ("", [r.scenario for r in reports])
    width0 = max(len(name) for name, _ in [header, *lines])
    widths = [max(len(header[1][i]), *(len(values[i]) for _, values in lines)) for i in range(len(reports))]
    rule = "+" + "-" * (width0 + 2) + "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def row(name: str, values: list[str]) -> str:
        return "| " + name.ljust(width0) + " | " + " | ".join(v.rjust(w) for v, w in zip(values, widths)) + " |"

    return "\n".join([rule, row(*header), rule, *(row(name, values) for name, values in lines), rule])


# -- the command ----------------------------------------------------------------------------------------


def parse_faults(text: str) -> tuple[str, ...]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words in (["none"], []):
        return ()
    if words == ["all"]:
        return FAULT_KINDS
    if words == ["light"]:
        return LIGHT_FAULTS
    unknown = sorted(set(words) - set(FAULT_KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown faults {unknown}; known: {', '.join(FAULT_KINDS)}, all, light, none")
    return tuple(dict.fromkeys(words))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/chaos.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the runtime (at least)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--faults",
        type=parse_faults,
        default=FAULT_KINDS,
        help=f"comma-separated: {', '.join(FAULT_KINDS)}; or all (default), light, none",
    )
    parser.add_argument("--fault-rate", type=float, default=0.03, help="rate of each rate fault (default 0.03)")
    parser.add_argument(
        "--fail-operation",
        default="ot_create",
        help="the operation of the fail-for-good scenario (ot_create, create_ticket, add_note, "
        "update_ticket_ot); 'none' skips the scenario",
    )
    parser.add_argument("--fail-tickets", type=int, default=200)
    parser.add_argument(
        "--followers",
        type=float,
        default=0.05,
        help="share of tickets on the node of an earlier created ticket (default 0.05)",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="Max Concurrent Requests of the element (default 1)")
    parser.add_argument("--request-batch", type=int, default=20, help="Max Tickets Per Request (default 20)")
    parser.add_argument("--max-retries", type=int, default=10, help="Max Retries of the element (default 10)")
    parser.add_argument(
        "--retry-errors",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="press Retry Errors about every SECONDS during the run, and at the end until every "
        "ticket is Completed (default 0: never); pair with a low --max-retries",
    )
    parser.add_argument(
        "--fiddle",
        action="store_true",
        help="with --retry-errors: also switch processing off and on and change Max Tickets Per "
        "Request and Max Concurrent Requests mid-run",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--workdir", type=Path, help="keep logs, YAML and store here (default: a temp dir, removed when the run passes)"
    )
    args = parser.parse_args(argv)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    reports = [
        run_crash(
            ChaosOptions(
                tickets=args.tickets,
                kills=args.kills,
                seed=args.seed,
                faults=args.faults,
                fault_rate=args.fault_rate,
                follower_share=args.followers,
                retry_errors_every=args.retry_errors,
                fiddle=args.fiddle,
                settings=ElementSettings(
                    concurrency=args.concurrency, request_batch=args.request_batch, max_retries=args.max_retries
                ),
            ),
            base / "crash",
        )
    ]
    if args.fail_operation != "none":
        reports.append(
            run_fail_for_good(
                FailOptions(
                    tickets=args.fail_tickets,
                    seed=args.seed,
                    operation=args.fail_operation,
                    concurrency=args.concurrency,
                    request_batch=args.request_batch,
                ),
                base / "fail",
            )
        )
    print(render(reports))
    for report in reports:
        for problem in report.problems[:15]:
            print(f"{report.scenario}: {problem}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=2), encoding="utf-8")
    passed = all(r.ok for r in reports)
    if passed and args.workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"logs, element YAML and stores: {base}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
