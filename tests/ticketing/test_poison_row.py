"""One unreadable row sends its ticket to Error with the reason; the other tickets go on.

Regression (issue 11): one `Retries = 'abc'`, written into the store by hand, stopped every
cycle. The store loads the value as it is stored (tests/engine/test_store.py); the flow reads the
row as a Ticket marked `unreadable` (connector/ticketing/tickets.py) and sends it to Error alone
(connector/ticketing/rows.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connector.engine.store import SQLiteStore
from connector.engine.testing import FakeClock
from connector.ticketing import fake as fp
from connector.ticketing import tickets
from connector.ticketing.fake.inprocess import ticketing_element, ticketing_protocol
from connector.ticketing.ids import TICKET_OVERVIEW, ids
from tests.ticketing.test_element import batch, make_tickets, statuses

POISONED = "WM-000001"


def poison(path: Path, column: str, value: object) -> None:
    """Write one cell of Ticket Overview by hand, as an operator with sqlite3 would."""
    table = ticketing_protocol().table(TICKET_OVERVIEW)
    cid = table.column(column).id
    db = sqlite3.connect(path)
    with db:
        changed = db.execute(f"UPDATE rows_{table.id} SET c{cid} = ? WHERE key = ?", (value, POISONED)).rowcount
    db.close()
    assert changed == 1, "the poison reached the store"


def test_a_poison_row_goes_to_error_and_the_others_go_on(tmp_path: Path) -> None:
    clock = FakeClock()
    platform = fp.FakePlatform(seed=7, clock=clock.now)
    path = tmp_path / "be.sqlite"
    store = SQLiteStore(path)
    ticketing_element(platform, clock, store=store).set(9000000, batch(make_tickets(3)))
    store.close()
    poison(path, tickets.RETRIES, "abc")

    store = SQLiteStore(path)
    again = ticketing_element(platform, clock, store=store)
    table = again.element.view.tables[ids().ticket_overview]
    assert table.row(POISONED)[tickets.RETRIES] == "abc", "the store hands the value over as it is"
    again.set("Ticketing Processing", "Enabled")
    again.advance(120)
    assert statuses(again) == {tickets.COMPLETED: 2, tickets.ERROR: 1}
    row = table.row(POISONED)
    assert row[tickets.STATUS] == tickets.ERROR and tickets.RETRIES in row[tickets.LAST_ERROR]
    assert platform.incidents_by_external_id().keys() == {"WM-000000", "WM-000002"}
    store.close()
