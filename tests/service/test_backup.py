"""`connector backup STORE DEST`: a consistent copy of a store, while its element runs or not (issue 11)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from connector.cli import main
from connector.engine.events import Persist, TableDelta
from connector.engine.store import SQLiteStore, StoreOwner

BE = StoreOwner(element="BE 01", protocol="Ticketing BE")


def step(i: int) -> Persist:
    """Row k<i>, and parameter 10 = i: a copy taken at any moment has row count == param 10 + 1."""
    row = {f"k{i}": (f"k{i}", "x" * 100)}
    return Persist(params={10: i}, tables=(TableDelta(table=1000, columns=(1001, 1002), written=row, deleted=()),))


def test_a_backup_of_a_running_store_holds_every_committed_step(tmp_path: Path, capsys) -> None:
    store_path, dest = tmp_path / "be.sqlite", tmp_path / "backups" / "be-1.sqlite"
    dest.parent.mkdir()
    store = SQLiteStore(store_path, owner=BE)  # held, as by a running element
    for i in range(50):
        store.commit(step(i))
    assert store_path.with_name("be.sqlite-wal").stat().st_size > 0, "the steps are still in the -wal file"
    assert main(["backup", str(store_path), str(dest)]) == 0
    assert "element 'BE 01' (Ticketing BE): 50 rows" in capsys.readouterr().out
    store.commit(step(50))  # the element goes on
    store.close()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["be-1.sqlite"], "one file, nothing beside it"
    copy = SQLiteStore(dest, owner=BE)  # the element can start from it
    saved = copy.load()
    copy.close()
    assert saved.params == {10: 49} and [key for key, _ in saved.tables[1000]] == [f"k{i}" for i in range(50)]


def test_a_backup_taken_while_the_element_commits_is_one_moment_of_it(tmp_path: Path) -> None:
    store_path = tmp_path / "be.sqlite"
    store = SQLiteStore(store_path, owner=BE)
    store.commit(step(0))
    stop = threading.Event()

    def commit_on() -> None:
        i = 1
        while not stop.is_set():
            store.commit(step(i))
            i += 1

    writer = threading.Thread(target=commit_on)
    writer.start()
    try:
        for n in range(5):
            assert main(["backup", str(store_path), str(tmp_path / f"copy-{n}.sqlite")]) == 0
    finally:
        stop.set()
        writer.join()
        store.close()
    for n in range(5):
        db = sqlite3.connect(tmp_path / f"copy-{n}.sqlite")
        (last,) = db.execute("SELECT value FROM params WHERE id = 10").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM rows_1000").fetchone()
        db.close()
        assert rows == int(last) + 1


def test_a_backup_refuses_what_it_cannot_do_well(tmp_path: Path, capsys) -> None:
    store_path, dest = tmp_path / "be.sqlite", tmp_path / "copy.sqlite"
    SQLiteStore(store_path, owner=BE).close()
    dest.write_bytes(b"an older backup")
    assert main(["backup", str(store_path), str(dest)]) == 1
    assert dest.read_bytes() == b"an older backup"
    assert main(["backup", str(tmp_path / "missing.sqlite"), str(tmp_path / "x.sqlite")]) == 2
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE notes (text)")
    assert main(["backup", str(other), str(tmp_path / "y.sqlite")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"connector backup: {dest} exists: a backup never overwrites a file",
        f"connector backup: {tmp_path / 'missing.sqlite'}: cannot read: no such store",
        f"connector backup: {other} is not an element's store (it has no meta and params tables)",
    ]
    assert not (tmp_path / "x.sqlite").exists() and not (tmp_path / "y.sqlite").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_a_stopped_store_is_left_as_it_was(tmp_path: Path) -> None:
    """No -wal or -shm file left beside it (a read-only connection would leave both)."""
    store_path = tmp_path / "be.sqlite"
    store = SQLiteStore(store_path, owner=BE)
    store.commit(step(0))
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if "lock" not in p.name) == ["be.sqlite"]
    assert main(["backup", str(store_path), str(tmp_path / "copy.sqlite")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if "lock" not in p.name) == ["be.sqlite", "copy.sqlite"]
