"""SFyC work-order (OT) requests and answers, as the platform contract defines them. Pure.

SFyC has no session: every call carries the API key. It does not deduplicate either, so the flow
looks work orders up (`lookup_call`) before it creates one again after an uncertain outcome.
Errors come back as `{"codigo", "mensaje"}` and are turned into messages such as
`SFyC TICKET_INEXISTENTE: ticket 999 no existe`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import attrs
from attrs import frozen

from connector.ticketing.calls import PlatformCall, PlatformReply
from connector.ticketing.cherwell import PlatformError, describe, read_reply

API = "/SFyC/api/v1"
MAX_ORDERS = 200  # per create call
MAX_LOOKUP = 200  # `ticket` values per look-up call


@frozen(kw_only=True)
class OrderRequest:
    ticket: str  # the Cherwell IncidentID
    referencia: str  # the WM ticket id: how a look-up recognises our own order
    categoria: str
    nodo: str
    descripcion: str
    prioridad: int


@frozen(kw_only=True)
class OrderResult:
    ok: bool
    ot: str = ""
    message: str = ""
    maybe_applied: bool = False


@frozen(kw_only=True)
class WorkOrder:
    ot: str
    ticket: str
    referencia: str
    estado: str


def _headers(api_key: str) -> dict[str, str]:
    return {"X-Api-Key": api_key, "Accept": "application/json"}


def create_orders_call(api_key: str, orders: Sequence[OrderRequest]) -> PlatformCall:
    body = {
        "ordenes": [
            {
                "ticket": o.ticket,
                "referencia": o.referencia,
                "categoria": o.categoria,
                "nodo": o.nodo,
                "descripcion": o.descripcion,
                "prioridad": int(o.prioridad),
            }
            for o in orders
        ]
    }
    return PlatformCall(
        session="create_ot",
        method="POST",
        path=f"{API}/ordenes-trabajo/lote",
        headers=_headers(api_key) | {"Content-Type": "application/json"},
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    )


def with_key(call: PlatformCall, api_key: str) -> PlatformCall:
    """The same request with this API key (a request may be built before it is sent)."""
    return attrs.evolve(call, headers={**call.headers, **_headers(api_key)})


def _document(reply: PlatformReply) -> Mapping[str, Any]:
    data = read_reply(reply, "SFyC")
    if not isinstance(data, Mapping):
        raise PlatformError("SFyC: unexpected answer (not a JSON object)", maybe_applied=True)
    return data


def parse_create_orders(reply: PlatformReply, orders: Sequence[OrderRequest]) -> list[OrderResult]:
    """One result per order, in request order."""
    results = _document(reply).get("resultados")
    if not isinstance(results, list) or len(results) != len(orders):
        got = len(results) if isinstance(results, list) else 0
        raise PlatformError(f"SFyC: the answer has {got} results for {len(orders)} orders", maybe_applied=True)
    return [_order_result(item) for item in results]


def _order_result(item: Any) -> OrderResult:
    if not isinstance(item, Mapping):
        return OrderResult(ok=False, message="SFyC: unreadable result", maybe_applied=True)
    if item.get("ok") is True or str(item.get("ok")).casefold() == "true":
        ot = str(item.get("ot") or "")
        if not ot:
            return OrderResult(ok=False, message="SFyC: the result names no OT", maybe_applied=True)
        return OrderResult(ok=True, ot=ot)
    return OrderResult(ok=False, message=describe("SFyC", item))


def lookup_call(api_key: str, tickets: Sequence[str]) -> PlatformCall:
    if len(tickets) > MAX_LOOKUP:
        raise ValueError(f"at most {MAX_LOOKUP} tickets per look-up, got {len(tickets)}")
    query = urlencode([("ticket", t) for t in tickets])
    return PlatformCall(
        session="lookup_ot", method="GET", path=f"{API}/ordenes-trabajo?{query}", headers=_headers(api_key)
    )


def parse_lookup(reply: PlatformReply) -> list[WorkOrder]:
    orders = _document(reply).get("ordenes")
    if not isinstance(orders, list):
        raise PlatformError("SFyC: the look-up answer has no 'ordenes'")
    return [
        WorkOrder(
            ot=str(o.get("ot") or ""),
            ticket=str(o.get("ticket") or ""),
            referencia=str(o.get("referencia") or ""),
            estado=str(o.get("estado") or ""),
        )
        for o in orders
        if isinstance(o, Mapping)
    ]
