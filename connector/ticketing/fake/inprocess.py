"""A Ticketing BE element wired to the fake platform in process, under a fake clock.

For tests, the in-process benchmark and anyone who wants to watch the connector work without
sockets: the element runs the real protocol.yaml and handlers; only the far side of the
contract (the platform) is the fake, reached through a transport that behaves like the HTTP
adapter (a lost answer is a dropped connection, latency beyond the timeout is a timeout).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connector.engine import events as ev
from connector.engine.element import Element, Saved
from connector.engine.loading import param_values, resolve_handlers
from connector.engine.store import Store
from connector.engine.testing import FakeClock, Harness, Transport
from connector.protocol.loader import load_protocol
from connector.protocol.model import Protocol
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing import fake as fp

_protocols: dict[Path, Protocol] = {}


def ticketing_protocol(path: Path = PROTOCOL_YAML) -> Protocol:
    if path not in _protocols:
        _protocols[path] = load_protocol(path)
    return _protocols[path]


def platform_transport(platform: fp.FakePlatform, clock: FakeClock | None = None) -> Transport:
    """Answer an element's requests from the fake platform, as the HTTP adapter would."""

    def send(request: ev.SendRequest) -> ev.HttpResult:
        body = (request.body or "").encode("utf-8")
        answer = platform.handle(request.method, request.path, request.headers, body)
        timeout = request.timeout or 30.0
        if answer.delay > timeout:
            if clock is not None:
                clock.advance(timeout)
            return ev.HttpResult(
                request_id=request.request_id, error="timeout", detail=f"no answer within {timeout:g} s"
            )
        if clock is not None and answer.delay:
            clock.advance(answer.delay)
        if answer.lost:
            return ev.HttpResult(
                request_id=request.request_id, error="lost", detail="connection lost: server disconnected"
            )
        return ev.HttpResult(
            request_id=request.request_id,
            status=answer.status,
            reason=answer.reason,
            headers={k.lower(): v for k, v in answer.headers.items()},
            body=answer.body.decode("utf-8", "replace"),
        )

    return send


def credentials() -> dict[int | str, Any]:
    """Parameter values that log in to a FakePlatform built with its default credentials."""
    return {"Cherwell Client ID": fp.DEFAULT_CLIENT_ID, "Cherwell Username": fp.DEFAULT_USERNAME}


def secrets() -> dict[int | str, Any]:
    return {"Cherwell Password": fp.DEFAULT_PASSWORD, "SFyC API Key": fp.DEFAULT_API_KEY}


def ticketing_element(
    platform: fp.FakePlatform,
    clock: FakeClock,
    *,
    params: Mapping[int | str, Any] | None = None,
    store: Store | None = None,
    name: str = "Ticketing BE 01",
) -> Harness:
    """A started Ticketing BE element (initial values `params` by name) on the fake platform."""
    protocol = ticketing_protocol()
    element = Element(
        protocol, name=name, handlers=resolve_handlers(protocol), now=clock.now, monotonic=clock.monotonic
    )
    harness = Harness(element, clock, transport=platform_transport(platform, clock), store=store)
    saved = store.load() if store is not None else Saved()
    harness.start(
        saved=saved,
        initial=param_values(protocol, {**credentials(), **(params or {})}),
        always=param_values(protocol, secrets()),
    )
    return harness
