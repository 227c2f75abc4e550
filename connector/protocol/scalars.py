"""YAML scalar nodes as values: text exactly as written, ints, numbers, flags, choices.

Each converter takes a node and returns its value or raises `Invalid` with a message that says
what was expected; `yamlnodes.NodeReader` turns that into a problem at the node's position.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
STR = "tag:yaml.org,2002:str"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
_PLAIN_TAGS = frozenset({NULL, BOOL, INT, FLOAT, STR, TIMESTAMP})

# Used only for its scalar converters and merge-key flattening, which read nodes and build
# nothing but ints, floats and bools.
SAFE_CONSTRUCTOR = SafeConstructor()

T = TypeVar("T")


class Invalid(Exception):
    """A node does not hold what was expected; the message says what would be right."""


def describe(node: Node) -> str:
    """The node as a user would name it, for `expected X, got Y` messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    raw = str(node.value)
    shown = repr(raw if len(raw) <= 40 else raw[:37] + "...")
    named = {
        NULL: "nothing (null)",
        BOOL: f"{shown}, which YAML reads as a boolean",
        INT: f"the number {shown}",
        FLOAT: f"the number {shown}",
        STR: f"the text {shown}",
        TIMESTAMP: f"{shown}, which YAML reads as a date",
    }
    return named.get(node.tag, f"a value tagged {node.tag}")


def _scalar(node: Node, expected: str) -> ScalarNode:
    if not isinstance(node, ScalarNode) or node.tag not in _PLAIN_TAGS or node.tag == NULL:
        raise Invalid(f"expected {expected}, got {describe(node)}")
    return node


def to_text(node: Node) -> str:
    """Any plain scalar, exactly as written: `1.0` stays "1.0" and `No` stays "No"."""
    return str(_scalar(node, "text").value)


def to_int(node: Node) -> int:
    """An integer written in decimal; a boolean is not an integer."""
    scalar = _scalar(node, "an integer")
    if scalar.tag != INT:
        raise Invalid(f"expected an integer, got {describe(node)}")
    digits = scalar.value.lstrip("+-").replace("_", "")
    try:
        value = SAFE_CONSTRUCTOR.construct_yaml_int(scalar)
    except ValueError:  # `0b_` resolves as int but has no digits; also ints past 4300 digits
        raise Invalid(f"expected an integer, got {describe(node)}") from None
    # YAML 1.1 reads `010` as octal 8 and `1:30` as base 60; an id written so is a typo.
    if (len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567") or ":" in digits:
        raise Invalid(f"{scalar.value!r} is {value} in YAML 1.1 (octal or base 60): write it as {value} in decimal")
    return int(value)


def to_number(node: Node) -> int | float:
    """A finite int or float; a boolean is not a number."""
    scalar = _scalar(node, "a number")
    if scalar.tag == INT:
        return to_int(scalar)
    if scalar.tag != FLOAT:
        raise Invalid(f"expected a number, got {describe(node)}")
    try:
        value = float(SAFE_CONSTRUCTOR.construct_yaml_float(scalar))
    except ValueError:
        raise Invalid(f"expected a number, got {describe(node)}") from None
    if not math.isfinite(value):
        raise Invalid(f"expected a finite number, got {describe(node)}")
    return value


def to_flag(node: Node) -> bool:
    scalar = _scalar(node, "true or false")
    if scalar.tag != BOOL:
        raise Invalid(f"expected true or false, got {describe(node)}")
    return bool(SAFE_CONSTRUCTOR.construct_yaml_bool(scalar))


def to_value(node: Node) -> str | int | float:
    """A number when YAML reads one, else the text as written (`on`, `yes` stay words)."""
    scalar = _scalar(node, "a number or text")
    if scalar.tag in (INT, FLOAT):
        try:
            return to_number(scalar)
        except Invalid:
            return str(scalar.value)
    return str(scalar.value)


def choice(choices: Mapping[str, T]) -> Callable[[Node], T]:
    """A converter to one of `choices` (keyed by the text the user writes)."""

    def convert(node: Node) -> T:
        text = _scalar(node, "one of: " + ", ".join(choices)).value
        if text in choices:
            return choices[text]
        raise Invalid(f"{text!r} is not one of: {', '.join(choices)}{_did_you_mean(text, choices)}")

    return convert


def _did_you_mean(word: str, words: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(words), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == NULL)


__all__ = [
    "Invalid",
    "choice",
    "describe",
    "is_null",
    "to_flag",
    "to_int",
    "to_number",
    "to_text",
    "to_value",
]
