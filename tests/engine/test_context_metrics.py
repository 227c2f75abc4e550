"""`protocol.observe` / `protocol.count`: a handler's metrics leave the element as effects, in the
step's order, and only as the protocol declares them."""

from __future__ import annotations

import math
from typing import Any

from connector.engine import events as ev
from connector.engine.element import Element
from connector.engine.loading import resolve_handlers
from connector.engine.testing import FakeClock, Harness
from connector.protocol import model as m
from tests.engine import toy

METRICS = {
    "toy_seconds": m.MetricSpec(name="toy_seconds", type=m.MetricType.HISTOGRAM, buckets=(1.0, 5.0)),
    "toy_items_total": m.MetricSpec(name="toy_items_total", type=m.MetricType.COUNTER, labels=("result", "kind")),
}
SEEN: list[Any] = []


def measuring(protocol: Any) -> None:
    """Bound to Level (10/11): observes the level, counts items, then tries what is refused."""
    level = protocol.get(10)
    protocol.observe("toy_seconds", level)
    protocol.count("toy_items_total", 2, kind="a", result="ok")
    protocol.count("toy_items_total", 0, kind="a", result="ok")  # nothing to add: no effect
    for attempt in (
        lambda: protocol.observe("nope_seconds", 1),
        lambda: protocol.observe("toy_items_total", 1, result="ok", kind="a"),
        lambda: protocol.count("toy_items_total", 1, result="ok"),
        lambda: protocol.count("toy_items_total", 1, result="ok", kind="a", extra="x"),
        lambda: protocol.count("toy_items_total", -1, result="ok", kind="a"),
        lambda: protocol.observe("toy_seconds", math.nan),
    ):
        try:
            attempt()
        except (KeyError, ValueError) as refused:
            SEEN.append(str(refused))


def test_metrics_go_out_as_effects_the_harness_records() -> None:
    SEEN.clear()
    handlers = {
        **{h.id: h for h in toy.toy_protocol().handlers.values()},
        5: m.Handler(id=5, name="Level Changed", entry="tests.engine.test_context_metrics:measuring", triggers=(11,)),
    }
    protocol = toy.toy_protocol(metrics=METRICS, handlers=handlers)
    element = Element(protocol, name="Toy", handlers=resolve_handlers(protocol), now=FakeClock().now)
    harness = Harness(element, FakeClock())
    harness.start()
    harness.set("Level", 7)
    assert harness.metrics == [
        ev.Observe(metric="toy_seconds", value=7, labels=()),
        ev.Count(metric="toy_items_total", amount=2, labels=("ok", "a")),  # in the declared label order
    ]
    assert SEEN == [
        "\"the protocol declares no metric 'nope_seconds' in its `metrics:` section\"",  # a KeyError's str
        "metric 'toy_items_total' is a counter, not a histogram",
        "metric 'toy_items_total' takes the labels ['result', 'kind'], got ['result']",
        "metric 'toy_items_total' takes the labels ['result', 'kind'], got ['extra', 'kind', 'result']",
        "metric 'toy_items_total': a counter only goes up, got -1",
        "metric 'toy_seconds': a histogram observes finite numbers, got nan",
    ]
