"""The SQLite store: one transaction per step, rows back in their order, restart intact."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from connector.engine.element import Element
from connector.engine.events import Persist, TableDelta
from connector.engine.store import SCHEMA_VERSION, MemoryStore, SQLiteStore, StoreError, StoreOwner
from connector.engine.store_pg import PostgresStore
from connector.engine.testing import FakeClock, Harness, answer
from tests.engine import toy


@pytest.fixture(params=["sqlite", "memory", "postgresql"])
def store_factory(request, tmp_path: Path):
    """A function that opens the same store again (the contract every backend keeps)."""
    if request.param == "memory":
        shared = MemoryStore()
        return lambda: shared
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresStore(url, owner=StoreOwner(element="Toy", protocol="Toy"))
    return lambda: SQLiteStore(tmp_path / "element.sqlite")


@pytest.fixture
def postgres_dump():
    """Every text a PostgreSQL store holds, for checks that a secret is not among it."""

    def dump(store: object) -> str:
        if not isinstance(store, PostgresStore):
            return ""
        with psycopg.connect(store.url) as db:
            tables = ("stores", "meta", "params", "rows")
            return "\n".join(str(row) for table in tables for row in db.execute(f"SELECT * FROM connector.{table}"))

    return dump


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


def test_a_delta_of_some_columns_is_merged_into_the_row(store_factory) -> None:
    """A row a writer changed is saved with the writer's cells alone (TableDelta): every store
    keeps the row's other cells, and a row it does not hold yet gets just those."""
    store = store_factory()
    whole = TableDelta(table=1000, columns=(1001, 1002, 1003), written={"a": ("a", "x", 1)}, deleted=())
    store.commit(Persist(params={}, tables=(whole,)))
    some = TableDelta(table=1000, columns=(1001, 1003), written={"a": ("a", 2), "b": ("b", 3)}, deleted=())
    store.commit(Persist(params={}, tables=(some,)))
    rows = {
        key: {cid: v for cid, v in cells.items() if cid != 1001 and v is not None}
        for key, cells in store.load().tables[1000]
    }
    assert rows == {"a": {1002: "x", 1003: 2}, "b": {1003: 3}}


def test_an_empty_cell_is_stored_as_sql_null(tmp_path: Path) -> None:
    """None is bound through the store's own adapter (sqlite3's lookup of one cost 3% of a drain):
    still SQL NULL, not text or a number, and back as None."""
    path = tmp_path / "element.sqlite"
    store = SQLiteStore(path)
    delta = TableDelta(table=1000, columns=(1001, 1002, 1003), written={"a": ("a", None, 0)}, deleted=())
    store.commit(Persist(params={}, tables=(delta,)))
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT typeof(c1002), typeof(c1003) FROM rows_1000").fetchone() == ("null", "integer")
    assert dict(SQLiteStore(path).load().tables[1000]) == {"a": {1002: None, 1003: 0}}


def test_an_element_restarts_where_it_was(store_factory, tmp_path: Path, postgres_dump) -> None:
    clock = FakeClock()

    def run(store):
        element = Element(toy.toy_protocol(), name="Toy", handlers=toy.HANDLERS, now=clock.now)
        h = Harness(element, clock, transport=lambda r: answer(r, 200, "a=1\nb=2"), store=store)
        h.start(saved=store.load(), always={23: "s3cret"})
        return h

    store = store_factory()
    h = run(store)
    h.set("Level", 77)
    assert h.element.view.tables[1000].keys() == ["a", "b"]
    store.close()
    store = store_factory()
    h2 = run(store)
    assert h2.element.view.get(10) == 77
    assert h2.element.view.tables[1000].row("a")["Value"] == "1"
    if isinstance(store, SQLiteStore):
        assert store.integrity() == "ok"
    store.close()
    for file in tmp_path.iterdir():
        assert b"s3cret" not in file.read_bytes(), file
    assert "s3cret" not in postgres_dump(store)


