"""The card's pages and calls: the element list, an element's card, their live updates, the
sets made from the card, and the token login.

Sets go through the management API's own endpoint (`set_param` of connector.service.api,
handed in by `create_app`): the same look-ups, body checks, refusals and answers, byte for
byte. The card only adds the same-origin check in front.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from connector.service.api_json import error, read_body
from connector.service.card import view as v
from connector.service.card.gate import local_path, same_origin, session_cookie
from connector.service.card.live import POLL_MS, LiveCache, host_version
from connector.service.card.rows import rows_html

__all__ = ["card_routes"]

Endpoint = Callable[[Request], Awaitable[Response]]

_LOGIN_BODY_LIMIT = 16 * 1024
# No inline script or style, nothing from elsewhere, never in a frame (a button under a
# clickjacking overlay), no referrer leaving for another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a form sends `Origin: null`, and the login would
    # fail the same-origin check. Nothing goes to another site either way.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("connector.service.card", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(
        request, name, {"poll_ms": POLL_MS, **context}, status_code=status_code, headers=SECURITY_HEADERS
    )


def _hosts(request: Request) -> Mapping[str, Any]:
    elements: Mapping[str, Any] = request.app.state.runtime.elements
    return elements


def _host_or_page(request: Request) -> Any:
    host = _hosts(request).get(request.path_params["element"])
    if host is None:
        return _page(
            request, "error.html", {"message": f"There is no element named {request.path_params['element']!r}."}, 404
        )
    return host


def _showable(host: Any) -> bool:
    # A failed element's memory was not all committed: the API shows none of it, nor does the card.
    return str(host.state) != "failed"


# -- the element list ------------------------------------------------------------------------------


async def elements_page(request: Request) -> Response:
    rows = [
        {"host": host, "summary": v.summary(host.view) if _showable(host) else []} for host in _hosts(request).values()
    ]
    return _page(request, "elements.html", {"rows": rows})


async def elements_live(request: Request) -> Response:
    hosts = list(_hosts(request).values())
    version = "-".join(host_version(h) for h in hosts)
    if request.query_params.get("since") == version:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    answer = {
        "version": version,
        "elements": {
            h.name: {
                "state": str(h.state),
                "reason": _reason(h),
                "values": {str(p.id): _cell(c) for p, c in (v.summary(h.view) if _showable(h) else [])},
            }
            for h in hosts
        },
    }
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


# -- the card --------------------------------------------------------------------------------------


async def card_page(request: Request) -> Response:
    host = _host_or_page(request)
    if isinstance(host, Response):
        return host
    context: dict[str, Any] = {"host": host, "reason": _reason(host), "protocol": host.view.protocol}
    if _showable(host):
        pages = v.card_pages(host.view)
        active = _active_page(pages, request.query_params.get("page", ""))
        args = dict(request.query_params)
        tables = {
            tid: v.table_page(host.view.tables[tid], v.TableQuery.from_args(tid, args)) for tid in v.table_ids(pages)
        }
        rows = {table_id: rows_html(page) for table_id, page in tables.items()}
        context |= {"pages": pages, "active": active, "tables": tables, "rows": rows, "summary": v.summary(host.view)}
    return _page(request, "card.html", context)


async def card_live(request: Request) -> Response:
    host = _host_or_page(request)
    if isinstance(host, Response):
        return JSONResponse({"error": f"no element named {request.path_params['element']!r}"}, status_code=404)
    args = {k: val for k, val in request.query_params.items() if k != "since"}
    key = (host.name, "&".join(f"{k}={val}" for k, val in sorted(args.items())))
    cache: LiveCache = request.app.state.card_live
    answer = cache.answer(key, lambda: host_version(host), lambda: _live_payload(host, args))
    if request.query_params.get("since") == answer["version"]:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


def _live_payload(host: Any, args: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = {"state": str(host.state), "reason": _reason(host)}
    if not _showable(host):
        return payload
    view = host.view
    pages = v.card_pages(view)
    active = _active_page(pages, args.get("page", ""))
    tables = {}
    for table_id in active.tables if active is not None else ():
        page = v.table_page(view.tables[table_id], v.TableQuery.from_args(table_id, args))
        tables[str(table_id)] = {
            "rows": rows_html(page),
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
            "rows_in_table": page.rows_in_table,
            "refused": page.refused,
        }
    values = {pid: _cell(c) for pid, c in v.shown_values(view).items()}
    values |= {str(p.id): _cell(c) for p, c in v.summary(view)}
    return payload | {"values": values, "controls": v.control_values(view), "tables": tables}


def _active_page(pages: list[v.Page], slug: str) -> v.Page | None:
    return next((p for p in pages if p.slug == slug), pages[0] if pages else None)


def _cell(cell: v.Cell) -> dict[str, str]:
    return {"text": cell.text, "utc": cell.utc}


def _reason(host: Any) -> str:
    if str(host.state) == "failed":
        return str(host.failure or "")
    return str(host.reason or "")


# -- sets -------------------------------------------------------------------------------------------


def _card_set(api_set: Endpoint) -> Endpoint:
    async def set_from_card(request: Request) -> Response:
        if not same_origin(request):
            return error(403, "a set from the card must come from the card's own page (same origin)")
        answer = await api_set(request)  # the API's rules and answers (an ApiError answers itself)
        cache: LiveCache = request.app.state.card_live
        cache.forget(request.path_params["element"])
        return answer

    return set_from_card


# -- the token -------------------------------------------------------------------------------------


def _login(token: str | None) -> tuple[Endpoint, Endpoint]:
    async def login_page(request: Request) -> Response:
        if not token:
            return RedirectResponse("/", status_code=303)
        return _page(request, "login.html", {"next": local_path(request.query_params.get("next", "/"))})

    async def log_in(request: Request) -> Response:
        if not token:
            return RedirectResponse("/", status_code=303)
        if not same_origin(request):
            return HTMLResponse("The login must come from this server's own login page.", status_code=403)
        form = parse_qs((await read_body(request, _LOGIN_BODY_LIMIT)).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        next_path = local_path((form.get("next") or ["/"])[0])
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            context = {"next": next_path, "refused": "That is not the API token."}
            return _page(request, "login.html", context, status_code=401)
        answer = RedirectResponse(next_path, status_code=303)
        session_cookie(answer, token, secure=request.url.scheme == "https")
        return answer

    return login_page, log_in


def card_routes(*, set_param: Endpoint, token: str | None) -> list[BaseRoute]:
    """The card's routes; `set_param`: the management API's set endpoint."""
    login_page, log_in = _login(token)
    return [
        Route("/", elements_page, methods=["GET"]),
        Route("/live", elements_live, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", log_in, methods=["POST"]),
        Route("/elements/{element}", card_page, methods=["GET"]),
        Route("/elements/{element}/live", card_live, methods=["GET"]),
        Route("/elements/{element}/params/{ref:path}", _card_set(set_param), methods=["POST"]),
        Mount("/static", app=StaticFiles(packages=[("connector.service.card", "static")]), name="static"),
    ]
