"""HTTP for elements, on httpx. The only module of the package that imports httpx.

httpx has had no release since 0.28.1; a maintained fork with the same API exists. Every
other module takes `httpx` from here, so switching is one line.

The element's single HTTP connection: host, port, scheme, and the bus address. Bus address
`BypassProxy` means no proxy (`trust_env=False`, so HTTP(S)_PROXY and friends are ignored);
anything else uses the environment's proxy settings. TLS verification always stays on.
Retries are the connector's business, not the transport's: one call, one attempt.
`send` never raises: whatever happens, the element gets an `HttpResult` (an answer or an
error), because an element whose request gets no result waits for it forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from attrs import frozen

from connector.engine.events import HttpResult, SendRequest

__all__ = ["Connection", "HttpTransport", "httpx"]

DEFAULT_TIMEOUT = 30.0
MAX_IN_FLIGHT = 16  # Max Concurrent Requests' upper bound


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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.connection = connection
        self.default_timeout = default_timeout
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="http")
        self._client = httpx.Client(
            base_url=connection.base_url,
            trust_env=not connection.bypass_proxy,
            verify=True,
            timeout=httpx.Timeout(default_timeout),
            follow_redirects=False,
            transport=transport,
        )

    async def send(self, request: SendRequest, on_wire: Callable[[], None] | None = None) -> HttpResult:
        """The request's result. `on_wire` is called once, from the HTTP thread, when the
        request has been written (or the attempt ended without it)."""
        timeout = request.timeout or self.default_timeout
        try:
            response = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._request, request, timeout, on_wire
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return self._failure(request, "connect", f"cannot connect to {self.connection.base_url}: {exc}")
        except httpx.TimeoutException:
            return self._failure(request, "timeout", f"no answer within {timeout:g} s")
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
            body=response.text,
        )

    def _request(self, request: SendRequest, timeout: float, on_wire: Callable[[], None] | None) -> httpx.Response:
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
            return self._client.request(
                request.method,
                request.path if request.path.startswith("/") else "/" + request.path,
                headers=dict(request.headers),
                content=None if request.body is None else request.body.encode("utf-8"),
                timeout=timeout,
                extensions=None if on_wire is None else {"trace": trace},
            )
        finally:
            tell()

    @staticmethod
    def _failure(request: SendRequest, error: str, detail: str) -> HttpResult:
        return HttpResult(request_id=request.request_id, error=error, detail=detail)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
