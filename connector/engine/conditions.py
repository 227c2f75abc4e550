"""Whether a Condition (`connector.protocol.conditions`) holds for an element's values.

DataMiner checks a trigger's, an action's or a group's condition when it would fire, run or
execute, with the values of that moment. A comparison reads:

- `empty` as a parameter with no value (None, or empty text);
- a quoted text compared with a discreet parameter as that discreet's display or value
  (`id:10 == 'Enabled'` and `id:10 == 1` are the same test on a 0/1 toggle);
- numbers as numbers, a number in text too (`'5'` equals 5); anything else as text;
- an ordering (`>`, `<`, ...) between values that are not both numbers as false, and so is
  any ordering on an empty value: a condition on a value not there yet does not hold.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from connector.protocol.conditions import AllOf, Compare, Condition, Literal, ParamRef
from connector.protocol.model import Param, Protocol

_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def holds(condition: Condition | None, protocol: Protocol, values: Mapping[int, Any]) -> bool:
    """True when there is no condition, or it holds for `values` (by parameter id)."""
    if condition is None:
        return True
    if isinstance(condition, Compare):
        return _compare(condition, protocol, values)
    parts = (holds(part, protocol, values) for part in condition.parts)
    return all(parts) if isinstance(condition, AllOf) else any(parts)


def _compare(compare: Compare, protocol: Protocol, values: Mapping[int, Any]) -> bool:
    left = _value(compare.left, compare.right, protocol, values)
    right = _value(compare.right, compare.left, protocol, values)
    if left is None or right is None:
        if compare.op in ("==", "!="):
            return (left is None and right is None) == (compare.op == "==")
        return False
    left_number, right_number = _as_number(left), _as_number(right)
    if left_number is not None and right_number is not None:
        return _COMPARE[compare.op](left_number, right_number)
    if compare.op in ("==", "!="):
        return _COMPARE[compare.op](str(left), str(right))
    return False


def _value(
    operand: ParamRef | Literal, other: ParamRef | Literal, protocol: Protocol, values: Mapping[int, Any]
) -> Any:
    """The operand's value; a literal beside a discreet parameter as that discreet's value."""
    if isinstance(operand, ParamRef):
        value = values.get(operand.id)
    else:
        value = operand.value
        param = protocol.params.get(other.id) if isinstance(other, ParamRef) else None
        if param is not None and isinstance(value, str):
            value = _discreet_value(param, value)
    return None if value == "" else value


def _discreet_value(param: Param, text: str) -> Any:
    for discreet in param.discreets:
        if discreet.display == text:
            return discreet.value
    return text


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.isascii():
        try:
            return float(value)
        except ValueError:
            return None
    return None


__all__ = ["holds"]
