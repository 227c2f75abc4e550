"""Opening an element's SQLite store: whose it is, one process at a time, and nothing that is not one.

A store says whose it is: its `meta` table holds the schema version, the element's name and its
protocol's name, written on first use. An element opening another element's store is refused.

A store is held by one process at a time: an exclusive `flock` on `<store>.lock`, beside it, held
from open to close. The kernel releases it when the process dies, even by SIGKILL, so a crash
never leaves a stale lock; the lock file itself stays (deleting it would race with the next
opener) and holds the holder's pid and element name, for the message that refuses a second one.

An existing file is never taken for a new store: a 0-byte file, a file without the store's
tables, one that lacks a rows table it once had (each rows table is registered in `meta` in the
transaction that creates it), or one that fails `PRAGMA quick_check` is refused. A new store is
built beside its final path and renamed into place, so a crash while creating one leaves no
half-made store behind.

Every refusal is a `StoreError` whose message names the file and the cause.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from pathlib import Path
from typing import IO

from attrs import frozen

SCHEMA_VERSION = 2  # 2: meta says whose the store is and which rows tables it has
ROWS_PREFIX = "rows_"  # a rows table's name, and its registration key in `meta`
_CORE_TABLES = ("meta", "params")
_RESTORE_HINT = "restore a backup (see the README), or remove the file to start the element afresh"


class StoreError(Exception):
    """A store that cannot be opened, read or committed to. The message names the file and the cause."""


@frozen
class StoreOwner:
    """Whose a store is: the element's name and its protocol's name."""

    element: str
    protocol: str


def sqlite_cause(exc: sqlite3.Error) -> str:
    """sqlite's own words for an error, with its code: "database or disk is full (SQLITE_FULL)"."""
    code = getattr(exc, "sqlite_errorname", None)
    return f"{exc} ({code})" if code else str(exc)


# -- the lock ----------------------------------------------------------------------------------


class StoreLock:
    """The exclusive lock on `<store>.lock`, for as long as the store is open."""

    __slots__ = ("path", "_file")

    def __init__(self, store: Path, owner: StoreOwner | None) -> None:
        self.path = store.with_name(store.name + ".lock")
        # "a+": create it if need be, never truncate it before we hold the lock.
        file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(file)
            file.close()
            raise StoreError(
                f"store {store} is in use by {holder}: a store is held by one process, for one element, at a time"
            ) from None
        _write_holder(file, {"pid": os.getpid(), "element": owner.element if owner else None})
        self._file: IO[str] | None = file

    def release(self) -> None:
        if self._file is not None:
            # Emptied first: a holder's pid must not outlive its hold.
            _write_holder(self._file, None)
            self._file.close()
            self._file = None


def _write_holder(file: IO[str], holder: dict[str, object] | None) -> None:
    with contextlib.suppress(OSError):  # only the refusal's message depends on it
        file.seek(0)
        file.truncate()
        if holder is not None:
            file.write(json.dumps(holder))
        file.flush()


def _holder(file: IO[str]) -> str:
    """Who holds the lock, as far as its file says: "element 'BE 01' (pid 4242)"."""
    try:
        file.seek(0)
        holder = json.loads(file.read() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict):
        holder = {}
    pid, element = holder.get("pid"), holder.get("element")
    who = f"element {element!r}" if isinstance(element, str) else "another process"
    if not isinstance(pid, int):
        return f"{who} (pid unknown)"
    return f"{who} (pid {pid}, this process)" if pid == os.getpid() else f"{who} (pid {pid})"


# -- opening -----------------------------------------------------------------------------------


def open_database(path: Path, owner: StoreOwner | None) -> sqlite3.Connection:
    """The store's connection, checked (see the module's docstring); the caller holds its lock.

    `owner`: the element opening it (None for a tool that reads any store).
    """
    if not path.exists():
        _create(path, owner)
    elif path.stat().st_size == 0:
        raise StoreError(f"store {path} is empty (0 bytes), not a store: {_RESTORE_HINT}")
    db = connect(path)
    try:
        _check(db, path, owner)
    except sqlite3.Error as exc:  # a file that is not a database, an I/O error
        db.close()
        raise StoreError(f"store {path}: cannot read it: {sqlite_cause(exc)}") from None
    except BaseException:
        db.close()
        raise
    return db


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the store's settings: WAL, synchronous=FULL, transactions opened by hand."""
    try:
        # isolation_level=None: every transaction is opened by the store, with BEGIN IMMEDIATE.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except BaseException:
            db.close()
            raise
    except sqlite3.Error as exc:
        raise StoreError(f"store {path}: cannot open it: {sqlite_cause(exc)}") from None
    return db


def _create(path: Path, owner: StoreOwner | None) -> None:
    """A new store at `path`: made whole beside it, then renamed into place."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # SQLite would replay it into the new file: another store's pages in this one.
        raise StoreError(f"store {path} is missing but its write-ahead log {wal} is there: {_RESTORE_HINT}")
    new = path.with_name(path.name + ".new")
    for leftover in (new, new.with_name(new.name + "-wal"), new.with_name(new.name + "-shm")):
        leftover.unlink(missing_ok=True)  # a crash during an earlier first start
    db = connect(new)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE params (id INTEGER PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        if owner is not None:
            _write_owner(db, owner)
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(f"store {path}: cannot create it: {sqlite_cause(exc)}") from None
    finally:
        db.close()  # the last connection: its log is checkpointed into the file and removed
    os.replace(new, path)
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(db: sqlite3.Connection, path: Path, owner: StoreOwner | None) -> None:
    problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchmany(3)]
    if problems != ["ok"]:
        raise StoreError(f"store {path} fails its integrity check ({'; '.join(problems)}): {_RESTORE_HINT}")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [name for name in _CORE_TABLES if name not in tables]
    if missing:
        raise StoreError(f"store {path} lacks its tables ({', '.join(missing)}): not a connector store, or damaged")
    meta = {str(key): str(value) for key, value in db.execute("SELECT key, value FROM meta")}
    schema = meta.get("schema", "1")
    if not schema.isdigit() or int(schema) > SCHEMA_VERSION:
        raise StoreError(f"store {path} has schema version {schema!r}; this connector reads up to {SCHEMA_VERSION}")
    lost = sorted(key for key in meta if key.startswith(ROWS_PREFIX) and key not in tables)
    if lost:
        raise StoreError(f"store {path} lacks the table(s) {', '.join(lost)} it had: damaged; {_RESTORE_HINT}")
    _check_owner(meta, path, owner)
    if int(schema) < SCHEMA_VERSION or (owner is not None and "element" not in meta):
        _upgrade(db, tables, owner)


def _check_owner(meta: dict[str, str], path: Path, owner: StoreOwner | None) -> None:
    if owner is None or "element" not in meta:
        return
    stored = StoreOwner(element=meta["element"], protocol=meta.get("protocol", ""))
    if stored != owner:
        raise StoreError(
            f"store {path} belongs to element {stored.element!r} (protocol {stored.protocol!r}), "
            f"not to {owner.element!r} (protocol {owner.protocol!r}): give each element a store of its own"
        )


def _upgrade(db: sqlite3.Connection, tables: set[str], owner: StoreOwner | None) -> None:
    """Schema 1 to 2: register the rows tables there are, and say whose the store is."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT OR IGNORE INTO meta VALUES (?, 'table')",
            [(name,) for name in tables if name.startswith(ROWS_PREFIX)],
        )
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        if owner is not None:
            _write_owner(db, owner)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _write_owner(db: sqlite3.Connection, owner: StoreOwner) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)", [("element", owner.element), ("protocol", owner.protocol)]
    )
