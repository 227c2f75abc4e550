"""What a card shows, read from an element: its pages, parameters with their controls, and
a page of each table. Pure: the endpoints render these with the templates.

The rules, from the protocol (DataMiner's Cube card):

- Pages come from the `page:` attribute, in the order the protocol first names them
  (parameters first, then tables). A parameter with no page, a dummy, or a table's own
  parameter is internal: not shown.
- A read/write pair is one line: the read parameter's value, the write parameter's control.
  A write parameter alone (a button) is a line of its own.
- A control's kind follows the write parameter: number field, drop-down (discreet), switch
  (toggle), button, password field (never filled), text field.
- A password's value never reaches the page: its display is the mask, its field is empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from attrs import frozen

from connector.engine.element import ElementView
from connector.engine.table import Table
from connector.engine.values import display
from connector.protocol.model import Column, Param, ParamType, Protocol, ValueKind
from connector.service.table_query import QueryRefused, RowQuery, parse_query

__all__ = [
    "PAGE_SIZE",
    "Cell",
    "Control",
    "Page",
    "ParamLine",
    "TablePage",
    "TableQuery",
    "card_pages",
    "cell",
    "control_values",
    "shown_values",
    "summary",
    "table_ids",
    "table_page",
]

PAGE_SIZE = 50


@frozen(kw_only=True)
class Control:
    """The set control of a write parameter."""

    param: int  # the write parameter's id: `data-param`
    kind: str  # number | select | toggle | button | password | text
    label: str
    value: str = ""  # what the field shows: the element's value ("" for a password)
    options: tuple[tuple[str, str], ...] = ()  # (value, display) for select, toggle and button
    low: str = ""
    high: str = ""
    step: str = ""


@frozen(kw_only=True)
class ParamLine:
    """One line of a page: a parameter's value (`shown` is None for a button alone) and its control."""

    id: int  # the read parameter's id, or the write's when it has no read twin
    name: str
    description: str
    shown: Cell | None
    control: Control | None


class Cell(NamedTuple):
    """A value as displayed; `utc` is the ISO time of a datetime (the browser shows it local).

    A named tuple, not an attrs class: a table page makes hundreds, and it is three times cheaper."""

    text: str
    utc: str = ""


@frozen(kw_only=True)
class Page:
    name: str
    slug: str
    lines: tuple[ParamLine, ...]
    tables: tuple[int, ...]


@frozen(kw_only=True)
class TableQuery:
    """What the card asks of a table: a page (from 1), a sort ([-]column id), filters, a key search."""

    page: int = 1
    sort: str = ""
    filters: tuple[tuple[int, str], ...] = ()  # (discreet column id, display)
    search: str = ""

    @classmethod
    def from_args(cls, table_id: int, args: Mapping[str, str]) -> TableQuery:
        """Read from the card's address: `t1000.p=2&t1000.sort=-1012&t1000.f1006=Error&t1000.q=WM-`."""
        prefix = f"t{table_id}."
        page_text = args.get(prefix + "p", "1")
        page = int(page_text) if page_text.isascii() and page_text.isdecimal() and len(page_text) < 10 else 1
        filters = []
        for name, text in args.items():
            column = name.removeprefix(prefix + "f")
            if name.startswith(prefix + "f") and column.isascii() and column.isdecimal() and text:
                filters.append((int(column), text))
        return cls(
            page=max(page, 1),
            sort=args.get(prefix + "sort", ""),
            filters=tuple(sorted(filters)),
            search=args.get(prefix + "q", "").strip(),
        )


@frozen(kw_only=True)
class TablePage:
    id: int
    name: str
    description: str
    columns: tuple[Column, ...]  # the visible ones
    filters: tuple[tuple[Column, str], ...]  # every visible discreet column, with the chosen display
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (key, cells of the visible columns)
    total: int  # rows that match
    rows_in_table: int
    page: int
    pages: int
    sort: str
    search: str
    refused: str = ""  # why the query could not be used (a column it does not know)


def card_pages(view: ElementView) -> list[Page]:
    """The element's pages, in protocol order, with their lines and tables."""
    protocol = view.protocol
    order: dict[str, tuple[list[ParamLine], list[int]]] = {}
    for param in protocol.params.values():
        line = _line(protocol, view.values, param)
        if line is not None and param.page:
            order.setdefault(param.page, ([], []))[0].append(line)
    for table in protocol.tables.values():
        if table.page:
            order.setdefault(table.page, ([], []))[1].append(table.id)
    return [
        Page(name=name, slug=_slug(name, index), lines=tuple(lines), tables=tuple(tables))
        for index, (name, (lines, tables)) in enumerate(order.items())
    ]


def table_ids(pages: Iterable[Page]) -> list[int]:
    return [table_id for page in pages for table_id in page.tables]


