"""The fake platform's data: its constants, faults, business objects, the snapshots tests see,
and the helpers that shape its answers and read its requests (`connector.ticketing.fake_platform`
is the platform itself; see its docstring for the contract's quirks it keeps)."""

from __future__ import annotations

import email.utils
import functools
import json
import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from attrs import Attribute, asdict, define, field, fields, frozen

if TYPE_CHECKING:
    from connector.ticketing.fake_platform import FakePlatform

DEFAULT_CLIENT_ID = "ticketing-be-fake-client"
DEFAULT_USERNAME = "dataminer"
DEFAULT_PASSWORD = "fake-password"
DEFAULT_API_KEY = "fake-sfyc-api-key"

CATEGORIES = ("Falla de Linea", "SNR")
OPEN_STATES = ("New", "Assigned", "In Progress", "Pending")
CLOSED_STATES = ("Resolved", "Closed")
FIRST_INCIDENT_ID = 102400
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 200  # the contract does not say; clients should always send pageSize
MAX_SAVE_REQUESTS = 200
MAX_ORDERS = 200
MAX_LOOKUP_TICKETS = 200
REFRESH_TOKEN_TTL = 24 * 3600.0

CALL_OPERATIONS = ("login", "refresh", "summary", "schema", "search", "save_batch", "ot_create", "ot_lookup")
SAVE_OPERATIONS = ("create_ticket", "add_note", "update_ticket_ot", "update_ticket", "update_note", "save_other")
ITEM_OPERATIONS = (*SAVE_OPERATIONS, "ot_create")
OPERATIONS = (*CALL_OPERATIONS, *SAVE_OPERATIONS)

_JSON = {"content-type": "application/json; charset=utf-8"}
_DENIED = {"Message": "Authorization has been denied for this request."}
_HTML_503 = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>"
    b"<h1>Service Unavailable</h1><p>The gateway could not reach the application.</p></body></html>"
)


