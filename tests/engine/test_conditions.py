"""Conditions at runtime (connector.engine.conditions): what a comparison means, and triggers and
groups that fire or run only while theirs holds, driven through the Harness."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.conditions import holds
from connector.engine.testing import answer
from connector.protocol.conditions import parse_condition
from tests.engine.poller import make_poller, poller_protocol, saved_polling

PROTOCOL = poller_protocol()


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("id:10 == 'Enabled'", {10: 1}, True),  # a discreet by its display
        ("id:10 == 1", {10: 1}, True),  # or by its value
        ("id:10 == 'Enabled'", {10: 0}, False),
        ("id:10 != 'Enabled'", {10: None}, True),
        ("id:20 > 5 AND id:10 == 'Enabled'", {20: 6, 10: 1}, True),
        ("id:20 > 5 AND id:10 == 'Enabled'", {20: 5, 10: 1}, False),
        ("id:20 > 5 OR id:10 == 'Enabled'", {20: 5, 10: 1}, True),
        ("id:20 >= 5.5", {20: 5.5}, True),
        ("id:31 == '5'", {31: 5}, True),  # numbers as numbers, a number in text too
        ("id:31 == 'abc'", {31: "abc"}, True),
        ("id:31 < 'abc'", {31: "abc"}, False),  # ordering text: never holds
        ("id:31 == empty", {31: ""}, True),
        ("id:31 == empty", {31: None}, True),
        ("id:31 != empty", {31: "x"}, True),
        ("id:20 > 0", {20: None}, False),  # an ordering on no value does not hold
        ("id:20 < 0", {20: None}, False),
        ("id:20 == id:41", {20: 3, 41: 3.0}, True),
        ("(id:20 == 1 OR id:20 == 2) AND id:41 == 0", {20: 2, 41: 0}, True),
    ],
)
def test_what_a_comparison_means(condition: str, values: dict[int, Any], expected: bool) -> None:
    assert holds(parse_condition(condition), PROTOCOL, values) is expected


def test_no_condition_always_holds() -> None:
    assert holds(None, PROTOCOL, {})


def test_a_trigger_fires_only_while_its_condition_holds() -> None:
    # Trigger 2: on a set of Level (its write, 21), `id:21 > 50 AND id:10 == 'Enabled'` -> Alarm High.
    h = make_poller(lambda r: answer(r, 200, "{}"))
    h.start()
    h.set("Level", 40)
    assert h.element.view.get("Alarm") is None
    h.set("Polling", "Disabled")
    h.set("Level", 60)
    assert h.element.view.get("Alarm") is None
    h.set("Polling", "Enabled")
    h.set("Level", 61)
    assert h.element.view.get("Alarm") == 1


def test_rule_initial_timer_with_polling_saved_disabled_does_not_poll_after_a_restart() -> None:
    """Issue 15: an `initial: true` timer of an element whose Polling was saved as Disabled polled
    3 times in 6 s after a restart. The poll group's condition (`id:10 == 'Enabled'`) reads the
    restored value: no poll, not even the after-startup one, until Polling is Enabled again."""
    h = make_poller(lambda r: answer(r, 200, "{}"))
    h.start(saved=saved_polling(0))
    h.advance(6)
    assert h.requests == []
    assert h.element.view.get("Polls Started") == 0  # no `before` trigger for a group that does not run
    h.set("Polling", "Enabled")
    h.advance(2)
    assert len(h.requests) == 1


def test_an_element_saved_enabled_polls_on_its_timer() -> None:
    h = make_poller(lambda r: answer(r, 200, "{}"))
    h.start(saved=saved_polling(1))
    h.advance(6)
    assert len(h.requests) == 5  # the after-startup poll, then the timer at 0, 2, 4 and 6 s
