"""What the platform sends back is bounded: a deadline for the whole request, a cap on the answer.

Regressions (issue 11): a server dripping one byte every 2 s held the login for as long as it
liked (httpx's timeout is per read) and SIGTERM waited out its 30 s grace on it; a 400 MiB
body took the process to 2.4 GB. Each test talks to a real loopback server that misbehaves.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import Callable

import pytest

from connector.engine.events import HttpResult, SendRequest
from connector.engine.http import MAX_ANSWER_BYTES, Connection, HttpTransport

Script = Callable[[socket.socket, threading.Event], None]
CAP = 1 << 20  # the tests' cap on an answer: 1 MiB


class Misbehaving(threading.Thread):
    """A loopback server: reads each request's head, then runs `script` on the connection until
    it ends or the client goes away."""

    def __init__(self, script: Script) -> None:
        super().__init__(daemon=True)
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()

    def run(self) -> None:
        self.listener.settimeout(10)
        with self.listener, self.listener.accept()[0] as conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            try:
                self.script(conn, self.done)
            except OSError:
                pass  # the client gave up: what the tests want

    def __enter__(self) -> Misbehaving:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(15)


def drip(data: bytes, every: float = 0.05) -> Script:
    def script(conn: socket.socket, done: threading.Event) -> None:
        for byte in data:
            if done.wait(every):
                return
            conn.sendall(bytes([byte]))

    return script


def send(
    server: Misbehaving, *, timeout: float = 0.5, connection: Connection | None = None, method: str = "GET"
) -> tuple[HttpResult, float]:
    """The result of one request to `server` (or to `connection`), and how long it took; the
    test fails after 5 s."""

    async def go() -> HttpResult:
        target = connection or Connection(host="127.0.0.1", port=server.port)
        transport = HttpTransport(target, max_answer_bytes=CAP)
        try:
            request = SendRequest(
                request_id=1, session=1, method=method, path="/x", headers={}, body=None, timeout=timeout
            )
            return await asyncio.wait_for(transport.send(request), 5)
        finally:
            await transport.aclose()

    started = time.monotonic()
    return asyncio.run(go()), time.monotonic() - started


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def test_a_body_dripped_a_byte_at_a_time_ends_at_the_deadline() -> None:
    def script(conn: socket.socket, done: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 1000\r\n\r\n")
        drip(b"x" * 1000)(conn, done)  # a byte every 50 ms: each read well within 0.5 s

    with Misbehaving(script) as server:
        result, took = send(server)
    assert result.error == "timeout" and result.detail == "no answer within 0.5 s"
    assert took < 1.5


def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline() -> None:
    with Misbehaving(drip(HEAD + b"X-Slow: " + b"y" * 1000 + b"\r\n")) as server:
        result, took = send(server)
    assert result.error == "timeout" and took < 1.5


def test_a_proxy_that_drips_is_held_to_the_deadline_too(monkeypatch: pytest.MonkeyPatch) -> None:
    with Misbehaving(drip(HEAD + b"X-Slow: " + b"y" * 1000 + b"\r\n")) as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        platform = Connection(host="platform.example", port=80, bus_address="Proxy")  # not BypassProxy
        result, took = send(proxy, connection=platform)
    assert result.error == "timeout" and took < 1.5


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read() -> None:
    def script(conn: socket.socket, done: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 419430400\r\n\r\n")  # 400 MiB
        for _ in range(64):  # then 8 MiB of it, and the connection ends
            conn.sendall(b"0" * 131072)

    with Misbehaving(script) as server:
        result, _ = send(server, timeout=5)
    assert result.error == "too_large"
    assert result.detail == "the answer is larger than 1 MiB, the most an answer may hold"


def test_an_endless_chunked_body_is_dropped_once_past_the_cap() -> None:
    def script(conn: socket.socket, done: threading.Event) -> None:
        conn.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"0" * 65536)
        for _ in range(256):  # 16 MiB, then a proper end: the code before the fix took it all
            if done.is_set():
                return
            conn.sendall(chunk)
        conn.sendall(b"0\r\n\r\n")

    with Misbehaving(script) as server:
        result, _ = send(server, timeout=5)
    assert result.error == "too_large"


def test_the_cap_counts_the_body_as_decoded_so_a_small_gzip_cannot_inflate_past_it() -> None:
    bomb = gzip.compress(b"0" * (8 * CAP))

    def script(conn: socket.socket, done: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(bomb), bomb))
        done.wait(5)

    with Misbehaving(script) as server:
        result, _ = send(server, timeout=5)
    assert len(bomb) < CAP and result.error == "too_large"


@pytest.mark.parametrize("size", [0, 1000, CAP])
def test_an_answer_up_to_the_cap_arrives_whole(size: int) -> None:
    body = ('["' + "é" * ((size - 4) // 2) + '"]').encode() if size else b""

    def script(conn: socket.socket, done: threading.Event) -> None:
        conn.sendall(HEAD[:-2] + b"; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        done.wait(5)

    with Misbehaving(script) as server:
        result, _ = send(server, timeout=5)
    assert result.error is None and result.status == 200
    assert result.body == body.decode("utf-8") and len(body) <= CAP


def test_the_length_of_what_a_head_request_would_get_is_no_body() -> None:
    def script(conn: socket.socket, done: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 419430400\r\n\r\n")
        done.wait(5)

    with Misbehaving(script) as server:
        result, _ = send(server, timeout=5, method="HEAD")
    assert result.error is None and result.status == 200 and result.body == ""


def test_the_default_cap_is_64_mib() -> None:
    assert MAX_ANSWER_BYTES == 64 * 1024 * 1024
