"""Conditions in protocol.yaml: read with the position of every character, checked against the
parameters they name.

The loader reads `condition:` (on a trigger, an action or a group) with `read_condition`; a
condition that does not parse is reported at the character it goes wrong at. `validate` then
asks `condition_problems` what the condition means: every `id:N` must name a standalone
parameter (not a table, a column or nothing), an ordering (`>`, `<`, ...) needs a number or a
datetime, and a literal compared with a parameter must be a value that parameter can hold (a
number for a number, one of its discreets for a discreet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yaml.nodes import ScalarNode

from connector.protocol.conditions import (
    ORDERING,
    Compare,
    Condition,
    ConditionError,
    Literal,
    ParamRef,
    comparisons,
    parse_condition,
    references,
)
from connector.protocol.document import Document
from connector.protocol.model import Mark, Param, ParamType, TriggerOn, TriggerTime, ValueKind
from connector.protocol.yamlnodes import Fields

KEY = "condition"
_ORDERED_KINDS = frozenset({ValueKind.NUMBER, ValueKind.DATETIME})
_DISCREET_KINDS = frozenset({ValueKind.DISCREET, ValueKind.TOGGLE, ValueKind.BUTTON})


def read_condition(f: Fields) -> Condition | None:
    """The construct's `condition:`, parsed; None (reported) when it does not parse."""
    text = f.text(KEY)
    if text is None:
        return None
    try:
        return parse_condition(text)
    except ConditionError as refused:
        f.report(mark_in(f, refused.offset), f"condition: {refused.message}")
        return None


def mark_in(f: Fields, offset: int) -> Mark:
    """Where character `offset` of the condition's text stands in the file.

    Exact for a condition on one line (plain or quoted, escapes aside); a block or folded
    scalar points at the scalar's start, as the text no longer maps to columns.
    """
    start = f.mark(KEY)
    node = f.get(KEY)
    if not isinstance(node, ScalarNode) or node.style not in (None, "", "'", '"') or "\n" in node.value:
        return start
    if node.start_mark.line != node.end_mark.line:
        return start
    quote = 1 if node.style else 0  # libyaml gives a plain scalar the style "", PyYAML None
    return Mark(start.file, start.line, start.column + quote + offset)


def check_conditions(
    document: Document, report: Callable[[Mark, str], None], warn: Callable[[Mark, str], None]
) -> None:
    """Report what is wrong with every condition of `document` (triggers, actions, groups), and
    warn of one on the after-startup trigger or its actions (DataMiner's validator, rule 5.7: no
    condition before the flow has passed through the protocol thread)."""
    for kind, thing in _startup_flow(document):
        if thing.condition is not None:
            warn(
                document.fields[(kind, thing.id)].mark(KEY),
                "a condition in the after-startup flow (validator rule 5.7): the flow should run"
                " unconditionally; put the condition on a later trigger or group",
            )
    others = {c.id: f"a column of table {t.name!r}" for t in document.tables.values() for c in t.columns}
    others.update({id: f"table {table.name!r}" for id, table in document.tables.items()})
    # Declared but left out for a problem of its own (reported already): no second message.
    others.update({id: "" for space, id in document.claimed if space == "parameter" and id not in others})
    for id in document.params:
        others.pop(id, None)
    for kind, things in (("trigger", document.triggers), ("action", document.actions), ("group", document.groups)):
        for thing in things.values():
            if thing.condition is not None:
                fields = document.fields[(kind, thing.id)]
                for offset, message in condition_problems(thing.condition, document.params, others):
                    report(mark_in(fields, offset), message)


def _startup_flow(document: Document) -> Iterator[tuple[str, Any]]:
    """The after-startup triggers and the actions they run, as (kind, construct)."""
    for trigger in document.triggers.values():
        if trigger.on is TriggerOn.PROTOCOL and trigger.time is TriggerTime.AFTER_STARTUP:
            yield "trigger", trigger
            yield from (("action", document.actions[a]) for a in trigger.actions if a in document.actions)


def condition_problems(
    condition: Condition, params: Mapping[int, Param], others: Mapping[int, str]
) -> Iterator[tuple[int, str]]:
    """What is wrong with what `condition` names, as (offset in its text, message).

    `others`: ids in the parameter space that are not standalone parameters, with what they
    are ("a column of table 'X'"; "" for a parameter left out for a problem of its own).
    """
    for ref, _ in references(condition):
        if ref.id in others:
            if others[ref.id]:
                yield ref.offset, f"condition: id:{ref.id} is {others[ref.id]}; a condition reads standalone parameters"
        elif ref.id not in params:
            yield ref.offset, f"condition: there is no parameter {ref.id}"
    for compare in comparisons(condition):
        yield from _compare_problems(compare, params)


def _compare_problems(compare: Compare, params: Mapping[int, Param]) -> Iterator[tuple[int, str]]:
    sides = [(compare.left, compare.right), (compare.right, compare.left)]
    for side, other in sides:
        param = params.get(side.id) if isinstance(side, ParamRef) else None
        if param is None:
            continue
        if compare.op in ORDERING and param.kind not in _ORDERED_KINDS:
            yield (
                side.offset,
                (
                    f"condition: {compare.op} orders numbers, but parameter {param.id} {param.name!r} is a"
                    f" {param.kind.value}; compare it with == or !="
                ),
            )
            continue  # what it is compared with does not matter then
        if isinstance(other, Literal) and other.value is not None:
            problem = _literal_problem(param, other.value)
            if problem:
                yield other.offset, f"condition: parameter {param.id} {param.name!r} {problem}"


def _literal_problem(param: Param, value: str | float) -> str | None:
    if param.type is ParamType.DUMMY:
        return "is a dummy: it holds no value to compare"
    if param.kind in _ORDERED_KINDS and not isinstance(value, int | float):
        return f"is a {param.kind.value}; compare it with a number, not {value!r}"
    if param.kind in _DISCREET_KINDS:
        named = any(value == d.value or str(value) == str(d.value) or value == d.display for d in param.discreets)
        if not named:
            choices = ", ".join(f"'{d.display}'" for d in param.discreets)
            return f"has no discreet {value!r}; compare it with one of: {choices}"
    if param.kind is ValueKind.STRING and not isinstance(value, str):
        return f"is text; quote the value: '{value}'"
    return None


__all__ = ["KEY", "check_conditions", "condition_problems", "mark_in", "read_condition"]
