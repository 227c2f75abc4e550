"""`connector backup STORE DEST`: a consistent copy of an element's store, running or stopped.

A running element's store is more than its `.sqlite` file: committed steps may still be in its
`-wal` file, so copying the `.sqlite` alone loses them, and copying the files one after the other
while the element commits can pair a file with a log of another moment. SQLite's online backup
API (`sqlite3.Connection.backup`) copies the store as one read transaction sees it: every step
committed before the copy began, none after, without stopping the element (in WAL mode a reader
never blocks its writer).

The copy is written beside DEST, checked (`PRAGMA quick_check`), made durable, then renamed to
DEST: a DEST that exists is a whole, checked copy. It is a single file (rollback journal mode);
the element switches it back to WAL when it opens it. DEST is never overwritten.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from connector.commandline import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE
from connector.engine.storefile import sqlite_cause, sync_directory

if TYPE_CHECKING:
    from connector.commandline import Subparsers


class BackupError(Exception):
    """A backup that cannot be made; `code` is the command's exit code."""

    def __init__(self, message: str, code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.code = code


@frozen
class Backup:
    """What a backup copied."""

    element: str
    protocol: str
    rows: int
    size: int  # bytes

    def describe(self) -> str:
        return f"element {self.element!r} ({self.protocol}): {self.rows} rows, {self.size / 1024:.0f} KiB"


def backup(store: Path, dest: Path) -> Backup:
    """Copy `store` to `dest` consistently (see the module's docstring); BackupError if it cannot."""
    if not store.is_file() or store.stat().st_size == 0:
        raise BackupError(f"{store}: cannot read: no such store", EXIT_UNREADABLE)
    if dest.exists():
        raise BackupError(f"{dest} exists: a backup never overwrites a file")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)  # what an interrupted backup left
    try:
        source = _open_source(store)
        try:
            copied = _copy(source, partial)
        finally:
            source.close()
        os.replace(partial, dest)
        sync_directory(dest.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"{store} -> {dest}: {sqlite_cause(exc)}") from None
    except OSError as exc:
        raise BackupError(f"{exc.filename or dest}: cannot write: {exc.strerror or exc}", EXIT_UNREADABLE) from None
    finally:
        partial.unlink(missing_ok=True)
    return copied


def _open_source(store: Path) -> sqlite3.Connection:
    # Not read-only (mode=ro): a read-only connection leaves its -wal and -shm files behind a
    # stopped store. query_only instead: this connection changes nothing in it.
    source = sqlite3.connect(store)
    source.execute("PRAGMA query_only = 1")
    tables = {name for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"meta", "params"} <= tables:
        source.close()
        raise BackupError(f"{store} is not an element's store (it has no meta and params tables)")
    return source


def _copy(source: sqlite3.Connection, partial: Path) -> Backup:
    copy = sqlite3.connect(partial)
    try:
        source.backup(copy)  # in one step: one read transaction, one moment of the store
        copy.execute("PRAGMA journal_mode = DELETE")
        check = copy.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy fails its integrity check ({check}): the store may be damaged")
        meta = dict(copy.execute("SELECT key, value FROM meta").fetchall())
        names = [name for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = [copy.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names if name[:5] == "rows_"]
    finally:
        copy.close()
    with open(partial, "rb") as file:
        os.fsync(file.fileno())
    return Backup(
        element=str(meta.get("element", "?")),
        protocol=str(meta.get("protocol", "?")),
        rows=sum(counts),
        size=partial.stat().st_size,
    )


# -- the command -------------------------------------------------------------------------------


def add_backup(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="copy an element's store consistently, while it runs or not",
        description="Copy an element's store (STORE, its .sqlite file) to DEST through SQLite's backup API: "
        "every step committed before the copy began, whether the element runs or not. DEST must not exist.",
    )
    parser.add_argument("store", type=Path, metavar="STORE")
    parser.add_argument("dest", type=Path, metavar="DEST")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        copied = backup(args.store, args.dest)
    except BackupError as exc:
        print(f"connector backup: {exc}", file=sys.stderr)
        return exc.code
    print(f"{args.store} -> {args.dest}: {copied.describe()}; quick_check ok")
    return EXIT_OK
