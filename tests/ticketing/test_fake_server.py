"""The fake platform's server (`connector platform`): how it listens."""

from __future__ import annotations

import socket

import pytest

from connector.ticketing.fake import server


def test_the_fake_platform_answers_without_waiting_for_delayed_acks() -> None:
    # Regression: bound without TCP_NODELAY, each answer's body (Starlette's second write) waited
    # for the client's delayed ACK of the headers: 40 ms a call, 6 s of the 6.2 s the bench's
    # 5,000-ticket drain took, so the bench measured the fake instead of the element.
    listener = server._bind("127.0.0.1", 0)
    listener.listen()
    try:
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()


def test_a_taken_address_is_refused_with_where() -> None:
    taken = server._bind("127.0.0.1", 0)
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(server.PlatformAddressError, match=f"cannot listen on 127.0.0.1:{port}"):
            server._bind("127.0.0.1", port)
    finally:
        taken.close()
