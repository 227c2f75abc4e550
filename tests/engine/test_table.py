"""Table semantics against a plain dict model (a Hypothesis state machine)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from connector.engine.persist import collect_persist
from connector.engine.table import Table
from connector.engine.values import ValueRefused, display
from connector.engine.wiring import SavedColumns
from connector.protocol import model as m

MODEL = m.Table(
    id=1000,
    name="Things",
    key_column=1001,
    columns=(
        m.Column(id=1001, name="Key"),
        m.Column(id=1002, name="A"),
        m.Column(id=1003, name="B", kind=m.ValueKind.NUMBER),
    ),
)
KEYS = st.sampled_from(["k1", "k2", "k3", "k4", "k5"])
CELLS = st.fixed_dictionaries({}, optional={"A": st.text(max_size=3), "B": st.integers(0, 9)})


class TableMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table = Table(MODEL)
        self.model: dict[str, dict[str, object]] = {}

    def _blank(self, key: str) -> dict[str, object]:
        return {"Key": key, "A": None, "B": None}

    @rule(key=KEYS, cells=CELLS)
    def add_row(self, key: str, cells: dict[str, object]) -> None:
        added = self.table.add_row(key, cells)
        assert added == (key not in self.model)
        if added:
            self.model[key] = {**self._blank(key), **cells}

    @rule(key=KEYS, cells=CELLS)
    def set_row(self, key: str, cells: dict[str, object]) -> None:
        if key not in self.model:
            with pytest.raises(KeyError):
                self.table.set_row(key, cells)
            return
        self.table.set_row(key, cells)
        self.model[key].update(cells)

    @rule(key=KEYS, b=st.none() | st.integers(0, 9), a=st.none() | st.text(max_size=3))
    def write_row(self, key: str, b: int | None, a: str | None) -> None:
        """`writer` is set_row for fixed columns: the same cells, None keeping a cell."""
        write = self.table.writer(["B", 1002])
        if key not in self.model:
            with pytest.raises(KeyError):
                write(key, (b, a))
            return
        write(key, (b, a))
        self.model[key].update({name: value for name, value in (("B", b), ("A", a)) if value is not None})
        assert key in self.table.changes.written

    @rule(rows=st.dictionaries(KEYS, CELLS, max_size=4), full=st.booleans())
    def fill(self, rows: dict[str, dict[str, object]], full: bool) -> None:
        self.table.fill(rows, full=full)
        if full:
            self.model = {k: v for k, v in self.model.items() if k in rows}
        for key, cells in rows.items():
            self.model.setdefault(key, self._blank(key)).update(cells)

    @rule(key=KEYS, b=st.sampled_from(["x", True, ""]), by_writer=st.booleans())
    def refused_write(self, key: str, b: object, by_writer: bool) -> None:
        """A refused cell leaves the row, and so every tally, as it was."""
        if key not in self.model:
            return
        with pytest.raises(ValueRefused):
            if by_writer:
                self.table.writer(["A", "B"])(key, ("changed", b))
            else:
                self.table.set_row(key, {"A": "changed", "B": b})

    @rule(key=KEYS, cells=CELLS)
    def load(self, key: str, cells: dict[str, object]) -> None:
        """A restored row (start-up): the tallies are counted again when next asked for."""
        self.table.load(key, cells)
        self.model[key] = {**self._blank(key), **cells}

    @rule(key=KEYS)
    def delete_row(self, key: str) -> None:
        remaining = self.table.delete_row(key)
        self.model.pop(key, None)
        assert remaining == len(self.model)

    @invariant()
    def same_rows(self) -> None:
        assert len(self.table) == len(self.model)
        assert sorted(self.table.keys()) == sorted(self.model)
        for key, row in self.model.items():
            assert self.table.row(key) == row
            for column in ("A", "B"):
                if row[column] is not None:
                    assert key in self.table.find(column, row[column])

    @invariant()
    def cells_read_the_columns_of_every_row_in_table_order(self) -> None:
        order = self.table.keys()
        assert self.table.cells("A", 1003) == [(key, *self.table.raw_cells(key)[1:]) for key in order]
        assert sorted(self.table.cells(1003)) == sorted((key, row["B"]) for key, row in self.model.items())
        assert self.table.cells() == [(key,) for key in order]

    @invariant()
    def tallies_count_the_rows(self) -> None:
        for column in ("A", "B"):
            assert dict(self.table.tally(column)) == dict(Counter(row[column] for row in self.model.values()))


TestTableMachine = TableMachine.TestCase


def test_the_primary_key_never_changes() -> None:
    t = Table(MODEL)
    t.add_row("k1", {"A": "x"})
    with pytest.raises(ValueError):
        t.set_row("k1", {"Key": "k2"})
    with pytest.raises(ValueError):
        t.add_row("", {})
    assert t.keys() == ["k1"]


def test_changes_keep_the_order_rows_were_written_in() -> None:
    t = Table(MODEL)
    for key in ("k3", "k1", "k2"):
        t.add_row(key)
    t.delete_row("k1")
    written, deleted = t.changes.take()
    assert list(written) == ["k3", "k2"] and deleted == {"k1"}
    assert not t.changes


def test_a_writer_names_its_columns_up_front_and_never_the_key() -> None:
    t = Table(MODEL)
    with pytest.raises(KeyError):
        t.writer(["A", "No such column"])
    with pytest.raises(ValueError):
        t.writer(["A", "Key"])


KINDS = m.Table(
    id=2000,
    name="Readings",
    key_column=2001,
    columns=(
        m.Column(id=2001, name="Key"),
        m.Column(id=2002, name="Level", kind=m.ValueKind.NUMBER),
        m.Column(id=2003, name="At", kind=m.ValueKind.DATETIME),
        m.Column(id=2004, name="Mode", kind=m.ValueKind.DISCREET, discreets=(m.Discreet(display="Off", value=0),)),
        m.Column(id=2005, name="Note"),
        m.Column(
            id=2006, name="Signal", kind=m.ValueKind.NUMBER, exceptions=(m.ExceptionValue(value=-1, display="No Lock"),)
        ),
    ),
)


@pytest.mark.parametrize(
    ("cells", "says"),
    [
        ({"Level": "not a number"}, "column 'Level' (number), row 'r1': must be a number, got 'not a number'"),
        ({"At": "yesterday"}, "column 'At' (datetime), row 'r1': must be an ISO 8601 date"),
        ({"Mode": "Maybe"}, "column 'Mode' (discreet), row 'r1': must be one of: Off (0)"),
        ({"Level": True}, "column 'Level' (number), row 'r1': must be a number, got a boolean"),
        ({"Note": [1]}, "column 'Note' (string), row 'r1': must be text, got list"),
    ],
)
def test_a_cell_follows_its_columns_kind(cells: dict[str, object], says: str) -> None:
    """Issue 15: `add_row`, `set_row`, `set` and a writer refuse a cell their column's kind does
    not take, naming the table, column, row and the kind; the row is left as it was."""
    table = Table(KINDS)
    with pytest.raises(ValueError, match="table 'Readings', " + re.escape(says)):
        table.add_row("r1", cells)
    assert "r1" not in table
    table.add_row("r1", {"Level": 1, "Note": "kept"})
    with pytest.raises(ValueError, match=re.escape(says)):
        table.set_row("r1", {"Note": "changed", **cells})
    (column, value), *_ = cells.items()
    with pytest.raises(ValueError, match=re.escape(says)):
        table.set("r1", column, value)
    with pytest.raises(ValueError, match=re.escape(says)):
        table.writer(["Note", column])("r1", ["changed", value])
    assert table.row("r1") == {"Key": "r1", "Level": 1, "At": None, "Mode": None, "Note": "kept", "Signal": None}


def test_a_cell_written_back_as_it_is_is_not_checked_again() -> None:
    """A value read from its cell and written back unchanged (the flow does it for most cells of
    every write) keeps the cell as it is, even a value restored from an older store that the
    column's kind would refuse today; a new value is checked."""
    table = Table(KINDS)
    legacy = "".join(["yester", "day"])  # built at run time: not the interned literal below
    table.load("r1", {"Key": "r1", "At": legacy, "Level": 3})
    table.writer(["At", "Level"])("r1", [table.get("r1", "At"), 4])
    table.set_row("r1", {"At": table.get("r1", "At"), "Note": "kept"})
    assert table.row("r1")["At"] is legacy and table.row("r1")["Level"] == 4
    with pytest.raises(ValueError, match="must be an ISO 8601 date"):
        table.writer(["At"])("r1", ["yesterday"])
    with pytest.raises(ValueError, match="must be an ISO 8601 date"):
        table.set_row("r1", {"At": "".join(["yester", "day"])})


