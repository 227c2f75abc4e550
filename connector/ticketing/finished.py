"""What answers "already done" once a Completed ticket's row is gone: the Finished Tickets table.

*Clear Completed* and the retention purge remove Completed rows from Ticket Overview. Without a
trace of them, a WM re-send of the same tickets would be accepted as new and every noted ticket
would get a second note. So each removed row leaves a compact entry (ticket id, finished at =
its Last Update, platform ticket) in the saved table Finished Tickets, and the receive path
answers an id found there as a duplicate, as it does for an id still in Ticket Overview.

An entry is kept `KEEP_FACTOR` times the retention, and at least `KEEP_LEAST_DAYS` days (a
retention of 0 keeps the rows themselves, so nothing is purged on its account); the hourly
clean-up purges older entries.
"""

from __future__ import annotations

from typing import Any

from connector.engine.table import Table
from connector.ticketing import ticket_table
from connector.ticketing import tickets as tk

TICKET_ID = "Ticket ID"
FINISHED_AT = "Finished At"
PLATFORM_TICKET = "Platform Ticket"

KEEP_FACTOR = 10.0  # an entry outlives its row's retention this many times...
KEEP_LEAST_DAYS = 90.0  # ... and is kept at least this many days


def keeper(finished: Table) -> ticket_table.KeepFinished:
    """What `ticket_table.clear_completed` / `purge_completed` hand their removed rows to."""

    def keep(rows: list[ticket_table.Finished]) -> None:
        for key, finished_at, platform_ticket in rows:
            cells: dict[int | str, Any] = {FINISHED_AT: finished_at, PLATFORM_TICKET: platform_ticket}
            if not finished.add_row(key, cells):
                finished.set_row(key, cells)  # finished again (re-received after an expiry): the latest

    return keep


def is_finished(finished: Table, ticket_id: str) -> bool:
    """Whether `ticket_id` was Completed here and its row removed since."""
    return ticket_id in finished


def keep_days(retention_days: float) -> float:
    return max(KEEP_FACTOR * max(retention_days, 0.0), KEEP_LEAST_DAYS)


def purge(finished: Table, now: float, retention_days: float) -> int:
    """Remove the entries finished more than `keep_days(retention_days)` ago. Returns how many."""
    cutoff = now - keep_days(retention_days) * tk.DAY
    position = finished.position(FINISHED_AT)
    doomed = [key for key in finished.keys() if float(finished.raw_cells(key)[position] or 0.0) < cutoff]  # noqa: SIM118
    finished.delete_rows(doomed)
    return len(doomed)
