"""Reads of the platform: the open incidents, and the look-ups of what an unanswered write did.

A ticket with Outcome Unknown = 1 is looked up before it is ever sent again: incidents by
ExternalID, notes by the "[ticket id]" their Details start with, work orders by referencia.
What is found is adopted instead of created twice; what is definitely not there may be sent
(again). A look-up that fails leaves the outcome unknown and counts one failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from connector.ticketing import cherwell as cw
from connector.ticketing import duplicates, sfyc
from connector.ticketing import tickets as tk
from connector.ticketing.cherwell import Metadata, PlatformError, Record
from connector.ticketing.decision import Incident, OpenIncidents
from connector.ticketing.duplicates import first_and_extras
from connector.ticketing.outage import platform_failure
from connector.ticketing.rows import CycleRows
from connector.ticketing.session import Flow, PlatformClient, SessionLost, all_done
from connector.ticketing.tickets import Ticket

T = TypeVar("T")


def _rec_id(record: Record) -> str:
    return record.get("RecID") or record.rec_id


LOOKUP_CHUNK = 200  # tickets per reconciliation look-up (SFyC's limit; searches are paged anyway)


class Lookups:
    """The cycle's reads, and what their answers do to the rows."""

    def __init__(self, rows: CycleRows, platform: PlatformClient, incidents: OpenIncidents) -> None:
        self.rows, self.platform, self.incidents = rows, platform, incidents

    def load_open_incidents(self) -> Flow[None]:
        """The open incidents of our categories; a ticket id with two of them is reported."""
        records = yield from self._search(
            lambda md: md.incident, cw.existing_incidents_filters(), cw.INCIDENT_RESULT_FIELDS
        )
        for record in records:
            self.incidents.add(Incident.from_record(record))
        # An incident that has the ticket's OT stays: the twin without it is the one to close.
        held = {t.key: t.platform_ticket for t in self.rows.tickets.values() if t.platform_ticket and t.ot_number}
        self._report(self.incidents.duplicates(held))

    def watch(self, watched: list[Ticket]) -> Flow[None]:
        """Re-sent tickets' notes and OTs (a late twin of the write may land after the re-send):
        a ticket with two notes, or an incident with two OTs for it, is reported. One look-up a
        chunk; a failure leaves it to the next cycle (only a check)."""
        noted = [t for t in watched if t.platform_ticket and not t.ot_number and t.operation == tk.NO_OPERATION]
        ordered = [t for t in watched if t.platform_ticket and t.ot_number]
        for tickets, find in ((noted, self._find_notes), (ordered, self._find_orders)):
            for start in range(0, len(tickets), LOOKUP_CHUNK):
                try:
                    yield from find(tickets[start : start + LOOKUP_CHUNK])
                except PlatformError:
                    return

    def reconcile_notes(self) -> Flow[None]:
        yield from self._reconcile(self.rows.at(tk.ADD_NOTE), self._find_notes, self._note_found)

    def reconcile_orders(self) -> Flow[None]:
        yield from self._reconcile(self.rows.at(tk.CREATE_OT), self._find_orders, self._order_found)

    def reconcile_incidents(self, adopt: Callable[[Ticket, Incident], None]) -> Flow[None]:
        yield from self._reconcile(self.rows.at(tk.CREATE_TICKET), self._find_incidents, adopt)

    def _reconcile(
        self,
        candidates: list[Ticket],
        find: Callable[[list[Ticket]], Flow[dict[str, T]]],
        found: Callable[[Ticket, T], None],
    ) -> Flow[None]:
        """For tickets with Outcome Unknown, or sent again after one (Sent At kept): adopt what the
        platform has, clear the flag otherwise. A write held past the Settle Time may land while
        its ticket waits to be sent again (a failure, a Retry Delay): looked up once more, it is
        adopted instead of made twice."""
        unsure = [t for t in candidates if t.outcome_unknown or t.sent_at]
        for start in range(0, len(unsure), LOOKUP_CHUNK):
            chunk = unsure[start : start + LOOKUP_CHUNK]
            try:
                hits = yield from find(chunk)
            except PlatformError as error:  # still unknown: counted, and looked up again next time
                if platform_failure(error):  # the platform's, not the tickets' (`outage`)
                    raise SessionLost(f"Look-up failed: {error.message}") from None
                self.rows.fail_together(chunk, f"look-up failed: {error.message}")
                continue
            for ticket in chunk:
                hit = hits.get(ticket.key)
                if hit is not None:
                    found(ticket, hit)
                else:
                    tk.settle_known(ticket)  # definitely not there: it may be sent (again)
                    self.rows.store(ticket)

    def _find_incidents(self, chunk: list[Ticket]) -> Flow[dict[str, Incident]]:
        # Any status: an incident created for us may have been resolved since.
        known = self.incidents.by_external
        filters = [cw.Filter(field="ExternalID", value=t.key) for t in chunk if t.key not in known]
        hits = {t.key: known[t.key] for t in chunk if t.key in known}
        if filters:
            found: dict[str, list[Incident]] = {}
            for record in (yield from self._search(lambda md: md.incident, filters, cw.INCIDENT_RESULT_FIELDS)):
                incident = Incident.from_record(record)
                found.setdefault(incident.external_id, []).append(incident)
            for external_id, same in found.items():  # the first, the lowest IncidentID (`duplicates`)
                hits[external_id] = first_and_extras(same, lambda i: i.incident_id)[0]
            self._report(duplicates.find(duplicates.INCIDENT, found, lambda i: i.incident_id))
        return hits

    def _find_notes(self, chunk: list[Ticket]) -> Flow[dict[str, Record]]:
        filters = [cw.Filter(field="Details", operator="contains", value=f"[{t.key}]") for t in chunk]
        found: dict[str, list[Record]] = {}
        wanted = {t.key for t in chunk}
        for record in (yield from self._search(lambda md: md.note, filters, cw.NOTE_RESULT_FIELDS)):
            # "contains" also matches a note that merely quotes the id; ours start with it.
            details = record.get("Details")
            if details.startswith("[") and (key := details[1:].split("]", 1)[0]) in wanted:
                found.setdefault(key, []).append(record)
        self._report(duplicates.find(duplicates.NOTE, found, _rec_id))
        return {key: first_and_extras(same, _rec_id)[0] for key, same in found.items()}

    def _find_orders(self, chunk: list[Ticket]) -> Flow[dict[str, sfyc.WorkOrder]]:
        incidents = list(dict.fromkeys(t.platform_ticket for t in chunk if t.platform_ticket))
        if not incidents:
            return {}  # no incident, no OT: nothing to ask SFyC
        api_key = self.rows.settings.api_key

        def once() -> Flow[list[sfyc.WorkOrder]]:
            return sfyc.parse_lookup((yield from self.platform.send(sfyc.lookup_call(api_key, incidents))))

        wanted = {(t.platform_ticket, t.key) for t in chunk}
        orders = yield from self.platform.retrying(once)
        found: dict[str, list[sfyc.WorkOrder]] = {}
        for order in orders:
            if (order.ticket, order.referencia) in wanted and order.ot:
                found.setdefault(order.referencia, []).append(order)
        held = {t.key: t.ot_number for t in chunk if t.ot_number}
        self._report(duplicates.find(duplicates.OT, found, lambda o: o.ot, held))
        return {referencia: first_and_extras(same, lambda o: o.ot)[0] for referencia, same in found.items()}

    def _report(self, found: list[duplicates.Duplicate]) -> None:
        known = set(self.rows.report.duplicates)
        self.rows.report.duplicates.extend(d for d in found if d not in known)

    def _note_found(self, ticket: Ticket, record: Record) -> None:
        self.rows.report.found_by_lookup += 1
        tk.found(ticket)
        self.rows.complete(ticket)
        self.rows.store(ticket)

    def _order_found(self, ticket: Ticket, order: sfyc.WorkOrder) -> None:
        self.rows.report.found_by_lookup += 1
        tk.found(ticket)
        tk.ordered(ticket, order.ot)
        self.rows.store(ticket)

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
        width = self.rows.settings.concurrency
        if more and width > 1 and first.total and not self.platform.in_wave:
            rest = list(range(2, -(-first.total // cw.PAGE_SIZE) + 1))
            for start in range(0, len(rest), width):
                numbers = rest[start : start + width]
                pages = all_done((yield from self.platform.gather([page(n) for n in numbers])))
                for found in pages:
                    records.extend(found.records)
                number, more = numbers[-1], pages[-1].has_more
        while more:  # one page at a time (or records were added while the pages were read)
            number += 1
            found = yield from page(number)
            records.extend(found.records)
            more = found.has_more
        return records
