"""The SQLite store: one transaction per step, rows back in their order, restart intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.engine.element import Element
from connector.engine.events import Persist, TableDelta
from connector.engine.store import MemoryStore, SQLiteStore
from connector.engine.testing import FakeClock, Harness, answer
from tests.engine import toy


@pytest.fixture(params=["sqlite", "memory"])
def store_factory(request, tmp_path: Path):
    if request.param == "memory":
        shared = MemoryStore()
        return lambda: shared
    return lambda: SQLiteStore(tmp_path / "element.sqlite")


def test_commit_and_load_round_trip(store_factory) -> None:
    store = store_factory()
    store.commit(
        Persist(
            params={10: 42, 12: 1},
            tables=(
                TableDelta(table=1000, columns=(1001, 1002), written={"b": ("b", "x"), "a": ("a", None)}, deleted=()),
            ),
        )
    )
    store.commit(
        Persist(
            params={},
            tables=(
                TableDelta(
                    table=1000, columns=(1001, 1002), written={"b": ("b", "y"), "c": ("c", "z")}, deleted=("a",)
                ),
            ),
        )
    )
    store.close()
    saved = store_factory().load()
    assert saved.params == {10: 42, 12: 1}
    keys = [key for key, _ in saved.tables[1000]]
    assert keys == ["b", "c"], "an update keeps the row's place"
    assert dict(saved.tables[1000])["b"][1002] == "y"


def test_an_element_restarts_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    clock = FakeClock()

    def run(store):
        element = Element(toy.toy_protocol(), name="Toy", handlers=toy.HANDLERS, now=clock.now)
        h = Harness(element, clock, transport=lambda r: answer(r, 200, "a=1\nb=2"), store=store)
        h.start(saved=store.load(), always={23: "s3cret"})
        return h

    store = SQLiteStore(path)
    h = run(store)
    h.set("Level", 77)
    assert h.element.view.tables[1000].keys() == ["a", "b"]
    store.close()
    store = SQLiteStore(path)
    h2 = run(store)
    assert h2.element.view.get(10) == 77
    assert h2.element.view.tables[1000].row("a")["Value"] == "1"
    assert store.integrity() == "ok"
    store.close()
    for file in tmp_path.iterdir():
        assert b"s3cret" not in file.read_bytes(), file


def test_values_keep_their_types_and_new_columns_are_added(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.commit(
        Persist(params={}, tables=(TableDelta(table=7, columns=(1, 2, 3), written={"k": ("k", 1, 2.5)}, deleted=()),))
    )
    store.commit(
        Persist(
            params={},
            tables=(TableDelta(table=7, columns=(1, 2, 3, 4), written={"j": ("j", None, 0.0, "new")}, deleted=()),),
        )
    )
    store.close()
    rows = dict(SQLiteStore(tmp_path / "s.sqlite").load().tables[7])
    assert rows["k"] == {2: 1, 3: 2.5, 4: None}
    assert rows["j"] == {2: None, 3: 0.0, 4: "new"}
