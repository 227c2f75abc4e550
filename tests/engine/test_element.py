"""The element core: DataMiner's change, queue and HTTP rules, under a fake clock."""

from __future__ import annotations

import pytest

from connector.engine import events as ev
from connector.engine.context import HandlerContext
from connector.engine.element import Element, Saved, internals
from connector.engine.testing import FakeClock, Harness, answer, failure
from connector.engine.values import ValueRefused
from connector.protocol import model as m
from tests.engine import toy


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    toy.CALLS.clear()


def make(protocol: m.Protocol | None = None, transport=None) -> Harness:
    clock = FakeClock()
    element = Element(protocol or toy.toy_protocol(), name="Toy 01", handlers=toy.HANDLERS, now=clock.now)
    return Harness(element, clock, transport=transport)


def fetch_transport(body: str = "a=1\nb=2"):
    return lambda request: answer(request, 200, body)


def test_startup_applies_defaults_then_runs_the_after_startup_chain() -> None:
    h = make(transport=fetch_transport())
    h.start()
    assert toy.CALLS[0] == ("startup", 5)  # the default was there before the handler ran
    assert h.element.view.get("Path") == "/things"


def test_saved_values_win_over_initial_values_and_defaults() -> None:
    h = make(transport=fetch_transport())
    h.start(saved=Saved(params={10: 42}), initial={10: 7})
    assert h.element.view.get(10) == 42
    fresh = make(transport=fetch_transport())
    fresh.start(initial={10: 7})
    assert fresh.element.view.get(10) == 7


def test_a_set_command_goes_to_the_write_parameter_and_the_setter_copies_before_handlers() -> None:
    h = make(transport=fetch_transport())
    h.start()
    h.set("Level", 30)
    assert h.element.view.get(10) == 30 and h.element.view.get(11) == 30
    assert ("level", 30) in toy.CALLS


def test_a_set_with_the_same_value_fires_again() -> None:
    h = make(transport=fetch_transport())
    h.start()
    h.set("Level", 30)
    h.set("Level", 30)
    assert toy.CALLS.count(("level", 30)) == 2


def test_refused_values_change_nothing() -> None:
    h = make(transport=fetch_transport())
    h.start()
    for bad in (101, "abc", -1, True, float("nan")):
        with pytest.raises(ValueRefused):
            h.set("Level", bad)
    with pytest.raises(ValueRefused):
        h.set("Mode", "Sometimes")
    assert h.element.view.get(10) == 5
    with pytest.raises(KeyError):
        h.set("No Such Parameter", 1)


def test_a_toggle_takes_its_display_text_or_its_value() -> None:
    h = make(transport=fetch_transport())
    h.start()
    h.set("Mode", "Enabled")
    assert h.element.view.get(12) == 1
    h.set("Mode", "0")
    assert h.element.view.get(12) == 0


def test_protocol_writes_fire_only_on_change_until_cleared() -> None:
    h = make(transport=fetch_transport("a=1"))
    h.start()
    h.advance(0)  # the initial timer fetched once
    parses = [c for c in toy.CALLS if c[0] == "parse"]
    assert len(parses) == 1
    h.advance(10)  # same content: the change trigger does not fire
    assert len([c for c in toy.CALLS if c[0] == "parse"]) == 1
    internals(h.element).clear(21)
    h.advance(10)  # cleared: the same content fires again
    assert len([c for c in toy.CALLS if c[0] == "parse"]) == 2


def test_copy_fires_only_when_the_value_changes() -> None:
    copied: list[object] = []
    watcher = m.Handler(id=9, name="Copy Target Changed", entry="x:y", triggers=(25,))
    base = toy.toy_protocol()
    clock = FakeClock()
    element = Element(
        toy.toy_protocol(handlers={**base.handlers, 9: watcher}),
        name="Toy",
        handlers={**toy.HANDLERS, 9: lambda protocol: copied.append(protocol.get(25))},
        now=clock.now,
    )
    h = Harness(element, clock, transport=fetch_transport())
    h.start()
    h.set("Echo", "x", from_outside=False)
    assert copied == ["x"]
    h.set("Echo", "x", from_outside=False)  # the set fires (Echo's trigger runs the copy) but the copy changes nothing
    assert copied == ["x"]
    h.set("Echo", "y", from_outside=False)
    assert copied == ["x", "y"]


