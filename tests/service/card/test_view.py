"""What the card shows of an element: pages in protocol order, lines, controls, a table's page."""

from __future__ import annotations

from connector.service.card import view as v
from tests.service.card.elements import SECRET, ticketing_runtime


def test_pages_follow_the_protocol_order_and_hold_its_tables() -> None:
    _, host = ticketing_runtime()
    pages = v.card_pages(host.view)
    assert [p.name for p in pages] == ["General", "Platforms", "Tickets"]
    assert pages[2].tables == (1000, 1100, 1200)
    names = [line.name for line in pages[0].lines]
    assert names.count("Max Retries") == 1  # a read/write pair is one line
    assert "Process Tickets" not in names  # dummies and page-less parameters are internal


def test_each_setting_gets_the_control_of_its_kind() -> None:
    _, host = ticketing_runtime()
    lines = {line.name: line for page in v.card_pages(host.view) for line in page.lines}
    retries = lines["Max Retries"].control
    assert retries is not None
    assert (retries.param, retries.kind, retries.low, retries.high, retries.step) == (13, "number", "0", "10", "1")
    assert retries.value == "3"  # the read parameter's value (its default)
    processing = lines["Ticketing Processing"].control
    assert processing is not None and processing.kind == "toggle"
    assert processing.options == (("0", "Disabled"), ("1", "Enabled"))
    assert lines["Retry Errors"].shown is None
    retry = lines["Retry Errors"].control
    assert retry is not None and (retry.param, retry.kind) == (50, "button")
    assert lines["Retry Delay"].control is not None and lines["Retry Delay"].control.step == "any"
    assert lines["Tickets Waiting"].control is None  # read only


def test_a_password_never_reaches_the_card() -> None:
    _, host = ticketing_runtime()
    lines = {line.name: line for page in v.card_pages(host.view) for line in page.lines}
    password = lines["Cherwell Password"]
    assert password.control is not None and password.control.kind == "password"
    assert password.control.value == ""
    assert password.shown is not None and password.shown.text == "********"
    assert SECRET not in repr(v.shown_values(host.view)) + repr(v.control_values(host.view))


def test_a_table_page_is_50_rows_with_the_total_and_no_hidden_column() -> None:
    _, host = ticketing_runtime(120)
    table = host.view.tables[1000]
    page = v.table_page(table, v.TableQuery(page=3))
    assert (page.total, page.pages, page.page, len(page.rows)) == (120, 3, 3, 20)
    assert page.rows[0][0] == "WM-000100"
    assert "Description" not in [c.name for c in page.columns]
    assert len(page.rows[0][1]) == len(page.columns)
    assert [c.name for c, _ in page.filters] == ["Status", "Operation"]


def test_sort_filter_and_search_narrow_the_rows() -> None:
    _, host = ticketing_runtime(120)
    table = host.view.tables[1000]
    by_priority = v.table_page(table, v.TableQuery(sort="-1005"))
    priorities = [int(cells[4].text) for _, cells in by_priority.rows]
    assert priorities == sorted(priorities, reverse=True) and priorities[:24] == [5] * 24
    assert v.table_page(table, v.TableQuery(filters=((1006, "Error"),))).total == 0
    assert v.table_page(table, v.TableQuery(filters=((1006, "Received"),))).total == 120
    found = v.table_page(table, v.TableQuery(search="wm-00011"))
    assert [key for key, _ in found.rows] == [f"WM-{i:06d}" for i in range(110, 120)]
    refused = v.table_page(table, v.TableQuery(sort="9999"))
    assert refused.refused and refused.total == 120


def test_a_datetime_cell_carries_its_utc_time() -> None:
    _, host = ticketing_runtime(1)
    page = v.table_page(host.view.tables[1000], v.TableQuery())
    received = page.rows[0][1][[c.name for c in page.columns].index("Received")]
    assert received.utc.endswith("Z") and received.utc == received.text


def test_the_address_gives_the_table_query() -> None:
    args = {"t1000.p": "2", "t1000.sort": "-1012", "t1000.f1006": "Error", "t1000.q": " WM- ", "t1100.p": "9"}
    assert v.TableQuery.from_args(1000, args) == v.TableQuery(
        page=2, sort="-1012", filters=((1006, "Error"),), search="WM-"
    )
    assert v.TableQuery.from_args(1000, {"t1000.p": "x"}).page == 1
