"""What the handler API may do to an element: the private interface between
`connector.engine.context.HandlerContext` and the element's state machine
(`connector.engine.machine.Machine`).

A typing Protocol of its own, so that the handler API depends on this small surface and not
on the machine, and the machine can make handler contexts without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Protocol as TypingProtocol

from connector.engine.events import Effect, ElementStatus, HttpResult
from connector.engine.table import Table
from connector.protocol.model import Protocol


class ElementCore(TypingProtocol):
    """The element as its handlers reach it (through HandlerContext only)."""

    @property
    def name(self) -> str: ...

    @property
    def element_id(self) -> str: ...

    @property
    def protocol(self) -> Protocol: ...

    @property
    def memory(self) -> dict[str, Any]: ...

    @property
    def tables(self) -> Mapping[int, Table]: ...

    @property
    def status(self) -> ElementStatus: ...

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    def get(self, ref: int | str) -> Any: ...

    def change(self, pid: int, value: Any, *, always: bool) -> None: ...

    def fire_trigger(self, tid: int) -> None: ...

    def emit(self, effect: Effect) -> None: ...

    def last_result(self, session: int) -> HttpResult | None: ...

    def send_parallel(self, requests: list[tuple[int, dict[str, Any]]], done_trigger: int) -> int: ...

    def take_parallel_results(self, set_id: int) -> list[HttpResult]: ...

    def start_timer(self, timer_id: int, after: float | None = None) -> None: ...

    def stop_timer(self, timer_id: int) -> None: ...
