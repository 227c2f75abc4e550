"""Hypothesis strategies shared by the suites, one section per module they serve.

Add a section of your own (functions prefixed with its name) rather than editing another's.
"""

from __future__ import annotations

from hypothesis import strategies as st
# == flow: the Ticketing BE processing flow (tests/ticketing/test_flow.py, test_tickets.py) ==========
# Sections are appended independently, hence the imports here rather than at the top.

from attrs import frozen  # noqa: E402

from connector.engine.table import Table  # noqa: E402
from connector.protocol.model import Column, Table as TableModel, ValueKind  # noqa: E402
from connector.ticketing import tickets as flow_tk  # noqa: E402
from connector.ticketing.fake_platform import Faults  # noqa: E402

_FLOW_NUMBER_COLUMNS = {flow_tk.PRIORITY, flow_tk.RETRIES, flow_tk.AFFECTED_CUSTOMERS, flow_tk.OUTCOME_UNKNOWN}
_FLOW_TIME_COLUMNS = {flow_tk.RECEIVED_AT, flow_tk.LAST_UPDATE, flow_tk.DETECTED_AT, flow_tk.NEXT_TRY}
_FLOW_HIDDEN = {flow_tk.DESCRIPTION, flow_tk.DETECTED_AT, flow_tk.AFFECTED_CUSTOMERS, flow_tk.PLATFORM_RECORD,
                flow_tk.NEXT_TRY, flow_tk.OUTCOME_UNKNOWN}


def flow_ticket_table() -> Table:
    """An empty Ticket Overview with the columns the flow addresses by name (ids 1001...)."""

    def kind(name: str) -> ValueKind:
        if name in _FLOW_NUMBER_COLUMNS:
            return ValueKind.NUMBER
        if name in _FLOW_TIME_COLUMNS:
            return ValueKind.DATETIME
        return ValueKind.STRING

    columns = tuple(Column(id=1001 + i, name=name, kind=kind(name), hidden=name in _FLOW_HIDDEN)
                    for i, name in enumerate(flow_tk.COLUMNS))
    return Table(TableModel(id=1000, name="Ticket Overview", columns=columns, key_column=1001))


def flow_add_ticket(table: Table, key: str, category: str = "SNR", node: str = "GDL-ZAP-NODO-0001", *,
                    summary: str = "SNR bajo", description: str = "", priority: int = 3,
                    received: float = 0.0) -> None:
    """A ticket as the receive path stores it: Received, Check Existing, nothing tried yet."""
    table.add_row(key, {
        flow_tk.CATEGORY: category, flow_tk.NODE: node, flow_tk.SUMMARY: summary, flow_tk.PRIORITY: priority,
        flow_tk.STATUS: flow_tk.RECEIVED, flow_tk.OPERATION: flow_tk.CHECK_EXISTING, flow_tk.RETRIES: 0,
        flow_tk.LAST_ERROR: "", flow_tk.RECEIVED_AT: received, flow_tk.LAST_UPDATE: received,
        flow_tk.DESCRIPTION: description, flow_tk.OUTCOME_UNKNOWN: 0,
    })


def flow_ticket_plans(max_tickets: int = 30) -> st.SearchStrategy[list[tuple[str, int, bool]]]:
    """Tickets to receive, as (category, node number, valid). Few nodes, so that tickets share
    them (the tests give nodes below 3 an open incident first); an invalid ticket (empty summary)
    is refused by Cherwell item by item, for good."""
    ticket = st.tuples(st.sampled_from(("SNR", "Falla de Linea")), st.integers(0, 7),
                       st.sampled_from((True, True, True, False)))
    return st.lists(ticket, min_size=1, max_size=max_tickets)


_FLOW_FAULT_KINDS = ("error_rate", "html_503_rate", "lost_rate", "malformed_rate", "item_error_rate")


@st.composite
def flow_faults(draw: st.DrawFn) -> Faults:
    """The fake platform's faults for one cycle: at most two kinds at once (more and hardly a
    request gets through, so the writes the test is about are never reached), nothing for good."""
    kinds = draw(st.lists(st.sampled_from(_FLOW_FAULT_KINDS), max_size=2, unique=True))
    rates = {kind: draw(st.sampled_from((0.1, 0.3, 0.6, 1.0))) for kind in kinds}
    return Faults(**rates, token_ttl=draw(st.sampled_from((1199.0, 90.0, 30.0))))


FLOW_CRASH_SESSIONS = ("create_ticket", "add_note", "create_ot", "update_ticket_ot", "search", "lookup_ot",
                       "login", "metadata")


@frozen(kw_only=True)
class FlowStep:
    """One cycle of a storm: tickets arriving first, maybe Retry Errors pressed, the platform's
    faults, maybe a crash (at the n-th call of a session, that call applied or not), then time."""

    arrivals: int
    retry_errors: bool
    faults: Faults
    crash_at: tuple[str, int] | None
    applied: bool
    wait: float


def flow_schedules() -> st.SearchStrategy[list[FlowStep]]:
    """Cycles to run before the platform heals. Crashes hit writes mostly: that is where it hurts."""
    crash = st.none() | st.tuples(st.sampled_from(FLOW_CRASH_SESSIONS), st.integers(1, 3))
    step = st.builds(FlowStep, arrivals=st.integers(0, 4), retry_errors=st.booleans(), faults=flow_faults(),
                     crash_at=crash, applied=st.booleans(), wait=st.sampled_from((0.0, 1.0, 5.0, 400.0)))
    return st.lists(step, min_size=1, max_size=10)
