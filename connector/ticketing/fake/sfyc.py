"""The fake's SFyC: work orders (OTs) created in batches for existing Cherwell incidents, and looked up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connector.ticketing.fake.answers import (
    FakeAnswer,
    Request,
    as_text,
    json_answer,
    order_failed,
    parse_json,
    sfyc_error,
)
from connector.ticketing.fake.data import MAX_LOOKUP_TICKETS, MAX_ORDERS, WorkOrder
from connector.ticketing.fake.faults import Dice, Faults
from connector.ticketing.fake.records import Records


class WorkOrders:
    """SFyC's work orders; an order needs its ticket to exist as a Cherwell incident."""

    def __init__(self, records: Records, *, clock: Callable[[], float], dice: Dice) -> None:
        self._records = records
        self._clock = clock
        self._dice = dice
        self.orders: list[WorkOrder] = []
        self._by_ticket: dict[str, list[WorkOrder]] = {}

    def create_orders(self, request: Request, faults: Faults) -> FakeAnswer:
        parsed, data = parse_json(request.body)
        if not parsed or not isinstance(data, dict) or not isinstance(data.get("ordenes"), list):
            return sfyc_error(400, "SOLICITUD_INVALIDA", 'El cuerpo debe ser un objeto JSON {"ordenes": [...]}')
        if len(data["ordenes"]) > MAX_ORDERS:
            return sfyc_error(400, "DEMASIADAS_ORDENES", f"Maximo {MAX_ORDERS} ordenes por lote")
        return json_answer(200, {"resultados": [self._create_order(order, faults) for order in data["ordenes"]]})

    def _create_order(self, order: object, faults: Faults) -> dict[str, Any]:
        if not isinstance(order, dict):
            return order_failed(None, "SOLICITUD_INVALIDA", "Cada orden debe ser un objeto JSON")
        ticket = as_text(order.get("ticket"))
        message = faults.fail_operation.get("ot_create")
        if message is not None:
            self._dice.count("fail_operation")
            return order_failed(ticket, "ERROR_OPERACION", message)
        if self._dice.roll(faults.item_error_rate, "item_error"):
            return order_failed(ticket, "ERROR_INTERNO", "Falla simulada: la orden no se creo, reintente")
        required = ("ticket", "referencia", "categoria", "nodo")
        missing = [name for name in required if not as_text(order.get(name)).strip()]
        if missing:
            return order_failed(ticket, "CAMPO_REQUERIDO", f"Faltan campos requeridos: {', '.join(missing)}")
        if ticket not in self._records.incidents_by_public:
            return order_failed(ticket, "TICKET_NO_EXISTE", f"El ticket {ticket} no existe en Cherwell")
        work_order = self.add(
            ticket, *(as_text(order.get(k)) for k in ("referencia", "categoria", "nodo", "descripcion", "prioridad"))
        )
        return {"ticket": ticket, "ok": True, "ot": work_order.ot}

    def add(
        self, ticket: str, referencia: str, categoria: str, nodo: str, descripcion: str = "", prioridad: str = ""
    ) -> WorkOrder:
        year = time.gmtime(self._clock()).tm_year
        work_order = WorkOrder(
            ot=f"OT-{year}-{len(self.orders) + 1:06d}",
            ticket=ticket,
            referencia=referencia,
            categoria=categoria,
            nodo=nodo,
            descripcion=descripcion,
            prioridad=prioridad,
        )
        self.orders.append(work_order)
        self._by_ticket.setdefault(ticket, []).append(work_order)
        return work_order

    def lookup_orders(self, request: Request, faults: Faults) -> FakeAnswer:
        tickets = [value for name, value in request.query if name.lower() == "ticket"]
        if not tickets:
            return sfyc_error(400, "SOLICITUD_INVALIDA", "Indique al menos un parametro ticket")
        if len(tickets) > MAX_LOOKUP_TICKETS:
            return sfyc_error(400, "DEMASIADOS_TICKETS", f"Maximo {MAX_LOOKUP_TICKETS} tickets por consulta")
        found = [o for ticket in dict.fromkeys(tickets) for o in self._by_ticket.get(ticket, [])]
        return json_answer(
            200,
            {
                "ordenes": [
                    {"ot": o.ot, "ticket": o.ticket, "referencia": o.referencia, "estado": o.estado} for o in found
                ]
            },
        )

    def for_ticket(self, ticket: str) -> list[WorkOrder]:
        return list(self._by_ticket.get(ticket, []))


__all__ = ["WorkOrders"]