# Not the memory store: it keeps the cells it is given, key column included.
@pytest.mark.parametrize("store_factory", ["sqlite", "postgresql"], indirect=True)
def test_values_keep_their_types_and_new_columns_are_added(store_factory) -> None:
    store = store_factory()
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
    rows = dict(store_factory().load().tables[7])
    # A column added later reads as empty in the rows written before it (None or absent).
    assert {cid: rows["k"].get(cid) for cid in (2, 3, 4)} == {2: 1, 3: 2.5, 4: None}
    assert rows["j"] == {2: None, 3: 0.0, 4: "new"}


# -- whose a store is, one process at a time (issue 11) --------------------------------------

BE = StoreOwner(element="BE 01", protocol="Ticketing BE")
ROW = Persist(
    params={10: 1}, tables=(TableDelta(table=1000, columns=(1001, 1002), written={"a": ("a", 1)}, deleted=()),)
)


def test_a_store_says_whose_it_is_and_refuses_another_element(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    SQLiteStore(path, owner=BE).close()
    meta = dict(sqlite3.connect(path).execute("SELECT key, value FROM meta"))
    assert meta["element"] == "BE 01" and meta["protocol"] == "Ticketing BE" and meta["schema"] == str(SCHEMA_VERSION)
    SQLiteStore(path, owner=BE).close()  # its own element opens it again
    for stranger in (StoreOwner(element="BE 02", protocol="Ticketing BE"), StoreOwner(element="BE 01", protocol="X")):
        with pytest.raises(StoreError) as refused:
            SQLiteStore(path, owner=stranger)
        assert str(path) in str(refused.value) and "belongs to element 'BE 01'" in str(refused.value)
    SQLiteStore(path, owner=BE).close()  # a refusal leaves no lock behind


def test_a_store_in_use_is_refused_naming_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    held = SQLiteStore(path, owner=BE)
    for opener in (BE, StoreOwner(element="BE 02", protocol="Ticketing BE"), None):
        with pytest.raises(StoreError) as refused:
            SQLiteStore(path, owner=opener)
        assert f"{path} is in use by element 'BE 01' (pid {os.getpid()}, this process)" in str(refused.value)
    held.close()
    SQLiteStore(path, owner=BE).close()  # closing releases it


def test_a_killed_holder_releases_its_store(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from connector.engine.store import SQLiteStore, StoreOwner; "
            f"store = SQLiteStore({str(path)!r}, owner=StoreOwner(element='BE 01', protocol='Ticketing BE')); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=rf"in use by element 'BE 01' \(pid {holder.pid}\)"):
            SQLiteStore(path, owner=BE)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    SQLiteStore(path, owner=BE).close()


def test_an_empty_file_or_one_without_the_store_tables_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE notes (text)")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all\n" * 500)
    for path, cause in ((empty, "is empty (0 bytes)"), (other, "lacks its tables (meta, params)"), (garbage, "")):
        with pytest.raises(StoreError, match=re.escape(f"store {path}")) as refused:
            SQLiteStore(path, owner=BE)
        assert cause in str(refused.value)
    assert empty.stat().st_size == 0, "a refused file is left as it was"


def test_a_store_that_lost_a_rows_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    store = SQLiteStore(path, owner=BE)
    store.commit(ROW)
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE rows_1000")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=re.escape(f"store {path} lacks the table(s) rows_1000 it had")):
        SQLiteStore(path, owner=BE)


def test_a_damaged_store_fails_the_check_at_start(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    store = SQLiteStore(path, owner=BE)
    for start in range(0, 2000, 100):
        store.commit(
            Persist(
                params={},
                tables=(
                    TableDelta(
                        table=1000,
                        columns=(1001, 1002),
                        written={f"k{i}": (f"k{i}", "x" * 200) for i in range(start, start + 100)},
                        deleted=(),
                    ),
                ),
            )
        )
    store.close()
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096  # one page of rows scribbled over
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=re.escape(f"store {path}")) as refused:
        SQLiteStore(path, owner=BE)
    assert "integrity check" in str(refused.value) or "malformed" in str(refused.value)


def test_a_missing_store_beside_its_write_ahead_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    path.with_name("be.sqlite-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 60)
    with pytest.raises(StoreError, match="write-ahead log"):
        SQLiteStore(path, owner=BE)


def test_a_crash_while_creating_a_store_leaves_none_behind(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    path.with_name("be.sqlite.new").write_bytes(b"half")  # what a crash mid-creation left
    store = SQLiteStore(path, owner=BE)
    store.commit(ROW)
    store.close()
    assert not path.with_name("be.sqlite.new").exists()
    assert SQLiteStore(path, owner=BE).load().params == {10: 1}


def test_a_store_of_schema_1_is_taken_over_by_its_element(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE params (id INTEGER PRIMARY KEY, value TEXT);
        CREATE TABLE rows_1000 (key TEXT PRIMARY KEY NOT NULL, c1002);
        INSERT INTO meta VALUES ('schema', '1');
        INSERT INTO params VALUES (10, '7');
        INSERT INTO rows_1000 VALUES ('a', 'x');
        """
    )
    db.close()
    store = SQLiteStore(path, owner=BE)
    assert store.load().params == {10: 7} and [key for key, _ in store.load().tables[1000]] == ["a"]
    store.close()
    meta = dict(sqlite3.connect(path).execute("SELECT key, value FROM meta"))
    assert meta == {"schema": "2", "element": "BE 01", "protocol": "Ticketing BE", "rows_1000": "table"}


# -- errors name the file and the real cause ---------------------------------------------------


def test_a_full_disk_is_reported_as_such_and_nothing_of_the_step_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    store = SQLiteStore(path, owner=BE)
    store.commit(ROW)
    # A full disk, made small: the file may not grow past its pages now (the store's own
    # connection, reached into for that alone).
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    big = {f"k{i}": (f"k{i}", "x" * 1000) for i in range(100)}
    with pytest.raises(StoreError) as refused:
        store.commit(
            Persist(params={10: 2}, tables=(TableDelta(table=1000, columns=(1001, 1002), written=big, deleted=()),))
        )
    message = str(refused.value)
    assert message == f"store {path}: cannot commit: database or disk is full (SQLITE_FULL)"
    store.close()
    saved = SQLiteStore(path, owner=BE).load()
    assert saved.params == {10: 1} and [key for key, _ in saved.tables[1000]] == ["a"]


def test_a_commit_that_fails_before_sqlite_is_rolled_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    store = SQLiteStore(path, owner=BE)
    unstorable = Persist(params={10: 3, 11: object()}, tables=ROW.tables)
    with pytest.raises(TypeError):  # not a store failure: raised as it is
        store.commit(unstorable)
    store.commit(ROW)  # the store goes on
    store.close()
    assert SQLiteStore(path, owner=BE).load().params == {10: 1}


# -- a value written by something else loads as it is ----------------------------------------


def test_a_poison_value_loads_as_it_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "be.sqlite"
    store = SQLiteStore(path, owner=BE)
    store.commit(
        Persist(
            params={10: 1, 12: 2},
            tables=(TableDelta(table=1000, columns=(1001, 1002), written={"a": ("a", 1), "b": ("b", 2)}, deleted=()),),
        )
    )
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE rows_1000 SET c1002 = 'abc' WHERE key = 'a'")
    db.execute("UPDATE params SET value = 'not json' WHERE id = 12")
    db.commit()
    db.close()
    saved = SQLiteStore(path, owner=BE).load()
    assert saved.params == {10: 1, 12: "not json"}
    assert dict(saved.tables[1000]) == {"a": {1002: "abc"}, "b": {1002: 2}}
