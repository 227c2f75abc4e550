"""The management API bounds what a caller sends before any token is checked.

Regressions (issue 11): eight 64 MiB headers took `connector run` from 66 to 658 MB without any
token (httptools, which uvicorn picks, gathers headers of any size); 800 slowloris connections
stayed open (uvicorn times out only the wait between requests); two Authorization headers were
taken by their first. Each test talks to a real server that `api_server` starts on port 0.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from connector.service import api_limits
from connector.service.api import create_app
from connector.service.runtime import Runtime
from connector.service.serve import api_server

TOKEN = "t0ken"


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The port of a running API (token TOKEN, no elements), its request timeout 0.5 s."""
    monkeypatch.setattr(api_limits, "REQUEST_TIMEOUT", 0.5)
    server, sock = api_server(create_app(Runtime(), token=TOKEN), "127.0.0.1", 0)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.settimeout(5)
    return conn


def answer(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 5 s pass)."""
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def send_all(conn: socket.socket, data: bytes) -> None:
    """Send what the server is still willing to read."""
    try:
        conn.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def request(port: int, head: bytes) -> bytes:
    with connect(port) as conn:
        send_all(conn, head)
        conn.shutdown(socket.SHUT_WR)
        return answer(conn)


def test_a_plain_request_is_answered(port: int) -> None:
    reply = request(port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ")


def test_a_huge_header_is_refused_before_it_is_read_whole(port: int) -> None:
    with connect(port) as conn:
        send_all(conn, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        for _ in range(64):  # up to 16 MiB, which the server stops reading long before
            try:
                conn.sendall(b"a" * 262144)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 262144
        reply = answer(conn)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"over 65536 bytes" in reply
    assert sent < 16 * 1024 * 1024


def test_too_many_header_fields_are_refused(port: int) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % n for n in range(api_limits.MAX_HEADERS + 1))
    reply = request(port, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ") and b"header fields" in reply


def test_as_many_header_fields_as_allowed_are_fine(port: int) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % n for n in range(api_limits.MAX_HEADERS - 2))
    reply = request(port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ")


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    with connect(port) as conn:
        started = time.monotonic()
        reply = answer(conn)
    assert time.monotonic() - started < 3 and reply.startswith(b"HTTP/1.1 408 ")


def test_a_head_dripped_a_byte_at_a_time_is_cut_off(port: int) -> None:
    head = b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 200
    with connect(port) as conn:
        started = time.monotonic()
        for byte in head:
            try:
                conn.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.02)  # each byte well within uvicorn's keep-alive timeout
            if time.monotonic() - started > 5:
                break
        reply = answer(conn)
    assert reply.startswith(b"HTTP/1.1 408 ") and time.monotonic() - started < 3


def test_a_body_dripped_a_byte_at_a_time_is_cut_off(port: int) -> None:
    head = b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    with connect(port) as conn:
        conn.sendall(head)
        started = time.monotonic()
        for _ in range(250):
            try:
                conn.sendall(b"{")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.02)
        reply = answer(conn)
    assert time.monotonic() - started < 4
    assert not reply.startswith(b"HTTP/1.1 408 ")  # the app may have answered (405); then the connection ends


def test_a_slow_second_request_on_a_kept_alive_connection_is_cut_off_too(port: int) -> None:
    with connect(port) as conn:
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += conn.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        for byte in b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200:
            try:
                conn.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.02)
        reply = answer(conn)
    assert reply.startswith(b"HTTP/1.1 408 ") and time.monotonic() - started < 3


@pytest.mark.parametrize(
    "authorizations, status",
    [
        ([f"Bearer {TOKEN}"], b"200"),
        ([f"Bearer {TOKEN}", f"Bearer {TOKEN}"], b"401"),
        ([f"Bearer {TOKEN}", "Bearer wrong"], b"401"),
        (["Bearer wrong", f"Bearer {TOKEN}"], b"401"),
    ],
)
def test_one_authorization_header_or_none_is_taken(port: int, authorizations: list[str], status: bytes) -> None:
    fields = "".join(f"Authorization: {value}\r\n" for value in authorizations).encode()
    reply = request(port, b"GET /api/elements HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 " + status + b" "), reply[:200]
