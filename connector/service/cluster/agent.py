"""An agent: a `connector run` that shares its elements with other agents through PostgreSQL.

Every agent is given the same element YAMLs and the same database. Each element runs on the
one agent that holds its lease (connector.service.cluster.leases); the others keep it on
standby and list it with its owner. One loop, every `loop_wait` seconds or at once when
another agent hands an element over (LISTEN/NOTIFY):

1. say this agent is alive (the `agents` row the spread counts);
2. renew the leases it holds; an element whose lease is no longer ours is dropped at once (its
   commits would fail the fence anyway);
3. drop what cannot go on: an element whose store refused a commit (the database went away,
   or the fence failed) is stopped and its lease handed over, and taken again, from the store,
   when the spread says so;
4. hand over and take elements as the spread says (connector.service.cluster.spread).

A watchdog holds an element whose lease deadline passed without a renewal (the database cut
off, the loop stalled): it stops sending before its lease can expire. ElementHost.may_send asks
the same question before every request, which covers a process paused (SIGSTOP) and resumed:
its first act on waking is to find its deadline gone.

SIGTERM: the agent says it is leaving, finishes each element's running group, commits, and
hands each lease over; a standby takes it within a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg

from connector.engine import events as ev
from connector.engine.pg_connect import connect, prepare_schema, shown_url
from connector.engine.store import StoreError, StoreOwner
from connector.engine.store_pg import PostgresStore
from connector.protocol.loader import load_protocol
from connector.protocol.model import Protocol
from connector.service.cluster.inbox import Inbox, until_set
from connector.service.cluster.leases import INBOX_CHANNEL, Held, LeaseBook, LeaseTiming, Owner
from connector.service.cluster.metrics import AgentCollector
from connector.service.cluster.spread import Picture, plan
from connector.service.element_ids import assign_element_ids
from connector.service.runtime import ElementConfig, ElementHost, HostState, Runtime, open_store

log = logging.getLogger("connector.agent")

WATCHDOG_PERIOD = 0.1  # seconds


class Agent(Runtime):
    """A runtime whose elements are shared with other agents (see the module's docstring)."""

    def __init__(self, name: str | None = None, *, timing: LeaseTiming | None = None) -> None:
        super().__init__()
        self.name = name
        self.timing = timing or LeaseTiming()
        self.configs: dict[str, ElementConfig] = {}
        self.protocols: dict[str, Protocol] = {}
        self.ids: dict[str, str] = {}
        self.held: dict[str, Held] = {}
        self.owners: dict[str, Owner] = {}  # the live leases at the last loop
        self.database_problem = ""  # why the last loop could not reach the database ("" when it could)
        self.book: LeaseBook | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._inbox_wake = asyncio.Event()
        self._settled = False
        self.inbox = Inbox(self)
        self._posts: set[asyncio.Task[int]] = set()
        self.counts = {"taken": 0, "lost": 0}
        self.collectors = (AgentCollector(self),)

    # -- life cycle -----------------------------------------------------------------------

    async def start(self, configs: list[ElementConfig], protocols: Mapping[Path, Protocol] | None = None) -> None:
        url, password = _one_database(configs)
        cache: dict[Path, Protocol] = dict(protocols or {})
        for config in configs:
            if config.protocol_path not in cache:
                cache[config.protocol_path] = load_protocol(config.protocol_path)
            self.configs[config.name] = config
            self.protocols[config.name] = cache[config.protocol_path]
        db = connect(url, password, purpose="agent start")
        try:
            prepare_schema(db, shown_url(url))
        finally:
            db.close()
        self.ids = _element_ids(configs, self.protocols)
        self.name = self.name or self.api_url.removeprefix("http://").removesuffix("/api")
        self.book = LeaseBook(url, password, agent=self.name, timing=self.timing)
        self.book.agent_url = self.api_url
        await self.book.heartbeat()
        self._tasks = [
            asyncio.create_task(self._loop(), name="agent leases"),
            asyncio.create_task(self._watchdog(), name="agent watchdog"),
            asyncio.create_task(self._listen(), name="agent hand-overs"),
            asyncio.create_task(self.inbox.run(self._inbox_wake, self.timing.loop_wait), name="agent inbox"),
        ]
        log.info("agent %s: %d elements shared through %s", self.name, len(configs), shown_url(url))

    async def stop(self) -> None:
        book = self.book
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if book is not None:
            await book.close()  # a query cancelled mid-flight may have left it unusable: a new one
            with contextlib.suppress(psycopg.Error, OSError):
                await book.heartbeat(leaving=True)  # so that no agent counts on us for the spread
        await asyncio.gather(*(self._hand_over(name) for name in list(self.elements)))
        await super().stop()
        if book is not None:
            await book.close()

    # -- the loop -------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.timing.ttl):
                    await self._turn()
                if self.database_problem:
                    log.info("agent %s: the database answers again", self.name, extra={"event": "database_back"})
                self.database_problem = ""
            except (psycopg.Error, OSError, TimeoutError) as exc:
                problem = " ".join(str(exc).split()) or type(exc).__name__
                if not self.database_problem:
                    log.error(
                        "agent %s: cannot reach the database (%s): its elements stop sending when their leases run out",
                        self.name,
                        problem,
                        extra={"event": "database_unreachable", "fields": {"reason": problem}},
                    )
                self.database_problem = problem
                self.owners = {}  # not known now: shown as no owner rather than as it was
            except Exception:  # our bug: the loop must go on, or every lease here runs out
                log.exception("agent %s: its lease loop failed; it goes on", self.name)
            self._wake.clear()
            await until_set(self._wake, self.timing.loop_wait)

    async def _turn(self) -> None:
        assert self.book is not None
        await self.book.heartbeat()
        renewed = await self.book.renew(self.held)
        for name in [name for name in self.held if name not in renewed]:
            log.warning("[%s] its lease is lost (another agent has it, or it expired): stopping it here", name)
            await self._drop(name)
        for name in [name for name, host in self.elements.items() if host.state is HostState.FAILED]:
            await self._hand_over(name)
        held, agents = await self.book.look()
        self.owners = held
        if not self._settled:  # one loop first: agents started together see each other
            self._settled = True
            return
        picture = Picture(
            me=self.book.agent,
            elements={name: config.prefer for name, config in self.configs.items()},
            live_agents=set(agents),
            held={name: owner.agent for name, owner in held.items()},
            owned=set(self.held),
        )
        step = plan(picture)
        for name in step.hand_over:
            log.info("[%s] handing over (the spread, or its preferred agent is back)", name)
            await self._hand_over(name)
        for name in step.take:
            lease = await self.book.take(name)
            if lease is not None:
                await self._run(name, lease)

    async def _run(self, name: str, lease: Held) -> None:
        config, protocol = self.configs[name], self.protocols[name]
        self.held[name] = lease
        self.counts["taken"] += 1
        try:
            store = open_store(config, protocol, epoch=lease.epoch)
            host = await self.start_host(config, protocol, store, self.ids[name])
        except Exception as exc:  # a store refused, a handler failing at start: another agent may do better
            log.error("[%s] cannot start it here: %s", name, exc, exc_info=not isinstance(exc, StoreError | OSError))
            await self._release(name)
            return
        host.may_send = lease.valid
        self.inbox.watch(host)
        self._inbox_wake.set()  # what other agents stored for it while it had no owner
        log.info("[%s] running on agent %s (lease epoch %d)", name, self.name, lease.epoch, extra={"element": name})

    async def _hand_over(self, name: str) -> None:
        """Stop the element (its running group finished and committed), then free its lease."""
        host = self.elements.pop(name, None)
        if host is not None:
            with contextlib.suppress(Exception):  # a failed host's store may refuse to close
                await host.stop(grace=self.timing.retry_timeout)
        await self._release(name)

    async def _release(self, name: str) -> None:
        lease = self.held.pop(name, None)
        if lease is not None and self.book is not None:
            try:
                await self.book.hand_over(name, lease)
            except (psycopg.Error, OSError) as exc:  # unreachable: it expires by itself
                log.warning("[%s] could not hand its lease over (%s): it expires by itself", name, exc)

    async def _drop(self, name: str) -> None:
        """Stop an element whose lease is gone: nothing more leaves, nothing more commits."""
        self.counts["lost"] += 1
        self.held.pop(name, None)
        host = self.elements.pop(name, None)
        if host is not None:
            host.element.hold()
            with contextlib.suppress(Exception):
                await host.stop(grace=0)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD)
            now = time.monotonic()
            for name in [name for name, lease in self.held.items() if lease.deadline <= now]:
                log.error("[%s] no lease renewal in time: stopping it before its lease can expire", name)
                await self._drop(name)

    def route(self, sender: ElementHost, message: ev.SendInterApp) -> None:
        """InterApp to an element another agent runs goes through the inbox, like the API's."""
        target = next((name for name, id in self.ids.items() if message.target in (name, id)), None)
        if self.find(message.target) is not None or target is None or self.book is None:
            super().route(sender, message)
            return
        # "element": from an element, not from outside: it may land on any parameter (InterApp Return).
        task = asyncio.create_task(self.book.post(target, "element", str(message.parameter), message.raw))
        self._posts.add(task)
        task.add_done_callback(self._post_done)

    def _post_done(self, task: asyncio.Task[int]) -> None:
        self._posts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("InterApp to another agent's element not stored: %s", task.exception())

    async def _listen(self) -> None:
        assert self.book is not None
        while True:
            try:
                listener = await self.book.listen()
                async with listener:
                    async for notice in listener.notifies():
                        (self._inbox_wake if notice.channel == INBOX_CHANNEL else self._wake).set()
            except (psycopg.Error, OSError):
                await asyncio.sleep(self.timing.loop_wait)  # the loop reports the database's state

    # -- for the API ----------------------------------------------------------------------

    def owner_of(self, name: str) -> Owner | None:
        """Who runs `name`: this agent, another, or None (being taken over, or not known now)."""
        host = self.elements.get(name)
        if host is not None and host.state is not HostState.FAILED:
            return Owner(agent=self.name or "", url=self.api_url)
        owner = self.owners.get(name)
        return None if owner is None or owner.agent == self.name else owner


def _one_database(configs: list[ElementConfig]) -> tuple[str, str | None]:
    urls = {config.store_url for config in configs}
    if None in urls:
        missing = ", ".join(config.name for config in configs if config.store_url is None)
        raise StoreError(
            f"agents share elements through PostgreSQL: give {missing} `store: postgresql://...` or --store"
        )
    if len(urls) != 1:
        raise StoreError("the elements of one agent share one database: give them the same `store:` (or --store)")
    first = configs[0]
    assert first.store_url is not None
    return first.store_url, first.store_password


def _element_ids(configs: list[ElementConfig], protocols: Mapping[str, Protocol]) -> dict[str, str]:
    """Each element's id, as a single runtime gives them (saved in the shared store)."""
    stores: dict[str, PostgresStore] = {}
    try:
        for config in configs:
            assert config.store_url is not None
            owner = StoreOwner(element=config.name, protocol=protocols[config.name].name)
            stores[config.name] = PostgresStore(config.store_url, owner, password=config.store_password)
        return assign_element_ids(configs, stores)
    finally:
        for store in stores.values():
            store.close()
