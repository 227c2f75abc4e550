"""The Ticketing BE handlers (DataMiner's QActions), bound in protocol.yaml.

They are glue: the receive path stores tickets, and a processing cycle
(`connector.ticketing.flow.run_cycle`, a generator of platform calls) is driven through the
element's HTTP sessions, one request per group, so that the engine's queue, persistence and
status parameters see every request exactly as they would in DataMiner:

    round = cycle.send(replies)  ->  one call: set Request Path / Request Body / auth header
                                    parameters -> check_trigger(Send <session>) -> its group
                                    several calls: one parallel set
    answered                     ->  after-group trigger -> platform_response -> cycle.send(...)

The rules of that exchange (SEND, SEND_AND_WORK with its deferred Continue Cycle, COLLECT, and
"answers first") are the table in `connector.ticketing.states`; the driver here checks every
step against it.

Because the element commits what a step changed before it sends the step's request, every
table change the cycle makes before yielding a call is durable when the call leaves.
"""

from __future__ import annotations

from typing import Any

from connector.contracts import ticket_batch
from connector.engine.context import HandlerContext
from connector.engine.events import HttpResult
from connector.engine.interapp import DEFAULT_MAX_BYTES, serialize_call
from connector.engine.table import Table
from connector.protocol.model import INTERAPP_RECEIVE
from connector.ticketing import duplicates, finished, ticket_table, tickets
from connector.ticketing.calls import NOT_YET, NotYet, PlatformCall, PlatformReply, Replies, RoundKind
from connector.ticketing.cycle_log import log_cycle_end, log_events, record_duplicates
from connector.ticketing.cycle_state import (
    ENABLED,
    CycleState,
    ParamJournal,
    cycle_state,
    cycle_waits,
    flow_settings,
    scrub,
    scrubber,
    settle_time,
)
from connector.ticketing.flow import CycleReport, run_cycle
from connector.ticketing.ids import PARAMS, ids
from connector.ticketing.states import EVENT_OF_ROUND, Event, next_phase, step_to

# -- start-up, buttons, clean-up --------------------------------------------------------------


def after_startup(protocol: HandlerContext) -> None:
    _refresh_counts(protocol)
    needed = ("client_id", "username", "password", "api_key")
    missing = [PARAMS[field] for field in needed if not protocol.get(getattr(ids(), field))]
    if missing:
        protocol.log(f"not configured yet: {', '.join(missing)}; tickets are received but cannot be sent", "warning")
    protocol.log(
        f"started with {len(protocol.table(ids().ticket_overview))} tickets; Ticketing Processing "
        f"{'Enabled' if protocol.get(ids().processing) == ENABLED else 'Disabled'}"
    )


def processing_changed(protocol: HandlerContext) -> None:
    if protocol.get(ids().processing) == ENABLED:
        protocol.check_trigger(ids().process_now)
        return
    # Disabled: a running cycle stops before its next request (see _advance), and an element
    # that talks to nothing is not in timeout.
    state = cycle_state(protocol)
    if state.timeout is not None:
        state.timeout, state.down_cycles, state.retry_at = None, 0, 0.0
        protocol.set_timeout(None)


def credentials_changed(protocol: HandlerContext) -> None:
    """New credentials while in timeout: try them now, not when the backoff says."""
    state = cycle_state(protocol)
    state.session.forget_token()
    if state.timeout is not None and protocol.get(ids().processing) == ENABLED:
        state.retry_at = 0.0
        protocol.check_trigger(ids().process_now)


def retry_errors(protocol: HandlerContext) -> None:
    count = ticket_table.retry_errors(protocol.table(ids().ticket_overview), protocol.now(), settle_time(protocol))
    protocol.log(f"Retry Errors: {count} tickets go back to the operation that failed")
    _refresh_counts(protocol)
    if count and protocol.get(ids().processing) == ENABLED:
        protocol.check_trigger(ids().process_now)


def clear_completed(protocol: HandlerContext) -> None:
    count = ticket_table.clear_completed(
        protocol.table(ids().ticket_overview), finished.keeper(protocol.table(ids().finished_tickets))
    )
    protocol.log(f"Clear Completed: {count} tickets removed")
    _refresh_counts(protocol)


