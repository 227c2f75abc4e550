"""A PostgreSQL database of its own for each test that needs one.

The server comes from CONNECTOR_TEST_PG (`.ci/postgres` starts a throwaway one and sets it);
each test gets a new database on it, dropped afterwards. Without the variable the tests skip
locally, and fail under CI (CI=true): there they must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo

SERVER_ENV = "CONNECTOR_TEST_PG"


def server_url() -> str:
    url = os.environ.get(SERVER_ENV)
    if not url:
        reason = f"{SERVER_ENV} is not set: run under `.ci/postgres` (it starts a throwaway PostgreSQL)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def database_url(server: str, name: str) -> str:
    params = conninfo.conninfo_to_dict(server)
    params["dbname"] = name
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{params.get('host', '')}:{params.get('port', 5432)}/{name}"


def fresh_database() -> Iterator[str]:
    """A new empty database's URL, dropped when the test is done."""
    server = server_url()
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
