"""PUT on Ticketing BE's parameters: only what a user may set, by its declaration (issue 11)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector.engine import events as ev
from connector.engine.testing import FakeClock, Harness
from connector.service.api import create_app
from connector.service.runtime import HostState
from connector.ticketing import fake as fp
from connector.ticketing.fake.inprocess import ticketing_element
from tests.service.test_api import api_client
from tests.ticketing.test_element import batch, make_tickets

NAME = "Ticketing BE 01"
PATH = "/api/elements/Ticketing%20BE%2001/params"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class HarnessHost:
    """The ElementHost interface over an in-process Ticketing BE (its effects carried out)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.element = harness.element
        self.view = harness.element.view
        self.name = self.view.name
        self.state = HostState.RUNNING

    async def set(self, ref: int | str, value: Any) -> None:
        self.harness.set(ref, value)

    async def interapp(self, raw: str) -> list[ev.SendInterApp]:
        before = len(self.harness.interapp)
        self.harness.set(9000000, raw)
        return self.harness.interapp[before:]


class Runtime:
    def __init__(self, host: HarnessHost) -> None:
        self.elements = {host.name: host}


@pytest.fixture
def host() -> HarnessHost:
    clock = FakeClock()
    harness = ticketing_element(fp.FakePlatform(seed=3, clock=clock.now), clock)
    harness.set(9000000, batch(make_tickets(3)))
    return HarnessHost(harness)


def state(host: HarnessHost) -> tuple[dict[int, object], int]:
    return dict(host.view.values), len(host.harness.persisted)


async def put(host: HarnessHost, ref: str, body: dict[str, Any] | bytes) -> httpx.Response:
    async with api_client(create_app(Runtime(host))) as client:
        if isinstance(body, bytes):
            return await client.put(f"{PATH}/{ref}", content=body)
        return await client.put(f"{PATH}/{ref}", json=body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ref", "value"),
    [
        ("Tickets Completed", 7),
        ("Communication State", "HTTP/1.1 200 OK"),
        ("Request Path", "/x"),
        ("Process Tickets", 1),
        ("In Flight", "[]"),
        ("104", "[]"),
        ("Platform Response", "x"),
        ("9000001", "{}"),
    ],
)
async def test_a_put_on_what_only_the_element_sets_is_forbidden(host: HarnessHost, ref: str, value: Any) -> None:
    before = state(host)
    answer = await put(host, ref, {"value": value})
    assert answer.status_code == 403, answer.text
    reason = answer.json()["error"]
    assert "parameter with no write parameter: only the element sets it" in reason
    assert host.view.protocol.param(ref).name in reason
    assert state(host) == before


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["Max Retries", "Max Tickets Per Request", "Retry Delay"])
async def test_a_put_of_null_on_a_setting_is_refused(host: HarnessHost, name: str) -> None:
    before = state(host)
    answer = await put(host, name, {"value": None})
    assert answer.status_code == 422 and "clearable" in answer.json()["error"], answer.text
    assert state(host) == before
    assert (await put(host, "Ticketing Processing", {"value": "Enabled"})).status_code == 200
    assert host.view.get("Last Cycle Result") == "OK" and host.view.get("Tickets Completed") == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ref", "value", "status"),
    [
        ("Max Retries", 2.5, 422),
        ("Max Retries", 3.0, 200),
        ("Max Retries", "3", 200),
        ("Cherwell Username", None, 200),  # credentials are clearable
        ("Clear Completed", 0, 422),
        ("Clear Completed", "Clear", 200),
        ("Ticketing Processing", True, 200),
        ("InterApp Receive", "{}", 200),  # how messages arrive (this one is refused by the handler)
        ("\uff11\uff12", 3, 404),  # fullwidth 12
        ("Max Retrie\u017f", 3, 404),  # the long s
        ("Tic\u212aets Completed", 3, 404),  # the Kelvin sign
        ("max retries", 4, 200),
    ],
)
async def test_put_by_the_declaration(host: HarnessHost, ref: str, value: Any, status: int) -> None:
    before = state(host)
    answer = await put(host, ref, {"value": value})
    assert answer.status_code == status, answer.text
    if status != 200:
        assert state(host) == before


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        b'{"value": 3, "value": null}',
        b'{"value": 3, "other": {"a": 1, "a": 2}}',
        b'{"value": 3, "\\u0076alue": 4}',  # the same key, once escaped
    ],
)
async def test_a_body_with_a_duplicate_key_is_refused(host: HarnessHost, body: bytes) -> None:
    # Regression: the last member won silently ({"value": 3, "value": null} stored null).
    before = state(host)
    answer = await put(host, "Max Retries", body)
    assert answer.status_code == 400 and "appears twice" in answer.json()["error"], answer.text
    assert state(host) == before
