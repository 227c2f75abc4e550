"""What a protocol exports as Prometheus metrics: its `metrics:` section and `metric:` on params.

The runtime exports what every element has (its state, its HTTP requests, its store's commits,
InterApp): the names are `RUNTIME_METRICS`, and a protocol may not declare them again. What is
the connector's own, the protocol declares:

* `metric: {name: connector_tickets, labels: {status: Error}}` on a parameter: a gauge of the
  parameter's numeric value (a number, a datetime as seconds since the epoch, a discreet's
  value), read when the metrics are scraped. Parameters may share a name with different label
  values (the tickets by status).
* a top-level `metrics:` section of counters and histograms, each `{name, type: counter |
  histogram, help, labels: [..], buckets: [..]}`, that handlers feed with
  `protocol.count(name, n, **labels)` and `protocol.observe(name, value, **labels)`.

The runtime adds the `element` label to everything: a protocol may not declare it. Problems are
reported at their place in the file, like the loader's, with the rule that was broken.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from yaml.nodes import Node

from connector.protocol.document import Document
from connector.protocol.errors import Problem
from connector.protocol.model import Mark, MetricSpec, MetricType, ParamMetric, ValueKind
from connector.protocol.scalars import to_number, to_text
from connector.protocol.yamlnodes import Fields, Keys, NodeReader

# The runtime's own metrics (connector.service.metrics exports these, with these names).
ELEMENT_STATE = "connector_element_state"
LAST_STEP = "connector_element_last_step_timestamp_seconds"
PLATFORM_REQUESTS = "connector_platform_requests_total"
PLATFORM_REQUEST_SECONDS = "connector_platform_request_duration_seconds"
INTERAPP_MESSAGES = "connector_interapp_messages_total"
STORE_COMMIT_SECONDS = "connector_store_commit_duration_seconds"
RUNTIME_METRICS = frozenset(
    {ELEMENT_STATE, LAST_STEP, PLATFORM_REQUESTS, PLATFORM_REQUEST_SECONDS, INTERAPP_MESSAGES, STORE_COMMIT_SECONDS}
)
_RUNTIME_HISTOGRAMS = (PLATFORM_REQUEST_SECONDS, STORE_COMMIT_SECONDS)
ELEMENT_LABEL = "element"  # added by the runtime to every metric

METRIC_KEYS = Keys(required=("name", "type"), optional=("help", "labels", "buckets"))
PARAM_METRIC_KEYS = Keys(required=("name",), optional=("labels", "help"))
METRIC_TYPES = {member.value: member for member in MetricType}
# Param kinds whose values are numbers (a discreet only when its values are).
GAUGE_KINDS = frozenset({ValueKind.NUMBER, ValueKind.DATETIME, ValueKind.DISCREET, ValueKind.TOGGLE})

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a metric's name, or None."""
    if not _METRIC_NAME.fullmatch(name):
        return f"{name!r} is not a Prometheus metric name: letters, digits, '_' and ':', not starting with a digit"
    if name in RUNTIME_METRICS or any(
        name == f"{runtime}{suffix}" for runtime in _RUNTIME_HISTOGRAMS for suffix in _HISTOGRAM_SUFFIXES
    ):
        return f"{name!r} is one of the runtime's own metrics: pick another name"
    return None


def label_problem(label: str, *, histogram: bool = False) -> str | None:
    """Why `label` cannot be a label's name, or None."""
    if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
        return f"{label!r} is not a Prometheus label name: letters, digits and '_', not starting with a digit or '__'"
    if label == ELEMENT_LABEL:
        return f"{label!r} is the runtime's: it labels every metric with the element's name"
    if histogram and label == "le":
        return "'le' is the histogram's bucket label"
    return None


# -- reading (the loader's first pass) -----------------------------------------------------------


def read_param_metric(f: Fields) -> ParamMetric | None:
    """A param's `metric:` mapping, or None when there is none (problems reported)."""
    child = f.child("metric", "param metric", PARAM_METRIC_KEYS)
    if child is None:
        return None
    labels: list[tuple[str, str]] = []
    entries = child.reader.entries(child.get("labels"), "labels")
    if entries is None:
        child.fail()
    else:
        for key, (key_node, value_node) in entries.items():
            problem = label_problem(key)
            value = child.reader.convert(value_node, to_text, f"labels: {key}")
            if problem is not None:
                child.report(child.reader.mark(key_node), f"labels: {problem}")
            elif value is None:
                child.fail()
            else:
                labels.append((key, value))
    name = child.text("name", "")
    problem = name_problem(name) if name else None
    if problem is not None:
        child.report("name", f"name: {problem}")
    return ParamMetric(name=name, labels=tuple(labels), help=child.text("help", ""))


