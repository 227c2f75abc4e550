"""What `connector demo` shows: both elements' progress while it runs, and the summary at the end.

Read from the elements' views only (the tables and parameters an operator sees through the API
and the card), so the demo shows what the product shows.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group
from rich.table import Table as RichTable

from connector.service.runtime import ElementHost
from connector.ticketing import fake as fp
from connector.ticketing import ticket_table, tickets
from connector.ticketing.fake.writes import written_twice
from connector.ticketing_wm import outbox

TICKET_OVERVIEW = 1000


def progress(wm: ElementHost, be: ElementHost, *, handed: Mapping[str, int], elapsed: float) -> Group:
    """Two tables, one an element: WM's delivery states, BE's ticket statuses."""
    sent = outbox.counts(wm.view.tables[outbox.TABLE])
    wm_table = RichTable(title=f"{wm.name} -> {be.name}: {elapsed:4.1f} s", title_justify="left")
    for column in ("in: API/folder", *outbox.STATES, "batches", "again"):
        wm_table.add_column(column, justify="right")
    wm_table.add_row(
        f"{handed.get('API', 0)}/{handed.get('Drop Folder', 0)}",
        *(str(sent[state]) for state in outbox.STATES),
        str(_number(wm, "Batches Sent")),
        str(_number(wm, "Tickets Sent Again")),
    )
    statuses = ticket_table.counts(be.view.tables[TICKET_OVERVIEW])
    be_table = RichTable(title=f"{be.name} -> Cherwell/SFyC", title_justify="left")
    for column in ("received from WM", *tickets.STATUSES, "requests sent"):
        be_table.add_column(column, justify="right")
    be_table.add_row(
        str(_number(be, "Tickets Received Total")),
        *(str(statuses[status]) for status in tickets.STATUSES),
        str(_number(be, "Requests Sent")),
    )
    return Group(wm_table, be_table)


def summary(
    wm: ElementHost, be: ElementHost, platform: fp.FakePlatform, *, seeded: int, offered: int, elapsed: float
) -> RichTable:
    sent = outbox.counts(wm.view.tables[outbox.TABLE])
    statuses = ticket_table.counts(be.view.tables[TICKET_OVERVIEW])
    rows = {
        "tickets offered to WM": offered,
        "rejected by WM at intake": sent[outbox.REJECTED],
        "WM -> BE batches": _number(wm, "Batches Sent"),
        "sent again (unanswered)": _number(wm, "Tickets Sent Again"),
        "acknowledged by BE": sent[outbox.ACKNOWLEDGED],
        "received by BE": _number(be, "Tickets Received Total"),
        "notes": len(platform.notes),
        "created": len(platform.incidents) - seeded,
        "OTs": len(platform.work_orders),
        "completed": statuses[tickets.COMPLETED],
        "on the platform twice": len(written_twice(platform)),
        "errors": statuses[tickets.ERROR],
        "requests": _number(be, "Requests Sent"),
        "faults injected": sum(platform.injected.values()),
        "time": f"{elapsed:.1f} s",
    }
    table = RichTable(title="Summary", show_header=False)
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


def _number(host: ElementHost, param: str) -> int:
    return int(host.view.get(param) or 0)
