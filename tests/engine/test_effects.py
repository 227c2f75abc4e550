"""The effect router: one step's effects onto a sink in order, deferred triggers when idle."""

from __future__ import annotations

import pytest

from connector.engine import events as ev
from connector.engine.effects import EffectRouter


class ListSink:
    def __init__(self, refuse_commit: bool = False) -> None:
        self.calls: list[str] = []
        self.refuse_commit = refuse_commit

    def commit(self, persist: ev.Persist) -> None:
        if self.refuse_commit:
            raise OSError("disk full")
        self.calls.append("commit")

    def send(self, request: ev.SendRequest) -> None:
        self.calls.append(f"send {request.request_id}")

    def schedule(self, timer: ev.ScheduleTimer) -> None:
        self.calls.append(f"schedule {timer.timer}")

    def cancel(self, timer: ev.CancelTimer) -> None:
        self.calls.append(f"cancel {timer.timer}")

    def deliver(self, message: ev.SendInterApp) -> None:
        self.calls.append(f"deliver {message.raw}")

    def record(self, metric: ev.Metric) -> None:
        self.calls.append(f"record {metric.metric}")


def request(request_id: int) -> ev.SendRequest:
    return ev.SendRequest(request_id=request_id, session=1, method="GET", path="/", headers={}, body=None, timeout=1)


STEP: list[ev.Effect] = [
    ev.Persist(params={}, tables=()),
    request(1),
    ev.Defer(trigger=5),
    ev.ScheduleTimer(timer=2, interval=1, first_in=0),
    ev.CancelTimer(timer=3),
    ev.SendInterApp(target="x", parameter=1, raw="hi"),
    ev.Observe(metric="h", value=1.5),
    request(2),
    ev.Count(metric="c_total", amount=2, labels=("a",)),
]


def test_effects_reach_the_sink_in_the_order_of_the_step() -> None:
    sink = ListSink()
    router = EffectRouter(sink)
    router.carry_out(STEP)
    assert sink.calls == [
        "commit", "send 1", "schedule 2", "cancel 3", "deliver hi", "record h", "send 2", "record c_total"
    ]  # fmt: skip
    assert router.deferred == 1


def test_a_refused_commit_stops_the_step_before_anything_leaves() -> None:
    sink = ListSink(refuse_commit=True)
    router = EffectRouter(sink)
    with pytest.raises(OSError):
        router.carry_out(STEP)
    assert sink.calls == [] and router.deferred == 0


def test_a_deferred_trigger_waits_while_another_event_waits() -> None:
    router = EffectRouter(ListSink())
    router.carry_out([ev.Defer(trigger=5), ev.Defer(trigger=6)])
    assert router.take_deferred(others_waiting=True) is None
    assert router.take_deferred(others_waiting=False) == ev.CheckTrigger(trigger=5)
    assert router.take_deferred(others_waiting=False) == ev.CheckTrigger(trigger=6)
    assert router.take_deferred(others_waiting=False) is None


def test_every_effect_type_has_a_route() -> None:
    router = EffectRouter(ListSink())
    router.carry_out(STEP)  # a missing route would raise KeyError
    assert set(router._routes) == set(ev.Effect.__args__)
