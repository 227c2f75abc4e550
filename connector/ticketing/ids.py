"""The protocol.yaml ids the Ticketing BE handlers use, looked up by name, once.

protocol.yaml is the one definition of every id; the handlers name what they need (the names
below) and `Ids.from_protocol` finds the ids, so renumbering the file cannot leave a handler
pointing at the wrong parameter. A name that is missing fails the first handler run with a
message that says which one.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from attrs import frozen

from connector.protocol.loader import load_protocol
from connector.protocol.model import Protocol
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.calls import SESSIONS

# The connector's protocol file, as the package carries it (also in a wheel).
PROTOCOL_FILE = PROTOCOL_YAML

# Parameter (and table) names, by the attribute of `Ids` that holds their id.
PARAMS = {
    "processing": "Ticketing Processing",
    "max_retries": "Max Retries",
    "batch_size": "Max Tickets Per Request",
    "retry_delay": "Retry Delay",
    "retention": "Completed Retention",
    "concurrency": "Max Concurrent Requests",
    "client_id": "Cherwell Client ID",
    "username": "Cherwell Username",
    "password": "Cherwell Password",
    "api_key": "SFyC API Key",
    "received_total": "Tickets Received Total",
    "received_count": "Tickets Waiting",
    "pending_count": "Tickets Pending",
    "completed_count": "Tickets Completed",
    "error_count": "Tickets Error",
    "cycle_start": "Last Cycle Start",
    "cycle_duration": "Last Cycle Duration",
    "cycle_result": "Last Cycle Result",
    "login_state": "Platform Login State",
    "communication_state": "Communication State",
    "requests_sent": "Requests Sent",
    "last_success": "Last Successful Cycle",
    "request_path": "Request Path",
    "request_body": "Request Body",
    "auth_header": "Authorization Header",
    "key_header": "SFyC Key Header",
    "in_flight": "In Flight",
    "settle_time": "Settle Time",
    "duplicates_detected": "Duplicates Detected",
}
TICKET_OVERVIEW = "Ticket Overview"
FINISHED_TICKETS = "Finished Tickets"
DUPLICATES = "Duplicates"
TRIGGERS = {
    "process_now": "Process Now",  # queue the Processing group (execute one top)
    "parallel_answered": "Parallel Answered",  # every request of a parallel set is answered
    "continue_cycle": "Continue Cycle",  # the cycle does its work while its round is on the wire
}
RETRY_TIMER = "Retry Timer"
# Each flow session ("login", ...) is the HTTP session of that name; this trigger queues its group.
SEND_TRIGGER_NAMES = {
    "login": "Send Login",
    "metadata": "Send Metadata",
    "search": "Send Search",
    "add_note": "Send Add Note",
    "create_ticket": "Send Create Ticket",
    "create_ot": "Send Create OT",
    "lookup_ot": "Send Look Up OT",
    "update_ticket_ot": "Send Update Ticket OT",
}
# The request header each session parameter fills.
HEADERS = {"authorization": "auth_header", "x-api-key": "key_header"}


@frozen(kw_only=True)
class Ids:
    ticket_overview: int
    finished_tickets: int
    duplicates: int
    processing: int
    max_retries: int
    batch_size: int
    retry_delay: int
    retention: int
    concurrency: int
    client_id: int
    username: int
    password: int
    api_key: int
    received_total: int
    received_count: int
    pending_count: int
    completed_count: int
    error_count: int
    cycle_start: int
    cycle_duration: int
    cycle_result: int
    login_state: int
    communication_state: int
    requests_sent: int
    last_success: int
    request_path: int
    request_body: int
    auth_header: int
    key_header: int
    in_flight: int
    settle_time: int
    duplicates_detected: int
    process_now: int
    parallel_answered: int
    continue_cycle: int
    retry_timer: int
    sessions: Mapping[str, int]  # flow session -> HTTP session id
    send_triggers: Mapping[str, int]  # flow session -> the trigger that queues its group
    headers: Mapping[str, int]  # request header (lower case) -> the parameter it is set through

    @classmethod
    def from_protocol(cls, protocol: Protocol) -> Ids:
        params = {field: _param(protocol, name) for field, name in PARAMS.items()}
        triggers = {field: _by_name(protocol.triggers, "trigger", name) for field, name in TRIGGERS.items()}
        return cls(
            ticket_overview=_table(protocol, TICKET_OVERVIEW),
            finished_tickets=_table(protocol, FINISHED_TICKETS),
            duplicates=_table(protocol, DUPLICATES),
            retry_timer=_by_name(protocol.timers, "timer", RETRY_TIMER),
            sessions={name: _by_name(protocol.sessions, "HTTP session", name) for name in SESSIONS},
            send_triggers={
                name: _by_name(protocol.triggers, "trigger", title) for name, title in SEND_TRIGGER_NAMES.items()
            },
            headers={header: params[field] for header, field in HEADERS.items()},
            **params,
            **triggers,
        )


@cache
def ids() -> Ids:
    """The ids of the connector's protocol file (read once a process)."""
    return Ids.from_protocol(load_protocol(PROTOCOL_FILE, check_imports=False))


def _param(protocol: Protocol, name: str) -> int:
    try:
        return protocol.param(name).id
    except KeyError:
        raise KeyError(f"{protocol.source or 'protocol.yaml'} has no parameter named {name!r}") from None


def _table(protocol: Protocol, name: str) -> int:
    try:
        return protocol.table(name).id
    except KeyError:
        raise KeyError(f"{protocol.source or 'protocol.yaml'} has no table named {name!r}") from None


def _by_name(items: Mapping[int, object], kind: str, name: str) -> int:
    found = [key for key, item in items.items() if getattr(item, "name", None) == name]
    if len(found) != 1:
        raise KeyError(f"protocol.yaml has {len(found)} {kind}s named {name!r}, not one")
    return found[0]
