"""`GET /metrics`: what the runtime's elements are doing, in the Prometheus text format.

Cheap to scrape and free between scrapes: the hosts keep plain counters (`HostMetrics`: a dict
increment per request, commit, InterApp message or connector metric, never per ticket), and a
custom collector turns them, the hosts' states and the parameters a protocol marks `metric:`
into metric families only when scraped. Each app has its own registry (not prometheus-client's
global one), so two runtimes in one process, or two tests, never share a metric.

Generic, from the runtime, for every element (label `element`):

    connector_element_state{state}                   1 for the element's state, 0 for the others
    connector_element_last_step_timestamp_seconds    when the element last finished a step
    connector_platform_requests_total{call, outcome} HTTP requests by session name and outcome
    connector_platform_request_duration_seconds{call} from send to result (monotonic clock)
    connector_interapp_messages_total                InterApp messages received
    connector_store_commit_duration_seconds          the store's commits

Declared by the protocol (connector.protocol.metrics): gauges of `metric:` parameters, and the
counters and histograms of its `metrics:` section, fed by the handlers' `protocol.count` and
`protocol.observe` (engine effects the host records here).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from typing import Protocol as TypingProtocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.engine import events as ev
from connector.protocol import metrics as names
from connector.protocol.model import MetricType, Protocol

# Seconds. Requests: a fast platform answers in milliseconds, a slow batch in tens of seconds.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Commits: SQLite with WAL commits in well under a millisecond to tens of milliseconds.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# A protocol histogram that names no buckets: prometheus-client's defaults.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# The classic text format: every Prometheus reads it, and our names and labels need nothing newer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("starting", "running", "timeout", "stopping", "stopped", "failed")  # DataMiner's, and ours


class Histogram:
    """Bucket counts, their sum and count: what one labelled histogram series holds."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """The buckets as Prometheus has them: (le, observations at or below it), +Inf last."""
        total, buckets = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), float(total)))
        return buckets


def outcome(result: ev.HttpResult) -> str:
    """A request's outcome label: `ok` (2xx), `http_4xx`, ..., or the transport's error word
    (`timeout`, `connect`, `lost`, `too_large`, `error`)."""
    if result.error is not None:
        return result.error
    if 200 <= result.status < 300:
        return "ok"
    if 100 <= result.status < 600:
        return f"http_{result.status // 100}xx"
    return "http_other"


class HostMetrics:
    """One element host's counters; every update is a dict look-up and an add."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.requests: dict[tuple[str, str], int] = {}  # (call, outcome) -> requests
        self.request_seconds: dict[str, Histogram] = {}  # call -> latency
        self.commit_seconds = Histogram(COMMIT_BUCKETS)
        self.interapp_messages = 0
        self.last_step: float | None = None
        self.counters: dict[tuple[str, tuple[str, ...]], float] = {}  # (metric, label values)
        self.histograms: dict[tuple[str, tuple[str, ...]], Histogram] = {}

    def request(self, call: str, result: ev.HttpResult, seconds: float) -> None:
        key = (call, outcome(result))
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.request_seconds.get(call)
        if histogram is None:
            histogram = self.request_seconds[call] = Histogram(REQUEST_BUCKETS)
        histogram.observe(seconds)

    def record(self, metric: ev.Metric) -> None:
        """A connector's metric, from the element's effects (checked by the handler API)."""
        key = (metric.metric, metric.labels)
        if isinstance(metric, ev.Count):
            self.counters[key] = self.counters.get(key, 0.0) + metric.amount
            return
        histogram = self.histograms.get(key)
        if histogram is None:
            spec = self.protocol.metrics[metric.metric]
            histogram = self.histograms[key] = Histogram(spec.buckets or DEFAULT_BUCKETS)
        histogram.observe(metric.value)


# -- the collector ------------------------------------------------------------------------------


class _Host(TypingProtocol):
    name: str

    @property
    def state(self) -> Any: ...

    @property
    def view(self) -> Any: ...


class _Hosting(TypingProtocol):
    @property
    def elements(self) -> Mapping[str, Any]: ...


class RuntimeCollector(Collector):
    """Reads the runtime's hosts when scraped (a host without `metrics` shows its state and
    parameter gauges only)."""

    def __init__(self, runtime: _Hosting) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        hosts = list(self.runtime.elements.values())
        yield from _generic(hosts)
        yield from _declared(hosts)


