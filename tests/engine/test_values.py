"""What a set accepts and how values are shown."""

from __future__ import annotations

import math

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


# -- the declaration's rules (issue 11) ------------------------------------------------------

WHOLE = m.Param(id=5, name="Max Retries", kind=m.ValueKind.NUMBER, range=m.Range(low=0, high=10), step=1, decimals=0)
STEPPED = m.Param(id=6, name="S", kind=m.ValueKind.NUMBER, range=m.Range(low=1, high=9), step=0.5, decimals=1)
CLEARABLE = m.Param(id=7, name="C", clearable=True)
BUTTON = m.Param(
    id=8,
    name="Retry Errors",
    type=m.ParamType.WRITE,
    kind=m.ValueKind.BUTTON,
    discreets=(m.Discreet(display="Retry", value=1),),
)


@pytest.mark.parametrize("spec", [NUMBER, TOGGLE, SECRET, WHEN, WHOLE, BUTTON])
def test_null_is_refused_unless_the_param_is_clearable(spec: m.Param) -> None:
    # Regression: {"value": null} on Max Retries was stored, then every cycle died on int(None).
    with pytest.raises(ValueRefused, match="clearable"):
        coerce(spec, None)
    assert coerce(CLEARABLE, None) is None


def test_no_decimals_means_whole() -> None:
    with pytest.raises(ValueRefused, match="whole number"):
        coerce(WHOLE, 2.5)
    with pytest.raises(ValueRefused, match="whole number"):
        coerce(WHOLE, "2.5")
    assert coerce(WHOLE, 3.0) == 3 and isinstance(coerce(WHOLE, 3.0), int)
    assert coerce(WHOLE, "3") == 3


def test_the_step_holds_from_the_range_low() -> None:
    assert coerce(STEPPED, 1.5) == 1.5 and coerce(STEPPED, 9) == 9.0
    with pytest.raises(ValueRefused, match="multiple of the step 0.5 from 1"):
        coerce(STEPPED, 1.2)
    with pytest.raises(ValueRefused, match="at most 9"):
        coerce(STEPPED, 9.5)


@pytest.mark.parametrize("spec", [NUMBER, TOGGLE, SECRET, WHEN, WHOLE, BUTTON])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "nan", "Infinity"])
def test_nan_and_infinity_are_refused_for_every_kind(spec: m.Param, bad: object) -> None:
    if spec is SECRET and isinstance(bad, str):
        assert coerce(spec, bad) == bad  # the text "nan" is text
        return
    with pytest.raises(ValueRefused):
        coerce(spec, bad)


@pytest.mark.parametrize("bad", [0, 2, "0", "Clear", True, False, "1.5", 10**400, ""])
def test_a_button_takes_only_its_own_values(bad: object) -> None:
    with pytest.raises(ValueRefused):
        coerce(BUTTON, bad)
    assert coerce(BUTTON, 1) == coerce(BUTTON, "Retry") == coerce(BUTTON, "retry") == coerce(BUTTON, 1.0) == 1


@pytest.mark.parametrize("look_alike", ["ENABLED".replace("E", "\u0395", 1), "di\u017fabled", "\uff11"])
def test_discreet_displays_match_in_ascii_case_only(look_alike: str) -> None:
    # Greek capital epsilon, the long s and a fullwidth 1 do not name Enabled, Disabled or 1.
    with pytest.raises(ValueRefused):
        coerce(TOGGLE, look_alike)
    assert coerce(TOGGLE, "DISABLED") == 0


number_specs = st.builds(
    lambda low, span, step, decimals: m.Param(
        id=9,
        name="N",
        kind=m.ValueKind.NUMBER,
        range=m.Range(low=low, high=None if span is None else low + span),
        step=step,
        decimals=decimals,
    ),
    st.integers(-1000, 1000),
    st.none() | st.integers(0, 5000),
    st.none() | st.sampled_from([1, 2, 0.5, 0.25, 5, 60]),
    st.none() | st.integers(0, 3),
)
number_inputs = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-5000, 7000).map(lambda x: round(x, 2)),
    st.integers(-2000, 7000).map(str),
    st.text(max_size=8),
)


@given(number_specs, number_inputs)
def test_what_coerce_accepts_for_a_number_is_finite_in_range_on_the_step(spec: m.Param, value: object) -> None:
    try:
        stored = coerce(spec, value)
    except ValueRefused:
        return
    assert isinstance(stored, (int, float)) and not isinstance(stored, bool)
    assert math.isfinite(stored)
    assert spec.range is not None
    assert spec.range.low is None or stored >= spec.range.low
    assert spec.range.high is None or stored <= spec.range.high
    if spec.decimals == 0:
        assert isinstance(stored, int)
    if spec.step:
        steps = (stored - (spec.range.low or 0)) / spec.step
        assert abs(steps - round(steps)) <= 1e-9 * max(1.0, abs(steps))
    assert coerce(spec, stored) == stored  # what is stored is accepted again, unchanged


@given(st.one_of(st.integers(0, 10), st.floats(0, 10)))
def test_a_whole_number_param_accepts_exactly_the_whole_numbers(value: float) -> None:
    if float(value).is_integer():
        assert coerce(WHOLE, value) == int(value)
    else:
        with pytest.raises(ValueRefused):
            coerce(WHOLE, value)


LEVEL = m.Param(
    id=20,
    name="Level",
    kind=m.ValueKind.NUMBER,
    range=m.Range(low=0, high=100),
    step=1,
    decimals=0,
    units="%",
    exceptions=(m.ExceptionValue(value=-1, display="N/A"),),
)


def test_an_interprete_exception_shows_its_text_and_a_set_of_the_text_stores_its_value() -> None:
    """Issue 15: `exceptions: [{value: -1, display: N/A}]` on a number parameter."""
    assert display(LEVEL, -1) == "N/A" and display(LEVEL, 5) == "5 %"
    assert coerce(LEVEL, "N/A") == -1 and coerce(LEVEL, " n/a ") == -1  # ASCII case, as discreets
    assert coerce(LEVEL, -1) == -1 and coerce(LEVEL, "-1") == -1  # the value, outside the range
    with pytest.raises(ValueRefused, match="must be at least 0, got -2"):
        coerce(LEVEL, -2)  # any other value keeps the range
    with pytest.raises(ValueRefused, match="must be a number, got 'NA'"):
        coerce(LEVEL, "NA")
