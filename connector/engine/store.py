"""Durable state: saved parameters and saved table rows.

`Store` is the interface a backend implements; `SQLiteStore` is the default. The element
hands the runtime one `Persist` per step, and the runtime commits it as ONE transaction
before carrying out anything else of that step (a request, an acknowledgement): a change is
durable before anything that depends on it leaves the process.

Rows are stored in one SQL table per protocol table (`rows_1000`), one SQL column per saved
column (`c1002`), values as SQLite's own types: no JSON to encode per row, so committing a
batch of 100 rows costs about what inserting 100 tuples costs. A column the protocol gains
later is added with ALTER TABLE; one it loses is ignored on load.

SQLite settings: WAL with synchronous=FULL, so a commit survives power loss, and explicit
BEGIN IMMEDIATE so a transaction never fails half-way on a lock upgrade. A FULL commit costs
about 0.2 ms here; committing per step rather than per cell keeps that off the hot path.

Opening a store checks whose it is and that it is whole, and locks it for one process
(`connector.engine.storefile`). Every failure is a `StoreError` naming the file and sqlite's
own cause. A saved value is handed back as it is stored, whatever it is: a bad cell is the
connector's to judge for its row, and must not stop the element from starting.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Protocol as TypingProtocol

from connector.engine.events import Persist
from connector.engine.persist import Saved
from connector.engine.storefile import (
    SCHEMA_VERSION,
    StoreError,
    StoreLock,
    StoreOwner,
    open_database,
    sqlite_cause,
)

# An empty cell (None) is bound as NULL either way; without an adapter of its own, sqlite3 looks
# for one the slow way for every None it binds (a tuple built, a dict missed, then `__adapt__`
# and `__conform__` looked up and missed): 3,300 instructions a cell, 3% of a drain's CPU with
# two empty optional columns per row. An empty dict's `get` hands None back from C, with no
# Python frame. Process-wide, as sqlite3's adapters are; it changes nothing but that cost.
_NOTHING: dict[object, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)

__all__ = ["SCHEMA_VERSION", "MemoryStore", "SQLiteStore", "Store", "StoreError", "StoreOwner"]

log = logging.getLogger("connector.store")


class Store(TypingProtocol):
    def load(self) -> Saved: ...

    def commit(self, persist: Persist) -> None: ...

    def close(self) -> None: ...

    def meta(self, key: str) -> str | None:
        """A value of the element's own (its element id), kept beside its state."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...


class MemoryStore:
    """A store that keeps everything in memory: for tests that restart an element."""

    def __init__(self) -> None:
        self.params: dict[int, object] = {}
        self.rows: dict[int, dict[str, dict[int, object]]] = {}
        self.metadata: dict[str, str] = {}
        self.commits = 0

    def load(self) -> Saved:
        return Saved(params=dict(self.params), tables={tid: list(rows.items()) for tid, rows in self.rows.items()})

    def commit(self, persist: Persist) -> None:
        self.commits += 1
        self.params.update(persist.params)
        for delta in persist.tables:
            rows = self.rows.setdefault(delta.table, {})
            for key in delta.deleted:
                rows.pop(key, None)
            for key in delta.written:  # merged: a delta may hold some of a row's cells (TableDelta)
                rows.setdefault(key, {}).update(delta.cells(key))

    def close(self) -> None:
        pass

    def meta(self, key: str) -> str | None:
        return self.metadata.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.metadata[key] = value


