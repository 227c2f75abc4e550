"""The Ticket Overview table as the processing flow sees it: names, states and table-wide operations.

A ticket row moves through one *operation* at a time; its *status* says how that is going:

    Received     stored by the receive path, nothing tried yet (or still waiting, see below)
    In Progress  the flow has worked on it; Operation is the next thing to do
    Completed    its note is saved, or its incident carries its OT number (Operation None)
    Error        Operation failed Max Retries + 1 times; Last Error says why

    Check Existing -+-> Add Note --------------------------------------------> None (Completed)
                    +-> Create Ticket --> Create OT --> Update Ticket OT ---> None (Completed)
                    +-> (adopt the incident created for it) --> Create OT ...

Two hidden cells carry the crash-safety and retry state:

- *Outcome Unknown* is 1 while a write for the ticket's operation has been sent but its answer
  not seen (it is set before the request goes out and cleared after a definite answer). A ticket
  with it set is looked up on the platform before its operation is ever sent again.
- *Next Try* is the earliest time the ticket may be tried again after a failure.
- *Sent At* is when the write whose outcome is unknown was sent. Something in between (a queuing
  gateway, a slow Cherwell) may still apply it later, so the ticket is not looked up before
  Sent At + Settle Time (its Next Try says so). Kept after the look-up: the duplicate check
  watches re-sent tickets for a late twin.

`connector.engine.table.Table.set_row` cannot write `None` over a value (None means "not given"),
so a cleared Next Try is written as 0.0 and a cleared Last Error as "". Readers here treat
`None` and 0.0 alike: "no wait".

Everything here is table-level and linear in the table's size; the flow
(`connector.ticketing.flow`) builds its per-cycle dicts from `load_tickets`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from attrs import define, field

from connector.engine.table import Table
from connector.ticketing.cells import CellReader

# -- Status (column Status) ---------------------------------------------------------------------

RECEIVED = "Received"
IN_PROGRESS = "In Progress"
COMPLETED = "Completed"
ERROR = "Error"
STATUSES = (RECEIVED, IN_PROGRESS, COMPLETED, ERROR)
LIVE_STATUSES = frozenset({RECEIVED, IN_PROGRESS})  # statuses the flow still works on

# -- Operation (column Operation) ---------------------------------------------------------------

CHECK_EXISTING = "Check Existing"
ADD_NOTE = "Add Note"
CREATE_TICKET = "Create Ticket"
CREATE_OT = "Create OT"
UPDATE_TICKET_OT = "Update Ticket OT"
NO_OPERATION = "None"
OPERATIONS = (CHECK_EXISTING, ADD_NOTE, CREATE_TICKET, CREATE_OT, UPDATE_TICKET_OT, NO_OPERATION)

# -- Columns of Ticket Overview, by name ----------------------------------------------------------

TICKET_ID = "Ticket ID"
CATEGORY = "Category"
NODE = "Node"
SUMMARY = "Summary"
PRIORITY = "Priority"
STATUS = "Status"
OPERATION = "Operation"
PLATFORM_TICKET = "Platform Ticket"  # the IncidentID: created, adopted, or the one a note went to
OT_NUMBER = "OT Number"
RETRIES = "Retries"  # failures at the current operation
LAST_ERROR = "Last Error"
RECEIVED_AT = "Received"
LAST_UPDATE = "Last Update"
DESCRIPTION = "Description"  # hidden from here on
DETECTED_AT = "Detected At"
AFFECTED_CUSTOMERS = "Affected Customers"
PLATFORM_RECORD = "Platform Record"  # the incident's RecID
NEXT_TRY = "Next Try"
OUTCOME_UNKNOWN = "Outcome Unknown"
SENT_AT = "Sent At"  # when the write whose outcome is unknown was sent (0: none)

COLUMNS = (
    TICKET_ID,
    CATEGORY,
    NODE,
    SUMMARY,
    PRIORITY,
    STATUS,
    OPERATION,
    PLATFORM_TICKET,
    OT_NUMBER,
    RETRIES,
    LAST_ERROR,
    RECEIVED_AT,
    LAST_UPDATE,
    DESCRIPTION,
    DETECTED_AT,
    AFFECTED_CUSTOMERS,
    PLATFORM_RECORD,
    NEXT_TRY,
    OUTCOME_UNKNOWN,
    SENT_AT,
)

_WHOLE = frozenset((int, type(None)))  # cell types `from_row` takes as they are (bool is not among them)
_TEXT = frozenset((str, type(None)))
# The cells a Ticket is read from, in the order of its fields after the key.
_FIELDS = (
    CATEGORY,
    NODE,
    SUMMARY,
    DESCRIPTION,
    PRIORITY,
    STATUS,
    OPERATION,
    RETRIES,
    OUTCOME_UNKNOWN,
    PLATFORM_TICKET,
    PLATFORM_RECORD,
    OT_NUMBER,
    NEXT_TRY,
    LAST_ERROR,
    SENT_AT,
)
_TEXTS_OF = itemgetter(1, 2, 3, 4, 10, 11, 12, 14)  # a row's text cells (key first, then _FIELDS)
_WHOLES_OF = itemgetter(5, 8, 9)  # Priority, Retries, Outcome Unknown

MAX_BACKOFF = 300.0  # seconds: the issue caps the doubled retry delay here
DAY = 86_400.0


@define(slots=True)
class Ticket:
    """One row, loaded once per cycle so that the flow never scans the table inside a loop.

    The flow changes these attributes and writes them back with `writer`; the receive path's
    cells (category, node, summary, ...) are read-only here.
    """

    key: str
    category: str
    node: str
    summary: str
    description: str
    priority: int
    status: str
    operation: str
    retries: int
    outcome_unknown: bool
    platform_ticket: str
    platform_record: str
    ot_number: str
    next_try: float
    last_error: str
    sent_at: float = 0.0  # when its last write of unknown outcome was sent (kept after a look-up)

    unreadable: str = ""  # why a cell could not be read (the row is sent to Error with it)
    # `node_key`, once asked for: a cycle asks for it a few times a ticket, and Category and Node
    # never change here (the receive path's cells).
    _node_key: tuple[str, str] | None = field(default=None, init=False, eq=False, repr=False)

    @classmethod
    def from_cells(cls, key: str, cells: Mapping[str, Any]) -> Ticket:
        """The row as a Ticket. A cell that cannot be read (a poison value written into the store
        by hand or by another program) does not stop the cycle: the ticket goes to Error with
        the reason (`unreadable`), its bad cell replaced when it is written back, and the other
        tickets go on."""
        return cls.from_row((key, *map(cells.get, _FIELDS)), cells)

    @classmethod
    def from_row(cls, row: tuple[Any, ...], cells: Mapping[str, Any] | None = None) -> Ticket:
        """`from_cells` for the row's key and its cells at `_FIELDS`, in that order (what
        `Table.cells` gives, in C). `cells`: the same row by column name, if at hand."""
        (key, category, node, summary, description, priority, status, operation, retries, unknown) = row[:10]
        (platform_ticket, platform_record, ot_number, next_try, last_error, sent_at) = row[10:]
        status, operation = status or RECEIVED, operation or CHECK_EXISTING
        if (  # the fast path: every cell as the flow writes it (a full table is read every cycle)
            status in STATUSES
            and operation in OPERATIONS
            and _TEXT.issuperset(map(type, _TEXTS_OF(row)))  # in C, as are the whole numbers'
            and _WHOLE.issuperset(map(type, _WHOLES_OF(row)))
            and (type(next_try) in _WHOLE or (type(next_try) is float and math.isfinite(next_try)))
            and (type(sent_at) in _WHOLE or (type(sent_at) is float and math.isfinite(sent_at)))
        ):
            # Positional: 16 keyword arguments cost three times the rest of the call.
            return cls(
                key,
                category or "",
                node or "",
                summary or "",
                description or "",
                priority or 3,
                status,
                operation,
                retries or 0,
                bool(unknown),
                platform_ticket or "",
                platform_record or "",
                ot_number or "",
                float(next_try or 0.0),
                last_error or "",
                float(sent_at or 0.0),
            )
        return cls._read_carefully(key, cells if cells is not None else dict(zip(_FIELDS, row[1:], strict=True)))

    @classmethod
    def _read_carefully(cls, key: str, cells: Mapping[str, Any]) -> Ticket:
        """`from_cells` for a row with a cell of an unexpected type: each cell checked."""
        read = CellReader(cells)
        ticket = cls(
            key=key,
            category=read.text(CATEGORY),
            node=read.text(NODE),
            summary=read.text(SUMMARY),
            description=read.text(DESCRIPTION),
            priority=read.whole(PRIORITY, 3) or 3,
            status=read.text(STATUS, RECEIVED, STATUSES),
            operation=read.text(OPERATION, CHECK_EXISTING, OPERATIONS),
            retries=read.whole(RETRIES, 0),
            outcome_unknown=bool(read.whole(OUTCOME_UNKNOWN, 0)),
            platform_ticket=read.text(PLATFORM_TICKET),
            platform_record=read.text(PLATFORM_RECORD),
            ot_number=read.text(OT_NUMBER),
            next_try=read.real(NEXT_TRY, 0.0),
            last_error=read.text(LAST_ERROR),
            sent_at=read.real(SENT_AT, 0.0),
        )
        if read.problems:
            reason = "Unreadable row: " + "; ".join(read.problems)
            if not (cells.get(STATUS) == ERROR and cells.get(LAST_ERROR) == reason):
                ticket.unreadable = reason  # news: the flow writes the row back in Error, and says so
            ticket.status, ticket.retries, ticket.next_try, ticket.last_error = ERROR, 0, 0.0, reason
        return ticket

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def node_key(self) -> tuple[str, str]:
        """Category and Node as the "same node" rule compares them (case and edge blanks ignored)."""
        key = self._node_key
        if key is None:
            key = self._node_key = node_key(self.category, self.node)
        return key

    def ready(self, now: float) -> bool:
        return self.live and self.next_try <= now

    def settled_by(self, settle: float) -> float:
        """The earliest time an unknown outcome may be looked up: a write held by something in
        between may still land until then (0.0: nothing to wait for)."""
        return self.sent_at + settle if self.outcome_unknown and self.sent_at else 0.0


def node_key(category: str, node: str) -> tuple[str, str]:
    # Cherwell compares `eq` case-insensitively, so "gdl-zap-0142" and "GDL-ZAP-0142" are one node
    # to the platform; the flow must agree or it would open a second incident for it.
    return category.strip().casefold(), node.strip().casefold()


def load_tickets(table: Table) -> dict[str, Ticket]:
    """Every row as a Ticket, in table (receive) order. One pass over the table, its cells taken
    in C (`Table.cells`): 5,000 rows in 6.8 ms, against 14.3 ms through a dict per row."""
    read = Ticket.from_row
    return {row[0]: read(row) for row in table.cells(*_FIELDS)}


# The cells the flow owns, in the order `writer` writes them.
_FLOW_COLUMNS = (
    STATUS,
    OPERATION,
    RETRIES,
    OUTCOME_UNKNOWN,
    PLATFORM_TICKET,
    PLATFORM_RECORD,
    OT_NUMBER,
    NEXT_TRY,
    LAST_ERROR,
    LAST_UPDATE,
    SENT_AT,
)


def writer(table: Table) -> Callable[[Ticket, float], None]:
    """`write(ticket, now)`: the flow-owned cells of `ticket` back to its row (Last Update =
    now). Made once per table: a drain writes each ticket a few times."""
    write = table.writer(_FLOW_COLUMNS)

    def store_ticket(ticket: Ticket, now: float) -> None:
        write(
            ticket.key,
            (
                ticket.status,
                ticket.operation,
                ticket.retries,
                int(ticket.outcome_unknown),
                ticket.platform_ticket,
                ticket.platform_record,
                ticket.ot_number,
                ticket.next_try,
                ticket.last_error,
                now,
                ticket.sent_at,
            ),
        )

    return store_ticket


# -- transitions of one ticket (the flow calls these, then writes it) ------------------------------


def advance(ticket: Ticket, operation: str) -> None:
    """Move on to `operation` (None: Completed). A new operation starts with a clean slate."""
    ticket.operation = operation
    ticket.status = COMPLETED if operation == NO_OPERATION else IN_PROGRESS
    ticket.retries = 0
    ticket.next_try = 0.0
    ticket.last_error = ""


def claim_creation(ticket: Ticket) -> None:
    """Its node's creator takes Create Ticket. Not a new operation's clean slate: the claim is
    re-checked every cycle, and a creator that goes back and forth keeps its failures."""
    ticket.operation = CREATE_TICKET


def wait_for_creator(ticket: Ticket) -> None:
    """Back to waiting at Check Existing: its node's creator is another ticket."""
    advance(ticket, CHECK_EXISTING)


