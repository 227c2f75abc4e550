"""Host elements like a small DataMiner Agent: one asyncio task per element, timers on the
loop's monotonic clock (`connector.service.timers`), HTTP on httpx, state in a store, InterApp
between elements by name.

Each element is a sans-I/O core (`connector.engine.element.Element`). Its host feeds it one
event at a time from a queue and carries out the effects of each step in order, through the
engine's router (`connector.engine.effects`, shared with the test harness): first the
`Persist` (one transaction), then requests, timers and InterApp messages. So a change is
committed before the request or the acknowledgement that depends on it leaves the process,
and a process killed at any moment restarts from a state it had acknowledged.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from attrs import field, frozen

from connector.engine import events as ev
from connector.engine.effects import EffectRouter
from connector.engine.element import Element, ElementView
from connector.engine.http import Connection, HttpTransport
from connector.engine.loading import param_values, resolve_handlers
from connector.engine.store import SQLiteStore, Store, StoreOwner
from connector.engine.values import ValueRefused
from connector.protocol.loader import load_protocol
from connector.protocol.model import INTERAPP_RECEIVE, Protocol
from connector.service.element_ids import assign_element_ids
from connector.service.metrics import HostMetrics
from connector.service.timers import Timers

log = logging.getLogger("connector.runtime")

_STOP = object()
ON_WIRE_WAIT = 0.05  # seconds a step waits for its requests to be written before the next step


@frozen(kw_only=True)
class ElementConfig:
    """One element, as its element YAML declares it (see connector.service.config)."""

    name: str
    protocol_path: Path
    connection: Connection
    params: Mapping[int | str, Any]  # initial values: apply when the store is empty
    # Password parameters: applied at every start, never stored, never in a repr.
    secrets: Mapping[int | str, str] = field(repr=False)
    store_path: Path
    # `store: postgresql://...` (connector.engine.store_pg); None: the SQLite file at store_path.
    store_url: str | None = None
    store_password: str | None = field(default=None, repr=False)  # for store_url; never stored
    prefer: str | None = None  # the agent that runs it when it is up (connector.service.cluster)
    source: str = ""
    element_id: str | None = None  # "1/12"; None: the one saved in the store (connector.service.element_ids)


class HostState(enum.StrEnum):
    """Where an element host is in its life. The values are what the API shows."""

    STARTING = "starting"
    RUNNING = "running"
    TIMEOUT = "timeout"  # running, but what it talks to is down for everyone (DataMiner's timeout)
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"  # its store refused a commit: it stopped rather than run ahead of it

    @property
    def accepting(self) -> bool:
        """Whether the host takes events (sets, InterApp, timers) in this state."""
        return self in (HostState.STARTING, HostState.RUNNING, HostState.TIMEOUT)

    @property
    def running(self) -> bool:
        """Started and not stopping: timers fire and other elements' messages are delivered."""
        return self in (HostState.RUNNING, HostState.TIMEOUT)


def open_store(config: ElementConfig, protocol: Protocol, *, epoch: int | None = None) -> Store:
    """The element's own store: its SQLite file, locked for this process, or its PostgreSQL
    state, fenced by the lease `epoch` (StoreError when refused)."""
    owner = StoreOwner(element=config.name, protocol=protocol.name)
    if config.store_url is not None:
        from connector.engine.store_pg import PostgresStore  # psycopg only when it is used

        return PostgresStore(config.store_url, owner, password=config.store_password, epoch=epoch)
    return SQLiteStore(config.store_path, owner=owner)


def say_ignored(element_name: str, protocol: Protocol, initial: Mapping[int, Any], saved: Mapping[int, Any]) -> None:
    """The element YAML's values are initial values: a saved one wins. Say so where they differ."""
    for pid, value in initial.items():
        if pid in saved and saved[pid] != value and not protocol.params[pid].password:
            name = protocol.params[pid].name
            log.warning(
                "[%s] %s: the element YAML says %r, the saved value %r wins "
                "(the YAML's values apply to a new element only; set it through the API)",
                element_name,
                name,
                value,
                saved[pid],
                extra={
                    "element": element_name,
                    "event": "yaml_setting_ignored",
                    "fields": {"param": name, "yaml": value, "saved": saved[pid]},
                },
            )


