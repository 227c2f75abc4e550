"""Agents sharing elements through PostgreSQL, in one event loop: ownership, hand-over, fencing, inbox.

Fast lease timing (a 2 s time to live) so that a takeover fits a test; the rules are the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from connector.engine.http import Connection
from connector.service.api import create_app
from connector.service.cluster import views
from connector.service.cluster.agent import Agent
from connector.service.cluster.leases import LeaseTiming
from connector.service.runtime import ElementConfig, HostState
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol

FAST = LeaseTiming(ttl=2.0, loop_wait=0.1, retry_timeout=0.5, margin=0.5)
NAMES = ("BE 1", "BE 2", "BE 3", "BE 4")


def configs(url: str, prefer: dict[str, str] | None = None) -> list[ElementConfig]:
    return [
        ElementConfig(
            name=name,
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=9),
            params={"Ticketing Processing": "Disabled"},
            secrets={},
            store_path=Path("unused.sqlite"),
            store_url=url,
            prefer=(prefer or {}).get(name),
        )
        for name in NAMES
    ]


async def started(url: str, name: str, prefer: dict[str, str] | None = None) -> Agent:
    agent = Agent(name, timing=FAST)
    agent.api_url = f"http://{name}.invalid/api"
    await agent.start(configs(url, prefer), {PROTOCOL_YAML: ticketing_protocol()})
    return agent


async def until(check: Callable[[], bool], seconds: float = 10.0) -> float:
    """Wait for `check`; the seconds it took (AssertionError past `seconds`)."""
    loop = asyncio.get_running_loop()
    begun = loop.time()
    while not check():
        if loop.time() - begun > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.02)
    return loop.time() - begun


def running(*agents: Agent) -> list[str]:
    return sorted(name for agent in agents for name in agent.elements)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def test_each_element_runs_on_one_agent_and_a_clean_stop_hands_over_at_once(postgres_url: str) -> None:
    async def test() -> None:
        a = await started(postgres_url, "a")
        b = await started(postgres_url, "b")
        await until(lambda: running(a, b) == list(NAMES) and len(a.elements) == len(b.elements) == 2)
        await until(lambda: len(b.owners) == 4)  # b's picture of the leases, renewed each loop
        listing = (
            await httpx.AsyncClient(transport=httpx.ASGITransport(create_app(b)), base_url="http://b").get(
                "/api/elements"
            )
        ).json()
        assert sorted(e["name"] for e in listing) == list(NAMES)
        for entry in listing:
            here = entry["name"] in b.elements
            assert entry["state"] == ("running" if here else "standby")
            assert entry["owner"] == (
                {"name": "b", "url": "http://b.invalid/api"} if here else {"name": "a", "url": "http://a.invalid/api"}
            )
        await a.stop()
        took = await until(lambda: len(b.elements) == 4, seconds=FAST.ttl)
        assert took < 1.0, "a hand-over is taken at once (NOTIFY), not when the lease runs out"
        await b.stop()

    run(test)


def test_a_lost_lease_stops_the_element_and_its_commits(postgres_url: str) -> None:
    async def test() -> None:
        a = await started(postgres_url, "a")
        await until(lambda: len(a.elements) == 4)
        host = a.elements["BE 1"]
        with psycopg.connect(postgres_url, autocommit=True) as db:  # another agent's takeover
            db.execute("UPDATE connector.leases SET epoch = epoch + 1, agent = 'x' WHERE element = 'BE 1'")
        with pytest.raises(Exception, match="lease .* is lost"):
            await host.set("Max Retries", 4)
        assert host.state is HostState.FAILED
        await until(lambda: "BE 1" not in a.elements)
        await a.stop()

    run(test)


def test_a_lease_not_renewed_in_time_stops_sending_before_it_expires(postgres_url: str) -> None:
    async def test() -> None:
        a = await started(postgres_url, "a")
        await until(lambda: len(a.elements) == 4)
        host = a.elements["BE 2"]
        lease = a.held["BE 2"]
        assert host.may_send()
        lease.deadline = 0.0  # as if the renewals had failed for ttl - margin seconds
        assert not host.may_send()
        await until(lambda: "BE 2" not in a.held, seconds=1)
        await a.stop()

    run(test)


def test_a_set_through_another_agent_is_stored_then_applied_once_by_the_owner(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def test() -> None:
        a = await started(postgres_url, "a", prefer={name: "a" for name in NAMES})
        b = await started(postgres_url, "b", prefer={name: "a" for name in NAMES})
        await until(lambda: len(a.elements) == 4 and len(b.owners) == 4)
        api = httpx.AsyncClient(transport=httpx.ASGITransport(create_app(b)), base_url="http://b")
        answer = await api.put("/api/elements/BE 3/params/Max Retries", json={"value": 7})
        assert answer.status_code == 202, answer.text
        queued = answer.json()["queued"]
        await until(lambda: a.elements["BE 3"].view.get("Max Retries") == 7)
        with psycopg.connect(postgres_url) as db:
            (applied,) = db.execute("SELECT applied FROM connector.inbox WHERE id = %s", (queued,)).fetchone()
        assert applied is not None
        refused = await api.put("/api/elements/BE 3/params/Max Retries", json={"value": "many"})
        assert refused.status_code == 422
        unknown = await api.put("/api/elements/BE 3/params/No Such", json={"value": 1})
        assert unknown.status_code == 404
        owner_api = create_app(a)
        monkeypatch.setattr(views, "owner_client", lambda: httpx.AsyncClient(transport=httpx.ASGITransport(owner_api)))
        read = await api.get("/api/elements/BE 3/params/Max Retries")
        assert read.status_code == 200 and read.json()["value"] == 7, "a read is the owner's answer"
        await a.stop()
        await until(lambda: len(b.elements) == 4)
        assert b.elements["BE 3"].view.get("Max Retries") == 7, "the new owner starts from the committed set"
        await b.stop()

    run(test)


def test_the_mark_of_an_inbox_message_is_committed_with_its_step(postgres_url: str) -> None:
    async def test() -> None:
        a = await started(postgres_url, "a")
        await until(lambda: len(a.elements) == 4)
        assert a.book is not None
        queued = await a.book.post("BE 4", "set", str(a.protocols["BE 4"].param("Max Retries").id), json.dumps(5))
        await until(lambda: a.elements["BE 4"].view.get("Max Retries") == 5)
        store = a.elements["BE 4"].store
        assert store.commits > 0 and queued not in store.acks  # type: ignore[attr-defined]
        assert await a.book.pending(["BE 4"]) == []
        await a.stop()

    run(test)


def test_an_agent_cut_off_from_the_database_stops_its_elements_says_so_and_resumes(postgres_url: str) -> None:
    async def test() -> None:
        a = await started(postgres_url, "a")
        await until(lambda: len(a.elements) == 4)
        book = a.book
        assert book is not None
        reachable = book._settings
        book._settings = reachable.replace(f"port={_port(postgres_url)}", "port=9")  # nothing listens there
        await book.close()
        await until(lambda: a.database_problem != "" and not a.elements, seconds=FAST.ttl + 1)
        api = httpx.AsyncClient(transport=httpx.ASGITransport(create_app(a)), base_url="http://a")
        metrics = (await api.get("/metrics")).text
        assert "connector_agent_database_up 0.0" in metrics and "connector_agent_leases_lost_total 4.0" in metrics
        listed = (await api.get("/api/elements")).json()
        assert {(e["state"], e["owner"]) for e in listed} == {("standby", None)}
        assert all("the shared database" in e["reason"] for e in listed)
        refused = await api.put("/api/elements/BE 1/params/Max Retries", json={"value": 3})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2", "never a 202 not stored"
        book._settings = reachable
        await until(lambda: len(a.elements) == 4 and a.database_problem == "", seconds=FAST.ttl + 2)
        await a.stop()

    run(test)


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/", 1)[0]


def test_interapp_between_elements_on_different_agents_goes_through_the_inbox(
    postgres_url: str, ticket_batch: str
) -> None:
    async def test() -> None:
        prefer = {"BE 1": "a", "BE 2": "a", "BE 3": "b", "BE 4": "b"}
        a = await started(postgres_url, "a", prefer)
        b = await started(postgres_url, "b", prefer)
        await until(lambda: sorted(a.elements) == ["BE 1", "BE 2"] and sorted(b.elements) == ["BE 3", "BE 4"])
        agent_id, element_id = a.ids["BE 3"].split("/")
        # WM's batch, its replies addressed to BE 3 (on agent b) rather than to WM.
        raw = ticket_batch.replace('"agentId":101,"elementId":12', f'"agentId":{agent_id},"elementId":{element_id}')
        await a.elements["BE 1"].interapp(raw)
        await until(lambda: "TicketBatchResponse" in str(b.elements["BE 3"].view.get(9000001) or ""))
        await a.stop()
        await b.stop()

    run(test)


def test_the_lease_loop_goes_on_after_an_unexpected_failure(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        a = Agent("a", timing=FAST)
        a.api_url = "http://a.invalid/api"
        await a.start(configs(postgres_url), {PROTOCOL_YAML: ticketing_protocol()})
        assert a.book is not None
        look, failures = a.book.look, []

        async def failing_once() -> Any:
            if not failures:
                failures.append(1)
                raise RuntimeError("a bug of ours")
            return await look()

        a.book.look = failing_once  # type: ignore[method-assign]
        await until(lambda: len(a.elements) == 4)
        assert failures and "its lease loop failed; it goes on" in caplog.text
        await a.stop()

    run(test)
