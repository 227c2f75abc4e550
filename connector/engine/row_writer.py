"""`Table.writer`: a row's cells at a fixed list of columns, written by code built for those columns.

A drain writes each ticket a few times (13,500 writes for 5,000 tickets), each time the same
eleven cells, of which three or four changed. Written as a loop over the columns calling each
column's check, the loop's own steps and the calls cost more than the work: 1,085 ns a write
over a drain's writes. The same steps unrolled for the writer's columns, each column's fast
path tested inline, cost 570 ns. So the writer's code is built once, when the writer is made,
as attrs and dataclasses build an `__init__`: only column positions (ints) and names made
here go into its text; the columns' checks, their fast paths' types, bounds and values, and
the table's rows are handed to it as values, never written into it.

What a write does, cell by cell: None keeps the cell; a value that is the very object the cell
holds (read from the row and written back) is neither checked again nor stored; a value its
column stores as it is (`connector.engine.values.fast_cell`) is stored; any other goes
through the column's check (`cell_check`, which may convert it or refuse it). A refused cell
leaves the row as it was. Then the row moves between values in every tally, and is marked
written at the writer's positions (`TableChanges`: the store saves those cells alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connector.engine.values import FastCell, ValueRefused

Refusal = Callable[[str, int, ValueRefused], ValueRefused]
Writer = Callable[[str, Sequence[Any]], None]


def compile_writer(
    positions: tuple[int, ...],
    cells: tuple[tuple[FastCell, Callable[[Any], Any]], ...],
    *,
    rows: dict[str, list[Any]],
    tallies: dict[int, dict[Any, int]],
    written: dict[str, tuple[int, ...] | None],
    deleted: set[str],
    refused: Refusal,
) -> Writer:
    """`write(key, values)`: one value per position, in order; KeyError for an unknown row.

    `cells`: per position, what its column stores unchanged (tested inline) and its check (called
    for any other value). `written` and `deleted`: the table's change record (`TableChanges`)."""
    if len(cells) != len(positions) or not all(type(p) is int and p >= 0 for p in positions):
        raise ValueError("a writer needs one check per column position, positions as ints")
    names = [f"value{index}" for index in range(len(positions))]
    unpacked = "".join(f"{name}, " for name in names)
    lines = [
        "def write(key, values):",
        "    row = rows[key]",
        "    try:",
        f"        ({unpacked}) = values",
        "    except ValueError:",
        f"        raise ValueError('a writer of {len(positions)} columns takes {len(positions)} values') from None",
        "    before = row.copy()  # a copy in C is cheaper than checking every cell before writing",
        "    position = -1",
        "    try:",
    ]
    for index, (name, position) in enumerate(zip(names, positions, strict=True)):
        lines += [
            f"        if {name} is not None and {name} is not row[{position}]:",
            f"            position = {position}",
            f"            row[{position}] = {name} if {_fast(index, name, cells[index][0])} else check{index}({name})",
        ]
    lines += [
        "        pass",
        "    except ValueRefused as refusal:",
        "        row[:] = before  # a refused cell leaves the row as it was",
        "        raise refused(key, position, refusal) from None",
        "    for position, tally in tallies.items():",
        "        old, new = before[position], row[position]",
        "        if old is not new and old != new:",
        "            left = tally[old] - 1",
        "            if left:",
        "                tally[old] = left",
        "            else:",
        "                del tally[old]  # absent, not 0: a tally holds only values some row has",
        "            tally[new] = tally.get(new, 0) + 1",
        "    if written.setdefault(key, positions) is not positions:",
        "        written[key] = None  # written by another writer, or whole, too: saved whole",
        "    if deleted:",
        "        deleted.discard(key)",
    ]
    namespace: dict[str, Any] = {
        "rows": rows,
        "tallies": tallies,
        "written": written,
        "deleted": deleted,
        "positions": positions,
        "refused": refused,
        "ValueRefused": ValueRefused,
    }
    for index, (fast, check) in enumerate(cells):
        namespace |= {f"check{index}": check, f"types{index}": fast.types, f"allowed{index}": fast.allowed}
        namespace |= {f"type{index}": fast.types[0], f"low{index}": fast.low, f"high{index}": fast.high}
    exec(compile("\n".join(lines), f"<table writer of positions {positions}>", "exec"), namespace)  # noqa: S102
    write: Writer = namespace["write"]
    return write


def _fast(index: int, name: str, fast: FastCell) -> str:
    """The inline test that `name` is stored as it is (`FastCell`), over the namespace's values."""
    if fast.allowed is not None:
        return f"type({name}) in types{index} and {name} in allowed{index}"
    if fast.low is not None and fast.high is not None:
        return f"type({name}) is type{index} and low{index} <= {name} <= high{index}"
    return f"type({name}) in types{index}"
