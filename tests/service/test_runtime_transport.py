"""The runtime gives the element a result for every request, even when a transport raises.

Regression (issue 5): a transport exception used to end the request's task silently, so the
element's group never finished and the element stopped processing for good.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from connector.engine import events as ev
from connector.engine.http import Connection
from connector.engine.store import MemoryStore
from connector.service.runtime import ElementConfig, ElementHost, Runtime
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol


class RaisingTransport:
    async def send(self, request: ev.SendRequest, on_wire: object = None) -> ev.HttpResult:
        raise UnicodeEncodeError("ascii", "key\u00a0-secret", 3, 4, "ordinal not in range(128)")

    async def aclose(self) -> None:
        pass


def test_a_raising_transport_still_answers_the_element(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> ev.HttpResult:
        config = ElementConfig(
            name="BE",
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=9),
            params={},
            secrets={},
            store_path=Path("unused.sqlite"),
        )
        host = ElementHost(
            config, ticketing_protocol(), runtime=Runtime(), store=MemoryStore(), transport=RaisingTransport()
        )  # type: ignore[arg-type]
        request = ev.SendRequest(
            request_id=3,
            session=6,
            method="POST",
            path="/SFyC/api/v1/ordenes-trabajo/lote",
            headers={},
            body="{}",
            timeout=5,
        )
        await host._send(request)
        event, _ = host._queue.get_nowait()
        return event

    with caplog.at_level(logging.WARNING):
        result = asyncio.run(go())
    assert isinstance(result, ev.HttpResult) and result.request_id == 3 and result.error == "error"
    assert "secret" not in caplog.text and "secret" not in result.detail
