"""The PostgreSQL store's own rules: whose a store is, the fence, one transaction, no password."""

from __future__ import annotations

import socket

import psycopg
import pytest

from connector.engine.events import Persist, TableDelta
from connector.engine.pg_schema import SCHEMA_VERSION
from connector.engine.store import StoreError, StoreOwner
from connector.engine.store_pg import LeaseLost, PostgresStore

BE = StoreOwner(element="BE 01", protocol="Ticketing BE")
ROW = Persist(
    params={10: 1}, tables=(TableDelta(table=1000, columns=(1001, 1002), written={"a": ("a", 1)}, deleted=()),)
)


def rows(store: PostgresStore) -> dict[str, object]:
    return dict(store.load().tables.get(1000, []))


def test_an_element_of_another_protocol_under_the_same_name_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url, owner=BE).close()
    with pytest.raises(StoreError, match="holds element 'BE 01' of protocol 'Ticketing BE', not of 'Other'"):
        PostgresStore(postgres_url, owner=StoreOwner(element="BE 01", protocol="Other"))
    PostgresStore(postgres_url, owner=StoreOwner(element="BE 02", protocol="Other")).close()


def test_elements_sharing_a_database_keep_their_state_apart(postgres_url: str) -> None:
    first, second = PostgresStore(postgres_url, owner=BE), PostgresStore(postgres_url, owner=StoreOwner("BE 02", "X"))
    first.commit(ROW)
    second.set_meta("element_id", "1/2")
    assert second.load().empty and first.meta("element_id") is None
    assert first.load().params == {10: 1} and second.meta("element_id") == "1/2"
    first.close()
    second.close()


def test_a_password_in_the_url_is_refused_without_being_quoted(postgres_url: str) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:hunter2@")
    with pytest.raises(StoreError) as refused:
        PostgresStore(with_password, owner=BE)
    assert "hunter2" not in str(refused.value) and "PGPASSWORD" in str(refused.value)


def test_an_unreachable_server_is_named_in_one_line() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match=rf"store postgresql://u@127.0.0.1:{port}/db: cannot connect: "):
        PostgresStore(f"postgresql://u@127.0.0.1:{port}/db", owner=BE, password="never-shown")


def test_a_schema_newer_than_this_connector_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url, owner=BE).close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE connector.schema_info SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema has version {SCHEMA_VERSION + 1}; this connector knows up to"):
        PostgresStore(postgres_url, owner=BE)


def test_a_commit_failing_half_way_keeps_nothing_of_its_step(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, owner=BE)
    store.commit(ROW)
    bad = Persist(  # NaN is no JSON PostgreSQL takes: the rows statement fails after the params one
        params={10: 2},
        tables=(TableDelta(table=1000, columns=(1001, 1002), written={"b": ("b", float("nan"))}, deleted=("a",)),),
    )
    with pytest.raises(StoreError, match="cannot commit: .*SQLSTATE"):
        store.commit(bad)
    with pytest.raises(TypeError):  # not storable at all: refused before the transaction
        store.commit(Persist(params={11: object()}, tables=()))
    store.commit(Persist(params={12: 3}, tables=()))  # the store goes on
    assert store.load().params == {10: 1, 12: 3} and list(rows(store)) == ["a"]
    store.close()


# -- the fence: a commit checks the lease's epoch in its own transaction ----------------------


def lease(url: str, element: str, epoch: int, seconds: float) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO connector.leases (element, agent, epoch, expires) "
            "VALUES (%s, 'a', %s, clock_timestamp() + make_interval(secs => %s)) "
            "ON CONFLICT (element) DO UPDATE SET epoch = excluded.epoch, expires = excluded.expires",
            (element, epoch, seconds),
        )


def test_a_store_commits_while_its_epoch_holds_the_lease_and_never_after(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, owner=BE, epoch=1)
    with pytest.raises(LeaseLost, match="its lease \\(epoch 1\\) is lost"):
        store.commit(ROW)  # no lease at all
    lease(postgres_url, "BE 01", epoch=1, seconds=30)
    store.commit(ROW)
    lease(postgres_url, "BE 01", epoch=2, seconds=30)  # another agent took it over
    with pytest.raises(LeaseLost):
        store.commit(Persist(params={10: 99}, tables=()))
    lease(postgres_url, "BE 01", epoch=1, seconds=-1)  # the epoch again, but expired
    with pytest.raises(LeaseLost):
        store.commit(Persist(params={10: 98}, tables=()))
    assert store.load().params == {10: 1}
    store.close()


def test_a_takeover_waits_for_the_commit_that_passed_the_fence(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, owner=BE, epoch=1)
    lease(postgres_url, "BE 01", epoch=1, seconds=30)
    with psycopg.connect(postgres_url, autocommit=True) as other:
        other.execute("SET lock_timeout = '200ms'")
        with store._db.transaction():  # a commit in flight: the fence taken, not yet committed
            store._db.execute("SELECT connector.fence(%s, %s)", ("BE 01", 1))
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("UPDATE connector.leases SET epoch = 2 WHERE element = 'BE 01'")
    store.close()
