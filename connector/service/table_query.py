"""Which rows of a table a query asks for: `where` conditions and a sort, before paging.

The management API's `GET .../tables/{t}?where=COLUMN=VALUE&sort=[-]COLUMN` (and the command
line's `connector table --where/--status/--sort`) read tables through this module. A condition
matches the text a person sees ("Error") or the stored value ("4"), ignoring case; several
conditions must all match. A sort puts numbers before text (text ignoring case), keeps ties in
the table's order, and puts empty cells last whichever the direction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import frozen

from connector.engine.table import Table
from connector.engine.values import display
from connector.protocol.model import Column

__all__ = ["QueryRefused", "RowQuery", "parse_query"]


class QueryRefused(ValueError):
    """A query that names no column of the table, or is not COLUMN=VALUE; the message says which."""


@frozen(kw_only=True)
class RowQuery:
    where: tuple[tuple[Column, str], ...] = ()
    sort: Column | None = None
    descending: bool = False

    def keys(self, table: Table) -> list[str]:
        """The keys of the rows that match, in the query's order."""
        keys = table.keys()
        if self.where:
            keys = [key for key in keys if all(_matches(c, table.get(key, c.id), text) for c, text in self.where)]
        if self.sort is None:
            return keys
        cells = {key: table.get(key, self.sort.id) for key in keys}
        filled = [key for key in keys if cells[key] not in (None, "")]
        empty = [key for key in keys if cells[key] in (None, "")]
        return sorted(filled, key=lambda key: _sort_key(cells[key]), reverse=self.descending) + empty


def parse_query(table: Table, where: Iterable[str], sort: str | None) -> RowQuery:
    """The query of `where` texts (COLUMN=VALUE) and a `sort` text ([-]COLUMN); QueryRefused if unusable."""
    conditions = []
    for condition in where:
        name, sep, text = condition.partition("=")
        if not sep or not name.strip():
            raise QueryRefused(f"where must be COLUMN=VALUE, got {condition[:60]!r}")
        conditions.append((_column(table, name.strip()), text.strip()))
    if not sort:
        return RowQuery(where=tuple(conditions))
    return RowQuery(
        where=tuple(conditions), sort=_column(table, sort.removeprefix("-")), descending=sort.startswith("-")
    )


def _column(table: Table, name: str) -> Column:
    """A column by id or name (case-insensitive)."""
    for column in table.columns:
        if name == str(column.id) or name.casefold() == column.name.casefold():
            return column
    raise QueryRefused(f"table {table.name!r} has no column {name!r}")


def _matches(column: Column, value: Any, text: str) -> bool:
    wanted = text.casefold()
    return display(column, value).casefold() == wanted or str(value).casefold() == wanted


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value).casefold())
