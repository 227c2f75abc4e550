"""The management API from the command line: `connector params|get|set|table|send`.

Each subcommand calls the API of a running `connector run` (issue 4's table) and prints what a
person can read: rich tables on stdout, one line of reason on stderr when something fails.

Exit codes: 0 done; 1 the API refused (a refused set, an unknown element or parameter, a bad
token, an unreadable InterApp message) or answered an HTTP error; 2 the API cannot be reached,
the file to send cannot be read, or the command line is wrong (argparse's own 2).

httpx and rich are imported when a command runs, not when `connector` starts, so that
`connector --help` and the other subcommands stay fast. httpx comes from
`connector.engine.http`, the one module of the package that imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connector.commandline import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_UNREADABLE, Subparsers

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from connector.protocol.model import Column as ColumnModel


__all__ = [
    "ApiClient",
    "ApiRefused",
    "ApiUnreachable",
    "COMMANDS",
    "DEFAULT_API",
    "add_client_commands",
    "add_get",
    "add_params",
    "add_send",
    "add_set",
    "add_table",
]

DEFAULT_API = "http://127.0.0.1:8970"
API_ENV = "CONNECTOR_API"
TOKEN_ENV = "CONNECTOR_API_TOKEN"
TIMEOUT = 30.0  # seconds; a set or an InterApp batch returns once committed, well within this
CONNECT_TIMEOUT = 5.0
SHORTENED = 60  # characters of a value a listing shows
KEY_WIDTH = 40  # the most a table's first column takes whole


# -- the client --------------------------------------------------------------------------------


class ApiRefused(Exception):
    """The API answered with an error status; `reason` is its own `{"error": ...}`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{reason} (HTTP {status})")
        self.status = status
        self.reason = reason


class ApiUnreachable(Exception):
    """No answer from the API: nothing listens there, or the connection failed."""


