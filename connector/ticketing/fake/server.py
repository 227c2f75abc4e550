"""The fake platform on the wire: a Starlette app around `FakePlatform.handle`, its control API, and
what `connector platform` runs.

Platform traffic (everything outside `/_fake/`) skips Starlette's routing and middleware on purpose:
a *lost* answer must look like a dropped connection, and ASGI has no message for that. A server that
sees an app fail before it started answering sends a 500 of its own (the ASGI spec asks for it), so
failing is not enough. uvicorn's `send` is a bound method of its request cycle, which owns the
transport: closing that transport before answering is the one way to give the client a connection
closed with no response (httpx: RemoteProtocolError or ReadError). The app must be the outermost ASGI
layer to see that `send`, hence the bypass. On another server, or in process through
`httpx.ASGITransport`, there is no transport: the app raises `AnswerLost`, which ASGITransport hands
to the client as an exception.

The control API, for tools and crash tests run against a real server process:

    GET  /_fake/state     counts, request counters, injected faults, incidents, notes, work orders
    GET  /_fake/faults    the current Faults as JSON
    PUT  /_fake/faults    replace them (JSON object of Faults fields; a missing field takes its default)
    POST /_fake/revoke    every access token stops working
    POST /_fake/seed      {"incidents": n[, "seed": s]}: add n manual incidents
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any, TypeGuard

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from connector.commandline import EXIT_CANNOT_LISTEN, EXIT_OK, listening_socket
from connector.ticketing.fake.answers import FakeAnswer
from connector.ticketing.fake.data import DEFAULT_API_KEY, DEFAULT_CLIENT_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME
from connector.ticketing.fake.faults import Faults
from connector.ticketing.fake.platform import FakePlatform

CONTROL_PREFIX = "/_fake/"

logger = logging.getLogger(__name__)


class AnswerLost(ConnectionError):
    """The fake dropped this answer (`Faults.lost_rate`) and had no socket to close."""


class FakePlatformApp(Starlette):
    """Starlette for the control API; platform calls go straight to `FakePlatform.handle`."""

    def __init__(self, platform: FakePlatform) -> None:
        super().__init__(routes=_control_routes(platform))
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            await _serve_platform_call(self.platform, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(platform: FakePlatform) -> Starlette:
    return FakePlatformApp(platform)


async def _serve_platform_call(platform: FakePlatform, scope: Scope, receive: Receive, send: Send) -> None:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # the client left before sending its request: nothing to apply, nobody to answer
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    # raw_path keeps the percent-encoding (the core decodes once); httpx's ASGITransport puts the
    # query string in it too, so cut it there and take the query from query_string.
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    target = raw_path.split(b"?", 1)[0].decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    answer = platform.handle(scope["method"], target, headers, bytes(body))
    if answer.delay:
        await asyncio.sleep(answer.delay)
    if answer.lost:
        await _drop_connection(send)
    else:
        await _send_answer(answer, send)


async def _send_answer(answer: FakeAnswer, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers.items()]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _drop_connection(send: Send) -> None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.BaseTransport):
        raise AnswerLost("the fake platform dropped this answer (lost_rate)")
    transport.close()
    # Let the server's connection_lost run before the app returns: uvicorn then knows the client is
    # gone and neither logs an error nor tries its own 500.
    for _ in range(3):
        await asyncio.sleep(0)


def _control_routes(platform: FakePlatform) -> list[Route]:
    async def state(request: Request) -> JSONResponse:
        return JSONResponse(platform.snapshot())

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(platform.faults.to_json())

    async def put_faults(request: Request) -> JSONResponse:
        try:
            faults = Faults.from_json(await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": f"invalid faults: {exc}"}, status_code=400)
        platform.faults = faults
        return JSONResponse(faults.to_json())

    async def revoke(request: Request) -> JSONResponse:
        return JSONResponse({"revoked": platform.revoke_tokens()})

    async def seed(request: Request) -> JSONResponse:
        try:
            data: Any = await request.json()
        except ValueError:
            data = None
        count = data.get("incidents") if isinstance(data, dict) else None
        seed_value = data.get("seed") if isinstance(data, dict) else None
        if not _is_count(count) or not (seed_value is None or _is_count(seed_value)):
            return JSONResponse(
                {"error": 'send {"incidents": <n >= 0>} with an optional integer "seed"'}, status_code=400
            )
        created = platform.seed_incidents(count, seed=seed_value)
        return JSONResponse({"created": [incident.incident_id for incident in created]})

    return [
        Route(CONTROL_PREFIX + "state", state, methods=["GET"]),
        Route(CONTROL_PREFIX + "faults", get_faults, methods=["GET"]),
        Route(CONTROL_PREFIX + "faults", put_faults, methods=["PUT"]),
        Route(CONTROL_PREFIX + "revoke", revoke, methods=["POST"]),
        Route(CONTROL_PREFIX + "seed", seed, methods=["POST"]),
    ]


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000


class PlatformAddressError(OSError):
    """The address to listen on is taken or cannot be used; nothing was started."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` stops the same way on SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(
    host: str,
    port: int,
    *,
    seed: int = 0,
    incidents: int = 0,
    client_id: str = DEFAULT_CLIENT_ID,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    api_key: str = DEFAULT_API_KEY,
    log_level: str = "info",
) -> None:
    """Run the fake platform on host:port until SIGINT or SIGTERM (either: one line, then return).

    The address is bound first: PlatformAddressError when it is taken, before anything else.
    """
    sock = _bind(host, port)
    platform = FakePlatform(seed=seed, client_id=client_id, username=username, password=password, api_key=api_key)
    if incidents:
        platform.seed_incidents(incidents)
    # The credentials stay out of the log on purpose: this line ends up in CI output.
    logger.info("fake platform on http://%s:%d (seed %d, %d incidents)", host, port, seed, incidents)
    # The fake's own defaults are shown: they are public (`--help` has them too), and a person
    # trying the connector needs them. A credential given on the command line is not repeated.
    accepted = ", ".join(
        f"{name} {default if value == default else '(as given)'}"
        for name, value, default in (
            ("client_id", client_id, DEFAULT_CLIENT_ID),
            ("username", username, DEFAULT_USERNAME),
            ("password", password, DEFAULT_PASSWORD),
            ("X-Api-Key", api_key, DEFAULT_API_KEY),
        )
    )
    print(
        f"fake platform on http://{host}:{port} (seed {seed}, {incidents} incidents); accepts {accepted}",
        file=sys.stderr,
    )
    server = _Server(uvicorn.Config(create_app(platform), log_level=log_level))
    signal_name = asyncio.run(_serve_until_signal(server, sock))
    print(f"fake platform stopped ({signal_name or 'shut down'})", file=sys.stderr)


