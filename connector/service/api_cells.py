"""`PUT /api/elements/{element}/tables/{table}/rows/{key}/{column}`: a set on one cell.

DataMiner's set on a column parameter by row key, with the rules of a parameter set
(`connector.service.api.set_param`): the body is `{"value": ...}`; only a write or button
column takes a set from outside (403 otherwise); the value follows the column's kind (422); an
unknown table, row or column is a 404. The handlers on the column run with the row's key, and
the answer, once the step is committed, is the cell as it is then.

The key may hold a slash (the route's last segment is the column); a table or column name
with a slash is named by its id instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from typing import Protocol as TypingProtocol

from starlette.requests import Request
from starlette.responses import JSONResponse

from connector.engine.events import Event, SendInterApp, SetCell
from connector.engine.table import Table
from connector.engine.values import display
from connector.service.api_json import ApiError, JsonAnswer, json_value, read_body

__all__ = ["ROUTE", "cell_endpoint"]

ROUTE = "/api/elements/{element}/tables/{table}/rows/{key:path}/{column}"

Endpoint = Callable[[Request], Awaitable[JSONResponse]]


class _Submits(TypingProtocol):
    async def submit(self, event: Event) -> list[SendInterApp]: ...


def cell_endpoint(
    host_of: Callable[[Request], Any],
    table_of: Callable[[Any, str], Table],
    command: Callable[..., Awaitable[Any]],
) -> Endpoint:
    """The endpoint, over the API's own look-ups (passed in, so that this module does not import
    the one that routes to it): the element's host, a table of it, and a change through the host
    with its refusals as answers (404, 403, 422)."""

    async def set_cell(request: Request) -> JSONResponse:
        host = host_of(request)
        table = table_of(host, request.path_params["table"])
        key, ref = request.path_params["key"], request.path_params["column"]
        try:
            column = table.model.column(ref)
        except KeyError:
            raise ApiError(404, f"table {table.name!r} has no column {ref!r}") from None
        value = json_value(await read_body(request, request.app.state.max_body))
        event = SetCell(table=table.id, key=key, column=column.id, value=value)
        submitter = cast(_Submits, host)  # the runtime's ElementHost, which submits events
        subject = f"{table.name} row {key!r} {column.name}: "
        await command(host, lambda _: submitter.submit(event), subject=subject)
        cell = table.get(key, column.id)
        return JsonAnswer(
            {"table": table.name, "key": key, "column": column.name, "value": cell, "display": display(column, cell)}
        )

    return set_cell
