"""Hypothesis strategies shared by the suites, one section per module they serve.

Add a section of your own (functions prefixed with its name) rather than editing another's.
"""

from __future__ import annotations

import copy
import functools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

# == interapp: the InterApp dialect (connector.engine.interapp) and the Ticketing messages ==========

INTERAPP_DEEP = "\u0000deep\u0000"  # stands for a deep nesting, spliced into the text afterwards
INTERAPP_DIALECT_METADATA = ("$id", "$ref", "$type", "$values")


def interapp_json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )


def interapp_json_values(*, metadata_keys: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value; with `metadata_keys`, objects may carry the dialect's `$` keys too."""
    keys = st.text(max_size=8)
    if metadata_keys:
        keys = st.one_of(keys, st.sampled_from(INTERAPP_DIALECT_METADATA))
    else:
        keys = keys.filter(lambda key: not key.startswith("$"))
    return st.recursive(
        interapp_json_scalars(),
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
        max_leaves=12,
    )


def interapp_member_names() -> st.SearchStrategy[str]:
    """Names a message member may have that the dialect does not take for itself."""
    return st.text(min_size=1, max_size=12).filter(
        lambda name: not name.startswith("$") and name not in ("guid", "returnAddress", "source")
    )


def interapp_members() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(interapp_member_names(), interapp_json_values(metadata_keys=False), max_size=5)


def interapp_dates() -> st.SearchStrategy[datetime]:
    """Dates an InterApp message can carry: naive or with a whole-minute offset, never year 1
    (which is .NET's "not set")."""
    offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.none() | offsets)


