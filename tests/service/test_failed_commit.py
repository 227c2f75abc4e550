"""After a failed commit the API shows nothing the store does not hold, and /api/health says so.

Regression (issue 11): during a full disk, the element's store refused a commit, the runtime
stopped the element, and the API went on showing the 100 rows that were never stored while
/api/health answered "ok". The real runtime and the real API here, in process (httpx's ASGI
transport), over a store whose commits fail on demand.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from connector.engine.events import Persist
from connector.engine.http import Connection, httpx
from connector.engine.persist import Saved
from connector.engine.store import SQLiteStore, StoreError
from connector.service import runtime as runtime_module
from connector.service.api import create_app
from connector.service.runtime import ElementConfig, Runtime
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol
from tests.ticketing.test_element import batch, make_tickets

NAME = "Ticketing BE 01"
ELEMENT = "/api/elements/Ticketing%20BE%2001"
FULL = "database or disk is full (SQLITE_FULL)"


class DiskFills:
    """The element's SQLite store, whose commits fail as a full disk's do once `full` is set."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.full = False

    def load(self) -> Saved:
        return self.store.load()

    def commit(self, persist: Persist) -> None:
        if self.full:
            raise StoreError(f"store {self.store.path}: cannot commit: {FULL}")
        self.store.commit(persist)

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> list[DiskFills]:
    """Every store the runtime opens, wrapped (the runtime opens its stores with SQLiteStore)."""
    opened: list[DiskFills] = []

    def open_store(path: Path, **options: Any) -> DiskFills:
        opened.append(DiskFills(SQLiteStore(path, **options)))
        return opened[-1]

    monkeypatch.setattr(runtime_module, "SQLiteStore", open_store)
    return opened


async def started(store_path: Path) -> Runtime:
    config = ElementConfig(
        name=NAME,
        protocol_path=PROTOCOL_YAML,
        connection=Connection(host="127.0.0.1", port=9),  # Ticketing Processing stays Disabled
        params={},
        secrets={},
        store_path=store_path,
    )
    runtime = Runtime()
    await runtime.start([config], {PROTOCOL_YAML: ticketing_protocol()})
    return runtime


def client(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://test")


def test_after_a_failed_commit_the_api_shows_only_what_is_committed(tmp_path: Path, stores: list[DiskFills]) -> None:
    store = tmp_path / "be.sqlite"

    async def fail_a_commit() -> None:
        runtime = await started(store)
        try:
            async with client(runtime) as api:
                assert (await api.get("/api/health")).json() == {"status": "ok"}
                first = await api.post(f"{ELEMENT}/interapp", content=batch(make_tickets(3, prefix="A"), guid="a"))
                assert first.status_code == 202
                assert (await api.get(f"{ELEMENT}/tables/Ticket%20Overview")).json()["total"] == 3

                stores[0].full = True
                lost = await api.post(f"{ELEMENT}/interapp", content=batch(make_tickets(100, prefix="B"), guid="b"))
                assert lost.status_code == 503

                for read in ("/tables/Ticket%20Overview", "/params", "/params/Max%20Retries"):
                    answer = await api.get(ELEMENT + read)
                    assert answer.status_code == 503, read
                    assert FULL in answer.json()["error"] and "restart" in answer.json()["error"]
                health = await api.get("/api/health")
                assert health.status_code == 503
                assert health.json() == {
                    "status": "failed",
                    "failed": [
                        {
                            "element": NAME,
                            "reason": f"its store refused a commit: store {store}: cannot commit: {FULL}",
                        }
                    ],
                }
                listed = (await api.get("/api/elements")).json()
                assert [(e["name"], e["state"]) for e in listed] == [(NAME, "failed")]
        finally:
            await runtime.stop()

    async def restart() -> None:
        runtime = await started(store)
        try:
            async with client(runtime) as api:
                assert (await api.get("/api/health")).status_code == 200
                table = (await api.get(f"{ELEMENT}/tables/Ticket%20Overview")).json()
                assert table["total"] == 3, "the 100 rows of the failed commit were never stored"
        finally:
            await runtime.stop()

    asyncio.run(fail_a_commit())
    asyncio.run(restart())
