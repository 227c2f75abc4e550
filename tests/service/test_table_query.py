"""`where` and `sort` on a table's rows (connector.service.table_query), against a brute-force model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.engine.table import Table
from connector.protocol import model as m
from connector.service.table_query import QueryRefused, parse_query

MODEL = m.Table(
    id=1000,
    name="Tickets",
    key_column=1001,
    columns=(
        m.Column(id=1001, name="Ticket ID"),
        m.Column(
            id=1002,
            name="Status",
            kind=m.ValueKind.DISCREET,
            discreets=(m.Discreet(display="Received", value="Received"), m.Discreet(display="Error", value="Error")),
        ),
        m.Column(id=1003, name="Retries", kind=m.ValueKind.NUMBER),
    ),
)

cells = st.fixed_dictionaries(
    {"Status": st.sampled_from(["Received", "Error", None]), "Retries": st.one_of(st.none(), st.integers(0, 5))}
)


def table_of(rows: list[dict[str, Any]]) -> Table:
    table = Table(MODEL)
    for index, row in enumerate(rows):
        table.add_row(f"T-{index:03}", row)
    return table


@given(rows=st.lists(cells, max_size=30), status=st.sampled_from(["error", "ERROR", "Received", "nothing"]))
def test_where_keeps_exactly_the_rows_that_show_the_value_ignoring_case(
    rows: list[dict[str, Any]], status: str
) -> None:
    table = table_of(rows)
    found = parse_query(table, [f"status={status}"], None).keys(table)
    assert found == [f"T-{i:03}" for i, row in enumerate(rows) if str(row["Status"]).casefold() == status.casefold()]


@given(rows=st.lists(cells, max_size=30), descending=st.booleans())
def test_sort_orders_the_filled_cells_keeps_ties_in_order_and_puts_empty_cells_last(
    rows: list[dict[str, Any]], descending: bool
) -> None:
    table = table_of(rows)
    keys = parse_query(table, [], ("-" if descending else "") + "Retries").keys(table)
    assert sorted(keys) == table.keys()
    values = [table.get(key, "Retries") for key in keys]
    filled = [v for v in values if v is not None]
    assert values == filled + [None] * (len(values) - len(filled))
    assert filled == sorted(filled, reverse=descending)
    for a, b in zip(keys, keys[1:], strict=False):  # a stable sort: equal values keep the table's order
        if table.get(a, "Retries") == table.get(b, "Retries") and table.get(a, "Retries") is not None:
            assert a < b


@pytest.mark.parametrize(
    "where, sort, reason",
    [
        (["Nope=1"], None, "table 'Tickets' has no column 'Nope'"),
        (["Status"], None, "where must be COLUMN=VALUE, got 'Status'"),
        (["=Error"], None, "where must be COLUMN=VALUE, got '=Error'"),
        ([], "-Nope", "table 'Tickets' has no column 'Nope'"),
    ],
)
def test_a_query_on_no_column_is_refused_with_the_reason(where: list[str], sort: str | None, reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason):
        parse_query(table_of([]), where, sort)


def test_columns_by_id_and_several_conditions() -> None:
    table = table_of([{"Status": "Error", "Retries": 2}, {"Status": "Error", "Retries": 3}])
    assert parse_query(table, ["1002=Error", "retries=3"], "1001").keys(table) == ["T-001"]