def adopt(ticket: Ticket, incident_id: str, rec_id: str, ot_number: str) -> None:
    """The incident was created for this ticket (its answer lost, or an earlier life). One that
    carries its OT already leaves nothing to do; one without may have an OT on its way: looked up
    before one is created."""
    _attach(ticket, incident_id, rec_id)
    if ot_number:
        ticket.ot_number = ot_number
        advance(ticket, NO_OPERATION)
        ticket.outcome_unknown = False
    else:
        advance(ticket, CREATE_OT)
        ticket.outcome_unknown = True


def note_on(ticket: Ticket, incident_id: str, rec_id: str) -> None:
    """The ticket becomes a note on its node's open incident."""
    _attach(ticket, incident_id, rec_id)
    advance(ticket, ADD_NOTE)


def created(ticket: Ticket, incident_id: str, rec_id: str) -> None:
    """Its incident exists now: its OT next."""
    _attach(ticket, incident_id, rec_id)
    advance(ticket, CREATE_OT)


def ordered(ticket: Ticket, ot_number: str) -> None:
    """Its OT exists now: the incident is updated with it next."""
    ticket.ot_number = ot_number
    advance(ticket, UPDATE_TICKET_OT)


def mark_unknown(ticket: Ticket, operation: str, sent_at: float, settle: float) -> None:
    """A write of `operation` may have happened unseen: the ticket is looked up before it is sent
    again. The row may still show the operation before (a creator's Create Ticket is stored with
    its outcome): the journal says which write it was."""
    ticket.operation = operation
    sent_unknown(ticket, sent_at, settle)


