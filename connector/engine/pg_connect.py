"""Reaching PostgreSQL: the store's URL, its password kept out of it, and the schema made ready.

A store URL is `postgresql://USER@HOST:PORT/DB`. The password is never part of it: it comes
from `PGPASSWORD` (libpq reads it), or is handed over by the caller (read from `env:`/`file:`),
and is given to libpq alone, never written to a message or the store. A URL that carries one
is refused, without quoting it.

Every connection has the same limits, so that a database that stops answering costs a
bounded wait (a commit blocks its element's step): a connect timeout, TCP keepalives and a
TCP user timeout for a lost peer, and statement and lock timeouts for a stuck one.
"""

from __future__ import annotations

import psycopg
from psycopg import conninfo

from connector.engine.pg_schema import CREATE_INFO, MIGRATION_LOCK, MIGRATIONS, SCHEMA, SCHEMA_VERSION
from connector.engine.storefile import StoreError

URL_SCHEMES = ("postgresql://", "postgres://")
TIMEOUT_SECONDS = 3  # connect, statement and lock waits: well inside a lease's time to live


def is_postgres_url(text: str) -> bool:
    return text.startswith(URL_SCHEMES)


def shown_url(url: str) -> str:
    """`postgresql://USER@HOST:PORT/DB`, whatever else the URL holds (never a password)."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


def check_url(url: str) -> None:
    """StoreError unless `url` is a PostgreSQL URL without a password."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise StoreError(f"store {shown_url(url)}: not a PostgreSQL URL (postgresql://USER@HOST:PORT/DB)") from None
    if params.get("password"):
        raise StoreError(
            f"store {shown_url(url)}: the URL holds a password; give it through PGPASSWORD or "
            "`store_password: env:NAME` / `file:PATH`, never in the URL"
        )


def connect(url: str, password: str | None, *, purpose: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection in autocommit mode (transactions are opened explicitly), with the limits above."""
    try:
        return psycopg.connect(connection_settings(url, password, purpose=purpose), autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"store {shown_url(url)}: cannot connect: {pg_cause(exc)}") from None


def connection_settings(url: str, password: str | None, *, purpose: str) -> str:
    """libpq's connection string for `url`, with the limits above and the password (never shown)."""
    check_url(url)
    milliseconds = TIMEOUT_SECONDS * 1000
    return conninfo.make_conninfo(
        url,
        connect_timeout=TIMEOUT_SECONDS,
        application_name=f"connector {purpose}"[:63],
        keepalives=1,
        keepalives_idle=2,
        keepalives_interval=1,
        keepalives_count=2,
        tcp_user_timeout=milliseconds,
        options=f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        password=password or None,  # None: PGPASSWORD, or no password
    )


def pg_cause(exc: BaseException) -> str:
    """PostgreSQL's own words for an error, on one line, with its SQLSTATE when it has one."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    state = getattr(exc, "sqlstate", None)
    return f"{text} (SQLSTATE {state})" if state else text


def prepare_schema(db: psycopg.Connection[tuple[object, ...]], where: str) -> None:
    """Create or migrate the shared schema (see connector.engine.pg_schema); StoreError when too new."""
    try:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            db.execute(CREATE_INFO.encode())
            row = db.execute(f"SELECT version FROM {SCHEMA}.schema_info").fetchone()
            version = int(str(row[0])) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {where}: its schema has version {version}; this connector knows up to {SCHEMA_VERSION}: "
                    "upgrade the connector"
                )
            for migration in MIGRATIONS[version:]:
                db.execute(migration.encode())
            if version < SCHEMA_VERSION:
                db.execute(f"UPDATE {SCHEMA}.schema_info SET version = %s", (SCHEMA_VERSION,))
    except psycopg.Error as exc:
        raise StoreError(f"store {where}: cannot prepare its schema: {pg_cause(exc)}") from None
