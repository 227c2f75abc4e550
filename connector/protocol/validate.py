"""The second pass over a protocol: what its constructs mean, alone and together.

`loader` has read the shape (keys, types, choices); this module checks DataMiner's rules, the
ones the reference (shared/reference/dataminer-model.md, sections 1.1-1.9) gives:

* ids stay in the ranges DataMiner leaves to protocols (1.9); 9000000/9000001 are InterApp's;
* a write param overlays the read param of the same name (1.1), buttons excepted;
* tables are keyed by one of their own string columns (1.2);
* every id a construct names resolves to a construct of the right kind;
* a trigger's On/Time pair is one DataMiner knows (1.5); an action's type fits its On (1.6);
* the connector starts: an `after startup` trigger queues a poll group (validator rule 5.7);
* each handler's entry imports and is callable.

Rules that look at one construct at a time are rows of tables (`PARAM_RULES` and friends);
rules that relate constructs are functions. Every rule reports into the same problem list, at
the position of the value that is wrong, with what would be right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from attrs import define

from connector.protocol.condition_checks import check_conditions
from connector.protocol.document import Document
from connector.protocol.entries import entry_problem
from connector.protocol.errors import Problem
from connector.protocol.model import (
    EACH,
    ActionOn,
    ActionType,
    Column,
    Discreet,
    Mark,
    Param,
    ParamType,
    Session,
    Table,
    Trigger,
    TriggerOn,
    TriggerTime,
    ValueKind,
)
from connector.protocol.rules import (
    ACTION_ON_KINDS,
    ACTION_RULES,
    ACTION_TYPES,
    COLUMN_RULES,
    DISCREET_KINDS,
    ENTRY,
    GROUP_CONTENT_KINDS,
    GROUP_TYPES_FOR_CONTENT,
    INTERAPP_IDS,
    PARAM_RULES,
    POLL_GROUPS,
    SESSION_RULES,
    STARTUP_ACTIONS,
    TABLE_RULES,
    TIMER_RULES,
    TRIGGER_ON_KINDS,
    TRIGGER_RULES,
    TRIGGER_TIMES,
    Rule,
    id_range_problem,
)


def _names(items: Iterable[Any]) -> str:
    return ", ".join(getattr(i, "value", str(i)) for i in items)


@define
class _Check:
    document: Document
    problems: list[Problem]
    columns: dict[int, tuple[Table, Column]]
    by_kind: dict[str, Mapping[int, Any]]

    def report(self, where: Mark, message: str) -> None:
        self.problems.append(Problem(where, message))

    def warn(self, where: Mark, message: str) -> None:
        self.problems.append(Problem(where, message, warning=True))

    def at(self, kind: str, id: int, path: str = "") -> Mark:
        """Where key `path` ("request.timeout", "discreets.2.value") of a construct stands."""
        steps = [int(s) if s.isdigit() else s for s in path.split(".")] if path else []
        return self.document.where(kind, id, *steps)

    def complete(self, *kinds: str) -> bool:
        """Whether every construct of these kinds was read (none left out for a problem)."""
        return not self.document.incomplete.intersection(kinds)

    def resolve(self, where: Mark, role: str, id: int, kinds: tuple[str, ...]) -> Any:
        """The construct `id` names among `kinds`; None (reported unless it was left out for a
        problem of its own, which is reported already) when there is none."""
        for kind in kinds:
            found = self.by_kind[kind].get(id)
            if found is not None:
                return found
        if any(self.document.declared(kind, id) for kind in kinds):
            return None
        others = [k for k, things in self.by_kind.items() if id in things and k not in kinds]
        hint = f" ({id} is a {others[0]})" if others else ""
        self.report(where, f"{role}: there is no {' or '.join(kinds)} {id}{hint}")
        return None


def validate(document: Document, problems: list[Problem], *, check_imports: bool) -> None:
    """Append to `problems` everything wrong with what `document` means."""
    columns = {c.id: (t, c) for t in document.tables.values() for c in t.columns}
    check = _Check(
        document=document,
        problems=problems,
        columns=columns,
        by_kind={
            "param": document.params,
            "table": document.tables,
            "column": {id: column for id, (_, column) in columns.items()},
            "session": document.sessions,
            "group": document.groups,
            "timer": document.timers,
            "trigger": document.triggers,
            "action": document.actions,
            "handler": document.handlers,
        },
    )
    for rule in RULES:
        rule(check)
    if check_imports:
        _handler_imports(check)


def _apply(check: _Check, kind: str, things: Iterable[Any], rules: Iterable[Rule]) -> None:
    for item in things:
        for rule in rules:
            if rule.wrong(item):
                check.report(check.at(kind, item.id, rule.at), rule.message.format(item=item))


def _table_rules(check: _Check) -> None:
    document = check.document
    _apply(check, "param", document.params.values(), PARAM_RULES)
    _apply(check, "table", document.tables.values(), TABLE_RULES)
    _apply(check, "column", (c for t in document.tables.values() for c in t.columns), COLUMN_RULES)
    _apply(check, "session", document.sessions.values(), SESSION_RULES)
    _apply(check, "timer", document.timers.values(), TIMER_RULES)
    _apply(check, "trigger", document.triggers.values(), TRIGGER_RULES)
    _apply(check, "action", document.actions.values(), ACTION_RULES)


def _ids(check: _Check) -> None:
    for kind, things in check.by_kind.items():
        for id, thing in things.items():
            if id in INTERAPP_IDS:
                allowed = kind == "param" and thing.type is ParamType.READ and thing.kind is ValueKind.STRING
                if kind in ("param", "table", "column") and not allowed:
                    check.report(
                        check.at(kind, id, "id"),
                        f"id {id} is {INTERAPP_IDS[id]}: only a read string param may use it",
                    )
                continue
            problem = id_range_problem(kind, id)
            if problem:
                check.report(check.at(kind, id, "id"), problem)


def _unique(check: _Check, kind: str, things: Iterable[Any], key: Callable[[Any], Any], what: str) -> None:
    """Report every item whose key an earlier item has already."""
    first: dict[Any, Any] = {}
    for thing in things:
        earlier = first.setdefault(key(thing), thing)
        if earlier is not thing:
            message = f"{what} {thing.name!r} is used twice (first by {earlier.id})"
            check.report(check.at(kind, thing.id, "name"), message)


def _names_unique(check: _Check) -> None:
    document = check.document
    # A read param and its write share a name; otherwise names are unique (handlers look
    # params up by name).
    _unique(check, "param", document.params.values(), lambda p: (p.name, p.type is ParamType.WRITE), "param name")
    _unique(check, "table", document.tables.values(), lambda t: t.name, "table name")
    for table in document.tables.values():
        _unique(check, "column", table.columns, lambda c: c.name, "column name")


def _discreets(check: _Check) -> None:
    valued: list[tuple[str, int, tuple[Discreet, ...]]] = [
        ("param", p.id, p.discreets) for p in check.document.params.values()
    ] + [("column", c.id, c.discreets) for _, c in check.columns.values()]
    for kind, id, discreets in valued:
        for part in ("display", "value"):
            seen: dict[Any, int] = {}
            for index, discreet in enumerate(discreets):
                first = seen.setdefault(getattr(discreet, part), index)
                if first != index:
                    check.report(
                        check.at(kind, id, f"discreets.{index}.{part}"),
                        f"discreet {part} {getattr(discreet, part)!r} is used twice (first in entry {first + 1});"
                        f" each discreet needs its own {part}",
                    )


def _default_problem(param: Param) -> str | None:
    default = param.default
    if default is None or param.kind is ValueKind.STRING:
        return None
    if param.kind in DISCREET_KINDS:
        if any(default == d.value for d in param.discreets):
            return None
        values = ", ".join(f"{d.value!r} ({d.display})" for d in param.discreets)
        return f"default {default!r} is none of the discreets; use a value or display of: {values}"
    if not isinstance(default, int | float):
        return f"default {default!r} is no number; a {param.kind.value} param's default is a number"
    if param.decimals == 0 and not float(default).is_integer():
        return f"default {default} has decimals, but the param has `decimals: 0`"
    low, high = (param.range.low, param.range.high) if param.range else (None, None)
    if (low is not None and default < low) or (high is not None and default > high):
        return f"default {default} is outside the range {low}..{high}"
    return None


def _defaults(check: _Check) -> None:
    for param in check.document.params.values():
        problem = _default_problem(param)
        if problem:
            check.report(check.at("param", param.id, "default"), problem)


def _write_partners(check: _Check) -> None:
    params = check.document.params.values()
    reads = {p.name: p for p in params if p.type is ParamType.READ}
    for write in params:
        if write.type is not ParamType.WRITE or write.kind is ValueKind.BUTTON:
            continue  # a button is a write param with no read (reference 1.1)
        read = reads.get(write.name)
        if read is None and check.complete("param"):
            check.report(
                check.at("param", write.id, "name"),
                f"write param {write.id} has no read param named {write.name!r}:"
                " a write param sets the read param of the same name; add one or fix the name",
            )
        elif read is not None and write.kind is ValueKind.TOGGLE and read.kind is not ValueKind.DISCREET:
            check.report(
                check.at("param", write.id, "kind"),
                f"a toggle needs a discreet read param; read param {read.id} {read.name!r} is a {read.kind.value}",
            )


def _tables(check: _Check) -> None:
    for table in check.document.tables.values():
        own = {c.id: c for c in table.columns}
        key = own.get(table.key_column)
        where = check.at("table", table.id, "key")
        if key is None and table.columns and not check.document.declared("column", table.key_column):
            check.report(where, f"key {table.key_column} is no column of this table; its columns are {_names(own)}")
        elif key is not None and key.kind is not ValueKind.STRING:
            check.report(where, f"the key column {key.id} {key.name!r} is a {key.kind.value}; a key column is a string")
        elif key is not None and key.write:
            message = f"the key column {key.id} {key.name!r} is a write column, but a row's key never changes"
            check.report(check.at("column", key.id, "write"), message)


def _session_params(session: Session) -> Iterator[tuple[str, int | None]]:
    request, response = session.request, session.response
    yield "request.path_param", request.path_param
    yield "request.body_param", request.body_param
    for index, header in enumerate(request.headers):
        yield f"request.headers.{index}.param", header.param
    yield "response.status_param", response.status_param
    yield "response.content_param", response.content_param
    for index, header in enumerate(response.headers):
        yield f"response.headers.{index}.param", header.param


def _sessions(check: _Check) -> None:
    for session in check.document.sessions.values():
        for path, id in _session_params(session):
            if id is None:
                continue
            where = check.at("session", session.id, path)
            role = path.rsplit(".", 1)[-1]
            if id in check.columns:
                check.report(where, f"{role}: {id} is a column; a session reads and fills standalone string params")
                continue
            param = check.resolve(where, role, id, ("param",))
            if param is not None and param.kind is not ValueKind.STRING:
                check.report(where, f"{role}: param {id} {param.name!r} is a {param.kind.value}; it must be a string")


def _groups(check: _Check) -> None:
    for group in check.document.groups.values():
        key = f"content.{group.content_kind.value}"
        types = GROUP_TYPES_FOR_CONTENT[group.content_kind]
        if group.type not in types:
            check.report(
                check.at("group", group.id, "type"),
                f"a group of {group.content_kind.value} is of type {' or '.join(t.value for t in types)}"
                f" (DataMiner runs its content only then), not {group.type.value}",
            )
        if not group.content:
            check.report(check.at("group", group.id, key), f"the group lists no {group.content_kind.value}")
        for index, id in enumerate(group.content):
            where = check.at("group", group.id, f"{key}.{index}")
            check.resolve(where, group.content_kind.value, id, GROUP_CONTENT_KINDS[group.content_kind])


def _timers(check: _Check) -> None:
    for timer in check.document.timers.values():
        for index, id in enumerate(timer.groups):
            check.resolve(check.at("timer", timer.id, f"groups.{index}"), "groups", id, ("group",))
        if timer.interval_param is not None:
            where = check.at("timer", timer.id, "interval_param")
            param = check.resolve(where, "interval_param", timer.interval_param, ("param",))
            if param is not None and param.kind is not ValueKind.NUMBER:
                message = f"interval_param: param {param.id} is a {param.kind.value}; it must be a number (seconds)"
                check.report(where, message)


def _triggers(check: _Check) -> None:
    for trigger in check.document.triggers.values():
        times = TRIGGER_TIMES[trigger.on]
        kinds = TRIGGER_ON_KINDS[trigger.on]
        if trigger.time not in times:
            if trigger.on is TriggerOn.NONE:
                message = "a trigger without `on` fires only through check_trigger or another trigger: remove `time`"
            else:
                message = f"a trigger on {trigger.on.value} fires at time: {' or '.join(t.value for t in times)}"
                message += f", not {trigger.time.value}" if trigger.time is not TriggerTime.NONE else ""
            check.report(check.at("trigger", trigger.id, "time"), message)
        where = check.at("trigger", trigger.id, "on_id")
        if not kinds and trigger.on_id is not None:
            check.report(where, f"a trigger on {trigger.on.value} takes no on_id" if trigger.on is not TriggerOn.NONE
                         else "a trigger without `on` takes no on_id")  # fmt: skip
        elif kinds and trigger.on_id is None:
            check.report(where, f"a trigger on {trigger.on.value} needs on_id: the id of its {' or '.join(kinds)}")
        elif trigger.on_id == EACH:
            if trigger.on is not TriggerOn.PARAMETER:
                check.report(where, f"on_id {EACH!r} applies to triggers on parameters only")
        elif kinds and isinstance(trigger.on_id, int):
            check.resolve(where, "on_id", trigger.on_id, kinds)
        for part, kind in (("actions", "action"), ("triggers", "trigger")):
            for index, id in enumerate(getattr(trigger, part)):
                check.resolve(check.at("trigger", trigger.id, f"{part}.{index}"), part, id, (kind,))
    _trigger_loops(check)


def _trigger_loops(check: _Check) -> None:
    """Triggers that fire each other in a circle would fire forever: report each circle once,
    at its lowest trigger id."""
    triggers = check.document.triggers
    for start in sorted(triggers):
        circle = _circle_through(triggers, start)
        if circle:
            check.report(
                check.at("trigger", start, "triggers"),
                "triggers fire each other in a circle: " + " -> ".join(map(str, circle)),
            )


def _circle_through(triggers: Mapping[int, Trigger], start: int) -> list[int] | None:
    # Only ids above `start` are walked, so a circle is found from its lowest id alone.
    stack = [(start, [start])]
    seen = {start}
    while stack:
        current, path = stack.pop()
        for child in triggers[current].triggers:
            if child == start:
                return [*path, start]
            if child in triggers and child > start and child not in seen:
                seen.add(child)
                stack.append((child, [*path, child]))
    return None


def _actions(check: _Check) -> None:
    handled = {id for h in check.document.handlers.values() for id in h.triggers}
    for action in check.document.actions.values():
        allowed = ACTION_TYPES[action.on]
        if action.type not in allowed:
            check.report(
                check.at("action", action.id, "type"),
                f"an action on a {action.on.value} cannot be {action.type.value!r};"
                f" use one of: {_names(t for t in ActionType if t in allowed)}",
            )
            continue
        # Point at the very id: `on_id: 5`, or item 2 of `on_ids: [1, 2, 5]`.
        listed = "on_ids" in check.document.fields[("action", action.id)].values
        for index, id in enumerate(action.on_ids):
            role = "on_ids" if listed else "on_id"
            where = check.at("action", action.id, f"on_ids.{index}" if listed else "on_id")
            target = check.resolve(where, role, id, ACTION_ON_KINDS[action.on])
            problem = _action_target_problem(action.type, id, target, handled if check.complete("handler") else None)
            if problem:
                check.report(where, problem)
        if action.type is ActionType.COPY and action.source is not None:
            check.resolve(check.at("action", action.id, "source"), "source", action.source, ("param",))


def _action_target_problem(type: ActionType, id: int, target: Any, handled: set[int] | None) -> str | None:
    """What is wrong with acting on `target` (None when it did not resolve: reported already).
    `handled`: the ids some handler triggers on, None when a handler was left out."""
    if isinstance(target, Column) and type is not ActionType.RUN_HANDLERS:
        return f"{id} is a column: only `run handlers` acts on a column; {type.value} acts on standalone params"
    if isinstance(target, Param) and type is ActionType.INCREMENT and target.kind is not ValueKind.NUMBER:
        return f"increment needs a number param; param {id} is a {target.kind.value}"
    if type is ActionType.RUN_HANDLERS and target is not None and handled is not None and id not in handled:
        return f"no handler lists {id} in its triggers, so `run handlers` would run nothing"
    return None


def _handlers(check: _Check) -> None:
    for handler in check.document.handlers.values():
        if not ENTRY.fullmatch(handler.entry):
            check.report(
                check.at("handler", handler.id, "entry"),
                f"entry {handler.entry!r} is not 'package.module:function'"
                " (e.g. 'connector.ticketing.handlers:on_interapp')",
            )
        for index, id in enumerate(handler.triggers):
            check.resolve(check.at("handler", handler.id, f"triggers.{index}"), "triggers", id, ("param", "column"))


def _handler_imports(check: _Check) -> None:
    for handler in check.document.handlers.values():
        if ENTRY.fullmatch(handler.entry):
            problem = entry_problem(handler.entry, check.document.file)
            if problem:
                check.report(check.at("handler", handler.id, "entry"), problem)


def _conditions(check: _Check) -> None:
    check_conditions(check.document, check.report, check.warn)


def _startup_flow(check: _Check) -> None:
    """Validator rule 5.7: protocol/after startup -> execute next & co -> a poll group.

    A warning, as in DataMiner's validator: a protocol without it runs (a one-parameter
    protocol set from outside needs none); it only polls nothing until a timer or a set does."""
    if not check.complete("trigger", "action", "group"):
        return  # the flow may run through what was left out; its own problem is reported
    document = check.document
    startup = [
        t for t in document.triggers.values() if t.on is TriggerOn.PROTOCOL and t.time is TriggerTime.AFTER_STARTUP
    ]
    for trigger in startup:
        for action in (document.actions.get(id) for id in trigger.actions):
            if action is not None and action.on is ActionOn.GROUP and action.type in STARTUP_ACTIONS:
                groups = (document.groups.get(id) for id in action.on_ids)
                if any(g is not None and g.type in POLL_GROUPS for g in groups):
                    return
    need = (
        f"an action of type {' / '.join(t.value for t in STARTUP_ACTIONS)} on a group of type"
        f" {' / '.join(t.value for t in POLL_GROUPS)} (the DataMiner validator's after-startup flow, rule 5.7)"
    )
    effect = "; without it nothing runs at startup until a timer or a set starts it"
    if startup:
        check.warn(
            check.at("trigger", startup[0].id, "actions"), f"the after-startup trigger should run {need}{effect}"
        )
    else:
        where = document.section_keys.get("triggers", document.top)
        start = "no after-startup trigger: a connector starts with a trigger `on: protocol, time: after startup`"
        check.warn(where, f"{start} running {need}{effect}")


RULES: tuple[Callable[[_Check], None], ...] = (
    _ids,
    _table_rules,
    _names_unique,
    _discreets,
    _defaults,
    _write_partners,
    _tables,
    _sessions,
    _groups,
    _timers,
    _triggers,
    _actions,
    _handlers,
    _conditions,
    _startup_flow,
)

__all__ = ["RULES", "Rule", "entry_problem", "id_range_problem", "validate"]