def clean_up(protocol: HandlerContext) -> None:
    days = float(protocol.get(ids().retention) or 0)
    done = protocol.table(ids().finished_tickets)
    count = ticket_table.purge_completed(
        protocol.table(ids().ticket_overview), protocol.now(), days, finished.keeper(done)
    )
    if count:
        protocol.log(f"removed {count} Completed tickets older than {days:g} days")
        _refresh_counts(protocol)
    forgotten = finished.purge(done, protocol.now(), days)
    if forgotten:
        protocol.log(f"forgot {forgotten} finished ticket ids older than {finished.keep_days(days):g} days")


def _refresh_counts(protocol: HandlerContext) -> None:
    counts = ticket_table.counts(protocol.table(ids().ticket_overview))
    for pid, status in (
        (ids().received_count, tickets.RECEIVED),
        (ids().pending_count, tickets.IN_PROGRESS),
        (ids().completed_count, tickets.COMPLETED),
        (ids().error_count, tickets.ERROR),
    ):
        protocol.set(pid, counts.get(status, 0))


# -- the receive path -------------------------------------------------------------------------


def interapp_receive(protocol: HandlerContext) -> None:
    """Store the tickets of an InterApp call and reply to its return address.

    The reply is an effect of this step, so the element commits the new rows before the
    reply (the acknowledgement) leaves: stored durably before acknowledged.
    """
    raw = protocol.get(INTERAPP_RECEIVE) or ""
    table = protocol.table(ids().ticket_overview)
    done = protocol.table(ids().finished_tickets)
    now = protocol.now()
    stored = 0
    for batch in ticket_batch.parse_batches(raw, max_bytes=DEFAULT_MAX_BYTES):
        if batch.error is not None:
            protocol.log(f"InterApp message {batch.guid or '(no guid)'} refused: {batch.error}", "warning")
            ticket_batch.reply_to(protocol, batch.return_address, serialize_call([batch.reply()]))
            continue
        accepted: list[str] = []
        duplicates: list[str] = []
        for ticket in batch.tickets:
            # AddRow semantics: an existing key (earlier, or earlier in this batch) stays as it is;
            # one finished and removed since (Clear Completed, retention) is done already.
            if not finished.is_finished(done, ticket.ticket_id) and table.add_row(
                ticket.ticket_id, _cells(ticket, now)
            ):
                accepted.append(ticket.ticket_id)
            else:
                duplicates.append(ticket.ticket_id)
        stored += len(accepted)
        for result, count in (("accepted", accepted), ("duplicate", duplicates), ("rejected", batch.rejected)):
            protocol.count("connector_interapp_tickets_total", len(count), result=result)
        if batch.rejected:
            first = batch.rejected[0]
            protocol.log(
                f"InterApp message {batch.guid}: {len(batch.rejected)} tickets rejected, first: "
                f"{first.ticket_id}: {first.reason}",
                "warning",
            )
        ticket_batch.reply_to(
            protocol, batch.return_address, serialize_call([batch.reply(accepted=accepted, duplicates=duplicates)])
        )
    if stored:
        protocol.set(ids().received_total, int(protocol.get(ids().received_total) or 0) + stored)
        _refresh_counts(protocol)
        if protocol.get(ids().processing) == ENABLED:
            protocol.check_trigger(ids().process_now)


def _cells(ticket: ticket_batch.Ticket, now: float) -> dict[int | str, Any]:
    return {
        tickets.CATEGORY: ticket.category,
        tickets.NODE: ticket.node,
        tickets.SUMMARY: ticket.summary,
        tickets.PRIORITY: ticket.priority,
        tickets.STATUS: tickets.RECEIVED,
        tickets.OPERATION: tickets.CHECK_EXISTING,
        tickets.RETRIES: 0,
        tickets.LAST_ERROR: "",
        tickets.RECEIVED_AT: now,
        tickets.LAST_UPDATE: now,
        tickets.DESCRIPTION: ticket.description or "",
        tickets.DETECTED_AT: ticket.detected_at.timestamp() if ticket.detected_at else None,
        tickets.AFFECTED_CUSTOMERS: ticket.affected_customers,
        tickets.OUTCOME_UNKNOWN: 0,
    }


# -- the processing cycle ---------------------------------------------------------------------