def _interapp_places(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a decoded document, in document order."""
    places: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            places.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return places


_INTERAPP_MUTATIONS = (
    "drop",
    "replace",
    "unknown type",
    "known type",
    "broken ref",
    "earlier ref",
    "deep",
    "huge string",
)


@st.composite
def interapp_mutated_samples(draw: st.DrawFn, sample_texts: list[str]) -> str:
    """A contract sample with a few members dropped or replaced, wrong types, unknown `$type`s,
    broken `$ref`s, a deep nesting or a huge string: what a broken or hostile sender sends."""
    document = copy.deepcopy(json.loads(draw(st.sampled_from(sample_texts))))
    deep = 0
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = _interapp_places(document)
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        mutation = draw(st.sampled_from(_INTERAPP_MUTATIONS))
        if mutation == "drop":
            del container[key]
        elif mutation == "replace":
            container[key] = draw(interapp_json_values())
        elif mutation == "unknown type":
            container[key] = {"$type": draw(st.text(max_size=30)), "x": 1}
        elif mutation == "known type":
            container[key] = {"$type": draw(st.sampled_from(["Ticket,", "InterAppCall,", "Ns.X+Ticket, A"]))}
        elif mutation == "broken ref":
            container[key] = {"$ref": draw(st.one_of(st.text(max_size=3), st.integers(0, 12)))}
        elif mutation == "earlier ref":
            container[key] = {"$ref": draw(st.sampled_from(["1", "2", "3", "4"]))}
        elif mutation == "deep":
            container[key] = INTERAPP_DEEP
            deep = draw(st.sampled_from([20, 33, 200, 5000]))
        else:
            container[key] = "x" * draw(st.sampled_from([1000, 1_000_000]))
    text = json.dumps(document)
    return text.replace(json.dumps(INTERAPP_DEEP), "[" * deep + "]" * deep, 1)


# -- Ticket members: each drawn valid or invalid, so a test knows which the ticket should be --

INTERAPP_TICKET_ID_ALPHABET = "ABCXYZabcxyz0189._:-"


def _interapp_valid_or_not(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[tuple[Any, bool]]:
    return st.one_of(valid.map(lambda value: (value, True)), invalid.map(lambda value: (value, False)))


_ABSENT = object()  # a member left out of the ticket


def _interapp_not_strings() -> st.SearchStrategy[Any]:
    return st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(st.none(), max_size=2))


def _interapp_text_member(longest: int, *, required: bool) -> st.SearchStrategy[tuple[Any, bool]]:
    fitting = st.one_of(st.text(min_size=1, max_size=20), st.just("n" * longest))
    too_long = st.integers(min_value=longest + 1, max_value=longest + 30).map(lambda n: "n" * n)
    missing = st.sampled_from([_ABSENT, None])
    if required:
        return _interapp_valid_or_not(fitting, st.one_of(missing, st.just(""), too_long, _interapp_not_strings()))
    return _interapp_valid_or_not(
        st.one_of(missing, st.just(""), fitting), st.one_of(too_long, _interapp_not_strings())
    )


def _interapp_integer_member(low: int, high: int) -> st.SearchStrategy[tuple[Any, bool]]:
    fitting = st.one_of(st.sampled_from([_ABSENT, None, low, high]), st.integers(low, high))
    outside = st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1))
    wrong_type = st.one_of(st.booleans(), st.integers(low, high).map(float), st.integers(low, high).map(str))
    return _interapp_valid_or_not(fitting, st.one_of(outside, wrong_type))


@functools.lru_cache(maxsize=1)  # built once: a strategy per draw made the property test slow
def interapp_ticket_members() -> dict[str, st.SearchStrategy[tuple[Any, bool]]]:
    """For each Ticket member, a strategy of (value, keeps the rule); `_ABSENT` leaves it out."""
    return {
        "ticketId": _interapp_valid_or_not(
            st.text(INTERAPP_TICKET_ID_ALPHABET, min_size=1, max_size=64),
            st.one_of(
                st.sampled_from([_ABSENT, None, "", "WM 0001", "WM/0001", "WM-ñ"]),
                st.text(INTERAPP_TICKET_ID_ALPHABET, min_size=65, max_size=80),
                _interapp_not_strings(),
            ),
        ),
        "category": _interapp_valid_or_not(
            st.sampled_from(["Falla de Linea", "SNR"]),
            st.one_of(
                st.sampled_from([_ABSENT, None, "snr", "Falla de linea", "SNR ", "Incendio"]),
                _interapp_not_strings(),
            ),
        ),
        "node": _interapp_text_member(128, required=True),
        "summary": _interapp_text_member(255, required=True),
        "description": _interapp_text_member(4000, required=False),
        "priority": _interapp_integer_member(1, 5),
        "detectedAt": _interapp_valid_or_not(
            st.one_of(
                st.sampled_from([_ABSENT, None, "0001-01-01T00:00:00"]),
                interapp_dates().map(lambda moment: moment.isoformat()),
            ),
            st.one_of(
                st.sampled_from(["yesterday", "26/11/2026", "2026-13-01T00:00:00", ""]),
                _interapp_not_strings(),
            ),
        ),
        "affectedCustomers": _interapp_integer_member(0, 2**31 - 1),
    }


@st.composite
def interapp_ticket_candidates(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A ticket object as WM might send it, and whether every rule holds for it."""
    ticket: dict[str, Any] = {}
    all_valid = True
    for member, strategy in interapp_ticket_members().items():
        value, valid = draw(strategy)
        all_valid = all_valid and valid
        if value is not _ABSENT:
            ticket[member] = value
    # Members the contract does not name are ignored, whatever they hold.
    unknown = st.sampled_from(["extra", "severity", "$id"])
    ticket.update(draw(st.dictionaries(unknown, interapp_json_values(), max_size=2)))
    return ticket, all_valid


# == flow: the Ticketing BE processing flow (tests/ticketing/test_flow.py, test_tickets.py) ==========
# Sections are appended independently, hence the imports here rather than at the top.

from attrs import frozen  # noqa: E402

from connector.engine.table import Table  # noqa: E402
from connector.protocol.model import Column, ValueKind  # noqa: E402
from connector.protocol.model import Table as TableModel  # noqa: E402
from connector.ticketing import tickets as flow_tk  # noqa: E402
from connector.ticketing.fake import Faults  # noqa: E402

_FLOW_NUMBER_COLUMNS = {flow_tk.PRIORITY, flow_tk.RETRIES, flow_tk.AFFECTED_CUSTOMERS, flow_tk.OUTCOME_UNKNOWN}
_FLOW_TIME_COLUMNS = {flow_tk.RECEIVED_AT, flow_tk.LAST_UPDATE, flow_tk.DETECTED_AT, flow_tk.NEXT_TRY, flow_tk.SENT_AT}
_FLOW_HIDDEN = {
    flow_tk.DESCRIPTION,
    flow_tk.DETECTED_AT,
    flow_tk.AFFECTED_CUSTOMERS,
    flow_tk.PLATFORM_RECORD,
    flow_tk.NEXT_TRY,
    flow_tk.OUTCOME_UNKNOWN,
}


def flow_ticket_table() -> Table:
    """An empty Ticket Overview with the columns the flow addresses by name (ids 1001...)."""

    def kind(name: str) -> ValueKind:
        if name in _FLOW_NUMBER_COLUMNS:
            return ValueKind.NUMBER
        if name in _FLOW_TIME_COLUMNS:
            return ValueKind.DATETIME
        return ValueKind.STRING

    columns = tuple(
        Column(id=1001 + i, name=name, kind=kind(name), hidden=name in _FLOW_HIDDEN)
        for i, name in enumerate(flow_tk.COLUMNS)
    )
    return Table(TableModel(id=1000, name="Ticket Overview", columns=columns, key_column=1001))


def flow_add_ticket(
    table: Table,
    key: str,
    category: str = "SNR",
    node: str = "GDL-ZAP-NODO-0001",
    *,
    summary: str = "SNR bajo",
    description: str = "",
    priority: int = 3,
    received: float = 0.0,
) -> None:
    """A ticket as the receive path stores it: Received, Check Existing, nothing tried yet."""
    table.add_row(
        key,
        {
            flow_tk.CATEGORY: category,
            flow_tk.NODE: node,
            flow_tk.SUMMARY: summary,
            flow_tk.PRIORITY: priority,
            flow_tk.STATUS: flow_tk.RECEIVED,
            flow_tk.OPERATION: flow_tk.CHECK_EXISTING,
            flow_tk.RETRIES: 0,
            flow_tk.LAST_ERROR: "",
            flow_tk.RECEIVED_AT: received,
            flow_tk.LAST_UPDATE: received,
            flow_tk.DESCRIPTION: description,
            flow_tk.OUTCOME_UNKNOWN: 0,
        },
    )


def flow_ticket_plans(max_tickets: int = 30) -> st.SearchStrategy[list[tuple[str, int, bool]]]:
    """Tickets to receive, as (category, node number, valid). Few nodes, so that tickets share
    them (the tests give nodes below 3 an open incident first); an invalid ticket (empty summary)
    is refused by Cherwell item by item, for good."""
    ticket = st.tuples(
        st.sampled_from(("SNR", "Falla de Linea")), st.integers(0, 7), st.sampled_from((True, True, True, False))
    )
    return st.lists(ticket, min_size=1, max_size=max_tickets)


_FLOW_FAULT_KINDS = ("error_rate", "html_503_rate", "lost_rate", "malformed_rate", "item_error_rate")


@st.composite
def flow_faults(draw: st.DrawFn) -> Faults:
    """The fake platform's faults for one cycle: at most two kinds at once (more and hardly a
    request gets through, so the writes the test is about are never reached), nothing for good."""
    kinds = draw(st.lists(st.sampled_from(_FLOW_FAULT_KINDS), max_size=2, unique=True))
    rates = {kind: draw(st.sampled_from((0.1, 0.3, 0.6, 1.0))) for kind in kinds}
    return Faults(**rates, token_ttl=draw(st.sampled_from((1199.0, 90.0, 30.0))))


FLOW_CRASH_SESSIONS = (
    "create_ticket",
    "add_note",
    "create_ot",
    "update_ticket_ot",
    "search",
    "lookup_ot",
    "login",
    "metadata",
)


@frozen(kw_only=True)
class FlowStep:
    """One cycle of a storm: tickets arriving first, maybe Retry Errors pressed, the platform's
    faults, maybe a crash (at the n-th call of a session, that call applied or not), then time."""

    arrivals: int
    retry_errors: bool
    faults: Faults
    crash_at: tuple[str, int] | None
    applied: bool
    wait: float


def flow_schedules() -> st.SearchStrategy[list[FlowStep]]:
    """Cycles to run before the platform heals. Crashes hit writes mostly: that is where it hurts."""
    crash = st.none() | st.tuples(st.sampled_from(FLOW_CRASH_SESSIONS), st.integers(1, 3))
    step = st.builds(
        FlowStep,
        arrivals=st.integers(0, 4),
        retry_errors=st.booleans(),
        faults=flow_faults(),
        crash_at=crash,
        applied=st.booleans(),
        wait=st.sampled_from((0.0, 1.0, 5.0, 400.0)),
    )
    return st.lists(step, min_size=1, max_size=10)


# == platform: the fake platform (connector.ticketing.fake) ================================
# Requests for FakePlatform.handle, from plausible to absurd. Pass the ids of a platform as
# `schemas` ({busObId: its fieldIds}; ids depend only on the platform's seed) so that bodies reach
# past the "unknown busObId" check into the save and search logic; `platform_requests` keeps method,
# path and body coherent most of the time, so most examples get past routing and authentication.
# Every strategy here is built once and only drawn from afterwards: building is the slow part.

import functools  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from connector.ticketing.fake import OPERATIONS as PLATFORM_OPERATIONS  # noqa: E402
from connector.ticketing.fake import Faults as PlatformFaults  # noqa: E402

PLATFORM_TOKEN_PATH = "/CherwellAPI/token"
PLATFORM_SUMMARY_PATH = "/CherwellAPI/api/V1/getbusinessobjectsummary/busobname/"
PLATFORM_SCHEMA_PATH = "/CherwellAPI/api/V1/getbusinessobjectschema/busobid/"
PLATFORM_SEARCH_PATH = "/CherwellAPI/api/V1/getsearchresults"
PLATFORM_SAVE_PATH = "/CherwellAPI/api/V1/savebusinessobjectbatch"
PLATFORM_ORDERS_PATH = "/SFyC/api/v1/ordenes-trabajo/lote"
PLATFORM_LOOKUP_PATH = "/SFyC/api/v1/ordenes-trabajo"

PlatformSchemas = Mapping[str, Sequence[str]]  # busObId -> its fieldIds


@functools.cache
def platform_json() -> st.SearchStrategy[Any]:
    """Any JSON value, small."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(10**12), 10**12)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=16)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=10,
    )


def _platform_usually(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], bad_in_ten: int = 2
) -> st.SearchStrategy[Any]:
    """`good`, except `bad_in_ten` times in ten. (Hypothesis favours small draws, so the low end of
    the roll, which it hits most, must be the good side.)"""
    return st.integers(0, 9).flatmap(lambda roll: good if roll < 10 - bad_in_ten else bad)


def _platform_pick(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(values)) if values else st.nothing()


def _platform_id(ids: Sequence[str]) -> st.SearchStrategy[Any]:
    """A real id (sometimes upper-case, which must work too), else any JSON."""
    real = _platform_pick(ids)
    return _platform_usually(real | real.map(str.upper), platform_json())


def _platform_mostly(right: str, *wrong: str) -> st.SearchStrategy[str | None]:
    """`right` usually; else one of `wrong`, any text, or None (leave it out)."""
    return _platform_usually(st.just(right), st.sampled_from([*wrong, None]) | st.text(max_size=12))


def _platform_values() -> st.SearchStrategy[Any]:
    return _platform_usually(
        st.sampled_from(["SNR", "Falla de Linea", "New", "Closed", "2", "WM-1"]),
        st.just("") | st.text(max_size=12) | platform_json(),
        bad_in_ten=4,
    )


def platform_methods() -> st.SearchStrategy[str]:
    return st.sampled_from(["GET", "POST", "PUT", "DELETE", "get", "post"]) | st.text(min_size=1, max_size=8)


def platform_path_variants(path: str) -> st.SearchStrategy[str]:
    """One path as clients spell it: any case, maybe a trailing slash."""
    return st.builds(
        lambda case, slash: case(path) + ("/" if slash else ""),
        st.sampled_from([str, str.lower, str.upper]),
        st.booleans(),
    )


def platform_targets() -> st.SearchStrategy[str]:
    """Known paths (any case, junk appended, a query) or any text at all."""
    paths = [
        PLATFORM_TOKEN_PATH,
        PLATFORM_SUMMARY_PATH,
        PLATFORM_SCHEMA_PATH,
        PLATFORM_SEARCH_PATH,
        PLATFORM_SAVE_PATH,
        PLATFORM_ORDERS_PATH,
        PLATFORM_LOOKUP_PATH,
    ]
    known = st.builds(
        lambda path, tail, query: path + tail + query,
        st.one_of([platform_path_variants(path) for path in paths]),
        st.sampled_from(["", "Incident", "Journal", "nada"]) | st.text(max_size=12),
        st.sampled_from(["", "?ticket=102400&ticket=", "?auth_mode=Internal"]) | st.text(max_size=20).map("?".__add__),
    )
    return known | st.text(max_size=40) | st.text(max_size=40).map("/".__add__)


def platform_headers(token: str, api_key: str) -> st.SearchStrategy[dict[str, str]]:
    """Mostly the right credentials, sometimes wrong, missing or mangled ones, plus junk headers."""
    known = st.fixed_dictionaries(
        {
            "Authorization": _platform_mostly(f"Bearer {token}", f"bearer {token}", token, "Bearer", "Basic eDp5"),
            "X-Api-Key": _platform_mostly(api_key, api_key.upper(), ""),
        }
    )
    junk = st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=2)
    return st.builds(lambda mine, other: {**other, **{k: v for k, v in mine.items() if v is not None}}, known, junk)


def platform_save_bodies(schemas: PlatformSchemas, rec_ids: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """savebusinessobjectbatch bodies: items whose fields mostly belong to their busObId, dirty flags
    of every spelling, values of every type, ids of existing and unknown records."""

    def save_request(bus_ob_id: str, field_ids: Sequence[str]) -> st.SearchStrategy[Any]:
        field_item = st.fixed_dictionaries(
            {
                "fieldId": _platform_id(field_ids),
                "value": _platform_values(),
                "dirty": _platform_usually(
                    st.sampled_from([True, "true", "TRUE"]), st.sampled_from([False, "no", None, 1])
                ),
            },
            optional={"name": st.text(max_size=8)},
        )
        return st.fixed_dictionaries(
            {
                "busObId": _platform_id([bus_ob_id]),
                "fields": _platform_usually(
                    st.lists(field_item, max_size=7),
                    st.lists(field_item | platform_json(), max_size=3) | platform_json(),
                ),
            },
            optional={
                "busObRecId": _platform_id([*rec_ids, "f" * 42]),
                "busObPublicId": st.sampled_from(["102400", "102401", "1"]) | platform_json(),
                "persist": platform_json(),
            },
        )

    item = st.one_of([save_request(bus_ob_id, field_ids) for bus_ob_id, field_ids in schemas.items()])
    return st.fixed_dictionaries(
        {
            "saveRequests": _platform_usually(
                st.lists(item, max_size=5), st.lists(item | platform_json(), max_size=3) | platform_json()
            )
        },
        optional={"stopOnError": st.booleans() | platform_json()},
    )


def platform_search_bodies(schemas: PlatformSchemas) -> st.SearchStrategy[Any]:
    def search(bus_ob_id: str, field_ids: Sequence[str]) -> st.SearchStrategy[Any]:
        a_filter = st.fixed_dictionaries(
            {
                "fieldId": _platform_id(field_ids),
                "operator": _platform_usually(
                    st.sampled_from(["eq", "EQ", "contains", "startswith", "gt", "lt"]), st.just("ne") | platform_json()
                ),
                "value": _platform_values(),
            }
        )
        return st.fixed_dictionaries(
            {"busObId": _platform_id([bus_ob_id])},
            optional={
                "filters": _platform_usually(
                    st.lists(a_filter, max_size=4), st.lists(a_filter | platform_json(), max_size=2) | platform_json()
                ),
                "fields": _platform_usually(st.lists(_platform_id(field_ids), max_size=4), platform_json()),
                "includeAllFields": st.booleans() | platform_json(),
                "pageNumber": _platform_usually(st.integers(1, 5), st.integers(-2, 0) | platform_json()),
                "pageSize": _platform_usually(
                    st.integers(1, 500), st.sampled_from([0, 501, "10", "x"]) | platform_json(), bad_in_ten=4
                ),
            },
        )

    return st.one_of([search(bus_ob_id, field_ids) for bus_ob_id, field_ids in schemas.items()])


def platform_order_bodies(tickets: Sequence[str]) -> st.SearchStrategy[Any]:
    text = _platform_usually(
        st.sampled_from(["WM-1", "SNR", "N1"]), st.just("") | st.text(max_size=10) | platform_json()
    )
    order = st.fixed_dictionaries(
        {
            "ticket": _platform_usually(_platform_pick(tickets), platform_json(), bad_in_ten=3),
            "referencia": text,
            "categoria": text,
            "nodo": text,
        },
        optional={"descripcion": text, "prioridad": text},
    )
    return st.fixed_dictionaries(
        {
            "ordenes": _platform_usually(
                st.lists(order, max_size=4), st.lists(order | platform_json(), max_size=2) | platform_json()
            )
        }
    )


def platform_form_bodies(client_id: str, username: str, password: str) -> st.SearchStrategy[bytes]:
    values = {
        "grant_type": _platform_mostly("password", "refresh_token", "client_credentials"),
        "client_id": _platform_mostly(client_id),
        "username": _platform_mostly(username),
        "password": _platform_mostly(password),
    }
    optional = {"refresh_token": st.text(max_size=8), "auth_mode": st.just("Internal")}
    return st.fixed_dictionaries(values, optional=optional).map(
        lambda form: urlencode({k: v for k, v in form.items() if v is not None}).encode()
    )


def _platform_json_bytes(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return values.map(lambda value: json.dumps(value).encode())


def platform_bodies(
    schemas: PlatformSchemas = {"0" * 32: ()},  # noqa: B006 - read, never changed
    rec_ids: Sequence[str] = (),  # noqa: B006
    tickets: Sequence[str] = (),
    credentials: tuple[str, str, str] = ("", "", ""),
) -> st.SearchStrategy[bytes]:
    """Any request body: raw bytes, any JSON, or one of the structured bodies above."""
    structured = (
        platform_save_bodies(schemas, rec_ids)
        | platform_search_bodies(schemas)
        | platform_order_bodies(tickets)
        | platform_json()
    )
    return st.binary(max_size=64) | _platform_json_bytes(structured) | platform_form_bodies(*credentials)


def platform_requests(
    *,
    token: str,
    api_key: str,
    schemas: PlatformSchemas,
    rec_ids: Sequence[str] = (),
    tickets: Sequence[str] = (),
    credentials: tuple[str, str, str] = ("", "", ""),
) -> st.SearchStrategy[tuple[str, str, dict[str, str], bytes]]:
    """(method, target, headers, body): mostly a well-aimed call with a body shaped for its endpoint
    (itself often half wrong), sometimes a body meant for another endpoint, sometimes junk."""
    any_body = platform_bodies(schemas, rec_ids, tickets, credentials)

    def aimed(path: str, bodies: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[str, str, bytes]]:
        return st.tuples(st.just("POST"), platform_path_variants(path), _platform_usually(bodies, any_body))

    shaped = st.one_of(
        aimed(PLATFORM_TOKEN_PATH, platform_form_bodies(*credentials)),
        aimed(PLATFORM_SEARCH_PATH, _platform_json_bytes(platform_search_bodies(schemas))),
        aimed(PLATFORM_SAVE_PATH, _platform_json_bytes(platform_save_bodies(schemas, rec_ids))),
        aimed(PLATFORM_ORDERS_PATH, _platform_json_bytes(platform_order_bodies(tickets))),
    )
    metadata = st.tuples(
        st.just("GET"),
        st.builds(
            str.__add__,
            st.sampled_from([PLATFORM_SUMMARY_PATH, PLATFORM_SCHEMA_PATH]),
            st.sampled_from(["Incident", "journal", "JournalNote", "Nada", *schemas]) | st.text(max_size=12),
        ),
        st.just(b""),
    )
    ticket_lists = st.lists(_platform_pick(tickets) | st.text(max_size=8), max_size=4) | st.just(["1"] * 201)
    lookup = st.tuples(
        st.just("GET"),
        ticket_lists.map(lambda values: PLATFORM_LOOKUP_PATH + "?" + urlencode([("ticket", t) for t in values])),
        st.just(b""),
    )
    anything = st.tuples(platform_methods(), platform_targets(), any_body)
    calls = _platform_usually(shaped, metadata | lookup | anything, bad_in_ten=3)
    return st.builds(
        lambda call, headers: (call[0], call[1], headers, call[2]), calls, platform_headers(token, api_key)
    )


def platform_faults() -> st.SearchStrategy[PlatformFaults]:
    """Mostly no fault, so that examples reach the application; any mix of them otherwise."""
    rate = _platform_usually(st.just(0.0), st.sampled_from([0.5, 1.0]), bad_in_ten=1)
    return st.builds(
        PlatformFaults,
        error_rate=rate,
        html_503_rate=rate,
        lost_rate=rate,
        malformed_rate=rate,
        item_error_rate=rate,
        quoted_token_error_rate=rate,
        latency=st.sampled_from([0.0, 0.25]),
        fail_operation=_platform_usually(
            st.just({}), st.dictionaries(st.sampled_from(PLATFORM_OPERATIONS), st.text(max_size=12), max_size=1)
        ),
    )


# == protocol: protocol.yaml documents (connector.protocol.loader) ================================


def protocol_minimal_document() -> dict[str, Any]:
    """A small valid protocol.yaml, as data: every section, the after-startup flow, a table, a
    session, a toggle pair. Tests break one thing in it; the handlers' entries import for real."""
    switch = [{"display": "Disabled", "value": 0}, {"display": "Enabled", "value": 1}]
    return {
        "protocol": {"name": "Test Connector", "version": "1.0.0.1"},
        "params": [
            {"id": 2, "name": "After Startup", "type": "dummy"},
            {"id": 10, "name": "Processing", "kind": "discreet", "discreets": copy.deepcopy(switch), "default": 0},
            {"id": 11, "name": "Processing", "type": "write", "kind": "toggle", "setter": True, "discreets": switch},
            {"id": 20, "name": "Max Retries", "kind": "number", "range": {"low": 0, "high": 10}, "default": 3},
            {"id": 21, "name": "Poll Interval", "kind": "number", "default": 30},
            {"id": 100, "name": "Status"},
            {"id": 101, "name": "Content"},
            {"id": 102, "name": "Body"},
            {"id": 9000000, "name": "interApp_receive"},
        ],
        "tables": [
            {
                "id": 1000,
                "name": "Tickets",
                "key": 1001,
                "columns": [
                    {"id": 1001, "name": "Tickets ID"},
                    {
                        "id": 1002,
                        "name": "Tickets Status",
                        "kind": "discreet",
                        "discreets": [{"display": "Received"}, {"display": "Error"}],
                    },
                ],
            }
        ],  # fmt: skip
        "http": [
            {
                "id": 1,
                "name": "Login",
                "request": {
                    "verb": "POST",
                    "path": "/token",
                    "body_param": 102,
                    "headers": [{"key": "Accept", "value": "application/json"}],
                },
                "response": {"status_param": 100, "content_param": 101},
            }
        ],
        "groups": [
            {"id": 1, "name": "Startup", "type": "poll action", "content": {"actions": [2]}},
            {"id": 2, "name": "Login", "content": {"sessions": [1]}},
        ],
        "timers": [{"id": 1, "name": "Poll", "interval": 30, "interval_param": 21, "groups": [2]}],
        "triggers": [
            {"id": 1, "name": "After Startup", "on": "protocol", "time": "after startup", "actions": [1]},
            {"id": 2, "name": "Receive", "on": "parameter", "on_id": 9000000, "time": "change", "actions": [3]},
        ],
        "actions": [
            {"id": 1, "name": "Start", "on": "group", "on_id": 1, "type": "execute next"},
            {"id": 2, "name": "Run Startup", "on": "parameter", "on_id": 2, "type": "run handlers"},
            {"id": 3, "name": "Run Receive", "on": "parameter", "on_id": 9000000, "type": "run handlers"},
        ],
        "handlers": [
            {"id": 2, "name": "Startup", "entry": "builtins:print", "triggers": [2]},
            {"id": 9000000, "name": "Receive", "entry": "os.path:join", "triggers": [9000000]},
        ],
    }


def protocol_yaml(document: Any) -> str:
    """A document as YAML text, keys in the order given."""
    import yaml

    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000))


