"""The management API on an agent, for the elements it does not run.

`/api/elements` lists every element of the cluster: those running here with this agent as
`owner`, the others as `standby` with the agent that owns them (`owner: null` while none does:
a takeover). A call about an element running elsewhere:

- a read (GET) is forwarded to the owner's API, which has the live state, and its answer
  returned as it is (a redirect would lose the token: clients drop it across hosts);
- a set or an InterApp message is stored in the shared inbox, in one transaction, and answered
  202 with its inbox id: the owner applies it once, in its own step (connector.service.cluster
  .inbox). The value is checked here first, against the protocol, as the owner would (404, 403,
  422), so that a 202 is not given for a set that can only be refused;
- when the database cannot store it, the answer is 503 with Retry-After: never a 202 for a
  message that is not durable.

The API module raises `Elsewhere` for an element it does not host; without an agent (a single
`connector run`) that is the usual 404.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.engine.http import httpx
from connector.engine.values import NotSettable, ValueRefused, coerce, settable
from connector.protocol.model import ParamType
from connector.service.api_json import ApiError, JsonAnswer, error, interapp_text, json_value, read_body

if TYPE_CHECKING:
    from connector.service.cluster.agent import Agent

RETRY_AFTER = "2"  # seconds: a takeover is a lease's time to live at most
FORWARD_TIMEOUT = 10.0  # seconds for the owner's answer to a forwarded read


class Elsewhere(Exception):
    """An element another agent runs (or will run: a takeover is under way)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _agent(runtime: object) -> Agent | None:
    return runtime if hasattr(runtime, "owner_of") else None  # type: ignore[return-value]


def not_here(runtime: object, name: str) -> Exception:
    """What the API raises for `name`, which it does not host."""
    agent = _agent(runtime)
    if agent is not None and name in agent.configs:
        return Elsewhere(name)
    return ApiError(404, f"no element named {name!r}")


def with_cluster(runtime: object, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`/api/elements`' entries with each element's owner, and the elements on standby here."""
    agent = _agent(runtime)
    if agent is None:
        return entries
    for entry in entries:
        entry["owner"] = _owner_json(agent, entry["name"])
    for name in agent.configs:
        if name not in agent.elements:
            protocol = agent.protocols[name]
            entries.append(
                {
                    "name": name,
                    "protocol": protocol.name,
                    "version": protocol.version,
                    "state": "standby",
                    "owner": _owner_json(agent, name),
                    **({"reason": f"the shared database: {agent.database_problem}"} if agent.database_problem else {}),
                    "summary": {},
                }
            )
    return entries


def _owner_json(agent: Agent, name: str) -> dict[str, str] | None:
    owner = agent.owner_of(name)
    return None if owner is None else {"name": owner.agent, "url": owner.url}


async def answer_elsewhere(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Elsewhere)
    agent = _agent(request.app.state.runtime)
    assert agent is not None
    owner = agent.owner_of(exc.name)
    if request.method == "GET":
        if owner is None or not owner.url:
            return _busy(f"element {exc.name!r} is being taken over by another agent; retry")
        return await _forward(request, owner.url)
    try:
        kind, ref, payload = await _message(request, agent, exc.name)
        if agent.book is None:
            raise psycopg.OperationalError("the agent has not started")
        queued = await agent.book.post(exc.name, kind, ref, payload)
    except ApiError as refused:
        return error(refused.status, refused.reason)
    except (psycopg.Error, OSError):
        return _busy(f"the shared database cannot store a message for {exc.name!r} now; nothing was stored, retry")
    return JsonAnswer({"queued": queued, "element": exc.name, "owner": _owner_json(agent, exc.name)}, status_code=202)


async def _message(request: Request, agent: Agent, name: str) -> tuple[str, str | None, str]:
    """(kind, parameter id, payload) of a set or an InterApp call, checked; ApiError when refused."""
    body = await read_body(request, request.app.state.max_body)
    protocol = agent.protocols[name]
    if request.url.path.endswith("/interapp"):
        return "interapp", None, interapp_text(body)
    ref = request.path_params.get("ref", "")
    try:
        param = protocol.param(ref)
    except (KeyError, ValueError):
        raise ApiError(404, f"element {name!r} has no parameter {ref!r}") from None
    if param.type is ParamType.ARRAY:
        raise ApiError(404, f"{param.name!r} is a table: read it at /tables/{param.id}")
    value = json_value(body)
    try:
        spec = settable(protocol, param)
        coerce(spec, value)
    except KeyError as refused:
        raise ApiError(404, str(refused.args[0]) if refused.args else "unknown parameter") from None
    except NotSettable as refused:
        raise ApiError(403, str(refused)) from None
    except ValueRefused as refused:
        raise ApiError(422, f"{param.name}: {refused}") from None
    return "set", str(param.id), json.dumps(value)


async def _forward(request: Request, owner_url: str) -> Response:
    """The owner's own answer to this read (its token passed on: the agents share one)."""
    target = owner_url.removesuffix("/api") + request.url.path
    headers = {name: value for name, value in request.headers.items() if name in ("authorization", "accept")}
    try:
        async with owner_client() as client:
            answer = await client.get(target, params=request.query_params, headers=headers)
    except httpx.HTTPError as failed:
        return _busy(f"the agent that runs the element does not answer ({type(failed).__name__}); retry")
    return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))


def owner_client() -> httpx.AsyncClient:
    """The client reads are forwarded with (tests put the other agent's app behind it)."""
    return httpx.AsyncClient(trust_env=False, timeout=FORWARD_TIMEOUT)


def _busy(reason: str) -> JSONResponse:
    return error(503, reason, {"Retry-After": RETRY_AFTER})
