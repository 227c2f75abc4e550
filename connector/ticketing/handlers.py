"""The Ticketing BE handlers (DataMiner's QActions), bound in protocol.yaml.

They are glue: the receive path stores tickets, and a processing cycle
(`connector.ticketing.flow.run_cycle`, a generator of platform calls) is driven through the
element's HTTP sessions, one request per group, so that the engine's queue, persistence and
status parameters see every request exactly as they would in DataMiner:

    call = cycle.send(reply)   ->  set Request Path / Request Body / auth header parameters
                               ->  check_trigger(Send <session>)  -> execute next <group>
    group answered             ->  after-group trigger -> platform_response -> cycle.send(...)

Because the element commits what a step changed before it sends the step's request, every
table change the cycle makes before yielding a call is durable when the call leaves.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

from attrs import define, field

from connector.engine.context import HandlerContext
from connector.engine.events import HttpResult
from connector.engine.interapp import serialize_call
from connector.ticketing import messages, tickets
from connector.ticketing.calls import PlatformCall, PlatformReply
from connector.ticketing.flow import CycleReport, FlowSettings, PlatformSession, run_cycle

# Ids in protocol.yaml (tests/ticketing/test_protocol_yaml.py checks they agree).
TICKET_OVERVIEW = 1000
PROCESSING, MAX_RETRIES, BATCH_SIZE, RETRY_DELAY, RETENTION, CONCURRENCY = 10, 12, 14, 16, 20, 22
CLIENT_ID, USERNAME, PASSWORD, API_KEY = 30, 32, 34, 36
RECEIVED_COUNT, PENDING_COUNT, COMPLETED_COUNT, ERROR_COUNT = 40, 41, 42, 43
CYCLE_START, CYCLE_DURATION, CYCLE_RESULT = 44, 45, 46
LOGIN_STATE, REQUESTS_SENT = 48, 49
REQUEST_PATH, REQUEST_BODY, AUTH_HEADER, KEY_HEADER = 100, 101, 102, 103
INTERAPP_RECEIVE = 9000000
PROCESS_NOW = 3  # trigger: queue the Processing group (execute one top)
PARALLEL_ANSWERED = 29  # trigger: every request of a parallel set is answered
RETRY_TIMER = 3
SESSION_IDS = {"login": 1, "metadata": 2, "search": 3, "add_note": 4, "create_ticket": 5,
               "create_ot": 6, "lookup_ot": 7, "update_ticket_ot": 8}
SEND_TRIGGERS = {name: 10 + sid for name, sid in SESSION_IDS.items()}  # "Send <session>" triggers
HEADER_PARAMS = {"authorization": AUTH_HEADER, "x-api-key": KEY_HEADER}
ENABLED = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@define
class CycleState:
    """What the handlers keep between runs (element memory: lost on restart, by design —
    after a restart the table alone says where every ticket is)."""

    session: PlatformSession = field(factory=PlatformSession)
    rng: random.Random = field(factory=random.Random)
    cycle: Generator[PlatformCall | list[PlatformCall], PlatformReply | list[PlatformReply], CycleReport] | None = None
    call: PlatformCall | list[PlatformCall] | None = None
    parallel_set: int | None = None
    started: float = 0.0
    requests: int = 0


def _state(protocol: HandlerContext) -> CycleState:
    state = protocol.memory.get("ticketing")
    if state is None:
        # Seeded by the element's name: runs are reproducible, and elements still differ.
        state = protocol.memory["ticketing"] = CycleState(rng=random.Random(protocol.element_name))
    return state


def _settings(protocol: HandlerContext) -> FlowSettings:
    return FlowSettings(
        max_retries=int(protocol.get(MAX_RETRIES)),
        batch_size=int(protocol.get(BATCH_SIZE)),
        retry_delay=float(protocol.get(RETRY_DELAY)),
        client_id=protocol.get(CLIENT_ID) or "",
        username=protocol.get(USERNAME) or "",
        password=protocol.get(PASSWORD) or "",
        api_key=protocol.get(API_KEY) or "",
        concurrency=int(protocol.get(CONCURRENCY) or 1),
    )


# -- start-up, buttons, clean-up --------------------------------------------------------------


def after_startup(protocol: HandlerContext) -> None:
    _refresh_counts(protocol)
    missing = [name for pid, name in ((CLIENT_ID, "Cherwell Client ID"), (USERNAME, "Cherwell Username"),
                                      (PASSWORD, "Cherwell Password"), (API_KEY, "SFyC API Key"))
               if not protocol.get(pid)]
    if missing:
        protocol.log(f"not configured yet: {', '.join(missing)}; tickets are received but cannot be sent", "warning")
    protocol.log(f"started with {len(protocol.table(TICKET_OVERVIEW))} tickets; Ticketing Processing "
                 f"{'Enabled' if protocol.get(PROCESSING) == ENABLED else 'Disabled'}")


def processing_changed(protocol: HandlerContext) -> None:
    if protocol.get(PROCESSING) == ENABLED:
        protocol.check_trigger(PROCESS_NOW)
    # Disabled: a running cycle stops before its next request (see _advance).


def retry_errors(protocol: HandlerContext) -> None:
    count = tickets.retry_errors(protocol.table(TICKET_OVERVIEW), protocol.now())
    protocol.log(f"Retry Errors: {count} tickets go back to the operation that failed")
    _refresh_counts(protocol)
    if count and protocol.get(PROCESSING) == ENABLED:
        protocol.check_trigger(PROCESS_NOW)


def clear_completed(protocol: HandlerContext) -> None:
    count = tickets.clear_completed(protocol.table(TICKET_OVERVIEW))
    protocol.log(f"Clear Completed: {count} tickets removed")
    _refresh_counts(protocol)


def clean_up(protocol: HandlerContext) -> None:
    days = float(protocol.get(RETENTION) or 0)
    count = tickets.purge_completed(protocol.table(TICKET_OVERVIEW), protocol.now(), days)
    if count:
        protocol.log(f"removed {count} Completed tickets older than {days:g} days")
        _refresh_counts(protocol)


def _refresh_counts(protocol: HandlerContext) -> None:
    counts = tickets.counts(protocol.table(TICKET_OVERVIEW))
    for pid, status in ((RECEIVED_COUNT, tickets.RECEIVED), (PENDING_COUNT, tickets.IN_PROGRESS),
                        (COMPLETED_COUNT, tickets.COMPLETED), (ERROR_COUNT, tickets.ERROR)):
        protocol.set(pid, counts.get(status, 0))


# -- the receive path -------------------------------------------------------------------------


def interapp_receive(protocol: HandlerContext) -> None:
    """Store the tickets of an InterApp call and reply to its return address.

    The reply is an effect of this step, so the element commits the new rows before the
    reply (the acknowledgement) leaves: stored durably before acknowledged.
    """
    raw = protocol.get(INTERAPP_RECEIVE) or ""
    table = protocol.table(TICKET_OVERVIEW)
    now = protocol.now()
    stored = 0
    for batch in messages.parse_batches(raw, max_bytes=MAX_MESSAGE_BYTES):
        if batch.error is not None:
            protocol.log(f"InterApp message {batch.guid or '(no guid)'} refused: {batch.error}", "warning")
            _reply(protocol, batch.return_address, serialize_call([batch.reply()]))
            continue
        accepted: list[str] = []
        duplicates: list[str] = []
        for ticket in batch.tickets:
            # AddRow semantics: an existing key (earlier, or earlier in this batch) stays as it is.
            if table.add_row(ticket.ticket_id, _cells(ticket, now)):
                accepted.append(ticket.ticket_id)
            else:
                duplicates.append(ticket.ticket_id)
        stored += len(accepted)
        if batch.rejected:
            first = batch.rejected[0]
            protocol.log(f"InterApp message {batch.guid}: {len(batch.rejected)} tickets rejected, first: "
                         f"{first.ticket_id}: {first.reason}", "warning")
        _reply(protocol, batch.return_address, serialize_call([batch.reply(accepted=accepted, duplicates=duplicates)]))
    if stored:
        protocol.set(RECEIVED_COUNT, int(protocol.get(RECEIVED_COUNT) or 0) + stored)
        if protocol.get(PROCESSING) == ENABLED:
            protocol.check_trigger(PROCESS_NOW)


def _cells(ticket: messages.Ticket, now: float) -> dict[str, Any]:
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


def _reply(protocol: HandlerContext, address: Any, raw: str) -> None:
    # No return address: the reply still goes out with an empty target, so that the
    # runtime can hand it to whoever set 9000000 (the management API answers with it).
    target = f"{address.agent_id}/{address.element_id}" if address is not None else ""
    parameter = address.parameter_id if address is not None else 9000001
    protocol.send_interapp(target, raw, parameter)


# -- the processing cycle ---------------------------------------------------------------------


def process_tickets(protocol: HandlerContext) -> None:
    """Start a cycle unless one is running, processing is disabled or nothing is ready."""
    state = _state(protocol)
    if state.cycle is not None or protocol.get(PROCESSING) != ENABLED:
        return
    table = protocol.table(TICKET_OVERVIEW)
    now = protocol.now()
    if not tickets.has_ready_work(table, now):
        _wake_for_retries(protocol)
        return
    state.cycle = run_cycle(table, _settings(protocol), state.session, protocol.now, state.rng)
    state.started = now
    state.requests = 0
    protocol.set(CYCLE_START, now)
    _advance(protocol, state, None)


def platform_response(protocol: HandlerContext) -> None:
    state = _state(protocol)
    if state.parallel_set is not None:
        results = protocol.parallel_results(state.parallel_set)
        state.parallel_set = None
        if state.cycle is not None:
            _advance(protocol, state, [_platform_reply(result) for result in results])
        return
    if state.cycle is None or not isinstance(state.call, PlatformCall):
        return  # an answer that outlived its cycle (e.g. after Disabled): nothing waits for it
    _advance(protocol, state, _platform_reply(protocol.last_result(SESSION_IDS[state.call.session])))


def _platform_reply(result: HttpResult | None) -> PlatformReply:
    if result is None or result.error is not None:
        return PlatformReply(status=0, error=result.error if result else "lost", reason=result.detail if result else "")
    return PlatformReply(status=result.status, reason=result.reason, body=result.body)


def _advance(protocol: HandlerContext, state: CycleState,
             reply: PlatformReply | list[PlatformReply] | None) -> None:
    assert state.cycle is not None
    try:
        if protocol.get(PROCESSING) != ENABLED:
            state.cycle.close()
            _finish(protocol, state, None, "Stopped: Ticketing Processing was disabled")
            return
        call = next(state.cycle) if reply is None else state.cycle.send(reply)
    except StopIteration as done:
        _finish(protocol, state, done.value, None)
        return
    except Exception as exc:  # a bug must not wedge the element: end the cycle, say why
        protocol.log(f"processing cycle failed: {type(exc).__name__}: {exc}", "error")
        state.cycle = None
        _finish(protocol, state, None, f"Failed: {type(exc).__name__}")
        return
    state.call = call
    calls = call if isinstance(call, list) else [call]
    state.requests += len(calls)
    protocol.set(REQUESTS_SENT, int(protocol.get(REQUESTS_SENT) or 0) + len(calls))
    if isinstance(call, list):
        # Max Concurrent Requests > 1: the batches go out together, outside the group queue.
        state.parallel_set = protocol.send_parallel(
            [(SESSION_IDS[c.session], {"path": c.path, "body": c.body, "headers": dict(c.headers)}) for c in calls],
            PARALLEL_ANSWERED)
        return
    protocol.set(REQUEST_PATH, call.path)
    protocol.set(REQUEST_BODY, call.body or "")
    for key, value in call.headers.items():
        pid = HEADER_PARAMS.get(key.lower())
        if pid is not None:
            protocol.set(pid, value)
    protocol.check_trigger(SEND_TRIGGERS[call.session])


def _finish(protocol: HandlerContext, state: CycleState, report: CycleReport | None, result: str | None) -> None:
    state.cycle = None
    state.call = None
    state.parallel_set = None
    now = protocol.now()
    protocol.set(CYCLE_DURATION, round(now - state.started, 3))
    protocol.set(CYCLE_RESULT, result if result is not None else (report.result if report else ""))
    protocol.set(LOGIN_STATE, state.session.describe())
    _refresh_counts(protocol)
    table = protocol.table(TICKET_OVERVIEW)
    # While ready work remains the next cycle starts at once; a cycle that sent nothing
    # could not progress, so do not spin on it: the timers will try again.
    if state.requests and protocol.get(PROCESSING) == ENABLED and tickets.has_ready_work(table, now):
        protocol.check_trigger(PROCESS_NOW)
    else:
        _wake_for_retries(protocol)


def _wake_for_retries(protocol: HandlerContext) -> None:
    now = protocol.now()
    wake = tickets.next_wake(protocol.table(TICKET_OVERVIEW), now)
    if wake is not None and protocol.get(PROCESSING) == ENABLED:
        protocol.start_timer(RETRY_TIMER, after=max(wake - now, 0.0))
