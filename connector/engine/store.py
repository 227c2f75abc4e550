"""Durable state: saved parameters and saved table rows.

`Store` is the interface a backend implements; `SQLiteStore` is the default. The element
hands the runtime one `Persist` per step, and the runtime commits it as ONE transaction
before carrying out anything else of that step (a request, an acknowledgement): a change is
durable before anything that depends on it leaves the process.

SQLite settings: WAL with synchronous=FULL, so a commit survives power loss, and explicit
BEGIN IMMEDIATE so a transaction never fails half-way on a lock upgrade. A FULL commit costs
about 0.2 ms here; committing per step rather than per cell keeps that off the hot path.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Protocol as TypingProtocol

from connector.engine.element import Saved
from connector.engine.events import Persist

SCHEMA_VERSION = 1


class Store(TypingProtocol):
    def load(self) -> Saved: ...

    def commit(self, persist: Persist) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """A store that keeps everything in memory: for tests that restart an element."""

    def __init__(self) -> None:
        self.params: dict[int, object] = {}
        self.rows: dict[int, dict[str, dict[str, object]]] = {}
        self.commits = 0

    def load(self) -> Saved:
        return Saved(params=dict(self.params),
                     tables={tid: list(rows.items()) for tid, rows in self.rows.items()})

    def commit(self, persist: Persist) -> None:
        self.commits += 1
        self.params.update(persist.params)
        for delta in persist.tables:
            rows = self.rows.setdefault(delta.table, {})
            for key in delta.deleted:
                rows.pop(key, None)
            for key, cells in delta.written.items():
                rows[key] = {str(cid): value for cid, value in cells.items()}

    def close(self) -> None:
        pass


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
            CREATE TABLE IF NOT EXISTS rows (
                table_id INTEGER NOT NULL,
                key TEXT NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (table_id, key)
            );
            """
        )
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        self.commits = 0

    def load(self) -> Saved:
        params = {pid: json.loads(value) for pid, value in self._db.execute("SELECT id, value FROM params")}
        tables: dict[int, list[tuple[str, dict[str, object]]]] = {}
        # rowid order is first-insert order: an upsert keeps a row's rowid, so a table comes
        # back in the order its rows were added.
        for table_id, key, data in self._db.execute("SELECT table_id, key, data FROM rows ORDER BY rowid"):
            tables.setdefault(table_id, []).append((key, json.loads(data)))
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
                if delta.deleted:
                    db.executemany("DELETE FROM rows WHERE table_id = ? AND key = ?",
                                   [(delta.table, key) for key in delta.deleted])
                if delta.written:
                    db.executemany(
                        "INSERT INTO rows (table_id, key, data) VALUES (?, ?, ?) "
                        "ON CONFLICT(table_id, key) DO UPDATE SET data = excluded.data",
                        [(delta.table, key, json.dumps(cells, separators=(",", ":")))
                         for key, cells in delta.written.items()],
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.commits += 1

    def integrity(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._db.close()