class ElementHost:
    def __init__(
        self,
        config: ElementConfig,
        protocol: Protocol,
        *,
        runtime: Runtime,
        store: Store | None = None,
        transport: HttpTransport | None = None,
        clock: Callable[[], float] = time.time,
        element_id: str = "1/1",
    ) -> None:
        self.config = config
        self.name = config.name
        self.protocol = protocol
        self.element_id = element_id
        self.runtime = runtime
        self.element = Element(
            protocol, name=config.name, handlers=resolve_handlers(protocol), now=clock, element_id=element_id
        )
        self.store = store if store is not None else open_store(config, protocol)
        self.transport = transport if transport is not None else HttpTransport(config.connection)
        self.state = HostState.STARTING
        self.failure: str | None = None  # why the host is FAILED
        self.metrics = HostMetrics(protocol)  # read by connector.service.metrics when scraped
        self._clock = clock
        self.reason = ""  # why it is in timeout (HostState.TIMEOUT), for the API
        self._timeout: ev.ElementStatus | None = None  # set by the element, kept while starting
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[list[ev.SendInterApp]] | None]] = asyncio.Queue()
        self._requests: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._router = EffectRouter(self)
        # An agent's hooks (connector.service.cluster): whether its lease lets a request leave
        # now, and each event before its step (an inbox message's mark joins that step's commit).
        self.may_send: Callable[[], bool] = lambda: True
        self.step_starts: Callable[[object], None] = lambda event: None
        # What the step being carried out sent: its InterApp messages (the replies an API
        # caller waits for) and its requests' "written" futures (see _carry_out).
        self._replies: list[ev.SendInterApp] = []
        self._on_wire: list[asyncio.Future[None]] = []

    @property
    def view(self) -> ElementView:
        """The element, read-only (for the API and the demo)."""
        return self.element.view

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        # Checked again here: the element YAML loader did, but configurations built in code
        # (the demo's) come this way too.
        initial = param_values(self.protocol, self.config.params)
        always = param_values(self.protocol, self.config.secrets)
        saved = self.store.load()
        if not saved.empty:
            say_ignored(self.name, self.protocol, initial, saved.params)
        effects = self.element.start(saved, initial, always)
        await self._carry_out(effects)
        self._worker = asyncio.create_task(self._run(), name=f"element {self.name}")
        self.state = HostState.TIMEOUT if self._timeout is not None else HostState.RUNNING
        log.info(
            "[%s] running (%s %s, %d rows)",
            self.name,
            self.protocol.name,
            self.protocol.version,
            sum(len(t) for t in self.element.view.tables.values()),
        )
        for warning in self.protocol.warnings:
            log.warning("[%s] %s", self.name, warning)

    async def stop(self, grace: float = 30.0) -> None:
        """Finish the running group (its answer handled and committed), then stop."""
        self.state = HostState.STOPPING
        self.element.hold()
        self.runtime.cancel_timers(self)
        deadline = time.monotonic() + grace
        while self.element.view.running is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self._queue.put((_STOP, None))
        if self._worker is not None:
            await self._worker
        for task in list(self._requests):
            task.cancel()
        await self.transport.aclose()
        self.store.close()
        self.state = HostState.STOPPED
        log.info("[%s] stopped", self.name)

    # -- what the API and other elements call ----------------------------------------------

    async def set(self, ref: int | str, value: Any) -> None:
        """The set command. KeyError / ValueRefused when refused (nothing changed)."""
        await self.submit(ev.SetParameter(param=ref, value=value))

    async def interapp(self, raw: str) -> list[ev.SendInterApp]:
        """A set on 9000000; the InterApp replies the step produced, after its commit."""
        self.metrics.interapp_messages += 1
        return await self.submit(ev.SetParameter(param=INTERAPP_RECEIVE, value=raw))

    async def submit(self, event: ev.Event) -> list[ev.SendInterApp]:
        if not self.state.accepting:
            raise RuntimeError(f"element {self.name!r} is {self.state}")
        future: asyncio.Future[list[ev.SendInterApp]] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    def post(self, event: ev.Event) -> None:
        """Queue an event without waiting for it (timers, answers, other elements)."""
        self._queue.put_nowait((event, None))

    # -- the worker -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            deferred = self._router.take_deferred(others_waiting=not self._queue.empty())
            if deferred is not None:
                event, future = deferred, None
            else:
                event, future = await self._queue.get()
            if event is _STOP:
                return
            self.step_starts(event)
            try:
                effects = self.element.handle(event)
            except (KeyError, ValueRefused) as refused:  # a refused set: nothing changed
                if future is not None:
                    future.set_exception(refused)
                continue
            except Exception as exc:
                log.exception("[%s] step failed on %r", self.name, type(event).__name__)
                if future is not None:
                    future.set_exception(exc)
                continue
            try:
                replies = await self._carry_out(effects)
            except Exception as exc:
                # The store refused a commit: the element is ahead of its store. Stop it
                # rather than acknowledge what is not durable.
                log.critical("[%s] cannot commit (%s): stopping the element", self.name, exc)
                # The API answers 503 for it (with this reason) rather than show that memory.
                # Why not reload it from the store instead: the store has just failed (a full
                # disk, an I/O error) and may fail again, and a reload runs the element's start
                # (defaults, triggers, handlers), so what it showed would not be the committed
                # state either. A restart shows the committed state, and resumes from it.
                self.failure = f"its store refused a commit: {exc}"
                self.state = HostState.FAILED
                self.element.hold()
                if future is not None:
                    future.set_exception(exc)
                return
            self.metrics.last_step = self._clock()
            if future is not None and not future.done():
                future.set_result(replies)

    async def _carry_out(self, effects: list[ev.Effect]) -> list[ev.SendInterApp]:
        """Carry out one step's effects; its InterApp messages (the replies) once done."""
        self._replies, self._on_wire = [], []
        self._router.carry_out(effects)
        if self._on_wire:
            # The next step would hold the GIL, and an HTTP thread cannot write its request
            # without it: a deferred step (settling the previous batch) used to delay each
            # request by 2-3 ms. Wait, idle, until the requests are written, and no longer than
            # ON_WIRE_WAIT (a connect may take its time; the element must not stall on it).
            await asyncio.wait(self._on_wire, timeout=ON_WIRE_WAIT)
        return self._replies

    # -- the effect sink (connector.engine.effects.EffectSink) ------------------------------

    def commit(self, persist: ev.Persist) -> None:
        started = time.monotonic()
        self.store.commit(persist)
        self.metrics.commit_seconds.observe(time.monotonic() - started)

    def send(self, request: ev.SendRequest) -> None:
        if not self.may_send():  # the next owner reconciles it, as after a crash
            log.warning("[%s] %s not sent: this agent's lease may have expired", self.name, request.method)
            return
        on_wire: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_wire.append(on_wire)
        task = asyncio.create_task(self._send(request, on_wire))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def schedule(self, timer: ev.ScheduleTimer) -> None:
        self.runtime.schedule_timer(self, timer)

    def cancel(self, timer: ev.CancelTimer) -> None:
        self.runtime.cancel_timer(self, timer.timer)

    def deliver(self, message: ev.SendInterApp) -> None:
        self._replies.append(message)
        self.runtime.route(self, message)

    def record(self, metric: ev.Metric) -> None:
        self.metrics.record(metric)

    def status(self, status: ev.ElementStatus) -> None:
        was = self._timeout
        self._timeout = status if status.timeout else None
        if self.state.running:
            self.state = HostState.TIMEOUT if status.timeout else HostState.RUNNING
        self.reason = status.reason if status.timeout else ""
        fields = {"element": self.name, "fields": {"reason": status.reason}}
        if status.timeout and (was is None or was.reason != status.reason):
            log.warning("[%s] in timeout: %s", self.name, status.reason, extra={**fields, "event": "timeout_entered"})
        elif not status.timeout and was is not None:
            log.info(
                "[%s] out of timeout: the platform answers again", self.name, extra={**fields, "event": "timeout_left"}
            )

    async def _send(self, request: ev.SendRequest, on_wire: asyncio.Future[None] | None = None) -> None:
        loop = asyncio.get_running_loop()

        def mark_written() -> None:  # on the loop
            if on_wire is not None and not on_wire.done():
                on_wire.set_result(None)

        def written() -> None:  # from the HTTP thread
            if on_wire is not None:
                loop.call_soon_threadsafe(mark_written)

        started = time.monotonic()
        try:
            result = await self.transport.send(request, written)
        except Exception as exc:  # noqa: BLE001 - without a result the element waits forever
            # Not the exception's text: it may quote a header value (a key, a token).
            log.error(
                "[%s] %s %s: the transport failed (%s)",
                self.name,
                request.method,
                request.path.split("?")[0],
                type(exc).__name__,
            )
            result = ev.HttpResult(
                request_id=request.request_id, error="error", detail=f"the transport failed: {type(exc).__name__}"
            )
        session = self.protocol.sessions.get(request.session)
        self.metrics.request(session.name if session else str(request.session), result, time.monotonic() - started)
        if result.error is not None:
            log.warning("[%s] %s %s: %s", self.name, request.method, request.path.split("?")[0], result.status_line)
        else:
            log.debug("[%s] %s %s: %s", self.name, request.method, request.path.split("?")[0], result.status_line)
        self.post(result)


