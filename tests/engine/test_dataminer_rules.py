"""DataMiner rules (shared/reference/dataminer-model.md, section 5) that no other test checked:
each test is named after its rule; docs/dataminer-rules.md lists every rule with its test."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine import events as ev
from connector.engine.element import Element, internals
from connector.engine.testing import FakeClock, Harness, answer, failure
from connector.protocol import model as m
from tests.engine import toy

SEEN: list[tuple[str, Any]] = []
COUNTER = 26  # the toy's number param; the toy's action 5 increments it


@pytest.fixture(autouse=True)
def _reset() -> None:
    toy.CALLS.clear()
    SEEN.clear()


def _with(**extra: Any) -> m.Protocol:
    """The toy protocol with more triggers, actions or handlers (by id, added to the toy's)."""
    base = toy.toy_protocol()
    pieces = {kind: {**getattr(base, kind), **{x.id: x for x in things}} for kind, things in extra.items()}
    return toy.toy_protocol(**pieces)


def _make(protocol: m.Protocol, transport: Any = None, handlers: dict[int, Any] | None = None) -> Harness:
    clock = FakeClock()
    element = Element(protocol, name="Toy 01", handlers={**toy.HANDLERS, **(handlers or {})}, now=clock.now)
    return Harness(element, clock, transport=transport)


def test_rule_2_order_triggers_then_save_then_setter_then_handlers() -> None:
    # A trigger on the write param Level (11) runs a handler on Echo (24) that reads the read
    # param Level (10): the setter has not copied yet. Then the handler on 11 sees the copy.
    protocol = _with(
        triggers=[m.Trigger(id=60, name="Level Set", on=m.TriggerOn.PARAMETER, on_id=11,
                            time=m.TriggerTime.CHANGE, actions=(60,))],
        actions=[m.Action(id=60, name="Run Echo", on=m.ActionOn.PARAMETER, on_ids=(24,),
                          type=m.ActionType.RUN_HANDLERS)],
        handlers=[m.Handler(id=60, name="Echo", entry="x:y", triggers=(24,))],
    )  # fmt: skip
    h = _make(protocol, lambda r: answer(r, 200, ""), {60: lambda p: SEEN.append(("trigger", p.get(10)))})
    h.start()
    effects = h.element.handle(ev.SetParameter(param="Level", value=30, from_outside=False))
    assert SEEN == [("trigger", 5)]  # the trigger ran before the setter copied 30 to the read param
    assert toy.CALLS[-1] == ("level", 30)  # the handler ran after it
    persist = effects[0]
    assert isinstance(persist, ev.Persist) and persist.params == {10: 30}  # saved in the same step


def test_rule_5_triggers_on_group_before_and_after() -> None:
    protocol = _with(
        triggers=[
            m.Trigger(id=61, name="Before Fetch", on=m.TriggerOn.GROUP, on_id=1, time=m.TriggerTime.BEFORE,
                      actions=(5,)),
            m.Trigger(id=62, name="After Fetch", on=m.TriggerOn.GROUP, on_id=1, time=m.TriggerTime.AFTER,
                      actions=(5,)),
        ]
    )  # fmt: skip
    h = _make(protocol)
    h.start()  # the startup chain queues the Fetch group; its request is out, unanswered
    assert h.element.view.get(COUNTER) == 1  # before: fired when the group started
    h.respond(lambda r: answer(r, 200, ""))
    assert h.element.view.get(COUNTER) == 2  # after: fired once its answer was stored


def test_rule_5_trigger_on_session_timeout() -> None:
    protocol = _with(
        triggers=[m.Trigger(id=63, name="Fetch Timeout", on=m.TriggerOn.SESSION, on_id=1,
                            time=m.TriggerTime.TIMEOUT, actions=(5,))]
    )  # fmt: skip
    h = _make(protocol)
    h.start()
    h.respond(lambda r: answer(r, 500, ""))  # an answer, even an error status, is no timeout
    assert h.element.view.get(COUNTER) is None
    h.advance(10)  # the poll timer sends the next fetch
    h.respond(lambda r: failure(r, "timeout", "no answer within 30 s"))
    assert h.element.view.get(COUNTER) == 1


def test_rule_5_manual_trigger_fires_only_through_check_trigger() -> None:
    # Trigger 2 of the toy has no `on`: it queues the Fetch group when fired.
    h = _make(toy.toy_protocol(), lambda r: answer(r, 200, ""))
    h.start()
    sent = len(h.requests)
    h.set("Echo", "x", from_outside=False)  # nothing fires it on its own
    assert len(h.requests) == sent
    internals(h.element).fire_trigger(2)  # what HandlerContext.check_trigger calls
    h.dispatch(ev.SetParameter(param="Echo", value="y", from_outside=False))  # any event pumps the queue
    assert len(h.requests) == sent + 1


def test_rule_2_a_set_from_a_handler_always_fires() -> None:
    # Handler 60 (on Echo) sets Level to 7 each time; handler 61 (on the read param Level) counts.
    protocol = _with(
        handlers=[
            m.Handler(id=60, name="Set Level", entry="x:y", triggers=(24,)),
            m.Handler(id=61, name="Level Read Changed", entry="x:y", triggers=(10,)),
        ]
    )
    handlers = {60: lambda p: p.set("Level", 7), 61: lambda p: SEEN.append(("level", p.get(10)))}
    h = _make(protocol, lambda r: answer(r, 200, ""), handlers)
    h.start()
    h.set("Echo", "x", from_outside=False)
    h.set("Echo", "y", from_outside=False)
    assert SEEN == [("level", 7), ("level", 7)]  # the same value, fired twice


@pytest.mark.parametrize(("bus_address", "proxy"), [("BypassProxy", False), ("bypassproxy ", False), ("Proxy", True)])
def test_rule_6_no_proxy_for_bus_address_bypassproxy(bus_address: str, proxy: bool) -> None:
    import asyncio

    from connector.engine.http import Connection, HttpTransport

    transport = HttpTransport(Connection(host="h", port=80, scheme="http", bus_address=bus_address))
    try:
        assert transport._client.trust_env is proxy  # the environment's HTTP(S)_PROXY, or none
    finally:
        asyncio.run(transport.aclose())
