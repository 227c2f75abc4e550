"""HttpTransport never raises: every request gets an HttpResult, or the element waits forever.

Regression (issue 5, chaos runs): an SFyC API key with a no-break space made httpx raise
UnicodeEncodeError while building the request; the exception escaped `send`, the element never
got an answer for its request, the processing cycle never ended (tickets stuck In Progress with
no reason, SIGTERM waiting out its grace), and the traceback printed the key.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from connector.engine.events import HttpResult, SendRequest
from connector.engine.http import Connection, HttpTransport, httpx

KEY = "fake-sfyc-key\u00a0"


def send(request: SendRequest, handler=lambda request: httpx.Response(200, text="{}")) -> HttpResult:
    async def go() -> HttpResult:
        transport = HttpTransport(Connection(host="127.0.0.1", port=9), transport=httpx.MockTransport(handler))
        try:
            return await transport.send(request)
        finally:
            await transport.aclose()

    return asyncio.run(go())


def request(**headers: str) -> SendRequest:
    return SendRequest(
        request_id=7,
        session=6,
        method="GET",
        path="/SFyC/api/v1/ordenes-trabajo?ticket=1",
        headers=headers,
        body=None,
        timeout=5,
    )


def test_a_header_http_cannot_carry_is_an_error_result_that_does_not_quote_it() -> None:
    result = send(request(**{"X-Api-Key": KEY}))
    assert result.request_id == 7 and result.error == "error"
    assert "not ASCII" in result.detail
    assert "fake-sfyc-key" not in result.detail and "fake-sfyc-key" not in result.status_line


def test_any_other_failure_of_the_transport_is_an_error_result_too() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("secret-in-the-message")

    result = send(request(), explode)
    assert result.error == "error" and "RuntimeError" in result.detail
    assert "secret-in-the-message" not in result.detail


def test_a_plain_request_still_gets_its_answer() -> None:
    result = send(request(**{"X-Api-Key": "fake-sfyc-key"}))
    assert result.error is None and result.status == 200


# -- on_wire: the runtime waits for it before its next step -------------------------------------


class HeldServer(threading.Thread):
    """One loopback connection: reads a request, answers only when `release` is set."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    (
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    b"0",
                )
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.received.set()
            self.release.wait(10)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")


def test_on_wire_is_called_once_the_request_is_written_before_the_answer() -> None:
    server = HeldServer()
    server.start()
    calls: list[int] = []

    async def go() -> HttpResult:
        transport = HttpTransport(Connection(host="127.0.0.1", port=server.port))
        loop = asyncio.get_running_loop()
        written = loop.create_future()

        def on_wire() -> None:
            calls.append(1)
            loop.call_soon_threadsafe(written.set_result, None)

        try:
            sending = asyncio.create_task(
                transport.send(
                    SendRequest(
                        request_id=1, session=1, method="POST", path="/x", headers={}, body="y" * 200_000, timeout=5
                    ),
                    on_wire,
                )
            )
            await asyncio.wait_for(written, 5)
            assert not sending.done(), "the answer is held: only the request can have been written"
            assert await asyncio.to_thread(server.received.wait, 5), "what was written reaches the server"
            server.release.set()
            return await sending
        finally:
            server.release.set()
            await transport.aclose()

    result = asyncio.run(go())
    assert result.status == 200
    assert calls == [1]


def test_on_wire_is_called_once_when_the_request_never_leaves() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the connect is refused
    calls: list[int] = []

    async def go() -> HttpResult:
        transport = HttpTransport(Connection(host="127.0.0.1", port=port))
        try:
            return await transport.send(request(), lambda: calls.append(1))
        finally:
            await transport.aclose()

    result = asyncio.run(go())
    assert result.error == "connect" and calls == [1]
