"""The management API from the command line: the client and what its commands share.

The commands themselves are in `connector.service.client_commands` (elements, params, get, set,
press, send) and `connector.service.client_table` (table). Each calls the API of a running
`connector run` and prints what a person can read: rich tables on stdout, one line of reason on
stderr when something fails; `-o json` prints the answer as JSON instead, with stable keys, for
scripts and jq.

Exit codes: 0 done; 1 the API refused (a refused set, an unknown element or parameter, a bad
token, an unreadable InterApp message, rejected tickets) or answered an HTTP error; 2 the API
cannot be reached, the file to send cannot be read, or the command line is wrong (argparse's own 2).

The token: `--token-file FILE`, else $CONNECTOR_API_TOKEN; `--token` works too but warns, since
every local user can read a process's arguments.

httpx and rich are imported when a command runs, not when `connector` starts, so that
`connector --help` and the other subcommands stay fast. httpx comes from
`connector.engine.http`, the one module of the package that imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connector.commandline import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_UNREADABLE,
    SecretFileError,
    argv_secret_warning,
    complete_files,
    read_secret_file,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


__all__ = [
    "API_ENV",
    "ApiClient",
    "ApiRefused",
    "ApiUnreachable",
    "DEFAULT_API",
    "TOKEN_ENV",
    "add_api_options",
    "client_command",
    "fail",
    "normalize_url",
    "one_line",
    "print_json",
    "rich_table",
]

DEFAULT_API = "http://127.0.0.1:8970"
API_ENV = "CONNECTOR_API"
TOKEN_ENV = "CONNECTOR_API_TOKEN"
TIMEOUT = 30.0  # seconds; a set or an InterApp batch returns once committed, well within this
CONNECT_TIMEOUT = 5.0
SHORTENED = 60  # characters of a value a listing shows
PIPED_WIDTH = 240  # the width of output that goes to a pipe or a file


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
        self,
        element: str,
        ref: str | int,
        *,
        limit: int | None = None,
        offset: int | None = None,
        where: Sequence[str] = (),
        sort: str | None = None,
    ) -> dict[str, Any]:
        query: list[tuple[str, str]] = [
            (name, str(n)) for name, n in (("limit", limit), ("offset", offset)) if n is not None
        ]
        query += [("where", condition) for condition in where]
        if sort:
            query.append(("sort", sort))
        return self._object("GET", f"{_element_path(element)}/tables/{_segment(ref)}", params=query)

    def set_cell(self, element: str, table: str | int, key: str, column: str | int, value: Any) -> dict[str, Any]:
        path = f"{_element_path(element)}/tables/{_segment(table)}/rows/{_segment(key)}/{_segment(column)}"
        return self._object("PUT", path, json={"value": value})

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


# -- what every command shares -----------------------------------------------------------------


def add_api_options(parser: argparse.ArgumentParser, *, output: bool = True) -> None:
    """--api, the token options and (for commands that print an answer) -o/--output."""
    parser.add_argument("--api", metavar="URL", help=f"the management API (default: ${API_ENV}, else {DEFAULT_API})")
    # The token's value is never a default shown by --help: it is read from the environment late.
    complete_files(
        parser.add_argument(
            "--token-file", metavar="FILE", help=f"a file holding the API token (default: ${TOKEN_ENV})"
        )
    )
    parser.add_argument(
        "--token", help="the API token; every local user can read it in the process list: prefer --token-file"
    )
    if output:
        parser.add_argument(
            "-o",
            "--output",
            choices=("table", "json"),
            default="table",
            help="table for people (default), json for scripts",
        )


class _Unusable(Exception):
    """An option the command cannot use (a token file that cannot be read): exit 2."""


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        print(argv_secret_warning(args.command, "--token", f"--token-file or ${TOKEN_ENV}"), file=sys.stderr)
        return str(args.token)
    if args.token_file:
        try:
            return read_secret_file(args.token_file)
        except SecretFileError as exc:
            raise _Unusable(f"--token-file: {exc}") from None
    return os.environ.get(TOKEN_ENV) or None


def _client(args: argparse.Namespace) -> ApiClient:
    url = args.api or os.environ.get(API_ENV) or DEFAULT_API
    return ApiClient(url, token=_token(args))


def client_command(
    run: Callable[[argparse.Namespace, ApiClient, Console], int],
) -> Callable[[argparse.Namespace], int]:
    """What every command shares: the client, the console, and the API's failures as exit codes."""

    def wrapped(args: argparse.Namespace) -> int:
        from rich.console import Console

        try:
            with _client(args) as client:
                # Piped or redirected output has no width to fit: Rich would squeeze a table
                # into 80 columns; a wide table stays readable (and greppable) instead.
                console = Console(highlight=False)
                if not console.is_terminal:
                    console = Console(highlight=False, width=PIPED_WIDTH)
                return run(args, client, console)
        except ApiRefused as refused:
            fail(args, refused.reason if refused.status != 422 else f"refused: {refused.reason}", refused.status)
            return EXIT_REFUSED
        except ApiUnreachable as unreachable:
            fail(args, str(unreachable))
            return EXIT_UNREACHABLE
        except _Unusable as unusable:
            fail(args, str(unusable))
            return EXIT_UNREADABLE

    return wrapped


def fail(args: argparse.Namespace, reason: str, status: int | None = None) -> None:
    suffix = f" (HTTP {status})" if status is not None else ""
    print(f"connector {args.command}: {reason}{suffix}", file=sys.stderr)


def print_json(value: Any) -> None:
    """One JSON document on stdout, keys in the API's order (stable), for scripts and jq."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


# -- output ------------------------------------------------------------------------------------


def rich_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    caption: str | None = None,
    shorten: bool = False,
) -> Table:
    from rich.table import Table
    from rich.text import Text

    # Text, not str, here too: a title is an element's name, which may hold "[...]".
    table = Table(
        *headers,
        title=None if title is None else Text(title),
        caption=None if caption is None else Text(caption),
    )
    for row in rows:
        cells = ("" if cell is None else str(cell) for cell in row)
        # Text, not str: a value such as "[bold]" is data, not rich markup.
        table.add_row(*(Text(one_line(cell) if shorten else cell) for cell in cells))
    return table


def one_line(text: str, most: int = SHORTENED) -> str:
    """The start of a value, on one line, at most `most` characters: an InterApp message or a
    description can run to megabytes, which a listing should not print whole."""
    first, _, rest = text.partition("\n")
    if len(first) > most or rest:
        return first[:most] + "\u2026"
    return first
