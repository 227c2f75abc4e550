"""PUT on a table cell (connector.service.api_cells): the parameter rules, for write and button
columns, on the poller of tests/engine/poller.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector.engine import events as ev
from connector.engine.element import internals
from connector.engine.testing import answer
from connector.service.api import create_app
from tests.engine.poller import make_poller
from tests.service.test_api import api_client
from tests.service.test_api_sets import HarnessHost as SetsHost
from tests.service.test_api_sets import Runtime, anyio_backend  # noqa: F401 - the fixture, for anyio

CELLS = "/api/elements/Poller%2001/tables/Sensors/rows"


class HarnessHost(SetsHost):
    """Ticketing's in-process host, for any element, with the `submit` the cell call uses."""

    async def submit(self, event: ev.Event) -> list[ev.SendInterApp]:
        self.harness.dispatch(event)  # a refusal raises, as from the runtime's host, before any change
        return []


@pytest.fixture
def host() -> HarnessHost:
    seen: list[Any] = []
    harness = make_poller(lambda r: answer(r, 200, "{}"), handlers={4: lambda p: seen.append(p.row_key)})
    harness.start()
    internals(harness.element).tables[1000].add_row("a/1", {"Reading": 3, "Label": "hall"})
    return HarnessHost(harness)


async def put(host: HarnessHost, path: str, body: Any) -> httpx.Response:
    async with api_client(create_app(Runtime(host))) as client:
        return await client.put(f"{CELLS}/{path}", json=body)


@pytest.mark.anyio
async def test_a_write_cell_is_set_and_answered_as_it_is_then(host: HarnessHost) -> None:
    reply = await put(host, "a%2F1/Label", {"value": "kitchen"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "table": "Sensors",
        "key": "a/1",
        "column": "Label",
        "value": "kitchen",
        "display": "kitchen",
    }
    reply = await put(host, "a%2F1/1004", {"value": "Reset"})
    assert reply.json()["value"] == 1 and reply.json()["display"] == "Reset"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("a%2F1/Reading", {"value": 4}, 403, "column 'Reading' of table 'Sensors' is no write or button column"),
        ("a%2F1/Sensor", {"value": "b"}, 403, "is no write or button column: only the element sets it"),
        ("a%2F1/Reset", {"value": "Push"}, 422, "Sensors row 'a/1' Reset: must be one of: Reset (1); got 'Push'"),
        ("a%2F1/Label", {"value": None}, 422, "needs a value"),
        ("a%2F1/Label", {"colour": "x"}, 400, ""),
        ("nope/Label", {"value": "x"}, 404, "table 'Sensors' has no row 'nope'"),
        ("a%2F1/Colour", {"value": "x"}, 404, "table 'Sensors' has no column 'Colour'"),
    ],
)
async def test_a_cell_put_keeps_the_rules_of_a_parameter_put(
    host: HarnessHost, path: str, body: Any, status: int, says: str
) -> None:
    before = host.view.table("Sensors").row("a/1")
    reply = await put(host, path, body)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["error"]
    assert host.view.table("Sensors").row("a/1") == before


@pytest.mark.anyio
async def test_an_unknown_table_is_a_404(host: HarnessHost) -> None:
    async with api_client(create_app(Runtime(host))) as client:
        reply = await client.put("/api/elements/Poller%2001/tables/Nope/rows/a/Label", json={"value": "x"})
    assert reply.status_code == 404 and "has no table 'Nope'" in reply.json()["error"]
