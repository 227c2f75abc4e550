"""An element's table: rows keyed by a string primary key, DataMiner's row semantics.

- `add_row` on an existing key does nothing (AddRow);
- `set_row` keeps the cells it is not given (SetRow with null cells);
- `fill(full=True)` removes the keys it is not given, `fill(full=False)` keeps them
  (FillArray / FillArrayNoDelete);
- the primary key never changes once a row exists;
- a cell follows its column's kind (`connector.engine.values.coerce`): a number column takes
  numbers, a datetime column dates; a refused cell raises ValueRefused naming the table,
  column and row, and the row is left as it was.

Rows are stored as lists in column order (not dicts) so that 100,000 rows stay small, and
every change is recorded in `changes` (keys set, keys deleted) for the store to commit in
one transaction per group. A column's `tally` (rows per value) is counted once and then kept
by every change, so a count asked for after each message costs nothing on 100,000 rows.
Nothing here does I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from connector.engine.row_writer import compile_writer
from connector.engine.values import ValueRefused, cell_check, fast_cell
from connector.protocol.model import Column
from connector.protocol.model import Table as TableModel

CellValues = Mapping[int | str, Any]


class TableChanges:
    """Keys written and keys deleted since the store last committed this table.

    `written` maps a key to None (the row was written whole: added, set) or to the positions a
    writer wrote (only those cells changed: the store saves just them). Two writers, or a
    writer and a set, make it None.
    """

    __slots__ = ("written", "deleted")

    def __init__(self) -> None:
        # A dict, not a set: it keeps the order rows were first written in, which is the
        # order the store restores them in (receive order matters to connectors).
        self.written: dict[str, tuple[int, ...] | None] = {}
        self.deleted: set[str] = set()

    def wrote(self, key: str) -> None:
        self.written[key] = None
        self.deleted.discard(key)

    def removed(self, key: str) -> None:
        self.written.pop(key, None)
        self.deleted.add(key)

    def __bool__(self) -> bool:
        return bool(self.written or self.deleted)

    def take(self) -> tuple[dict[str, tuple[int, ...] | None], set[str]]:
        # Emptied in place: a writer holds these two (`connector.engine.row_writer`).
        written, deleted = dict(self.written), set(self.deleted)
        self.written.clear()
        self.deleted.clear()
        return written, deleted


class Table:
    """The rows of one table. Columns may be named by id or by name everywhere."""

    def __init__(self, model: TableModel) -> None:
        self.model = model
        self.columns: tuple[Column, ...] = model.columns
        self._names = tuple(column.name for column in model.columns)
        self._index: dict[int | str, int] = {}
        for position, column in enumerate(model.columns):
            self._index[column.id] = position
            self._index[column.name] = position
            self._index[str(column.id)] = position
        self._key_position = self._index[model.key_column]
        self._checks = tuple(cell_check(column) for column in model.columns)
        self._rows: dict[str, list[Any]] = {}
        # Column position -> rows per value, for the columns someone asked to `tally`. Every
        # change below keeps them; the dict itself is never replaced (a writer holds it). Plain
        # dicts, not Counters: a drain moves a row between two values at most writes, and a
        # dict subclass's item access is not specialized (3x the cost of a dict's).
        self._tallies: dict[int, dict[Any, int]] = {}
        self.changes = TableChanges()

    # -- look-ups ------------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self.model.id

    @property
    def name(self) -> str:
        return self.model.name

    def position(self, column: int | str) -> int:
        try:
            return self._index[column]
        except KeyError:
            raise KeyError(f"table {self.model.name!r} has no column {column!r}") from None

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> list[str]:
        return list(self._rows)

    def row(self, key: str) -> dict[str, Any]:
        """The row as {column name: value}; KeyError if there is none."""
        # Built in C: a cycle reads every row. zip without a keyword: a keyword call costs more
        # than the rest of it (a row always holds one cell per column).
        return dict(zip(self._names, self._rows[key]))  # noqa: B905

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for key in list(self._rows):
            yield key, self.row(key)

    def cells(self, *columns: int | str) -> list[tuple[Any, ...]]:
        """(key, cell, ...) of every row for `columns`, in table order: a scan read in C, with no
        call per row (a cycle's look for work walks every ticket). A snapshot: the table may
        change while the list is walked."""
        take = itemgetter(self._key_position, *(self.position(column) for column in columns))
        if not columns:  # itemgetter of one position gives the cell, not a tuple
            return [(key,) for key in self._rows]
        return list(map(take, self._rows.values()))

    def get(self, key: str, column: int | str) -> Any:
        return self._rows[key][self.position(column)]

    def tally(self, column: int | str) -> Mapping[Any, int]:
        """Rows per value of `column` (a value no row holds is absent), read-only and live.

        Counted over every row the first time a column is asked for; from then on each change
        keeps it, so asking again costs nothing. Values are counted as dict keys compare them
        (1 and 1.0 are one value), as a cell's check stores them.
        """
        position = self.position(column)
        tally = self._tallies.get(position)
        if tally is None:
            tally = self._tallies[position] = dict(Counter(map(itemgetter(position), self._rows.values())))
        return MappingProxyType(tally)

    def find(self, column: int | str, value: Any) -> list[str]:
        """The keys of the rows whose cell in `column` equals `value`, in table order."""
        position = self.position(column)
        return [key for key, cells in self._rows.items() if cells[position] == value]

    # -- changes -------------------------------------------------------------------------

    def add_row(self, key: str, cells: CellValues | None = None) -> bool:
        """Add a row; an existing key is left as it is. True when the row was added."""
        key = self._check_key(key)
        if key in self._rows:
            return False
        row: list[Any] = [None] * len(self.columns)
        row[self._key_position] = key
        if cells:
            self._apply(key, row, cells)
        self._rows[key] = row
        for position, tally in self._tallies.items():
            _count(tally, row[position])
        self.changes.wrote(key)
        return True

    def set_row(self, key: str, cells: CellValues) -> None:
        """Update the given cells of an existing row; the others keep their values."""
        row = self._rows[key]
        before = row.copy() if self._tallies else row
        self._apply(key, row, cells)
        if self._tallies:
            _retally(self._tallies, before, row)
        self.changes.wrote(key)

    def set(self, key: str, column: int | str, value: Any) -> None:
        self.set_row(key, {column: value})

    def writer(self, columns: Iterable[int | str]) -> Callable[[str, Sequence[Any]], None]:
        """`set_row` for a fixed list of columns, for loops over many rows: `write(key, values)`
        with one value per column, in `columns` order (None keeps a cell). The columns are
        looked up once, here, and the write is built for them (`connector.engine.row_writer`).
        KeyError for an unknown column or row."""
        positions = tuple(self.position(column) for column in columns)
        if self._key_position in positions:
            raise ValueError(f"table {self.model.name!r}: a writer cannot change the primary key")
        return compile_writer(
            positions,
            tuple((fast_cell(self.columns[p]), self._checks[p]) for p in positions),
            rows=self._rows,
            tallies=self._tallies,
            written=self.changes.written,
            deleted=self.changes.deleted,
            refused=self._refused,
        )

    def fill(self, rows: Mapping[str, CellValues], *, full: bool = True) -> None:
        """Set many rows at once. full: rows not given are removed; partial: they stay."""
        if full:
            for key in [k for k in self._rows if k not in rows]:
                self.delete_row(key)
        for key, cells in rows.items():
            if key in self._rows:
                self.set_row(key, cells)
            else:
                self.add_row(key, cells)

    def delete_row(self, key: str) -> int:
        """Remove a row (a missing key is ignored); returns the rows that remain."""
        row = self._rows.pop(key, None)
        if row is not None:
            for position, tally in self._tallies.items():
                _uncount(tally, row[position])
            self.changes.removed(key)
        return len(self._rows)

    def delete_rows(self, keys: Iterable[str]) -> int:
        for key in list(keys):
            self.delete_row(key)
        return len(self._rows)

    def load(self, key: str, cells: Mapping[int | str, Any]) -> None:
        """Restore a saved row at start-up (cells by column id or name): no change is recorded."""
        row: list[Any] = [None] * len(self.columns)
        for name, value in cells.items():
            position = self._index.get(name)
            if position is not None:
                row[position] = value
        row[self._key_position] = key
        self._rows[key] = row
        self._tallies.clear()  # start-up: counted again when next asked for

    def raw_cells(self, key: str) -> list[Any]:
        """The row's cells in column order (for the store; do not modify)."""
        return self._rows[key]

    # -- helpers -------------------------------------------------------------------------

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"table {self.model.name!r}: the primary key must be a non-empty string, got {key!r}")
        return key

    def _refused(self, key: str, position: int, refused: ValueRefused) -> ValueRefused:
        """`refused`, naming the table, the column at `position` and the row."""
        column = self.columns[position]
        return ValueRefused(
            f"table {self.model.name!r}, column {column.name!r} ({column.kind.value}), row {key!r}: {refused}"
        )

    def _apply(self, key: str, row: list[Any], cells: CellValues) -> None:
        # The hot path of a drain (a set_row per ticket and step): plain dict look-ups, and each
        # cell's check called here, not through another method.
        index, key_position, checks = self._index, self._key_position, self._checks
        before = row.copy()  # a copy in C is cheaper than checking every cell before writing
        position = -1
        try:
            for column, value in cells.items():
                position = index.get(column, -1)
                if position < 0:
                    position = self.position(column)  # raises the KeyError that names the column
                if value is None or value is row[position]:  # nothing, or what the cell holds already
                    continue
                if position == key_position:
                    if value != key:
                        raise ValueError(f"table {self.model.name!r}: the primary key of row {key!r} cannot change")
                    continue
                row[position] = checks[position](value)
        except ValueRefused as refused:
            row[:] = before  # a refused cell leaves the row as it was
            raise self._refused(key, position, refused) from None
        except (KeyError, ValueError):
            row[:] = before
            raise


def _retally(tallies: dict[int, dict[Any, int]], before: list[Any], after: list[Any]) -> None:
    """Move a changed row from its old values to its new ones in every tally."""
    for position, tally in tallies.items():
        old, new = before[position], after[position]
        if old is not new and old != new:
            _uncount(tally, old)
            _count(tally, new)


def _count(tally: dict[Any, int], value: Any) -> None:
    tally[value] = tally.get(value, 0) + 1


def _uncount(tally: dict[Any, int], value: Any) -> None:
    left = tally[value] - 1
    if left > 0:
        tally[value] = left
    else:
        del tally[value]  # absent, not 0: the tally holds only values some row has
