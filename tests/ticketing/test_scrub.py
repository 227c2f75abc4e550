"""Secrets out of everything the platform says (issue 11): the Scrubber, and the element on a
platform that echoes the login form and the save request in its errors."""

from __future__ import annotations

import base64
import html
import json
import logging
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.engine.testing import FakeClock
from connector.service.api import create_app
from connector.ticketing import fake as fp
from connector.ticketing import ticket_table, tickets
from connector.ticketing.fake.inprocess import ticketing_element
from connector.ticketing.ids import ids
from connector.ticketing.scrub import MASK, Scrubber, forms
from tests.service.test_api import FakeHost, FakeRuntime
from tests.ticketing.test_element import batch, make_tickets

# A password that every encoding changes: reserved, quoting, JSON- and HTML-special, non-ASCII.
NASTY = 'p@ss w/rd+%&="<é>\\'


def leaks(secret: str, text: str) -> list[str]:
    """The forms of `secret` found in `text`."""
    found = [form for form in forms(secret) if form in text]
    lowered = text.lower()
    found += [form for form in (quote(secret, safe=""), quote_plus(secret)) if "%" in form and form.lower() in lowered]
    return found


def every_form(secret: str) -> list[str]:
    return [
        secret,
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote_plus(secret),
        urlencode({"password": secret}),
        json.dumps(secret),
        json.dumps(json.dumps(secret)),
        json.dumps(secret, ensure_ascii=False),
        html.escape(secret),
        repr(secret),
        base64.b64encode(secret.encode()).decode(),
        repr({"password": secret}),
    ]


def test_every_form_of_a_secret_is_replaced() -> None:
    scrub = Scrubber.of(username="dataminer", password=NASTY, api_key="key-123456", tokens=("tok-abcdef",))
    for form in every_form(NASTY):
        text = scrub(f"Login failed: invalid_grant [{form}] and more")
        assert not leaks(NASTY, text), (form, text)
        assert MASK in text and text.startswith("Login failed: invalid_grant [") and text.endswith("] and more")
    basic = base64.b64encode(f"dataminer:{NASTY}".encode()).decode()
    assert basic not in scrub(f"Authorization: Basic {basic}")
    assert "key-123456" not in scrub("{'x-api-key': 'key-123456'}")
    assert "tok-abcdef" not in scrub("Bearer tok-abcdef")


def test_a_message_cut_short_loses_the_start_of_a_secret_too() -> None:
    scrub = Scrubber.of(password="correct-horse-battery")
    assert scrub("Login failed: password=correct-hor...") == "Login failed: password=***..."
    assert scrub("nothing secret here...") == "nothing secret here..."


def test_tokens_got_during_the_cycle_are_scrubbed_too() -> None:
    scrub = Scrubber.of(password="pw-000000")
    scrub.add("new-access-token")
    assert scrub("Bearer new-access-token, pw-000000") == f"Bearer {MASK}, {MASK}"


@given(
    secret=st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_categories=("Cs",)), min_size=1),
    form=st.integers(0, 11),
    before=st.text(max_size=10),
    after=st.text(max_size=10),
)
def test_no_form_of_any_secret_survives(secret: str, form: int, before: str, after: str) -> None:
    scrub = Scrubber.of(username="dataminer", password=secret)
    text = scrub(before + every_form(secret)[form] + after).replace(MASK, "\x00")  # a secret of "*"s...
    for shape in forms(secret):
        assert shape not in text


# -- the element on an echoing platform --------------------------------------------------------


def _everything(h: Any, caplog: pytest.LogCaptureFixture) -> str:
    """Every text the element shows, saves or logs (password parameters are neither shown nor
    saved: they hold the secret, and the request and answer that carry it)."""
    view = h.element.view
    shown = [repr(view.get(pid)) for pid, spec in view.protocol.params.items() if not spec.password]
    shown += [repr(view.tables[tid].rows()) for tid in view.tables]
    shown += [repr(persist) for persist in h.persisted]
    shown.append(caplog.text)
    return "\n".join(shown)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _echoing_element(clock: FakeClock, operation: str) -> tuple[Any, fp.FakePlatform]:
    platform = fp.FakePlatform(seed=3, clock=clock.now, password=NASTY)
    platform.faults = fp.Faults(fail_operation={operation: "rechazado"}, echo_request=True)
    h = ticketing_element(
        platform,
        clock,
        params={"Ticketing Processing": "Enabled", "Max Retries": 1, "Retry Delay": 1},
    )
    h.set("Cherwell Password", NASTY)
    return h, platform


@pytest.mark.parametrize("operation", ["login", "create_ticket", "ot_create"])
def test_an_echoing_platform_never_gets_a_secret_into_params_table_store_or_log(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    caplog.set_level(logging.DEBUG)
    h, platform = _echoing_element(clock, operation)
    h.set(9000000, batch(make_tickets(3)))
    h.advance(120)
    table = h.element.view.tables[ids().ticket_overview]
    if operation == "login":  # the platform refusing everyone: the element's timeout, not the tickets'
        assert ticket_table.counts(table)[tickets.ERROR] == 0 and h.timeout is not None
        assert "rechazado" in h.element.view.get("Platform Login State")  # the platform's words are kept
    else:
        assert ticket_table.counts(table)[tickets.ERROR] == 3
        assert "rechazado" in table.row("WM-000000")["Last Error"]  # the platform's words are kept
    assert platform.injected["fail_operation"]
    secrets = [NASTY, fp.DEFAULT_API_KEY]
    everything = _everything(h, caplog)
    for secret in secrets:
        assert not leaks(secret, everything), leaks(secret, everything)
    if operation == "login":
        assert h.element.view.get("Platform Login State").startswith("Login failed: ")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_api_shows_no_form_of_the_secret_after_an_echoed_login_error(clock: FakeClock) -> None:
    h, _ = _echoing_element(clock, "login")
    h.set(9000000, batch(make_tickets(2)))
    h.advance(60)
    app = create_app(FakeRuntime(FakeHost(h.element)))
    name = quote(h.element.view.name)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answers = [
            await client.get(f"/api/elements/{name}/params"),
            await client.get(f"/api/elements/{name}/params/Platform%20Login%20State"),
            await client.get(f"/api/elements/{name}/params/Last%20Cycle%20Result"),
            await client.get(f"/api/elements/{name}/tables/Ticket%20Overview"),
        ]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    text = "\n".join(a.text for a in answers)
    assert "Login failed" in text
    assert not leaks(NASTY, text) and not leaks(NASTY, json.loads(json.dumps(text)))
