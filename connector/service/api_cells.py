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

from typing import Any, cast
from typing import Protocol as TypingProtocol

from starlette.requests import Request
from starlette.responses import JSONResponse

from connector.engine.events import Event, SendInterApp, SetCell
from connector.engine.values import display
from connector.service.api import _command, _host, _table
from connector.service.api_json import ApiError, JsonAnswer, json_value, read_body

__all__ = ["ROUTE", "set_cell"]

ROUTE = "/api/elements/{element}/tables/{table}/rows/{key:path}/{column}"


class _Submits(TypingProtocol):
    async def submit(self, event: Event) -> list[SendInterApp]: ...


async def set_cell(request: Request) -> JSONResponse:
    host = _host(request)
    table = _table(host, request.path_params["table"])
    key, ref = request.path_params["key"], request.path_params["column"]
    try:
        column = table.model.column(ref)
    except KeyError:
        raise ApiError(404, f"table {table.name!r} has no column {ref!r}") from None
    value = json_value(await read_body(request, request.app.state.max_body))
    event = SetCell(table=table.id, key=key, column=column.id, value=value)
    submitter = cast(_Submits, host)  # the runtime's ElementHost, which submits events
    await _command(host, lambda _: submitter.submit(event), subject=f"{table.name} row {key!r} {column.name}: ")
    return JsonAnswer(_cell_json(table.name, key, column.name, column, table.get(key, column.id)))


def _cell_json(table: str, key: str, name: str, column: Any, value: Any) -> dict[str, Any]:
    return {"table": table, "key": key, "column": name, "value": value, "display": display(column, value)}
