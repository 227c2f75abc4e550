"""An element's store in PostgreSQL: what `SQLiteStore` keeps, in a database several agents share.

`store: postgresql://USER@HOST:PORT/DB` in the element YAML (or `connector run --store`) picks
it. The shared schema (`connector.engine.pg_schema`) is created or migrated on first use; an
element's state is keyed by its name, and the `stores` row says whose it is: an element of
another protocol under the same name is refused, as SQLite refuses another element's file.

A commit is one transaction, sent in one round trip (psycopg's pipeline mode): the fence (when
the store runs under a lease: `epoch`), the parameters, then per table the deleted keys and the
written rows, each as one statement over arrays. A fence that fails raises `LeaseLost` and
nothing of the step is kept. A cell keeps its JSON type (text, number, null). A row's cells are
one `json` value (kept as written: cheaper to store than `jsonb`, and nothing queries inside it),
replaced whole when the row is written again: a step writes every saved column of a row.

Failures are `StoreError`s naming the store by its URL without anything secret, with
PostgreSQL's own cause and SQLSTATE.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import psycopg

from connector.engine.events import Persist
from connector.engine.persist import Saved
from connector.engine.pg_connect import connect, pg_cause, prepare_schema, shown_url
from connector.engine.pg_schema import FENCE_SQLSTATE, SCHEMA
from connector.engine.store import saved_value
from connector.engine.storefile import StoreError, StoreOwner

__all__ = ["LeaseLost", "PostgresStore"]


class LeaseLost(StoreError):
    """The commit's fence failed: another agent owns the element now, or the lease expired."""


# Each statement takes its rows as ONE JSON document, parsed by PostgreSQL: psycopg escapes the
# items of a text array one by one in Python (30 ms for 100 rows), json.dumps does it all in C.
# Rows go as a JSON array of [key, cells], parsed once: an array keeps its order, so a table's
# rows are inserted, and numbered, in the order the step wrote them.
_PARAMS = (
    f"INSERT INTO {SCHEMA}.params (element, id, value) "
    "SELECT %s, e.key::integer, e.value::text FROM json_each(%s::json) AS e "
    "ON CONFLICT (element, id) DO UPDATE SET value = excluded.value"
)
_DELETE = (
    f"DELETE FROM {SCHEMA}.rows WHERE element = %s AND table_id = %s "
    "AND key IN (SELECT json_array_elements_text(%s::json))"
)
_UPSERT = (
    f"INSERT INTO {SCHEMA}.rows AS r (element, table_id, key, cells) "
    "SELECT %s, %s, e->>0, e->1 FROM json_array_elements(%s::json) WITH ORDINALITY AS a(e, n) ORDER BY a.n "
    # Merged: a delta may hold some of a row's cells (TableDelta); a whole row replaces them all.
    "ON CONFLICT (element, table_id, key) DO UPDATE SET cells = (r.cells::jsonb || excluded.cells::jsonb)::json"
)