# Words the loader gives meaning to, so that mutations hit real choices and references.
PROTOCOL_WORDS = (
    "id", "name", "on", "on_id", "on_ids", "time", "type", "kind", "key", "columns", "content",
    "sessions", "actions", "params", "triggers", "groups", "each", "protocol", "parameter", "group",
    "after startup", "change", "execute next", "poll action", "run handlers", "copy", "source",
    "discreets", "display", "value", "default", "range", "low", "high", "write", "toggle", "button",
    "string", "number", "path", "path_param", "request", "response", "headers", "param",
    "interval", "entry", "os.path:join", "no.such.module:f", "yes", "off", "~", "<<",
)  # fmt: skip
PROTOCOL_IDS = (0, 1, 2, 10, 11, 20, 1000, 1001, 1002, 63999, 64000, 9000000, 9000001, 10**7, -1, 2**70)


def protocol_values() -> st.SearchStrategy[Any]:
    """Any value YAML can hold, weighted towards the loader's own words and ids."""
    scalars = st.one_of(
        st.sampled_from(PROTOCOL_WORDS),
        st.sampled_from(PROTOCOL_IDS),
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),  # nan and inf included
        st.text(max_size=12),
    )
    keys = st.one_of(st.sampled_from(PROTOCOL_WORDS), st.text(max_size=6), st.integers(-2, 2), st.booleans())
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3)),
        max_leaves=8,
    )


