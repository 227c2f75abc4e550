"""The cycle's tickets: loaded once, changed through `connector.ticketing.tickets`, written back.

Every module of the flow works on the tickets through one `CycleRows`: which are ready, which
failed in this cycle (not tried again before the next), and how a change reaches the table
(one write of the flow's cells, Last Update = now). A failure's reason is scrubbed of every
form of every secret before it reaches a row (`connector.ticketing.scrub`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from connector.engine.table import Table
from connector.ticketing import tickets as tk
from connector.ticketing.scrub import Scrubber
from connector.ticketing.session import CycleReport, Failure, FlowSettings, PlatformSession
from connector.ticketing.tickets import Ticket
from connector.ticketing.waits import Waits


class CycleRows:
    """The tickets of one cycle, and the report of what happened to them."""

    def __init__(
        self,
        table: Table,
        settings: FlowSettings,
        session: PlatformSession,
        now: Callable[[], float],
        rng: random.Random,
        report: CycleReport,
        waits: Waits | None = None,
    ) -> None:
        self.settings, self.session, self.now, self.rng, self.report = settings, session, now, rng, report
        # Next Try waited on the monotonic clock (without one given: on `now`, as before).
        self.waits = waits if waits is not None else Waits(now, now)
        # Built once per cycle; the client adds each token it gets (connector.ticketing.scrub).
        self.scrub = Scrubber.of(
            username=settings.username,
            password=settings.password,
            api_key=settings.api_key,
            tokens=(session.access_token, session.refresh_token),
        )
        self.tickets = tk.load_tickets(table)  # every row, table order: the one full read
        self._write = tk.writer(table)
        self.ready: dict[str, Ticket] = {}
        self.finished: set[str] = set()  # failed in this cycle: not tried again before the next
        self.last_reason = ""
        for ticket in self.tickets.values():
            if ticket.unreadable:  # a poison cell: that ticket in Error with the reason, the others go on
                self.report.errors += 1
                self.report.unreadable.append(f"{ticket.key}: {ticket.unreadable}")
                self.store(ticket)

    def pick_ready(self, start: float) -> None:
        """The tickets this cycle works on: live, their Next Try passed (on the monotonic clock:
        `connector.ticketing.waits`), and an unknown outcome settled (Sent At + Settle Time, by
        `start`; Next Try says so too, unless Retry Errors reset it)."""
        settle = self.settings.settle_time
        now = self.waits.monotonic()
        self.ready = {
            key: t
            for key, t in self.tickets.items()
            if t.live and self.waits.ready(key, t.next_try, now) and t.settled_by(settle) <= start
        }

    def at(self, operation: str) -> list[Ticket]:
        """Ready tickets now at `operation` that have not failed in this cycle, in table order."""
        finished, live = self.finished, tk.LIVE_STATUSES  # a cycle walks every ready ticket here, per stage
        return [
            t for t in self.ready.values() if t.operation == operation and t.status in live and t.key not in finished
        ]

    def pending(self, ticket: Ticket) -> bool:
        """Ready, still live, and not failed in this cycle: the flow may still work on it."""
        return ticket.key in self.ready and ticket.live and ticket.key not in self.finished

    def store(self, ticket: Ticket) -> None:
        self._write(ticket, self.now())
        self.waits.note(ticket.key, ticket.next_try)

    def complete(self, ticket: Ticket) -> None:
        tk.advance(ticket, tk.NO_OPERATION)
        self.report.completed += 1

    def fail_together(
        self, tickets: Iterable[Ticket], reason: str, *, outcome_unknown: bool | None = None, sent_at: float = 0.0
    ) -> None:
        """Tickets that failed in one request: one jitter, so they are retried together, in one batch."""
        together = tk.jitter(self.rng)
        for ticket in tickets:
            self.fail(ticket, reason, outcome_unknown=outcome_unknown, jitter=together, sent_at=sent_at)

    def fail(
        self,
        ticket: Ticket,
        reason: str,
        *,
        outcome_unknown: bool | None = None,
        jitter: float | None = None,
        sent_at: float = 0.0,
    ) -> None:
        """One failure at the ticket's current operation; `outcome_unknown` None keeps the flag,
        `jitter` None draws one for this ticket alone (an item failure). A write sent at `sent_at`
        (0: not a write) whose outcome is unknown waits out the settle time before its look-up."""
        s = self.settings
        if jitter is None:
            jitter = tk.jitter(self.rng)
        in_error = tk.fail(
            ticket,
            self.scrub(reason),
            now=self.now(),
            max_retries=s.max_retries,
            retry_delay=s.retry_delay,
            jitter=jitter,
            outcome_unknown=outcome_unknown,
        )
        if outcome_unknown and sent_at:
            tk.sent_unknown(ticket, sent_at, s.settle_time)
        if in_error:
            self.report.errors += 1
        self.report.failed += 1
        self.report.failures.append(
            Failure(
                key=ticket.key,
                operation=ticket.operation,
                reason=ticket.last_error.removeprefix(f"{ticket.operation}: "),
                tries=ticket.retries,
                in_error=in_error,
            )
        )
        self.finished.add(ticket.key)
        self.last_reason = ticket.last_error
        self.store(ticket)
