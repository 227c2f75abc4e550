"""The Ticketing BE glue as operators see it: the log lines of a cycle, and the element's timeout
when the platform is down for everyone (issue 12). Log lines are asserted with their structured
fields (`extra={"element", "event", "fields"}`), as `--log-format json` writes them."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connector.engine import events as ev
from connector.engine.element import Element
from connector.engine.loading import param_values, resolve_handlers
from connector.engine.store import SQLiteStore
from connector.engine.testing import FakeClock, Harness
from connector.ticketing import fake as fp
from connector.ticketing import tickets
from connector.ticketing.fake.inprocess import (
    credentials,
    platform_transport,
    secrets,
    ticketing_element,
    ticketing_protocol,
)
from tests.ticketing.test_element import batch, make_tickets, statuses

WRONG = "not-the-password"
REASON = "Cherwell invalid_grant: Could not login to system with the provided user ID and password."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> fp.FakePlatform:
    return fp.FakePlatform(seed=11, clock=clock.now)


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    """The lines of event `name` above DEBUG (DEBUG adds the ticket ids)."""
    return [r for r in caplog.records if getattr(r, "event", None) == name and r.levelno > logging.DEBUG]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(record.fields)  # type: ignore[attr-defined]  # set through `extra`


def rows(h) -> list[dict[str, Any]]:
    return [row for _, row in h.element.view.tables[1000].rows()]


def test_a_wrong_password_is_the_elements_timeout_not_the_tickets_errors(platform, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    h = ticketing_element(
        platform, clock, params={"Ticketing Processing": "Enabled", "Max Retries": 2, "Retry Delay": 5}
    )
    h.set("Cherwell Password", WRONG)
    h.set(9000000, batch(make_tickets(3)))
    h.advance(1800)
    # Before issue 12 every ticket was in Error within seconds (3 failed logins).
    assert statuses(h) == {tickets.RECEIVED: 3}
    assert all((row["Retries"], row["Last Error"]) == (0, "") for row in rows(h))
    assert h.timeout == f"Login failed: {REASON}"
    assert h.element.view.get("Communication State") == f"Timeout: Login failed: {REASON}"
    assert h.element.view.get("Last Cycle Result") == f"Timeout: Login failed: {REASON}"
    # Backoff: Retry Delay doubled per cycle up to 300 s (jittered), not a login every few seconds.
    logins = platform.requests["login"]
    assert 7 <= logins <= 13
    refused = events(caplog, "login_refused")
    assert len(refused) == logins  # one line an attempt
    first = refused[0]
    assert first.levelno == logging.ERROR and first.element == "Ticketing BE 01"  # type: ignore[attr-defined]
    assert first.getMessage() == f"[Ticketing BE 01] Cherwell login refused: {REASON}"
    assert fields(first) == {"reason": REASON, "status": 400}
    ends = events(caplog, "cycle_end")
    assert len(ends) == logins and fields(ends[0])["timeout"] == f"Login failed: {REASON}"
    assert [fields(e)["next_try_in"] for e in ends[:4]] == pytest.approx([5, 10, 20, 40], rel=0.21)
    assert max(fields(e)["next_try_in"] for e in ends) <= 300
    assert not any(WRONG in r.getMessage() or WRONG in repr(getattr(r, "fields", "")) for r in caplog.records)
    # The element entered timeout once (the harness records what the runtime shows).
    assert [s.timeout for s in h.statuses] == [True]

    h.set("Cherwell Password", fp.DEFAULT_PASSWORD)  # tried at once, not after the backoff
    assert statuses(h) == {tickets.COMPLETED: 3}
    assert all(row["Retries"] == 0 for row in rows(h))
    assert h.timeout is None and h.statuses[-1] == ev.ElementStatus(timeout=False)
    assert fields(events(caplog, "cycle_end")[-1])["completed"] == 3


def test_a_stopped_platform_keeps_the_tickets_retries_and_their_place(platform, clock) -> None:
    real = platform_transport(platform, clock)
    down = {"on": True}

    def transport(request: ev.SendRequest) -> ev.HttpResult:
        if down["on"]:
            return ev.HttpResult(request_id=request.request_id, error="connect", detail="connection refused")
        return real(request)

    h = ticketing_element(platform, clock, params={"Ticketing Processing": "Enabled", "Max Retries": 1})
    h.transport = transport
    h.set(9000000, batch(make_tickets(4)))
    h.advance(3600)
    assert statuses(h) == {tickets.RECEIVED: 4} and h.timeout == (
        "Login failed: Cherwell: no answer (connect: connection refused)"
    )
    h.set("Ticketing Processing", "Disabled")  # talking to nothing: not in timeout
    assert h.timeout is None
    down["on"] = False
    h.set("Ticketing Processing", "Enabled")
    assert statuses(h) == {tickets.COMPLETED: 4} and h.timeout is None


def test_a_poison_ticket_still_ends_in_error_after_max_retries_plus_one(platform, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    platform.faults = fp.Faults(fail_operation={"ot_create": "SFyC en mantenimiento"})
    h = ticketing_element(
        platform, clock, params={"Ticketing Processing": "Enabled", "Max Retries": 2, "Retry Delay": 1}
    )
    h.set(9000000, batch(make_tickets(2)))
    h.advance(600)
    assert statuses(h) == {tickets.ERROR: 2} and h.timeout is None
    assert all(row["Retries"] == 3 for row in rows(h))
    retried = events(caplog, "tickets_retry")
    per_try: dict[tuple[int, int], int] = {}
    for record in retried:  # item failures are retried apart (each draws its own jitter)
        key = (fields(record)["try"], fields(record)["of"])
        per_try[key] = per_try.get(key, 0) + fields(record)["tickets"]
    assert per_try == {(1, 3): 2, (2, 3): 2}
    assert retried[0].getMessage() == (
        "[Ticketing BE 01] Create OT failed for 2 ticket(s): SFyC ERROR_OPERACION: SFyC en mantenimiento; "
        "tried again later (try 1 of 3)"
    )
    errors = events(caplog, "tickets_error")
    assert sum(fields(e)["tickets"] for e in errors) == 2 and all(e.levelno == logging.WARNING for e in errors)
    assert {fields(e)["operation"] for e in errors} == {"Create OT"}
    assert {fields(e)["reason"] for e in errors} == {"SFyC ERROR_OPERACION: SFyC en mantenimiento"}
    assert (
        errors[0]
        .getMessage()
        .endswith(" now in Error at Create OT after 3 tries: SFyC ERROR_OPERACION: SFyC en mantenimiento")
    )
    ids = [r for r in caplog.records if r.levelno == logging.DEBUG and getattr(r, "event", "") == "tickets_error"]
    assert sorted(key for r in ids for key in fields(r)["ids"]) == ["WM-000000", "WM-000001"]


def test_a_cycle_under_faults_logs_retries_with_try_n_of_n_and_its_end(platform, clock, caplog) -> None:
    caplog.set_level(logging.INFO)
    h = ticketing_element(platform, clock, params={"Max Retries": 3})
    h.set(9000000, batch(make_tickets(3)))
    platform.faults = fp.Faults(html_503_rate=1.0)
    calls = {"n": 0}
    real = h.transport
    assert real is not None

    def transport(request: ev.SendRequest) -> ev.HttpResult:
        calls["n"] += 1
        if calls["n"] == 2:  # the metadata's first call: a gateway 503, then the platform again
            return ev.HttpResult(request_id=request.request_id, status=503, reason="Service Unavailable")
        platform.faults = fp.Faults()
        return real(request)

    h.transport = transport
    h.set("Ticketing Processing", "Enabled")
    assert statuses(h) == {tickets.COMPLETED: 3}
    (retry,) = events(caplog, "call_retry")
    assert retry.levelno == logging.WARNING
    assert fields(retry) == {
        "call": "metadata",
        "reason": "Cherwell HTTP 503 Service Unavailable",
        "status": 503,
        "try": 2,
        "of": 3,
    }
    (end,) = events(caplog, "cycle_end")
    assert end.levelno == logging.INFO
    end_fields = fields(end)
    assert end_fields["requests"] == sum(1 for _ in h.requests) and end_fields["created"] == 3
    assert (end_fields["completed"], end_fields["errors"], end_fields["result"]) == (3, 0, "OK")
    assert end.getMessage().startswith("[Ticketing BE 01] cycle ended in ")


def test_tickets_received_total_counts_every_ticket_accepted(platform, clock) -> None:
    # Issue 12: "Tickets Received" was 0 after the demo received 400 (it counted the status).
    h = ticketing_element(platform, clock)
    h.set(9000000, batch(make_tickets(5)))
    h.set(9000000, batch(make_tickets(5), guid="g-2"))  # duplicates: not counted again
    assert (h.element.view.get("Tickets Received Total"), h.element.view.get("Tickets Waiting")) == (5, 5)
    h.set("Ticketing Processing", "Enabled")
    assert statuses(h) == {tickets.COMPLETED: 5}
    assert (h.element.view.get("Tickets Received Total"), h.element.view.get("Tickets Waiting")) == (5, 0)
    assert h.element.view.protocol.param("Tickets Received Total").save


def restarted(platform: fp.FakePlatform, clock: FakeClock, store: SQLiteStore, params: dict[str, Any]) -> Harness:
    """The element started again on `store`, its requests left unanswered (`Harness.respond`)."""
    protocol = ticketing_protocol()
    element = Element(protocol, name="Ticketing BE 01", handlers=resolve_handlers(protocol), now=clock.now)
    harness = Harness(element, clock, store=store)
    harness.start(
        saved=store.load(),
        initial=param_values(protocol, {**credentials(), **params}),
        always=param_values(protocol, secrets()),
    )
    return harness


def test_a_restarted_element_is_still_in_timeout_until_the_platform_answers(platform, clock, tmp_path) -> None:
    # Regression (issue 12): the element came back "running" after a restart, until the platform
    # failed again; restored, the timeout must still end when the platform answers.
    store = SQLiteStore(tmp_path / "be.sqlite")
    platform.faults = fp.Faults(error_rate=1.0)  # every call answered 500: the platform down for everyone
    settings = {"Ticketing Processing": "Enabled", "Retry Delay": 5}
    h = ticketing_element(platform, clock, params=settings, store=store)
    h.set(9000000, batch(make_tickets(2)))
    h.advance(60)
    reason = h.timeout
    assert reason is not None and reason.startswith("Login failed")
    store.close()

    store = SQLiteStore(tmp_path / "be.sqlite")
    again = restarted(platform, clock, store, settings)
    assert again.unanswered, "its first cycle is on the wire: nothing has answered yet"
    assert again.statuses == [ev.ElementStatus(timeout=True, reason=reason)], "in timeout, as it was saved"
    platform.faults = fp.Faults()
    again.transport = platform_transport(platform, clock)
    while again.unanswered:
        again.respond(again.transport)
    again.advance(600)
    assert statuses(again) == {tickets.COMPLETED: 2}
    assert again.timeout is None and again.statuses[-1] == ev.ElementStatus(timeout=False)
    store.close()