def _protocol_places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document, nested ones included."""
    places: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            places.append((node, key))
            places.extend(_protocol_places(value))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            places.append((node, index))
            places.extend(_protocol_places(value))
    return places


@st.composite
def protocol_mutated_documents(draw: st.DrawFn) -> str:
    """The minimal document with one to four structural changes: a value replaced, a key or
    item deleted, a key added, an item duplicated (which duplicates its id)."""
    document = protocol_minimal_document()
    for _ in range(draw(st.integers(1, 4))):
        places = _protocol_places(document)
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        change = draw(st.sampled_from(("replace", "delete", "add", "duplicate")))
        if change == "replace":
            container[key] = draw(protocol_values())
        elif change == "delete":
            del container[key]
        elif change == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(PROTOCOL_WORDS))] = draw(protocol_values())
        elif isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
    return protocol_yaml(document)


@st.composite
def protocol_mutated_texts(draw: st.DrawFn) -> str:
    """The minimal document's YAML text with characters inserted, deleted or lines repeated:
    syntax errors, odd indentation, anchors, tags and merge keys where they make no sense."""
    lines = protocol_yaml(protocol_minimal_document()).splitlines(keepends=True)
    pieces = st.sampled_from(
        (":", "- ", "[", "]", "{", "}", ",", "\t", "  ", "\n", "#", "&a ", "*a", "<<: *a\n",
         "!!python/object:os.system ", "!!binary ", "'", '"', "|", ">", "%YAML 1.1\n", "---\n", "...\n", "? ",
         "\x00", "\ufeff", "é", "on: ")
    )  # fmt: skip
    for _ in range(draw(st.integers(1, 5))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        column = draw(st.integers(0, len(line)))
        change = draw(st.sampled_from(("insert", "delete", "repeat")))
        if change == "insert":
            lines[index] = line[:column] + draw(st.one_of(pieces, st.text(max_size=3))) + line[column:]
        elif change == "delete":
            lines[index] = line[:column] + line[column + draw(st.integers(1, 6)) :]
        else:
            lines.insert(index, line)
    return "".join(lines)


# == badinput: bad input through the element and the element YAML (tests/ticketing/test_bad_input.py) ==
# Built on the interapp and protocol sections above; nothing here replaces them.

import math  # noqa: E402

BADINPUT_JUNK_TEXTS = (
    "", " ", "null", "[]", "{}", "{not json", '"just a string"', "42", "true", "\ufeff{}", "{\"$type\": 5}",
    '{"$type": "InterAppCall,", "messages": null}', '{"$type": "InterAppCall,", "messages": [null, 1, "x"]}',
    '{"$type": "TicketBatchMessage,", "tickets": {"$values": 7}}', '{"$ref": "1"}', '{"$id": "1", "a": {"$ref": "1"}}',
    '{"$type": "TicketBatchResponse,", "guid": "g", "accepted": []}', '{"$type": "ErrorResponse,", "reason": "x"}',
)  # fmt: skip


def badinput_json_values() -> st.SearchStrategy[Any]:
    """Any JSON value a client can send, lone surrogates ("\\ud800") and huge integers included."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=10**300, max_value=10**400),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(
            [
                "\ud800",
                "Enabled",
                "Disabled",
                "Retry",
                "1",
                "0",
                "-1",
                "1e309",
                "2026-11-26T10:00:00Z",
                "0001-01-01T00:00:00",
                "nan",
                "inf",
                " 3 ",
                "x" * 5000,
            ]
        ),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )


