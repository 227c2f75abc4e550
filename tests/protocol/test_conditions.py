"""DataMiner's Condition: the parser (connector.protocol.conditions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.protocol.conditions import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    ConditionError,
    Literal,
    ParamRef,
    parse_condition,
    render,
)
from tests.strategies import conditions_trees


def _flat(condition: Condition) -> Condition:
    """AND inside AND (and OR inside OR) is one AND: what the text cannot tell apart."""
    if isinstance(condition, Compare):
        return condition
    kind = type(condition)
    parts: list[Condition] = []
    for part in map(_flat, condition.parts):
        parts.extend(part.parts if isinstance(part, kind) else (part,))
    return kind(tuple(parts))


def test_the_issues_example() -> None:
    assert parse_condition("id:20 > 5 AND id:21 == 'Enabled'") == AllOf(
        (Compare(ParamRef(20), ">", Literal(5)), Compare(ParamRef(21), "==", Literal("Enabled")))
    )


def test_and_binds_tighter_than_or_and_parentheses_win() -> None:
    a, b, c = (Compare(ParamRef(i), "==", Literal(None)) for i in (1, 2, 3))
    assert parse_condition("id:1 == empty or id:2 == EMPTY And id:3==empty") == AnyOf((a, AllOf((b, c))))
    assert parse_condition("(id:1 == empty OR id:2 == empty) AND id:3 == empty") == AllOf((AnyOf((a, b)), c))


def test_dataminers_own_examples() -> None:
    """From DataMiner's docs (Protocol.Triggers.Trigger.Condition): double quotes, parentheses."""
    assert parse_condition('(id:2001 == "24")') == Compare(ParamRef(2001), "==", Literal("24"))
    assert parse_condition("(id:1 == 1 AND id:104 == 0)") == AllOf(
        (Compare(ParamRef(1), "==", Literal(1)), Compare(ParamRef(104), "==", Literal(0)))
    )
    assert parse_condition('id:5 == "say ""hi"""') == Compare(ParamRef(5), "==", Literal('say "hi"'))


def test_numbers_and_quotes() -> None:
    assert parse_condition("id:1 >= -2.5 AND id:2 != 'it''s' AND id:3 < 1e3 AND id:4 <= 7") == AllOf(
        (
            Compare(ParamRef(1), ">=", Literal(-2.5)),
            Compare(ParamRef(2), "!=", Literal("it's")),
            Compare(ParamRef(3), "<", Literal(1000.0)),
            Compare(ParamRef(4), "<=", Literal(7)),
        )
    )


@pytest.mark.parametrize(
    ("text", "offset", "says"),
    [
        ("", 0, "the condition is empty"),
        ("id:1 = 2", 5, "a lone =: compare with =="),
        ("id:1 == 2 id:3 == 4", 10, "unexpected 'id:3' after a complete condition (join comparisons with AND or OR)"),
        ("(id:1 == 2", 10, "the ( at character 1 is not closed"),
        ("id:1 == 'abc", 8, "quoted text is not closed"),
        ("id:1 ==", 7, "expected id:N, a number, 'text' or empty, found the end"),
        ("id:1 AND id:2 == 3", 5, "expected one of == != >= <= > < after id:1"),
        ("Enabled == id:2", 0, "unexpected word 'Enabled'"),
        ("id:1 == 2 AND", 13, "found the end"),
        ("id:1 == 5x", 8, "unexpected '5'"),
    ],
)
def test_errors_name_the_character(text: str, offset: int, says: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.offset == offset
    assert says in caught.value.message


@given(conditions_trees())
def test_render_then_parse_is_the_same_condition(condition: Condition) -> None:
    assert _flat(parse_condition(render(condition))) == _flat(condition)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_an_offset_inside_it(text: str) -> None:
    try:
        condition = parse_condition(text)
    except ConditionError as refused:
        assert 0 <= refused.offset <= len(text)
    else:
        assert _flat(parse_condition(render(condition))) == _flat(condition)


@given(conditions_trees(), st.data())
def test_a_cut_condition_is_refused_never_misread(condition: Condition, data: st.DataObject) -> None:
    text = render(condition)
    cut = data.draw(st.integers(1, len(text) - 1))
    try:
        shorter = parse_condition(text[:cut])
    except ConditionError as refused:
        assert 0 <= refused.offset <= cut
    else:  # a cut can end on a whole condition ("id:1 == 12" -> "id:1 == 1"): then it is one
        assert _flat(parse_condition(render(shorter))) == _flat(shorter)
