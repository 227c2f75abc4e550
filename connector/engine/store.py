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
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Protocol as TypingProtocol

from connector.engine.events import Persist
from connector.engine.persist import Saved

SCHEMA_VERSION = 1


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
            for key in delta.written:
                rows[key] = delta.cells(key)

    def close(self) -> None:
        pass

    def meta(self, key: str) -> str | None:
        return self.metadata.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.metadata[key] = value


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open every transaction ourselves, with BEGIN IMMEDIATE.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS params (id INTEGER PRIMARY KEY, value TEXT);
            """
        )
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        self._columns: dict[int, set[int]] = {}  # SQL columns known per table
        self._statements: dict[tuple[int, tuple[int, ...]], str] = {}
        self.commits = 0

    def load(self) -> Saved:
        params = {pid: json.loads(value) for pid, value in self._db.execute("SELECT id, value FROM params")}
        tables: dict[int, list[tuple[str, dict[int, object]]]] = {}
        for table_id in self._row_tables():
            columns = sorted(self._known_columns(table_id))
            select = ", ".join(f"c{cid}" for cid in columns)
            rows = tables.setdefault(table_id, [])
            # rowid order is first-insert order: an upsert keeps a row's rowid, so a table
            # comes back in the order its rows were added.
            for key, *values in self._db.execute(
                f"SELECT key{', ' + select if select else ''} FROM rows_{table_id} ORDER BY rowid"
            ):
                rows.append((key, dict(zip(columns, values, strict=True))))
        return Saved(params=params, tables=tables)

    def commit(self, persist: Persist) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
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
        except BaseException:
            db.execute("ROLLBACK")
            self._columns.clear()  # an ALTER TABLE may have been rolled back with the rest
            raise
        self.commits += 1

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
            self._db.execute(f"CREATE TABLE IF NOT EXISTS rows_{table_id} (key TEXT PRIMARY KEY NOT NULL)")
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
