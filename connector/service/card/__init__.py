"""The element card: each element's parameters, tables and controls in a browser.

Served by `connector run` (and `connector demo --keep-running`) on the management API's
address: `/` lists the elements, `/elements/{name}` is an element's card. Server-rendered
HTML (Jinja2 templates in `templates/`) and one small script (`static/card.js`); nothing
is loaded from elsewhere. See docs/card.md.
"""

from __future__ import annotations

from starlette.applications import Starlette

from connector.service.card.endpoints import Endpoint, card_routes
from connector.service.card.gate import CardGate
from connector.service.card.live import LiveCache

__all__ = ["mount_card"]


def mount_card(app: Starlette, *, set_param: Endpoint, token: str | None) -> None:
    """Add the card to the management API's `app`; `set_param` is the API's set endpoint, so that
    a set from the card follows the API's rules exactly. With a `token`, the card's pages ask for it."""
    app.router.routes.extend(card_routes(set_param=set_param, token=token))
    app.state.card_live = LiveCache()
    if token:
        app.add_middleware(CardGate, token=token)