@frozen
class FakeAnswer:
    """One HTTP answer. `delay`: seconds the transport waits first; `lost`: the request was applied,
    but the transport must drop the connection instead of answering."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    lost: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


class LoggedRequest(NamedTuple):
    method: str
    path: str
    status: int


def _number(
    low: float, high: float, *, low_included: bool = True, what: str
) -> Callable[[object, Attribute[float], float], None]:
    def check(instance: object, attribute: Attribute[float], value: float) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and (low <= value if low_included else low < value) and value <= high):  # NaN fails too
            raise ValueError(f"{attribute.name} must be {what}, not {value!r}")

    return check


_rate = _number(0.0, 1.0, what="a probability from 0 to 1")
_latency = _number(0.0, math.inf, what="seconds, 0 or more")
_lifetime = _number(0.0, math.inf, low_included=False, what="seconds, more than 0")


def _messages(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _known_operations(instance: Faults, attribute: Any, value: Mapping[str, str]) -> None:
    unknown = sorted(set(value) - set(OPERATIONS))
    if unknown:
        raise ValueError(f"fail_operation names unknown operations {unknown}; known: {', '.join(OPERATIONS)}")
    if not all(isinstance(message, str) for message in value.values()):
        raise TypeError("fail_operation maps an operation name to its error message (a string)")


@frozen(kw_only=True)
class Faults:
    """What goes wrong, and how often (rates are probabilities per call or per item)."""

    error_rate: float = field(default=0.0, validator=_rate)
    html_503_rate: float = field(default=0.0, validator=_rate)
    lost_rate: float = field(default=0.0, validator=_rate)
    malformed_rate: float = field(default=0.0, validator=_rate)
    item_error_rate: float = field(default=0.0, validator=_rate)
    latency: float = field(default=0.0, validator=_latency)
    fail_operation: Mapping[str, str] = field(factory=dict, converter=_messages, validator=_known_operations)
    token_ttl: float = field(default=1199.0, validator=_lifetime)
    # A quirk rather than a fault: the real server does it, so it is on by default.
    quoted_token_error_rate: float = field(default=0.5, validator=_rate)

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Faults from a JSON object (the control API); missing fields take their defaults."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {a.name for a in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields {unknown}; known: {', '.join(sorted(known))}")
        if not isinstance(data.get("fail_operation", {}), dict):
            raise ValueError("fail_operation must be a JSON object {operation: message}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --- the data: business objects as tables ---------------------------------------------------------


@frozen
class _FieldSpec:
    name: str
    display_name: str
    type: str = "Text"
    required: bool = False
    read_only: bool = False


@frozen
class _BusObSpec:
    name: str
    display_name: str
    fields: tuple[_FieldSpec, ...]
    members: tuple[str, ...] = ()  # a group's member names
    savable: bool = False  # the fake stores Incident and Journal - Note only


_INCIDENT = _BusObSpec(
    "Incident",
    "Incident",
    (
        _FieldSpec("RecID", "Rec ID", read_only=True),
        _FieldSpec("IncidentID", "Incident ID", "Number", read_only=True),
        _FieldSpec("Status", "Status"),
        _FieldSpec("Category", "Category", required=True),
        _FieldSpec("ShortDescription", "Short Description", required=True),
        _FieldSpec("Description", "Description"),
        _FieldSpec("Priority", "Priority", "Number", required=True),
        _FieldSpec("Node", "Node"),
        _FieldSpec("ExternalID", "External ID"),
        _FieldSpec("OTNumber", "OT Number"),
        _FieldSpec("Source", "Call Source"),
        _FieldSpec("CreatedDateTime", "Created Date Time", "DateTime", read_only=True),
    ),
    savable=True,
)
_JOURNAL_FIELDS = (
    _FieldSpec("RecID", "Rec ID", read_only=True),
    _FieldSpec("ParentRecID", "Parent Rec ID", required=True),
    _FieldSpec("ParentTypeID", "Parent Type ID", required=True),
    _FieldSpec("Details", "Details", required=True),
    _FieldSpec("CreatedDateTime", "Created Date Time", "DateTime", read_only=True),
)
# The note is found by displayName among decoy members, as on a real Journal group.
_NOTE = _BusObSpec("JournalNote", "Journal - Note", _JOURNAL_FIELDS, savable=True)
_BUS_OBS = (
    _INCIDENT,
    _BusObSpec(
        "Journal", "Journal", _JOURNAL_FIELDS, members=("JournalCustomerRequest", "JournalNote", "JournalHistory")
    ),
    _BusObSpec("JournalCustomerRequest", "Journal - Customer Request", _JOURNAL_FIELDS),
    _NOTE,
    _BusObSpec("JournalHistory", "Journal - History", _JOURNAL_FIELDS),
)
_FULL_FIELD_ID = re.compile(r"bo:(?P<bo>[0-9a-f]+),fi:(?P<fi>[0-9a-f]+)")


@define
class _Record:
    values: dict[str, str]  # by field name, every value a string

    @property
    def rec_id(self) -> str:
        return self.values["RecID"]

    @property
    def public_id(self) -> str:
        return self.values.get("IncidentID") or self.values["RecID"]  # a journal's public id is its RecID


@define
class _BusOb:
    spec: _BusObSpec
    bus_ob_id: str
    field_ids: dict[str, str]  # name -> fieldId
    by_field_id: dict[str, _FieldSpec]
    records: dict[str, _Record] = field(factory=dict)  # by RecID, in creation order

    def field(self, ref: object) -> _FieldSpec | None:
        """The field a request names by its short fieldId or by `BO:<busObId>,FI:<fieldId>`."""
        if not isinstance(ref, str):
            return None
        ref = ref.strip().lower()
        full = _FULL_FIELD_ID.fullmatch(ref)
        if full:
            if full["bo"] != self.bus_ob_id:
                return None
            ref = full["fi"]
        return self.by_field_id.get(ref)


# --- what tests see: read-only snapshots --------------------------------------------------------


@frozen(kw_only=True)
class Incident:
    rec_id: str
    incident_id: str
    status: str
    category: str
    short_description: str
    description: str
    priority: str
    node: str
    external_id: str
    ot_number: str
    source: str
    created_date_time: str

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES


@frozen(kw_only=True)
class Note:
    rec_id: str
    parent_rec_id: str
    parent_type_id: str
    details: str
    created_date_time: str


@frozen(kw_only=True)
class WorkOrder:
    ot: str
    ticket: str
    referencia: str
    categoria: str
    nodo: str
    descripcion: str = ""
    prioridad: str = ""
    estado: str = "Abierta"


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


_View = TypeVar("_View", Incident, Note)


def _view(cls: type[_View], record: _Record) -> _View:
    return cls(**{_snake(name): value for name, value in record.values.items()})


# --- answers: one helper per shape ----------------------------------------------------------------


def _answer(status: int, body: bytes, headers: Mapping[str, str] = _JSON) -> FakeAnswer:
    return FakeAnswer(status, HTTPStatus(status).phrase, dict(headers), body)


def _json(status: int, payload: object, headers: Mapping[str, str] = _JSON) -> FakeAnswer:
    return _answer(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


def _envelope(status: int = 200, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    # httpStatusCode is the .NET HttpStatusCode enum name: "OK", "BadRequest", "InternalServerError".
    return {
        "errorCode": code,
        "errorMessage": message,
        "hasError": code is not None,
        "httpStatusCode": HTTPStatus(status).phrase.replace(" ", "").replace("-", ""),
    }


def _cherwell_error(status: int, code: str, message: str) -> FakeAnswer:
    return _json(status, _envelope(status, code, message))


def _bad_request(message: str) -> FakeAnswer:
    return _cherwell_error(400, "BADREQUEST", message)


def _sfyc_error(status: int, codigo: str, mensaje: str) -> FakeAnswer:
    return _json(status, {"codigo": codigo, "mensaje": mensaje})


def _server_error(family: str, message: str) -> FakeAnswer:
    if family == "sfyc":
        return _sfyc_error(500, "ERROR_INTERNO", message)
    return _cherwell_error(500, "GENERALFAILURE", message)


def _unknown_bus_ob(bus_ob_id: str) -> FakeAnswer:
    return _cherwell_error(
        500, "GENERALFAILURE", f"Business object with {bus_ob_id} not found\r\nParameter name: BusObId"
    )


def _item(
    status: int = 200,
    code: str | None = None,
    message: str | None = None,
    record: _Record | None = None,
    field_errors: Iterable[dict[str, str]] = (),
) -> dict[str, Any]:
    """One SaveResponse of a batch: the record on success, the error (and field errors) otherwise."""
    return {
        "busObPublicId": record.public_id if record else None,
        "busObRecId": record.rec_id if record else None,
        "cacheKey": None,
        "fieldValidationErrors": list(field_errors),
        "notificationTriggers": [],
        **_envelope(status, code, message),
    }


def _field_error(field_id: object, error: str, code: str) -> dict[str, str]:
    return {"fieldId": _text(field_id), "error": error, "errorCode": code}


def _order_failed(ticket: str | None, codigo: str, mensaje: str) -> dict[str, Any]:
    return {"ticket": ticket, "ok": False, "codigo": codigo, "mensaje": mensaje}


# --- small parsers --------------------------------------------------------------------------------


def _text(value: object) -> str:
    """A JSON value as the string the platform stores (all values travel as strings)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _truthy(value: object) -> bool:
    # Some clients send "dirty": "true"; the .NET server coerces it.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _whole_number(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and len(value) < 10:
        return int(value)
    return None


