"""The writes of a cycle on their way: lanes of tickets, batches taken from them in waves, and the
In Flight journal that makes every batch durable before it leaves.

Before a batch is sent, its tickets are noted in the journal (one entry a batch, durable when
the batch is sent: the glue commits before every call goes out); the step that stores the
batch's outcome in the rows takes the entry off. A ticket still noted when a cycle starts is
looked up on the platform before it is sent again (`connector.ticketing.flow`).

Bookkeeping stays off the critical path: while a wave of batches is on the wire, the pipeline
settles the wave before into the rows and notes and builds the waves after (`WAVES_AHEAD`), so
an answer sends the next wave at once. Batches in flight together always hold different tickets.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any
from typing import Protocol as TypingProtocol

from attrs import evolve, frozen

from connector.ticketing import cherwell as cw
from connector.ticketing import sfyc
from connector.ticketing import tickets as tk
from connector.ticketing.calls import PlatformCall
from connector.ticketing.cherwell import Metadata
from connector.ticketing.operations import ItemResult, Operation, Operations, Outcome
from connector.ticketing.outage import wave_down
from connector.ticketing.rows import CycleRows
from connector.ticketing.session import Flow, PlatformClient, SessionLost, WorkWhileOut, run_to_end
from connector.ticketing.tickets import Ticket

WAVES_AHEAD = 2  # waves noted and built before they are sent

# An operation, the tickets of a write of it on its way, and when it was noted (just before it left).
InFlightEntry = tuple[str, tuple[str, ...], float]


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


class InFlight:
    """What the journal holds, by entry number; saved as a whole (one save a step)."""

    def __init__(self, journal: Journal, now: Callable[[], float]) -> None:
        self.journal, self.now = journal, now
        self._entries: dict[int, InFlightEntry] = {}
        self._numbered = 0

    def note(self, operation: str, tickets: Sequence[Ticket]) -> int:
        """A journal entry for a batch (the caller saves the journal)."""
        self._numbered += 1
        self._entries[self._numbered] = (operation, tuple(t.key for t in tickets), self.now())
        return self._numbered

    def sent_at(self, entry: int) -> float:
        """When the batch of `entry` was noted: it left right after, with the step's commit."""
        return self._entries[entry][2]

    def drop(self, entry: int) -> None:
        del self._entries[entry]

    def save(self) -> None:
        self.journal.save(list(self._entries.values()))


@frozen
class BuiltRequest:
    """A batch's request, built ahead while the wave before was on the wire."""

    metadata: Metadata | None  # the ids it was built with (None: SFyC's, built without any)
    call: PlatformCall
    context: Any  # what reading its answer needs (the saves, the orders)


@frozen
class Batch:
    """Up to Max Tickets Per Request tickets at one operation, sent as one request."""

    operation: str
    tickets: tuple[Ticket, ...]
    entry: int  # its In Flight journal entry
    request: BuiltRequest | None = None
    outcome: Outcome | SessionLost | None = None  # None until its answer is read


Wave = list[Batch]  # batches in flight together (at most Max Concurrent Requests)
Taken = list[tuple[str, list[Ticket]]]  # a wave's tickets as the lanes give them, not noted yet

# Which queued batches go first when several could: those that finish tickets.
WAVE_PRIORITY = (tk.UPDATE_TICKET_OT, tk.CREATE_OT, tk.CREATE_TICKET, tk.ADD_NOTE)
# The operations whose tickets may still move on to each operation (a node's waiters become notes
# once their creator has its incident).
_UPSTREAM = {
    tk.CREATE_TICKET: (),
    tk.ADD_NOTE: (tk.CREATE_TICKET,),
    tk.CREATE_OT: (tk.CREATE_TICKET,),
    tk.UPDATE_TICKET_OT: (tk.CREATE_TICKET, tk.CREATE_OT),
}


