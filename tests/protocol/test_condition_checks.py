"""Conditions in protocol.yaml: parsed by the loader, checked by the validator, every problem at
the very character of the condition it is about (FILE:LINE:COL)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.protocol.conditions import AllOf, Compare, Literal, ParamRef
from connector.protocol.errors import ProtocolError
from connector.protocol.loader import parse_protocol
from connector.protocol.model import Mark
from tests.strategies import protocol_minimal_document, protocol_yaml

FILE = "p.yaml"


def _text(condition: str, on: str = "triggers") -> str:
    """The minimal document with `condition` on the last construct of `on`, double-quoted."""
    document: dict[str, Any] = protocol_minimal_document()
    document[on][-1]["condition"] = "placeholder"
    return protocol_yaml(document).replace("condition: placeholder", f'condition: "{condition}"')


def _at(text: str, needle: str) -> Mark:
    """Where `needle` (unique in `text`) starts."""
    index = text.index(needle)
    assert text.count(needle) == 1
    line_start = text.rfind("\n", 0, index) + 1
    return Mark(FILE, text.count("\n", 0, index) + 1, index - line_start + 1)


def test_the_issues_example_loads_on_a_trigger_an_action_and_a_group() -> None:
    condition = "id:20 > 5 AND id:10 == 'Enabled'"
    expected = AllOf((Compare(ParamRef(20), ">", Literal(5)), Compare(ParamRef(10), "==", Literal("Enabled"))))
    for section in ("triggers", "actions", "groups"):
        protocol = parse_protocol(_text(condition, section), FILE, check_imports=False)
        construct = list(getattr(protocol, section).values())[-1]
        assert construct.condition == expected


@pytest.mark.parametrize(
    ("condition", "at", "says"),
    [
        ("id:20 > 5 AND id:10 = 1", "= 1", "condition: a lone =: compare with =="),
        ("id:20 > 5 AND id:99 == 1", "id:99", "condition: there is no parameter 99"),
        ("id:1002 == 'Error'", "id:1002", "condition: id:1002 is a column of table 'Tickets'; a condition reads"),
        ("id:1000 == empty", "id:1000", "condition: id:1000 is table 'Tickets'"),
        ("id:100 > 5", "id:100", "condition: > orders numbers, but parameter 100 'Status' is a string"),
        ("id:10 == 'Maybe'", "'Maybe'", "parameter 10 'Processing' has no discreet 'Maybe'; compare it with one of:"),
        ("id:20 >= 'five'", "'five'", "parameter 20 'Max Retries' is a number; compare it with a number, not 'five'"),
        ("id:100 == 5", "5", "parameter 100 'Status' is text; quote the value: '5'"),
        ("id:2 == 'x'", "'x'", "parameter 2 'After Startup' is a dummy"),
    ],
)
def test_a_problem_points_at_its_character(condition: str, at: str, says: str) -> None:
    text = _text(condition)
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, FILE, check_imports=False)
    (problem,) = caught.value.errors
    start = _at(text, f'"{condition}"')
    assert problem.mark == Mark(FILE, start.line, start.column + 1 + condition.index(at)), str(problem)
    assert says in problem.message


def test_a_plain_condition_points_at_its_character_too() -> None:
    document = protocol_minimal_document()
    document["groups"][-1]["condition"] = "id:20 > 5 AND id:96 == 1"
    text = protocol_yaml(document)
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, FILE, check_imports=False)
    assert [p.mark for p in caught.value.errors] == [_at(text, "id:96")]


def test_a_quoted_or_block_condition_is_found_too() -> None:
    document = protocol_minimal_document()
    document["triggers"][-1]["condition"] = "placeholder"
    text = protocol_yaml(document).replace("condition: placeholder", 'condition: "id:20 > 5 AND id:98 == 1"')
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, FILE, check_imports=False)
    assert [p.mark for p in caught.value.errors] == [_at(text, "id:98")]
    block = protocol_yaml(document).replace("condition: placeholder", "condition: |-\n      id:97 == 1")
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(block, FILE, check_imports=False)
    (problem,) = caught.value.errors
    assert problem.mark == _at(block, "|-") and "there is no parameter 97" in problem.message


def test_a_condition_in_the_after_startup_flow_is_a_warning() -> None:
    document = protocol_minimal_document()
    document["triggers"][0]["condition"] = "id:10 == 'Enabled'"  # the after-startup trigger
    document["actions"][0]["condition"] = "id:20 > 1"  # the action it runs
    text = protocol_yaml(document)
    warnings = parse_protocol(text, FILE, check_imports=False).warnings
    assert [w.split(": warning: ")[0] for w in warnings] == [
        str(_at(text, "id:10 == 'Enabled'")),
        str(_at(text, "id:20 > 1")),
    ]
    assert all("a condition in the after-startup flow (validator rule 5.7)" in w for w in warnings)
