"""The handler API: the `protocol` object a handler (DataMiner's QAction) receives.

Connector code sees only this class and `connector.engine.table.Table`; it never touches
the element's internals, so the engine can change behind it. It reaches the element through
`connector.engine.core.ElementCore` only.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.engine.core import ElementCore
from connector.engine.events import Defer, HttpResult, SendInterApp
from connector.engine.table import Table
from connector.engine.values import coerce
from connector.protocol.model import INTERAPP_RECEIVE

_log = logging.getLogger("connector.handler")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class HandlerContext:
    __slots__ = ("_element", "handler_id", "trigger_param", "row_key")

    def __init__(self, element: ElementCore, handler_id: int, trigger_param: int | None, row_key: str | None) -> None:
        self._element = element
        self.handler_id = handler_id
        self.trigger_param = trigger_param
        self.row_key = row_key

    @property
    def element_name(self) -> str:
        return self._element.name

    @property
    def memory(self) -> dict[str, Any]:
        """Kept per element between handler runs, shared by its handlers; lost on restart."""
        return self._element.memory

    def get(self, param: int | str) -> Any:
        return self._element.get(param)

    def set(self, param: int | str, value: Any) -> None:
        """Set a parameter; like SLProtocol.SetParameter it always fires, equal or not."""
        spec = self._element.protocol.param(param)
        self._element.change(spec.id, coerce(spec, value), always=True)

    def table(self, ref: int | str) -> Table:
        return self._element.tables[self._element.protocol.table(ref).id]

    def check_trigger(self, trigger: int) -> None:
        self._element.fire_trigger(trigger)

    def now(self) -> float:
        """Wall-clock seconds since the epoch: for what is saved and shown (it may jump)."""
        return self._element.now()

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (its zero means nothing): measure waits with it,
        so that a wall-clock jump neither holds nor hastens them. Lost on restart."""
        return self._element.monotonic()

    def log(self, message: str, level: str = "info") -> None:
        _log.log(_LEVELS.get(level, logging.INFO), "[%s] %s", self._element.name, message)

    def send_interapp(self, element: str, raw: str, parameter: int = INTERAPP_RECEIVE) -> None:
        self._element.emit(SendInterApp(target=element, parameter=parameter, raw=raw))

    def last_result(self, session: int) -> HttpResult | None:
        """The last answer (or failure) of an HTTP session, with its status and headers."""
        return self._element.last_result(session)

    def send_parallel(self, requests: list[tuple[int, dict[str, Any]]], done_trigger: int) -> int:
        """Send requests of these sessions at once, outside the queue (each with its own path,
        headers or body in the dict); `done_trigger` fires when all are answered. Returns the
        set id for `parallel_results`."""
        return self._element.send_parallel(requests, done_trigger)

    def parallel_results(self, set_id: int) -> list[HttpResult]:
        """The answers of a parallel set, in request order (taken: a second call gets [])."""
        return self._element.take_parallel_results(set_id)

    def defer(self, trigger: int) -> None:
        """Fire `trigger` in a step of its own, after this step's requests have left, when no
        other event waits."""
        self._element.emit(Defer(trigger=trigger))

    def start_timer(self, timer: int, after: float | None = None) -> None:
        self._element.start_timer(timer, after)

    def stop_timer(self, timer: int) -> None:
        self._element.stop_timer(timer)
