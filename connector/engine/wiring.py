"""An element's wiring: which triggers, handlers, copies and timers each event reaches.

Computed once from the protocol when the element is made, so that a parameter set costs a
few dict look-ups (the element reads these maps on every change, never the protocol's own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from attrs import frozen

from connector.protocol.model import EACH, ParamType, Protocol, TriggerOn, TriggerTime
from connector.protocol.model import Table as TableModel

# A table's saved cells of one row, in the order of the saved column ids (the key column first).
SavedCells = Callable[[list[Any]], tuple[Any, ...]]


@frozen
class SavedColumns:
    """A table's saved columns: their ids and positions in a row (the key column first), and
    `cells`, which takes them from a row in C."""

    ids: tuple[int, ...]
    positions: tuple[int, ...]
    cells: SavedCells

    @classmethod
    def at(cls, ids: tuple[int, ...], positions: tuple[int, ...]) -> SavedColumns:
        return cls(ids, positions, _taker(positions))

    def subset(self, written: tuple[int, ...]) -> SavedColumns:
        """The key column and those of the saved columns at `written` positions (a writer's):
        what a row a writer changed needs saved. Made once per writer's columns (`_subset`)."""
        return _subset(self, written)


@functools.lru_cache(maxsize=256)
def _subset(saved: SavedColumns, written: tuple[int, ...]) -> SavedColumns:
    pairs = enumerate(zip(saved.ids, saved.positions, strict=True))
    kept = [(cid, p) for index, (cid, p) in pairs if index == 0 or p in written]  # the key column first
    return SavedColumns.at(tuple(cid for cid, _ in kept), tuple(p for _, p in kept))


def _taker(positions: tuple[int, ...]) -> SavedCells:
    if len(positions) > 1:
        return itemgetter(*positions)  # builds each row's tuple in C
    (only,) = positions  # one position: itemgetter would give a bare value, not a tuple

    def getter(cells: list[Any]) -> tuple[Any, ...]:
        return (cells[only],)

    return getter


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
    saved_columns: Mapping[int, SavedColumns]  # table -> its saved columns


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


def _saved_columns(table: TableModel) -> SavedColumns:
    """A table's saved columns, the key column first."""
    keyed = sorted(enumerate(table.columns), key=lambda ic: ic[1].id != table.key_column)
    kept = [(i, c.id) for i, c in keyed if c.save or c.id == table.key_column]
    return SavedColumns.at(tuple(cid for _, cid in kept), tuple(i for i, _ in kept))
