"""protocol.yaml -> `Protocol`: read the shape here, check the meaning in `validate`.

Two passes, so that every problem of a file is reported at once:

1. This module reads each construct's mapping (known keys, value types, choices) and builds its
   model object, recording where each was read. A construct with a problem of shape is left out
   of the model, but its id is remembered as *declared*, so that references to it do not add
   "no such id" noise to the real problem.
2. `connector.protocol.validate` checks what the objects mean together: id ranges, read/write
   pairs, references, trigger On/Time combinations, the after-startup flow, handler imports.

The schema is docs/architecture.md; choices the document leaves open are noted where made.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from attrs import evolve, frozen
from yaml.nodes import Node, ScalarNode

from connector.protocol.condition_checks import read_condition
from connector.protocol.document import PARAMETER_SPACE, Document, id_space
from connector.protocol.errors import Problem, ProtocolError
from connector.protocol.metrics import check_param_metrics, read_metrics, read_param_metric
from connector.protocol.model import (
    EACH,
    Action,
    ActionOn,
    ActionType,
    Column,
    ContentKind,
    Discreet,
    ExceptionValue,
    Group,
    GroupType,
    Handler,
    Header,
    Mark,
    Param,
    ParamType,
    Protocol,
    Range,
    Request,
    Response,
    Session,
    Table,
    Timer,
    Trigger,
    TriggerOn,
    TriggerTime,
    ValueKind,
)
from connector.protocol.rules import DISCREET_KINDS, GROUP_TYPES_FOR_CONTENT
from connector.protocol.scalars import Invalid, describe, to_int, to_text
from connector.protocol.validate import validate
from connector.protocol.yamlnodes import Fields, Keys, NodeReader, compose

E = TypeVar("E", bound=Enum)


def _choices(enum: type[E], *leave_out: E) -> dict[str, E]:
    return {member.value: member for member in enum if member not in leave_out}


# A table is declared under `tables:`, so `array` is not a param type here.
PARAM_TYPES = _choices(ParamType, ParamType.ARRAY)
VALUE_KINDS = _choices(ValueKind)
GROUP_TYPES = _choices(GroupType)
TRIGGER_ONS = _choices(TriggerOn)
TRIGGER_TIMES = _choices(TriggerTime)
ACTION_ONS = _choices(ActionOn)
ACTION_TYPES = _choices(ActionType)
HTTP_VERBS = {v: v for v in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")}

TOP_KEYS = Keys(
    required=("protocol",),
    optional=("params", "tables", "http", "groups", "timers", "triggers", "actions", "handlers", "metrics"),
)
PROTOCOL_KEYS = Keys(required=("name", "version"), optional=("description", "timeout_after"))
PARAM_KEYS = Keys(
    required=("id", "name"),
    optional=(
        "type", "kind", "description", "discreets", "range", "step", "units", "decimals",
        "default", "save", "setter", "password", "clearable", "page", "summary", "metric", "exceptions",
    ),
)  # fmt: skip
DISCREET_KEYS = Keys(required=("display",), optional=("value",))
EXCEPTION_KEYS = Keys(required=("value", "display"))
RANGE_KEYS = Keys(optional=("low", "high"))
TABLE_KEYS = Keys(required=("id", "name", "key", "columns"), optional=("volatile", "description", "page"))
COLUMN_KEYS = Keys(
    required=("id", "name"),
    optional=("kind", "description", "discreets", "units", "decimals", "save", "hidden", "write", "exceptions"),
)
SESSION_KEYS = Keys(required=("id", "name", "request"), optional=("response",))
REQUEST_KEYS = Keys(optional=("verb", "path", "path_param", "headers", "body_param", "timeout"))
REQUEST_HEADER_KEYS = Keys(required=("key",), optional=("value", "param"))
RESPONSE_KEYS = Keys(optional=("status_param", "content_param", "headers"))
RESPONSE_HEADER_KEYS = Keys(required=("key", "param"))  # a response header is stored, never fixed
GROUP_KEYS = Keys(required=("id", "name", "content"), optional=("type", "condition"))
CONTENT_KEYS = Keys(optional=tuple(k.value for k in ContentKind))
TIMER_KEYS = Keys(required=("id", "name", "interval", "groups"), optional=("interval_param", "initial"))
TRIGGER_KEYS = Keys(required=("id", "name"), optional=("on", "on_id", "time", "actions", "triggers", "condition"))
ACTION_KEYS = Keys(required=("id", "name", "on", "type"), optional=("on_id", "on_ids", "source", "value", "condition"))
HANDLER_KEYS = Keys(required=("id", "name", "entry"), optional=("triggers", "row"))

# --- public API -------------------------------------------------------------------------------


def load_protocol(path: str | Path, *, check_imports: bool = True) -> Protocol:
    """Read and validate a protocol.yaml.

    Raises OSError when the file cannot be read, ProtocolError for anything wrong in it
    (including text that is not UTF-8).
    """
    file = str(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text: byte 0x{data[exc.start]:02X} cannot be decoded; save the file as UTF-8"
        raise ProtocolError([Problem(Mark(file, line, column), message)]) from None
    return parse_protocol(text, file, check_imports=check_imports)


def parse_protocol(text: str, file: str = "protocol.yaml", *, check_imports: bool = True) -> Protocol:
    """Build the Protocol a protocol.yaml text declares; ProtocolError lists every problem.

    check_imports: import each handler's module and check its entry is callable. Leave it on
    except in tests of the declaration alone.
    """
    root = compose(text, file)
    reader = NodeReader(file)
    document = Document(file=file, top=Mark(file, 1, 1))
    if root is None:
        reader.report(document.top, "the file is empty: it needs at least `protocol: {name: ..., version: ...}`")
    elif _read_document(reader, root, document):
        # The meaning of what could be read is checked even when some shape is wrong, so that
        # one run shows every problem.
        validate(document, reader.problems, check_imports=check_imports)
        check_param_metrics(document, reader.problems)
    reader.raise_if_problems()
    warnings = tuple(str(p) for p in reader.problems if p.warning)
    return evolve(document.to_protocol(), warnings=warnings) if warnings else document.to_protocol()


# --- the first pass ---------------------------------------------------------------------------


@frozen
class _Section:
    """One list section of the file: its key, what an item is, how to build one."""

    key: str
    kind: str
    keys: Keys
    build: Callable[[Fields, Document, int], Any]
    target: str  # the Document attribute the objects go to


def _read_document(reader: NodeReader, root: Node, document: Document) -> bool:
    """Read every section into `document`; False when the file is no mapping at all."""
    top = reader.mapping(root, "the protocol file", TOP_KEYS)
    if top is None:
        return False
    document.section_keys = {key: top.key_mark(key) for key in top.values}
    head = top.child("protocol", "protocol", PROTOCOL_KEYS)
    if head is not None:
        document.name = head.text("name", "")
        document.version = head.text("version", "")
        document.description = head.text("description", "")
        document.timeout_after = head.integer("timeout_after")
        if document.timeout_after is not None and document.timeout_after < 1:
            head.report("timeout_after", "timeout_after counts requests in a row without an answer: 1 or more")
    for section in SECTIONS:
        items = reader.sequence(top.get(section.key), section.key)
        if items is None:
            document.incomplete.add(section.kind)
            continue
        for item in items:
            fields = reader.mapping(item, section.kind, section.keys)
            if fields is None or not _add(document, section, fields):
                document.incomplete.add(section.kind)
    read_metrics(reader, top.get("metrics"), document)
    return True


def _add(document: Document, section: _Section, fields: Fields) -> bool:
    """Build one construct into `document`; False when it was left out."""
    id = fields.integer("id")
    claimed = id is not None and _claim(document, section.kind, id, fields)
    # Built even without an id of its own, to report the construct's other problems too.
    built = section.build(fields, document, 0 if id is None else id)
    if id is None or not claimed or built is None or not fields.ok:
        return False
    getattr(document, section.target)[id] = built
    document.fields[(section.kind, id)] = fields
    return True


def _claim(document: Document, kind: str, id: int, fields: Fields) -> bool:
    """Take `id` for a construct of `kind`; False (reported) when another one has it."""
    claim = (kind, fields.mark())
    first = document.claimed.setdefault((id_space(kind), id), claim)
    if first is claim:
        return True
    first_kind, first_mark = first
    shared = " (params, tables and columns share one id space)" if kind in PARAMETER_SPACE else ""
    fields.report(
        "id",
        f"{kind} id {id} is already used by the {first_kind} at line {first_mark.line}, column {first_mark.column}"
        f"{shared}: pick a free id",
    )
    return False


# --- builders: one construct each, from its Fields; None when a part is missing -------------


def _param(f: Fields, document: Document, id: int) -> Param:
    kind = f.choice("kind", VALUE_KINDS, ValueKind.STRING)
    discreets = _discreets(f)
    decimals = f.integer("decimals")
    limits = f.child("range", "range", RANGE_KEYS)
    return Param(
        id=id,
        name=f.text("name", ""),
        type=f.choice("type", PARAM_TYPES, ParamType.READ),
        kind=kind,
        description=f.text("description", ""),
        discreets=discreets,
        range=None if limits is None else Range(low=limits.number("low"), high=limits.number("high")),
        step=f.number("step"),
        units=f.text("units", ""),
        decimals=decimals,
        default=_default(f, kind, discreets, decimals),
        save=f.flag("save"),
        setter=f.flag("setter"),
        password=f.flag("password"),
        clearable=f.flag("clearable"),
        page=f.text("page", ""),
        summary=f.flag("summary"),
        metric=read_param_metric(f),
        exceptions=_exceptions(f),
        mark=f.mark(),
    )


def _discreets(f: Fields) -> tuple[Discreet, ...]:
    """The discreet list. A value defaults to its display; values are numbers only when every
    value is one (so `[{display: Disabled, value: 0}, ...]` stores 0, not "0")."""
    entries = []
    for item in f.children("discreets", "discreet", DISCREET_KEYS):
        display = item.text("display")
        value_node = item.get("value")
        if value_node is None:
            value_node = item.get("display")
        value = item.value("value" if item.has("value") else "display")
        if display is None or value_node is None or value is None:
            continue
        entries.append((display, value, str(value_node.value)))
    numeric = all(isinstance(value, int | float) for _, value, _ in entries)
    return tuple(Discreet(display=d, value=v if numeric else raw) for d, v, raw in entries)


def _exceptions(f: Fields) -> tuple[ExceptionValue, ...]:
    """DataMiner's Interprete Exceptions: special values shown as a text."""
    entries = (
        (item.number("value"), item.text("display")) for item in f.children("exceptions", "exception", EXCEPTION_KEYS)
    )
    return tuple(ExceptionValue(value=v, display=d) for v, d in entries if v is not None and d is not None)


