"""What a set accepts and how values are shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.engine.values import MASK, ValueRefused, coerce, display
from connector.protocol import model as m

NUMBER = m.Param(id=1, name="N", kind=m.ValueKind.NUMBER, range=m.Range(low=0, high=10), units="s")
TOGGLE = m.Param(
    id=2,
    name="T",
    type=m.ParamType.WRITE,
    kind=m.ValueKind.TOGGLE,
    discreets=(m.Discreet(display="Disabled", value=0), m.Discreet(display="Enabled", value=1)),
)
SECRET = m.Param(id=3, name="P", password=True)
WHEN = m.Param(id=4, name="W", kind=m.ValueKind.DATETIME)


def test_numbers_from_text_and_json() -> None:
    assert coerce(NUMBER, "3") == 3 and isinstance(coerce(NUMBER, "3"), int)
    assert coerce(NUMBER, 2.5) == 2.5
    assert display(NUMBER, 3) == "3 s"


@pytest.mark.parametrize("bad", ["x", "", True, 11, -0.1, float("inf"), [1], {"a": 1}])
def test_numbers_refused(bad: object) -> None:
    with pytest.raises(ValueRefused):
        coerce(NUMBER, bad)


def test_range_message_names_the_rule() -> None:
    with pytest.raises(ValueRefused, match="at most 10, got 11"):
        coerce(NUMBER, 11)


def test_toggle_by_display_or_value() -> None:
    assert coerce(TOGGLE, "enabled") == 1
    assert coerce(TOGGLE, 0) == 0
    assert coerce(TOGGLE, "1") == 1
    assert display(TOGGLE, 1) == "Enabled"
    with pytest.raises(ValueRefused, match="one of: Disabled \\(0\\), Enabled \\(1\\)"):
        coerce(TOGGLE, "On")


def test_passwords_are_never_displayed() -> None:
    assert display(SECRET, "hunter2") == MASK
    assert display(SECRET, "") == ""


def test_datetimes_from_iso_or_epoch() -> None:
    assert coerce(WHEN, "2026-11-26T00:00:00Z") == 1795651200.0
    assert display(WHEN, 1795651200.0) == "2026-11-26T00:00:00Z"
    with pytest.raises(ValueRefused):
        coerce(WHEN, "yesterday")


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.integers())))
def test_coerce_only_refuses_with_its_own_error(value: object) -> None:
    for spec in (NUMBER, TOGGLE, SECRET, WHEN):
        try:
            stored = coerce(spec, value)
        except ValueRefused:
            continue
        display(spec, stored)


@pytest.mark.parametrize("huge", [10**400, -(10**400)])
def test_integers_beyond_a_double_are_refused_not_overflowing(huge: int) -> None:
    for spec in (NUMBER, WHEN):
        with pytest.raises(ValueRefused):
            coerce(spec, huge)


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValueRefused, match="surrogate"):
        coerce(SECRET, "ab\ud800")