def sent_unknown(ticket: Ticket, sent_at: float, settle: float) -> None:
    """The write sent at `sent_at` has an unknown outcome: not looked up (nor sent again) before
    `settle` seconds have passed, so that a write held by something in between lands first."""
    ticket.outcome_unknown = True
    ticket.sent_at = sent_at
    if ticket.live:
        ticket.next_try = max(ticket.next_try, sent_at + settle)


def relink(ticket: Ticket, incident_id: str, rec_id: str) -> None:
    """Its incident has a duplicate: the ticket goes with the first one (`duplicates`)."""
    _attach(ticket, incident_id, rec_id)


def settle_known(ticket: Ticket) -> None:
    """The platform gave a definite answer (or a look-up did): the outcome is known."""
    ticket.outcome_unknown = False


def found(ticket: Ticket) -> None:
    """A look-up found what its unknown write made. Still watched (Sent At kept): this write may
    have been a re-send after an earlier one was looked up in vain, and that one may land yet."""
    ticket.outcome_unknown = False


def hold(ticket: Ticket, until: float) -> None:
    """Not tried before `until` (a waiter waits as long as its node's creator does)."""
    ticket.next_try = until


def _attach(ticket: Ticket, incident_id: str, rec_id: str) -> None:
    ticket.platform_ticket, ticket.platform_record = incident_id, rec_id