def read_metrics(reader: NodeReader, node: Node | None, document: Document) -> None:
    """The top-level `metrics:` section into `document.metrics`; problems reported."""
    if node is None:
        return
    seen: dict[str, Mark] = {}  # every name read, built or not: a repeat is reported either way
    for item in reader.sequence(node, "metrics") or ():
        f = reader.mapping(item, "metric", METRIC_KEYS)
        if f is not None:
            spec = _metric(f, seen)
            if spec is not None and f.ok:
                document.metrics[spec.name] = spec


def _metric(f: Fields, seen: dict[str, Mark]) -> MetricSpec | None:
    name = f.text("name")
    type = f.choice("type", METRIC_TYPES)
    labels = f.list_of("labels", to_text)
    buckets = f.list_of("buckets", to_number)
    if name is not None:
        problem = name_problem(name)
        if problem is not None:
            f.report("name", f"name: {problem}")
        elif name in seen:
            first = seen[name]
            f.report(
                "name", f"name: metric {name!r} is declared twice (first at line {first.line}, column {first.column})"
            )
        else:
            seen[name] = f.mark()
    if name is None or type is None:
        return None
    histogram = type is MetricType.HISTOGRAM
    if type is MetricType.COUNTER and not name.endswith("_total"):
        f.report("name", f"name: a counter's name ends with '_total' (Prometheus' rule): {name}_total?")
    if histogram and name.endswith(_HISTOGRAM_SUFFIXES):
        f.report("name", f"name: a histogram's name may not end with {', '.join(_HISTOGRAM_SUFFIXES)}")
    _check_labels(f, labels, histogram=histogram)
    if f.has("buckets"):
        _check_buckets(f, buckets, histogram=histogram)
    return MetricSpec(
        name=name,
        type=type,
        help=f.text("help", ""),
        labels=labels,
        buckets=tuple(float(b) for b in buckets),
        mark=f.mark(),
    )


def _check_labels(f: Fields, labels: tuple[str, ...], *, histogram: bool) -> None:
    seen: set[str] = set()
    for index, label in enumerate(labels):
        problem = label_problem(label, histogram=histogram)
        if problem is None and label in seen:
            problem = f"{label!r} is listed twice"
        if problem is not None:
            f.report(f.mark("labels", index), f"labels[{index}]: {problem}")
        seen.add(label)


def _check_buckets(f: Fields, buckets: tuple[float, ...], *, histogram: bool) -> None:
    if not histogram:
        f.report("buckets", "buckets: only a histogram has buckets")
        return
    if not buckets:
        f.report("buckets", "buckets: give at least one upper bound, or leave `buckets` out for the default ones")
    for index, bound in enumerate(buckets):
        if not math.isfinite(bound):
            f.report(f.mark("buckets", index), f"buckets[{index}]: a bound is a finite number (+Inf is implied)")
        elif index and bound <= buckets[index - 1]:
            f.report(
                f.mark("buckets", index),
                f"buckets[{index}]: bounds go up: {bound:g} is not above {buckets[index - 1]:g}",
            )


# -- the second pass: params' metrics together ----------------------------------------------------


def check_param_metrics(document: Document, problems: list[Problem]) -> None:
    """Params' gauges: numeric, not a `metrics:` name, and one set of label names per name."""
    first_of: dict[str, tuple[int, list[str]]] = {}  # metric -> its first param, its label names
    seen_values: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for param in document.params.values():
        metric = param.metric
        if metric is None or not metric.name:
            continue
        where = document.where("param", param.id, "metric", "name")
        if param.kind not in GAUGE_KINDS or (
            param.kind is ValueKind.DISCREET and not all(isinstance(d.value, int | float) for d in param.discreets)
        ):
            problems.append(
                Problem(where, f"metric: a gauge needs a number; {param.name!r} is of kind {param.kind.value}")
            )
            continue
        declared = document.metrics.get(metric.name)
        if declared is not None:
            problems.append(
                Problem(where, f"name: {metric.name!r} is a {declared.type.value} of the `metrics:` section already")
            )
            continue
        names = sorted(label for label, _ in metric.labels)
        first, first_names = first_of.setdefault(metric.name, (param.id, names))
        if first != param.id and names != first_names:
            problems.append(
                Problem(
                    where,
                    f"labels: {metric.name!r} has labels {_listed(first_names)} on param {first}: "
                    f"every param of one metric has the same label names, got {_listed(names)}",
                )
            )
            continue
        key = (metric.name, tuple(sorted(metric.labels)))
        other = seen_values.setdefault(key, param.id)
        if other != param.id:
            problems.append(
                Problem(where, f"labels: param {other} exports {metric.name!r} with the same label values already")
            )


def _listed(names: Iterable[str]) -> str:
    return "[" + ", ".join(names) + "]"


__all__ = [
    "RUNTIME_METRICS",
    "check_param_metrics",
    "label_problem",
    "name_problem",
    "read_metrics",
    "read_param_metric",
]
