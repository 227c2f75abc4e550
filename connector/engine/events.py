"""What goes into an element (events) and what comes out of it (effects).

The element core is sans-I/O, like h11: the runtime (or a test harness) feeds it events and
carries out the effects it returns, in order. The first effect of a step is always the
`Persist` of what the step changed, so that the store commits before anything that depends
on it (a request, an acknowledgement) leaves the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

# -- events ------------------------------------------------------------------------------


@frozen(kw_only=True)
class SetParameter:
    """A set command: from outside (the API, the command line) unless `from_outside` is False.

    From outside, only what a user may set can be set (`connector.engine.values.settable`):
    a write parameter (a set on a read parameter goes to its write twin), so buttons and
    toggles too, and InterApp Receive. The runtime's InterApp routing between its own elements
    is not from outside: it may answer on any parameter (InterApp Return).
    """

    param: int | str
    value: Any
    from_outside: bool = True


@frozen(kw_only=True)
class SetCell:
    """A set command on one cell: DataMiner's set on a column parameter, by row key.

    From outside (unless `from_outside` is False), only a write or button column can be set.
    """

    table: int | str
    key: str
    column: int | str
    value: Any
    from_outside: bool = True


@frozen(kw_only=True)
class TimerFired:
    timer: int


@frozen(kw_only=True)
class HttpResult:
    """The outcome of a `SendRequest`: an HTTP answer, or `error` when there was none."""

    request_id: int
    status: int = 0
    reason: str = ""
    http_version: str = "HTTP/1.1"
    headers: Mapping[str, str] = field(factory=dict)
    body: str = ""
    error: str | None = None  # "timeout", "connect", "lost", ... (then status is 0)
    detail: str = ""  # the transport's own words, for the log and the status parameter

    @property
    def status_line(self) -> str:
        if self.error is not None:
            return f"{self.error.upper()}: {self.detail}" if self.detail else self.error.upper()
        return f"{self.http_version} {self.status} {self.reason}".rstrip()


@frozen(kw_only=True)
class CheckTrigger:
    """Fire a trigger: what a `Defer` effect comes back as, in a step of its own."""

    trigger: int


Event = SetParameter | SetCell | TimerFired | HttpResult | CheckTrigger

# -- effects -----------------------------------------------------------------------------


@frozen(kw_only=True)
class TableDelta:
    """One table's rows to write and keys to delete (the deletes first).

    `written` maps a key to the row's cells at `columns` (column ids, the key column first):
    tuples, not dicts, because a drain writes tens of thousands of rows and the store passes
    them to SQLite as they are. `columns` are all the saved columns, or some of them (the
    cells a writer changed): a store merges them into the row it holds, keeping its other
    cells (a row it does not hold yet gets these alone). A Persist may hold several deltas of
    one table, for rows written with different columns.
    """

    table: int
    columns: tuple[int, ...]
    written: Mapping[str, tuple[Any, ...]]
    deleted: tuple[str, ...]

    def cells(self, key: str) -> dict[int, Any]:
        """One written row as {column id: value}."""
        return dict(zip(self.columns, self.written[key], strict=True))


@frozen(kw_only=True)
class Persist:
    params: Mapping[int, Any]
    tables: tuple[TableDelta, ...]


@frozen(kw_only=True)
class SendRequest:
    request_id: int
    session: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: str | None
    timeout: float | None


@frozen(kw_only=True)
class ScheduleTimer:
    """Run the timer every `interval` seconds, the first time after `first_in` seconds."""

    timer: int
    interval: float
    first_in: float


@frozen(kw_only=True)
class CancelTimer:
    timer: int


@frozen(kw_only=True)
class SendInterApp:
    """Set `parameter` of another element (by name, or "agentId/elementId") to `raw`."""

    target: str
    parameter: int
    raw: str


@frozen(kw_only=True)
class Defer:
    """Fire `trigger` in a new step, once this step's effects are carried out and no other
    event waits (an answer that is already in goes first).

    A handler that has sent a request and has more work to do uses it so that its request
    leaves first: the work then runs (and commits) while the request is on the wire.
    """

    trigger: int


@frozen(kw_only=True)
class Observe:
    """A value for a histogram the protocol declares in `metrics:` (`protocol.observe`)."""

    metric: str
    value: float
    labels: tuple[str, ...] = ()  # the label values, in the order the protocol lists the labels


@frozen(kw_only=True)
class Count:
    """Add `amount` to a counter the protocol declares in `metrics:` (`protocol.count`)."""

    metric: str
    amount: float
    labels: tuple[str, ...] = ()


Metric = Observe | Count


@frozen(kw_only=True)
class ElementStatus:
    """The element's communication state, as DataMiner shows it on the element's card.

    `timeout`: the element cannot reach what it talks to (the platform is down for everyone, not
    one request's failure); `reason` says why, for people. Cleared by the next status without it.
    """

    timeout: bool
    reason: str = ""

    def saved(self) -> dict[str, Any]:
        """As the store keeps it (under ELEMENT_STATUS_ID): a restart comes back in timeout."""
        return {"timeout": self.timeout, "reason": self.reason}

    @classmethod
    def from_saved(cls, value: Any) -> ElementStatus:
        """The saved status; anything unreadable (written by hand) is no timeout."""
        if isinstance(value, Mapping) and value.get("timeout") is True:
            return cls(timeout=True, reason=str(value.get("reason") or ""))
        return cls(timeout=False)


# The store's slot for the element's status among the saved parameter values: no protocol
# parameter has a negative id, and the store keeps any id it is given.
ELEMENT_STATUS_ID = -1


Effect = Persist | SendRequest | ScheduleTimer | CancelTimer | SendInterApp | Defer | Observe | Count | ElementStatus
