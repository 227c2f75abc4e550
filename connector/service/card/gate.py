"""Who may see the card and change an element through it.

With an API token, the card asks for the token once (`/login`) and keeps, in an HttpOnly,
SameSite=Strict cookie, a value derived from it (an HMAC, so the cookie is no bearer token
for the API: a stolen cookie cannot call `/api`). Every page, asset aside, and the live
updates need the cookie; without it a page redirects to the login and a call answers 401.

Sets and the login are POSTs that also need the same origin (`Origin`, else
`Sec-Fetch-Site: same-origin`): a page of another site cannot make the browser set a
parameter or log in, cookie or not. `/api` and `/metrics` keep the bearer token of the API
(connector.service.api), which knows nothing of cookies.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COOKIE", "CardGate", "cookie_value", "local_path", "same_origin", "session_cookie"]

COOKIE = "connector_card"
# Paths the gate leaves alone: the API's own gate covers these, and the login and the assets
# (no secret in either) must load before the token is given.
_API_PREFIXES = ("/api/", "/metrics/")
_OPEN_PATHS = frozenset({"/api", "/metrics", "/login"})


def cookie_value(token: str) -> str:
    """What the cookie holds for `token`: derived, not the token itself."""
    return hmac.new(token.encode("utf-8"), b"connector card session v1", hashlib.sha256).hexdigest()


def session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="strict", secure=secure, path="/")


class CardGate:
    """ASGI middleware: the card's pages need the session cookie when the API has a token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = cookie_value(token).encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _open(scope["path"]) or self._has_cookie(scope):
            await self.app(scope, receive, send)
            return
        await _refusal(scope)(scope, receive, send)

    def _has_cookie(self, scope: Scope) -> bool:
        headers = [value for name, value in scope["headers"] if name == b"cookie"]
        for header in headers:
            jar = SimpleCookie()
            try:
                jar.load(header.decode("latin-1"))
            except Exception:  # noqa: BLE001 - an unreadable cookie header is no cookie
                continue
            morsel = jar.get(COOKIE)
            if morsel is not None and hmac.compare_digest(morsel.value.encode("ascii", "replace"), self._expected):
                return True
        return False


def _open(path: str) -> bool:
    return path in _OPEN_PATHS or path.startswith(_API_PREFIXES) or path.startswith("/static/")


def _refusal(scope: Scope) -> Response:
    request = Request(scope)
    wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
    if wants_page:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    return JSONResponse({"error": "the card needs the API token: log in at /login"}, status_code=401)


def same_origin(request: Request) -> bool:
    """Whether a POST comes from a page of this very server (not from another site's page)."""
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        return bool(host) and origin in (f"http://{host}", f"https://{host}")
    # Browsers send Origin on every POST; some send only this. Anything else is no browser page.
    return request.headers.get("sec-fetch-site") == "same-origin"


def local_path(target: str) -> str:
    """`target` if it is a path on this server, else `/` (no open redirect after the login)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
