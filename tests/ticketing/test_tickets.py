"""Ticket Overview, table-wide: readiness, counts, the buttons, clean-up, and one ticket's retries."""

from __future__ import annotations

import random
from typing import Any

import pytest

from connector.engine.table import Table
from connector.ticketing import ticket_table
from connector.ticketing import tickets as tk
from tests.strategies import flow_add_ticket, flow_ticket_table

NOW = 1_795_651_200.0


@pytest.fixture
def table() -> Table:
    return flow_ticket_table()


def put(table: Table, key: str, **cells: Any) -> None:
    flow_add_ticket(table, key, received=NOW)
    table.set_row(key, {name: value for name, value in cells.items()})


def test_ready_keys_are_live_tickets_whose_next_try_has_passed_in_table_order(table: Table) -> None:
    flow_add_ticket(table, "A")
    put(table, "B", **{tk.STATUS: tk.IN_PROGRESS, tk.NEXT_TRY: NOW - 1})
    put(table, "C", **{tk.STATUS: tk.IN_PROGRESS, tk.NEXT_TRY: NOW + 1})  # backing off
    put(table, "D", **{tk.STATUS: tk.ERROR})
    put(table, "E", **{tk.STATUS: tk.COMPLETED, tk.OPERATION: tk.NO_OPERATION})
    put(table, "F", **{tk.STATUS: tk.RECEIVED, tk.NEXT_TRY: 0.0})  # 0.0 is "cleared"
    assert ticket_table.ready_keys(table, NOW) == ["A", "B", "F"]
    assert ticket_table.has_ready_work(table, NOW)
    assert ticket_table.ready_keys(table, NOW + 1) == ["A", "B", "C", "F"]


def test_no_ready_work_and_next_wake_is_the_earliest_future_next_try(table: Table) -> None:
    assert not ticket_table.has_ready_work(table, NOW)
    assert ticket_table.next_wake(table, NOW) is None
    put(table, "A", **{tk.STATUS: tk.IN_PROGRESS, tk.NEXT_TRY: NOW + 30})
    put(table, "B", **{tk.STATUS: tk.IN_PROGRESS, tk.NEXT_TRY: NOW + 10})
    put(table, "C", **{tk.STATUS: tk.ERROR, tk.NEXT_TRY: NOW + 5})  # Error never wakes anything
    put(table, "D", **{tk.STATUS: tk.COMPLETED, tk.NEXT_TRY: NOW + 1})
    assert not ticket_table.has_ready_work(table, NOW)
    assert ticket_table.next_wake(table, NOW) == NOW + 10
    assert ticket_table.next_wake(table, NOW + 10) == NOW + 30  # B is ready then, not "future"


def test_counts_every_status_even_when_zero(table: Table) -> None:
    assert ticket_table.counts(table) == {tk.RECEIVED: 0, tk.IN_PROGRESS: 0, tk.COMPLETED: 0, tk.ERROR: 0}
    flow_add_ticket(table, "A")
    flow_add_ticket(table, "B")
    put(table, "C", **{tk.STATUS: tk.ERROR})
    assert ticket_table.counts(table) == {tk.RECEIVED: 2, tk.IN_PROGRESS: 0, tk.COMPLETED: 0, tk.ERROR: 1}


