"""The runtime gives the element a result for every request, even when a transport raises.

Regression (issue 5): a transport exception used to end the request's task silently, so the
element's group never finished and the element stopped processing for good.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from connector.engine import events as ev
from connector.engine.http import Connection
from connector.engine.store import MemoryStore
from connector.service.runtime import ElementConfig, ElementHost, Runtime
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol


class RaisingTransport:
    async def send(self, request: ev.SendRequest, on_wire: object = None) -> ev.HttpResult:
        raise UnicodeEncodeError("ascii", "key\u00a0-secret", 3, 4, "ordinal not in range(128)")

    async def aclose(self) -> None:
        pass


def test_a_raising_transport_still_answers_the_element(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> ev.HttpResult:
        config = ElementConfig(
            name="BE",
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=9),
            params={},
            secrets={},
            store_path=Path("unused.sqlite"),
        )
        host = ElementHost(
            config, ticketing_protocol(), runtime=Runtime(), store=MemoryStore(), transport=RaisingTransport()
        )  # type: ignore[arg-type]
        request = ev.SendRequest(
            request_id=3,
            session=6,
            method="POST",
            path="/SFyC/api/v1/ordenes-trabajo/lote",
            headers={},
            body="{}",
            timeout=5,
        )
        await host._send(request)
        event, _ = host._queue.get_nowait()
        return event

    with caplog.at_level(logging.WARNING):
        result = asyncio.run(go())
    assert isinstance(result, ev.HttpResult) and result.request_id == 3 and result.error == "error"
    assert "secret" not in caplog.text and "secret" not in result.detail


# -- one effect router for the runtime and the harness -------------------------------------------

SINK_METHODS = ("commit", "send", "schedule", "cancel", "deliver", "record")


def recording(driver: type) -> type:
    """`driver` whose effect sink methods also note each call, in order, in `calls`."""

    def noting(name: str):  # noqa: ANN202 - a method made for the class below
        carry = getattr(driver, name)

        def method(self, effect: object) -> None:  # noqa: ANN001
            self.calls.append((name, effect))
            carry(self, effect)

        return method

    namespace = {name: noting(name) for name in SINK_METHODS}
    namespace["calls"] = property(lambda self: self.__dict__.setdefault("_calls", []))
    return type(f"Recording{driver.__name__}", (driver,), namespace)


class AnsweringTransport:
    async def send(self, request: ev.SendRequest, written=None) -> ev.HttpResult:  # noqa: ANN001
        if written is not None:
            written()
        return ev.HttpResult(request_id=request.request_id, status=200)

    async def aclose(self) -> None:
        pass


class TimerAndRouteRecorder:
    """The runtime as far as the host's sink calls it."""

    def schedule_timer(self, host: object, effect: ev.ScheduleTimer) -> None:
        pass

    def cancel_timer(self, host: object, timer: int) -> None:
        pass

    def route(self, host: object, message: ev.SendInterApp) -> None:
        pass


STEP: list[ev.Effect] = [
    ev.Persist(params={10: 1}, tables=()),
    ev.SendRequest(request_id=1, session=1, method="GET", path="/a", headers={}, body=None, timeout=5),
    ev.ScheduleTimer(timer=1, interval=10, first_in=0),
    ev.Defer(trigger=7),
    ev.CancelTimer(timer=2),
    ev.SendInterApp(target="", parameter=9000001, raw="ack"),
    ev.SendRequest(request_id=2, session=1, method="GET", path="/b", headers={}, body=None, timeout=5),
    ev.Defer(trigger=8),
]


def test_the_runtime_and_the_harness_carry_out_a_step_in_the_same_order() -> None:
    from connector.engine.element import Element
    from connector.engine.testing import FakeClock, Harness
    from tests.engine import toy

    clock = FakeClock()
    harness = recording(Harness)(Element(toy.toy_protocol(), name="Toy", handlers={}, now=clock.now), clock)
    harness._carry_out(STEP)

    async def host_calls() -> tuple[list[tuple[str, object]], list[ev.CheckTrigger | None]]:
        config = ElementConfig(
            name="Toy",
            protocol_path=Path("toy.yaml"),
            connection=Connection(host="127.0.0.1", port=9),
            params={},
            secrets={},
            store_path=Path("unused.sqlite"),
        )
        host = recording(ElementHost)(
            config,
            toy.toy_protocol(),
            runtime=TimerAndRouteRecorder(),
            store=MemoryStore(),
            transport=AnsweringTransport(),
        )
        replies = await host._carry_out(STEP)
        assert replies == [STEP[5]]  # the step's InterApp messages are what an API caller gets
        deferred = [host._router.take_deferred(others_waiting=False) for _ in range(3)]
        return host.calls, deferred

    calls, deferred = asyncio.run(host_calls())
    expected = [
        ("commit", STEP[0]),
        ("send", STEP[1]),
        ("schedule", STEP[2]),
        ("cancel", STEP[4]),
        ("deliver", STEP[5]),
        ("send", STEP[6]),
    ]
    assert harness.calls == calls == expected
    # Both keep the deferred triggers in the same router: in order, once, when nothing else waits.
    assert deferred == [ev.CheckTrigger(trigger=7), ev.CheckTrigger(trigger=8), None]
    assert harness._router.take_deferred(others_waiting=True) is None
    assert harness._router.take_deferred(others_waiting=False) == ev.CheckTrigger(trigger=7)