def jitter(rng: random.Random) -> float:
    """A factor in [0.5, 1.0] for `backoff`.

    Draw one per failed *request*, not per ticket: tickets that failed together then come back
    together and still fill one batch, while different requests (and item failures) spread out.
    """
    return rng.uniform(0.5, 1.0)


def backoff(retries: int, retry_delay: float, jitter: float) -> float:
    """Seconds to wait after the `retries`-th failure: doubled per retry, capped, jittered."""
    if retry_delay <= 0:
        return 0.0
    exponent = min(max(retries - 1, 0), 30)  # 2**30 s is far past the cap; avoid huge floats
    return min(MAX_BACKOFF, retry_delay * float(2**exponent)) * jitter


def fail(
    ticket: Ticket,
    reason: str,
    *,
    now: float,
    max_retries: int,
    retry_delay: float,
    jitter: float,
    outcome_unknown: bool | None = None,
) -> bool:
    """Count one failure at the ticket's current operation. True when the ticket is now in Error.

    Operation does not change: an Error ticket shows the operation that failed, and Retry
    Errors sends it back there. Outcome Unknown is the caller's to say (it depends on whether
    the request may have been applied); None keeps it as it is.
    """
    if outcome_unknown is not None:
        ticket.outcome_unknown = outcome_unknown
    ticket.retries += 1
    ticket.last_error = f"{ticket.operation}: {reason}"
    if ticket.retries > max_retries:
        ticket.status = ERROR
        ticket.next_try = 0.0
        return True
    ticket.status = IN_PROGRESS
    ticket.next_try = now + backoff(ticket.retries, retry_delay, jitter)
    return False
