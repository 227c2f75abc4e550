"""HttpTransport never raises: every request gets an HttpResult, or the element waits forever.

Regression (issue 5, chaos runs): an SFyC API key with a no-break space made httpx raise
UnicodeEncodeError while building the request; the exception escaped `send`, the element never
got an answer for its request, the processing cycle never ended (tickets stuck In Progress with
no reason, SIGTERM waiting out its grace), and the traceback printed the key.
"""

from __future__ import annotations

import asyncio

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
    return SendRequest(request_id=7, session=6, method="GET", path="/SFyC/api/v1/ordenes-trabajo?ticket=1",
                       headers=headers, body=None, timeout=5)


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