class Lanes:
    """The tickets still to send, one queue per operation, taken in batches.

    A batch is full (Max Tickets Per Request) unless nothing more can join its queue: no ticket
    is queued or in flight at an operation upstream of it. So a drain makes the least requests
    whatever order its batches come back in. `chained`: a ticket whose batch is settled joins the
    queue of the operation it is now at (Max Concurrent Requests above 1); otherwise each stage
    sends only what was ready when it began.
    """

    def __init__(self, rows: CycleRows, operations: Sequence[str], *, chained: bool) -> None:
        self.rows = rows
        self.chained = chained
        self.batch = rows.settings.batch_size
        self.queues: dict[str, deque[Ticket]] = {name: deque(rows.at(name)) for name in operations}
        self.unsettled: Counter[str] = Counter()  # batches taken and not settled yet

    def take(self, width: int) -> Taken:
        wave: Taken = []
        for name, queue in self.queues.items():
            while queue and len(wave) < width:
                if len(queue) < self.batch and not self._upstream_done(name):
                    break  # more will come: wait for a full batch
                wave.append((name, [queue.popleft() for _ in range(min(self.batch, len(queue)))]))
                self.unsettled[name] += 1
        return wave

    def settled(self, name: str, tickets: Sequence[Ticket]) -> None:
        self.unsettled[name] -= 1
        if not self.chained:
            return
        finished = self.rows.finished
        for ticket in tickets:
            queue = self.queues.get(ticket.operation)
            if queue is not None and ticket.live and ticket.key not in finished:
                queue.append(ticket)

    def _upstream_done(self, name: str) -> bool:
        return not any(self.queues.get(up) or self.unsettled[up] for up in _UPSTREAM[name])


