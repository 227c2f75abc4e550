"""DataMiner's rules as tables: the id ranges (reference 1.9), the one-construct rules, and what each
construct may name (reference 1.5, 1.6, validator rule 5.7). `validate` applies them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import frozen

from connector.protocol.model import (
    GROUP_ACTIONS,
    INTERAPP_RECEIVE,
    INTERAPP_RETURN,
    PARAMETER_ACTIONS,
    TIMER_ACTIONS,
    ActionOn,
    ActionType,
    ContentKind,
    GroupType,
    ParamType,
    TriggerOn,
    TriggerTime,
    ValueKind,
)

# --- ids (reference 1.9) ----------------------------------------------------------------------

PARAMETER_ID_RANGES = ((1, 63_999), (70_000, 99_999), (1_000_000, 9_989_999))
OTHER_ID_RANGES = ((1, 63_999), (1_000_000, 9_999_999))
# Why a parameter id outside PARAMETER_ID_RANGES is refused, so the message can say whose it is.
RESERVED_PARAMETER_IDS = (
    (64_000, 69_999, "reserved for DataMiner (64000-64299: DataMiner modules, 64300-69999: its general parameters)"),
    (100_000, 999_999, "reserved for DataMiner"),
    (9_990_000, 9_999_999, "reserved for Flow Engineering"),
    (10_000_000, 10_999_999, "reserved for the Data API"),
)
INTERAPP_IDS = {INTERAPP_RECEIVE: "InterApp's receive parameter", INTERAPP_RETURN: "InterApp's return parameter"}


def _ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"{low}-{high}" for low, high in ranges)


def id_range_problem(kind: str, id: int) -> str | None:
    """Why `id` may not be used for a construct of `kind`, or None."""
    parameter = kind in ("param", "table", "column")
    allowed = PARAMETER_ID_RANGES if parameter else OTHER_ID_RANGES
    if any(low <= id <= high for low, high in allowed):
        return None
    owner = next((why for low, high, why in RESERVED_PARAMETER_IDS if parameter and low <= id <= high), None)
    reason = f" is {owner}" if owner else " is outside the ids DataMiner allows"
    return f"{kind} id {id}{reason}: use an id in {_ranges(allowed)}"


# --- one-construct rules, as tables -----------------------------------------------------------


@frozen
class Rule:
    """`wrong(item)` is true when the rule is broken; the problem is reported at key `at`
    (the whole construct when that key is absent). `message` is formatted with `item=`."""

    wrong: Callable[[Any], bool]
    at: str
    message: str


DISCREET_KINDS = frozenset({ValueKind.DISCREET, ValueKind.TOGGLE, ValueKind.BUTTON})
# Reference 1.4: the group types that run each kind of content (a `poll` group runs no actions).
GROUP_TYPES_FOR_CONTENT: Mapping[ContentKind, tuple[GroupType, ...]] = {
    ContentKind.SESSIONS: (GroupType.POLL,),
    ContentKind.PARAMS: (GroupType.POLL,),
    ContentKind.ACTIONS: (GroupType.POLL_ACTION, GroupType.ACTION),
    ContentKind.TRIGGERS: (GroupType.POLL_TRIGGER, GroupType.TRIGGER),
}

# Params and columns: what a value kind needs.
VALUE_RULES = (
    Rule(lambda v: v.kind in DISCREET_KINDS and not v.discreets, "kind",
         "a {item.kind.value} needs `discreets: [{{display: ..., value: ...}}, ...]` (value defaults to display)"),
    Rule(lambda v: bool(v.discreets) and v.kind not in DISCREET_KINDS, "discreets",
         "discreets apply to kinds discreet, toggle and button only; this is a {item.kind.value}"),
    Rule(lambda v: v.decimals is not None and v.decimals < 0, "decimals", "decimals must be 0 or more"),
    Rule(lambda v: bool(v.exceptions) and v.kind is not ValueKind.NUMBER, "exceptions",
         "exceptions apply to numbers only; this is a {item.kind.value}"),
    Rule(lambda v: len({e.value for e in v.exceptions}) < len(v.exceptions), "exceptions",
         "an exception value is listed twice: each special value has one display"),
    Rule(lambda v: len({e.display for e in v.exceptions}) < len(v.exceptions), "exceptions",
         "an exception display is listed twice: a set of it would not say which value to store"),
    Rule(lambda v: any(_reads_as_number(e.display) for e in v.exceptions), "exceptions",
         "an exception display reads as a number: a set of it would be taken as that number; use a word"),
)  # fmt: skip
PARAM_RULES = (
    *VALUE_RULES,
    Rule(lambda p: p.setter and p.type is not ParamType.WRITE, "setter",
         "setter applies to write params only (it copies a write's value to its read param)"),
    Rule(lambda p: p.kind is ValueKind.BUTTON and p.type is not ParamType.WRITE, "kind",
         "a button is a write param: set `type: write`"),
    Rule(lambda p: p.password and p.kind is not ValueKind.STRING, "password",
         "password applies to string params only; this is a {item.kind.value}"),
    Rule(lambda p: p.save and p.type is ParamType.WRITE, "save",
         "a write param is not saved: save its read param (the one of the same name) instead"),
    Rule(lambda p: p.range is not None and p.kind is not ValueKind.NUMBER, "range",
         "range applies to number params only; this is a {item.kind.value}"),
    Rule(lambda p: p.range is not None and None not in (p.range.low, p.range.high) and p.range.low > p.range.high,
         "range", "range low ({item.range.low}) is above high ({item.range.high}): swap them"),
    Rule(lambda p: p.step is not None and p.step <= 0, "step", "step must be above 0"),
    Rule(lambda p: p.clearable and p.kind is ValueKind.BUTTON, "clearable",
         "a button is pressed, never cleared: leave `clearable` out"),
    Rule(lambda p: p.clearable and p.default is not None, "clearable",
         "a clearable param cannot have a default: the default would fill the cleared value at the next start"),
)  # fmt: skip
COLUMN_RULES = (
    *VALUE_RULES,
    Rule(lambda c: c.write and c.kind is ValueKind.BUTTON, "write",
         "a button column is written by its kind: leave `write` out"),
)  # fmt: skip


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


TABLE_RULES = (Rule(lambda t: not t.columns, "columns", "a table needs at least one column: its key column"),)
SESSION_RULES = (
    Rule(lambda s: s.request.timeout is not None and s.request.timeout <= 0, "request.timeout",
         "timeout must be above 0 seconds (leave it out for the element's default)"),
)  # fmt: skip
TIMER_RULES = (
    Rule(lambda t: t.interval <= 0, "interval", "interval must be above 0 seconds"),
    Rule(lambda t: not t.groups, "groups", "a timer needs at least one group to queue"),
)
TRIGGER_RULES = (
    Rule(lambda t: not t.actions and not t.triggers, "actions",
         "a trigger needs `actions` or `triggers` to fire, or it does nothing"),
)  # fmt: skip
ACTION_RULES = (
    Rule(lambda a: a.type is ActionType.COPY and a.source is None, "source",
         "a copy action needs `source`: the id of the param copied from (on_id is the destination)"),
    Rule(lambda a: a.source is not None and a.type is not ActionType.COPY, "source",
         "source applies to copy actions only"),
    Rule(lambda a: a.type is ActionType.SET and a.value is None, "value",
         "a set action needs `value`: the value it sets"),
    Rule(lambda a: a.type is ActionType.INCREMENT and a.value is not None and not isinstance(a.value, int | float),
         "value", "the value of an increment is the step, a number (1 when left out)"),
    Rule(lambda a: a.value is not None and a.type not in (ActionType.SET, ActionType.INCREMENT), "value",
         "value applies to set and increment actions only"),
)  # fmt: skip

# --- reference rules, as tables ---------------------------------------------------------------

# Reference 1.5: the On/Time pairs DataMiner knows (serial-only pairs left out), and the kind of
# construct `on_id` names for each On.
TRIGGER_TIMES: Mapping[TriggerOn, tuple[TriggerTime, ...]] = {
    TriggerOn.PARAMETER: (TriggerTime.CHANGE, TriggerTime.TIMEOUT),
    TriggerOn.GROUP: (TriggerTime.BEFORE, TriggerTime.AFTER),
    TriggerOn.PROTOCOL: (TriggerTime.AFTER_STARTUP,),
    TriggerOn.SESSION: (TriggerTime.TIMEOUT,),
    TriggerOn.TIMER: (TriggerTime.BEFORE,),
    TriggerOn.NONE: (TriggerTime.NONE,),
}
TRIGGER_ON_KINDS: Mapping[TriggerOn, tuple[str, ...]] = {
    TriggerOn.PARAMETER: ("param", "column"),
    TriggerOn.GROUP: ("group",),
    TriggerOn.SESSION: ("session",),
    TriggerOn.TIMER: ("timer",),
    TriggerOn.PROTOCOL: (),
    TriggerOn.NONE: (),
}
# Reference 1.6: the action types of each On, and what `on_id` names.
ACTION_TYPES: Mapping[ActionOn, frozenset[ActionType]] = {
    ActionOn.GROUP: GROUP_ACTIONS,
    ActionOn.TIMER: TIMER_ACTIONS,
    ActionOn.PARAMETER: PARAMETER_ACTIONS,
}
ACTION_ON_KINDS: Mapping[ActionOn, tuple[str, ...]] = {
    ActionOn.GROUP: ("group",),
    ActionOn.TIMER: ("timer",),
    ActionOn.PARAMETER: ("param", "column"),
}
GROUP_CONTENT_KINDS: Mapping[ContentKind, tuple[str, ...]] = {
    ContentKind.SESSIONS: ("session",),
    ContentKind.ACTIONS: ("action",),
    ContentKind.TRIGGERS: ("trigger",),
    ContentKind.PARAMS: ("param", "table"),
}
# Validator rule 5.7: after startup -> one of these actions -> a group of one of these types.
STARTUP_ACTIONS = (ActionType.EXECUTE_NEXT, ActionType.EXECUTE_ONE_TOP, ActionType.EXECUTE, ActionType.EXECUTE_ONE_NOW)
POLL_GROUPS = (GroupType.POLL, GroupType.POLL_ACTION, GroupType.POLL_TRIGGER)

ENTRY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
