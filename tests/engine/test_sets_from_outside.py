"""Sets from outside on the poller (tests/engine/poller.py): cells of write and button columns
(DataMiner's column options) under the parameter rules, and a set of an Interprete exception."""

from __future__ import annotations

import re
from typing import Any

import pytest

from connector.engine import events as ev
from connector.engine.element import internals
from connector.engine.testing import Harness, answer
from connector.engine.values import NotSettable, ValueRefused, display
from tests.engine.poller import make_poller


def _poller(seen: list[Any]) -> Harness:
    h = make_poller(
        lambda r: answer(r, 200, "{}"),
        handlers={4: lambda protocol: seen.append((protocol.trigger_param, protocol.row_key))},
    )
    h.start()
    return h


def _add_row(h: Harness) -> None:
    # The element's own rows, as a handler adds them: a set from outside never adds one.
    internals(h.element).tables[1000].add_row("s1", {"Reading": 3, "Label": "hall"})


def test_a_write_column_takes_a_set_and_its_handler_gets_the_row_key() -> None:
    seen: list[Any] = []
    h = _poller(seen)
    _add_row(h)
    h.dispatch(ev.SetCell(table="Sensors", key="s1", column="Label", value="kitchen"))
    h.dispatch(ev.SetCell(table=1000, key="s1", column=1004, value="Reset"))  # a button column, by its text
    table = h.element.view.table("Sensors")
    assert table.row("s1") == {"Sensor": "s1", "Reading": 3, "Label": "kitchen", "Reset": 1}
    assert seen == [(1003, "s1"), (1004, "s1")]


@pytest.mark.parametrize(
    ("column", "value", "refused", "says"),
    [
        ("Reading", 5, NotSettable, "column 'Reading' of table 'Sensors' is no write or button column"),
        ("Sensor", "s2", NotSettable, "column 'Sensor' of table 'Sensors' is no write or button column"),
        ("Reset", "Push", ValueRefused, "must be one of: Reset (1); got 'Push'"),
        ("Reset", True, ValueRefused, "a button takes its own value, not true/false"),
        ("Label", None, ValueRefused, "needs a value"),
        ("Label", ["x"], ValueRefused, "must be text, got list"),
    ],
)
def test_a_cell_set_from_outside_keeps_the_parameter_rules(column: str, value: Any, refused: type, says: str) -> None:
    seen: list[Any] = []
    h = _poller(seen)
    _add_row(h)
    with pytest.raises(refused, match=re.escape(says)):
        h.element.handle(ev.SetCell(table="Sensors", key="s1", column=column, value=value))
    assert h.element.view.table("Sensors").row("s1") == {"Sensor": "s1", "Reading": 3, "Label": "hall", "Reset": None}
    assert seen == []


def test_a_cell_set_on_an_unknown_row_column_or_table_is_a_key_error() -> None:
    h = _poller([])
    _add_row(h)
    for table, key, column in (("Sensors", "nope", "Label"), ("Sensors", "s1", "Colour"), ("Nope", "s1", "Label")):
        with pytest.raises(KeyError):
            h.element.handle(ev.SetCell(table=table, key=key, column=column, value="x"))


def test_a_set_of_an_exceptions_text_stores_its_value_and_shows_the_text() -> None:
    h = make_poller(lambda r: answer(r, 200, "{}"))
    h.start()
    h.set("Level", "N/A")
    level = h.element.view.protocol.param(20)
    assert h.element.view.get(20) == -1 and display(level, -1) == "N/A"
    h.set("Level", 50)
    assert display(level, h.element.view.get(20)) == "50"
    with pytest.raises(ValueRefused, match="must be at least 0, got -2"):
        h.set("Level", -2)
