"""The declarative connector model: what protocol.yaml says, as frozen attrs classes.

Pure data: nothing here reads files or talks to the network. The loader
(`connector.protocol.loader`) builds these objects and refuses anything that does not
resolve; the engine (`connector.engine`) interprets them.

The vocabulary follows DataMiner's protocol XML (DPML) so that a reader who knows
DataMiner recognises every term: Param types read / write / dummy / array, triggers
`On`/`Time`, action types such as `execute next`, QActions (here: handlers).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from connector.protocol.conditions import Condition

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_fold(text: str) -> str:
    """`text` with A-Z lowered and nothing else changed: names match regardless of ASCII case,
    never through Unicode case folding (which maps the Kelvin sign to k and the long s to s)."""
    return text.translate(_ASCII_LOWER)


def same_name(declared: str, ref: str) -> bool:
    """`ref` names `declared`: the same text, or ASCII text that differs only in ASCII case.
    A name with any other character matches only as it is declared."""
    return declared == ref or (ref.isascii() and ascii_fold(declared) == ascii_fold(ref))


def is_ascii_number(text: object) -> bool:
    """True for a string of ASCII digits only (int() also reads fullwidth and other digits)."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


@frozen
class Mark:
    """Where a construct stands in its YAML file, for error messages (1-based)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def _mark_field() -> Any:
    # Marks are for messages only: two declarations that differ only in position are equal.
    return field(default=None, eq=False, repr=False)


class ParamType(enum.Enum):
    READ = "read"
    WRITE = "write"
    DUMMY = "dummy"
    ARRAY = "array"


class ValueKind(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    DISCREET = "discreet"
    TOGGLE = "toggle"
    BUTTON = "button"
    DATETIME = "datetime"


@frozen(kw_only=True)
class Discreet:
    """One entry of a discreet list: the text users see and the value stored."""

    display: str
    value: str | int | float  # numbers when every value of the list is a number


@frozen(kw_only=True)
class ExceptionValue:
    """DataMiner's Interprete Exception: a special value of a number parameter shown as a text
    (-1 as "N/A"); a set of the text stores the value, outside the range or step if need be."""

    value: float | int
    display: str


@frozen(kw_only=True)
class Range:
    low: float | None = None
    high: float | None = None


@frozen(kw_only=True)
class ParamMetric:
    """`metric:` on a parameter: a gauge of its numeric value, read when metrics are scraped."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()  # (label, value), in the order written
    help: str = ""


