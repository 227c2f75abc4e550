"""The handler API: the `protocol` object a handler (DataMiner's QAction) receives.

Connector code sees only this class and `connector.engine.table.Table`; it never touches
the element's internals, so the engine can change behind it. It reaches the element through
`connector.engine.core.ElementCore` only.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from connector.engine.core import ElementCore
from connector.engine.events import Count, Defer, ElementStatus, HttpResult, Observe, SendInterApp
from connector.engine.table import Table
from connector.engine.values import coerce
from connector.protocol.model import INTERAPP_RECEIVE, MetricType

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
    def element_id(self) -> str:
        """ "DataMinerID/ElementID" (e.g. "1/12"), stable across restarts: this element's address
        for other elements (a return address; `send_interapp` takes a name or this)."""
        return self._element.element_id

    @property
    def dataminer_id(self) -> int:
        """DataMiner's DataMinerID: the agent part of `element_id`."""
        return int(self._element.element_id.partition("/")[0])

    @property
    def element_number(self) -> int:
        """DataMiner's ElementID: the element part of `element_id`."""
        return int(self._element.element_id.partition("/")[2])

    @property
    def memory(self) -> dict[str, Any]:
        """Kept per element between handler runs, shared by its handlers; lost on restart."""
        return self._element.memory

    def get(self, param: int | str) -> Any:
        return self._element.get(param)

    def set(self, param: int | str, value: Any) -> None:
        """Set a parameter; like SLProtocol.SetParameter it always fires, equal or not.

        A handler sets what its element owns: any parameter, and None clears one (a set from
        outside may clear only a `clearable` parameter)."""
        spec = self._element.protocol.param(param)
        self._element.change(spec.id, None if value is None else coerce(spec, value), always=True)

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

    def log(self, message: str, level: str = "info", *, event: str = "", **fields: Any) -> None:
        """One line in the log, with the element's name; `event` names what happened (for
        machines: `--log-format json`) and `fields` are its values (written as key=value)."""
        extra = {"element": self._element.name, "event": event, "fields": fields}
        _log.log(_LEVELS.get(level, logging.INFO), "[%s] %s", self._element.name, message, extra=extra)

    @property
    def timeout_reason(self) -> str | None:
        """Why the element is in timeout, or None. Saved: after a restart it is still there,
        until a handler takes the element out (`set_timeout(None)`)."""
        status = self._element.status
        return status.reason if status.timeout else None

    def set_timeout(self, reason: str | None) -> None:
        """Put the element in timeout (`reason`: why, for people), or take it out (None): what
        it talks to is down for everyone, DataMiner's element timeout. The host shows it."""
        self._element.emit(ElementStatus(timeout=reason is not None, reason=reason or ""))

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

    def observe(self, metric: str, value: float, **labels: str) -> None:
        """Observe `value` in a histogram the protocol declares in `metrics:`, with every one of
        its labels (KeyError / ValueError when the protocol does not declare it so)."""
        if not math.isfinite(value):
            raise ValueError(f"metric {metric!r}: a histogram observes finite numbers, got {value!r}")
        self._element.emit(
            Observe(metric=metric, value=value, labels=self._labels(metric, MetricType.HISTOGRAM, labels))
        )

    def count(self, metric: str, amount: float = 1, **labels: str) -> None:
        """Add `amount` (0 or more) to a counter the protocol declares in `metrics:`."""
        if not amount >= 0:
            raise ValueError(f"metric {metric!r}: a counter only goes up, got {amount!r}")
        if amount:
            self._element.emit(
                Count(metric=metric, amount=amount, labels=self._labels(metric, MetricType.COUNTER, labels))
            )

    def _labels(self, metric: str, type: MetricType, labels: dict[str, str]) -> tuple[str, ...]:
        spec = self._element.protocol.metrics.get(metric)
        if spec is None:
            raise KeyError(f"the protocol declares no metric {metric!r} in its `metrics:` section")
        if spec.type is not type:
            raise ValueError(f"metric {metric!r} is a {spec.type.value}, not a {type.value}")
        if set(labels) != set(spec.labels):
            raise ValueError(f"metric {metric!r} takes the labels {list(spec.labels)}, got {sorted(labels)}")
        return tuple(str(labels[name]) for name in spec.labels)

    def start_timer(self, timer: int, after: float | None = None) -> None:
        self._element.start_timer(timer, after)

    def stop_timer(self, timer: int) -> None:
        self._element.stop_timer(timer)
