"""The protocol's metrics: the `metrics:` section and `metric:` on params, read and refused with
FILE:LINE:COL (connector.protocol.metrics)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from connector.protocol.errors import ProtocolError
from connector.protocol.loader import parse_protocol
from connector.protocol.metrics import RUNTIME_METRICS, label_problem, name_problem
from connector.protocol.model import MetricType, ParamMetric

HEAD = """\
protocol: {name: Metrics, version: 1.0.0}
params:
  - {id: 2, name: After Startup, type: dummy}
groups:
  - {id: 2, name: After Startup, type: poll action, content: {actions: [1]}}
triggers:
  - {id: 1, name: After Startup, on: protocol, time: after startup, actions: [2]}
actions:
  - {id: 1, name: Run After Startup, on: parameter, on_id: 2, type: run handlers}
  - {id: 2, name: Queue After Startup, on: group, on_id: 2, type: execute next}
handlers:
  - {id: 1, name: After Startup, entry: "somewhere:after_startup", triggers: [2]}
"""


def load(extra_params: str = "", metrics: str = "") -> object:
    text = HEAD.replace("params:\n", "params:\n" + extra_params)
    if metrics:
        text += "metrics:\n" + metrics
    return parse_protocol(text, "metrics.yaml", check_imports=False)


def problems(extra_params: str = "", metrics: str = "") -> list[str]:
    with pytest.raises(ProtocolError) as refused:
        load(extra_params, metrics)
    return [str(problem) for problem in refused.value.problems]


def test_a_good_declaration_is_read() -> None:
    protocol = load(
        "  - {id: 40, name: Errors, kind: number, metric: {name: x_tickets, help: By status., labels: {status: E}}}\n"
        "  - {id: 41, name: Done, kind: number, metric: {name: x_tickets, labels: {status: Completed}}}\n"
        "  - {id: 42, name: Last, kind: datetime, metric: {name: x_last_timestamp_seconds}}\n",
        "  - {name: x_cycle_seconds, type: histogram, help: Cycles., buckets: [0.5, 1, 10]}\n"
        "  - {name: x_received_total, type: counter, labels: [result]}\n",
    )
    assert protocol.params[40].metric == ParamMetric(name="x_tickets", labels=(("status", "E"),), help="By status.")
    assert protocol.params[42].metric == ParamMetric(name="x_last_timestamp_seconds")
    cycle = protocol.metrics["x_cycle_seconds"]
    assert cycle.type is MetricType.HISTOGRAM and cycle.buckets == (0.5, 1.0, 10.0) and cycle.help == "Cycles."
    received = protocol.metrics["x_received_total"]
    assert received.type is MetricType.COUNTER and received.labels == ("result",) and received.buckets == ()


def test_the_ticketing_protocol_declares_its_metrics() -> None:
    from connector.ticketing.fake.inprocess import ticketing_protocol

    protocol = ticketing_protocol()
    assert set(protocol.metrics) == {"connector_cycle_duration_seconds", "connector_interapp_tickets_total"}
    statuses = {dict(p.metric.labels)["status"] for p in protocol.params.values() if p.metric and p.metric.labels}
    assert statuses == {"Received", "In Progress", "Completed", "Error"}


def test_a_bad_metrics_section_is_refused_at_its_place() -> None:
    found = problems(
        "",
        "  - {name: x_seconds, type: histogram, buckets: [1, 0.5]}\n"  # line 14
        "  - {name: x_count, type: counter, labels: [le, element]}\n"
        "  - {name: connector_platform_requests_total, type: counter}\n"
        "  - {name: y_total, type: gauge}\n"
        "  - {name: 2x_total, type: counter, labels: [ok, ok]}\n"
        "  - {name: x_seconds, type: histogram}\n"
        "  - {name: z_total, type: counter, buckets: [1]}\n"
        "  - {name: w_seconds, type: histogram, labels: [le], buckets: []}\n"
        "  - {name: w_seconds_sum, type: histogram, colour: red}\n",
    )
    assert found == [
        "metrics.yaml:14:53: buckets[1]: bounds go up: 0.5 is not above 1",
        "metrics.yaml:15:12: name: a counter's name ends with '_total' (Prometheus' rule): x_count_total?",
        "metrics.yaml:15:49: labels[1]: 'element' is the runtime's: it labels every metric with the element's name",
        "metrics.yaml:16:12: name: 'connector_platform_requests_total' is one of the runtime's own metrics: "
        "pick another name",
        "metrics.yaml:17:27: type: 'gauge' is not one of: counter, histogram",
        "metrics.yaml:18:12: name: '2x_total' is not a Prometheus metric name: letters, digits, '_' and ':', "
        "not starting with a digit",
        "metrics.yaml:18:50: labels[1]: 'ok' is listed twice",
        "metrics.yaml:19:12: name: metric 'x_seconds' is declared twice (first at line 14, column 5)",
        "metrics.yaml:20:45: buckets: only a histogram has buckets",
        "metrics.yaml:21:49: labels[0]: 'le' is the histogram's bucket label",
        "metrics.yaml:21:63: buckets: give at least one upper bound, or leave `buckets` out for the default ones",
        "metrics.yaml:22:12: name: a histogram's name may not end with _bucket, _count, _sum",
        "metrics.yaml:22:44: unknown key 'colour'; expected one of: name, type, help, labels, buckets",
    ]


def test_a_bad_param_metric_is_refused_at_its_place() -> None:
    found = problems(
        "  - {id: 40, name: A, kind: number, metric: {name: t, labels: {status: Error}}}\n"  # line 3
        "  - {id: 41, name: B, kind: number, metric: {name: t, labels: {state: Error}}}\n"
        "  - {id: 42, name: C, kind: string, metric: {name: c}}\n"
        "  - {id: 43, name: D, kind: number, metric: {name: 1bad, labels: {element: x}}}\n"
        "  - {id: 44, name: E, kind: number, metric: {name: h_seconds}}\n"
        "  - {id: 45, name: F, kind: number, metric: {name: t, labels: {status: Error}}}\n"
        "  - {id: 46, name: G, kind: number, metric: {labels: [a]}}\n",
        "  - {name: h_seconds, type: histogram}\n",
    )
    assert found == [
        "metrics.yaml:4:52: labels: 't' has labels [status] on param 40: every param of one metric has the same "
        "label names, got [state]",
        "metrics.yaml:5:52: metric: a gauge needs a number; 'C' is of kind string",
        "metrics.yaml:6:52: name: '1bad' is not a Prometheus metric name: letters, digits, '_' and ':', "
        "not starting with a digit",
        "metrics.yaml:6:67: labels: 'element' is the runtime's: it labels every metric with the element's name",
        "metrics.yaml:7:52: name: 'h_seconds' is a histogram of the `metrics:` section already",
        "metrics.yaml:8:52: labels: param 40 exports 't' with the same label values already",
        "metrics.yaml:9:45: missing required key 'name' in param metric",
        "metrics.yaml:9:54: labels: expected a mapping (`key: value` lines or {key: value}), got a list",
    ]


# -- what the rules accept, Prometheus accepts ---------------------------------------------------

NAMES = st.text(alphabet="abcXYZ_:09-. é", min_size=1, max_size=12)


class _One(Collector):
    def __init__(self, family: CounterMetricFamily) -> None:
        self.family = family

    def collect(self):  # noqa: ANN201 - prometheus-client's Collector interface
        yield self.family


@given(name=NAMES, label=NAMES)
def test_a_name_and_label_the_rules_accept_go_through_the_text_format(name: str, label: str) -> None:
    if name_problem(name) is not None or label_problem(label) is not None or label == "le":
        return
    assert name not in RUNTIME_METRICS
    family = CounterMetricFamily(name, "help", labels=("element", label))
    family.add_metric(("BE 01", "v"), 1.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_One(family))
    (parsed,) = text_string_to_metric_families(generate_latest(registry).decode())
    (sample,) = [s for s in parsed.samples if s.name.endswith("_total")]
    assert sample.labels == {"element": "BE 01", label: "v"} and sample.value == 1.0


@given(name=NAMES)
def test_a_name_the_rules_refuse_is_no_plain_prometheus_name(name: str) -> None:
    import re

    if name_problem(name) is not None and name not in RUNTIME_METRICS:
        assert not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) or name.startswith("connector_")
