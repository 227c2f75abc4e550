"""The actors around the element in a run, each a thread: WM's stand-in sending the tickets, the
killer, the fault injector and the operator pressing Retry Errors."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

from connector.engine.http import httpx
from tools.chaos.plan import Plan, batch_message
from tools.chaos.processes import PlatformProcess, RuntimeProcess, wait_for

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
# "late": a write's answer is lost and the write applied --late-delay s later (a queuing gateway).
# Not in "all": below the Settle Time it must change nothing, above it it makes duplicates that
# the element must detect; a run says which it shows (`--faults all,late --late-delay N`).
LATE = "late"
KNOWN_FAULTS = (*FAULT_KINDS, LATE)
# "expiry": tokens live this long, so that the flow refreshes them every few seconds (it refreshes
# when less than a minute is left) and a refresh can be lost or killed half-way.
SHORT_TOKEN_TTL = 60.5  # the flow refreshes below 60 s left: half a second into every token's life


# -- the WM stand-in --------------------------------------------------------------------------------


@frozen
class Acknowledgement:
    """What the API's 202 to an InterApp POST says of the tickets, over all the element's replies."""

    accepted: frozenset[str]
    duplicates: frozenset[str]
    rejected: tuple[Any, ...]


def read_acknowledgement(body: Mapping[str, Any]) -> Acknowledgement:
    """The tickets a 202 acknowledges, from either shape of the answer: each reply message of the
    element (`{"replies": [{"type": ..., "accepted": [...], ...}, ...]}`), or the older merged
    `{"accepted", "duplicates", "rejected"}`. The one place that reads it."""
    replies = body.get("replies", [body])
    accepted: set[str] = set()
    duplicates: set[str] = set()
    rejected: list[Any] = []
    for reply in replies:
        accepted.update(reply.get("accepted", ()))
        duplicates.update(reply.get("duplicates", ()))
        rejected.extend(reply.get("rejected", ()))
    return Acknowledgement(frozenset(accepted), frozenset(duplicates), tuple(rejected))


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
        posting: threading.Event | None = None,
        activity: threading.Event | None = None,
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
        self.posting = posting or threading.Event()  # a POST is on its way: the killer may aim at it
        self.activity = activity or threading.Event()  # set on every 202: the element has work (FaultInjector)

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
            acknowledged = read_acknowledgement(body)
            self.stats.duplicates_acknowledged += len(acknowledged.duplicates)
            if acknowledged.rejected or acknowledged.accepted | acknowledged.duplicates != wanted:
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
            answer = self._client.get(self.runtime.element_path("/params/Requests%20Sent"))
            return int(answer.json()["value"] or 0)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None


# -- the fault injector --------------------------------------------------------------------------------


@define
class FaultStats:
    revokes: int = 0
    latency_windows: int = 0


class FaultInjector(threading.Thread):
    """Keeps the platform failing as asked, from the first batch to the settle phase (`quiet`):
    rates set once; token revocations and latency windows (every answer slower than the client's
    timeout) at seeded random moments.

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
        late_delay: float = 1.0,
        late_rate: float | None = None,
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
        if LATE in self.kinds:
            self.base |= {"late_rate": rate if late_rate is None else late_rate, "late_delay": late_delay}
        self.latency = latency
        self.revoke_every, self.latency_every, self.latency_window = revoke_every, latency_every, latency_window
        self.activity = activity or threading.Event()
        self.stats = FaultStats()
        self.stop = threading.Event()
        self.log_path = log_path
        self._next = {"revoke": math.inf, "latency": math.inf}
        self._latency_ends = math.inf
        self._on_since = self._on_until = 0.0

    def run(self) -> None:
        self.platform.set_faults(self.base)
        now = self._on_since = time.monotonic()
        for kind, every in (("revoke", self.revoke_every), ("latency", self.latency_every)):
            if kind in self.kinds:
                self._next[kind] = now + self.rng.uniform(*every)
        while not self.stop.wait(0.02):
            try:
                self._step(time.monotonic())
            except httpx.HTTPError:
                continue  # the platform is busy; the next round tries again
        self.platform.set_faults({})  # the drain's tail and the checks run on a healthy platform
        self._on_until = time.monotonic()

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
        if self.log_path is not None:  # a few lines a second at most: opened for each
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def quiet(self) -> None:
        self.stop.set()
        self.join(30)

    @property
    def seconds_on(self) -> float:
        """How long the platform was failing (once quiet)."""
        return max(0.0, self._on_until - self._on_since)


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
