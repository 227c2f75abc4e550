"""`connector set-cell` against the API served by a real uvicorn on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connector.engine import events as ev
from connector.engine.element import Element, internals
from connector.engine.testing import FakeClock
from tests.engine.poller import poller_protocol
from tests.service.test_api import FakeHost, FakeRuntime
from tests.service.test_cli_client import Served, run

POLLER = "Poller 01"


class CellHost(FakeHost):
    async def submit(self, event: ev.Event) -> list[ev.SendInterApp]:
        self.element.handle(event)
        return []


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with Served() as served:
        yield served


@pytest.fixture
def api(server: Served) -> Served:
    clock = FakeClock()
    element = Element(poller_protocol(), name=POLLER, handlers={}, now=clock.now)
    element.start()
    internals(element).tables[1000].add_row("s 1/a", {"Reading": 3, "Label": "hall"})
    return server.serve(FakeRuntime(CellHost(element)))


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("CONNECTOR_API", raising=False)
    monkeypatch.delenv("CONNECTOR_API_TOKEN", raising=False)


def test_set_cell_sets_a_write_column_and_prints_the_cell(api: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "set-cell", POLLER, "Sensors", "s 1/a", "Label", "kitchen", "--api", api.url)
    assert (code, out, err) == (0, "Sensors row 's 1/a' Label: kitchen\n", "")
    code, out, _ = run(capsys, "set-cell", POLLER, "1000", "s 1/a", "1004", "Reset", "--api", api.url, "-o", "json")
    assert code == 0 and json.loads(out)["value"] == 1
    assert api.runtime.elements[POLLER].view.table("Sensors").row("s 1/a")["Label"] == "kitchen"


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        (
            "Reading",
            "4",
            "column 'Reading' of table 'Sensors' is no write or button column: only the element sets it (HTTP 403)",
        ),
        ("Reset", "Push", "Sensors row 's 1/a' Reset: must be one of: Reset (1); got 'Push' (HTTP 422)"),
    ],
)
def test_a_refused_cell_set_exits_1_with_the_reason(
    api: Served, capsys: pytest.CaptureFixture[str], column: str, value: str, says: str
) -> None:
    code, out, err = run(capsys, "set-cell", POLLER, "Sensors", "s 1/a", column, value, "--api", api.url)
    assert code == 1 and out == "" and says in err and err.startswith("connector set-cell: ")
