"""Reads of an element on standby, answered by the agent itself from the shared store."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import attrs
import httpx
import pytest

from connector.service.api import create_app
from connector.service.cluster.agent import Agent
from connector.service.cluster.standby import StandbyViews, Unavailable
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol
from tests.service.cluster.test_agent import FAST, NAMES, configs, run, until

SECRET = "hunter2-never-shown"
ON_A = {name: "a" for name in NAMES}


async def agent(url: str, name: str) -> Agent:
    started = Agent(name, timing=FAST)
    started.api_url = f"http://{name}.invalid/api"
    with_secret = [attrs.evolve(c, secrets={"Cherwell Password": SECRET}) for c in configs(url, ON_A)]
    await started.start(with_secret, {PROTOCOL_YAML: ticketing_protocol()})
    return started


def client(of: Agent) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(create_app(of)), base_url=f"http://{of.name}")


INTERAPP_RECEIVE = 9000000  # the last raw InterApp message: the owner's memory, never saved


def _at_rest(answer: object) -> object:
    """An answer without what only the owner's memory holds (as the owner shows it after a restart)."""
    if isinstance(answer, list):
        return [p for p in answer if p["id"] != INTERAPP_RECEIVE]
    return answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_read_through_a_standby_is_the_owners_answer(
    postgres_url: str, ticket_batch: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def test() -> None:
        a, b = await agent(postgres_url, "a"), await agent(postgres_url, "b")
        await until(lambda: len(a.elements) == 4 and len(b.owners) == 4)
        await a.elements["BE 1"].interapp(ticket_batch)  # rows in Ticket Overview, counts derived from them
        owner, standby = client(a), client(b)
        for path in (
            "/api/elements/BE 1/params",
            "/api/elements/BE 1/params/Tickets Waiting",
            "/api/elements/BE 1/params/Cherwell Password",
            "/api/elements/BE 1/tables/Ticket Overview?offset=1&limit=2&sort=-1001",
            "/api/elements/BE 1/tables/Ticket Overview?where=Status%3DReceived",
        ):
            mine, theirs = await owner.get(path), await standby.get(path)
            assert mine.status_code == theirs.status_code == 200, (path, theirs.text)
            assert _at_rest(theirs.json()) == _at_rest(mine.json()), path
            assert SECRET not in theirs.text
        table = (await standby.get("/api/elements/BE 1/tables/Ticket Overview?limit=2")).json()
        assert len(table["rows"]) == 2 and table["total"] > 2
        assert (await standby.get("/api/elements/BE 1/params/Tickets Waiting")).json()["value"] > 0
        listed = {e["name"]: e for e in (await standby.get("/api/elements")).json()}
        owned = {e["name"]: e for e in (await owner.get("/api/elements")).json()}
        assert listed["BE 1"]["state"] == "standby" and listed["BE 1"]["summary"] == owned["BE 1"]["summary"]
        assert (await standby.get("/api/elements/BE 1/params/No Such")).status_code == 404
        assert b.standby.loads >= 1
        starts = [r for r in caplog.records if r.getMessage().startswith("[BE 1] started with")]
        assert len(starts) == 1, "only the owner's start is logged, not the standby's views"
        await b.stop()
        await a.stop()

    run(test)


def test_a_standby_view_is_kept_a_second_then_read_again(postgres_url: str) -> None:
    async def test() -> None:
        a, b = await agent(postgres_url, "a"), await agent(postgres_url, "b")
        await until(lambda: len(a.elements) == 4 and len(b.owners) == 4)
        clock = Clock()
        b.standby = StandbyViews(b, fresh_for=1.0, clock=clock)
        standby = client(b)
        path = "/api/elements/BE 2/params/Max Retries"
        assert (await standby.get(path)).json()["value"] == 3
        await a.elements["BE 2"].set("Max Retries", 6)
        assert (await standby.get(path)).json()["value"] == 3, "within the second: the view kept"
        assert b.standby.loads == 1
        clock.now += 1.01
        assert (await standby.get(path)).json()["value"] == 6, "past it: the committed set"
        assert b.standby.loads == 2
        b.standby.close()
        await b.stop()
        await a.stop()

    run(test)


def test_a_standby_read_the_database_cannot_answer_is_a_503_with_retry_after(postgres_url: str) -> None:
    async def test() -> None:
        a, b = await agent(postgres_url, "a"), await agent(postgres_url, "b")
        await until(lambda: len(a.elements) == 4 and len(b.owners) == 4)
        port = postgres_url.rsplit(":", 1)[1].split("/", 1)[0]
        unreachable = postgres_url.replace(f":{port}/", ":9/")  # nothing listens there
        b.configs["BE 3"] = attrs.evolve(b.configs["BE 3"], store_url=unreachable)
        standby = client(b)
        for path in ("/api/elements/BE 3/params", "/api/elements/BE 3/tables/Ticket Overview"):
            refused = await standby.get(path)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "2", refused.text
            assert "cannot be read now" in refused.json()["error"]
        listed = {e["name"]: e for e in (await standby.get("/api/elements")).json()}
        assert listed["BE 3"]["summary"] == {} and listed["BE 4"]["summary"] != {}
        cut_off = SimpleNamespace(configs=b.configs, protocols=b.protocols, ids=b.ids, database_problem="a cut")
        views = StandbyViews(cut_off)
        with pytest.raises(Unavailable, match="a cut"):  # the lease loop found it down: no connect tried
            await views.view("BE 4")
        assert views.loads == 0
        views.close()
        b.configs["BE 3"] = attrs.evolve(b.configs["BE 3"], store_url=postgres_url)
        await b.stop()
        await a.stop()

    run(test)
