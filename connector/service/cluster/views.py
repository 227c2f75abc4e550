"""The management API on an agent, for the elements it does not run.

`/api/elements` lists every element of the cluster: those running here with this agent as
`owner`, the others as `standby` with the agent that owns them (`owner: null` while none does:
a takeover). A call about an element running elsewhere:

- a read (GET of its parameters or tables) is answered here, from the shared store: the
  element's committed state, kept a second (connector.service.cluster.standby); 503 with
  Retry-After when the database cannot be read. `/api/elements` shows a standby element's
  summary from the same view;
- a set or an InterApp message is stored in the shared inbox, in one transaction, and answered
  202 with its inbox id: the owner applies it once, in its own step (connector.service.cluster
  .inbox). The value is checked here first, against the protocol, as the owner would (404, 403,
  422), so that a 202 is not given for a set that can only be refused;
- when the database cannot store it, the answer is 503 with Retry-After: never a 202 for a
  message that is not durable.

The API module raises `Elsewhere` for an element it does not host (its reads ask `readable`
first); without an agent (a single `connector run`) that is the usual 404.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, TypeGuard

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.engine.element import ElementView
from connector.engine.values import NotSettable, ValueRefused, coerce, display, settable
from connector.protocol.model import ParamType
from connector.service.api_json import ApiError, JsonAnswer, error, interapp_text, json_value, read_body

if TYPE_CHECKING:
    # Only for annotations: a `connector run` without --store postgresql:// serves this module
    # too, and must not import psycopg (and the PostgreSQL store) at its start.
    from connector.service.cluster.agent import Agent
    from connector.service.cluster.standby import StandbyHost

RETRY_AFTER = "2"  # seconds: a takeover is a lease's time to live at most


class Elsewhere(Exception):
    """An element another agent runs (or will run: a takeover is under way)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _is_agent(runtime: object) -> TypeGuard[Agent]:
    # Duck-typed, not isinstance: the API is also served over fake agents (the CLI client tests).
    return hasattr(runtime, "owner_of")


def _agent(runtime: object) -> Agent | None:
    return runtime if _is_agent(runtime) else None


def not_here(runtime: object, name: str) -> Exception:
    """What the API raises for `name`, which it does not host."""
    agent = _agent(runtime)
    if agent is not None and name in agent.configs:
        return Elsewhere(name)
    return ApiError(404, f"no element named {name!r}")


async def readable(runtime: object, elsewhere: Elsewhere) -> StandbyHost:
    """An element on standby here, to read: its committed state from the shared store."""
    agent = _agent(runtime)
    assert agent is not None  # Elsewhere is raised for an agent's element only
    return await agent.standby.host(elsewhere.name)


def summary(view: ElementView) -> dict[str, str]:
    """The parameters the protocol marks `summary: true`, as displayed."""
    params = view.protocol.params.values()
    return {param.name: display(param, view.values.get(param.id)) for param in params if param.summary}


async def with_cluster(runtime: object, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`/api/elements`' entries with each element's owner, and the elements on standby here
    (their summary from the shared store; empty when it cannot be read)."""
    agent = _agent(runtime)
    if agent is None:
        return entries
    for entry in entries:
        entry["owner"] = _owner_json(agent, entry["name"])
    from connector.service.cluster.standby import Unavailable  # loaded already on an agent

    standby = [name for name in agent.configs if name not in agent.elements]
    views = await asyncio.gather(*(agent.standby.view(name) for name in standby), return_exceptions=True)
    for name, view in zip(standby, views, strict=True):
        if isinstance(view, BaseException) and not isinstance(view, Unavailable):
            raise view  # our bug: answered 500 and logged
        protocol = agent.protocols[name]
        shown = {} if isinstance(view, Unavailable) else summary(view)
        entries.append(
            {
                "name": name,
                "protocol": protocol.name,
                "version": protocol.version,
                "state": "standby",
                "owner": _owner_json(agent, name),
                **({"reason": f"the shared database: {agent.database_problem}"} if agent.database_problem else {}),
                "summary": shown,
            }
        )
    return entries


def _owner_json(agent: Agent, name: str) -> dict[str, str] | None:
    owner = agent.owner_of(name)
    return None if owner is None else {"name": owner.agent, "url": owner.url}


async def answer_elsewhere(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Elsewhere)
    import psycopg  # loaded already on an agent (see TYPE_CHECKING above)

    agent = _agent(request.app.state.runtime)
    assert agent is not None
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


def _busy(reason: str) -> JSONResponse:
    return error(503, reason, {"Retry-After": RETRY_AFTER})