def process_tickets(protocol: HandlerContext) -> None:
    """Start a cycle unless one is running, processing is disabled or nothing is ready."""
    state = cycle_state(protocol)
    if state.cycle is not None or protocol.get(ids().processing) != ENABLED:
        return
    table = protocol.table(ids().ticket_overview)
    now = protocol.now()
    if state.timeout is not None and protocol.monotonic() < state.retry_at:
        # In timeout: the platform is tried again when the backoff says, not at every new
        # batch or timer (the Retry Timer wakes us then).
        protocol.start_timer(ids().retry_timer, after=state.retry_at - protocol.monotonic())
        return
    if not cycle_waits(protocol).has_ready_work(table) and not _watching(protocol, table, now):
        _wake_for_retries(protocol)
        return
    state.report = CycleReport()
    state.cycle = run_cycle(
        table,
        flow_settings(protocol),
        state.session,
        protocol.now,
        state.rng,
        ParamJournal(protocol),
        state.report,
        waits=state.waits,
    )
    state.started = protocol.monotonic()
    state.requests = 0
    protocol.set(ids().cycle_start, now)
    _resume(protocol, state, Event.START, None)


def platform_response(protocol: HandlerContext) -> None:
    """The answer to what the cycle sent (a session group's, or a whole parallel set's)."""
    state = cycle_state(protocol)
    if state.parallel_set is not None:
        replies = tuple(_platform_reply(result) for result in protocol.parallel_results(state.parallel_set))
    elif state.out:
        replies = (_platform_reply(protocol.last_result(ids().sessions[state.out[0].session])),)
    else:
        return  # an answer that outlived its cycle (e.g. after Disabled): nothing waits for it
    state.out, state.parallel_set = (), None
    if state.timeout is not None and any(reply.ok for reply in replies):
        state.timeout = None  # the platform answers again (the backoff resets when a cycle ends well)
        protocol.set_timeout(None)
    _resume(protocol, state, Event.REPLIES, replies)


def continue_cycle(protocol: HandlerContext) -> None:
    """The cycle's SEND_AND_WORK round is on the wire: let it do its work (unless its answers
    came first)."""
    _resume(protocol, cycle_state(protocol), Event.CONTINUE, NOT_YET)


def _platform_reply(result: HttpResult | None) -> PlatformReply:
    if result is None or result.error is not None:
        return PlatformReply(status=0, error=result.error if result else "lost", reason=result.detail if result else "")
    return PlatformReply(status=result.status, reason=result.reason, body=result.body)


def _resume(protocol: HandlerContext, state: CycleState, event: Event, answer: Replies | NotYet | None) -> None:
    """Resume the cycle with `answer` (None: start it) and send its next round, or end it."""
    phase = next_phase(state.phase, event)
    if phase is None:
        return  # late (a Continue Cycle after its answers): changes nothing
    state.phase = phase
    assert state.cycle is not None
    try:
        if protocol.get(ids().processing) != ENABLED:
            state.cycle.close()
            _finish(protocol, state, None, "Stopped: Ticketing Processing was disabled")
            return
        sent = next(state.cycle) if answer is None else state.cycle.send(answer)
        state.phase = step_to(state.phase, EVENT_OF_ROUND[sent.kind])
    except StopIteration as done:
        log_events(protocol, state)
        _finish(protocol, state, done.value, None)
        return
    except Exception as exc:  # a bug must not wedge the element: end the cycle, say why
        protocol.log(scrubber(protocol, state)(f"processing cycle failed: {type(exc).__name__}: {exc}"), "error")
        _finish(protocol, state, None, f"Failed: {type(exc).__name__}")
        return
    log_events(protocol, state)
    if sent.calls:
        _send(protocol, state, sent.calls)
    if sent.kind is RoundKind.SEND_AND_WORK:
        # The cycle goes on in a step of its own, after this step's commit (the journal entries
        # of these calls' batches) and the requests have left.
        protocol.defer(ids().continue_cycle)


