"""A PostgreSQL database of its own for each test that needs one.

The server comes from CONNECTOR_TEST_PG (`.ci/postgres` starts a throwaway one and sets it);
each test gets a new database on it, dropped afterwards. Without the variable the tests skip
locally, and fail under CI (CI=true): there they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tools.chaos.agents import fresh_database as database_on

SERVER_ENV = "CONNECTOR_TEST_PG"


def server_url() -> str:
    url = os.environ.get(SERVER_ENV)
    if not url:
        reason = f"{SERVER_ENV} is not set: run under `.ci/postgres` (it starts a throwaway PostgreSQL)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def fresh_database() -> Iterator[str]:
    """A new empty database's URL, dropped when the test is done."""
    with database_on(server_url(), prefix="test") as url:
        yield url