def _default(f: Fields, kind: ValueKind, discreets: tuple[Discreet, ...], decimals: int | None) -> Any:
    """The default as the engine stores it; whether it is valid is checked in validate."""
    value = f.value("default")
    node = f.get("default")
    if value is None or node is None:
        return None
    raw = str(node.value)
    if kind is ValueKind.STRING:
        return raw  # `default: 1.10` is the text "1.10", not the number 1.1
    if kind in DISCREET_KINDS:
        # A value wins over a display that reads the same; a display becomes its value.
        for discreet in discreets:
            if value == discreet.value or raw == str(discreet.value):
                return discreet.value
        for discreet in discreets:
            if raw == discreet.display:
                return discreet.value
        return value
    if isinstance(value, float) and value.is_integer() and not decimals:
        return int(value)  # docs/architecture.md: int when decimals is 0 or absent and whole
    return value


def _table(f: Fields, document: Document, id: int) -> Table:
    columns = []
    for column_fields in f.children("columns", "column", COLUMN_KEYS):
        column_id = column_fields.integer("id")
        if column_id is None or not _claim(document, "column", column_id, column_fields):
            continue
        column = _column(column_fields, column_id)
        if column_fields.ok:
            columns.append(column)
            document.fields[("column", column_id)] = column_fields
    return Table(
        id=id,
        name=f.text("name", ""),
        columns=tuple(columns),
        key_column=f.integer("key", 0),
        description=f.text("description", ""),
        volatile=f.flag("volatile"),
        page=f.text("page", ""),
        mark=f.mark(),
    )


