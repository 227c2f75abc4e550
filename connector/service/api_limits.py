"""The management API's HTTP protocol: uvicorn's httptools protocol, with limits on what comes in.

uvicorn picks httptools when it is installed (it is: a third of the fake platform's time went
to the pure-Python parser), and httptools enforces nothing: it gathers a header of any size, as
many headers as are sent, and a connection that never finishes its request stays open for good
(uvicorn's keep-alive timeout only runs between requests). Eight 64 MiB headers took the process
from 66 to 658 MB without any token, and 800 slowloris connections stayed open.

So, per connection:

- a request's head (request line and headers) holds at most MAX_HEAD_BYTES and MAX_HEADERS
  fields, or it is answered 431 and the connection closed: no more is read;
- a request arrives whole (head and body) within REQUEST_TIMEOUT of its first byte, and a new
  connection sends one within REQUEST_TIMEOUT, or the connection is closed (408 while the head
  is still incomplete). The API takes small JSON bodies: a request not there by then is not coming.

Counted as bytes arrive, before httptools has parsed them: a head may overshoot the cap by one
read of the transport (256 KiB at most) before it is refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
REQUEST_TIMEOUT = 10.0  # seconds


class HeadRefused(Exception):
    """Raised from a parser callback so that httptools stops: the request never reaches the app."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_bytes: int | None = 0  # bytes of the head read so far; None once it is complete
        self.request_timer: asyncio.TimerHandle | None = None

    # Narrower than asyncio.Protocol's BaseTransport, as uvicorn's own override is (same ignore there).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_request_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.head_bytes is not None:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.head_bytes is not None and self.head_bytes > MAX_HEAD_BYTES:
            self._refuse(b"431 Request Header Fields Too Large", f"the request's head is over {MAX_HEAD_BYTES} bytes")

    # -- httptools' callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_bytes is None:  # the next request on a kept-alive connection
            self.head_bytes = 0
            self._start_request_timer()

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        if len(self.headers) > MAX_HEADERS:
            self._refuse(b"431 Request Header Fields Too Large", f"the request has over {MAX_HEADERS} header fields")
            raise HeadRefused
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_request_timer()
        super().on_message_complete()

    # -- the limits ------------------------------------------------------------------------

    def _start_request_timer(self) -> None:
        self._stop_request_timer()
        self.request_timer = self.loop.call_later(REQUEST_TIMEOUT, self._request_too_slow)

    def _stop_request_timer(self) -> None:
        if self.request_timer is not None:
            self.request_timer.cancel()
            self.request_timer = None

    def _request_too_slow(self) -> None:
        self.request_timer = None
        if self.head_bytes is not None:  # no answer can have begun: say why
            self._refuse(b"408 Request Timeout", f"the request did not arrive within {REQUEST_TIMEOUT:g} s")
        else:
            self.transport.close()

    def _refuse(self, status: bytes, reason: str) -> None:
        if self.transport.is_closing():
            return
        body = reason.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, len(body), body)
        )
        self.transport.close()