class ApiClient:
    """The management API's calls, one method each; answers are the API's JSON."""

    def __init__(self, url: str = DEFAULT_API, *, token: str | None = None, timeout: float = TIMEOUT) -> None:
        from connector.engine.http import httpx  # here, not at the top: see the module's doc

        self.url = normalize_url(url)
        self._httpx = httpx
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # trust_env=False: the API is reached directly; a proxy from the environment would
        # otherwise catch calls to 127.0.0.1.
        try:
            self._client = httpx.Client(
                base_url=self.url,
                headers=headers,
                trust_env=False,
                timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            )
        except httpx.InvalidURL as exc:
            raise ApiUnreachable(f"{url!r} is not the URL of a management API: {_words(exc)}") from None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def elements(self) -> list[dict[str, Any]]:
        return self._list("GET", "/api/elements")

    def params(self, element: str) -> list[dict[str, Any]]:
        return self._list("GET", f"{_element_path(element)}/params")

    def param(self, element: str, ref: str | int) -> dict[str, Any]:
        return self._object("GET", f"{_element_path(element)}/params/{_segment(ref)}")

    def set(self, element: str, ref: str | int, value: Any) -> dict[str, Any]:
        return self._object("PUT", f"{_element_path(element)}/params/{_segment(ref)}", json={"value": value})

    def table(
        self, element: str, ref: str | int, *, limit: int | None = None, offset: int | None = None
    ) -> dict[str, Any]:
        query = {name: str(n) for name, n in (("limit", limit), ("offset", offset)) if n is not None}
        return self._object("GET", f"{_element_path(element)}/tables/{_segment(ref)}", params=query)

    def send(self, element: str, raw: bytes) -> dict[str, Any]:
        return self._object("POST", f"{_element_path(element)}/interapp", content=raw)

    # The API's documented shapes: a listing is a JSON list of objects, anything else one object.
    def _list(self, method: str, path: str, **options: Any) -> list[dict[str, Any]]:
        listing: list[dict[str, Any]] = self._call(method, path, **options)
        return listing

    def _object(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(method, path, **options)
        return answer

    def _call(self, method: str, path: str, **options: Any) -> Any:
        httpx = self._httpx
        try:
            response = self._client.request(method, path, **options)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiUnreachable(
                f"cannot reach the management API at {self.url}: {_words(exc)}; is `connector run` running?"
            ) from None
        except httpx.UnsupportedProtocol:
            raise ApiUnreachable(f"{self.url!r} is not the URL of a management API: use http:// or https://") from None
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"the management API at {self.url} did not answer: {_words(exc)}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.is_error:
            raise ApiRefused(response.status_code, _error_reason(response.status_code, response.reason_phrase, answer))
        if answer is None:
            raise ApiRefused(
                response.status_code, f"the answer from {self.url} is not JSON: is that the management API?"
            )
        return answer


def normalize_url(url: str) -> str:
    """`HOST:PORT` (as `connector run --api` takes it) or a full URL, without a trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def _element_path(element: str) -> str:
    return f"/api/elements/{_segment(element)}"


def _segment(ref: str | int) -> str:
    # Everything encoded, "/" too: `Ticketing BE 01` -> `Ticketing%20BE%2001`.
    return quote(str(ref), safe="")


def _error_reason(status: int, phrase: str, answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, Mapping) else None
    if isinstance(error, str):
        return error
    return f"{status} {phrase}".strip()


def _words(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- the commands ------------------------------------------------------------------------------


def add_params(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "params",
        help="show an element's parameters",
        description="Show every parameter of a running element: id, name, value.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    _add_api_options(parser)
    parser.set_defaults(run=_run_params)


def add_get(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "get", help="show one parameter", description="Show one parameter of a running element, by id or name."
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("param", metavar="PARAM", help="the parameter's id or name")
    _add_api_options(parser)
    parser.set_defaults(run=_run_get)


def add_set(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "set",
        help="set a parameter",
        description="Set a parameter of a running element (the set command: a read/write pair's write "
        "parameter). Discreets by their text or value: `connector set 'BE 01' 'Max Retries' 5`.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("param", metavar="PARAM", help="the parameter's id or name")
    parser.add_argument("value", metavar="VALUE", help="the new value, as text")
    _add_api_options(parser)
    parser.set_defaults(run=_run_set)


def add_table(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "table", help="show a table's rows", description="Show the rows of a table of a running element."
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("table", metavar="TABLE", help="the table's id or name")
    parser.add_argument("--limit", type=_row_count, metavar="N", help="show at most N rows")
    parser.add_argument("--all", action="store_true", help="show hidden columns too")
    _add_api_options(parser)
    parser.set_defaults(run=_run_table)


def add_send(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send an InterApp message",
        description="Send a raw InterApp message to a running element (a set on 9000000) and show "
        "what it accepted, found duplicate and rejected.",
    )
    parser.add_argument("element", metavar="ELEMENT", help="the element's name")
    parser.add_argument("file", metavar="FILE", help="the message file, or - for stdin")
    _add_api_options(parser)
    parser.set_defaults(run=_run_send)


# In the order `connector --help` lists them.
COMMANDS: tuple[Callable[[Subparsers], None], ...] = (add_params, add_get, add_set, add_table, add_send)


def add_client_commands(subparsers: Subparsers) -> None:
    """Register every command of this module."""
    for add in COMMANDS:
        add(subparsers)


def _add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", metavar="URL", help=f"the management API (default: ${API_ENV}, else {DEFAULT_API})")
    # The token's value is never a default shown by --help: it is read from the environment late.
    parser.add_argument("--token", help=f"the API token (default: ${TOKEN_ENV})")


def _row_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of rows, got {text!r}")
    return count


def _client(args: argparse.Namespace) -> ApiClient:
    url = args.api or os.environ.get(API_ENV) or DEFAULT_API
    return ApiClient(url, token=args.token or os.environ.get(TOKEN_ENV) or None)


def _command(run: Callable[[argparse.Namespace, ApiClient, Console], int]) -> Callable[[argparse.Namespace], int]:
    """What every command shares: the client, the console, and the API's failures as exit codes."""

    def wrapped(args: argparse.Namespace) -> int:
        from rich.console import Console

        try:
            with _client(args) as client:
                # Piped or redirected output has no width to fit: Rich would squeeze a table
                # into 80 columns; a wide table stays readable (and greppable) instead.
                console = Console(highlight=False)
                if not console.is_terminal:
                    console = Console(highlight=False, width=240)
                return run(args, client, console)
        except ApiRefused as refused:
            _fail(args, refused.reason if refused.status != 422 else f"refused: {refused.reason}", refused.status)
            return EXIT_REFUSED
        except ApiUnreachable as unreachable:
            _fail(args, str(unreachable))
            return EXIT_UNREACHABLE

    return wrapped


def _fail(args: argparse.Namespace, reason: str, status: int | None = None) -> None:
    suffix = f" (HTTP {status})" if status is not None else ""
    print(f"connector {args.command}: {reason}{suffix}", file=sys.stderr)


@_command
def _run_params(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    # A list shows each value on one line; `connector get` shows one value whole.
    console.print(_params_table(client.params(args.element), title=args.element, shorten=True))
    return EXIT_OK


@_command
def _run_get(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    console.print(_params_table([client.param(args.element, args.param)]))
    return EXIT_OK


@_command
def _run_set(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    # Sent as text: the element reads "5" as a number and "Enabled" as a discreet, as DataMiner does.
    console.print(_params_table([client.set(args.element, args.param, args.value)]))
    return EXIT_OK


@_command
def _run_table(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    answer = client.table(args.element, args.table, limit=args.limit)
    columns = [_column(c) for c in answer["columns"] if args.all or not c.get("hidden")]
    rows = answer["rows"]
    shown, total = len(rows), answer.get("total", len(rows))
    caption = f"{shown} of {total} rows" if shown < total else _rows(total)
    table = _table(
        [c.name for c in columns],
        ([_cell(c, row.get(c.name)) for c in columns] for row in rows),
        title=f"{answer['name']} ({answer['id']})",
        caption=caption,
        shorten=True,
    )
    if columns:  # the first column (the key, as protocols declare it) whole: a row is found again by it
        widest = max((len(str(row.get(columns[0].name) or "")) for row in rows), default=0)
        table.columns[0].no_wrap = True
        table.columns[0].min_width = min(widest, KEY_WIDTH)
    console.print(table)
    return EXIT_OK


@_command
def _run_send(args: argparse.Namespace, client: ApiClient, console: Console) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else _read(args.file)
    except OSError as exc:
        _fail(args, f"cannot read {args.file}: {exc.strerror or exc}")
        return EXIT_UNREADABLE
    replies = client.send(args.element, raw).get("replies", [])
    # The API passes the element's replies on as they are: read Ticketing's words here.
    accepted, duplicates, rejected = ([i for r in replies for i in r.get(word) or ()] for word in _TALLIES)
    errors = [str(r.get("reason") or "refused, no reason given") for r in replies if r.get("type") == "ErrorResponse"]
    if errors and not any(word in r for r in replies for word in _TALLIES):
        _fail(args, "; ".join(errors))  # refused whole: nothing stored
        return EXIT_REFUSED
    console.print(f"accepted {len(accepted)}, duplicates {len(duplicates)}, rejected {len(rejected)}")
    if duplicates:
        console.print(_table(["Duplicate"], ([ticket] for ticket in duplicates)))
    if rejected:
        console.print(_table(["Rejected", "Reason"], ([r.get("ticketId"), r.get("reason")] for r in rejected)))
    # Part of a call refused whole (the rest stored): the sender has to act, so it is a failure.
    for reason in errors:
        _fail(args, f"refused: {reason}")
    return EXIT_REFUSED if errors else EXIT_OK


_TALLIES = ("accepted", "duplicates", "rejected")


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count} rows"


# -- output ------------------------------------------------------------------------------------


def _params_table(params: Sequence[Mapping[str, Any]], *, title: str | None = None, shorten: bool = False) -> Table:
    return _table(
        ["ID", "Name", "Value"], ([p["id"], p["name"], p["display"]] for p in params), title=title, shorten=shorten
    )


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    caption: str | None = None,
    shorten: bool = False,
) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers, title=title, caption=caption)
    for row in rows:
        cells = ("" if cell is None else str(cell) for cell in row)
        # Text, not str: a value such as "[bold]" is data, not rich markup.
        table.add_row(*(Text(_one_line(cell) if shorten else cell) for cell in cells))
    return table


def _one_line(text: str) -> str:
    """The start of a value, on one line: an InterApp message or a description can run to
    megabytes, which a listing should not print whole."""
    first, _, rest = text.partition("\n")
    if len(first) > SHORTENED or rest:
        return first[:SHORTENED] + "\u2026"
    return first


def _column(answer: Mapping[str, Any]) -> ColumnModel:
    from connector.protocol.model import Column, ValueKind

    try:
        kind = ValueKind(answer.get("kind", "string"))
    except ValueError:  # a kind this client does not know: shown as text
        kind = ValueKind.STRING
    return Column(id=answer["id"], name=answer["name"], kind=kind)


def _cell(column: ColumnModel, value: Any) -> str:
    from connector.engine.values import display

    return display(column, value)  # dates as ISO 8601, numbers without a trailing .0
