"""What a Ticketing BE cycle tells: its end line, the events it reported on the way, and the
duplicates it found (a warning, the Duplicates Detected counter, a row in Duplicates).
"""

from __future__ import annotations

from typing import Any

from connector.engine.context import HandlerContext
from connector.ticketing.cycle_state import CycleState, scrub
from connector.ticketing.flow import CycleReport
from connector.ticketing.ids import ids


def log_cycle_end(
    protocol: HandlerContext, state: CycleState, report: CycleReport, duration: float, result: str
) -> None:
    fields: dict[str, Any] = {
        "duration": duration,
        "requests": report.request_count,
        "created": report.tickets_created,
        "noted": report.notes_added,
        "ots": report.ots_created,
        "completed": report.completed,
        "failed": report.failed,
        "errors": report.errors,
    }
    message = (
        f"cycle ended in {duration:g} s: {report.request_count} requests, created {report.tickets_created}, "
        f"noted {report.notes_added}, completed {report.completed}, errors {report.errors}"
    )
    if report.timeout:
        wait = round(state.retry_at - protocol.monotonic(), 3)
        fields |= {"timeout": state.timeout, "next_try_in": wait}
        message = (
            f"cycle ended in {duration:g} s after {report.request_count} requests: the platform is down "
            f"({state.timeout}); tried again in {wait:.1f} s"
        )
        protocol.log(message, "warning", event="cycle_end", result=result, **fields)
        return
    protocol.log(message, event="cycle_end", result=result, **fields)


def log_events(protocol: HandlerContext, state: CycleState) -> None:
    """What the cycle reported since the last step, one line each; ticket ids at DEBUG."""
    if state.report is None:
        return
    for event in state.report.take_events(int(protocol.get(ids().max_retries))):
        fields = dict(event.fields)
        keys = fields.pop("ids", None)
        message = scrub(protocol, event.message)
        fields = {k: scrub(protocol, v) if isinstance(v, str) else v for k, v in fields.items()}
        protocol.log(message, event.level, event=event.event, **fields)
        if keys:
            protocol.log(
                f"{event.event} {fields.get('operation', '')}: {', '.join(keys)}", "debug", event=event.event, ids=keys
            )


def record_duplicates(protocol: HandlerContext, report: CycleReport) -> None:
    """Each extra found once: a warning, Duplicates Detected + 1, a row in Duplicates. Found
    again in later cycles (it stays open until an operator closes it), it changes nothing."""
    table = protocol.table(ids().duplicates)
    now = protocol.now()
    new = 0
    for duplicate in report.duplicates:
        cells: dict[int | str, Any] = {"Kind": duplicate.kind, "Ticket ID": duplicate.ticket, "Kept": duplicate.kept}
        cells["Detected At"] = now
        if table.add_row(duplicate.key, cells):
            new += 1
            protocol.log(
                f"duplicate detected: {duplicate.describe()}; close the extra",
                "warning",
                event="duplicate_detected",
                kind=duplicate.kind,
                ticket=duplicate.ticket,
                kept=duplicate.kept,
                extra=duplicate.extra,
            )
    if new:
        protocol.set(ids().duplicates_detected, int(protocol.get(ids().duplicates_detected) or 0) + new)
