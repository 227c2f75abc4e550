"""WM's intake on whatever a set or a drop file may hold: it never raises, and what it takes in
is exactly the tickets that keep the contract's rules, as the oracle of the candidates says."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.contracts.ticket_batch import check_ticket_id
from connector.engine.table import Table
from connector.ticketing_wm import intake, outbox
from tests.strategies import BADINPUT_JUNK_TEXTS, badinput_json_values, interapp_ticket_candidates
from tests.ticketing_wm.elements import outgoing_table

PROPERTY = settings(max_examples=200, deadline=None)


def take(table: Table, text: str) -> list[intake.Intake]:
    return [intake.take_batch(table, b, "test", 0.0) for b in intake.read_json(text) if b.error is None]


@PROPERTY
@given(value=badinput_json_values() | st.sampled_from(BADINPUT_JUNK_TEXTS).map(lambda text: ("raw", text)))
def test_any_json_or_junk_is_read_without_raising(value: Any) -> None:
    text = value[1] if isinstance(value, tuple) and value[:1] == ("raw",) else json.dumps(value)
    table = outgoing_table()
    for batch in intake.read_json(text):
        assert (batch.error is None) or (batch.tickets == () and batch.rejected == ())
    take(table, text)
    rows = table.keys()  # a list: Table is not iterable
    assert all(check_ticket_id(key) is None for key in rows)  # only usable ids become rows


@PROPERTY
@given(candidates=st.lists(interapp_ticket_candidates(), min_size=1, max_size=6), wrapped=st.booleans())
def test_valid_tickets_are_pending_and_invalid_ones_with_an_id_rejected(candidates, wrapped: bool) -> None:
    tickets = [ticket for ticket, _ in candidates]
    text = json.dumps({"tickets": tickets} if wrapped else tickets)
    table = outgoing_table()
    [taken] = take(table, text)
    valid_ids = [t["ticketId"] for t, valid in candidates if valid]
    assert sorted(taken.accepted + taken.duplicates) == sorted(valid_ids)
    assert len(taken.accepted) == len(set(valid_ids))
    assert len(taken.rejected) == len(candidates) - len(valid_ids)
    for key in set(valid_ids):
        assert table.get(key, outbox.STATE) == outbox.PENDING
        assert json.loads(table.get(key, outbox.TICKET))["ticketId"] == key
