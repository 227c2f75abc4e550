"""The element host as operators see it (issue 12): the element's timeout with its log lines,
element YAML values a saved value overrides, and replies to callers outside the runtime."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from connector.engine import events as ev
from connector.engine.http import Connection
from connector.engine.store import MemoryStore
from connector.service.runtime import ElementConfig, ElementHost, HostState, Runtime, open_store
from connector.ticketing import PROTOCOL_YAML
from connector.ticketing.fake.inprocess import ticketing_protocol


def host(params: dict[int | str, object] | None = None, store: MemoryStore | None = None) -> ElementHost:
    config = ElementConfig(
        name="BE",
        protocol_path=PROTOCOL_YAML,
        connection=Connection(host="127.0.0.1", port=9),
        params=params or {},
        secrets={},
        store_path=Path("unused.sqlite"),
    )
    return ElementHost(config, ticketing_protocol(), runtime=Runtime(), store=store or MemoryStore())


def by_event(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def test_the_element_enters_and_leaves_timeout_with_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    element = host()
    element.state = HostState.RUNNING
    element.status(ev.ElementStatus(timeout=True, reason="Login failed: Cherwell invalid_grant: no"))
    element.status(ev.ElementStatus(timeout=True, reason="Login failed: Cherwell invalid_grant: no"))
    assert (element.state, element.reason) == (HostState.TIMEOUT, "Login failed: Cherwell invalid_grant: no")
    assert element.state.accepting and element.state.running  # timers and messages still reach it
    element.status(ev.ElementStatus(timeout=False))
    assert (element.state, element.reason) == (HostState.RUNNING, "")
    (entered,) = by_event(caplog, "timeout_entered")
    assert entered.levelno == logging.WARNING and entered.getMessage() == (
        "[BE] in timeout: Login failed: Cherwell invalid_grant: no"
    )
    assert entered.fields == {"reason": "Login failed: Cherwell invalid_grant: no"}  # type: ignore[attr-defined]
    (left,) = by_event(caplog, "timeout_left")
    assert left.levelno == logging.INFO and left.element == "BE"  # type: ignore[attr-defined]


def test_element_yaml_values_a_saved_value_overrides_are_named(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    def config(params: dict[int | str, object]) -> ElementConfig:
        return ElementConfig(
            name="BE",
            protocol_path=PROTOCOL_YAML,
            connection=Connection(host="127.0.0.1", port=9),
            params=params,
            secrets={},
            store_path=tmp_path / "be.sqlite",
        )

    async def life(params: dict[int | str, object]) -> None:
        runtime = Runtime()
        await runtime.start([config(params)], {PROTOCOL_YAML: ticketing_protocol()})
        await runtime.stop()

    asyncio.run(life({"Max Retries": 3}))
    caplog.set_level(logging.INFO)
    asyncio.run(life({"Max Retries": 5, "Retry Delay": 5}))  # Retry Delay: the same as saved
    (ignored,) = by_event(caplog, "yaml_setting_ignored")
    assert ignored.levelno == logging.WARNING
    assert ignored.fields == {"param": "Max Retries", "yaml": 5, "saved": 3}  # type: ignore[attr-defined]
    assert ignored.getMessage().startswith("[BE] Max Retries: the element YAML says 5, the saved value 3 wins")


def test_a_reply_to_a_caller_outside_the_runtime_is_not_a_lost_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    runtime = Runtime()
    sender = host()
    runtime.route(sender, ev.SendInterApp(target="200/500", parameter=9000001, raw="reply"))
    (line,) = caplog.records
    assert line.levelno == logging.DEBUG and "dropped" not in line.getMessage()
    caplog.clear()
    runtime.route(sender, ev.SendInterApp(target="Nobody", parameter=9000000, raw="call"))
    (line,) = caplog.records
    assert line.levelno == logging.WARNING and line.getMessage().endswith("message dropped")


def test_an_element_saved_in_timeout_starts_in_timeout(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # Regression (issue 12): after a restart the element showed "running" until the next failure.
    config = ElementConfig(
        name="BE",
        protocol_path=PROTOCOL_YAML,
        connection=Connection(host="127.0.0.1", port=9),
        params={},  # Ticketing Processing Disabled: no cycle to enter the timeout again
        secrets={},
        store_path=tmp_path / "be.sqlite",
    )
    store = open_store(config, ticketing_protocol())
    store.commit(ev.Persist(params={ev.ELEMENT_STATUS_ID: {"timeout": True, "reason": "Login failed: x"}}, tables=()))
    store.close()
    caplog.set_level(logging.INFO)

    async def life() -> tuple[HostState, str]:
        runtime = Runtime()
        await runtime.start([config], {PROTOCOL_YAML: ticketing_protocol()})
        element = runtime.elements["BE"]
        shown = (element.state, element.reason)
        await runtime.stop()
        return shown

    assert asyncio.run(life()) == (HostState.TIMEOUT, "Login failed: x")
    (entered,) = by_event(caplog, "timeout_entered")
    assert entered.fields == {"reason": "Login failed: x"}  # type: ignore[attr-defined]
