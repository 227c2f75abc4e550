"""`connector table`: a table's rows, readable in an 80-column terminal; `connector set-cell`.

The API filters (`where`), sorts and pages; this module chooses the columns and draws them.

Which columns, when none are asked for (`--columns A,B` or `--all-columns`): hidden columns
never; of the others, as many as fit the terminal's width, one line a row, chosen in this order:
the key column (a row is found again by it), columns with a fixed set of values (a status, an
operation: the short answers to "where is it?"), then the narrowest first; a column empty in
every row shown comes last. Then, when a column with text in it is left out, the widest of them
(an error, a summary: the "why?") takes the room of the short columns chosen last, cut short with
an ellipsis, if that gives it CUT_ROOM. They are shown in the protocol's order, and the caption
names those left out.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connector.commandline import EXIT_OK, Subparsers
from connector.service.client import ApiClient, ApiRefused, add_api_options, client_command, one_line, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from connector.protocol.model import Column as ColumnModel

__all__ = ["DEFAULT_LIMIT", "add_set_cell", "add_table", "choose_columns", "column_widths"]

DEFAULT_LIMIT = 50
WIDEST = 28  # the most a column takes when the columns are chosen to fit
BORDER = 3  # what rich's box adds to each column: a rule and a space either side
CUT_ROOM = 30  # the least room a long text cut short gets (the rule and spaces included)
STATUS = "Status"  # `--status X` is `--where Status=X`


def add_table(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "table",
        help="show a table's rows",
        description="Show the rows of a table of a running element: the first 50 (--limit), the columns "
        "that fit the terminal (--columns, --all-columns), filtered (--where, --status) and sorted (--sort).",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("table", metavar="TABLE", help="the table's id or name")
    parser.add_argument(
        "--limit",
        type=_row_count,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show at most N rows (default {DEFAULT_LIMIT}; 0 for all)",
    )
    parser.add_argument("--offset", type=_row_count, default=0, metavar="N", help="skip the first N rows")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="only rows whose COLUMN shows VALUE (ignoring case); repeat for more conditions",
    )
    parser.add_argument("--status", metavar="VALUE", help="only rows of this Status (--where Status=VALUE)")
    parser.add_argument("--sort", metavar="COLUMN", help="sort by this column (--sort=-COLUMN or --desc: descending)")
    parser.add_argument("--desc", action="store_true", help="sort descending")
    parser.add_argument("--columns", metavar="A,B,...", help="these columns, in this order (names or ids)")
    parser.add_argument(
        "--all-columns", "--all", dest="all_columns", action="store_true", help="every column, hidden ones too"
    )
    add_api_options(parser)
    parser.set_defaults(run=_run_table)


def add_set_cell(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "set-cell",
        help="set a cell of a write or button column",
        description="Set one cell of a running element's table, by the row's key: "
        "`connector set-cell 'Poller 01' Sensors s1 Label kitchen`. Only a write or button column takes "
        "a set (DataMiner's column options); the value is read as the column's kind reads it (a discreet "
        "or button by its text or value). The handlers on the column run with the row's key.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("table", metavar="TABLE", help="the table's id or name")
    parser.add_argument("key", metavar="KEY", help="the row's primary key")
    parser.add_argument("column", metavar="COLUMN", help="the column's id or name")
    parser.add_argument("value", metavar="VALUE", help="the new value, as text")
    add_api_options(parser)
    parser.set_defaults(run=_run_set_cell)


@client_command
def _run_set_cell(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    # Sent as text, as `connector set` does: the element reads "5" as a number for a number column.
    answer = client.set_cell(args.element, args.table, args.key, args.column, args.value)
    if args.output == "json":
        print_json(answer)
    else:
        where = f"{answer['table']} row {answer['key']!r} {answer['column']}"
        console.print(f"{where}: {one_line(str(answer['display']))}", markup=False, highlight=False)
    return EXIT_OK


def _row_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of rows, got {text!r}")
    return count


@client_command
def _run_table(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    where = list(args.where)
    if args.status:
        where.append(f"{STATUS}={args.status}")
    sort = args.sort
    if sort and args.desc and not sort.startswith("-"):
        sort = "-" + sort
    answer = client.table(
        args.element, args.table, limit=args.limit or None, offset=args.offset or None, where=where, sort=sort
    )
    columns = [_column(c) for c in answer["columns"]]
    rows: list[Mapping[str, Any]] = answer["rows"]
    wanted = _wanted(args, answer, columns)
    if args.output == "json":
        # The stored values (a date as seconds since the epoch), of the visible columns or those asked for.
        listed = wanted or [c for c in columns if not c.hidden]
        print_json(
            {
                "id": answer["id"],
                "name": answer["name"],
                "total": answer["total"],
                "rows_in_table": answer.get("rows_in_table", answer["total"]),
                "offset": args.offset,
                "columns": [c.name for c in listed],
                "rows": [{c.name: row.get(c.name) for c in listed} for row in rows],
            }
        )
        return EXIT_OK
    cells = [{c.name: one_line(_cell(c, row.get(c.name))) for c in columns} for row in rows]
    shown = wanted or choose_columns([c for c in columns if not c.hidden], cells, console.width)
    widths = None if wanted else column_widths(shown, cells, console.width)
    left_out = [c.name for c in columns if c not in shown and not c.hidden]
    console.print(_draw(answer, shown, cells, where=where, left_out=left_out, offset=args.offset, widths=widths))
    return EXIT_OK


def _wanted(args: argparse.Namespace, answer: Mapping[str, Any], columns: list[ColumnModel]) -> list[ColumnModel]:
    """The columns asked for on the command line; [] for the default choice."""
    if args.all_columns:
        return columns
    if not args.columns:
        return []
    chosen = []
    for name in (n.strip() for n in args.columns.split(",") if n.strip()):
        found = [c for c in columns if name.casefold() in (c.name.casefold(), str(c.id))]
        if not found:
            known = ", ".join(c.name for c in columns)
            raise ApiRefused(400, f"table {answer['name']!r} has no column {name!r} (its columns: {known})")
        chosen.append(found[0])
    return chosen


def choose_columns(columns: Sequence[ColumnModel], cells: Sequence[Mapping[str, str]], width: int) -> list[ColumnModel]:
    """The columns that fit `width`, in their own order (see the module's doc for which)."""
    from connector.protocol.model import ValueKind

    def natural(column: ColumnModel) -> int:
        return min(widest(column), WIDEST) + BORDER

    def widest(column: ColumnModel) -> int:
        return max([len(column.name), *(len(row.get(column.name, "")) for row in cells)])

    def empty(column: ColumnModel) -> bool:
        return not any(row.get(column.name) for row in cells)

    def fixed(column: ColumnModel) -> bool:
        return column.kind in (ValueKind.DISCREET, ValueKind.TOGGLE)

    def preference(position: int) -> tuple[int, int, int, int]:
        column = columns[position]
        if position == 0:
            return (0, 0, 0, position)
        return (int(empty(column)), 1 if fixed(column) else 2, natural(column), position)

    room = width - 1  # the box's last rule
    chosen: list[int] = []  # in the order they were chosen
    for position in sorted(range(len(columns)), key=preference):
        cost = natural(columns[position])
        if cost <= room or not chosen:  # the key column always, even if it must be cut
            chosen.append(position)
            room -= cost
    # A long text left out (an error, a summary) says more than the short columns chosen last:
    # the widest takes their room, cut short, when that makes CUT_ROOM.
    texts = [p for p in range(len(columns)) if p not in chosen and not empty(columns[p]) and not fixed(columns[p])]
    if texts:
        kept = [p for p in chosen if p == chosen[0] or fixed(columns[p])]
        short = [p for p in chosen if p not in kept]
        while short and room < CUT_ROOM:
            room += natural(columns[short.pop()])
        if room >= CUT_ROOM:
            chosen = [*kept, *short, max(texts, key=lambda p: (widest(columns[p]), -p))]
    return [column for position, column in enumerate(columns) if position in chosen]


def column_widths(columns: Sequence[ColumnModel], cells: Sequence[Mapping[str, str]], width: int) -> list[int]:
    """The most each chosen column takes: what its cells need, up to WIDEST; the room that is
    left goes to the widest of those cut short (the long text `choose_columns` let in)."""
    need = [max([len(c.name), *(len(row.get(c.name, "")) for row in cells)]) for c in columns]
    widths = [min(n, WIDEST) for n in need]
    room = width - 1 - sum(w + BORDER for w in widths)
    cut = [i for i in range(len(columns)) if need[i] > widths[i]]
    if cut and room > 0:
        widest = max(cut, key=lambda i: need[i])
        widths[widest] = min(need[widest], widths[widest] + room)
    return widths


def _draw(
    answer: Mapping[str, Any],
    columns: Sequence[ColumnModel],
    cells: Sequence[Mapping[str, str]],
    *,
    where: Sequence[str],
    left_out: Sequence[str],
    offset: int,
    widths: Sequence[int] | None = None,
) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    total, in_table = answer["total"], answer.get("rows_in_table", answer["total"])
    shown = f"{offset + 1:,}-{offset + len(cells):,}" if offset and cells else f"{len(cells):,}"
    title = f"{answer['name']} [table {answer['id']}]: {shown} of {_rows(total)}"
    if where:
        title += f" where {' and '.join(where)} ({in_table:,} in the table)"
    # The title and the note on their own lines, not a table's title (wrapped to the table's width).
    lines: list[Any] = [Text(title, style="bold")]
    table = Table()
    for position, column in enumerate(columns):
        most = widths[position] if widths else None
        table.add_column(column.name, no_wrap=True, overflow="ellipsis", max_width=most)
    for row in cells:
        table.add_row(*(Text(row.get(c.name, "")) for c in columns))
    if columns:  # the key whole: a row is found again by it
        table.columns[0].min_width = min(max((len(r.get(columns[0].name, "")) for r in cells), default=0), WIDEST)
    lines.append(table)
    if left_out:
        lines.append(Text(f"not shown: {', '.join(left_out)} (--columns A,B or --all-columns)", style="dim"))
    return Group(*lines)


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count:,} rows"


def _column(answer: Mapping[str, Any]) -> ColumnModel:
    from connector.protocol.model import Column, ValueKind

    try:
        kind = ValueKind(answer.get("kind", "string"))
    except ValueError:  # a kind this client does not know: shown as text
        kind = ValueKind.STRING
    return Column(id=answer["id"], name=answer["name"], kind=kind, hidden=bool(answer.get("hidden")))


def _cell(column: ColumnModel, value: Any) -> str:
    from connector.engine.values import display

    return display(column, value)  # dates as ISO 8601, numbers without a trailing .0
