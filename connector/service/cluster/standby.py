"""Reads of an element this agent has on standby, answered here from the shared store.

Every agent answers the management API for every element (issue 14): a read of an element
another agent runs is not forwarded to it, it is read from PostgreSQL, where the owner commits
every step. What is shown is the element as a start from its committed state shows it: an
`Element` of its own, started from the store's `Saved` as the owner starts it (saved values,
else the element YAML's initial ones; its passwords, which the API masks; defaults; the
after-startup handlers, which derive what is not saved, such as counts) and never run: its
effects are dropped, and the engine is sans-I/O, so nothing leaves. Its `ElementView` is the
one the owner's answers come from, so an answer has the same shape whichever agent gives it.
What only runs in memory on the owner (a volatile table, a value a cycle sets and does not
save) is what a fresh start would show.

A view is kept `FRESH_FOR` seconds: a card or a poller reading every second costs the database
one load a second per element, not one per request; concurrent reads share one load. A load
runs in a thread of its own (psycopg's synchronous store, the handlers), never on the event
loop; what those threads log through the element's loggers is dropped (it is not the element
starting).

When the database cannot be read, the answer is 503 with Retry-After (`Unavailable`), never
a stale or empty answer that looks like the element's state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol as TypingProtocol

import psycopg

from connector.engine.element import Element, ElementView, Handler
from connector.engine.loading import param_values, resolve_handlers
from connector.engine.store import StoreError, StoreOwner
from connector.engine.store_pg import PostgresStore
from connector.protocol.model import Protocol
from connector.service.api_json import ApiError
from connector.service.runtime import ElementConfig

FRESH_FOR = 1.0  # seconds a committed view is reused
RETRY_AFTER = "2"  # seconds: a database that went away is seen again within a lease loop
_THREAD_PREFIX = "standby-view"
_ELEMENT_LOGGERS = ("connector.handler", "connector.element")


class Unavailable(ApiError):
    """503 with Retry-After: the shared database cannot be read now."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, reason)
        self.headers = {"Retry-After": RETRY_AFTER}


class Cluster(TypingProtocol):
    """What the views need of the agent (connector.service.cluster.agent.Agent)."""

    configs: dict[str, ElementConfig]
    protocols: dict[str, Protocol]
    ids: dict[str, str]
    database_problem: str


class StandbyHost:
    """What the API reads of an element on standby: its name and its committed view."""

    def __init__(self, name: str, view: ElementView) -> None:
        self.name = name
        self.view = view


class StandbyViews:
    """The committed views of the elements on standby here, each kept `fresh_for` seconds."""

    def __init__(self, agent: Cluster, *, fresh_for: float = FRESH_FOR, clock: Callable[[], float] = time.monotonic):
        self._agent = agent
        self._fresh_for = fresh_for
        self._clock = clock
        self._kept: dict[str, tuple[float, ElementView]] = {}
        self._loading: dict[str, asyncio.Future[ElementView]] = {}
        self._handlers: dict[str, Mapping[int, Handler]] = {}
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix=_THREAD_PREFIX)
        self.loads = 0  # loads from the database (for tests and metrics)
        _quiet_standby_threads()

    async def host(self, name: str) -> StandbyHost:
        """The element `name`, read from the shared store (Unavailable when it cannot be)."""
        return StandbyHost(name, await self.view(name))

    async def view(self, name: str) -> ElementView:
        if self._agent.database_problem:  # known down: answer at once rather than wait a connect timeout
            raise Unavailable(f"the shared database cannot be read now ({self._agent.database_problem}); retry")
        kept = self._kept.get(name)
        if kept is not None and self._clock() < kept[0]:
            return kept[1]
        pending = self._loading.get(name)
        if pending is None:
            pending = self._loading[name] = asyncio.ensure_future(self._load(name))
            pending.add_done_callback(lambda _: self._loading.pop(name, None))
        return await asyncio.shield(pending)

    async def _load(self, name: str) -> ElementView:
        config, protocol = self._agent.configs[name], self._agent.protocols[name]
        if name not in self._handlers:
            self._handlers[name] = resolve_handlers(protocol)
        element_id = self._agent.ids.get(name, "1/1")
        loop = asyncio.get_running_loop()
        try:
            view = await loop.run_in_executor(
                self._threads, _committed_view, config, protocol, self._handlers[name], element_id
            )
        except (StoreError, psycopg.Error, OSError) as failed:
            raise Unavailable(f"element {name!r}: the shared database cannot be read now ({failed}); retry") from None
        self.loads += 1
        self._kept[name] = (self._clock() + self._fresh_for, view)
        return view

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def forget(self, name: str) -> None:
        """Drop what is kept of `name` (it runs here now: its live view is the one to read)."""
        self._kept.pop(name, None)


def _committed_view(
    config: ElementConfig, protocol: Protocol, handlers: Mapping[int, Handler], element_id: str
) -> ElementView:
    """The element as a start from its committed state shows it (in a standby thread)."""
    assert config.store_url is not None
    owner = StoreOwner(element=config.name, protocol=protocol.name)
    store = PostgresStore(config.store_url, owner, password=config.store_password)
    try:
        saved = store.load()
    finally:
        store.close()
    # Started as the owner starts it (saved values, else the YAML's initial ones; passwords;
    # defaults; the after-startup handlers, which derive what is not saved, such as counts),
    # and never run: its effects (requests, timers, commits) are dropped. Sans-I/O, so nothing
    # leaves; its handlers' log lines are dropped too (_QuietStandby).
    element = Element(protocol, name=config.name, handlers=handlers, now=time.time, element_id=element_id)
    element.start(saved, param_values(protocol, config.params), param_values(protocol, config.secrets))
    return element.view


class _QuietStandby(logging.Filter):
    """Drops what a standby view's start logs: it is not the element starting."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(_THREAD_PREFIX)


def _quiet_standby_threads() -> None:
    for name in _ELEMENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietStandby) for f in logger.filters):
            logger.addFilter(_QuietStandby())
