"""HTTP for elements, on httpx. The only module of the package that imports httpx.

httpx has had no release since 0.28.1; a maintained fork with the same API exists. Every
other module takes `httpx` from here, so switching is one line.

The element's single HTTP connection: host, port, scheme, and the bus address. Bus address
`BypassProxy` means no proxy (`trust_env=False`, so HTTP(S)_PROXY and friends are ignored);
anything else uses the environment's proxy settings. TLS verification always stays on.
Retries are the connector's business, not the transport's: one call, one attempt.
`send` never raises: whatever happens, the element gets an `HttpResult` (an answer or an
error), because an element whose request gets no result waits for it forever.

What comes back is the platform's to decide, so it is bounded: a request's timeout is a
deadline for the whole of it (waiting for a connection, connect, send, and every byte of the
answer), not for each read, so that a server dripping a byte at a time cannot hold an element
(or a stop) for longer; and an answer larger than MAX_ANSWER_BYTES is dropped as it arrives,
not gathered, so that a huge body cannot take the process's memory.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx
from attrs import frozen

from connector.engine.events import HttpResult, SendRequest

__all__ = ["Connection", "HttpTransport", "httpx"]

DEFAULT_TIMEOUT = 30.0
MAX_IN_FLIGHT = 16  # Max Concurrent Requests' upper bound
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # an answer's body, decoded; a platform's largest list is far smaller


class AnswerTooLarge(Exception):
    """The body of an answer passed the transport's cap (declared or as it arrived)."""


@frozen(kw_only=True)
class Connection:
    host: str
    port: int
    scheme: str = "http"
    bus_address: str = "BypassProxy"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def bypass_proxy(self) -> bool:
        return self.bus_address.strip().casefold() == "bypassproxy"


class HttpTransport:
    def __init__(
        self,
        connection: Connection,
        *,
        default_timeout: float = DEFAULT_TIMEOUT,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.connection = connection
        self.default_timeout = default_timeout
        self.max_answer_bytes = max_answer_bytes
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="http")
        self._client = httpx.Client(
            base_url=connection.base_url,
            trust_env=not connection.bypass_proxy,
            verify=True,
            timeout=httpx.Timeout(default_timeout),
            follow_redirects=False,
            transport=transport,
        )
        self._deadlines = DeadlineBackend.install(self._client)

    async def send(self, request: SendRequest, on_wire: Callable[[], None] | None = None) -> HttpResult:
        """The request's result. `on_wire` is called once, from the HTTP thread, when the
        request has been written (or the attempt ended without it)."""
        timeout = request.timeout or self.default_timeout
        deadline = time.monotonic() + timeout  # from now: a wait for a free HTTP thread counts too
        try:
            response, body = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._request, request, deadline, on_wire
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return self._failure(request, "connect", f"cannot connect to {self.connection.base_url}: {exc}")
        except httpx.TimeoutException:
            return self._failure(request, "timeout", f"no answer within {timeout:g} s")
        except AnswerTooLarge:
            cap = f"{self.max_answer_bytes / 2**20:g} MiB"
            return self._failure(request, "too_large", f"the answer is larger than {cap}, the most an answer may hold")
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            return self._failure(request, "lost", f"connection lost: {exc or type(exc).__name__}")
        except httpx.HTTPError as exc:
            # Only the kind: the text of a local protocol error can quote a header (a secret).
            return self._failure(request, "error", f"cannot send the request: {type(exc).__name__}")
        except UnicodeEncodeError:
            # A header value HTTP cannot carry (httpx encodes them as ASCII), e.g. an API key
            # pasted with a no-break space. The exception's text quotes the value: a secret.
            return self._failure(
                request,
                "error",
                "cannot send the request: a header value holds characters HTTP headers cannot carry (not ASCII)",
            )
        except Exception as exc:  # noqa: BLE001 - every request must get a result, or the element waits forever
            return self._failure(request, "error", f"cannot send the request: {type(exc).__name__}")
        return HttpResult(
            request_id=request.request_id,
            status=response.status_code,
            reason=response.reason_phrase,
            http_version=response.http_version,
            headers={k.lower(): v for k, v in response.headers.items()},
            # As httpx's `response.text` decodes: the charset it names, else UTF-8, never failing.
            body=body.decode(response.encoding or "utf-8", errors="replace"),
        )

    def _request(
        self, request: SendRequest, deadline: float, on_wire: Callable[[], None] | None
    ) -> tuple[httpx.Response, bytes]:
        """The answer and its body, read on an HTTP thread by `deadline` (time.monotonic())."""
        told = False

        def tell() -> None:  # once: when the body is written, or when the request ends unwritten
            nonlocal told
            if on_wire is not None and not told:
                told = True
                on_wire()

        def trace(event: str, info: Any) -> None:  # httpcore's trace hook, on this thread
            if event == "http11.send_request_body.complete":
                tell()

        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpx.PoolTimeout("the deadline passed before an HTTP thread was free")
            with (
                self._deadlines.until(deadline),
                self._client.stream(
                    request.method,
                    request.path if request.path.startswith("/") else "/" + request.path,
                    headers=dict(request.headers),
                    content=None if request.body is None else request.body.encode("utf-8"),
                    timeout=left,
                    extensions=None if on_wire is None else {"trace": trace},
                ) as response,
            ):
                return response, self._body(response)
        finally:
            tell()

    def _body(self, response: httpx.Response) -> bytes:
        """The decoded body, read chunk by chunk; AnswerTooLarge as soon as it passes the cap."""
        declared = response.headers.get("content-length", "")
        bodiless = response.request.method == "HEAD" or response.status_code in (204, 304)  # the length is not sent
        if declared.isdigit() and int(declared) > self.max_answer_bytes and not bodiless:
            raise AnswerTooLarge  # before reading any of it
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_answer_bytes:  # e.g. chunked, or a small gzip that inflates
                raise AnswerTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _failure(request: SendRequest, error: str, detail: str) -> HttpResult:
        return HttpResult(request_id=request.request_id, error=error, detail=detail)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sockets, each connect, TLS handshake, read and write held to the deadline of the
    request running on the calling thread (`until`).

    httpx's timeouts are per operation: a read that gets one byte before its timeout starts the
    next with a fresh one, so only a deadline checked at every socket operation bounds a request.
    A connection kept alive serves many requests: the deadline is the thread's, not the stream's.
    """

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend
        self._local = threading.local()

    @classmethod
    def install(cls, client: httpx.Client) -> DeadlineBackend:
        """A backend put under every connection pool of `client` (its own and its proxies').

        httpx offers no way to pass httpcore a network backend, hence the private attributes;
        a transport without a pool (a test's MockTransport) is left as it is.
        """
        deadlines = cls(httpcore.SyncBackend())
        for transport in (client._transport, *client._mounts.values()):
            pool = getattr(transport, "_pool", None)
            if isinstance(pool, httpcore.ConnectionPool):  # HTTPProxy and SOCKSProxy are pools too
                pool._network_backend = deadlines
        return deadlines

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = None

    def bound(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """`timeout`, shortened to what is left before the thread's deadline; `expired` once it passed."""
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise expired("the request's deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = self.bound(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options), self)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = self.bound(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options), self)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineStream(httpcore.NetworkStream):
    """One connection's socket, its every operation bounded by `DeadlineBackend.bound`."""

    def __init__(self, stream: httpcore.NetworkStream, deadlines: DeadlineBackend) -> None:
        self._stream = stream
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadlines.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadlines.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        timeout = self._deadlines.bound(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._deadlines)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