def _badinput_plain(value: Any) -> Any:
    """`value` without the dialect's `$` members at any depth (they make the whole call a matter
    of the dialect, not of the Ticket rules) and with every non-finite float replaced by 1.5 (the
    dialect refuses a whole call for an Infinity; 1.5 breaks the same member rules)."""
    if isinstance(value, float) and not math.isfinite(value):
        return 1.5
    if isinstance(value, dict):
        return {key: _badinput_plain(item) for key, item in value.items() if not str(key).startswith("$")}
    if isinstance(value, list):
        return [_badinput_plain(item) for item in value]
    return value


@st.composite
def badinput_ticket_batches(draw: st.DrawFn) -> tuple[str, list[tuple[dict[str, Any], bool]]]:
    """A TicketBatchMessage call (plain JSON, no `$id`s of ours) of 1-6 candidate tickets, and the
    candidates with whether each keeps every Ticket rule: an oracle for the reply."""
    candidates = []
    for ticket, valid in draw(st.lists(interapp_ticket_candidates(), min_size=1, max_size=6)):
        ticket = _badinput_plain(ticket)
        candidates.append((ticket, valid))
    message = {"$type": "TicketBatchMessage,", "guid": draw(st.uuids()).hex, "tickets": [t for t, _ in candidates]}
    if draw(st.booleans()):
        message["tickets"] = {
            "$type": "System.Collections.Generic.List`1[[Ticket, A]], mscorlib",
            "$values": message["tickets"],
        }
    call = {"$type": "InterAppCall,", "guid": "call", "messages": [message]}
    return json.dumps(call), candidates