def test_retry_errors_sends_error_tickets_back_to_the_operation_that_failed(table: Table) -> None:
    put(
        table,
        "A",
        **{
            tk.STATUS: tk.ERROR,
            tk.OPERATION: tk.CREATE_OT,
            tk.RETRIES: 4,
            tk.LAST_ERROR: "Create OT: SFyC X: y",
            tk.OUTCOME_UNKNOWN: 1,
            tk.NEXT_TRY: NOW + 99,
        },
    )
    put(table, "B", **{tk.STATUS: tk.ERROR, tk.OPERATION: tk.CHECK_EXISTING, tk.RETRIES: 4})
    put(table, "C", **{tk.STATUS: tk.COMPLETED, tk.OPERATION: tk.NO_OPERATION})
    assert ticket_table.retry_errors(table, NOW + 5) == 2
    a = table.row("A")
    assert (a[tk.STATUS], a[tk.OPERATION], a[tk.RETRIES], a[tk.NEXT_TRY]) == (tk.IN_PROGRESS, tk.CREATE_OT, 0, 0.0)
    assert a[tk.OUTCOME_UNKNOWN] == 1  # still unknown: the flow must look it up before resending
    assert a[tk.LAST_ERROR] == "Create OT: SFyC X: y"  # kept until the retry replaces or clears it
    assert a[tk.LAST_UPDATE] == NOW + 5
    assert table.row("B")[tk.STATUS] == tk.RECEIVED
    assert table.row("C")[tk.STATUS] == tk.COMPLETED
    assert ticket_table.ready_keys(table, NOW + 5) == ["A", "B"]


def test_clear_completed_removes_only_completed(table: Table) -> None:
    flow_add_ticket(table, "A")
    put(table, "B", **{tk.STATUS: tk.COMPLETED})
    put(table, "C", **{tk.STATUS: tk.ERROR})
    put(table, "D", **{tk.STATUS: tk.COMPLETED})
    assert ticket_table.clear_completed(table) == 2
    assert table.keys() == ["A", "C"]


def test_purge_completed_keeps_recent_ones_and_zero_days_keeps_all(table: Table) -> None:
    day = 86_400.0
    put(table, "old", **{tk.STATUS: tk.COMPLETED, tk.LAST_UPDATE: NOW - 8 * day})
    put(table, "new", **{tk.STATUS: tk.COMPLETED, tk.LAST_UPDATE: NOW - 6 * day})
    put(table, "stuck", **{tk.STATUS: tk.ERROR, tk.LAST_UPDATE: NOW - 30 * day})
    assert ticket_table.purge_completed(table, NOW, 0) == 0
    assert ticket_table.purge_completed(table, NOW, 7) == 1
    assert table.keys() == ["new", "stuck"]


def test_backoff_doubles_per_retry_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    for retries, base in ((1, 5), (2, 10), (3, 20), (4, 40), (7, 300), (60, 300)):
        assert tk.backoff(retries, 5, 1.0) == base
        for _ in range(50):
            assert base * 0.5 <= tk.backoff(retries, 5, tk.jitter(rng)) <= base
    assert tk.backoff(3, 0, 1.0) == 0.0


def test_fail_counts_retries_and_errors_after_max_retries_plus_one(table: Table) -> None:
    flow_add_ticket(table, "A")
    ticket = tk.load_tickets(table)["A"]
    ticket.operation = tk.CREATE_OT
    results = [tk.fail(ticket, "SFyC X: no", now=NOW, max_retries=2, retry_delay=5, jitter=0.5) for _ in range(3)]
    assert results == [False, False, True]
    assert (ticket.status, ticket.operation, ticket.retries) == (tk.ERROR, tk.CREATE_OT, 3)
    assert ticket.last_error == "Create OT: SFyC X: no"
    tk.writer(table)(ticket, NOW)
    assert table.row("A")[tk.STATUS] == tk.ERROR


def test_advance_starts_the_next_operation_clean() -> None:
    table = flow_ticket_table()
    flow_add_ticket(table, "A")
    ticket = tk.load_tickets(table)["A"]
    ticket.retries, ticket.last_error, ticket.next_try = 2, "Create Ticket: x", NOW + 3
    tk.advance(ticket, tk.CREATE_OT)
    assert (ticket.status, ticket.retries, ticket.last_error, ticket.next_try) == (tk.IN_PROGRESS, 0, "", 0.0)
    tk.advance(ticket, tk.NO_OPERATION)
    assert ticket.status == tk.COMPLETED


