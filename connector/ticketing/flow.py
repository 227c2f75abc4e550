"""One processing cycle of Ticketing BE: push the ready tickets to Cherwell and SFyC, exactly once.

The flow is sans-I/O, shaped like httpx's auth flows: `run_cycle` is a generator that yields
`Round`s of `PlatformCall`s, is resumed with their `PlatformReply`s and returns a `CycleReport`
(the rules of that exchange: `connector.ticketing.states`). Whoever drives it (the
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
the next request at once (a SEND_AND_WORK round; the flow COLLECTs its answer after). Batches in flight
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
   other tickets of the node wait for it (`connector.ticketing.decision`);
5. Create Ticket, Add Note (including the waiters whose incident now exists), Create OT, Update
   Ticket OT (`connector.ticketing.operations`), each in batches of at most Max Tickets Per Request
   (`connector.ticketing.pipeline`).

Where each job lives: `decision` (adopt, note or create: pure functions), `pipeline` (lanes,
waves, the In Flight journal), `operations` (what each write sends, how its answer settles the
rows), `lookups` (the open incidents, and reconciliation), `rows` (the cycle's tickets and how a
change reaches the table), `session` (login, token, metadata, requests).

A failure counts one retry at the ticket's current operation (`tickets.fail`); a failed ticket is
not tried again in the same cycle. The platform down for everyone is not a ticket's failure: the
cycle ends with the report's `timeout` set (the rule: `connector.ticketing.outage`).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from connector.engine.table import Table
from connector.ticketing import tickets as tk
from connector.ticketing.cherwell import PlatformError
from connector.ticketing.decision import Incident, Node, OpenIncidents, decide, waiter_holds
from connector.ticketing.duplicates import watched_tickets
from connector.ticketing.lookups import Lookups
from connector.ticketing.operations import Operations, note_text
from connector.ticketing.pipeline import WAVE_PRIORITY, InFlight, InFlightEntry, Journal, Lanes, MemoryJournal, Pipeline
from connector.ticketing.rows import CycleRows
from connector.ticketing.session import (
    CycleFlow,
    CycleReport,
    Flow,
    FlowSettings,
    PlatformClient,
    PlatformSession,
    SessionLost,
    WorkWhileOut,
    with_work_while_out,
)
from connector.ticketing.tickets import Ticket
from connector.ticketing.waits import Waits

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


def run_cycle(
    table: Table,
    settings: FlowSettings,
    session: PlatformSession,
    now: Callable[[], float],
    rng: random.Random,
    journal: Journal,
    report: CycleReport | None = None,
    *,
    waits: Waits | None = None,
) -> CycleFlow[CycleReport]:
    """One cycle over `table`'s ready tickets. See the module's docstring.

    `now` is the wall clock (Last Update, Next Try as saved); `waits` measures Next Try and the
    token's life on the monotonic clock (`connector.ticketing.waits`; without it, on `now`).

    It yields `Round`s of calls (one call at a time with settings.concurrency 1; above 1 up to
    that many writes, or search pages, at once) and returns its report; the driver keeps to
    `connector.ticketing.states`. A driver that passes the `report` may take its events while
    the cycle runs (`CycleReport.take_events`), to log them as they happen.
    """
    work = WorkWhileOut()
    cycle = _Cycle(table, settings, session, now, rng, journal, work, report or CycleReport(), waits)
    return (yield from with_work_while_out(cycle.run(), work))


class _Cycle:
    """The order of a cycle's steps; each step's work is done by the modules named above."""

    def __init__(
        self,
        table: Table,
        settings: FlowSettings,
        session: PlatformSession,
        now: Callable[[], float],
        rng: random.Random,
        journal: Journal,
        work: WorkWhileOut,
        report: CycleReport,
        waits: Waits | None = None,
    ) -> None:
        waits = waits if waits is not None else Waits(now, now)
        self.settings, self.journal = settings, journal
        self.report = report
        self.rows = CycleRows(table, settings, session, now, rng, self.report, waits)
        # The token's life on the monotonic clock: a wall-clock jump neither expires nor extends it.
        self.platform = PlatformClient(settings, session, self.report, waits.monotonic, scrub=self.rows.scrub)
        self.incidents = OpenIncidents()
        self.creators: dict[Node, Ticket] = {}  # node without an open incident -> its creator
        self.waiting: dict[Node, tuple[Ticket, ...]] = {}  # node -> tickets waiting for its creator
        self.lookups = Lookups(self.rows, self.platform, self.incidents)
        self.operations = Operations(self.rows, self.incidents, self.waiting)
        self.pipeline = Pipeline(self.rows, self.operations, self.platform, InFlight(journal, now), work)

    def run(self) -> Flow[CycleReport]:
        start = self.rows.now()
        self._recover_in_flight()
        self.rows.pick_ready(start)
        watched = watched_tickets(self.rows.tickets.values(), start, self.settings.settle_time)
        if not self.rows.ready and not watched:
            self.report.result = "No ready tickets"
            return self.report
        try:
            yield from self._steps(watched)
        except SessionLost as lost:
            # The platform is down for everyone (`connector.ticketing.outage`): the element's
            # timeout, not the tickets' failure. They keep their retries and their place; the
            # glue tries the cycle again with backoff until the platform answers.
            self.report.timeout = self.rows.scrub(str(lost))
            self.report.result = f"Timeout: {self.report.timeout}"
            return self.report
        if self.report.failed:
            self.report.result = (
                f"{self.report.failed} failure(s), {self.report.errors} ticket(s) now in Error; "
                f"last: {self.rows.last_reason}"
            )
        return self.report

    def _steps(self, watched: list[Ticket]) -> Flow[None]:
        # Re-sent tickets are watched for a late twin (`duplicates`): their incidents in the
        # search of the open incidents, their notes and OTs in a look-up.
        if watched or any(t.operation in (tk.CHECK_EXISTING, tk.CREATE_TICKET) for t in self.rows.ready.values()):
            try:
                yield from self.lookups.load_open_incidents()
            except PlatformError as error:
                raise SessionLost(self.rows.scrub(f"Search failed: {error.message}")) from None
            self._link_to_first()
            yield from self.lookups.reconcile_incidents(self._adopt)
            self._decide()
        yield from self.lookups.watch(watched)
        if self.settings.concurrency > 1:
            yield from self._pipelined()
        else:
            yield from self._one_after_the_other()

    def _one_after_the_other(self) -> Flow[None]:
        """Max Concurrent Requests 1, DataMiner's way: every ready ticket at an operation in batches
        of at most Max Tickets Per Request, one request at a time; the operations one after the
        other (every Create Ticket before any Create OT, ...)."""
        yield from self._stage(tk.CREATE_TICKET)
        self._hold_waiters()
        yield from self.lookups.reconcile_notes()
        yield from self._stage(tk.ADD_NOTE)
        yield from self.lookups.reconcile_orders()
        yield from self._stage(tk.CREATE_OT)
        yield from self._stage(tk.UPDATE_TICKET_OT)  # idempotent: no look-up needed

    def _stage(self, operation: str) -> Flow[None]:
        yield from self.pipeline.send(Lanes(self.rows, (operation,), chained=False))

    def _pipelined(self) -> Flow[None]:
        """Max Concurrent Requests above 1: every operation at once, up to that many batches in
        flight, and a ticket moves on as soon as its batch is settled: the Create OT of the
        incidents a batch created goes out while other incidents are still being created.

        A ticket's own operations stay in order (its OT only once its incident exists, its update
        only once its OT does): it joins the next operation's queue when its batch is settled. The
        look-ups of earlier lives' unknown outcomes run first, before anything is written.
        """
        yield from self.lookups.reconcile_notes()
        yield from self.lookups.reconcile_orders()
        yield from self.pipeline.send(Lanes(self.rows, WAVE_PRIORITY, chained=True))
        self._hold_waiters()

    # -- deciding what each new ticket becomes (connector.ticketing.decision) --------------------

    def _decide(self) -> None:
        rows = self.rows
        decision = decide(
            rows.at(tk.CHECK_EXISTING) + rows.at(tk.CREATE_TICKET), rows.tickets.values(), self.incidents, rows.pending
        )
        for ticket, incident in decision.adopt:
            self._adopt(ticket, incident)
        for ticket, incident in decision.note:
            tk.note_on(ticket, incident.incident_id, incident.rec_id)
            rows.store(ticket)
        for ticket in decision.claim:
            tk.claim_creation(ticket)  # marked and stored when its batch is sent
        for ticket in decision.unclaim:
            tk.wait_for_creator(ticket)
            rows.store(ticket)
        self.creators.update(decision.creators)
        self.waiting.update(decision.waiting)

    def _adopt(self, ticket: Ticket, incident: Incident) -> None:
        """The incident was created for this ticket (its answer lost, or an earlier life)."""
        tk.adopt(ticket, incident.incident_id, incident.rec_id, incident.ot_number)
        if ticket.status == tk.COMPLETED:  # it carried its OT already: nothing left to do
            self.report.completed += 1
        self.report.incidents_adopted += 1
        self.rows.store(ticket)

    def _link_to_first(self) -> None:
        """A ticket linked to the extra of two incidents, with no OT yet, goes to the first one."""
        for duplicate in self.report.duplicates:
            ticket = self.rows.tickets.get(duplicate.ticket)
            kept = self.incidents.by_external.get(duplicate.ticket)
            if ticket is None or kept is None or not ticket.live or ticket.ot_number:
                continue
            if ticket.platform_ticket == duplicate.extra:
                tk.relink(ticket, kept.incident_id, kept.rec_id)
                self.rows.store(ticket)

    def _hold_waiters(self) -> None:
        for ticket, until in waiter_holds(self.waiting, self.creators, self.incidents):
            tk.hold(ticket, until)
            self.rows.store(ticket)

    def _recover_in_flight(self) -> None:
        """Writes noted on their way by an earlier life: their tickets are looked up first."""
        entries = self.journal.load()
        if not entries:
            return
        for operation, keys, sent_at in entries:
            for key in keys:
                ticket = self.rows.tickets.get(key)
                # In Error too: the journal is cleared below, and Retry Errors would then send
                # again a write that may have happened (a wave cut short by a lost session fails
                # its tickets without settling the batches that were answered).
                if ticket is not None and ticket.status != tk.COMPLETED:
                    tk.mark_unknown(ticket, operation, sent_at, self.settings.settle_time)
                    self.rows.store(ticket)
        self.journal.save([])