def badinput_interapp_payloads(sample_texts: list[str]) -> st.SearchStrategy[str]:
    """Whatever may land on parameter 9000000: mutated samples (wrong types, missing members,
    unknown `$type`, broken `$ref`, deep nesting, huge strings), batches of good and bad tickets,
    junk text and junk JSON."""
    return st.one_of(
        interapp_mutated_samples(sample_texts),
        interapp_mutated_samples(sample_texts),  # twice: the richest source
        badinput_ticket_batches().map(lambda batch: batch[0]),
        st.sampled_from(BADINPUT_JUNK_TEXTS),
        st.text(max_size=200),
        interapp_json_values().map(json.dumps),
        st.integers(1, 3000).map(
            lambda depth: '{"$type": "InterAppCall,", "messages": ' + "[" * depth + "]" * depth + "}"
        ),
    )


BADINPUT_ELEMENT_YAML = """\
name: Ticketing BE 01
protocol: {protocol}
connection:
  host: 127.0.0.1
  port: 8980
  bus_address: BypassProxy
  scheme: http
params:
  Ticketing Processing: Enabled
  Max Retries: 4
  14: 50
  Retry Delay: 0.5
  Cherwell Client ID: client
  Cherwell Username: dataminer
  Cherwell Password: env:BADINPUT_PASSWORD
  SFyC API Key: file:key.txt
store: state/be.sqlite
"""
BADINPUT_YAML_PIECES = (
    ":", "- ", "[", "]", "{", "}", ",", "\t", "  ", "\n", "#", "&a ", "*a", "<<: *a\n", "!!python/object:os.system ",
    "!!binary ", "!!set ", "'", '"', "|", ">", "---\n", "...\n", "? ", "\x00", "\ufeff", "é", "env:", "file:",
    "file:/", "env:NOPE_NOT_SET", "\\0", '"\\0"', "~", "null", ".nan", "-.inf", "0x1F", "1e999", "99999999999999999999",
    "file:" + "k" * 300, "p" * 300,
)  # fmt: skip
BADINPUT_YAML_KEYS = (
    "name",
    "protocol",
    "connection",
    "host",
    "port",
    "bus_address",
    "scheme",
    "params",
    "store",
    "Max Retries",
    "Ticketing Processing",
    "SFyC API Key",
    "Cherwell Password",
    "9000000",
    "1000",
)


