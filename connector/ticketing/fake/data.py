"""The fake platform's data: the business objects as tables, the records, and the read-only
snapshots tests see (`Incident`, `Note`, `WorkOrder`)."""

from __future__ import annotations

import functools
import operator
import random
import re
from collections.abc import Callable
from typing import TypeVar

from attrs import define, field, frozen

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


# --- the data: business objects as tables ---------------------------------------------------------


@frozen
class FieldSpec:
    name: str
    display_name: str
    type: str = "Text"
    required: bool = False
    read_only: bool = False


@frozen
class BusObSpec:
    name: str
    display_name: str
    fields: tuple[FieldSpec, ...]
    members: tuple[str, ...] = ()  # a group's member names
    savable: bool = False  # the fake stores Incident and Journal - Note only


INCIDENT = BusObSpec(
    "Incident",
    "Incident",
    (
        FieldSpec("RecID", "Rec ID", read_only=True),
        FieldSpec("IncidentID", "Incident ID", "Number", read_only=True),
        FieldSpec("Status", "Status"),
        FieldSpec("Category", "Category", required=True),
        FieldSpec("ShortDescription", "Short Description", required=True),
        FieldSpec("Description", "Description"),
        FieldSpec("Priority", "Priority", "Number", required=True),
        FieldSpec("Node", "Node"),
        FieldSpec("ExternalID", "External ID"),
        FieldSpec("OTNumber", "OT Number"),
        FieldSpec("Source", "Call Source"),
        FieldSpec("CreatedDateTime", "Created Date Time", "DateTime", read_only=True),
    ),
    savable=True,
)
JOURNAL_FIELDS = (
    FieldSpec("RecID", "Rec ID", read_only=True),
    FieldSpec("ParentRecID", "Parent Rec ID", required=True),
    FieldSpec("ParentTypeID", "Parent Type ID", required=True),
    FieldSpec("Details", "Details", required=True),
    FieldSpec("CreatedDateTime", "Created Date Time", "DateTime", read_only=True),
)
# The note is found by displayName among decoy members, as on a real Journal group.
NOTE = BusObSpec("JournalNote", "Journal - Note", JOURNAL_FIELDS, savable=True)
BUS_OBS = (
    INCIDENT,
    BusObSpec(
        "Journal", "Journal", JOURNAL_FIELDS, members=("JournalCustomerRequest", "JournalNote", "JournalHistory")
    ),
    BusObSpec("JournalCustomerRequest", "Journal - Customer Request", JOURNAL_FIELDS),
    NOTE,
    BusObSpec("JournalHistory", "Journal - History", JOURNAL_FIELDS),
)
_FULL_FIELD_ID = re.compile(r"bo:(?P<bo>[0-9a-f]+),fi:(?P<fi>[0-9a-f]+)")


@define
class Record:
    values: dict[str, str]  # by field name, every value a string

    @property
    def rec_id(self) -> str:
        return self.values["RecID"]

    @property
    def public_id(self) -> str:
        return self.values.get("IncidentID") or self.values["RecID"]  # a journal's public id is its RecID


@define
class BusOb:
    spec: BusObSpec
    bus_ob_id: str
    field_ids: dict[str, str]  # name -> fieldId
    by_field_id: dict[str, FieldSpec]
    records: dict[str, Record] = field(factory=dict)  # by RecID, in creation order

    def field(self, ref: object) -> FieldSpec | None:
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


def view(cls: type[_View], record: Record) -> _View:
    return cls(**{_snake(name): value for name, value in record.values.items()})


COMPARE: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda value, operand: operand in value,
    "startswith": str.startswith,
    "gt": operator.gt,
    "lt": operator.lt,
}


@define
class FieldFilter:
    """The filters on one field, OR'd; `eq` ones kept in a set so 200 ExternalIDs cost one lookup."""

    equal: set[str] = field(factory=set)
    others: list[tuple[Callable[[str, str], bool], str]] = field(factory=list)

    def matches(self, value: str) -> bool:
        return value.casefold() in self.equal or any(compare(value, operand) for compare, operand in self.others)


def manual_incidents(rng: random.Random, n: int) -> list[tuple[tuple[str, str, str], str]]:
    """`n` incidents as an operator would have opened them by hand: ((category, node, status),
    priority), on random nodes, most of them open."""
    cities = ("GDL-ZAP", "GDL-TLQ", "MTY-SPG", "MTY-APO", "QRO-CEN", "PUE-ANG")
    return [
        (
            (
                rng.choice(CATEGORIES),
                f"{rng.choice(cities)}-NODO-{rng.randrange(1, 10000):04d}",
                rng.choice(OPEN_STATES) if rng.random() < 0.8 else rng.choice(CLOSED_STATES),
            ),
            str(rng.randint(1, 4)),
        )
        for _ in range(n)
    ]
