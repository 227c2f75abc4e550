"""Ticketing BE's fake of its platform (Cherwell and SFyC behind one host), for demos and tests.

Not a sibling of the real clients: nothing in the production modules imports it. The public
interface is what this module exports; `platform` documents the contract's quirks and the
fault semantics, `server` the HTTP side, `inprocess` an element wired to the fake without
sockets, `demo` what `connector demo` runs.
"""

from connector.ticketing.fake.answers import FakeAnswer, LoggedRequest
from connector.ticketing.fake.data import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    Incident,
    Note,
    WorkOrder,
)
from connector.ticketing.fake.faults import CALL_OPERATIONS, ITEM_OPERATIONS, OPERATIONS, SAVE_OPERATIONS, Faults
from connector.ticketing.fake.platform import FakePlatform
from connector.ticketing.fake.server import AnswerLost, create_app, run

__all__ = [
    "CALL_OPERATIONS",
    "DEFAULT_API_KEY",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "ITEM_OPERATIONS",
    "OPERATIONS",
    "SAVE_OPERATIONS",
    "AnswerLost",
    "FakeAnswer",
    "FakePlatform",
    "Faults",
    "Incident",
    "LoggedRequest",
    "Note",
    "WorkOrder",
    "create_app",
    "run",
]
