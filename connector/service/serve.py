"""`connector run`: host elements and the management API in one process until told to stop.

SIGTERM or SIGINT: every element finishes its running group (the answer handled and
committed), its store is closed, and the process exits 0. A second SIGTERM or SIGINT gives up
on the requests still on the wire and exits 130 at once; that loses nothing either, as SIGKILL
loses nothing: each step is committed before anything that depends on it leaves the process;
the next start resumes from the store and reconciles what was in flight.

The API's address is bound before any element starts: an address in use is one line
(ApiAddressError) and nothing started or created. Under systemd (`Type=notify`), READY=1 is sent
once the API answers and STOPPING=1 when the stop begins (connector.service.systemd).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from connector.commandline import EXIT_INTERRUPTED, listening_socket
from connector.protocol.model import Protocol
from connector.service import systemd
from connector.service.api import create_app
from connector.service.api_limits import LimitedHttpToolsProtocol
from connector.service.runtime import ElementConfig, Runtime

log = logging.getLogger("connector.serve")

DEFAULT_API = "127.0.0.1:8970"


class ApiAddressError(ValueError):
    pass


def parse_api_address(text: str, *, token: str | None) -> tuple[str, int]:
    """HOST:PORT for the management API; anything but loopback needs a token."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ApiAddressError(f"--api {text!r}: expected HOST:PORT, e.g. {DEFAULT_API}")
    host = host.strip("[]") or "127.0.0.1"
    if not is_loopback(host) and not token:
        raise ApiAddressError(
            f"--api {text!r}: the management API listens on loopback only unless "
            "--api-token is given (it can change parameters and receive tickets)"
        )
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server(app: ASGIApp, host: str, port: int) -> tuple[_Server, socket.socket]:
    """A uvicorn server on an already bound socket (port 0 picks a free one)."""
    sock = listening_socket(host, port)
    config = uvicorn.Config(
        app,
        # httptools, as uvicorn would pick, with limits on each request's head and time.
        http=LimitedHttpToolsProtocol,
        log_level="warning",
        # uvicorn's records go through the root logger, so that configure_logging's one-line
        # formatter covers them too.
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    return _Server(config), sock


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    configs: Sequence[ElementConfig] | Callable[[], Sequence[ElementConfig]],
    protocols: Mapping[Path, Protocol],
    *,
    api_host: str,
    api_port: int,
    token: str | None = None,
    until: Callable[[Runtime, int], Coroutine[Any, Any, None]] | None = None,
    runtime: Runtime | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or until `until(runtime, api_port)` returns).

    `configs` may be a function, called once the API's address is bound: whatever it starts or
    creates waits until the address is known to be ours. ApiAddressError: it is not.
    `runtime`: the one to run (an agent sharing elements: connector.service.cluster); default a
    runtime of its own.
    """
    runtime = runtime if runtime is not None else Runtime()
    try:
        server, sock = api_server(create_app(runtime, token=token), api_host, api_port)
    except OSError as exc:
        where = listen_address(api_host, api_port)
        raise ApiAddressError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    runtime.api_url = f"http://{listen_address(api_host, sock.getsockname()[1])}/api"
    try:
        await runtime.start(list(configs() if callable(configs) else configs), protocols)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    api_task = asyncio.create_task(server.serve(sockets=[sock]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_stop_signal, stop, sig)
    while not server.started and not api_task.done():  # uvicorn listens a few loop turns later
        await asyncio.sleep(0.005)
    where = listen_address(api_host, port)
    log.info(
        "management API on http://%s/api, element card on http://%s/ (elements: %s)",
        where,
        where,
        ", ".join(runtime.elements),
    )
    systemd.notify("READY=1")
    _freeze_startup_heap()
    waiters: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait())]
    if until is not None:
        waiters.append(asyncio.create_task(until(runtime, port)))
    try:
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)  # `until` sees its cancel while all runs
        for task in done:
            task.result()  # an error in `until` is the caller's to see
    finally:
        systemd.notify("STOPPING=1")
        log.info("stopping: finishing the running groups (a second SIGINT or SIGTERM gives up on them)")
        stop.set()
        server.should_exit = True
        await runtime.stop()
        await api_task
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


YOUNG_GENERATION = 50_000  # objects allocated between two young collections


def _freeze_startup_heap() -> None:
    """Leave what start-up built (modules, the protocols, the restored rows) out of the garbage
    collector's full passes: it lives as long as the process, and scanning it again in every full
    collection was the biggest part of what a drain cost more as the code grew (a full pass over
    the start-up heap, 60 ms, in a 5,000-ticket drain of 0.7 s of CPU). Its garbage is collected
    first; what is freed later by reference count is still freed.

    Then the young generation is let grow to 50,000 objects before a collection (Python's default
    is 700): a cycle builds a Ticket per row and keeps them all to its end, so every young
    collection walked the ones built since the last and promoted them, to be walked again. In a
    5,000-ticket drain: 141 collections and 12 to 13 ms at 700, 4 and 5 ms at 10,000, none at
    50,000. A collection still comes every 50,000 objects: no more than that waits."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])