def shown_values(view: ElementView) -> dict[str, Cell]:
    """Every shown parameter's value by id (the live update's), controls' values included."""
    shown: dict[str, Cell] = {}
    for param in view.protocol.params.values():
        if param.page and param.type is not ParamType.ARRAY and param.type is not ParamType.DUMMY:
            shown[str(param.id)] = cell(param, view.values.get(param.id))
    return shown


def control_values(view: ElementView) -> dict[str, str]:
    """What each control shows, by write parameter id (a password's is always empty)."""
    controls: dict[str, str] = {}
    for param in view.protocol.params.values():
        if param.page and param.type is ParamType.WRITE:
            controls[str(param.id)] = _field_value(view.protocol, view.values, param)
    return controls


def summary(view: ElementView) -> list[tuple[Param, Cell]]:
    """The parameters the protocol marks `summary: true`: the card's header and the list's columns."""
    return [(p, cell(p, view.values.get(p.id))) for p in view.protocol.params.values() if p.summary]


def cell(spec: Param | Column, value: Any) -> Cell:
    text = display(spec, value)
    if spec.kind is ValueKind.DATETIME and isinstance(value, (int, float)) and text.endswith("Z"):
        return Cell(text=text, utc=text)
    return Cell(text=text)


def table_page(table: Table, query: TableQuery) -> TablePage:
    """One page of `table` as `query` asks: filtered, searched by key, sorted, 50 rows."""
    visible = tuple(c for c in table.columns if not c.hidden)
    filters = tuple(
        (c, dict(query.filters).get(c.id, "")) for c in visible if c.kind in (ValueKind.DISCREET, ValueKind.TOGGLE)
    )
    refused = ""
    try:
        where = [f"{c.id}={chosen}" for c, chosen in filters if chosen]
        row_query = parse_query(table, where, query.sort or None)
    except QueryRefused as exc:
        refused, row_query = str(exc), RowQuery()
    keys = row_query.keys(table)
    if query.search:
        needle = query.search.casefold()
        keys = [key for key in keys if needle in key.casefold()]
    pages = max(1, math.ceil(len(keys) / PAGE_SIZE))
    page = min(query.page, pages)
    chosen_keys = keys[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    positions = [table.position(c.id) for c in visible]
    rows = []
    for key in chosen_keys:
        cells = table.raw_cells(key)
        rows.append((key, tuple(cell(c, cells[p]) for c, p in zip(visible, positions, strict=True))))
    return TablePage(
        id=table.id,
        name=table.name,
        description=table.model.description,
        columns=visible,
        filters=filters,
        rows=tuple(rows),
        total=len(keys),
        rows_in_table=len(table),
        page=page,
        pages=pages,
        sort=query.sort if not refused else "",
        search=query.search,
        refused=refused,
    )


# -- lines and controls --------------------------------------------------------------------------


def _line(protocol: Protocol, values: Mapping[int, Any], param: Param) -> ParamLine | None:
    if param.type in (ParamType.ARRAY, ParamType.DUMMY):
        return None
    if param.type is ParamType.WRITE:
        if protocol.read_of(param.id) is not None:
            return None  # shown on its read parameter's line
        return ParamLine(
            id=param.id,
            name=param.name,
            description=param.description,
            shown=None,
            control=_control(protocol, values, param),
        )
    write = protocol.write_of(param.id)
    return ParamLine(
        id=param.id,
        name=param.name,
        description=param.description,
        shown=cell(param, values.get(param.id)),
        control=_control(protocol, values, write) if write is not None else None,
    )


def _control(protocol: Protocol, values: Mapping[int, Any], write: Param) -> Control:
    label = write.name
    value = _field_value(protocol, values, write)
    options = tuple((str(d.value), d.display) for d in write.discreets)
    if write.password:
        return Control(param=write.id, kind="password", label=label)
    if write.kind is ValueKind.BUTTON:
        return Control(param=write.id, kind="button", label=label, options=options)
    if write.kind is ValueKind.TOGGLE:
        return Control(param=write.id, kind="toggle", label=label, value=value, options=options)
    if write.kind is ValueKind.DISCREET:
        return Control(param=write.id, kind="select", label=label, value=value, options=options)
    if write.kind is ValueKind.NUMBER:
        bounds = write.range
        return Control(
            param=write.id,
            kind="number",
            label=label,
            value=value,
            low=_number_text(bounds.low if bounds else None),
            high=_number_text(bounds.high if bounds else None),
            # The browser's own step check is off (novalidate): the element's rules decide.
            step=_number_text(write.step) or "any",
        )
    return Control(param=write.id, kind="text", label=label, value=value)


def _field_value(protocol: Protocol, values: Mapping[int, Any], write: Param) -> str:
    """What a control holds: the element's value (the read twin's), never a password."""
    if write.password:
        return ""
    read = protocol.read_of(write.id)
    value = values.get(read.id if read is not None else write.id)
    return "" if value is None else _number_text(value) if isinstance(value, (int, float)) else str(value)


def _number_text(number: float | int | None) -> str:
    if number is None:
        return ""
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _slug(name: str, index: int) -> str:
    text = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return text or f"page-{index + 1}"
