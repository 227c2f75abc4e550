"""Ticketing WM alone, on the Harness: intake, batches, answers, time-outs and restarts.

BE's side is played with the contract's own writer (`batch_response`): WM is the thing under
test; tests/ticketing_wm/test_with_be.py runs it against the real BE element.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.contracts.ticket_batch import error_response
from connector.engine.interapp import ReturnAddress, parse_call, serialize_call
from connector.engine.store import MemoryStore
from connector.engine.testing import FakeClock
from connector.ticketing_wm import outbox
from tests.conftest import sample_text
from tests.ticketing_wm.elements import (
    BE_NAME,
    answer,
    ids_of,
    new_tickets,
    row,
    sent_batches,
    states,
    wm_element,
    wm_tickets,
)

DISABLED = {"Sending": "Disabled"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- intake ----------------------------------------------------------------------------------------


def test_a_batch_sent_to_wm_is_taken_in_and_answered(clock) -> None:
    h = wm_element(clock, params=DISABLED)
    h.set(9000000, sample_text("ticket-batch.json"))
    assert states(h) == {outbox.PENDING: 3}
    reply = h.interapp[-1]
    assert (reply.target, reply.parameter) == ("101/12", 9000001)  # the sample's return address
    [message] = parse_call(reply.raw, {"TicketBatchResponse"}).messages
    assert message.guid == "c3e1f7b2-6d4a-4f0e-8b1c-9a2d5e7f3b60"
    assert message.members["accepted"] == ["WM-20261126-000101", "WM-20261126-000102", "WM-20261126-000103"]
    ticket = json.loads(row(h, "WM-20261126-000101")["Ticket"])
    assert ticket["affectedCustomers"] == 184 and ticket["detectedAt"] == "2026-11-26T09:42:00-06:00"
    assert h.element.view.get("Tickets Taken In Total") == 3


def test_the_mixed_sample_gets_the_reply_be_gives_and_its_bad_tickets_are_rejected_rows(
    clock, ticket_batch_response
) -> None:
    h = wm_element(clock, params=DISABLED)
    h.set(9000000, sample_text("ticket-batch-mixed.json"))
    [message] = parse_call(h.interapp[-1].raw, {"TicketBatchResponse"}).messages
    expected = ticket_batch_response["messages"]["$values"][0]
    assert message.members["accepted"] == expected["accepted"]
    assert message.members["duplicates"] == expected["duplicates"]
    assert [(r["ticketId"], r["reason"]) for r in message.members["rejected"]] == [
        (r["ticketId"], r["reason"]) for r in expected["rejected"]
    ]
    assert states(h) == {outbox.PENDING: 2, outbox.REJECTED: 2}
    assert row(h, "WM-20261126-000203")["Reason"] == "at intake: node: required"


def test_an_unreadable_message_gets_an_error_response_and_changes_nothing(clock) -> None:
    h = wm_element(clock, params=DISABLED)
    h.set(9000000, '{"$type": "Pizza,", "guid": "x"}')
    assert states(h) == {}
    assert parse_call(h.interapp[-1].raw, {"ErrorResponse"}).messages[0].type == "ErrorResponse"


@pytest.mark.parametrize("shape", ["object", "list", "wrapped"])
def test_a_set_of_new_tickets_takes_them_in(clock, shape: str) -> None:
    h = wm_element(clock, params=DISABLED)
    tickets = wm_tickets(2)
    value = {"object": tickets[0], "list": tickets, "wrapped": {"tickets": tickets}}[shape]
    new_tickets(h, value)
    taken = 1 if shape == "object" else 2
    assert states(h) == {outbox.PENDING: taken}
    assert h.element.view.get(30) == f"{taken} taken in, 0 duplicates, 0 rejected"
    new_tickets(h, value)
    assert h.element.view.get(30) == f"0 taken in, {taken} duplicates, 0 rejected"


def test_a_set_that_is_no_json_of_tickets_says_why(clock) -> None:
    h = wm_element(clock, params=DISABLED)
    h.set("New Tickets", "{not json")
    assert h.element.view.get(30).startswith("refused: not JSON")
    h.set("New Tickets", '"a string"')
    assert h.element.view.get(30) == 'refused: expected a ticket, a list of tickets or {"tickets": [...]}'
    assert states(h) == {}


def test_a_rejected_ticket_sent_again_fixed_replaces_its_row(clock) -> None:
    h = wm_element(clock, params=DISABLED)
    broken = {**wm_tickets(1)[0], "category": "Incendio"}
    new_tickets(h, broken)
    assert states(h) == {outbox.REJECTED: 1}
    new_tickets(h, wm_tickets(1))
    assert states(h) == {outbox.PENDING: 1} and row(h, "WM-T-00000")["Reason"] == ""


def test_the_drop_folder_takes_files_in_and_moves_them_once_committed(clock, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(wm_tickets(3)))
    (tmp_path / "sample.json").write_text(sample_text("ticket-batch.json"))  # a whole InterApp call
    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "half.json.tmp").write_text("[]")  # still being written: left alone
    h = wm_element(clock, params={**DISABLED, "Drop Folder": str(tmp_path), "Drop Folder Interval": 1})
    h.advance(1)
    assert states(h) == {outbox.PENDING: 6}
    assert row(h, "WM-T-00000")["Source"] == "Drop Folder: a.json"
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["a.json", "sample.json"]
    assert (tmp_path / "rejected" / "broken.json").exists()
    assert "not JSON" in (tmp_path / "rejected" / "broken.json.reason.txt").read_text()
    assert [p.name for p in tmp_path.glob("*.json*")] == ["half.json.tmp"]


def test_a_drop_file_is_moved_only_after_the_step_that_took_it_in(clock, tmp_path: Path) -> None:
    h = wm_element(clock, params={**DISABLED, "Drop Folder": str(tmp_path), "Drop Folder Interval": 1})
    (tmp_path / "a.json").write_text(json.dumps(wm_tickets(2)))
    commits = len(h.persisted)
    h.advance(1)
    # The step that took the tickets in was committed while the file was still in place.
    taking = next(p for p in h.persisted[commits:] if p.tables)
    assert taking.tables[0].written and (tmp_path / "processed" / "a.json").exists()


def test_a_drop_file_read_again_after_a_crash_adds_duplicates_only(clock, tmp_path: Path) -> None:
    store = MemoryStore()
    params = {**DISABLED, "Drop Folder": str(tmp_path), "Drop Folder Interval": 1}
    h = wm_element(clock, store=store, params=params)
    new_tickets(h, wm_tickets(2))
    (tmp_path / "a.json").write_text(json.dumps(wm_tickets(2)))  # the same tickets: a crash re-read
    h.advance(1)
    assert states(h) == {outbox.PENDING: 2} and h.element.view.get("Tickets Taken In Total") == 2


def test_a_missing_drop_folder_is_shown_not_fatal(clock, tmp_path: Path) -> None:
    h = wm_element(clock, params={**DISABLED, "Drop Folder": str(tmp_path / "nope"), "Drop Folder Interval": 1})
    h.advance(3)
    assert h.element.view.get("Drop Folder State").startswith("cannot read")


# -- sending and answers -----------------------------------------------------------------------


def test_tickets_go_in_batches_with_the_return_address_and_a_guid_each(clock) -> None:
    h = wm_element(clock, params={"Max Tickets Per Batch": 50})
    new_tickets(h, wm_tickets(120))
    batches = sent_batches(h)
    assert [len(b["tickets"]) for b in batches] == [50, 50, 20]
    assert {b["to"] for b in batches} == {BE_NAME}
    assert len({b["guid"] for b in batches}) == 3
    [first] = parse_call(h.interapp[0].raw, {"TicketBatchMessage", "Ticket"}).messages
    assert first.return_address == ReturnAddress(agent_id=1, element_id=2, parameter_id=9000001)  # WM_ID 1/2
    assert states(h) == {outbox.SENT: 120}
    assert row(h, ids_of(batches[2])[0])["Batch"] == batches[2]["guid"]


def test_a_ticket_is_sent_in_the_commit_before_its_message_leaves(clock) -> None:
    store = MemoryStore()
    h = wm_element(clock, store=store)
    seen = []

    def route(message) -> None:  # the moment the message leaves the element
        if message.parameter == 9000000:
            seen.append({key: store.rows[1000][key][1006] for key in ("WM-T-00000", "WM-T-00001")})

    h.route = route
    new_tickets(h, wm_tickets(2))
    assert seen == [{"WM-T-00000": outbox.SENT, "WM-T-00001": outbox.SENT}]


def test_max_batches_in_flight_holds_the_rest_until_answers_come(clock) -> None:
    h = wm_element(clock, params={"Max Tickets Per Batch": 10, "Max Batches In Flight": 2})
    new_tickets(h, wm_tickets(50))
    batches = sent_batches(h)
    assert len(batches) == 2 and states(h) == {outbox.SENT: 20, outbox.PENDING: 30}
    answer(h, batches[0]["guid"], accepted=ids_of(batches[0]))
    assert len(sent_batches(h)) == 3  # a place came free: the next batch went at once
    assert states(h) == {outbox.ACKNOWLEDGED: 10, outbox.SENT: 20, outbox.PENDING: 20}


def test_answers_acknowledge_and_reject_by_ticket(clock) -> None:
    h = wm_element(clock)
    new_tickets(h, wm_tickets(4))
    [batch] = sent_batches(h)
    ids = ids_of(batch)
    answer(h, batch["guid"], accepted=ids[:2], duplicates=ids[2:3], rejected=[(ids[3], "node: required")])
    assert [row(h, key)["Delivery State"] for key in ids] == ["Acknowledged"] * 3 + ["Rejected"]
    assert [row(h, key)["Answer"] for key in ids[:3]] == ["accepted", "accepted", "duplicate"]
    assert row(h, ids[3])["Reason"] == "node: required"
    assert h.element.view.get("Tickets Acknowledged") == 3 and h.element.view.get("Tickets Rejected") == 1
    assert h.element.view.get("Last Answer Result").endswith("2 accepted, 1 duplicates, 1 rejected")


def test_an_error_response_rejects_the_whole_message(clock) -> None:
    h = wm_element(clock)
    new_tickets(h, wm_tickets(3))
    [batch] = sent_batches(h)
    h.set(9000001, serialize_call([error_response(batch["guid"], "too large")]), from_outside=False)
    assert states(h) == {outbox.REJECTED: 3}
    assert row(h, "WM-T-00000")["Reason"] == "BE refused the message: too large"


def test_an_unreadable_answer_changes_nothing_and_the_tickets_go_again(clock) -> None:
    h = wm_element(clock, params={"Acknowledge Timeout": 10, "Send Interval": 5})
    new_tickets(h, wm_tickets(2))
    h.set(9000001, "not json", from_outside=False)
    h.set(9000001, '{"$type": "TicketBatchResponse,", "guid": "g", "accepted": 7}', from_outside=False)
    assert states(h) == {outbox.SENT: 2}
    h.advance(15)
    assert len(sent_batches(h)) == 2


def test_an_unanswered_message_is_sent_again_after_the_timeout(clock) -> None:
    h = wm_element(clock, params={"Acknowledge Timeout": 30, "Send Interval": 5})
    new_tickets(h, wm_tickets(3))
    h.advance(25)
    assert len(sent_batches(h)) == 1
    h.advance(10)
    first, again = sent_batches(h)
    assert ids_of(again) == ids_of(first) and again["guid"] != first["guid"]
    assert h.element.view.get("Tickets Sent Again") == 3 and row(h, "WM-T-00000")["Sends"] == 2
    answer(h, first["guid"], accepted=ids_of(first))  # a late answer to the first still holds
    assert states(h) == {outbox.ACKNOWLEDGED: 3}


def test_a_restart_sends_the_unanswered_tickets_again_at_once(clock) -> None:
    store = MemoryStore()
    h = wm_element(clock, store=store)
    new_tickets(h, wm_tickets(3))
    again = wm_element(clock, store=store)  # the first life ended before the answer came
    [batch] = sent_batches(again)
    assert ids_of(batch) == ["WM-T-00000", "WM-T-00001", "WM-T-00002"]
    answer(again, batch["guid"], duplicates=ids_of(batch))
    assert states(again) == {outbox.ACKNOWLEDGED: 3} and row(again, "WM-T-00000")["Answer"] == "duplicate"


def test_disabled_sending_keeps_tickets_pending_until_enabled(clock) -> None:
    h = wm_element(clock, params=DISABLED)
    new_tickets(h, wm_tickets(2))
    h.advance(60)
    assert sent_batches(h) == [] and states(h) == {outbox.PENDING: 2}
    h.set("Sending", "Enabled")
    assert len(sent_batches(h)) == 1


def test_the_buttons(clock) -> None:
    h = wm_element(clock)
    new_tickets(h, wm_tickets(3))
    [batch] = sent_batches(h)
    h.set("Send Again", "Send")
    assert len(sent_batches(h)) == 2
    ids = ids_of(batch)
    answer(h, batch["guid"], accepted=ids[:2], rejected=[(ids[2], "priority: must be ...")])
    h.set("Clear Acknowledged", "Clear")
    assert states(h) == {outbox.REJECTED: 1}
    h.set("Retry Rejected", "Retry")
    assert states(h) == {outbox.SENT: 1} and len(sent_batches(h)) == 3


def test_acknowledged_tickets_older_than_the_retention_are_removed(clock) -> None:
    h = wm_element(clock, params={"Acknowledged Retention": 1})
    new_tickets(h, wm_tickets(2))
    [batch] = sent_batches(h)
    answer(h, batch["guid"], accepted=ids_of(batch)[:1])
    h.advance(86400 - 3600)
    assert states(h) == {outbox.ACKNOWLEDGED: 1, outbox.SENT: 1}  # not a day old yet
    h.advance(7200)  # the hourly clean-up after it is a day old
    assert outbox.ACKNOWLEDGED not in states(h) and len(h.element.view.table(outbox.TABLE)) == 1
