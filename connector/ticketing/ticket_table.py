"""Table-wide operations on Ticket Overview: what the buttons, the status parameters and the
scheduling of cycles read and change across all rows (one ticket's transitions are in
`connector.ticketing.tickets`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from connector.engine.table import Table
from connector.ticketing.cells import seconds
from connector.ticketing.tickets import (
    CHECK_EXISTING,
    COMPLETED,
    DAY,
    ERROR,
    IN_PROGRESS,
    LAST_UPDATE,
    LIVE_STATUSES,
    NEXT_TRY,
    OPERATION,
    OUTCOME_UNKNOWN,
    PLATFORM_TICKET,
    RECEIVED,
    RETRIES,
    SENT_AT,
    STATUS,
    STATUSES,
)


def _scan(table: Table, *columns: str) -> Iterable[tuple[str, tuple[Any, ...]]]:
    """(key, cells) for every row, reading only `columns` (cheaper than Table.row on 100k rows)."""
    for row in table.cells(*columns):
        yield row[0], row[1:]


def _is_ready(status: Any, next_try: Any, now: float) -> bool:
    return status in LIVE_STATUSES and seconds(next_try) <= now


def ready_keys(table: Table, now: float) -> list[str]:
    """Tickets the flow may work on now (Received / In Progress, Next Try passed), in table order."""
    return [key for key, (status, next_try) in _scan(table, STATUS, NEXT_TRY) if _is_ready(status, next_try, now)]


def has_ready_work(table: Table, now: float) -> bool:
    return any(_is_ready(status, next_try, now) for _, (status, next_try) in _scan(table, STATUS, NEXT_TRY))


def next_wake(table: Table, now: float) -> float | None:
    """The earliest future Next Try of a live ticket: when a cycle would next find work."""
    future = [
        seconds(next_try)
        for _, (status, next_try) in _scan(table, STATUS, NEXT_TRY)
        if status in LIVE_STATUSES and seconds(next_try) > now
    ]
    return min(future, default=None)


def watching(table: Table, now: float, window: float) -> bool:
    """Whether a ticket re-sent after an unknown outcome is still watched for a late twin."""
    return any(
        not unknown and sent_at and float(sent_at) + window > now
        for _, (unknown, sent_at) in _scan(table, OUTCOME_UNKNOWN, SENT_AT)
    )


def counts(table: Table) -> dict[str, int]:
    """Tickets per status, every status present (0 when none). The table keeps the tally, so
    this is not a scan: the receive path asks after every InterApp message."""
    tally = table.tally(STATUS)
    return {status: tally.get(status, 0) for status in STATUSES}


def retry_errors(table: Table, now: float, settle: float = 0.0) -> int:
    """Send every Error ticket back to the operation that failed. Returns how many.

    Retries go to 0 and Next Try is cleared, so the next cycle tries them at once. Outcome
    Unknown is kept on purpose: a ticket whose last try had no definite answer must still be
    looked up before it is sent again. Last Error is kept too (decision): it keeps telling the
    operator why the ticket had failed until the retry replaces it (a new failure) or clears it
    (the ticket moves on to its next operation).
    """
    moved = 0
    for key, (status, operation, unknown, sent_at) in list(_scan(table, STATUS, OPERATION, OUTCOME_UNKNOWN, SENT_AT)):
        if status != ERROR:
            continue
        # An unknown outcome still waits out its settle time before it is looked up.
        settled = float(sent_at or 0.0) + settle if unknown and sent_at else 0.0
        table.set_row(
            key,
            {
                STATUS: RECEIVED if operation == CHECK_EXISTING else IN_PROGRESS,
                RETRIES: 0,
                NEXT_TRY: settled if settled > now else 0.0,
                LAST_UPDATE: now,
            },
        )
        moved += 1
    return moved


Finished = tuple[str, float, str]  # a removed Completed ticket: its id, Last Update, Platform Ticket
KeepFinished = Callable[[list[Finished]], None]


def clear_completed(table: Table, keep: KeepFinished | None = None) -> int:
    """Remove every Completed ticket (handed to `keep` first). Returns how many."""
    return _remove_completed(table, keep, lambda updated: True)


def purge_completed(table: Table, now: float, retention_days: float, keep: KeepFinished | None = None) -> int:
    """Remove Completed tickets whose Last Update is older than `retention_days` (0: keep all)."""
    if not retention_days or retention_days <= 0:
        return 0
    cutoff = now - retention_days * DAY
    return _remove_completed(table, keep, lambda updated: updated < cutoff)


def _remove_completed(table: Table, keep: KeepFinished | None, doomed_at: Callable[[float], bool]) -> int:
    doomed = [
        (key, seconds(updated), str(platform_ticket or ""))
        for key, (status, updated, platform_ticket) in _scan(table, STATUS, LAST_UPDATE, PLATFORM_TICKET)
        if status == COMPLETED and doomed_at(seconds(updated))
    ]
    if keep is not None and doomed:
        keep(doomed)  # "already done" outlives the row (connector.ticketing.finished)
    table.delete_rows([key for key, _, _ in doomed])
    return len(doomed)