def test_node_key_ignores_case_and_blanks() -> None:
    assert tk.node_key("SNR", " gdl-zap-0142 ") == tk.node_key("snr", "GDL-ZAP-0142")
    assert tk.node_key("SNR", "A") != tk.node_key("Falla de Linea", "A")


def test_one_tickets_transitions_keep_or_clear_what_they_should() -> None:
    ticket = tk.Ticket.from_cells("A", {tk.OPERATION: tk.CHECK_EXISTING})
    ticket.retries, ticket.last_error = 2, "Check Existing: x"
    tk.claim_creation(ticket)
    assert (ticket.operation, ticket.retries) == (tk.CREATE_TICKET, 2), "a claim is not a clean slate"
    tk.mark_unknown(ticket, tk.CREATE_TICKET, 1000.0, 120.0)
    assert ticket.outcome_unknown and (ticket.sent_at, ticket.settled_by(120.0)) == (1000.0, 1120.0)
    assert ticket.next_try == 1120.0, "not looked up before the settle time has passed"
    tk.adopt(ticket, "101", "r101", "")
    assert (ticket.operation, ticket.platform_ticket, ticket.retries, ticket.outcome_unknown) == (
        tk.CREATE_OT,
        "101",
        0,
        True,
    ), "an adopted incident may have its OT already: looked up first"
    tk.settle_known(ticket)
    tk.ordered(ticket, "OT-7")
    assert (ticket.operation, ticket.ot_number, ticket.outcome_unknown) == (tk.UPDATE_TICKET_OT, "OT-7", False)
    done = tk.Ticket.from_cells("B", {})
    tk.adopt(done, "102", "r102", "OT-8")
    assert (done.status, done.operation, done.outcome_unknown) == (tk.COMPLETED, tk.NO_OPERATION, False)


def test_a_failure_says_whether_the_outcome_is_unknown_or_keeps_it() -> None:
    ticket = tk.Ticket.from_cells("A", {tk.OPERATION: tk.CREATE_TICKET})
    tk.fail(ticket, "x", now=NOW, max_retries=3, retry_delay=5.0, jitter=1.0, outcome_unknown=True)
    assert ticket.outcome_unknown
    tk.fail(ticket, "y", now=NOW, max_retries=3, retry_delay=5.0, jitter=1.0)
    assert ticket.outcome_unknown and ticket.retries == 2


def test_each_cell_reaches_its_own_field(table: Table) -> None:
    """A Ticket is built from its row positionally (16 keyword arguments cost three times the
    rest of the read): every cell, made distinct, lands in the field of its column, read from
    the table and from a dict alike."""
    cells = {
        tk.CATEGORY: "cat",
        tk.NODE: "node",
        tk.SUMMARY: "sum",
        tk.DESCRIPTION: "desc",
        tk.PRIORITY: 2,
        tk.STATUS: tk.IN_PROGRESS,
        tk.OPERATION: tk.CREATE_OT,
        tk.RETRIES: 4,
        tk.OUTCOME_UNKNOWN: 1,
        tk.PLATFORM_TICKET: "pt",
        tk.PLATFORM_RECORD: "pr",
        tk.OT_NUMBER: "ot",
        tk.NEXT_TRY: NOW + 1,
        tk.LAST_ERROR: "err",
        tk.SENT_AT: NOW - 1,
    }
    put(table, "A", **cells)
    expected = tk.Ticket(
        key="A",
        category="cat",
        node="node",
        summary="sum",
        description="desc",
        priority=2,
        status=tk.IN_PROGRESS,
        operation=tk.CREATE_OT,
        retries=4,
        outcome_unknown=True,
        platform_ticket="pt",
        platform_record="pr",
        ot_number="ot",
        next_try=NOW + 1,
        last_error="err",
        sent_at=NOW - 1,
    )
    assert tk.load_tickets(table)["A"] == expected
    assert tk.Ticket.from_cells("A", cells) == expected