class Runtime:
    """Every element of one `connector run`, with their timers and InterApp routing."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.elements: dict[str, ElementHost] = {}
        self._timers: Timers | None = None
        self.api_url = ""  # http://HOST:PORT/api, once the API listens (set by connector.service.serve)

    async def start(self, configs: list[ElementConfig], protocols: Mapping[Path, Protocol] | None = None) -> None:
        """Open every element's store (locked for this process) and give each element its id,
        then start the elements.

        A store refused (in use, another element's, damaged: StoreError) or an element id used twice
        (ElementIdError) stops the start before any element starts, and closes the stores opened so far.
        """
        cache: dict[Path, Protocol] = dict(protocols or {})
        stores: dict[str, Store] = {}
        try:
            for config in configs:
                protocol = cache.get(config.protocol_path)
                if protocol is None:
                    protocol = cache[config.protocol_path] = load_protocol(config.protocol_path)
                stores[config.name] = open_store(config, protocol)
            ids = assign_element_ids(configs, stores)
            for config in configs:
                host = ElementHost(
                    config,
                    cache[config.protocol_path],
                    runtime=self,
                    store=stores[config.name],
                    clock=self.clock,
                    element_id=ids[config.name],
                )
                self.elements[config.name] = host
        except BaseException:
            for host in self.elements.values():
                await host.transport.aclose()
            for store in stores.values():
                store.close()
            self.elements.clear()
            raise
        self._timers = Timers()
        try:
            for host in self.elements.values():
                await host.start()
        except BaseException:
            await self.stop()  # the stores closed, their locks released
            raise

    async def start_host(self, config: ElementConfig, protocol: Protocol, store: Store, element_id: str) -> ElementHost:
        """Start one more element on `store` (an agent's, once it holds the element's lease)."""
        if self._timers is None:
            self._timers = Timers()
        host = ElementHost(config, protocol, runtime=self, store=store, clock=self.clock, element_id=element_id)
        self.elements[config.name] = host
        try:
            await host.start()
        except BaseException:
            del self.elements[config.name]
            await host.transport.aclose()
            store.close()
            raise
        return host

    async def stop(self) -> None:
        await asyncio.gather(*(host.stop() for host in self.elements.values()))
        if self._timers is not None:
            self._timers.cancel_all()

    # -- timers ---------------------------------------------------------------------------

    def schedule_timer(self, host: ElementHost, effect: ev.ScheduleTimer) -> None:
        assert self._timers is not None
        # On the loop's monotonic clock: a wall-clock jump delays or hastens no timer. The fire
        # only queues an event: the element does the work, on its own task. Late fires still
        # run, once (coalesced); one pending fire per timer.
        self._timers.schedule(
            (host.name, effect.timer),
            lambda: self._fire(host, effect.timer),
            first_in=effect.first_in,
            interval=effect.interval,
        )

    @staticmethod
    def _fire(host: ElementHost, timer: int) -> None:
        if host.state.running:
            host.post(ev.TimerFired(timer=timer))

    def cancel_timer(self, host: ElementHost, timer: int) -> None:
        if self._timers is not None:
            self._timers.cancel((host.name, timer))

    def cancel_timers(self, host: ElementHost) -> None:
        for timer in host.protocol.timers:
            self.cancel_timer(host, timer)

    # -- InterApp -------------------------------------------------------------------------

    def find(self, target: str) -> ElementHost | None:
        host = self.elements.get(target)
        if host is None:
            host = next((h for h in self.elements.values() if h.element_id == target), None)
        return host

    def route(self, sender: ElementHost, message: ev.SendInterApp) -> None:
        if not message.target:
            return  # a reply with no return address: only the API caller gets it
        host = self.find(message.target)
        if host is None or not host.state.running:
            if message.parameter != INTERAPP_RECEIVE and host is None:
                # A reply to a return address outside this runtime (the API caller, which gets it
                # with its answer): the normal way of things, nothing lost.
                log.debug(
                    "[%s] InterApp reply to %s: not an element here (the caller has it)", sender.name, message.target
                )
                return
            log.warning(
                "[%s] InterApp to %s: no such running element here; message dropped", sender.name, message.target
            )
            return
        host.metrics.interapp_messages += 1
        # Between our own elements: not a set from outside (a reply lands on InterApp Return).
        host.post(ev.SetParameter(param=message.parameter, value=message.raw, from_outside=False))