class MetricType(enum.Enum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@frozen(kw_only=True)
class MetricSpec:
    """One entry of the top-level `metrics:` section: a counter or a histogram the handlers
    feed (`protocol.count` / `protocol.observe`); the runtime adds the `element` label."""

    name: str
    type: MetricType
    help: str = ""
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # histograms; empty: the runtime's default buckets
    mark: Mark | None = _mark_field()


@frozen(kw_only=True)
class Param:
    id: int
    name: str
    type: ParamType = ParamType.READ
    kind: ValueKind = ValueKind.STRING
    description: str = ""
    discreets: tuple[Discreet, ...] = ()
    range: Range | None = None
    step: float | None = None
    units: str = ""
    decimals: int | None = None
    default: Any = None
    save: bool = False
    setter: bool = False
    password: bool = False
    # A set from outside may clear the value (JSON null); otherwise a set needs a value.
    clearable: bool = False
    page: str = ""
    summary: bool = False  # one of the few values that summarise the element (`connector elements`)
    metric: ParamMetric | None = None
    exceptions: tuple[ExceptionValue, ...] = ()
    mark: Mark | None = _mark_field()


@frozen(kw_only=True)
class Column:
    id: int
    name: str
    kind: ValueKind = ValueKind.STRING
    description: str = ""
    discreets: tuple[Discreet, ...] = ()
    units: str = ""
    decimals: int | None = None
    save: bool = True
    hidden: bool = False
    # DataMiner's column option of a column with a write parameter: a set from outside may change
    # its cells (a button column is one by its kind).
    write: bool = False
    exceptions: tuple[ExceptionValue, ...] = ()  # a number column's special values, as a param's
    mark: Mark | None = _mark_field()

    @property
    def settable(self) -> bool:
        """Whether a set from outside may change this column's cells."""
        return self.write or self.kind is ValueKind.BUTTON


@frozen(kw_only=True)
class Table:
    id: int
    name: str
    columns: tuple[Column, ...]
    key_column: int  # the id of the primary-key column; always a string column
    description: str = ""
    volatile: bool = False  # volatile: nothing of the table is saved
    page: str = ""
    mark: Mark | None = _mark_field()

    def column(self, ref: int | str) -> Column:
        """A column by id or by name, matched as `Protocol.param` matches."""
        if isinstance(ref, str) and is_ascii_number(ref):
            ref = int(ref)
        for c in self.columns:
            if c.id == ref or c.name == ref:
                return c
        if isinstance(ref, str):
            for c in self.columns:
                if same_name(c.name, ref):
                    return c
        raise KeyError(f"table {self.name!r} has no column {ref!r}")


@frozen(kw_only=True)
class Header:
    """A request or response header: a fixed value, or taken from / stored in a parameter."""

    key: str
    value: str = ""
    param: int | None = None


@frozen(kw_only=True)
class Request:
    verb: str = "GET"
    path: str | None = None
    path_param: int | None = None
    headers: tuple[Header, ...] = ()
    body_param: int | None = None
    timeout: float | None = None  # seconds; None: the element's default


@frozen(kw_only=True)
class Response:
    status_param: int | None = None
    content_param: int | None = None
    headers: tuple[Header, ...] = ()


@frozen(kw_only=True)
class Session:
    id: int
    name: str
    request: Request
    response: Response
    mark: Mark | None = _mark_field()


class GroupType(enum.Enum):
    POLL = "poll"
    POLL_ACTION = "poll action"
    POLL_TRIGGER = "poll trigger"
    ACTION = "action"
    TRIGGER = "trigger"


class ContentKind(enum.Enum):
    SESSIONS = "sessions"
    ACTIONS = "actions"
    PARAMS = "params"
    TRIGGERS = "triggers"


@frozen(kw_only=True)
class Group:
    id: int
    name: str
    type: GroupType = GroupType.POLL
    content_kind: ContentKind = ContentKind.SESSIONS
    content: tuple[int, ...] = ()
    condition: Condition | None = None  # DataMiner's group Condition: the group runs only when it holds
    mark: Mark | None = _mark_field()


@frozen(kw_only=True)
class Timer:
    id: int
    name: str
    interval: float  # seconds
    groups: tuple[int, ...]
    initial: bool = True  # start with the element; False: only through a `start` action
    interval_param: int | None = None  # a number parameter (seconds) that overrides `interval`
    mark: Mark | None = _mark_field()


class TriggerOn(enum.Enum):
    PARAMETER = "parameter"
    GROUP = "group"
    PROTOCOL = "protocol"
    SESSION = "session"
    TIMER = "timer"
    NONE = "none"  # fires only through check_trigger or another trigger


class TriggerTime(enum.Enum):
    CHANGE = "change"
    BEFORE = "before"
    AFTER = "after"
    AFTER_STARTUP = "after startup"
    TIMEOUT = "timeout"
    NONE = "none"


EACH = "each"  # `on: {parameter: each}`: the default trigger for parameters with none of their own


@frozen(kw_only=True)
class Trigger:
    id: int
    name: str
    on: TriggerOn = TriggerOn.NONE
    on_id: int | str | None = None  # an id, or EACH
    time: TriggerTime = TriggerTime.NONE
    actions: tuple[int, ...] = ()
    triggers: tuple[int, ...] = ()
    condition: Condition | None = None  # DataMiner's trigger Condition: fires only when it holds
    mark: Mark | None = _mark_field()


class ActionType(enum.Enum):
    RUN_HANDLERS = "run handlers"  # DataMiner: "run actions" (run the QActions of a parameter)
    SET = "set"
    CLEAR = "clear"
    COPY = "copy"
    INCREMENT = "increment"
    ADD_TO_EXECUTE = "add to execute"
    EXECUTE = "execute"
    EXECUTE_NEXT = "execute next"
    EXECUTE_ONE = "execute one"
    EXECUTE_ONE_NOW = "execute one now"
    EXECUTE_ONE_TOP = "execute one top"
    START = "start"
    STOP = "stop"
    RESTART_TIMER = "restart timer"


class ActionOn(enum.Enum):
    PARAMETER = "parameter"
    GROUP = "group"
    TIMER = "timer"


GROUP_ACTIONS = frozenset(
    {
        ActionType.ADD_TO_EXECUTE,
        ActionType.EXECUTE,
        ActionType.EXECUTE_NEXT,
        ActionType.EXECUTE_ONE,
        ActionType.EXECUTE_ONE_NOW,
        ActionType.EXECUTE_ONE_TOP,
    }
)
TIMER_ACTIONS = frozenset({ActionType.START, ActionType.STOP, ActionType.RESTART_TIMER})
PARAMETER_ACTIONS = frozenset(
    {ActionType.RUN_HANDLERS, ActionType.SET, ActionType.CLEAR, ActionType.COPY, ActionType.INCREMENT}
)


@frozen(kw_only=True)
class Action:
    id: int
    name: str
    on: ActionOn
    on_ids: tuple[int, ...]
    type: ActionType
    source: int | None = None  # copy: the parameter copied from
    value: Any = None  # set: the value; increment: the step (default 1)
    condition: Condition | None = None  # DataMiner's action Condition: runs only when it holds
    mark: Mark | None = _mark_field()


@frozen(kw_only=True)
class Handler:
    """DataMiner's QAction: Python code run when one of its trigger parameters changes."""

    id: int
    name: str
    entry: str  # "package.module:function"
    triggers: tuple[int, ...] = ()
    row: bool = False  # per-row (documentation only now: every handler on a column gets the row's key)
    mark: Mark | None = _mark_field()


INTERAPP_RECEIVE = 9000000
INTERAPP_RETURN = 9000001


@frozen(kw_only=True)
class Protocol:
    name: str
    version: str
    params: Mapping[int, Param] = field(factory=dict, eq=False)
    tables: Mapping[int, Table] = field(factory=dict, eq=False)
    sessions: Mapping[int, Session] = field(factory=dict, eq=False)
    groups: Mapping[int, Group] = field(factory=dict, eq=False)
    timers: Mapping[int, Timer] = field(factory=dict, eq=False)
    triggers: Mapping[int, Trigger] = field(factory=dict, eq=False)
    actions: Mapping[int, Action] = field(factory=dict, eq=False)
    handlers: Mapping[int, Handler] = field(factory=dict, eq=False)
    metrics: Mapping[str, MetricSpec] = field(factory=dict, eq=False)
    source: str = ""  # the file it was loaded from
    description: str = ""
    # The element goes into timeout after this many requests of one session in a row got no
    # answer, and leaves it at the next answer (DataMiner's element timeout); None: never.
    timeout_after: int | None = None
    # What the validator flags that still runs, each `FILE:LINE:COL: warning: message`.
    warnings: tuple[str, ...] = field(default=(), eq=False)

    def param(self, ref: int | str) -> Param:
        """A standalone parameter by id or by name; for a read/write pair, the read one.

        A name matches exactly or regardless of ASCII case; an id is ASCII digits. No Unicode
        look-alike (fullwidth digits, the Kelvin sign, the long s) names a parameter.
        """
        if isinstance(ref, int) or is_ascii_number(ref):
            found = self.params.get(int(ref))
            if found is not None:
                return found
            raise KeyError(f"no parameter {ref}")
        matches = [p for p in self.params.values() if p.name == ref]
        if not matches:
            matches = [p for p in self.params.values() if same_name(p.name, ref)]
        if not matches:
            raise KeyError(f"no parameter named {ref!r}")
        matches.sort(key=lambda p: p.type is not ParamType.READ and p.type is not ParamType.DUMMY)
        return matches[0]

    def write_of(self, read_id: int) -> Param | None:
        """The write parameter paired with a read parameter (same name), if any."""
        read = self.params[read_id]
        for p in self.params.values():
            if p.type is ParamType.WRITE and p.name == read.name:
                return p
        return None

    def read_of(self, write_id: int) -> Param | None:
        write = self.params[write_id]
        for p in self.params.values():
            if p.type is not ParamType.WRITE and p.name == write.name:
                return p
        return None

    def table(self, ref: int | str) -> Table:
        """A table by id or by name, matched as `param` matches."""
        if isinstance(ref, int) or is_ascii_number(ref):
            found = self.tables.get(int(ref))
            if found is not None:
                return found
        else:
            for t in self.tables.values():
                if same_name(t.name, ref):
                    return t
        raise KeyError(f"no table {ref!r}")

    def column_owner(self, column_id: int) -> tuple[Table, Column] | None:
        for t in self.tables.values():
            for c in t.columns:
                if c.id == column_id:
                    return t, c
        return None


__all__ = [
    n
    for n in dir()
    if not n.startswith("_") and n not in {"annotations", "enum", "field", "frozen", "Any", "Mapping", "Condition"}
]
