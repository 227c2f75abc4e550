"""One processing cycle of Ticketing BE: push the ready tickets to Cherwell and SFyC, exactly once.

The flow is sans-I/O, shaped like httpx's auth flows: `run_cycle` is a generator that yields
`PlatformCall`s, receives `PlatformReply`s and returns a `CycleReport`. Whoever drives it (the
element's glue, a test) sends the requests. The glue commits the table and the journal before
every call goes out, and that is the whole crash-safety story:

    before a write batch is yielded, its tickets are noted in the journal (one entry a batch,
    durable when the batch is sent); the step that stores the batch's outcome in the rows takes
    the entry off. An answer that leaves the outcome open (no answer, 5xx, unreadable) sets the
    ticket's Outcome Unknown = 1 instead; a definite one (success, or an error that says nothing
    was saved) leaves it 0. A ticket still noted when a cycle starts gets Outcome Unknown = 1.
    A ticket with Outcome Unknown = 1 is looked up on the platform before it is ever sent again
    (incidents by ExternalID, notes by the "[ticket id]" their Details start with, work orders
    by referencia), and what is found is adopted instead of created twice.

The process may die between any two yields; the table and the journal as of the last yield are
what survives, and the next cycle picks up from them with a fresh `PlatformSession`.

Bookkeeping stays off the critical path: while a batch (a wave of batches) is on the wire, the
flow settles the one before into the rows and notes and builds the one after, so an answer sends
the next request at once (an `Overlap`; the flow `Collect`s its answer after). Batches in flight
together always hold different tickets.

With Max Concurrent Requests 1 the operations run one after the other, as DataMiner sends one
request at a time (every incident exists before any OT is asked for). Above 1 they run as one
pipeline: a ticket joins the next operation's queue as soon as its batch is settled, so the OTs
of the first incidents go out while later incidents are still being created; a ticket's own
operations still come in order, and batches stay full until nothing more can join them.

A cycle, in order (the contract's "processing cycle", issue 3):

1. no ready ticket: return at once, no request;
2. Cherwell login and metadata, lazily, before the first Cherwell call (a cycle with only SFyC
   work never logs in); the token is reused across cycles, refreshed when under 60 s remain, and
   a 401 means one new login and one retry of that call;
3. when some ready ticket still needs a decision: the open incidents of our categories (one
   search, all pages); a failure here fails every ready ticket once and ends the cycle;
4. decide, in table order: adopt the incident whose ExternalID is the ticket; else note on the
   open incident of the same Category and Node; else the node's creator creates it and the
   other tickets of the node wait for it (see `_decide`);
5. Create Ticket, Add Note (including the waiters whose incident now exists), Create OT, Update
   Ticket OT, each in batches of at most Max Tickets Per Request (`_Lanes`, sent by `_send_lanes`).

A failure counts one retry at the ticket's current operation (`tickets.fail`); a failed ticket is
not tried again in the same cycle.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar
from typing import Protocol as TypingProtocol

from attrs import frozen

from connector.engine.table import Table
from connector.ticketing import cherwell as cw
from connector.ticketing import sfyc
from connector.ticketing import tickets as tk
from connector.ticketing.calls import PlatformCall, PlatformReply
from connector.ticketing.cherwell import Metadata, PlatformError, Record
from connector.ticketing.session import (
    CycleReport,
    Flow,
    Flows,
    FlowSettings,
    PlatformClient,
    PlatformSession,
    SessionLost,
    gather,
    run_to_end,
)
from connector.ticketing.tickets import Ticket

__all__ = [
    "CycleReport",
    "FlowSettings",
    "InFlightEntry",
    "Journal",
    "MemoryJournal",
    "PlatformSession",
    "note_text",
    "run_cycle",
]

T = TypeVar("T")
WAVES_AHEAD = 2  # waves noted and built before they are sent
LOOKUP_CHUNK = 200  # tickets per reconciliation look-up (SFyC's limit; searches are paged anyway)


InFlightEntry = tuple[str, tuple[str, ...]]  # an operation, and the tickets of a write of it on its way


class Journal(TypingProtocol):
    """Where the flow notes, durably, the writes on their way (the element: a saved parameter).

    A write's tickets are noted here before it leaves, and taken off in the step that stores
    its outcome in their rows. A ticket still noted at the start of a cycle (the process died,
    or the cycle stopped, before the outcome was stored) is looked up before it is tried again.
    One small record per batch, instead of rewriting every row of the batch before it leaves.
    """

    def load(self) -> list[InFlightEntry]: ...

    def save(self, entries: list[InFlightEntry]) -> None: ...


class MemoryJournal:
    """A Journal in memory (tests, and anything without a store)."""

    def __init__(self) -> None:
        self.entries: list[InFlightEntry] = []

    def load(self) -> list[InFlightEntry]:
        return list(self.entries)

    def save(self, entries: list[InFlightEntry]) -> None:
        self.entries = list(entries)


def run_cycle(
    table: Table,
    settings: FlowSettings,
    session: PlatformSession,
    now: Callable[[], float],
    rng: random.Random,
    journal: Journal,
) -> Flows[CycleReport]:
    """One cycle over `table`'s ready tickets. See the module's docstring.

    With settings.concurrency 1 it yields one PlatformCall at a time; above 1 it may yield a
    list of calls (writes, search pages), to be sent at once, and expects the list of replies.
    """
    return (yield from _Cycle(table, settings, session, now, rng, journal).run())


@frozen
class _Incident:
    incident_id: str
    rec_id: str
    category: str
    node: str
    external_id: str
    ot_number: str

    @classmethod
    def from_record(cls, record: Record) -> _Incident:
        return cls(
            record.get("IncidentID") or record.public_id,
            record.get("RecID") or record.rec_id,
            record.get("Category"),
            record.get("Node"),
            record.get("ExternalID"),
            record.get("OTNumber"),
        )


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@frozen
class _Operation:
    """One write operation, for `_Cycle._batches`: how a chunk's request is built and read, and
    what success does. `build(chunk, md)` gives the request (without credentials) and what
    `read(reply, built)` needs; results have .ok/.message/.maybe_applied."""

    name: str
    cherwell: bool  # needs a Cherwell session (prepared before the chunk is marked)
    build: Callable[[list[Ticket], Metadata | None], tuple[PlatformCall, Any]]
    read: Callable[[PlatformReply, Any], Sequence[Any]]
    succeeded: Callable[[Ticket, Any], None]


# Which queued batches go first when several could: those that finish tickets.
_WAVE_PRIORITY = (tk.UPDATE_TICKET_OT, tk.CREATE_OT, tk.CREATE_TICKET, tk.ADD_NOTE)
# The operations whose tickets may still move on to each operation (a node's waiters become notes
# once their creator has its incident).
_UPSTREAM = {
    tk.CREATE_TICKET: (),
    tk.ADD_NOTE: (tk.CREATE_TICKET,),
    tk.CREATE_OT: (tk.CREATE_TICKET,),
    tk.UPDATE_TICKET_OT: (tk.CREATE_TICKET, tk.CREATE_OT),
}


class _Lanes:
    """The tickets still to send, one queue per operation, taken in batches.

    A batch is full (Max Tickets Per Request) unless nothing more can join its queue: no ticket
    is queued or in flight at an operation upstream of it. So a drain makes the least requests
    whatever order its batches come back in. `chained`: a ticket whose batch is settled joins the
    queue of the operation it is now at (Max Concurrent Requests above 1); otherwise each stage
    sends only what was ready when it began.
    """

    def __init__(self, cycle: _Cycle, operations: Sequence[str], *, chained: bool) -> None:
        self.cycle = cycle
        self.chained = chained
        self.batch = cycle.settings.batch_size
        self.queues: dict[str, deque[Ticket]] = {name: deque(cycle._at(name)) for name in operations}
        self.unsettled: Counter[str] = Counter()  # batches taken and not settled yet

    def take(self, width: int) -> list[tuple[str, list[Ticket]]]:
        wave: list[tuple[str, list[Ticket]]] = []
        for name, queue in self.queues.items():
            while queue and len(wave) < width:
                if len(queue) < self.batch and not self._upstream_done(name):
                    break  # more will come: wait for a full batch
                wave.append((name, [queue.popleft() for _ in range(min(self.batch, len(queue)))]))
                self.unsettled[name] += 1
        return wave

    def settled(self, name: str, tickets: list[Ticket]) -> None:
        self.unsettled[name] -= 1
        if not self.chained:
            return
        finished = self.cycle.finished
        for ticket in tickets:
            queue = self.queues.get(ticket.operation)
            if queue is not None and ticket.live and ticket.key not in finished:
                queue.append(ticket)

    def _upstream_done(self, name: str) -> bool:
        return not any(self.queues.get(up) or self.unsettled[up] for up in _UPSTREAM[name])


class _Cycle:
    def __init__(
        self,
        table: Table,
        settings: FlowSettings,
        session: PlatformSession,
        now: Callable[[], float],
        rng: random.Random,
        journal: Journal,
    ) -> None:
        self.table, self.settings, self.session, self.now, self.rng = table, settings, session, now, rng
        self.journal = journal
        self.in_flight: dict[int, InFlightEntry] = {}  # what the journal holds, by entry number
        self._entries = 0
        self.report = CycleReport()
        self.platform = PlatformClient(settings, session, self.report, now)
        self.tickets = tk.load_tickets(table)  # every row, table order: the one full read
        self._write = tk.writer(table)
        self.ready: dict[str, Ticket] = {}
        self.finished: set[str] = set()  # failed in this cycle: not tried again before the next
        self.open_by_node: dict[tuple[str, str], _Incident] = {}
        self.by_external: dict[str, _Incident] = {}
        self.creators: dict[tuple[str, str], Ticket] = {}  # node without an open incident -> its creator
        self.waiting: dict[tuple[str, str], list[Ticket]] = {}  # node -> tickets waiting for its creator
        self.last_reason = ""
        self.operations = {
            tk.CREATE_TICKET: _Operation(tk.CREATE_TICKET, True, self._create_request, _read_saves, self._created),
            tk.ADD_NOTE: _Operation(tk.ADD_NOTE, True, self._note_request, _read_saves, self._noted),
            tk.CREATE_OT: _Operation(tk.CREATE_OT, False, self._order_request, _read_orders, self._ordered),
            tk.UPDATE_TICKET_OT: _Operation(
                tk.UPDATE_TICKET_OT, True, self._update_request, _read_saves, self._updated
            ),
        }
        # Requests built ahead, while the batch before is on the wire (by chunk), and the
        # journal entries of the chunks noted ahead.
        self._built: dict[int, tuple[Metadata | None, PlatformCall, Any]] = {}
        self._noted_ahead: dict[int, int] = {}
        # While pipelined: tickets a settled batch moved on that were not in it (a node's waiters).
        self._promoted: list[Ticket] | None = None

    # -- the cycle ------------------------------------------------------------------------------

    def run(self) -> Flows[CycleReport]:
        start = self.now()
        self._recover_in_flight()
        self.ready = {key: t for key, t in self.tickets.items() if t.ready(start)}
        if not self.ready:
            self.report.result = "No ready tickets"
            return self.report
        try:
            if any(t.operation in (tk.CHECK_EXISTING, tk.CREATE_TICKET) for t in self.ready.values()):
                try:
                    yield from self._load_open_incidents()
                except PlatformError as error:
                    raise SessionLost(f"Search failed: {error.message}") from None
                yield from self._reconcile(self._at(tk.CREATE_TICKET), self._find_incidents, self._adopt)
                self._decide()
            if self.settings.concurrency > 1:
                yield from self._pipelined()
            else:
                yield from self._batches(tk.CREATE_TICKET)
                self._hold_waiters()
                yield from self._reconcile(self._at(tk.ADD_NOTE), self._find_notes, self._note_found)
                yield from self._batches(tk.ADD_NOTE)
                yield from self._reconcile(self._at(tk.CREATE_OT), self._find_orders, self._order_found)
                yield from self._batches(tk.CREATE_OT)
                yield from self._batches(tk.UPDATE_TICKET_OT)  # idempotent: no look-up needed
        except SessionLost as lost:
            # Nothing can progress without Cherwell: one failure for every ticket still pending,
            # so that a platform that never lets us in ends each ticket in Error with the reason.
            together = tk.jitter(self.rng)
            for ticket in self.ready.values():
                if ticket.live and ticket.key not in self.finished:
                    self._fail(ticket, str(lost), jitter=together)
            self.report.result = str(lost)
            return self.report
        if self.report.failed:
            self.report.result = (
                f"{self.report.failed} failure(s), {self.report.errors} ticket(s) now in Error; "
                f"last: {self.last_reason}"
            )
        return self.report

    def _at(self, operation: str) -> list[Ticket]:
        """Ready tickets now at `operation` that have not failed in this cycle, in table order."""
        return [t for t in self.ready.values() if t.operation == operation and t.live and t.key not in self.finished]

    # -- deciding what each new ticket becomes -----------------------------------------------------

    def _load_open_incidents(self) -> Flow[None]:
        records = yield from self._search(
            lambda md: md.incident, cw.existing_incidents_filters(), cw.INCIDENT_RESULT_FIELDS
        )
        for record in records:
            incident = _Incident.from_record(record)
            if incident.external_id:
                self.by_external.setdefault(incident.external_id, incident)
            self.open_by_node.setdefault(tk.node_key(incident.category, incident.node), incident)

    def _decide(self) -> None:
        """Adopt, note or create, per ready ticket at Check Existing / Create Ticket.

        One node never gets two incidents from this element: among the live tickets of a node
        that has no open incident (ready or backing off, table order = receive order), the first
        is its creator; the others wait at Check Existing and become notes on its incident once
        it exists. A creator that ends in Error is no longer live, so the next one takes over.
        Create Ticket is therefore a claim re-checked every cycle, not a commitment: a ticket
        there that is not (or no longer) its node's creator goes back to waiting.
        """
        for ticket in self._at(tk.CHECK_EXISTING) + self._at(tk.CREATE_TICKET):
            incident = self.by_external.get(ticket.key)
            if incident is not None:
                self._adopt(ticket, incident)
            elif (incident := self.open_by_node.get(ticket.node_key)) is not None:
                self._target(ticket, incident)
        by_node: dict[tuple[str, str], list[Ticket]] = {}
        for ticket in self.tickets.values():
            if ticket.live and ticket.operation in (tk.CHECK_EXISTING, tk.CREATE_TICKET):
                by_node.setdefault(ticket.node_key, []).append(ticket)
        for node, (creator, *others) in by_node.items():
            if node in self.open_by_node:
                continue  # only tickets backing off are left there; they note on it when ready
            if creator.key in self.ready and creator.key not in self.finished and creator.operation != tk.CREATE_TICKET:
                creator.operation = tk.CREATE_TICKET  # marked and stored when its batch is sent
            for ticket in others:
                if ticket.operation == tk.CREATE_TICKET and not ticket.outcome_unknown:
                    tk.advance(ticket, tk.CHECK_EXISTING)
                    self._store(ticket)
            self.creators[node] = creator
            self.waiting[node] = others

    def _adopt(self, ticket: Ticket, incident: _Incident) -> None:
        """The incident was created for this ticket (its answer lost, or an earlier life)."""
        ticket.platform_ticket, ticket.platform_record = incident.incident_id, incident.rec_id
        if incident.ot_number:
            ticket.ot_number = incident.ot_number  # it carries its OT already: nothing left to do
            self._complete(ticket)
            ticket.outcome_unknown = False
        else:
            tk.advance(ticket, tk.CREATE_OT)
            ticket.outcome_unknown = True  # an OT may exist already: look it up before creating
        self.report.incidents_adopted += 1
        self._store(ticket)

    def _target(self, ticket: Ticket, incident: _Incident) -> None:
        ticket.platform_ticket, ticket.platform_record = incident.incident_id, incident.rec_id
        tk.advance(ticket, tk.ADD_NOTE)
        self._store(ticket)
        if self._promoted is not None:
            self._promoted.append(ticket)  # a waiter whose creator's incident now exists: a note next

    def _hold_waiters(self) -> None:
        """Waiters whose creator has not got its incident wait as long as it does.

        Without a Next Try they would look ready, and the engine starts the next cycle at once
        while ready work remains: it would spin until the creator's back-off ends.
        """
        for node, waiters in self.waiting.items():
            if node in self.open_by_node or not waiters:
                continue
            creator = self.creators.get(node)
            hold = creator.next_try if creator is not None and creator.live else 0.0
            for ticket in waiters:
                if ticket.live and ticket.operation == tk.CHECK_EXISTING and ticket.next_try != hold:
                    ticket.next_try = hold
                    self._store(ticket)

    # -- write operations in batches ------------------------------------------------------------------

    def _batches(self, name: str) -> Flows[None]:
        """Max Concurrent Requests 1, DataMiner's way: every ready ticket at `name` in chunks of at
        most Max Tickets Per Request, one request at a time; the operations one after the other
        (every Create Ticket before any Create OT, ...)."""
        yield from self._send_lanes(_Lanes(self, (name,), chained=False))

    def _pipelined(self) -> Flows[None]:
        """Max Concurrent Requests above 1: every operation at once, up to that many batches in
        flight, and a ticket moves on as soon as its batch is settled: the Create OT of the
        incidents a batch created goes out while other incidents are still being created.

        A ticket's own operations stay in order (its OT only once its incident exists, its update
        only once its OT does): it joins the next operation's queue when its batch is settled. The
        look-ups of earlier lives' unknown outcomes run first, before anything is written.
        """
        yield from self._reconcile(self._at(tk.ADD_NOTE), self._find_notes, self._note_found)
        yield from self._reconcile(self._at(tk.CREATE_OT), self._find_orders, self._order_found)
        self._promoted = []
        try:
            yield from self._send_lanes(_Lanes(self, _WAVE_PRIORITY, chained=True))
        finally:
            self._promoted = None
        self._hold_waiters()

    def _send_lanes(self, lanes: _Lanes) -> Flows[None]:
        """Send the lanes' chunks in waves of up to Max Concurrent Requests.

        The next wave is composed, noted and built while this one is on the wire (so that this
        one's answer sends it at once, with nothing left to commit first), and this one is
        settled while the next one is out. A wave composed ahead holds only tickets that were
        queued by then: one settled meanwhile joins the wave after.
        """
        width = self.settings.concurrency
        prepared: deque[list[tuple[str, list[Ticket]]]] = deque()  # waves composed ahead, oldest first
        try:
            wave = lanes.take(width)
            while wave:
                if any(self.operations[name].cherwell for name, _ in wave):
                    yield from self.platform.prepare()
                # Durable before the request leaves (the glue commits before each call): a crash from
                # here on makes the next cycle look the write up instead of sending it again.
                entries = self._note(wave)
                self.platform.background.append(partial(self._compose_ahead, lanes, width, prepared))
                flows = [self._send(self.operations[name], chunk) for name, chunk in wave]
                if len(flows) == 1:
                    outcomes = [(yield from run_to_end(flows[0]))]
                else:
                    outcomes = yield from gather(flows, self.platform)
                # A batch whose session was lost keeps its journal entry (its write may have happened:
                # the next cycle looks it up); the others are settled whatever happened to it.
                done = [
                    (name, chunk, outcome, entry)
                    for (name, chunk), outcome, entry in zip(wave, outcomes, entries)
                    if not isinstance(outcome, SessionLost)
                ]
                # Settled while the next wave is on the wire (its tickets are others); the last wave,
                # or one cut short by an error, in the `finally`.
                self.platform.background.append(partial(self._settle_wave, lanes, done))
                lost = next((outcome for outcome in outcomes if isinstance(outcome, SessionLost)), None)
                if lost is not None:
                    raise lost
                if not prepared:
                    # The answers came before the work was done (or nothing was queued ahead, and
                    # this wave's settling may queue some): do it now.
                    self.platform.drain()
                wave = prepared.popleft() if prepared else lanes.take(width)
        finally:
            self.platform.drain()  # every outcome settled before anything else looks at the rows
            # Built ahead but never sent (the stage was cut short): keyed by these chunks' ids,
            # which later lists may reuse. Their journal entries stay: looked up next cycle.
            self._built.clear()
            self._noted_ahead.clear()

    def _note(self, wave: list[tuple[str, list[Ticket]]]) -> list[int]:
        """The wave's journal entries: noted ahead, or now (one save for the whole wave)."""
        entries = [self._noted_ahead.pop(id(chunk), None) for _, chunk in wave]
        if None in entries:
            entries = [
                entry if entry is not None else self._note_in_flight(name, chunk)
                for entry, (name, chunk) in zip(entries, wave)
            ]
            self.journal.save(list(self.in_flight.values()))
        return entries  # type: ignore[return-value]

    def _compose_ahead(self, lanes: _Lanes, width: int, prepared: deque[list[tuple[str, list[Ticket]]]]) -> None:
        """The next waves (WAVES_AHEAD), noted in the journal and built, while one is on the wire.

        Two, not one: when an answer is handled before this work (the element is busy, or the
        machine runs it late), the wave after is still ready to go at once.
        """
        composed = []
        while len(prepared) < WAVES_AHEAD and (wave := lanes.take(width)):
            prepared.append(wave)
            composed.extend(wave)
        if not composed:
            return
        for name, chunk in composed:
            self._noted_ahead[id(chunk)] = self._note_in_flight(name, chunk)
        self.journal.save(list(self.in_flight.values()))  # once: it holds every batch in flight
        md = self.session.metadata
        for name, chunk in composed:
            operation = self.operations[name]
            if operation.cherwell and md is None:
                continue  # the ids are being resolved again: built when sent
            # Built with the ids `_send` will check against: SFyC's calls are built without any.
            ids = md if operation.cherwell else None
            self._built[id(chunk)] = (ids, *operation.build(chunk, ids))

    def _send(self, operation: _Operation, chunk: list[Ticket]) -> Flow[Sequence[Any]]:
        """One chunk's request, built ahead when it could be; its results."""
        read_with: list[Any] = []

        def build(md: Metadata | None) -> PlatformCall:
            ahead = self._built.pop(id(chunk), None)
            call, context = ahead[1:] if ahead is not None and ahead[0] is md else operation.build(chunk, md)
            read_with[:] = [context]
            return call

        if operation.cherwell:
            return (
                yield from self.platform.call(
                    lambda token, md: cw.with_token(build(md), token),
                    lambda reply, md: operation.read(reply, read_with[0]),
                )
            )
        reply = yield from self.platform.send(sfyc.with_key(build(None), self.settings.api_key))
        return operation.read(reply, read_with[0])

    def _settle_wave(
        self, lanes: _Lanes, done: list[tuple[str, list[Ticket], Sequence[Any] | PlatformError, int]]
    ) -> None:
        for name, chunk, outcome, entry in done:
            self._settle(self.operations[name], chunk, outcome)
            del self.in_flight[entry]  # its outcome is in the rows now, in the same step
            promoted: list[Ticket] = []
            if self._promoted:  # waiters this batch's incidents let through: notes next
                promoted, self._promoted = self._promoted, []
            lanes.settled(name, chunk + promoted)
        self.journal.save(list(self.in_flight.values()))

    def _note_in_flight(self, operation: str, chunk: list[Ticket]) -> int:
        """A journal entry for the chunk (the caller saves the journal)."""
        self._entries += 1
        self.in_flight[self._entries] = (operation, tuple(t.key for t in chunk))
        return self._entries

    def _recover_in_flight(self) -> None:
        """Writes noted on their way by an earlier life: their tickets are looked up first."""
        entries = self.journal.load()
        if not entries:
            return
        for operation, keys in entries:
            for key in keys:
                ticket = self.tickets.get(key)
                # In Error too: the journal is cleared below, and Retry Errors would then send
                # again a write that may have happened (a wave cut short by a lost session fails
                # its tickets without settling the batches that were answered).
                if ticket is not None and ticket.status != tk.COMPLETED:
                    # The row may still show the operation before (a creator's Create Ticket is
                    # stored with its outcome): the journal says which write may have happened.
                    ticket.operation, ticket.outcome_unknown = operation, True
                    self._store(ticket)
        self.journal.save([])

    def _settle(self, operation: _Operation, chunk: list[Ticket], outcome: Sequence[Any] | PlatformError) -> None:
        if isinstance(outcome, PlatformError):
            together = tk.jitter(self.rng)  # failed together: retried together, in one batch
            for ticket in chunk:
                self._fail(ticket, outcome.message, outcome_unknown=outcome.maybe_applied, jitter=together)
            return
        for ticket, result in zip(chunk, outcome):
            if result.ok:
                ticket.outcome_unknown = False
                operation.succeeded(ticket, result)
                self._store(ticket)
            else:
                self._fail(ticket, result.message, outcome_unknown=result.maybe_applied)

    # How each write is built (without credentials: they are added when it is sent) --------------

    def _create_request(self, chunk: list[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[cw.Save]]:
        assert md is not None
        return _saves_request("create_ticket", [cw.Save(bo=md.incident, values=_incident_values(t)) for t in chunk])

    def _note_request(self, chunk: list[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[cw.Save]]:
        assert md is not None
        return _saves_request(
            "add_note",
            [
                cw.Save(
                    bo=md.note,
                    values={
                        "ParentRecID": t.platform_record,
                        "ParentTypeID": md.incident.bus_ob_id,
                        "Details": note_text(t),
                    },
                )
                for t in chunk
            ],
        )

    def _update_request(self, chunk: list[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[cw.Save]]:
        assert md is not None
        return _saves_request(
            "update_ticket_ot",
            [cw.Save(bo=md.incident, rec_id=t.platform_record, values={"OTNumber": t.ot_number}) for t in chunk],
        )

    def _order_request(self, chunk: list[Ticket], md: Metadata | None) -> tuple[PlatformCall, list[sfyc.OrderRequest]]:
        orders = [
            sfyc.OrderRequest(
                ticket=t.platform_ticket,
                referencia=t.key,
                categoria=t.category,
                nodo=t.node,
                descripcion=note_text(t, with_id=False),
                prioridad=t.priority,
            )
            for t in chunk
        ]
        return sfyc.create_orders_call("", orders), orders

    def _created(self, ticket: Ticket, result: cw.SaveResult) -> None:
        ticket.platform_ticket, ticket.platform_record = result.public_id, result.rec_id
        tk.advance(ticket, tk.CREATE_OT)
        self.report.tickets_created += 1
        incident = _Incident(result.public_id, result.rec_id, ticket.category, ticket.node, ticket.key, "")
        self.open_by_node[ticket.node_key] = incident
        # The node's waiters become notes on the new incident in this same cycle (Add Note runs next).
        for waiter in self.waiting.pop(ticket.node_key, ()):
            if (
                waiter.key in self.ready
                and waiter.live
                and waiter.operation == tk.CHECK_EXISTING
                and waiter.key not in self.finished
            ):
                self._target(waiter, incident)

    def _noted(self, ticket: Ticket, result: cw.SaveResult) -> None:
        self.report.notes_added += 1
        self._complete(ticket)

    def _ordered(self, ticket: Ticket, result: sfyc.OrderResult) -> None:
        ticket.ot_number = result.ot
        tk.advance(ticket, tk.UPDATE_TICKET_OT)
        self.report.ots_created += 1

    def _updated(self, ticket: Ticket, result: cw.SaveResult) -> None:
        self._complete(ticket)

    def _complete(self, ticket: Ticket) -> None:
        tk.advance(ticket, tk.NO_OPERATION)
        self.report.completed += 1

    # -- reconciliation: look up what an unanswered write may have done --------------------------------

    def _reconcile(
        self,
        candidates: list[Ticket],
        find: Callable[[list[Ticket]], Flow[dict[str, T]]],
        found: Callable[[Ticket, T], None],
    ) -> Flow[None]:
        """For tickets with Outcome Unknown: adopt what the platform has, clear the flag otherwise."""
        unsure = [t for t in candidates if t.outcome_unknown]
        for chunk in _chunks(unsure, LOOKUP_CHUNK):
            try:
                hits = yield from find(chunk)
            except PlatformError as error:
                together = tk.jitter(self.rng)
                for ticket in chunk:  # still unknown: counted, and looked up again next time
                    self._fail(ticket, f"look-up failed: {error.message}", jitter=together)
                continue
            for ticket in chunk:
                hit = hits.get(ticket.key)
                if hit is not None:
                    found(ticket, hit)
                else:
                    ticket.outcome_unknown = False  # definitely not there: it may be sent (again)
                    self._store(ticket)

    def _find_incidents(self, chunk: list[Ticket]) -> Flow[dict[str, _Incident]]:
        # Any status: an incident created for us may have been resolved since.
        filters = [cw.Filter(field="ExternalID", value=t.key) for t in chunk if t.key not in self.by_external]
        hits = {t.key: self.by_external[t.key] for t in chunk if t.key in self.by_external}
        if filters:
            for record in (yield from self._search(lambda md: md.incident, filters, cw.INCIDENT_RESULT_FIELDS)):
                incident = _Incident.from_record(record)
                hits.setdefault(incident.external_id, incident)
        return hits

    def _find_notes(self, chunk: list[Ticket]) -> Flow[dict[str, Record]]:
        filters = [cw.Filter(field="Details", operator="contains", value=f"[{t.key}]") for t in chunk]
        hits: dict[str, Record] = {}
        wanted = {t.key for t in chunk}
        for record in (yield from self._search(lambda md: md.note, filters, cw.NOTE_RESULT_FIELDS)):
            # "contains" also matches a note that merely quotes the id; ours start with it.
            details = record.get("Details")
            if details.startswith("[") and (key := details[1:].split("]", 1)[0]) in wanted:
                hits.setdefault(key, record)
        return hits

    def _find_orders(self, chunk: list[Ticket]) -> Flow[dict[str, sfyc.WorkOrder]]:
        incidents = list(dict.fromkeys(t.platform_ticket for t in chunk if t.platform_ticket))
        if not incidents:
            return {}  # no incident, no OT: nothing to ask SFyC

        def once() -> Flow[list[sfyc.WorkOrder]]:
            return sfyc.parse_lookup(
                (yield from self.platform.send(sfyc.lookup_call(self.settings.api_key, incidents)))
            )

        wanted = {(t.platform_ticket, t.key) for t in chunk}
        orders = yield from self.platform.retrying(once)
        return {o.referencia: o for o in orders if (o.ticket, o.referencia) in wanted and o.ot}

    def _note_found(self, ticket: Ticket, record: Record) -> None:
        self.report.found_by_lookup += 1
        ticket.outcome_unknown = False
        self._complete(ticket)
        self._store(ticket)

    def _order_found(self, ticket: Ticket, order: sfyc.WorkOrder) -> None:
        self.report.found_by_lookup += 1
        ticket.outcome_unknown = False
        ticket.ot_number = order.ot
        tk.advance(ticket, tk.UPDATE_TICKET_OT)
        self._store(ticket)

    def _search(
        self, bo: Callable[[Metadata], cw.BusinessObject], filters: list[cw.Filter], fields: Sequence[str]
    ) -> Flow[list[Record]]:
        """Every page of one search (filters on one field are OR'd by Cherwell). With Max
        Concurrent Requests above 1, the pages after the first (which says how many records
        there are) are read that many at a time."""

        def page(number: int) -> Flow[cw.SearchPage]:
            return (
                yield from self.platform.read(
                    lambda token, md: cw.search_call(token, bo(md), filters, fields, page=number),
                    lambda reply, md: cw.parse_search(reply, bo(md)),
                )
            )

        first = yield from page(1)
        records, number, more = list(first.records), 1, first.has_more
        width = self.settings.concurrency
        if more and width > 1 and first.total and self.platform.overlapping:  # not inside a wave
            rest = list(range(2, -(-first.total // cw.PAGE_SIZE) + 1))
            for start in range(0, len(rest), width):
                numbers = rest[start : start + width]
                pages = yield from gather([page(n) for n in numbers], self.platform)
                failed = next((p for p in pages if isinstance(p, (PlatformError, SessionLost))), None)
                if failed is not None:
                    raise failed
                for found in pages:
                    records.extend(found.records)  # type: ignore[union-attr]
                number, more = numbers[-1], pages[-1].has_more  # type: ignore[union-attr]
        while more:  # one page at a time (or records were added while the pages were read)
            number += 1
            found = yield from page(number)
            records.extend(found.records)
            more = found.has_more
        return records

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _store(self, ticket: Ticket) -> None:
        self._write(ticket, self.now())

    def _fail(
        self, ticket: Ticket, reason: str, *, outcome_unknown: bool | None = None, jitter: float | None = None
    ) -> None:
        """One failure at the ticket's current operation; `outcome_unknown` None keeps the flag,
        `jitter` None draws one for this ticket alone (an item failure)."""
        reason = self._scrub(reason)
        if outcome_unknown is not None:
            ticket.outcome_unknown = outcome_unknown
        s = self.settings
        if jitter is None:
            jitter = tk.jitter(self.rng)
        if tk.fail(ticket, reason, now=self.now(), max_retries=s.max_retries, retry_delay=s.retry_delay, jitter=jitter):
            self.report.errors += 1
        self.report.failed += 1
        self.finished.add(ticket.key)
        self.last_reason = ticket.last_error
        self._store(ticket)

    def _scrub(self, text: str) -> str:
        """Platforms have been known to echo what they were sent: never let a secret reach the table."""
        for secret in (
            self.settings.password,
            self.settings.api_key,
            self.session.access_token,
            self.session.refresh_token,
        ):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def _saves_request(session: str, saves: list[cw.Save]) -> tuple[PlatformCall, list[cw.Save]]:
    return cw.save_batch_call("", session, saves), saves


def _read_saves(reply: PlatformReply, saves: list[cw.Save]) -> Sequence[cw.SaveResult]:
    return cw.parse_save_batch(reply, saves)


def _read_orders(reply: PlatformReply, orders: list[sfyc.OrderRequest]) -> Sequence[sfyc.OrderResult]:
    return sfyc.parse_create_orders(reply, orders)


def note_text(ticket: Ticket, *, with_id: bool = True) -> str:
    """`[<ticket id>] <summary>`, then the description: the id prefix is how a look-up finds the note."""
    text = f"[{ticket.key}] {ticket.summary}" if with_id else ticket.summary
    return f"{text}\n{ticket.description}" if ticket.description else text


def _incident_values(ticket: Ticket) -> dict[str, str]:
    return {
        "Category": ticket.category,
        "ShortDescription": ticket.summary,
        "Description": ticket.description,
        "Priority": str(ticket.priority),
        "Node": ticket.node,
        "ExternalID": ticket.key,
        "Source": cw.SOURCE,
    }
