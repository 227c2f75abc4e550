"""`GET /metrics` and `GET /api/ready` over real element hosts (issue 12, "Metrics and readiness").

Two Ticketing BE elements run in one runtime, in process: each host has a transport that answers
from its own fake platform (one clean, one with injected faults), a memory store and the real
protocol.yaml and handlers. After both have drained the tickets sent over InterApp, a scrape
through httpx's ASGI transport must say what the tables, the fake platforms and the cycles say.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector.engine import events as ev
from connector.engine.http import Connection, httpx
from connector.engine.loading import param_values
from connector.engine.store import MemoryStore
from connector.service.api import create_app
from connector.service.metrics import Histogram, HostMetrics, outcome
from connector.service.runtime import ElementConfig, ElementHost, HostState, Runtime
from connector.service.timers import Timers
from connector.ticketing import PROTOCOL_YAML, handlers, tickets
from connector.ticketing import fake as fp
from connector.ticketing.fake.inprocess import credentials, platform_transport, secrets, ticketing_protocol
from tests.ticketing.test_element import batch, make_tickets

pytestmark = pytest.mark.anyio

TOKEN = "metrics-t0ken"
CLEAN, FAULTY = "BE Clean", "BE Faulty"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class PlatformTransport:
    """The host's HTTP transport, answered on the spot by a fake platform; notes each result."""

    def __init__(self, platform: fp.FakePlatform) -> None:
        self.answer = platform_transport(platform)
        self.results: list[tuple[int, ev.HttpResult]] = []  # (session id, result)

    async def send(self, request: ev.SendRequest, written: Callable[[], None] | None = None) -> ev.HttpResult:
        if written is not None:
            written()
        result = self.answer(request)
        self.results.append((request.session, result))
        return result

    async def aclose(self) -> None:
        pass


class Drained:
    def __init__(self, runtime: Runtime, platforms: dict[str, fp.FakePlatform], transports: dict[str, Any]) -> None:
        self.runtime, self.platforms, self.transports = runtime, platforms, transports


def _host(runtime: Runtime, name: str, platform: fp.FakePlatform, index: int) -> tuple[ElementHost, PlatformTransport]:
    protocol = ticketing_protocol()
    # Settle Time 1 s: a lost answer is looked up after 1 s, not the default 120 s (no write is held here).
    params = {
        **credentials(),
        "Ticketing Processing": 1,
        "Retry Delay": 0,
        "Max Tickets Per Request": 20,
        "Settle Time": 1,
    }
    config = ElementConfig(
        name=name,
        protocol_path=PROTOCOL_YAML,
        connection=Connection(host="127.0.0.1", port=9),
        params=param_values(protocol, params),
        secrets=param_values(protocol, secrets()),
        store_path=Path("unused.sqlite"),
    )
    transport = PlatformTransport(platform)
    host = ElementHost(
        config,
        protocol,
        runtime=runtime,
        store=MemoryStore(),
        transport=transport,  # type: ignore[arg-type]  # the HttpTransport interface, answered in process
        element_id=f"1/{index}",
    )
    return host, transport


def _settled(host: ElementHost) -> bool:
    table = host.view.table("Ticket Overview")
    statuses = {table.get(key, tickets.STATUS) for key, _ in table.rows()}
    return host.view.idle and statuses <= {tickets.COMPLETED, tickets.ERROR}


