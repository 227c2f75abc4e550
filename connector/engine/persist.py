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
from connector.engine.wiring import SavedColumns


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
    saved_columns: Mapping[int, SavedColumns],
) -> ev.Persist | None:
    """The `Persist` of the changes since the last one (None when nothing saved changed).

    Takes the changes: `dirty` is emptied and every table's change record reset. A row written
    whole (added, set) is saved whole; one only a writer wrote, with the cells at the writer's
    columns alone, in a delta of its own (a store merges those into the row): a drain's write
    saves the flow's eleven cells of a ticket, not its twenty.
    """
    params = {pid: values[pid] for pid in dirty}
    dirty.clear()
    deltas: list[ev.TableDelta] = []
    for table in tables:
        if not table.changes:
            continue
        written, deleted = table.changes.take()
        if table.model.volatile:
            continue
        saved = saved_columns[table.id]
        if deleted:
            deltas.append(ev.TableDelta(table=table.id, columns=saved.ids, written={}, deleted=tuple(deleted)))
        by_columns: dict[tuple[int, ...] | None, list[str]] = {}
        for key, positions in written.items():
            by_columns.setdefault(positions, []).append(key)
        raw = table.raw_cells
        for positions, keys in by_columns.items():
            columns = saved if positions is None else saved.subset(positions)
            if len(columns.ids) < 2 and positions is not None:
                continue  # the writer changed no saved cell
            cells = columns.cells
            rows = {key: cells(raw(key)) for key in keys if key in table}
            deltas.append(ev.TableDelta(table=table.id, columns=columns.ids, written=rows, deleted=()))
    if not params and not deltas:
        return None
    return ev.Persist(params=params, tables=tuple(deltas))