def _send(protocol: HandlerContext, state: CycleState, calls: tuple[PlatformCall, ...]) -> None:
    state.out = calls
    state.requests += len(calls)
    protocol.set(ids().requests_sent, int(protocol.get(ids().requests_sent) or 0) + len(calls))
    if len(calls) > 1:
        # Several batches at once (Max Concurrent Requests > 1): outside the group queue.
        state.parallel_set = protocol.send_parallel(
            [(ids().sessions[c.session], {"path": c.path, "body": c.body, "headers": dict(c.headers)}) for c in calls],
            ids().parallel_answered,
        )
        return
    # One request: the DataMiner way, through its session's parameters and group.
    (single,) = calls
    protocol.set(ids().request_path, single.path)
    protocol.set(ids().request_body, single.body or "")
    for key, value in single.headers.items():
        pid = ids().headers.get(key.lower())
        if pid is not None:
            protocol.set(pid, value)
    protocol.check_trigger(ids().send_triggers[single.session])


def _finish(protocol: HandlerContext, state: CycleState, report: CycleReport | None, result: str | None) -> None:
    state.phase = step_to(state.phase, Event.END if report is not None else Event.STOP)
    state.cycle = None
    state.report = None
    state.out, state.parallel_set = (), None
    for unreadable in report.unreadable if report is not None else ():
        protocol.log(f"ticket sent to Error: {unreadable}", "error", event="unreadable_row")
    duration = round(protocol.monotonic() - state.started, 3)
    shown = scrub(protocol, result if result is not None else (report.result if report else ""))
    protocol.set(ids().cycle_duration, duration)
    protocol.set(ids().cycle_result, shown)
    protocol.set(ids().login_state, scrub(protocol, state.session.describe()))
    protocol.observe("connector_cycle_duration_seconds", duration)
    if result is None and report is not None and report.result == "OK":
        protocol.set(ids().last_success, protocol.now())
    if report is not None:
        record_duplicates(protocol, report)
    _refresh_counts(protocol)
    if report is not None and report.timeout:
        _platform_down(protocol, state, scrub(protocol, report.timeout))
    elif report is not None and report.request_count:
        state.down_cycles, state.retry_at = 0, 0.0
        if state.timeout is not None:
            state.timeout = None
            protocol.set_timeout(None)  # the platform answered
    if report is not None and report.request_count:
        log_cycle_end(protocol, state, report, duration, shown)
    elif result is not None:
        protocol.log(f"cycle ended in {duration:g} s: {shown}", event="cycle_end", duration=duration, result=shown)
    table = protocol.table(ids().ticket_overview)
    # While ready work remains the next cycle starts at once; a cycle that sent nothing
    # could not progress, so do not spin on it: the timers will try again. Nor on a platform
    # that is down: the backoff says when (`_platform_down`).
    if report is not None and report.timeout:
        return
    if state.requests and protocol.get(ids().processing) == ENABLED and cycle_waits(protocol).has_ready_work(table):
        protocol.check_trigger(ids().process_now)
    else:
        _wake_for_retries(protocol)


def _platform_down(protocol: HandlerContext, state: CycleState, reason: str) -> None:
    """The element into timeout (or still in it), and the cycle tried again after a backoff:
    Retry Delay doubled per cycle that found the platform down, at most 300 s, jittered."""
    state.down_cycles += 1
    base = float(protocol.get(ids().retry_delay) or 0) or 1.0  # 0 would hammer a platform that is down
    delay = tickets.backoff(state.down_cycles, base, state.rng.uniform(0.8, 1.0))
    state.retry_at = protocol.monotonic() + delay
    if state.timeout != reason:
        protocol.set_timeout(reason)
    state.timeout = reason
    protocol.set(ids().communication_state, f"Timeout: {reason}")
    if protocol.get(ids().processing) == ENABLED:
        protocol.start_timer(ids().retry_timer, after=delay)


def _watching(protocol: HandlerContext, table: Table, now: float) -> bool:
    """A re-sent ticket's late twin may still land: a cycle looks for it (`duplicates`)."""
    return ticket_table.watching(table, now, duplicates.watch_window(settle_time(protocol)))


def _wake_for_retries(protocol: HandlerContext) -> None:
    wait = cycle_waits(protocol).next_wait(protocol.table(ids().ticket_overview))  # monotonic: no jump moves it
    if wait is not None and protocol.get(ids().processing) == ENABLED:
        protocol.start_timer(ids().retry_timer, after=max(wait, 0.0))