def _column(f: Fields, id: int) -> Column:
    return Column(
        id=id,
        name=f.text("name", ""),
        kind=f.choice("kind", VALUE_KINDS, ValueKind.STRING),
        description=f.text("description", ""),
        discreets=_discreets(f),
        units=f.text("units", ""),
        decimals=f.integer("decimals"),
        save=f.flag("save", True),
        hidden=f.flag("hidden"),
        write=f.flag("write"),
        exceptions=_exceptions(f),
        mark=f.mark(),
    )


def _session(f: Fields, document: Document, id: int) -> Session | None:
    request = f.child("request", "request", REQUEST_KEYS)
    response = f.child("response", "response", RESPONSE_KEYS)
    if request is None:
        return None
    request.exactly_one("path", "path_param")
    request_headers = request.children("headers", "request header", REQUEST_HEADER_KEYS)
    for header in request_headers:
        header.exactly_one("value", "param")
    return Session(
        id=id,
        name=f.text("name", ""),
        request=Request(
            verb=request.read("verb", _verb, "GET"),
            path=request.text("path"),
            path_param=request.integer("path_param"),
            headers=tuple(_header(h) for h in request_headers),
            body_param=request.integer("body_param"),
            timeout=request.number("timeout"),
        ),
        response=Response()
        if response is None
        else Response(
            status_param=response.integer("status_param"),
            content_param=response.integer("content_param"),
            headers=tuple(_header(h) for h in response.children("headers", "response header", RESPONSE_HEADER_KEYS)),
        ),
        mark=f.mark(),
    )


