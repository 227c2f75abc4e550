"""What an element hands the store and gets back from it: the `Persist` of a step, `Saved` at start-up.

A step's changes are collected once, when the step ends: the saved parameters it changed and,
per table, the rows it wrote and the keys it deleted (`Table.changes`). So a step commits in
one transaction however many cells it touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.engine import events as ev
from connector.engine.table import Table
from connector.engine.wiring import SavedCells


class Saved:
    """What the store hands back at start-up: saved parameter values and table rows."""

    def __init__(
        self,
        params: Mapping[int, Any] | None = None,
        # Cells by column id (as the stores keep them) or name: keys of either kind.
        tables: Mapping[int, Iterable[tuple[str, Mapping[Any, Any]]]] | None = None,
    ) -> None:
        self.params = dict(params or {})
        self.tables = dict(tables or {})

    @property
    def empty(self) -> bool:
        return not self.params and not self.tables


def collect_persist(
    values: Mapping[int, Any],
    dirty: set[int],
    tables: Iterable[Table],
    saved_columns: Mapping[int, tuple[SavedCells, tuple[int, ...]]],
) -> ev.Persist | None:
    """The `Persist` of the changes since the last one (None when nothing saved changed).

    Takes the changes: `dirty` is emptied and every table's change record reset.
    """
    params = {pid: values[pid] for pid in dirty}
    dirty.clear()
    deltas = []
    for table in tables:
        if not table.changes:
            continue
        written, deleted = table.changes.take()
        if table.model.volatile:
            continue
        saved_cells, columns = saved_columns[table.id]
        rows = {key: saved_cells(table.raw_cells(key)) for key in written if key in table}
        deltas.append(ev.TableDelta(table=table.id, columns=columns, written=rows, deleted=tuple(deleted)))
    if not params and not deltas:
        return None
    return ev.Persist(params=params, tables=tuple(deltas))
