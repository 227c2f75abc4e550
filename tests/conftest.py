"""Fixtures shared by every suite: the contract samples from ../shared/contracts/samples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg import fresh_database

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "contracts" / "samples"


def sample_text(name: str) -> str:
    """The raw text of a contract sample, e.g. sample_text("ticket-batch.json")."""
    path = SAMPLES / name
    if not path.exists():
        pytest.fail(f"contract sample {path} is missing: the shared/ folder must sit beside the checkout")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def ticket_batch() -> str:
    return sample_text("ticket-batch.json")


@pytest.fixture
def ticket_batch_mixed() -> str:
    return sample_text("ticket-batch-mixed.json")


@pytest.fixture
def ticket_batch_response() -> dict[str, Any]:
    return json.loads(sample_text("ticket-batch-response.json"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (tests.pg: skipped locally without a server)."""
    yield from fresh_database()
