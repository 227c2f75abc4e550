"""`connector elements|params|get|set|press|send`: an element's state and parameters, from the API.

What the commands know of a protocol comes from the API's answers alone (the runtime and the
API know no connector):

- `elements` shows, beside name, protocol and state, the parameters the protocol marks
  `summary: true` (the API's `summary` object), one column each.
- `params` lists what an operator reads and changes first: settings (a read parameter with a
  write twin), then status (read parameters), then buttons. Write twins and the protocol's
  internal parameters (those on no page) only with `--all`.
- `set` of a password parameter takes the value from a prompt or stdin, never from argv.
- `press` sets a button to one of its own values; anything but a button is refused.
- `send` fails (exit 1) when tickets were rejected, unless `--allow-rejects`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connector.commandline import EXIT_INVALID, EXIT_OK, EXIT_REFUSED, EXIT_UNREADABLE, Subparsers, complete_files
from connector.service.client import (
    ApiClient,
    add_api_options,
    client_command,
    fail,
    one_line,
    print_json,
    rich_table,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["COMMANDS", "add_elements", "add_get", "add_params", "add_press", "add_send", "add_set"]

FROM_STDIN = "-"
CARD_LINES = 3  # lines a value may take on an element's card (`connector elements` in a narrow terminal)


# -- elements ----------------------------------------------------------------------------------


def add_elements(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "elements",
        aliases=["status"],
        help="show every element: state, tickets, last cycle",
        description="Show every element of a running `connector run`: name, protocol, state, and the "
        "parameters its protocol marks as its summary (tickets by status, last cycle, login state...).",
    )
    add_api_options(parser)
    parser.set_defaults(run=_run_elements, command="elements")


@client_command
def _run_elements(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    from rich.text import Text

    elements = client.elements()
    if args.output == "json":
        print_json(elements)
        return EXIT_OK
    names: list[str] = []  # every summary parameter of every element, in first-seen order
    for element in elements:
        names += [name for name in element.get("summary") or {} if name not in names]
    shared = any("owner" in e for e in elements)  # agents sharing elements: who runs each
    headers = ["Name", "Protocol", "State", *(["Owner"] if shared else []), *names]
    cells = [
        [
            str(cell)
            for cell in (
                e["name"],
                e["protocol"],
                e["state"],
                *([_owner(e)] if shared else []),
                *_summary_cells(e, names),
            )
        ]
        for e in elements
    ]
    rows = [[one_line(cell) for cell in row] for row in cells]
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = rich_table(headers, rows)
        table.columns[0].no_wrap = True
        console.print(table)
        return EXIT_OK
    # Too wide for one line an element (8 summary columns do not fit 80 columns): a card each,
    # a value on up to CARD_LINES lines (a timeout's reason whole, not cut after 60 characters).
    room = CARD_LINES * max(console.width - max(len(h) for h in headers) - 7, 20)
    for row in cells:
        values = [one_line(cell, room) for cell in row]
        card = rich_table(["", ""], [[header, cell] for header, cell in zip(headers[1:], values[1:], strict=True)])
        card.show_header = False
        card.title = Text(values[0], style="bold")
        card.columns[0].no_wrap = True
        console.print(card)
    return EXIT_OK


def _owner(element: Mapping[str, Any]) -> str:
    owner = element.get("owner")
    return str(owner.get("name", "")) if isinstance(owner, Mapping) else "(taking over)"


def _summary_cells(element: Mapping[str, Any], names: Sequence[str]) -> list[Any]:
    summary = element.get("summary") or {}
    return [summary.get(name, "") for name in names]


# -- params, get -------------------------------------------------------------------------------


def add_params(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "params",
        help="show an element's parameters",
        description="Show a running element's parameters: settings, then status, then buttons. "
        "Write parameters of read/write pairs and internal parameters (on no page) only with --all.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("--all", action="store_true", help="every parameter, internal ones too")
    add_api_options(parser)
    parser.set_defaults(run=_run_params)


def add_get(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "get", help="show one parameter", description="Show one parameter of a running element, by id or name."
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("param", metavar="PARAM", help="the parameter's id or name")
    add_api_options(parser)
    parser.set_defaults(run=_run_get)


@client_command
def _run_params(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    params = operator_order(client.params(args.element), everything=args.all)
    if args.output == "json":
        print_json(params)
        return EXIT_OK
    # A list shows each value on one line; `connector get` shows one value whole.
    hidden = "" if args.all else "write parameters and internal ones: --all"
    console.print(_params_table(params, title=args.element, caption=hidden or None, shorten=True))
    return EXIT_OK


@client_command
def _run_get(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    param = client.param(args.element, args.param)
    if args.output == "json":
        print_json(param)
    else:
        console.print(_params_table([param]))
    return EXIT_OK


def operator_order(params: Sequence[Mapping[str, Any]], *, everything: bool = False) -> list[Mapping[str, Any]]:
    """Settings, status, buttons; then (with `everything`) write twins and internal parameters.

    A setting is a read parameter with a write parameter of the same name; internal is on no
    page (the protocol shows it nowhere). The protocol's order within each part.
    """
    written = {p["name"].casefold() for p in params if p.get("type") == "write"}
    read = {p["name"].casefold() for p in params if p.get("type") == "read"}

    def part(param: Mapping[str, Any]) -> int:
        name = param["name"].casefold()
        if not param.get("page") or param.get("type") not in ("read", "write"):
            return 4  # internal: no page, or a dummy
        if param.get("type") == "write":
            return 3 if name in read else 2  # a write twin, or a button/command of its own
        return 0 if name in written else 1

    ordered = sorted(params, key=part)  # sorted() is stable: the protocol's order within a part
    return ordered if everything else [p for p in ordered if part(p) < 3]


def _params_table(
    params: Sequence[Mapping[str, Any]], *, title: str | None = None, caption: str | None = None, shorten: bool = False
) -> Table:
    return rich_table(
        ["ID", "Name", "Value"],
        ([p["id"], p["name"], p["display"]] for p in params),
        title=title,
        caption=caption,
        shorten=shorten,
    )


# -- set, press --------------------------------------------------------------------------------


def add_set(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "set",
        help="set a parameter",
        description="Set a parameter of a running element (the set command: a read/write pair's write "
        "parameter). Discreets by their text or value: `connector set 'BE 01' 'Max Retries' 5`. "
        "A password is never given on the command line: it is asked for (at a terminal) or read "
        "from stdin: `connector set 'BE 01' 'Cherwell Password' - < password.txt`.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("param", metavar="PARAM", help="the parameter's id or name")
    parser.add_argument(
        "value", metavar="VALUE", nargs="?", help="the new value, as text; - reads it from stdin (passwords: - or none)"
    )
    add_api_options(parser)
    parser.set_defaults(run=_run_set)


def add_press(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "press",
        help="press a button",
        description="Press a button parameter of a running element: `connector press 'BE 01' 'Retry Errors'`. "
        "A button with more than one value takes the one to press (its text or value); the first otherwise.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("button", metavar="BUTTON", help="the button's id or name")
    parser.add_argument("value", metavar="VALUE", nargs="?", help="which of the button's values (default: its first)")
    add_api_options(parser)
    parser.set_defaults(run=_run_press)


@client_command
def _run_set(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    param = client.param(args.element, args.param)
    if param.get("password"):
        if args.value not in (None, FROM_STDIN):
            fail(
                args,
                f"{param['name']!r} is a password: it is not taken from the command line, where every local "
                f"user can read it; give - to read it from stdin, or nothing to be asked for it",
            )
            return EXIT_UNREADABLE
        value = _read_secret(param["name"], prompt=args.value is None)
    elif args.value is None:
        fail(args, f"give the new value of {param['name']!r} (or - to read it from stdin)")
        return EXIT_UNREADABLE
    elif args.value == FROM_STDIN:
        value = sys.stdin.read().rstrip("\r\n")
    else:
        value = args.value
    if value is None:
        fail(args, "no value given: nothing changed")
        return EXIT_UNREADABLE
    # Sent as text: the element reads "5" as a number and "Enabled" as a discreet, as DataMiner does.
    answer = client.set(args.element, args.param, value)
    if args.output == "json":
        print_json(answer)
    else:
        console.print(_params_table([answer]))
    return EXIT_OK


def _read_secret(name: str, *, prompt: bool) -> str | None:
    """A password from the terminal (not echoed), else the first line of stdin; None if empty."""
    if prompt and sys.stdin.isatty():
        text = getpass.getpass(f"{name}: ")
    else:
        text = sys.stdin.readline()
    text = text.rstrip("\r\n")
    return text or None


@client_command
def _run_press(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    button = client.param(args.element, args.button)
    if button.get("kind") != "button":
        fail(args, f"{button['name']!r} is not a button (it is a {button.get('kind')} parameter): use `connector set`")
        return EXIT_INVALID
    values = button.get("discreets") or []
    if args.value is None:
        chosen = values[0] if values else None
    else:
        wanted = args.value.casefold()
        chosen = next((d for d in values if wanted in (d["display"].casefold(), str(d["value"]))), None)
    if chosen is None:
        offered = ", ".join(repr(d["display"]) for d in values) or "none"
        fail(args, f"{button['name']!r} has no value {args.value!r} (its values: {offered})")
        return EXIT_INVALID
    answer = client.set(args.element, button["id"], chosen["value"])
    if args.output == "json":
        print_json(answer)
    else:
        console.print(f"pressed {button['name']!r} ({chosen['display']}) on {args.element!r}", markup=False)
    return EXIT_OK


# -- send --------------------------------------------------------------------------------------


def add_send(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send an InterApp message",
        description="Send a raw InterApp message to a running element (a set on 9000000) and show "
        "what it accepted, found duplicate and rejected. Exits 1 when anything was rejected.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    complete_files(parser.add_argument("file", metavar="FILE", help="the message file, or - for stdin"))
    parser.add_argument(
        "--allow-rejects",
        action="store_true",
        help="exit 0 although tickets were rejected (a message refused whole still fails)",
    )
    add_api_options(parser)
    parser.set_defaults(run=_run_send)


_TALLIES = ("accepted", "duplicates", "rejected")


@client_command
def _run_send(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == FROM_STDIN else _read(args.file)
    except OSError as exc:
        fail(args, f"cannot read {args.file}: {exc.strerror or exc}")
        return EXIT_UNREADABLE
    replies = client.send(args.element, raw).get("replies", [])
    # The API passes the element's replies on as they are: read Ticketing's words here.
    accepted, duplicates, rejected = ([i for r in replies for i in r.get(word) or ()] for word in _TALLIES)
    errors = [str(r.get("reason") or "refused, no reason given") for r in replies if r.get("type") == "ErrorResponse"]
    refused_whole = bool(errors) and not any(word in r for r in replies for word in _TALLIES)
    failed = refused_whole or (bool(rejected or errors) and not args.allow_rejects)
    if args.output == "json":
        print_json(
            {
                "accepted": accepted,
                "duplicates": duplicates,
                "rejected": rejected,
                "errors": errors,
                "replies": replies,
            }
        )
        return EXIT_REFUSED if failed else EXIT_OK
    if refused_whole:
        fail(args, "; ".join(errors))  # nothing stored
        return EXIT_REFUSED
    console.print(f"accepted {len(accepted)}, duplicates {len(duplicates)}, rejected {len(rejected)}")
    if duplicates:
        console.print(rich_table(["Duplicate"], ([ticket] for ticket in duplicates)))
    if rejected:
        console.print(rich_table(["Rejected", "Reason"], ([r.get("ticketId"), r.get("reason")] for r in rejected)))
    # Part of a call refused whole (the rest stored): the sender has to act.
    for reason in errors:
        fail(args, f"refused: {reason}")
    if rejected and not args.allow_rejects:
        fail(args, f"{len(rejected)} rejected (--allow-rejects to accept that)")
    return EXIT_REFUSED if failed else EXIT_OK


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


# In the order `connector --help` lists them (the table command is in client_table).
COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    add_elements,
    add_params,
    add_get,
    add_set,
    add_press,
    add_send,
)