def _bind(host: str, port: int) -> socket.socket:
    try:
        return listening_socket(host, port)
    except OSError as exc:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise PlatformAddressError(f"cannot listen on {where}: {exc.strerror or exc}") from None


async def _serve_until_signal(server: uvicorn.Server, sock: socket.socket) -> str:
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def stop(sig: signal.Signals) -> None:
        received.append(sig.name)
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await server.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return received[0] if received else ""


def run(args: argparse.Namespace) -> int:
    """`connector platform`: serve until SIGINT or SIGTERM (the options are declared in
    `connector.ticketing.commands`; a credential not given is the fake's default)."""
    try:
        serve(
            args.host,
            args.port,
            seed=args.seed,
            incidents=args.incidents,
            client_id=_given(args.client_id, DEFAULT_CLIENT_ID),
            username=_given(args.username, DEFAULT_USERNAME),
            password=_given(args.password, DEFAULT_PASSWORD),
            api_key=_given(args.api_key, DEFAULT_API_KEY),
            log_level=args.log_level,
        )
    except PlatformAddressError as exc:
        print(f"connector platform: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    return EXIT_OK


def _given(value: str | None, default: str) -> str:
    return default if value is None else value


__all__ = ["AnswerLost", "FakePlatformApp", "PlatformAddressError", "create_app", "run", "serve"]