def test_cells_are_stored_as_their_kind_stores_them() -> None:
    table = Table(KINDS)
    table.add_row("r1", {"Level": "7", "At": "2026-11-26T00:00:00Z", "Mode": "Off", "Note": 5, "Signal": "No Lock"})
    assert table.row("r1") == {"Key": "r1", "Level": 7, "At": 1_795_651_200.0, "Mode": 0, "Note": "5", "Signal": -1}
    assert display(KINDS.column("Signal"), -1) == "No Lock"  # a column's Interprete exception, as a param's


def test_a_writer_marks_the_cells_it_changed_and_a_set_the_whole_row() -> None:
    """What the store saves of a row (`TableChanges.written`): a writer's positions alone, or
    the whole row once it is also set, added, or written by another writer."""
    t = Table(MODEL)
    t.add_row("k1", {"A": "a", "B": 1})
    t.add_row("k2", {"A": "a", "B": 1})
    t.add_row("k3", {"A": "a", "B": 1})
    t.changes.take()
    only_b, both = t.writer(["B"]), t.writer(["A", "B"])
    only_b("k1", [2])
    only_b("k1", [3])
    only_b("k2", [2])
    t.set_row("k2", {"A": "b"})
    only_b("k3", [2])
    both("k3", ["c", None])
    written, _ = t.changes.take()
    assert written == {"k1": (t.position("B"),), "k2": None, "k3": None}


def test_a_step_saves_a_writers_rows_with_its_cells_alone() -> None:
    """`collect_persist`: rows added or set go whole, rows only a writer wrote go with the
    writer's saved cells (the key first), and the deletes come first."""
    t = Table(MODEL)
    t.add_row("k1", {"A": "a", "B": 1})
    t.add_row("k2", {"A": "a", "B": 1})
    t.add_row("gone", {"A": "a"})
    t.changes.take()
    t.writer(["B"])("k1", [2])
    t.delete_row("gone")
    t.add_row("k3", {"A": "n"})
    saved = SavedColumns.at((1001, 1002, 1003), (0, 1, 2))
    persist = collect_persist({}, set(), [t], {1000: saved})
    assert persist is not None
    deleted, *writes = persist.tables
    assert (deleted.deleted, deleted.written) == (("gone",), {})
    whole, some = sorted(writes, key=lambda delta: -len(delta.columns))
    assert (whole.columns, dict(whole.written)) == ((1001, 1002, 1003), {"k3": ("k3", "n", None)})
    assert (some.columns, dict(some.written), some.deleted) == ((1001, 1003), {"k1": ("k1", 2)}, ())