def _on_stop_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    """The first signal stops in order; a second gives up on the requests on the wire.

    Leaving at once is safe: every step is committed before anything depending on it leaves the
    process, so the next start reconciles what was in flight, as after SIGKILL.
    """
    if not stop.is_set():
        stop.set()
        return
    log.warning("%s again: giving up on the requests on the wire; the next start reconciles them", sig.name)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


# Libraries whose records are not events an operator acts on: their warnings only, at every
# level (at DEBUG, httpcore alone writes hundreds of lines a cycle; tzlocal a multi-line note).
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "h2", "tzlocal", "asyncio", "uvicorn", "multipart")
LOG_FORMATS = ("text", "json")


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """One line an event on stderr: `text` (ISO 8601 UTC time, level, logger, message, then the
    event's fields as key=value) or `json` (one object a line: ts, level, logger, element, event,
    message and the event's fields)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(TEXT_FORMAT))
    handler.set_name("connector")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "connector"]:
        root.removeHandler(old)  # configured again (tests, the demo after the platform)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def utc_time(record: logging.LogRecord) -> str:
    """The record's time in ISO 8601 UTC with milliseconds: 2026-12-02T01:35:33.123Z."""
    seconds = int(record.created)
    millis = min(int((record.created - seconds) * 1000), 999)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event's fields a log call passed (`extra={"fields": {...}}`), or none."""
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, Mapping) else {}


def _element_and_message(record: logging.LogRecord) -> tuple[str | None, str]:
    """The element a record is about and its message without the "[element] " prefix."""
    message = record.getMessage()
    element = getattr(record, "element", None)
    if element is None and message.startswith("[") and "] " in message:
        element = message[1 : message.index("] ")]
    if element is not None and message.startswith(f"[{element}] "):
        message = message[len(element) + 3 :]
    return element, message


# Every control character (C0, DEL, C1) and the Unicode line and paragraph separators, written
# the way repr() writes them: `\n`, `\x1b`, `\u2028`.
_ESCAPES = {code: repr(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


class OneLineFormatter(logging.Formatter):
    """One record, one line: control characters in the message are escaped.

    Messages quote what comes from outside (guids, ticket ids, the platform's error texts); a
    newline in one of them would otherwise write a line of its own, e.g. a forged CRITICAL record.
    A traceback keeps its lines, each indented so that none can pass for a record.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        # A text already in the message is not written twice (JSON keeps every field).
        fields = {k: v for k, v in event_fields(record).items() if not (isinstance(v, str) and (not v or v in line))}
        if fields:
            line += " " + " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return line.translate(_ESCAPES)

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, element, event, message, the event's fields
    (and the traceback, as `exception`). JSON escapes control characters by itself."""

    def format(self, record: logging.LogRecord) -> str:
        element, message = _element_and_message(record)
        line: dict[str, Any] = {
            "ts": utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "element": element,
            "event": getattr(record, "event", None) or None,
            "message": message,
        }
        for key, value in event_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False).translate(_JSON_SEPARATORS)


# json.dumps leaves U+2028/U+2029 as they are with ensure_ascii=False: some readers split lines there.
_JSON_SEPARATORS = {0x2028: "\\u2028", 0x2029: "\\u2029"}


def _indented(text: str) -> str:
    return "\n".join("  " + line.translate(_ESCAPES) for line in text.split("\n"))


__all__ = [
    "DEFAULT_API",
    "ApiAddressError",
    "JsonFormatter",
    "OneLineFormatter",
    "Protocol",
    "configure_logging",
    "listen_address",
    "parse_api_address",
    "serve",
]
