"""The card over HTTP, in process: pages, live answers, sets from the card, the token login."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import connector
from connector.engine.element import Element
from connector.engine.http import httpx
from connector.engine.loading import resolve_handlers
from connector.protocol.loader import load_protocol
from connector.service.api import create_app
from connector.service.card.gate import COOKIE
from connector.service.card.live import COALESCE, LiveCache
from connector.service.runtime import HostState
from tests.service.card.elements import NAME, SECRET, ticketing_runtime
from tests.service.test_api import FakeHost, FakeRuntime

pytestmark = pytest.mark.anyio

TOKEN = "t0ken-for-the-card-tests"
BASE = "http://card.test"
ORIGIN = {"Origin": BASE}
CARD = "/elements/Ticketing%20BE%2001"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def client(token: str | None = None, tickets: int = 60) -> tuple[httpx.AsyncClient, SimpleNamespace]:
    runtime, host = ticketing_runtime(tickets)
    host.metrics = SimpleNamespace(last_step=1.0)  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=create_app(runtime, token=token))
    return httpx.AsyncClient(transport=transport, base_url=BASE), host  # type: ignore[return-value]


async def test_the_list_links_every_element_with_its_state() -> None:
    http, _ = client()
    async with http:
        page = await http.get("/")
    assert page.status_code == 200
    assert f'data-element="{NAME}"' in page.text and f'href="{CARD}"' in page.text
    assert 'data-state="running"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_the_card_carries_the_test_hooks_and_no_secret() -> None:
    http, _ = client()
    async with http:
        page = await http.get(CARD, params={"page": "tickets", "t1000.p": "2"})
        missing = await http.get("/elements/Nobody")
    assert page.status_code == 200
    assert 'data-param="13"' in page.text and 'data-table="1000"' in page.text and 'data-state="running"' in page.text
    assert len(re.findall(r'<tr data-key="WM-', page.text)) == 10  # rows 51-60 of Ticket Overview
    assert 'data-key="WM-000050"' in page.text
    assert SECRET not in page.text
    assert missing.status_code == 404 and "no element named" in missing.text


async def test_live_answers_once_per_version() -> None:
    http, host = client()
    async with http:
        first = await http.get(f"{CARD}/live", params={"page": "tickets"})
        version = first.json()["version"]
        same = await http.get(f"{CARD}/live", params={"page": "tickets", "since": version})
    body = first.json()
    assert body["values"]["12"]["text"] == "3" and body["tables"]["1000"]["total"] == 60
    assert 'data-key="WM-000000"' in body["tables"]["1000"]["rows"]
    assert body["controls"]["35"] == "" and SECRET not in first.text
    assert same.status_code == 204


def test_the_live_cache_renders_once_per_coalescing_window() -> None:
    now = [0.0]
    cache = LiveCache(clock=lambda: now[0])
    renders: list[int] = []
    versions = iter(["a", "b", "b"])

    def render() -> dict[str, object]:
        renders.append(1)
        return {}

    key = ("element", "view")
    assert cache.answer(key, lambda: next(versions), render)["version"] == "a"
    now[0] = COALESCE / 2
    assert cache.answer(key, lambda: "changed", render)["version"] == "a"  # within the window: kept
    now[0] = COALESCE * 2
    assert cache.answer(key, lambda: next(versions), render)["version"] == "b"
    now[0] = COALESCE * 4
    assert cache.answer(key, lambda: next(versions), render)["version"] == "b"  # unchanged: not rendered
    assert len(renders) == 2
    cache.forget("element")  # a set was made: the next ask renders, whatever the window
    assert cache.answer(key, lambda: "c", render)["version"] == "c"


def test_an_answer_that_cost_much_is_kept_longer() -> None:
    now = [0.0]
    cache = LiveCache(clock=lambda: now[0])

    def slow_render() -> dict[str, object]:
        now[0] += 0.2  # a sorted view of a big table
        return {}

    key = ("element", "sorted view")
    cache.answer(key, lambda: "a", slow_render)
    now[0] = 1.5  # long past COALESCE, within 10 x 0.2 s of the render
    assert cache.answer(key, lambda: "b", slow_render)["version"] == "a"
    now[0] = 2.5
    assert cache.answer(key, lambda: "b", slow_render)["version"] == "b"


async def test_a_set_from_the_card_follows_the_api_rules() -> None:
    http, host = client()
    async with http:
        done = await http.post(f"{CARD}/params/13", json={"value": "7"}, headers=ORIGIN)
        refused = await http.post(f"{CARD}/params/13", json={"value": 99}, headers=ORIGIN)
        forbidden = await http.post(f"{CARD}/params/40", json={"value": 1}, headers=ORIGIN)
    assert done.status_code == 200 and host.view.get("Max Retries") == 7
    assert refused.status_code == 422
    assert refused.json() == {"error": "Max Retries: must be at most 10, got 99"}
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "http://evil.test"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
    ids=["no origin", "other origin", "cross-site fetch", "opaque origin"],
)
async def test_a_set_from_another_site_is_refused(headers: dict[str, str]) -> None:
    http, host = client()
    async with http:
        answer = await http.post(f"{CARD}/params/13", json={"value": 7}, headers=headers)
    assert answer.status_code == 403 and host.view.get("Max Retries") == 3


async def test_with_a_token_every_page_asks_for_it() -> None:
    http, _ = client(TOKEN)
    async with http:
        page = await http.get(CARD, headers={"Accept": "text/html"})
        live = await http.get(f"{CARD}/live")
        a_set = await http.post(f"{CARD}/params/13", json={"value": 7}, headers=ORIGIN)
        health = await http.get("/api/health")
        script = await http.get("/static/card.js")
        login = await http.get("/login")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/elements/Ticketing%20BE%2001"
    assert live.status_code == 401 and a_set.status_code == 401
    assert health.status_code == 200 and script.status_code == 200
    assert login.status_code == 200 and 'type="password"' in login.text


async def test_the_token_login_keeps_a_strict_http_only_cookie() -> None:
    http, host = client(TOKEN)
    async with http:
        wrong = await http.post("/login", data={"token": "nope", "next": CARD}, headers=ORIGIN)
        assert wrong.status_code == 401 and "not the API token" in wrong.text and COOKIE not in http.cookies
        elsewhere = await http.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.test"})
        right = await http.post("/login", data={"token": TOKEN, "next": CARD}, headers=ORIGIN)
        page = await http.get(CARD)
        a_set = await http.post(f"{CARD}/params/13", json={"value": 7}, headers=ORIGIN)
        api = await http.get("/api/elements")  # the cookie is no bearer token for the API
    assert elsewhere.status_code == 403
    assert right.status_code == 303 and right.headers["location"] == CARD
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    assert page.status_code == 200 and TOKEN not in page.text
    assert a_set.status_code == 200 and host.view.get("Max Retries") == 7
    assert api.status_code == 401


async def test_the_login_sends_back_to_this_server_only() -> None:
    http, _ = client(TOKEN)
    async with http:
        answer = await http.post("/login", data={"token": TOKEN, "next": "//evil.test/x"}, headers=ORIGIN)
    assert answer.headers["location"] == "/"


async def test_a_failed_element_shows_its_reason_and_none_of_its_values() -> None:
    http, host = client()
    host.state = HostState.FAILED
    host.failure = "its store refused a commit: disk full"
    async with http:
        page = await http.get(CARD)
        live = await http.get(f"{CARD}/live")
    assert page.status_code == 200 and 'data-state="failed"' in page.text and "disk full" in page.text
    assert 'data-param="13"' not in page.text and 'data-key="' not in page.text
    assert live.json()["state"] == "failed" and "values" not in live.json()


async def test_the_list_follows_the_elements() -> None:
    http, host = client()
    async with http:
        first = await http.get("/live")
        same = await http.get("/live", params={"since": first.json()["version"]})
        host.metrics.last_step = 2.0  # type: ignore[attr-defined]  # the element stepped
        changed = await http.get("/live", params={"since": first.json()["version"]})
    element = first.json()["elements"][NAME]
    assert element["state"] == "running" and element["values"]["40"]["text"] == "60"  # Tickets Waiting
    assert same.status_code == 204 and changed.status_code == 200


@pytest.mark.parametrize(
    "path", sorted(Path(connector.__file__).parent.glob("*/protocol.yaml")), ids=lambda p: p.parent.name
)
async def test_every_shipped_protocol_has_a_card(path: Path) -> None:
    protocol = load_protocol(path)
    element = Element(protocol, name="Any", handlers=resolve_handlers(protocol), now=lambda: 1_800_000_000.0)
    element.start()
    transport = httpx.ASGITransport(app=create_app(FakeRuntime(FakeHost(element))))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        page = await http.get("/elements/Any")
        live = [
            await http.get("/elements/Any/live", params={"page": slug})
            for slug in re.findall(r'data-tab="([^"]+)"', page.text)
        ]
    assert page.status_code == 200 and 'data-state="running"' in page.text
    assert live and all(answer.status_code == 200 for answer in live)
