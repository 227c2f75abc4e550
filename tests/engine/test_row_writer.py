"""The writer built for its columns (`connector.engine.row_writer`); its semantics against a model
of the table are in test_table's state machine (writes, refusals, tallies)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.row_writer import compile_writer
from connector.engine.table import Table
from connector.engine.values import ValueRefused
from connector.protocol import model as m

MODEL = m.Table(
    id=1000,
    name="Things",
    key_column=1001,
    columns=(
        m.Column(id=1001, name="Key"),
        m.Column(id=1002, name="Name"),
        m.Column(id=1003, name="Count", kind=m.ValueKind.NUMBER),
    ),
)


def _refused(key: str, position: int, refusal: ValueRefused) -> ValueRefused:
    return ValueRefused(f"{key}@{position}: {refusal}")


def test_a_write_takes_one_value_per_column() -> None:
    table = Table(MODEL)
    table.add_row("k", {"Name": "a", "Count": 1})
    write = table.writer(["Name", "Count"])
    with pytest.raises(ValueError, match="a writer of 2 columns takes 2 values"):
        write("k", ["b"])
    with pytest.raises(ValueError, match="a writer of 2 columns takes 2 values"):
        write("k", ["b", 2, 3])
    assert table.row("k") == {"Key": "k", "Name": "a", "Count": 1}
    write("k", iter(["b", None]))  # any iterable of the right length; None keeps the cell
    assert table.row("k") == {"Key": "k", "Name": "b", "Count": 1}


def test_only_int_positions_go_into_the_writers_code() -> None:
    """The code is built from the positions: anything but an int (a name from a protocol file)
    is refused before any text is built from it."""
    rows: dict[str, list[Any]] = {"k": ["k", "a"]}
    build = {"rows": rows, "tallies": {}, "wrote": lambda key: None, "refused": _refused}
    with pytest.raises(ValueError, match="positions as ints"):
        compile_writer(("1]; import os; x = [1",), (str,), **build)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positions as ints"):
        compile_writer((True,), (str,), **build)
    with pytest.raises(ValueError, match="one check per column"):
        compile_writer((1,), (), **build)
    written: list[str] = []
    write = compile_writer((1,), (str.upper,), rows=rows, tallies={}, wrote=written.append, refused=_refused)
    write("k", ["b"])
    assert rows["k"] == ["k", "B"] and written == ["k"]


def test_a_refused_cell_names_its_position_and_leaves_the_row() -> None:
    def refuse(value: Any) -> Any:
        raise ValueRefused("no")

    rows: dict[str, list[Any]] = {"k": ["k", "a", 1]}
    write = compile_writer((1, 2), (str, refuse), rows=rows, tallies={}, wrote=lambda key: None, refused=_refused)
    with pytest.raises(ValueRefused, match="k@2: no"):
        write("k", ["b", 2])
    assert rows["k"] == ["k", "a", 1]
