"""The management API: read and set an element's parameters, read its tables, send it InterApp.

A thin JSON layer over the runtime (`connector.service.runtime`); every call is in the table of
docs/architecture.md and issue 4. It reads parameters and tables straight from the element (the
API runs on the runtime's event loop, so a read never sees half a step) and changes them only
through the element host, which queues the change behind the element's running step and answers
once it is committed.

Rules every answer keeps:

- JSON everywhere, errors as `{"error": reason}` with a reason a person can act on; never a
  traceback (an unexpected failure is logged and answered with a generic 500).
- Bad input gets a 4xx and changes nothing: 400 unreadable body, 404 unknown element, parameter
  or table, 413 body over the limit, 422 a value the parameter refuses.
- A password parameter's value never leaves the process: value and display are `********`.
- With a token, every call but `/api/health` needs `Authorization: Bearer <token>`, `/metrics` too.

The API knows no connector. An InterApp POST answers 202, once the step is committed, with
every InterApp reply the step produced, decoded generically: `{"replies": [{"type": <short
type name>, <the message's members>...}, ...]}`. What the replies mean is the caller's to read.
"""

from __future__ import annotations

import hmac
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar
from typing import Protocol as TypingProtocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.engine.element import ElementView
from connector.engine.events import SendInterApp
from connector.engine.interapp import DEFAULT_MAX_BYTES, InterAppError, parse_call, written_type_names
from connector.engine.table import Table
from connector.engine.values import NotSettable, ValueRefused, display
from connector.protocol.model import Param, ParamType
from connector.service.api_cells import ROUTE as CELL_ROUTE
from connector.service.api_cells import cell_endpoint
from connector.service.api_json import ApiError, JsonAnswer, error, interapp_text, json_value, read_body
from connector.service.card import mount_card
from connector.service.cluster.views import Elsewhere, answer_elsewhere, not_here, with_cluster
from connector.service.metrics import metrics_endpoint, ready, registry_for
from connector.service.runtime import HostState
from connector.service.table_query import QueryRefused, RowQuery, parse_query

__all__ = ["DEFAULT_MAX_BODY", "create_app"]

log = logging.getLogger("connector.api")

DEFAULT_MAX_BODY = 4 * 1024 * 1024
_PUBLIC_PATHS = frozenset({"/api/health"})

T = TypeVar("T")


# -- what the API needs of the runtime (connector.service.runtime has the real ones) -----------


class Host(TypingProtocol):
    """One hosted element (connector.service.runtime.ElementHost)."""

    name: str
    state: HostState
    failure: str | None  # why it is FAILED
    reason: str  # why it is in timeout (HostState.TIMEOUT)

    @property
    def view(self) -> ElementView: ...

    async def set(self, ref: int | str, value: Any) -> None: ...

    async def interapp(self, raw: str) -> list[SendInterApp]: ...


class Hosting(TypingProtocol):
    """The runtime, as far as the API is concerned: its element hosts by name."""

    @property
    def elements(self) -> Mapping[str, Host]: ...