def _parse_json(body: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested input
        return False, None


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _cherwell_date(timestamp: float) -> str:
    t = time.gmtime(timestamp)
    return f"{t.tm_mon}/{t.tm_mday}/{t.tm_year} {t.tm_hour % 12 or 12}:{t.tm_min:02d}:{t.tm_sec:02d} " + (
        "AM" if t.tm_hour < 12 else "PM"
    )


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda value, operand: operand in value,
    "startswith": str.startswith,
    "gt": operator.gt,
    "lt": operator.lt,
}


@define
class _FieldFilter:
    """The filters on one field, OR'd; `eq` ones kept in a set so 200 ExternalIDs cost one lookup."""

    equal: set[str] = field(factory=set)
    others: list[tuple[Callable[[str, str], bool], str]] = field(factory=list)

    def matches(self, value: str) -> bool:
        return value.casefold() in self.equal or any(compare(value, operand) for compare, operand in self.others)


# --- routing ---------------------------------------------------------------------------------------


@frozen
class _Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str]


_Handler = Callable[["FakePlatform", _Request, Faults], FakeAnswer]


@frozen
class _Route:
    family: str  # "token", "cherwell" or "sfyc": which error dialect and which credential
    method: str
    pattern: re.Pattern[str]
    operation: str | None  # None: the token endpoint, named by its grant_type
    handler: _Handler


_ROUTES: list[_Route] = []


def _route(family: str, method: str, path: str, operation: str | None) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        _ROUTES.append(_Route(family, method, re.compile(path, re.IGNORECASE), operation, handler))
        return handler

    return register