def _generic(hosts: Sequence[Any]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        names.ELEMENT_STATE, "The element's state: 1 for the current one.", labels=("element", "state")
    )
    last_step = GaugeMetricFamily(
        names.LAST_STEP, "When the element last finished a step (Unix time).", labels=("element",)
    )
    requests = CounterMetricFamily(
        names.PLATFORM_REQUESTS,
        "HTTP requests to the platform, by session (call) and outcome.",
        labels=("element", "call", "outcome"),
    )
    request_seconds = HistogramMetricFamily(
        names.PLATFORM_REQUEST_SECONDS,
        "Seconds from a request's send to its result, by session (call).",
        labels=("element", "call"),
    )
    interapp = CounterMetricFamily(names.INTERAPP_MESSAGES, "InterApp messages received.", labels=("element",))
    commits = HistogramMetricFamily(
        names.STORE_COMMIT_SECONDS, "Seconds the element's store took to commit a step.", labels=("element",)
    )
    for host in hosts:
        current = str(host.state)
        for name in (*STATES, *([current] if current not in STATES else [])):
            state.add_metric((host.name, name), 1.0 if name == current else 0.0)
        measured: HostMetrics | None = getattr(host, "metrics", None)
        if measured is None:
            continue
        if measured.last_step is not None:
            last_step.add_metric((host.name,), measured.last_step)
        for (call, result), count in sorted(measured.requests.items()):
            requests.add_metric((host.name, call, result), float(count))
        for call, histogram in sorted(measured.request_seconds.items()):
            request_seconds.add_metric((host.name, call), histogram.cumulative(), histogram.sum)
        interapp.add_metric((host.name,), float(measured.interapp_messages))
        commits.add_metric((host.name,), measured.commit_seconds.cumulative(), measured.commit_seconds.sum)
    yield from (state, last_step, requests, request_seconds, interapp, commits)


def _declared(hosts: Sequence[Any]) -> Iterator[Metric]:
    gauges: dict[str, GaugeMetricFamily] = {}
    declared: dict[str, CounterMetricFamily | HistogramMetricFamily] = {}
    for host in hosts:
        protocol: Protocol = host.view.protocol
        values = host.view.values
        for param in protocol.params.values():
            metric = param.metric
            if metric is None:
                continue
            number = gauge_value(values.get(param.id))
            if number is None:
                continue
            gauge = gauges.get(metric.name)
            if gauge is None:
                labels = ("element", *(label for label, _ in metric.labels))
                gauge = gauges[metric.name] = GaugeMetricFamily(metric.name, metric.help or param.name, labels=labels)
            gauge.add_metric((host.name, *(value for _, value in metric.labels)), number)
        measured: HostMetrics | None = getattr(host, "metrics", None)
        for spec in protocol.metrics.values():
            family = declared.get(spec.name)
            if family is None:
                kind = CounterMetricFamily if spec.type is MetricType.COUNTER else HistogramMetricFamily
                family = declared[spec.name] = kind(spec.name, spec.help or spec.name, labels=("element", *spec.labels))
            if measured is not None:
                _add_declared(family, host.name, spec.name, measured)
    yield from gauges.values()
    yield from declared.values()


def _add_declared(
    family: CounterMetricFamily | HistogramMetricFamily, element: str, name: str, measured: HostMetrics
) -> None:
    if isinstance(family, CounterMetricFamily):
        for (metric, labels), value in sorted(measured.counters.items()):
            if metric == name:
                family.add_metric((element, *labels), value)
        return
    for (metric, labels), histogram in sorted(measured.histograms.items(), key=lambda item: item[0]):
        if metric == name:
            family.add_metric((element, *labels), histogram.cumulative(), histogram.sum)


def gauge_value(value: Any) -> float | None:
    """A parameter's value as a gauge: numbers as they are, a datetime as Unix time; None for
    no value or one that is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return None


# -- the endpoints --------------------------------------------------------------------------------


def registry_for(runtime: _Hosting) -> CollectorRegistry:
    """A registry of its own with the runtime's collector (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    for collector in getattr(runtime, "collectors", ()):  # an agent's own (connector.service.cluster)
        registry.register(collector)
    return registry


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`. On the event loop, like every API read: a scrape never sees half a step."""
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE)


async def ready(request: Request) -> JSONResponse:
    """`GET /api/ready`: 200 when every element is running (none in timeout), else 503 with the
    reasons. `/api/health` stays the liveness answer."""
    runtime: _Hosting = request.app.state.runtime
    reasons = [
        {"element": host.name, "state": str(host.state), "reason": f"element {host.name!r} is {host.state}"}
        for host in runtime.elements.values()
        if str(host.state) != "running"
    ]
    return JSONResponse({"ready": not reasons, "reasons": reasons}, status_code=503 if reasons else 200)


def families(registry: CollectorRegistry) -> Iterable[Metric]:
    """What a scrape would show, as metric families (for tests and tools)."""
    return registry.collect()


__all__ = ["HostMetrics", "RuntimeCollector", "gauge_value", "metrics_endpoint", "outcome", "ready", "registry_for"]