def _verb(node: Node) -> str:
    # Matched without regard to case (`get` is GET), stored upper-case.
    text = to_text(node)
    if text.upper() in HTTP_VERBS:
        return text.upper()
    raise Invalid(f"{text[:40]!r} is not one of: {', '.join(HTTP_VERBS)}")


def _header(f: Fields) -> Header:
    return Header(key=f.text("key", ""), value=f.text("value", ""), param=f.integer("param"))


def _group(f: Fields, document: Document, id: int) -> Group | None:
    content = f.child("content", "group content", CONTENT_KEYS)
    given = None if content is None else content.exactly_one(*CONTENT_KEYS.allowed)
    if content is None or given is None:
        return None
    content_kind = ContentKind(given)
    return Group(
        id=id,
        name=f.text("name", ""),
        # With no type, the first type that runs the content (DataMiner's default, poll, would
        # not run actions or triggers).
        type=f.choice("type", GROUP_TYPES, GROUP_TYPES_FOR_CONTENT[content_kind][0]),
        content_kind=content_kind,
        content=content.integers(given),
        condition=read_condition(f),
        mark=f.mark(),
    )


def _timer(f: Fields, document: Document, id: int) -> Timer:
    return Timer(
        id=id,
        name=f.text("name", ""),
        interval=f.number("interval", 0),
        groups=f.integers("groups"),
        initial=f.flag("initial", True),
        interval_param=f.integer("interval_param"),
        mark=f.mark(),
    )


def _on_id(node: Node) -> int | str:
    if isinstance(node, ScalarNode) and node.value == EACH:
        return EACH
    try:
        return to_int(node)
    except Invalid:
        raise Invalid(f"expected an id or {EACH!r}, got {describe(node)}") from None


def _trigger(f: Fields, document: Document, id: int) -> Trigger:
    return Trigger(
        id=id,
        name=f.text("name", ""),
        on=f.choice("on", TRIGGER_ONS, TriggerOn.NONE),
        on_id=f.read("on_id", _on_id),
        time=f.choice("time", TRIGGER_TIMES, TriggerTime.NONE),
        actions=f.integers("actions"),
        triggers=f.integers("triggers"),
        condition=read_condition(f),
        mark=f.mark(),
    )


def _action(f: Fields, document: Document, id: int) -> Action | None:
    # `on_id: 5` is short for `on_ids: [5]`.
    given = f.exactly_one("on_id", "on_ids")
    on_ids = f.integers("on_ids") if given == "on_ids" else (f.integer("on_id"),)
    on = f.choice("on", ACTION_ONS)
    type = f.choice("type", ACTION_TYPES)
    source = f.integer("source")
    value = f.value("value")
    condition = read_condition(f)
    if on is None or type is None or None in on_ids:
        return None
    return Action(
        id=id,
        name=f.text("name", ""),
        on=on,
        on_ids=on_ids,
        type=type,
        source=source,
        value=value,
        condition=condition,
        mark=f.mark(),
    )


def _handler(f: Fields, document: Document, id: int) -> Handler:
    return Handler(
        id=id,
        name=f.text("name", ""),
        entry=f.text("entry", ""),
        triggers=f.integers("triggers"),
        row=f.flag("row"),
        mark=f.mark(),
    )


SECTIONS = (
    _Section("params", "param", PARAM_KEYS, _param, "params"),
    _Section("tables", "table", TABLE_KEYS, _table, "tables"),
    _Section("http", "session", SESSION_KEYS, _session, "sessions"),
    _Section("groups", "group", GROUP_KEYS, _group, "groups"),
    _Section("timers", "timer", TIMER_KEYS, _timer, "timers"),
    _Section("triggers", "trigger", TRIGGER_KEYS, _trigger, "triggers"),
    _Section("actions", "action", ACTION_KEYS, _action, "actions"),
    _Section("handlers", "handler", HANDLER_KEYS, _handler, "handlers"),
)

__all__ = ["load_protocol", "parse_protocol"]