class Pipeline:
    """Sends the lanes' batches in waves of up to Max Concurrent Requests, and settles them."""

    def __init__(
        self,
        rows: CycleRows,
        operations: Operations,
        platform: PlatformClient,
        in_flight: InFlight,
        work: WorkWhileOut,
    ) -> None:
        self.rows, self.operations, self.platform, self.in_flight = rows, operations, platform, in_flight
        self.work = work  # done while the next round is on the wire (`session.with_work_while_out`)

    def send(self, lanes: Lanes) -> Flow[None]:
        """Send the lanes' batches in waves of up to Max Concurrent Requests.

        The next wave is composed, noted and built while this one is on the wire (so that this
        one's answer sends it at once, with nothing left to commit first), and this one is
        settled while the next one is out. A wave composed ahead holds only tickets that were
        queued by then: one settled meanwhile joins the wave after.
        """
        width = self.rows.settings.concurrency
        prepared: deque[Wave] = deque()  # waves composed ahead, oldest first
        try:
            ahead: Wave | None = None  # the next wave, when it was composed ahead
            taken = lanes.take(width)
            while ahead is not None or taken:
                names = [b.operation for b in ahead] if ahead is not None else [name for name, _ in taken]
                if any(self.operations.specs[name].cherwell for name in names):
                    yield from self.platform.prepare()
                # Durable before the request leaves (the glue commits before each call): a crash from
                # here on makes the next cycle look the write up instead of sending it again.
                wave = ahead if ahead is not None else self._note(taken)
                self.work.add(partial(self._compose_ahead, lanes, width, prepared))
                answered = yield from self._send_wave(wave)
                # A batch whose session was lost keeps its journal entry (its write may have happened:
                # the next cycle looks it up); the others are settled whatever happened to it.
                done = [batch for batch in answered if not isinstance(batch.outcome, SessionLost)]
                # Settled while the next wave is on the wire (its tickets are others); the last wave,
                # or one cut short by an error, in the `finally`.
                self.work.add(partial(self._settle_wave, lanes, done))
                lost = next((b.outcome for b in answered if isinstance(b.outcome, SessionLost)), None)
                if lost is not None:
                    raise lost
                if not prepared:
                    # The answers came before the work was done (or nothing was queued ahead, and
                    # this wave's settling may queue some): do it now.
                    self.work.drain()
                ahead, taken = (prepared.popleft(), []) if prepared else (None, lanes.take(width))
        finally:
            self.work.drain()  # every outcome settled before anything else looks at the rows

    def _send_wave(self, wave: Wave) -> Flow[list[Batch]]:
        flows = [self._send_batch(batch) for batch in wave]
        if len(flows) == 1:
            outcomes: Sequence[Any] = [(yield from run_to_end(flows[0]))]
        else:
            outcomes = yield from self.platform.gather(flows)
        down = wave_down(outcomes)
        if down is not None:
            # The platform is down for everyone (`connector.ticketing.outage`): no ticket counts a
            # retry, and the batches stay in the journal, looked up before they are sent again.
            lost = SessionLost(down.message)
            outcomes = [lost] * len(outcomes)
        return [evolve(batch, outcome=outcome) for batch, outcome in zip(wave, outcomes, strict=True)]

    def _note(self, taken: Taken) -> Wave:
        """The taken batches noted in the journal (one save for the whole wave)."""
        wave = [Batch(name, tuple(chunk), self.in_flight.note(name, chunk)) for name, chunk in taken]
        self.in_flight.save()
        return wave

    def _compose_ahead(self, lanes: Lanes, width: int, prepared: deque[Wave]) -> None:
        """The next waves (WAVES_AHEAD), noted in the journal and built, while one is on the wire.

        Two, not one: when an answer is handled before this work (the element is busy, or the
        machine runs it late), the wave after is still ready to go at once.
        """
        composed: list[Taken] = []
        while len(prepared) + len(composed) < WAVES_AHEAD and (taken := lanes.take(width)):
            composed.append(taken)
        if not composed:
            return
        noted = [[Batch(name, tuple(chunk), self.in_flight.note(name, chunk)) for name, chunk in t] for t in composed]
        self.in_flight.save()  # once: it holds every batch in flight
        md = self.platform.session.metadata
        for wave in noted:
            prepared.append([self._built(batch, md) for batch in wave])

    def _built(self, batch: Batch, md: Metadata | None) -> Batch:
        operation = self.operations.specs[batch.operation]
        if operation.cherwell and md is None:
            return batch  # the ids are being resolved again: built when sent
        # Built with the ids `_send_batch` will check against: SFyC's calls are built without any.
        ids = md if operation.cherwell else None
        call, context = operation.build(batch.tickets, ids)
        return evolve(batch, request=BuiltRequest(ids, call, context))

    def _settle_wave(self, lanes: Lanes, done: list[Batch]) -> None:
        for batch in done:
            assert batch.outcome is not None and not isinstance(batch.outcome, SessionLost)
            sent_at = self.in_flight.sent_at(batch.entry)
            promoted = self.operations.settle(batch.operation, batch.tickets, batch.outcome, sent_at)
            self.in_flight.drop(batch.entry)  # its outcome is in the rows now, in the same step
            lanes.settled(batch.operation, [*batch.tickets, *promoted])  # waiters let through: notes next
        self.in_flight.save()

    def _send_batch(self, batch: Batch) -> Flow[Sequence[ItemResult]]:
        """One batch's request, built ahead when it could be; its results."""
        operation: Operation = self.operations.specs[batch.operation]
        ahead = [batch.request] if batch.request is not None else []
        read_with: list[Any] = []

        def build(md: Metadata | None) -> PlatformCall:
            built = ahead.pop() if ahead else None  # once: a retry (after a 401) is built again
            if built is not None and built.metadata is md:
                call, context = built.call, built.context
            else:
                call, context = operation.build(batch.tickets, md)
            read_with[:] = [context]
            return call

        if operation.cherwell:
            return (
                yield from self.platform.call(
                    lambda token, md: cw.with_token(build(md), token),
                    lambda reply, md: operation.read(reply, read_with[0]),
                )
            )
        reply = yield from self.platform.send(sfyc.with_key(build(None), self.rows.settings.api_key))
        return operation.read(reply, read_with[0])
