"""Reading a Ticket Overview cell that may hold anything: a poison value written into the store by
hand or by another program must send its ticket to Error with the reason, not stop every cycle.

`CellReader` reads a row's cells one by one and collects what it could not read;
`connector.ticketing.tickets.Ticket.from_cells` uses it when a row's cells are not of the types
the flow writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def shown(value: Any) -> str:
    """A cell's value for a message: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def seconds(value: Any) -> float:
    """A Next Try / Last Update cell as seconds; an unreadable one counts as 0 (due now: the
    flow then loads the row and sends it to Error with the reason)."""
    try:
        number = float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


class CellReader:
    """The cells of one row, each read as the flow needs it; `problems` says what could not be."""

    def __init__(self, cells: Mapping[str, Any]) -> None:
        self.cells = cells
        self.problems: list[str] = []

    def whole(self, column: str, default: int) -> int:
        number = self._number(column, whole=True)
        return default if number is None else int(number)

    def real(self, column: str, default: float) -> float:
        number = self._number(column, whole=False)
        return default if number is None else number

    def _number(self, column: str, *, whole: bool) -> float | None:
        value = self.cells.get(column)
        if value is None or value == "":
            return None
        try:
            number = float(value)
            if math.isfinite(number) and (not whole or number == int(number)):
                return number
        except (TypeError, ValueError, OverflowError):
            pass
        self.problems.append(f"{column} is {shown(value)}, not {'a whole number' if whole else 'a number'}")
        return None

    def text(self, column: str, default: str = "", allowed: tuple[str, ...] | None = None) -> str:
        value = self.cells.get(column)
        if value is None or value == "":
            return default
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            self.problems.append(
                f"{column} is {shown(value)}" + (", not one of its values" if allowed else ", not text")
            )
            return default
        return value