@pytest.fixture(scope="module")
async def drained() -> AsyncIterator[Drained]:
    """Two elements after a drain: 120 tickets each (plus a duplicate and a rejected one)."""
    cycles: Counter[str] = Counter()
    finish = handlers._finish

    def counting(protocol: Any, *args: Any) -> None:
        cycles[protocol.element_name] += 1
        finish(protocol, *args)

    handlers._finish = counting  # type: ignore[assignment]  # count the cycles the handlers end
    runtime = Runtime()
    runtime._timers = Timers()
    platforms = {
        CLEAN: fp.FakePlatform(seed=1),
        FAULTY: fp.FakePlatform(seed=2, faults=fp.Faults(error_rate=0.1, lost_rate=0.1, html_503_rate=0.05)),
    }
    transports = {}
    try:
        for index, (name, platform) in enumerate(platforms.items(), start=1):
            host, transports[name] = _host(runtime, name, platform, index)
            runtime.elements[name] = host
            await host.start()
        for name, host in runtime.elements.items():
            rows = make_tickets(120, prefix=name[3:].upper(), nodes=40)
            for start in range(0, 120, 40):
                await host.interapp(batch(rows[start : start + 40], guid=f"{name}-{start}"))
            await host.interapp(batch([rows[0], {"ticketId": "", "node": "x"}], guid=f"{name}-again"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while not all(_settled(host) for host in runtime.elements.values()):
            assert loop.time() < deadline, "the elements did not drain in 120 s"
            await asyncio.sleep(0.01)
        drained = Drained(runtime, platforms, transports)
        drained.cycles = cycles  # type: ignore[attr-defined]
        yield drained
    finally:
        handlers._finish = finish  # type: ignore[assignment]
        await runtime.stop()


async def _scrape(runtime: Runtime, token: str | None = TOKEN) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    app = create_app(runtime, token=TOKEN)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _series(samples: dict[Any, float], name: str, element: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        labels - {("element", element)}: value
        for (sample, labels), value in samples.items()
        if sample == name and ("element", element) in labels
    }


# -- after a drain --------------------------------------------------------------------------------


async def test_tickets_by_status_are_the_tables_counts(drained: Drained) -> None:
    samples = await _scrape(drained.runtime)
    for name, host in drained.runtime.elements.items():
        table = host.view.table("Ticket Overview")
        counts = Counter(table.get(key, tickets.STATUS) for key, _ in table.rows())
        for status in (tickets.RECEIVED, tickets.IN_PROGRESS, tickets.COMPLETED, tickets.ERROR):
            assert _value(samples, "connector_tickets", element=name, status=status) == counts.get(status, 0)
        assert sum(counts.values()) == 120
    assert _value(samples, "connector_tickets", element=CLEAN, status=tickets.COMPLETED) == 120


async def test_requests_by_call_and_outcome_are_the_platforms(drained: Drained) -> None:
    samples = await _scrape(drained.runtime)
    protocol = ticketing_protocol()
    for name, platform in drained.platforms.items():
        expected: Counter[tuple[str, str]] = Counter()
        for session, result in drained.transports[name].results:
            if result.error is not None:
                word = result.error
            else:
                word = "ok" if 200 <= result.status < 300 else f"http_{result.status // 100}xx"
            expected[(protocol.sessions[session].name, word)] += 1
        counted = _series(samples, "connector_platform_requests_total", name)
        assert counted == {frozenset({("call", call), ("outcome", word)}): n for (call, word), n in expected.items()}
        # Every request the fake platform logged, no more, no less.
        assert sum(counted.values()) == len(platform.log)
        logins = sum(1 for logged in platform.log if logged.path.lower().endswith("/token"))
        login_counted = sum(n for labels, n in counted.items() if ("call", "login") in labels)
        assert login_counted == logins
        latency = _series(samples, "connector_platform_request_duration_seconds_count", name)
        assert sum(latency.values()) == len(platform.log)
    faulty = Counter()
    for labels, n in _series(samples, "connector_platform_requests_total", FAULTY).items():
        faulty[dict(labels)["outcome"]] += n
    injected = drained.platforms[FAULTY].injected
    # The faults show as outcomes: lost answers as `lost`, 500s and the gateway's 503s as `http_5xx`.
    assert injected["lost"] and faulty["lost"] == injected["lost"]
    assert faulty["http_5xx"] >= 1


async def test_cycles_interapp_commits_and_state(drained: Drained) -> None:
    samples = await _scrape(drained.runtime)
    for name, host in drained.runtime.elements.items():
        cycles = drained.cycles[name]  # type: ignore[attr-defined]
        assert cycles > 0
        assert _value(samples, "connector_cycle_duration_seconds_count", element=name) == cycles
        assert _value(samples, "connector_cycle_duration_seconds_bucket", element=name, le="+Inf") == cycles
        assert _value(samples, "connector_interapp_messages_total", element=name) == 4
        assert _value(samples, "connector_interapp_tickets_total", element=name, result="accepted") == 120
        assert _value(samples, "connector_interapp_tickets_total", element=name, result="duplicate") == 1
        assert _value(samples, "connector_interapp_tickets_total", element=name, result="rejected") == 1
        assert _value(samples, "connector_store_commit_duration_seconds_count", element=name) >= 4
        assert _value(samples, "connector_element_state", element=name, state="running") == 1
        for state in ("starting", "timeout", "stopping", "stopped", "failed"):
            assert _value(samples, "connector_element_state", element=name, state=state) == 0
        last_step = _value(samples, "connector_element_last_step_timestamp_seconds", element=name)
        assert last_step is not None and abs(last_step - host.metrics.last_step) < 1e-6
    success = _value(samples, "connector_last_successful_cycle_timestamp_seconds", element=CLEAN)
    assert success is not None and success == drained.runtime.elements[CLEAN].view.get("Last Successful Cycle")


# -- the token and readiness ------------------------------------------------------------------------


async def test_metrics_need_the_token_when_there_is_one(drained: Drained) -> None:
    app = create_app(drained.runtime, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status_code == 401 and "connector_" not in answer.text, headers
        assert (await client.get("/metrics/", headers={})).status_code == 401
        assert (await client.get("/api/ready")).status_code == 401
        assert (await client.get("/api/health")).status_code == 200
        answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200 and "connector_tickets{" in answer.text
    open_app = create_app(drained.runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=open_app), base_url="http://test") as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_ready_is_200_when_every_element_runs_and_503_with_the_reasons_otherwise(drained: Drained) -> None:
    app = create_app(drained.runtime)
    faulty = drained.runtime.elements[FAULTY]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.get("/api/ready")
        assert answer.status_code == 200 and answer.json() == {"ready": True, "reasons": []}
        for state in (HostState.TIMEOUT, HostState.STARTING, HostState.STOPPED, HostState.FAILED):
            faulty.state = state
            try:
                answer = await client.get("/api/ready")
                samples = await _scrape(drained.runtime)
            finally:
                faulty.state = HostState.RUNNING
            assert answer.status_code == 503
            assert answer.json() == {
                "ready": False,
                "reasons": [
                    {"element": FAULTY, "state": state.value, "reason": f"element {FAULTY!r} is {state.value}"}
                ],
            }
            assert _value(samples, "connector_element_state", element=FAULTY, state=state.value) == 1
            assert _value(samples, "connector_element_state", element=FAULTY, state="running") == 0
        assert (await client.get("/api/health")).status_code == 200


# -- the pieces ------------------------------------------------------------------------------------


def test_outcomes_name_the_status_family_or_the_transport_error() -> None:
    def result(**fields: Any) -> ev.HttpResult:
        return ev.HttpResult(request_id=1, **fields)

    assert outcome(result(status=200)) == "ok"
    assert outcome(result(status=204)) == "ok"
    assert outcome(result(status=302)) == "http_3xx"
    assert outcome(result(status=401)) == "http_4xx"
    assert outcome(result(status=503)) == "http_5xx"
    assert outcome(result(status=0)) == "http_other"
    for error in ("timeout", "connect", "lost", "too_large", "error"):
        assert outcome(result(error=error)) == error


def test_a_histogram_counts_each_value_in_its_bucket_and_cumulates_on_the_way_out() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 2.0, math.inf):
        histogram.observe(value)
    assert histogram.count == 5
    assert histogram.cumulative() == [("0.1", 2.0), ("1.0", 3.0), ("+Inf", 5.0)]


def test_a_connector_metric_is_recorded_per_label_values() -> None:
    metrics = HostMetrics(ticketing_protocol())
    metrics.record(ev.Count(metric="connector_interapp_tickets_total", amount=3, labels=("accepted",)))
    metrics.record(ev.Count(metric="connector_interapp_tickets_total", amount=2, labels=("accepted",)))
    metrics.record(ev.Observe(metric="connector_cycle_duration_seconds", value=0.3))
    assert metrics.counters == {("connector_interapp_tickets_total", ("accepted",)): 5}
    histogram = metrics.histograms[("connector_cycle_duration_seconds", ())]
    assert histogram.bounds[0] == 0.1 and histogram.count == 1