# -- errors ------------------------------------------------------------------------------------


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error(exc.status, exc.reason)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's own: unknown route (404), wrong method (405).
    assert isinstance(exc, HTTPException)
    reason = exc.detail
    if exc.status_code == 404:
        reason = f"no such call: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        reason = f"{request.method} is not allowed on {request.url.path}"
    return error(exc.status_code, reason, exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error(500, "internal error; the connector's log has the details")


# -- the token ---------------------------------------------------------------------------------


class _RequireToken:
    """ASGI middleware: `/api/...` calls but the public ones, and `/metrics`, need
    `Authorization: Bearer <token>`.

    Outside the routes, so that an unknown route is not revealed to a caller without the token.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        answer = error(
            401, "this call needs the API token: send `Authorization: Bearer <token>`", {"WWW-Authenticate": "Bearer"}
        )
        await answer(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        path: str = scope["path"]
        protected = path in ("/api", "/metrics") or path.startswith(("/api/", "/metrics/"))
        if path in _PUBLIC_PATHS or not protected:
            return True
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(given) != 1:  # none, or several: a proxy and the app could each read another one
            return False
        scheme, _, credentials = given[0].partition(b" ")
        # Constant time, so that the answer's timing says nothing of the token.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._expected)


# -- look-ups ----------------------------------------------------------------------------------


def _host(request: Request) -> Host:
    runtime: Hosting = request.app.state.runtime
    name = request.path_params["element"]
    host = runtime.elements.get(name)
    if host is None:
        raise not_here(runtime, name)  # 404, or another agent's element (connector.service.cluster)
    if host.state is HostState.FAILED:  # what it holds was not all committed: show none of it
        if isinstance(shared := not_here(runtime, name), Elsewhere):
            raise shared  # an agent's element whose lease is gone: another agent takes it over
        raise ApiError(503, f"element {name!r} failed ({host.failure}); restart it to see what its store holds")
    return host


def _param(host: Host, ref: str) -> Param:
    try:
        # By id, else by name (case-insensitive; the read parameter of a read/write pair).
        param = host.view.protocol.param(ref)
    except (KeyError, ValueError):  # ValueError: digits int() does not read, such as "²"
        raise ApiError(404, f"element {host.name!r} has no parameter {ref!r}") from None
    if param.type is ParamType.ARRAY:
        raise ApiError(404, f"{param.name!r} is a table: read it at /tables/{param.id}")
    return param


def _table(host: Host, ref: str) -> Table:
    try:
        model = host.view.protocol.table(ref)
    except (KeyError, ValueError):
        raise ApiError(404, f"element {host.name!r} has no table {ref!r}") from None
    return host.view.tables[model.id]


async def _command(host: Host, change: Callable[[Host], Awaitable[T]], *, subject: str = "") -> T:
    """Carry out a change through the host, its refusals turned into answers.

    The host refuses before anything changes: KeyError (no such parameter) or ValueRefused.
    """
    if not host.state.accepting:
        raise ApiError(503, f"element {host.name!r} is {host.state}; it takes no changes now")
    try:
        return await change(host)
    except KeyError as refused:
        raise ApiError(404, _reason(refused)) from None
    except NotSettable as refused:  # only the element sets it: forbidden, whatever the value
        raise ApiError(403, str(refused)) from None
    except ValueRefused as refused:
        raise ApiError(422, f"{subject}{refused}") from None
    except Exception:
        if host.state.accepting:
            raise  # our bug: logged, answered with a 500
        # The element stopped on this step (its store refused the commit): say so, not "500".
        log.exception("[%s] a change through the API failed; the element is %s", host.name, host.state)
        raise ApiError(
            503, f"element {host.name!r} is {host.state}: the change was not saved; see the connector's log"
        ) from None


# -- shapes ------------------------------------------------------------------------------------


def _param_json(param: Param, value: Any) -> dict[str, Any]:
    shown = display(param, value)  # `display` masks a password
    return {
        "id": param.id,
        "name": param.name,
        "type": param.type.value,
        "value": shown if param.password else value,
        "display": shown,
        "kind": param.kind.value,  # for the command line: a password is never on argv, a button is pressed
        "password": param.password,
        "discreets": [{"display": d.display, "value": d.value} for d in param.discreets],
        "page": param.page,  # "" for the protocol's internal parameters
    }


def _table_json(table: Table, offset: int, limit: int | None, query: RowQuery) -> dict[str, Any]:
    keys = query.keys(table)
    chosen = itertools.islice(keys, offset, None if limit is None else offset + limit)
    return {
        "id": table.id,
        "name": table.name,
        # `kind` beyond the id/name/hidden: a client needs it to show a datetime cell
        # (seconds since the epoch) as a date.
        "columns": [{"id": c.id, "name": c.name, "hidden": c.hidden, "kind": c.kind.value} for c in table.columns],
        "rows": [table.row(key) for key in chosen],
        "total": len(keys),  # the rows that match `where`: all of them without one
        "rows_in_table": len(table),
    }


# -- InterApp replies --------------------------------------------------------------------------


def _reply_json(replies: Iterable[SendInterApp]) -> dict[str, Any]:
    """Every message of every reply as `{"type": <short type name>, <its members>...}`."""
    messages = [
        {"type": message_type, **members} for reply in replies for message_type, members in _read_reply(reply.raw)
    ]
    return {"replies": messages}


def _read_reply(raw: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """The (type, members) of each message of one reply; nothing for an unreadable reply.

    parse_call accepts known message types only, and the API knows no connector's types; a
    reply comes from our own element, so its message types are taken from the reply itself.
    """
    try:
        # Our own element's reply: no limit but its own size (4 bytes a character at most).
        call = parse_call(raw, written_type_names(raw), max_bytes=max(DEFAULT_MAX_BYTES, 4 * len(raw)))
    except InterAppError as refused:
        log.warning("an InterApp reply could not be read (%s); it is left out of the answer", refused.reason)
        return []
    return [(message.type, message.members) for message in call.messages]


# -- endpoints ---------------------------------------------------------------------------------


async def health(request: Request) -> JSONResponse:
    hosts: Iterable[Host] = request.app.state.runtime.elements.values()
    failed = [{"element": h.name, "reason": h.failure} for h in hosts if h.state is HostState.FAILED]
    return (
        JsonAnswer({"status": "failed", "failed": failed}, status_code=503) if failed else JsonAnswer({"status": "ok"})
    )


async def list_elements(request: Request) -> JSONResponse:
    runtime: Hosting = request.app.state.runtime
    return JsonAnswer(
        with_cluster(
            runtime,
            [
                {
                    "name": host.name,
                    "protocol": host.view.protocol.name,
                    "version": host.view.protocol.version,
                    "state": host.state,
                    **({"reason": host.reason} if host.state is HostState.TIMEOUT else {}),
                    "summary": {  # the parameters the protocol marks `summary: true`, as displayed
                        param.name: display(param, host.view.values.get(param.id))
                        for param in host.view.protocol.params.values()
                        if param.summary
                    },
                }
                for host in runtime.elements.values()
            ],
        )
    )


async def list_params(request: Request) -> JSONResponse:
    view = _host(request).view
    return JsonAnswer(
        [
            _param_json(param, view.values.get(param.id))
            for param in view.protocol.params.values()
            if param.type is not ParamType.ARRAY
        ]
    )


async def get_param(request: Request) -> JSONResponse:
    host = _host(request)
    param = _param(host, request.path_params["ref"])
    return JsonAnswer(_param_json(param, host.view.values.get(param.id)))


async def set_param(request: Request) -> JSONResponse:
    host = _host(request)
    param = _param(host, request.path_params["ref"])
    value = json_value(await read_body(request, request.app.state.max_body))
    await _command(host, lambda host: host.set(param.id, value), subject=f"{param.name}: ")
    return JsonAnswer(_param_json(param, host.view.values.get(param.id)))


async def get_table(request: Request) -> JSONResponse:
    host = _host(request)
    table = _table(host, request.path_params["ref"])
    offset = _query_count(request, "offset") or 0
    try:
        query = parse_query(table, request.query_params.getlist("where"), request.query_params.get("sort"))
    except QueryRefused as refused:
        raise ApiError(400, str(refused)) from None
    return JsonAnswer(_table_json(table, offset, _query_count(request, "limit"), query))


async def post_interapp(request: Request) -> JSONResponse:
    host = _host(request)
    text = interapp_text(await read_body(request, request.app.state.max_body))
    replies = await _command(host, lambda host: host.interapp(text))
    return JsonAnswer(_reply_json(replies), status_code=202)


def _query_count(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    # At most 18 digits: int() of thousands of digits is slow, and no table has that many rows.
    if not (text.isdecimal() and text.isascii() and len(text) <= 18):
        raise ApiError(400, f"{name} must be a whole number of rows (0 or more), got {text[:40]!r}")
    return int(text)


def _reason(exc: KeyError) -> str:
    # str(KeyError("x")) is "'x'": the reason is the argument itself.
    return str(exc.args[0]) if exc.args else "unknown"


# -- the app -----------------------------------------------------------------------------------


def create_app(runtime: Hosting, *, token: str | None = None, max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    """The management API over `runtime`.

    `token`: the bearer token every call but `/api/health` needs (None or "": no token);
    `max_body`: the largest request body in bytes (InterApp messages, sets).
    """
    routes = [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/api/elements", list_elements, methods=["GET"]),
        Route("/api/elements/{element}/params", list_params, methods=["GET"]),
        # `:path` so that a parameter or table name may hold a slash (encoded as %2F).
        Route("/api/elements/{element}/params/{ref:path}", get_param, methods=["GET"]),
        Route("/api/elements/{element}/params/{ref:path}", set_param, methods=["PUT"]),
        Route("/api/elements/{element}/tables/{ref:path}", get_table, methods=["GET"]),
        Route(CELL_ROUTE, cell_endpoint(_host, _table, _command), methods=["PUT"]),
        Route("/api/elements/{element}/interapp", post_interapp, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        # An empty token is no token (an empty CONNECTOR_API_TOKEN), as `connector run` reads it.
        middleware=[Middleware(_RequireToken, token=token)] if token else [],
        exception_handlers={
            ApiError: _on_api_error,
            Elsewhere: answer_elsewhere,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
    )
    app.state.runtime = runtime
    app.state.max_body = max_body
    app.state.metrics = registry_for(runtime)
    # The element card (`/`, `/elements/{name}`): its sets go through set_param, the API's own rules.
    mount_card(app, set_param=set_param, token=token)
    return app