def test_the_response_sets_the_status_line_and_the_content() -> None:
    h = make(transport=lambda r: answer(r, 404, "missing"))
    h.start()
    assert h.element.view.get(20) == "HTTP/1.1 404 Not Found"
    assert h.element.view.get(21) == "missing"
    h2 = make(transport=lambda r: failure(r, "timeout", "no answer within 30 s"))
    h2.start()
    assert h2.element.view.get(20) == "TIMEOUT: no answer within 30 s"


def test_the_request_is_built_when_the_group_is_queued() -> None:
    h = make()  # no transport: requests wait for h.respond
    h.start()
    first = h.unanswered[0]
    assert first.path == "/things"
    assert first.headers == {"Accept": "application/json"}  # an empty header parameter is left out
    internals(h.element).change(23, "Bearer abc", always=True)
    internals(h.element).change(22, "/later", always=True)
    internals(h.element).fire_trigger(2)  # queue another fetch now, with the new path
    h.respond(lambda r: answer(r, 200, "k=v"))
    second = h.unanswered[0]
    assert second.path == "/later" and second.headers["Authorization"] == "Bearer abc"


def test_one_group_at_a_time_and_a_timer_never_queues_a_group_twice() -> None:
    h = make()
    h.start()
    assert len(h.unanswered) == 1  # the fetch group runs, waiting for its answer
    h.advance(10)
    h.advance(10)
    h.advance(10)
    assert len(h.unanswered) == 1, "no second request while the first is in flight"
    assert h.element.view.queued == [1], "the timer queued the group once"
    h.respond(lambda r: answer(r, 200, "x=1"))
    assert len(h.unanswered) == 1 and h.element.view.queued == []


def test_interapp_set_runs_the_receive_handler_and_can_reply() -> None:
    h = make(transport=fetch_transport())
    h.start()
    h.set(9000000, "hello")
    h.set(9000000, "hello")  # an identical message is a new set: it runs again
    assert toy.CALLS.count(("interapp", "hello")) == 2
    assert h.interapp[-1] == ev.SendInterApp(target="sender", parameter=9000001, raw="ack:hello")


def test_saved_parameters_and_rows_are_persisted_first_and_passwords_never() -> None:
    h = make(transport=fetch_transport("a=1"))
    h.start(always={23: "s3cret"})
    flat = [p for p in h.persisted]
    assert all(23 not in p.params for p in flat)
    rows = [d for p in flat for d in p.tables]
    assert rows and rows[0].cells("a") == {1001: "a", 1002: "1"}  # Scratch is not saved
    effects = h.element.handle(ev.SetParameter(param="Level", value=9))
    assert isinstance(effects[0], ev.Persist) and effects[0].params == {10: 9}


def test_the_interval_parameter_reschedules_its_timer() -> None:
    h = make(transport=fetch_transport())
    h.start()
    h.set("Level", 60)  # Level (10) is the Poll timer's interval parameter in the toy
    assert h.timer_due(1) == pytest.approx(h.clock.now() + 60)


def test_a_failing_handler_is_logged_and_the_element_keeps_running(caplog) -> None:
    def boom(protocol):  # noqa: ARG001
        raise RuntimeError("bad handler")

    clock = FakeClock()
    element = Element(toy.toy_protocol(), name="Toy 01", handlers={**toy.HANDLERS, 4: boom}, now=clock.now)
    h = Harness(element, clock, transport=fetch_transport())
    h.start()
    h.set(9000000, "x")
    assert "bad handler" in caplog.text
    h.set("Level", 7)
    assert element.view.get(10) == 7


def test_group_actions_and_increment() -> None:
    h = make(transport=fetch_transport())
    h.start()
    action = m.Action(id=99, name="x", on=m.ActionOn.GROUP, on_ids=(3,), type=m.ActionType.EXECUTE_NEXT)
    internals(h.element).run_action(action)
    h.dispatch(ev.SetParameter(param="Level", value=1))  # any event pumps the queue
    assert h.element.view.get(26) == 1