class SQLiteStore:
    """An element's store in one SQLite file (and its -wal and -shm while open).

    Opening it checks whose it is and that it is whole, and holds its lock until `close`
    (`connector.engine.storefile`). `owner`: the element opening it; None for a tool that may
    read any store (it still takes the lock: never beside a running element).
    """

    def __init__(self, path: str | Path, owner: StoreOwner | None = None) -> None:
        self.path = Path(path)
        self._lock: StoreLock | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = StoreLock(self.path, owner)
            self._db = open_database(self.path, owner)
        except OSError as exc:  # a directory it may not write, a full disk while creating it
            self._release()
            where = f"{exc.filename}: " if exc.filename and str(exc.filename) != str(self.path) else ""
            raise StoreError(f"store {self.path}: cannot open it: {where}{exc.strerror or exc}") from None
        except BaseException:
            self._release()
            raise
        self._columns: dict[int, set[int]] = {}  # SQL columns known per table
        self._statements: dict[tuple[int, tuple[int, ...]], str] = {}
        self.commits = 0

    def load(self) -> Saved:
        try:
            rows = self._db.execute("SELECT id, value FROM params")
            params = {pid: saved_value(self.path, pid, value) for pid, value in rows}
            tables = {table_id: self._load_rows(table_id) for table_id in self._row_tables()}
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot load it: {sqlite_cause(exc)}") from None
        return Saved(params=params, tables=tables)

    def _load_rows(self, table_id: int) -> list[tuple[str, dict[int, object]]]:
        # Cells come back as SQLite holds them, whatever they hold (a value written by hand
        # included): what a cell means is the connector's to judge, per row, not the store's.
        columns = sorted(self._known_columns(table_id))
        select = "".join(f", c{cid}" for cid in columns)
        # rowid order is first-insert order: an upsert keeps a row's rowid, so a table
        # comes back in the order its rows were added.
        cursor = self._db.execute(f"SELECT key{select} FROM rows_{table_id} ORDER BY rowid")
        return [(key, dict(zip(columns, values, strict=True))) for key, *values in cursor]

    def commit(self, persist: Persist) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")  # inside: a busy or failing disk refuses it, named as such
            if persist.params:
                db.executemany(
                    "INSERT INTO params (id, value) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET value = excluded.value",
                    [(pid, json.dumps(value)) for pid, value in persist.params.items()],
                )
            for delta in persist.tables:
                self._ensure_table(delta.table, delta.columns[1:])
                if delta.deleted:
                    db.executemany(f"DELETE FROM rows_{delta.table} WHERE key = ?", [(key,) for key in delta.deleted])
                if delta.written:
                    db.executemany(self._upsert(delta.table, delta.columns[1:]), delta.written.values())
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._roll_back()
            raise StoreError(f"store {self.path}: cannot commit: {sqlite_cause(exc)}") from None
        except BaseException:
            self._roll_back()
            raise
        self.commits += 1

    def _roll_back(self) -> None:
        self._columns.clear()  # a CREATE or ALTER TABLE may have been rolled back with the rest
        # SQLite rolls some failures back itself (SQLITE_FULL, SQLITE_IOERR): a ROLLBACK then
        # would fail with "no transaction is active" and hide the real cause.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error being raised is the one to report
                self._db.execute("ROLLBACK")

    # -- schema -----------------------------------------------------------------------------

    def _row_tables(self) -> list[int]:
        names = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [int(name[5:]) for (name,) in names if name.startswith("rows_") and name[5:].isdigit()]

    def _known_columns(self, table_id: int) -> set[int]:
        known = self._columns.get(table_id)
        if known is None:
            info = self._db.execute(f"PRAGMA table_info(rows_{table_id})").fetchall()
            known = self._columns[table_id] = {int(row[1][1:]) for row in info if row[1] != "key"}
        return known

    def _ensure_table(self, table_id: int, columns: tuple[int, ...]) -> None:
        if table_id not in self._columns:
            name = f"rows_{table_id}"
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {name} (key TEXT PRIMARY KEY NOT NULL)")
            # Registered in the same transaction: a store that loses the table later is refused.
            self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, 'table')", (name,))
        known = self._known_columns(table_id)
        for cid in columns:
            if cid not in known:
                self._db.execute(f"ALTER TABLE rows_{table_id} ADD COLUMN c{cid}")
                known.add(cid)

    def _upsert(self, table_id: int, columns: tuple[int, ...]) -> str:
        statement = self._statements.get((table_id, columns))
        if statement is None:
            names = ["key", *(f"c{cid}" for cid in columns)]
            updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:]) or "key = excluded.key"
            statement = (
                f"INSERT INTO rows_{table_id} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT(key) DO UPDATE SET {updates}"
            )
            self._statements[(table_id, columns)] = statement
        return statement

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
        )

    def integrity(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._db.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def saved_value(where: object, pid: int, stored: object) -> object:
    """A saved parameter's value: JSON text as the store writes it; anything else as it is."""
    if not isinstance(stored, str):
        return stored
    try:
        return json.loads(stored)
    except ValueError:
        # Written by something else (by hand): the parameter gets the text, the element starts.
        log.warning("store %s: parameter %d holds %.60r, which is not JSON; taken as text", where, pid, stored)
        return stored
