"""The writer built for its columns (`connector.engine.row_writer`); its semantics against a model
of the table are in test_table's state machine (writes, refusals, tallies)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.row_writer import compile_writer
from connector.engine.table import Table
from connector.engine.values import FastCell, ValueRefused
from tests.engine.test_table import MODEL  # Key, A (text), B (number)


def _refused(key: str, position: int, refusal: ValueRefused) -> ValueRefused:
    return ValueRefused(f"{key}@{position}: {refusal}")


def test_a_write_takes_one_value_per_column() -> None:
    table = Table(MODEL)
    table.add_row("k", {"A": "a", "B": 1})
    write = table.writer(["A", "B"])
    with pytest.raises(ValueError, match="a writer of 2 columns takes 2 values"):
        write("k", ["b"])
    with pytest.raises(ValueError, match="a writer of 2 columns takes 2 values"):
        write("k", ["b", 2, 3])
    assert table.row("k") == {"Key": "k", "A": "a", "B": 1}
    write("k", iter(["b", None]))  # any iterable of the right length; None keeps the cell
    assert table.row("k") == {"Key": "k", "A": "b", "B": 1}


TEXT = FastCell((str,))


def _build(rows: dict[str, list[Any]], written: dict[str, None] | None = None) -> dict[str, Any]:
    return {
        "rows": rows,
        "tallies": {},
        "written": {} if written is None else written,
        "deleted": set(),
        "refused": _refused,
    }


def test_only_int_positions_go_into_the_writers_code() -> None:
    """The code is built from the positions: anything but an int (a name from a protocol file)
    is refused before any text is built from it."""
    rows: dict[str, list[Any]] = {"k": ["k", "a"]}
    with pytest.raises(ValueError, match="positions as ints"):
        compile_writer(("1]; import os; x = [1",), ((TEXT, str),), **_build(rows))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positions as ints"):
        compile_writer((True,), ((TEXT, str),), **_build(rows))
    with pytest.raises(ValueError, match="one check per column"):
        compile_writer((1,), (), **_build(rows))
    written: dict[str, None] = {}
    write = compile_writer((1,), ((FastCell((bytes,)), str.upper),), **_build(rows, written))
    write("k", ["b"])  # not what the column stores as it is: its check stores it
    assert rows["k"] == ["k", "B"] and list(written) == ["k"]
    write("k", [b"c"])  # stored as it is, without the check
    assert rows["k"] == ["k", b"c"]


def test_a_value_outside_the_fast_path_goes_through_the_check() -> None:
    """Bounds and discreet values are tested inline; NaN, a value out of bounds, a bool for an
    int, a value not among the discreets go to the check."""
    checked: list[Any] = []

    def check(value: Any) -> Any:
        checked.append(value)
        return 0

    rows: dict[str, list[Any]] = {"k": ["k", 0, "a"]}
    number, named = FastCell((int,), -10.0, 10.0), FastCell((str, int), allowed=frozenset({"a", "b", 1}))
    write = compile_writer((1, 2), ((number, check), (named, check)), **_build(rows))
    write("k", [5, "b"])
    write("k", [-10, 1])
    assert rows["k"] == ["k", -10, 1] and checked == []
    for odd in ([11, None], [True, None], [5.0, None], [None, "c"], [None, 1.0], [None, True]):
        write("k", odd)
    assert checked == [11, True, 5.0, "c", 1.0, True]
    floats = compile_writer((1,), ((FastCell((float,), -1.0, 1.0), check),), **_build(rows))
    checked.clear()
    for odd in (float("nan"), float("inf"), 2.0):
        floats("k", [odd])
    assert checked[1:] == [float("inf"), 2.0] and checked[0] != checked[0]  # NaN


def test_a_refused_cell_names_its_position_and_leaves_the_row() -> None:
    def refuse(value: Any) -> Any:
        raise ValueRefused("no")

    rows: dict[str, list[Any]] = {"k": ["k", "a", 1]}
    write = compile_writer((1, 2), ((TEXT, str), (FastCell((bytes,)), refuse)), **_build(rows))
    with pytest.raises(ValueRefused, match="k@2: no"):
        write("k", ["b", 2])
    assert rows["k"] == ["k", "a", 1]
