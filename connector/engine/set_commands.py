"""Set commands: a set on a parameter or on a table cell, from outside (the API, another
element) or from a handler, checked against what the protocol lets each of them change."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from typing import Protocol as TypingProtocol

from connector.engine import events as ev
from connector.engine.table import Table
from connector.engine.values import ValueRefused, coerce, settable, settable_column
from connector.protocol.model import ParamType, Protocol

log = logging.getLogger("connector.element")


class Machine(TypingProtocol):
    """What a set command needs of the element (connector.engine.machine.Machine)."""

    @property
    def name(self) -> str: ...

    @property
    def protocol(self) -> Protocol: ...

    @property
    def tables(self) -> Mapping[int, Table]: ...

    def change(self, pid: int, value: Any, *, always: bool) -> None: ...

    def run_handlers_on(self, pid: int, row_key: str | None = None) -> None: ...


def set_command(machine: Machine, event: ev.SetParameter) -> None:
    """A set command: from outside, only what a user may set (`values.settable`); a set
    on a read parameter goes to its write twin.

    Raises KeyError for an unknown parameter or a table, NotSettable for a parameter only
    the element sets, and ValueRefused for a bad value, before anything changes.
    """
    param = machine.protocol.param(event.param)
    try:
        if event.from_outside:
            param = settable(machine.protocol, param)
        elif param.type is not ParamType.WRITE:
            param = machine.protocol.write_of(param.id) or param
        if param.type is ParamType.ARRAY:
            raise KeyError(f"{param.name!r} is a table")
        value = coerce(param, event.value)
    except ValueRefused as refused:
        log.warning("[%s] a set on %d %r was refused: %s", machine.name, param.id, param.name, refused)
        raise
    machine.change(param.id, value, always=True)


def set_cell(machine: Machine, event: ev.SetCell) -> None:
    """A set on one cell: the cell changes, then the handlers on its column run with the
    row's key (DataMiner's row QActions: `protocol.row_key`).

    From outside, the parameter rules: only a write or button column (NotSettable for
    another), a value its kind takes. KeyError for an unknown table, row or column,
    ValueRefused for a bad value or the key column; nothing changes then.
    """
    table = machine.tables[machine.protocol.table(event.table).id]
    column = table.model.column(event.column)
    if event.key not in table:
        raise KeyError(f"table {table.name!r} has no row {event.key!r}")
    try:
        if event.from_outside:
            settable_column(table.model, column)
        if column.id == table.model.key_column:
            raise ValueRefused("the primary key of a row never changes")
        value = coerce(column, event.value)
    except ValueRefused as refused:
        log.warning(
            "[%s] a set on %r row %r %r was refused: %s", machine.name, table.name, event.key, column.name, refused
        )
        raise
    table.set(event.key, column.id, value)
    machine.run_handlers_on(column.id, event.key)