def test_parallel_requests_go_out_together_and_fire_once_all_are_answered() -> None:
    h = make()
    h.start()
    h.respond(lambda r: answer(r, 200, ""))  # the startup fetch
    trigger = m.Trigger(id=50, name="All Answered", actions=(5,))  # action 5 increments Counter
    protocol = h.element.view.protocol
    protocol.triggers[50] = trigger  # the toy's mappings are plain dicts: extend it for this test
    set_id = internals(h.element).send_parallel([(1, {"path": f"/p{i}"}) for i in range(3)], done_trigger=50)
    effects = h.element.handle(ev.SetParameter(param="Level", value=7))
    sent = [e for e in effects if isinstance(e, ev.SendRequest)]
    assert [r.path for r in sent] == ["/p0", "/p1", "/p2"]
    assert all(r.headers["Accept"] == "application/json" for r in sent)
    for request in reversed(sent):  # answers may arrive in any order
        assert internals(h.element).take_parallel_results(set_id) == []  # not yet
        h.element.handle(answer(request, 200, request.path))
        assert h.element.view.get("Counter") == (1 if request is sent[0] else None)
    assert [r.body for r in internals(h.element).take_parallel_results(set_id)] == ["/p0", "/p1", "/p2"]


def test_a_cell_set_runs_the_handlers_on_its_column_and_row_handlers_get_the_key() -> None:
    seen: list[tuple[int | None, str | None]] = []

    def on_value(protocol) -> None:
        seen.append((protocol.trigger_param, protocol.row_key))

    handlers = (
        m.Handler(id=7, name="Row Handler", entry="x:y", triggers=(1002,), row=True),
        m.Handler(id=8, name="Column Handler", entry="x:y", triggers=(1002,)),
    )
    base = toy.toy_protocol()
    protocol = toy.toy_protocol(handlers={**base.handlers, **{h.id: h for h in handlers}})
    clock = FakeClock()
    element = Element(protocol, name="Toy", handlers={**toy.HANDLERS, 7: on_value, 8: on_value}, now=clock.now)
    h = Harness(element, clock, transport=fetch_transport("a=1"))
    h.start()
    h.dispatch(ev.SetCell(table="Things", key="a", column="Value", value="9", from_outside=False))
    assert element.view.tables[1000].get("a", "Value") == "9"
    assert seen == [(1002, "a"), (1002, "a")]  # every handler on the column gets the row's key
    with pytest.raises(KeyError):
        element.handle(ev.SetCell(table="Things", key="nope", column="Value", value="1", from_outside=False))
    with pytest.raises(ValueRefused):
        element.handle(ev.SetCell(table="Things", key="a", column="Key", value="b", from_outside=False))
    assert element.view.tables[1000].keys() == ["a"] and len(seen) == 2


def test_every_action_type_has_an_entry_in_the_dispatch_table() -> None:
    from connector.engine.machine import ACTIONS

    assert set(ACTIONS) == set(m.ActionType)


def test_the_element_shows_a_read_only_view() -> None:
    h = make()
    h.start()
    view = h.element.view
    assert view.name == "Toy 01" and view.running == 1 and not view.idle  # the startup fetch waits
    with pytest.raises(TypeError):
        view.values[10] = 1  # type: ignore[index]  # the point: a read-only mapping refuses it
    with pytest.raises(TypeError):
        view.tables[1000] = None  # type: ignore[index]  # the point: a read-only mapping refuses it
    h.respond(lambda r: answer(r, 200, "a=1"))
    assert view.idle and view.table("Things").keys() == ["a"] and view.get("Level") == view.values[10]


def test_a_handler_may_clear_what_it_owns() -> None:
    # Issue 11: null from outside is refused unless `clearable`; the handler API is not affected.
    h = make(transport=lambda r: answer(r, 200, ""))
    h.start()
    assert h.element.view.get("Path") == "/things"  # set by the after-startup handler
    HandlerContext(internals(h.element), 1, None, None).set("Path", None)
    assert h.element.view.get("Path") is None
    with pytest.raises(ValueRefused, match="clearable"):
        h.set("Level", None)
