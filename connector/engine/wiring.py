"""An element's wiring: which triggers, handlers, copies and timers each event reaches.

Computed once from the protocol when the element is made, so that a parameter set costs a
few dict look-ups (the element reads these maps on every change, never the protocol's own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from attrs import frozen

from connector.protocol.model import EACH, ParamType, Protocol, TriggerOn, TriggerTime
from connector.protocol.model import Table as TableModel

# A table's saved cells of one row, in the order of the saved column ids (the key column first).
SavedCells = Callable[[list[Any]], tuple[Any, ...]]


@frozen(kw_only=True)
class Wiring:
    """The protocol's links by what sets them off. Every list is in protocol order."""

    param_triggers: Mapping[int, list[int]]  # parameter -> its change triggers
    each_triggers: list[int]  # triggers on `each` parameter: for parameters with none of their own
    group_triggers: Mapping[tuple[int, TriggerTime], list[int]]  # (group, before/after) -> triggers
    session_timeout_triggers: Mapping[int, list[int]]  # session -> triggers on its failure
    timer_triggers: Mapping[int, list[int]]
    startup_triggers: list[int]
    param_handlers: Mapping[int, list[int]]  # parameter or column -> the handlers it runs
    setter_target: Mapping[int, int]  # write parameter -> the read parameter its setter copies to
    saved: frozenset[int]  # parameters the store keeps (never a password)
    interval_params: Mapping[int, int]  # interval parameter -> its timer
    saved_columns: Mapping[int, tuple[SavedCells, tuple[int, ...]]]  # table -> (cells, column ids)


def wire(protocol: Protocol) -> Wiring:
    """The wiring of `protocol`."""
    triggers = _triggers(protocol)
    each_triggers = [
        t.id
        for t in protocol.triggers.values()
        if t.on is TriggerOn.PARAMETER and t.time is TriggerTime.CHANGE and t.on_id == EACH
    ]
    param_handlers: dict[int, list[int]] = {}
    for handler in protocol.handlers.values():
        for pid in handler.triggers:
            param_handlers.setdefault(pid, []).append(handler.id)
    setter_target: dict[int, int] = {}
    for param in protocol.params.values():
        if param.type is ParamType.WRITE and param.setter:
            read = protocol.read_of(param.id)
            if read is not None:
                setter_target[param.id] = read.id
    return Wiring(
        param_triggers=triggers[TriggerOn.PARAMETER],
        each_triggers=each_triggers,
        group_triggers=_group_triggers(protocol),
        session_timeout_triggers=triggers[TriggerOn.SESSION],
        timer_triggers=triggers[TriggerOn.TIMER],
        startup_triggers=[
            t.id
            for t in protocol.triggers.values()
            if t.on is TriggerOn.PROTOCOL and t.time is TriggerTime.AFTER_STARTUP
        ],
        param_handlers=param_handlers,
        setter_target=setter_target,
        saved=frozenset(pid for pid, param in protocol.params.items() if param.save and not param.password),
        interval_params={t.interval_param: t.id for t in protocol.timers.values() if t.interval_param},
        saved_columns={t.id: _saved_columns(t) for t in protocol.tables.values()},
    )


def _triggers(protocol: Protocol) -> dict[TriggerOn, dict[int, list[int]]]:
    """Parameter-change, session and timer triggers by the id they are on."""
    found: dict[TriggerOn, dict[int, list[int]]] = {TriggerOn.PARAMETER: {}, TriggerOn.SESSION: {}, TriggerOn.TIMER: {}}
    for t in protocol.triggers.values():
        if t.on is TriggerOn.PARAMETER and (t.time is not TriggerTime.CHANGE or t.on_id == EACH):
            continue  # `each` triggers are kept apart: they stand in for a parameter's own
        if t.on in found and t.on_id is not None:
            found[t.on].setdefault(int(t.on_id), []).append(t.id)
    return found


def _group_triggers(protocol: Protocol) -> dict[tuple[int, TriggerTime], list[int]]:
    found: dict[tuple[int, TriggerTime], list[int]] = {}
    for t in protocol.triggers.values():
        if t.on is TriggerOn.GROUP and t.on_id is not None:
            found.setdefault((int(t.on_id), t.time), []).append(t.id)
    return found


def _saved_columns(table: TableModel) -> tuple[SavedCells, tuple[int, ...]]:
    """How to take a row's saved cells, the key column first, and those columns' ids."""
    keyed = sorted(enumerate(table.columns), key=lambda ic: ic[1].id != table.key_column)
    kept = [(i, c.id) for i, c in keyed if c.save or c.id == table.key_column]
    positions = [i for i, _ in kept]
    getter: SavedCells
    if len(positions) > 1:
        getter = itemgetter(*positions)  # builds each row's tuple in C
    else:  # with one position itemgetter would give a bare value, not a tuple
        only = positions[0]

        def getter(cells: list[Any]) -> tuple[Any, ...]:
            return (cells[only],)

    return getter, tuple(cid for _, cid in kept)