class PostgresStore:
    """One element's state in a shared PostgreSQL database (see the module's docstring).

    `password`: handed to libpq alone (None: PGPASSWORD or none). `epoch`: the lease epoch every
    commit checks (None: no lease; a single agent's tools and tests).
    """

    def __init__(self, url: str, owner: StoreOwner, *, password: str | None = None, epoch: int | None = None) -> None:
        self.url = url
        self.where = shown_url(url)
        self.owner = owner
        self.epoch = epoch
        self.commits = 0
        self.acks: list[int] = []  # inbox messages the next commit marks applied (connector.service.cluster)
        self._db = connect(url, password, purpose=owner.element)
        try:
            prepare_schema(self._db, self.where)
            self._claim()
        except BaseException:
            self._db.close()
            raise

    def _claim(self) -> None:
        try:
            with self._db.transaction():
                self._db.execute(
                    f"INSERT INTO {SCHEMA}.stores (element, protocol) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (self.owner.element, self.owner.protocol),
                )
                row = self._db.execute(
                    f"SELECT protocol FROM {SCHEMA}.stores WHERE element = %s", (self.owner.element,)
                ).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"store {self.where}: cannot open it: {pg_cause(exc)}") from None
        protocol = str(row[0]) if row else self.owner.protocol
        if protocol != self.owner.protocol:
            raise StoreError(
                f"store {self.where} holds element {self.owner.element!r} of protocol {protocol!r}, "
                f"not of {self.owner.protocol!r}: give each element a name of its own"
            )

    def load(self) -> Saved:
        element = self.owner.element
        try:
            with self._db.transaction():  # one snapshot: parameters and rows of the same commit
                self._db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                params = self._db.execute(f"SELECT id, value FROM {SCHEMA}.params WHERE element = %s", (element,))
                values = {int(str(pid)): saved_value(self.where, int(str(pid)), value) for pid, value in params}
                rows = self._db.execute(
                    f"SELECT table_id, key, cells FROM {SCHEMA}.rows WHERE element = %s ORDER BY table_id, seq",
                    (element,),
                )
                tables: dict[int, list[tuple[str, dict[int, object]]]] = {}
                for table_id, key, cells in rows:
                    assert isinstance(cells, dict)
                    cells_by_id = {int(cid): value for cid, value in cells.items()}
                    tables.setdefault(int(str(table_id)), []).append((str(key), cells_by_id))
        except psycopg.Error as exc:
            raise StoreError(f"store {self.where}: cannot load {element!r}: {pg_cause(exc)}") from None
        return Saved(params=values, tables=tables)

    def commit(self, persist: Persist) -> None:
        element = self.owner.element
        statements = self._statements(element, persist)  # before the transaction: a TypeError changes nothing
        acks, self.acks = self.acks, []
        try:
            with self._db.pipeline(), self._db.transaction():
                if self.epoch is not None:
                    self._db.execute(f"SELECT {SCHEMA}.fence(%s, %s)", (element, self.epoch))
                for query, params in statements:
                    self._db.execute(query, params)
                if acks:
                    self._db.execute(
                        f"UPDATE {SCHEMA}.inbox SET applied = now() WHERE id = ANY(%s::bigint[]) AND applied IS NULL",
                        (acks,),
                    )
        except psycopg.Error as exc:
            self._after_failure()
            if getattr(exc, "sqlstate", None) == FENCE_SQLSTATE:
                raise LeaseLost(
                    f"store {self.where}: element {element!r}: its lease (epoch {self.epoch}) is lost; not committed"
                ) from None
            raise StoreError(f"store {self.where}: cannot commit: {pg_cause(exc)}") from None
        self.commits += 1

    @staticmethod
    def _statements(element: str, persist: Persist) -> list[tuple[str, tuple[Any, ...]]]:
        statements: list[tuple[str, tuple[Any, ...]]] = []
        if persist.params:
            statements.append((_PARAMS, (element, json.dumps({str(pid): v for pid, v in persist.params.items()}))))
        for delta in persist.tables:
            if delta.deleted:
                statements.append((_DELETE, (element, delta.table, json.dumps(delta.deleted))))
            if delta.written:
                names = [str(cid) for cid in delta.columns[1:]]
                rows = [(key, dict(zip(names, cells[1:], strict=True))) for key, cells in delta.written.items()]
                statements.append((_UPSERT, (element, delta.table, json.dumps(rows))))
        return statements

    def _after_failure(self) -> None:
        # The runtime stops an element whose commit failed; a lease holder may reopen the store
        # later. Leave the connection idle, if it is still there, so that close() is clean.
        with contextlib.suppress(psycopg.Error):
            if not self._db.closed and self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self._db.rollback()

    def meta(self, key: str) -> str | None:
        try:
            row = self._db.execute(
                f"SELECT value FROM {SCHEMA}.meta WHERE element = %s AND key = %s", (self.owner.element, key)
            ).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"store {self.where}: cannot read {key!r}: {pg_cause(exc)}") from None
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        try:
            self._db.execute(
                f"INSERT INTO {SCHEMA}.meta VALUES (%s, %s, %s) "
                "ON CONFLICT (element, key) DO UPDATE SET value = excluded.value",
                (self.owner.element, key, value),
            )
        except psycopg.Error as exc:
            raise StoreError(f"store {self.where}: cannot write {key!r}: {pg_cause(exc)}") from None

    def close(self) -> None:
        self._db.close()