@st.composite
def badinput_element_yaml_texts(draw: st.DrawFn, protocol: str) -> str:
    """The element YAML of the README, broken: values replaced (any YAML value, paths and
    references that go nowhere), keys dropped or added, and characters inserted, deleted or
    lines repeated."""
    import yaml

    document = yaml.safe_load(BADINPUT_ELEMENT_YAML.format(protocol=json.dumps(protocol)))
    for _ in range(draw(st.integers(0, 3))):
        places = _protocol_places(document)
        container, key = draw(st.sampled_from(places))
        change = draw(st.sampled_from(("replace", "delete", "add", "path")))
        if change == "replace":
            container[key] = draw(protocol_values())
        elif change == "delete":
            del container[key]
        elif change == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(BADINPUT_YAML_KEYS))] = draw(protocol_values())
        elif change == "path":
            container[key] = draw(
                st.sampled_from(
                    (
                        "file:",
                        "file:.",
                        "file:nope",
                        "env:",
                        "/",
                        ".",
                        "..",
                        "state",
                        "x\x00y",
                        "file:x\x00y",
                        "p" * 5000,
                        "/dev/null",
                        "key.txt",
                    )
                )
            )
    text = protocol_yaml(document)
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        column = draw(st.integers(0, len(line)))
        change = draw(st.sampled_from(("insert", "delete", "repeat")))
        if change == "insert":
            lines[index] = (
                line[:column] + draw(st.sampled_from(BADINPUT_YAML_PIECES) | st.text(max_size=3)) + line[column:]
            )
        elif change == "delete":
            lines[index] = line[:column] + line[column + draw(st.integers(1, 6)) :]
        else:
            lines.insert(index, line)
    return "".join(lines)


# == conditions: DataMiner's Condition (connector.protocol.conditions) =============================


def conditions_operands() -> st.SearchStrategy[Any]:
    from connector.protocol.conditions import Literal, ParamRef

    return st.one_of(
        st.builds(ParamRef, st.integers(1, 9_999_999)),
        st.builds(Literal, st.none() | st.integers(-(10**12), 10**12) | st.text(max_size=8)),
        st.builds(Literal, st.floats(allow_nan=False, allow_infinity=False)),
    )


def conditions_trees() -> st.SearchStrategy[Any]:
    from connector.protocol.conditions import OPERATORS, AllOf, AnyOf, Compare

    compare = st.builds(Compare, conditions_operands(), st.sampled_from(OPERATORS), conditions_operands())
    return st.recursive(
        compare,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda parts: AllOf(tuple(parts))),
            st.lists(inner, min_size=2, max_size=3).map(lambda parts: AnyOf(tuple(parts))),
        ),
        max_leaves=8,
    )
