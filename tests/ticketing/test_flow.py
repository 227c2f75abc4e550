"""The processing flow, driven against the fake platform under a fake clock.

A cycle is a generator of `Round`s of `PlatformCall`s: the tiny driver below hands each call to
`FakePlatform.call` and sends the replies back until the cycle returns its report, keeping to
the table of `connector.ticketing.states`. A "crash" is a
cycle dropped at one of its yields: the table as it is then is what survived, exactly what the
glue has committed before sending that call.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from attrs import define, field
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connector.engine.table import Table
from connector.ticketing import cherwell as cw
from connector.ticketing import flow as flow_module
from connector.ticketing import sfyc, ticket_table
from connector.ticketing import tickets as tk
from connector.ticketing.calls import NOT_YET, PlatformCall, PlatformReply, Replies, RoundKind
from connector.ticketing.cherwell import PlatformError
from connector.ticketing.fake import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    FakePlatform,
    Faults,
)
from connector.ticketing.flow import CycleReport, FlowSettings, MemoryJournal, PlatformSession, run_cycle
from connector.ticketing.session import WorkWhileOut
from connector.ticketing.states import EVENT_OF_ROUND, Event, Phase, step_to
from tests.strategies import FlowStep, flow_add_ticket, flow_schedules, flow_ticket_plans, flow_ticket_table

START = 1_795_651_200.0  # 2026-11-26T00:00:00Z


class Clock:
    def __init__(self) -> None:
        self.time = START

    def __call__(self) -> float:
        return self.time


def make_settings(**changes: object) -> FlowSettings:
    values: dict[str, object] = dict(
        max_retries=3,
        batch_size=50,
        retry_delay=5.0,
        client_id=DEFAULT_CLIENT_ID,
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        api_key=DEFAULT_API_KEY,
    )
    return FlowSettings(**(values | changes))  # type: ignore[arg-type]


@define
class Run:
    """One element's worth of state: its table, its platform session, the platform, the clock."""

    platform: FakePlatform
    clock: Clock
    settings: FlowSettings = field(factory=make_settings)
    table: Table = field(factory=flow_ticket_table)
    session: PlatformSession = field(factory=PlatformSession)
    rng: random.Random = field(factory=lambda: random.Random(5))
    timeout: float | None = 30.0
    faults_for: Callable[[PlatformCall], Faults | None] | None = None  # faults for chosen calls only
    before: Callable[[PlatformCall], None] | None = None  # e.g. revoke tokens, move the clock
    reply_for: Callable[[PlatformCall], PlatformReply | None] | None = None  # a made-up answer
    sent: list[PlatformCall] = field(factory=list)
    journal: MemoryJournal = field(factory=MemoryJournal)  # durable, like the table
    # A SEND_AND_WORK round's replies resume the flow before its work is done (the element's
    # answer came in before its deferred step), instead of after it.
    answers_first: bool = False
    rounds: list[list[str]] = field(factory=list)  # the sessions of each round of calls sent together

    def add(self, key: str, category: str = "SNR", node: str = "N-1", **cells: object) -> None:
        flow_add_ticket(self.table, key, category, node, received=self.clock(), **cells)  # type: ignore[arg-type]

    def deliver(self, call: PlatformCall) -> PlatformReply:
        self.sent.append(call)
        if self.before:
            self.before(call)
        made_up = self.reply_for(call) if self.reply_for else None
        if made_up is not None:
            return made_up
        special = self.faults_for(call) if self.faults_for else None
        if special is None:
            return self.platform.call(call, timeout=self.timeout)
        usual, self.platform.faults = self.platform.faults, special
        try:
            return self.platform.call(call, timeout=self.timeout)
        finally:
            self.platform.faults = usual

    def cycle(
        self, *, crash_after: int | None = None, crash_at: tuple[str, int] | None = None, applied: bool = False
    ) -> CycleReport | None:
        """One cycle, or a crash: dropped once `crash_after` calls have been answered, or at the
        n-th call of a session (`crash_at`); the call it had yielded reaches the platform only if
        `applied`. None when it crashed."""
        flow = run_cycle(self.table, self.settings, self.session, self.clock, self.rng, self.journal)
        answered = 0
        seen: Counter[str] = Counter()
        collected: Replies = ()  # the replies of the SEND_AND_WORK round out, once the flow collects
        phase = step_to(Phase.IDLE, Event.START)  # the driver keeps to connector.ticketing.states
        try:
            sent = next(flow)
            while True:
                phase = step_to(phase, EVENT_OF_ROUND[sent.kind])
                if sent.kind is RoundKind.COLLECT:
                    phase = step_to(phase, Event.REPLIES)
                    sent, collected = flow.send(collected), ()
                    continue
                self.rounds.append([one.session for one in sent.calls])
                for one in sent.calls:
                    seen[one.session] += 1
                if (crash_after is not None and answered >= crash_after) or (
                    crash_at is not None and any(crash_at == (one.session, seen[one.session]) for one in sent.calls)
                ):
                    if applied:
                        for one in sent.calls:
                            self.deliver(one)  # the requests went out; the process died before the answers
                    return None
                replies = tuple(self.deliver(one) for one in sent.calls)
                answered += len(replies)
                if sent.kind is RoundKind.SEND_AND_WORK and not self.answers_first:
                    collected = replies  # on their way: the flow works until it collects
                    phase = step_to(phase, Event.CONTINUE)
                    sent = flow.send(NOT_YET)
                else:  # a plain round, or answers back before the flow got to its work
                    phase = step_to(phase, Event.REPLIES)
                    sent = flow.send(replies)
        except StopIteration as done:
            step_to(phase, Event.END)
            return done.value

    def restart(self) -> None:
        """A new process: the table survives, the in-memory session does not."""
        self.session = PlatformSession()

    def drain(self, max_cycles: int = 60) -> list[CycleReport]:
        """Cycles until no ticket is left to work on, moving the clock to each retry time."""
        reports: list[CycleReport] = []
        for _ in range(max_cycles):
            if not ticket_table.has_ready_work(self.table, self.clock()):
                wake = ticket_table.next_wake(self.table, self.clock())
                if wake is None:
                    return reports
                self.clock.time = wake
            report = self.cycle()
            assert report is not None
            reports.append(report)
        pytest.fail(f"still not drained after {max_cycles} cycles: {ticket_table.counts(self.table)}")

    def row(self, key: str) -> dict[str, Any]:
        return self.table.row(key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform(clock: Clock) -> FakePlatform:
    return FakePlatform(seed=7, clock=clock)


@pytest.fixture
def run(platform: FakePlatform, clock: Clock) -> Run:
    return Run(platform, clock)


def once(session: str, faults: Faults) -> Callable[[PlatformCall], Faults | None]:
    """`faults` for the first call of `session` only."""
    used: list[bool] = []

    def pick(call: PlatformCall) -> Faults | None:
        if call.session == session and not used:
            used.append(True)
            return faults
        return None

    return pick


def note_keys(platform: FakePlatform) -> Counter[str]:
    """Notes per WM ticket id (the "[id]" their Details start with)."""
    return Counter(n.details[1:].split("]", 1)[0] for n in platform.notes if n.details.startswith("["))


def assert_exactly_once(run: Run, *, all_completed: bool = True) -> None:
    """No incident, note or OT twice; with all_completed, every ticket done and consistent."""
    platform = run.platform
    twice = {ext: len(found) for ext, found in platform.incidents_by_external_id().items() if len(found) > 1}
    assert not twice, f"incidents created twice: {twice}"
    orders = Counter(o.ticket for o in platform.work_orders)
    assert all(n == 1 for n in orders.values()), f"incidents with several OTs: {orders}"
    notes = note_keys(platform)
    assert all(n == 1 for n in notes.values()), f"notes added twice: {notes}"
    ours = Counter(tk.node_key(i.category, i.node) for i in platform.incidents if i.source == cw.SOURCE and i.is_open)
    assert all(n == 1 for n in ours.values()), f"a node got two open incidents: {ours}"
    if not all_completed:
        return
    for key, row in run.table.rows():
        assert row[tk.STATUS] == tk.COMPLETED, (key, row)
        incident = platform.incident(str(row[tk.PLATFORM_TICKET]))
        assert incident is not None, key
        if incident.external_id == key:  # created (or adopted): its OT is on the incident
            (order,) = platform.orders_for(incident.incident_id)
            assert order.referencia == key
            assert row[tk.OT_NUMBER] == order.ot == incident.ot_number
        else:
            assert notes[key] == 1, key
            assert any(n.details.startswith(f"[{key}]") for n in platform.notes_for(incident.rec_id))
        assert row[tk.OUTCOME_UNKNOWN] == 0


def fill(run: Run, tickets: int, note_share: float = 0.3) -> int:
    """`tickets` tickets on distinct nodes, the first `note_share` of them on nodes that have an
    open incident (they become notes). Returns how many notes."""
    notes = round(tickets * note_share)
    for i in range(tickets):
        node = f"NODO-{i:05d}"
        if i < notes:
            run.platform.add_incident("SNR", node)
        run.add(f"WM-{i:06d}", "SNR", node, summary=f"SNR bajo en {node}", description="detalle")
    return notes


# == request builders and answer parsers =======================================================


def test_login_and_refresh_are_form_encoded_without_leaking_the_password_elsewhere() -> None:
    call = cw.login_call("client", "user", "p&ss=word")
    assert (call.session, call.method, call.path) == ("login", "POST", "/CherwellAPI/token")
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.body == "grant_type=password&client_id=client&username=user&password=p%26ss%3Dword"
    refresh = cw.refresh_call("client", "rt-1")
    assert refresh.body == "grant_type=refresh_token&client_id=client&refresh_token=rt-1"
    assert "rt-1" not in repr(cw.Token(access_token="at", refresh_token="rt-1", expires_in=1))


def test_a_token_error_sent_as_a_json_string_is_read_like_an_object() -> None:
    inner = json.dumps({"error": "invalid_grant", "error_description": "Could not login"})
    for body in (inner, json.dumps(inner)):
        with pytest.raises(PlatformError) as caught:
            cw.parse_token(PlatformReply(status=400, reason="Bad Request", body=body))
        assert caught.value.message == "Cherwell invalid_grant: Could not login"
        assert not caught.value.maybe_applied


def test_replies_are_classified_401_5xx_no_answer_and_unreadable_success() -> None:
    denied = PlatformReply(status=401, body=json.dumps({"Message": "Authorization has been denied for this request."}))
    with pytest.raises(PlatformError) as caught:
        cw.read_reply(denied, "Cherwell")
    assert caught.value.unauthorized
    assert caught.value.message == "Cherwell: Authorization has been denied for this request."
    html = PlatformReply(status=503, reason="Service Unavailable", body="<html><h1>Service Unavailable</h1></html>")
    with pytest.raises(PlatformError) as caught:
        cw.read_reply(html, "Cherwell")
    assert caught.value.maybe_applied and caught.value.message == "Cherwell HTTP 503 Service Unavailable"
    with pytest.raises(PlatformError) as caught:
        cw.read_reply(PlatformReply(status=0, error="timeout"), "SFyC")
    assert caught.value.maybe_applied and caught.value.message == "SFyC: no answer (timeout)"
    with pytest.raises(PlatformError) as caught:
        cw.read_reply(PlatformReply(status=0, error="connect"), "SFyC")
    assert not caught.value.maybe_applied  # never reached the server
    with pytest.raises(PlatformError) as caught:  # a 200 cut in half: the work may have been done
        cw.read_reply(PlatformReply(status=200, body='{"responses": [{"busOb'), "Cherwell")
    assert caught.value.maybe_applied
    stale = PlatformReply(
        status=500,
        body=json.dumps(
            {
                "errorCode": "GENERALFAILURE",
                "hasError": True,
                "errorMessage": "Business object with 12ab not found\r\nParameter name: BusObId",
            }
        ),
    )
    with pytest.raises(PlatformError) as caught:
        cw.read_reply(stale, "Cherwell")
    assert caught.value.stale_ids
    assert (
        caught.value.message == "Cherwell GENERALFAILURE: Business object with 12ab not found Parameter name: BusObId"
    )


def metadata_of(platform: FakePlatform) -> cw.Metadata:
    ids = platform.bus_ob_ids
    return cw.Metadata(
        incident=cw.BusinessObject(
            name="Incident", bus_ob_id=ids["Incident"], field_ids=platform.field_ids("Incident")
        ),
        note=cw.BusinessObject(
            name="Journal - Note", bus_ob_id=ids["JournalNote"], field_ids=platform.field_ids("JournalNote")
        ),
    )


def test_metadata_finds_the_note_among_the_journal_group_members(platform: FakePlatform) -> None:
    token = cw.parse_token(platform.call(cw.login_call(DEFAULT_CLIENT_ID, DEFAULT_USERNAME, DEFAULT_PASSWORD)))
    journal = platform.call(cw.summary_call(token.access_token, "Journal"))
    assert cw.parse_summary(journal, "Journal", member="Journal - Note") == platform.bus_ob_ids["JournalNote"]
    unknown = platform.call(cw.summary_call(token.access_token, "Problem"))  # 200 []
    with pytest.raises(PlatformError, match="does not exist"):
        cw.parse_summary(unknown, "Problem")


def test_search_and_save_bodies_use_the_platform_ids(platform: FakePlatform) -> None:
    md = metadata_of(platform)
    search = cw.search_call("tok", md.incident, cw.existing_incidents_filters(), cw.INCIDENT_RESULT_FIELDS, page=2)
    body = json.loads(search.body or "")
    category = md.incident.field_id("Category")
    assert body["busObId"] == md.incident.bus_ob_id and body["pageNumber"] == 2 and body["pageSize"] == 500
    assert [f["value"] for f in body["filters"] if f["fieldId"] == category] == ["Falla de Linea", "SNR"]
    assert len(body["fields"]) == 7 and search.headers["Authorization"] == "Bearer tok"
    saves = [cw.Save(bo=md.incident, rec_id="abc", values={"OTNumber": "OT-1"})]
    request = json.loads(cw.save_batch_call("tok", "update_ticket_ot", saves).body or "")["saveRequests"][0]
    assert request["busObRecId"] == "abc"
    assert request["fields"] == [
        {"dirty": True, "fieldId": md.incident.field_id("OTNumber"), "name": "OTNumber", "value": "OT-1"}
    ]


def test_save_results_come_in_request_order_with_the_platforms_item_message(platform: FakePlatform) -> None:
    md = metadata_of(platform)
    token = cw.parse_token(platform.call(cw.login_call(DEFAULT_CLIENT_ID, DEFAULT_USERNAME, DEFAULT_PASSWORD)))
    good = {"Category": "SNR", "ShortDescription": "a", "Priority": "2", "ExternalID": "WM-1"}
    saves = [
        cw.Save(bo=md.incident, values=good),
        cw.Save(bo=md.incident, values=good | {"ShortDescription": ""}),
        cw.Save(bo=md.incident, values=good | {"ExternalID": "WM-3"}),
    ]
    results = cw.parse_save_batch(platform.call(cw.save_batch_call(token.access_token, "create_ticket", saves)), saves)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].message.startswith("Cherwell FIELDVALIDATIONERROR: Short Description is required")
    assert "ShortDescription" in results[1].message  # the field, by name not id
    assert platform.incident(results[2].public_id).external_id == "WM-3"  # type: ignore[union-attr]
    with pytest.raises(PlatformError, match="2 results for 3"):  # never guess which item a result is
        cw.parse_save_batch(PlatformReply(status=200, body=json.dumps({"responses": [{}, {}]})), saves)


def test_sfyc_lote_lookup_and_error_messages(platform: FakePlatform) -> None:
    orders = [
        sfyc.OrderRequest(ticket="999", referencia="WM-1", categoria="SNR", nodo="N", descripcion="d", prioridad=2)
    ]
    call = sfyc.create_orders_call("key", orders)
    assert json.loads(call.body or "")["ordenes"][0]["prioridad"] == 2
    assert call.headers["X-Api-Key"] == "key" and call.session == "create_ot"
    assert sfyc.lookup_call("key", ["1", "2 3"]).path == "/SFyC/api/v1/ordenes-trabajo?ticket=1&ticket=2+3"
    (result,) = sfyc.parse_create_orders(platform.call(sfyc.create_orders_call(DEFAULT_API_KEY, orders)), orders)
    assert result.message == "SFyC TICKET_NO_EXISTE: El ticket 999 no existe en Cherwell"
    made_up = PlatformReply(
        status=200,
        body=json.dumps(
            {
                "resultados": [
                    {"ticket": "999", "ok": False, "codigo": "TICKET_INEXISTENTE", "mensaje": "ticket 999 no existe"}
                ]
            }
        ),
    )
    assert sfyc.parse_create_orders(made_up, orders)[0].message == "SFyC TICKET_INEXISTENTE: ticket 999 no existe"
    with pytest.raises(PlatformError) as caught:
        sfyc.parse_lookup(platform.call(sfyc.lookup_call("wrong-key", ["1"])))
    assert caught.value.unauthorized and "wrong-key" not in caught.value.message


# == the cycle: decisions and request counts ======================================================


def test_no_ready_ticket_means_no_request(run: Run) -> None:
    run.add("WM-1")
    run.table.set_row("WM-1", {tk.STATUS: tk.IN_PROGRESS, tk.NEXT_TRY: run.clock() + 60})
    report = run.cycle()
    assert report is not None and report.request_count == 0 and run.sent == []


@pytest.mark.parametrize("batch_size", [1, 7, 50, 200])
def test_exact_request_counts_per_batch_size(run: Run, batch_size: int) -> None:
    run.settings = make_settings(batch_size=batch_size)
    notes = fill(run, 60)
    creates = 60 - notes
    report = run.cycle()
    assert report is not None and report.result == "OK"
    per_batch = {"create_ticket": creates, "add_note": notes, "create_ot": creates, "update_ticket_ot": creates}
    expected = {"login": 1, "metadata": 4, "search": 1} | {s: math.ceil(n / batch_size) for s, n in per_batch.items()}
    assert report.requests == expected
    assert (report.tickets_created, report.notes_added, report.ots_created, report.completed) == (42, 18, 42, 60)
    assert_exactly_once(run)


def test_drain_of_1000_tickets_with_30_percent_notes_at_batch_size_50(run: Run) -> None:
    notes = fill(run, 1000)
    started = time.perf_counter()
    reports = run.drain()
    elapsed = time.perf_counter() - started
    assert len(reports) == 1
    # 1 login + 4 metadata + 1 search + 14 creates + 6 notes + 14 OTs + 14 updates
    assert reports[0].request_count == 54 == len(run.sent)
    assert reports[0].notes_added == notes == 300
    assert_exactly_once(run)
    print(f"\n1,000 tickets (30% notes) at batch size 50: {len(run.sent)} requests, {elapsed:.3f} s in process")


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("answers_first", [False, True])
def test_each_batch_request_is_built_once(
    run: Run, concurrency: int, answers_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches after an operation's first are built while the one before is on the wire; the
    request sent is that one, not built a second time (SFyC's were, for every Create OT)."""
    built: Counter[str] = Counter()

    def counting(module: Any, name: str, session: Callable[..., str]) -> None:
        real = getattr(module, name)

        def build(*args: Any) -> Any:
            built[session(*args)] += 1
            return real(*args)

        monkeypatch.setattr(module, name, build)

    counting(cw, "save_batch_call", lambda token, session, saves: session)
    counting(sfyc, "create_orders_call", lambda key, orders: "create_ot")
    run.settings = make_settings(batch_size=10, concurrency=concurrency)
    run.answers_first = answers_first
    fill(run, 95)
    report = run.cycle()
    assert report is not None and report.completed == 95
    writes = ("add_note", "create_ticket", "create_ot", "update_ticket_ot")
    assert {s: built[s] for s in writes} == {s: report.requests[s] for s in writes}


def test_the_open_incidents_are_read_page_by_page(run: Run) -> None:
    for i in range(1100):
        run.platform.add_incident("Falla de Linea", f"OLD-{i}")
    run.platform.add_incident("SNR", "N-1", status="Resolved")  # closed: not a note target
    run.add("WM-1", "Falla de Linea", "OLD-1099")  # on the last page
    run.add("WM-2", "SNR", "N-1")
    report = run.cycle()
    assert report is not None and report.requests["search"] == 3  # 500 + 500 + 100
    assert run.row("WM-1")[tk.PLATFORM_TICKET] == run.platform.incidents[1099].incident_id
    assert run.platform.incident(str(run.row("WM-2")[tk.PLATFORM_TICKET])).external_id == "WM-2"  # type: ignore[union-attr]


def test_note_create_and_adopt_decisions(run: Run) -> None:
    platform = run.platform
    snr = platform.add_incident("SNR", "N-1", status="Assigned")
    adopted = platform.add_incident("SNR", "N-2", external_id="WM-adopt")  # created for it, answer lost
    carried = platform.add_incident("SNR", "N-3", external_id="WM-done", ot_number="OT-2026-000777")
    run.add("WM-note", "SNR", "n-1 ")  # the same node, as Cherwell's eq sees it
    run.add("WM-other-category", "Falla de Linea", "N-1")
    run.add("WM-adopt", "SNR", "N-2")
    run.add("WM-done", "SNR", "N-3")
    report = run.cycle()
    assert report is not None
    assert run.row("WM-note")[tk.STATUS] == tk.COMPLETED
    assert run.row("WM-note")[tk.PLATFORM_TICKET] == snr.incident_id
    assert [n.details for n in platform.notes_for(snr.rec_id)] == ["[WM-note] SNR bajo"]
    other = platform.incident(str(run.row("WM-other-category")[tk.PLATFORM_TICKET]))
    assert other is not None and other.external_id == "WM-other-category" and other.category == "Falla de Linea"
    assert run.row("WM-adopt")[tk.PLATFORM_TICKET] == adopted.incident_id
    assert [o.referencia for o in platform.orders_for(adopted.incident_id)] == ["WM-adopt"]
    assert platform.requests["ot_lookup"] == 1  # an adopted incident may have its OT already
    done = run.row("WM-done")
    assert (done[tk.STATUS], done[tk.OT_NUMBER], done[tk.PLATFORM_TICKET]) == (
        tk.COMPLETED,
        "OT-2026-000777",
        carried.incident_id,
    )
    assert report.incidents_adopted == 2 and report.tickets_created == 1
    assert len(platform.incidents) == 4


def test_tickets_of_one_new_node_in_one_cycle_make_one_incident_and_notes(run: Run) -> None:
    for key in ("WM-1", "WM-2", "WM-3"):
        run.add(key, "SNR", "N-9", summary=f"caida {key}", description="clientes sin servicio")
    report = run.cycle()
    assert report is not None and report.result == "OK"
    (incident,) = run.platform.incidents
    assert incident.external_id == "WM-1"
    assert [n.details for n in run.platform.notes_for(incident.rec_id)] == [
        "[WM-2] caida WM-2\nclientes sin servicio",
        "[WM-3] caida WM-3\nclientes sin servicio",
    ]
    assert report.requests["add_note"] == 1
    assert_exactly_once(run)


def test_waiting_tickets_become_notes_once_the_creator_gets_its_incident(run: Run) -> None:
    run.faults_for = once("create_ticket", Faults(fail_operation={"create_ticket": "Cherwell is busy"}))
    run.add("WM-1", "SNR", "N-9")
    run.add("WM-2", "SNR", "N-9")
    first = run.cycle()
    assert first is not None and first.failed == 1
    creator, waiter = run.row("WM-1"), run.row("WM-2")
    assert (creator[tk.OPERATION], creator[tk.RETRIES]) == (tk.CREATE_TICKET, 1)
    assert creator[tk.LAST_ERROR] == "Create Ticket: Cherwell GENERALFAILURE: Cherwell is busy"
    # The waiter is not failed: it waits as long as its creator does (not spinning cycles).
    assert (waiter[tk.STATUS], waiter[tk.OPERATION], waiter[tk.RETRIES]) == (tk.RECEIVED, tk.CHECK_EXISTING, 0)
    assert waiter[tk.NEXT_TRY] == creator[tk.NEXT_TRY] > run.clock()
    assert not run.platform.incidents
    run.add("WM-3", "SNR", "N-9")  # arrives while the creator backs off: waits too, no second incident
    third = run.cycle()
    assert third is not None and third.requests == {"search": 1} and not run.platform.incidents
    assert run.row("WM-3")[tk.NEXT_TRY] == creator[tk.NEXT_TRY]
    run.drain()
    (incident,) = run.platform.incidents
    assert incident.external_id == "WM-1"
    assert note_keys(run.platform) == Counter({"WM-2": 1, "WM-3": 1})
    assert_exactly_once(run)


def test_when_the_creator_ends_in_error_the_next_waiting_ticket_creates(run: Run) -> None:
    run.settings = make_settings(max_retries=1)
    run.add("WM-1", "SNR", "N-9", summary="")  # Cherwell refuses it: Short Description is required
    run.add("WM-2", "SNR", "N-9")
    run.add("WM-3", "SNR", "N-9")
    run.drain()
    bad = run.row("WM-1")
    assert (bad[tk.STATUS], bad[tk.OPERATION], bad[tk.RETRIES]) == (tk.ERROR, tk.CREATE_TICKET, 2)
    assert str(bad[tk.LAST_ERROR]).startswith(
        "Create Ticket: Cherwell FIELDVALIDATIONERROR: Short Description is required"
    )
    (incident,) = run.platform.incidents
    assert incident.external_id == "WM-2"
    assert note_keys(run.platform) == Counter({"WM-3": 1})
    assert run.row("WM-3")[tk.STATUS] == tk.COMPLETED


def test_a_creator_back_from_error_and_its_successor_never_both_create(run: Run) -> None:
    run.settings = make_settings(max_retries=1)
    creates = Counter[str]()

    def first_three_creates_fail(call: PlatformCall) -> Faults | None:
        if call.session != "create_ticket":
            return None
        creates["sent"] += 1
        return Faults(fail_operation={"create_ticket": "busy"}) if creates["sent"] <= 3 else None

    run.faults_for = first_three_creates_fail
    run.add("WM-A", "SNR", "N-9")
    run.add("WM-B", "SNR", "N-9")
    for _ in range(3):  # A fails twice (Error), then B takes over and fails once
        run.clock.time += 400
        run.cycle()
    assert run.row("WM-A")[tk.STATUS] == tk.ERROR
    assert (run.row("WM-B")[tk.OPERATION], run.row("WM-B")[tk.RETRIES]) == (tk.CREATE_TICKET, 1)
    ticket_table.retry_errors(run.table, run.clock())  # A is the earliest again: it creates, B goes back to waiting
    run.clock.time += 400
    report = run.cycle()
    assert report is not None and report.tickets_created == 1 and report.notes_added == 1
    (incident,) = run.platform.incidents
    assert incident.external_id == "WM-A"
    assert_exactly_once(run, all_completed=False)


# == failures, retries and Error ==================================================================


def test_retries_end_in_error_after_exactly_max_retries_plus_one_tries(run: Run) -> None:
    run.platform.faults = Faults(fail_operation={"ot_create": "ticket 999 no existe"})
    run.add("WM-1")
    tries: list[float] = []
    run.before = lambda call: tries.append(run.clock()) if call.session == "create_ot" else None
    reports = run.drain()
    row = run.row("WM-1")
    assert run.platform.requests["ot_create"] == 4 == len(tries)  # Max Retries 3: 4 tries
    assert (row[tk.STATUS], row[tk.OPERATION], row[tk.RETRIES]) == (tk.ERROR, tk.CREATE_OT, 4)
    assert row[tk.LAST_ERROR] == "Create OT: SFyC ERROR_OPERACION: ticket 999 no existe"
    waits = [b - a for a, b in itertools.pairwise(tries)]
    for retry, wait in enumerate(waits, start=1):  # 5 s doubled per retry, jittered x0.5..1
        assert 5 * 2 ** (retry - 1) * 0.5 <= wait <= 5 * 2 ** (retry - 1)
    assert reports[-1].errors == 1 and "now in Error" in reports[-1].result
    assert not run.platform.work_orders and run.platform.requests["create_ticket"] == 1


def test_an_item_failure_fails_that_ticket_only(run: Run) -> None:
    for i in range(5):
        run.add(f"WM-{i}", "SNR", f"N-{i}", summary="" if i == 2 else "ok")
    report = run.cycle()
    assert report is not None and report.failed == 1 and report.requests["create_ticket"] == 1
    bad = run.row("WM-2")
    assert (bad[tk.STATUS], bad[tk.RETRIES], bad[tk.OUTCOME_UNKNOWN]) == (tk.IN_PROGRESS, 1, 0)
    assert [run.row(f"WM-{i}")[tk.STATUS] for i in (0, 1, 3, 4)] == [tk.COMPLETED] * 4


def test_a_refused_request_fails_its_whole_batch_with_a_definite_outcome(run: Run) -> None:
    refused = PlatformReply(
        status=400,
        reason="Bad Request",
        body=json.dumps({"errorCode": "BADREQUEST", "errorMessage": "At most 200 save requests", "hasError": True}),
    )
    run.reply_for = lambda call: refused if call.session == "create_ticket" and len(run.sent) < 10 else None
    for i in range(3):
        run.add(f"WM-{i}", "SNR", f"N-{i}")
    report = run.cycle()
    assert report is not None and report.failed == 3 and report.requests["create_ticket"] == 1
    for i in range(3):
        row = run.row(f"WM-{i}")
        assert (row[tk.RETRIES], row[tk.OUTCOME_UNKNOWN]) == (1, 0)  # not applied: no look-up needed
        assert row[tk.LAST_ERROR] == "Create Ticket: Cherwell BADREQUEST: At most 200 save requests"
    run.reply_for = None
    run.drain()
    # Failed together, retried together: one more cycle, and no ExternalID look-up in it.
    assert run.platform.requests["search"] == 2
    assert_exactly_once(run)


@pytest.mark.parametrize("session", ["create_ticket", "add_note", "create_ot", "update_ticket_ot"])
@pytest.mark.parametrize("how", ["lost", "timeout", "malformed", "error"])
def test_an_unanswered_write_is_looked_up_and_never_repeated(run: Run, session: str, how: str) -> None:
    faults = {
        "lost": Faults(lost_rate=1.0),
        "timeout": Faults(latency=45.0),
        "malformed": Faults(malformed_rate=1.0),
        "error": Faults(error_rate=1.0),
    }[how]
    run.faults_for = once(session, faults)
    run.settings = make_settings(batch_size=3)
    fill(run, 10, note_share=0.5)
    first = run.cycle()
    assert first is not None
    if how in ("lost", "timeout"):
        # No answer to the only batch in flight: the platform's failure, not the tickets' (issue
        # 12). No retry counted; the batch stays in the journal, looked up by the next cycle.
        assert first.timeout.endswith(f"no answer ({how})") and first.failed == 0
        assert len(run.journal.entries[0][1]) == 3  # (and the batch composed ahead, if any)
        assert all(row[tk.RETRIES] == 0 for _, row in run.table.rows())
    else:
        assert first.failed == 3 and not first.timeout  # the one batch, uncertain
        unsure = [k for k, row in run.table.rows() if row[tk.OUTCOME_UNKNOWN] == 1]
        assert len(unsure) == 3
    run.drain()
    assert_exactly_once(run)
    item = {
        "create_ticket": "create_ticket",
        "add_note": "add_note",
        "create_ot": "ot_create",
        "update_ticket_ot": "update_ticket_ot",
    }[session]
    applied = run.platform.requests[item]
    if session == "create_ot":  # SFyC items are not counted per item: count the orders
        applied = len(run.platform.work_orders)
    # Creates and notes reach the platform once per ticket; an OT update may be resent (idempotent).
    assert applied == 5 if session != "update_ticket_ot" else applied >= 5


def test_a_revoked_token_means_one_new_login_and_the_call_is_retried(run: Run) -> None:
    run.settings = make_settings(batch_size=5)
    fill(run, 20)
    calls = [0]

    def revoke_before_the_second_create(call: PlatformCall) -> None:
        if call.session == "create_ticket":
            calls[0] += 1
            if calls[0] == 2:
                run.platform.revoke_tokens()

    run.before = revoke_before_the_second_create
    report = run.cycle()
    assert report is not None and report.failed == 0 and report.result == "OK"
    assert run.platform.requests["login"] == 2 and report.requests["login"] == 2
    assert report.requests["create_ticket"] == 4  # 3 batches, one of them sent twice
    assert_exactly_once(run)


def test_the_token_is_refreshed_before_it_expires(run: Run) -> None:
    run.platform.faults = Faults(token_ttl=100)
    run.settings = make_settings(batch_size=1)
    fill(run, 12)

    def time_passes(call: PlatformCall) -> None:
        run.clock.time += 10

    run.before = time_passes
    report = run.cycle()
    assert report is not None and report.result == "OK"
    assert run.platform.requests["login"] == 1 and run.platform.requests["refresh"] >= 2
    assert all(entry.status != 401 for entry in run.platform.log)
    assert_exactly_once(run)


def test_batches_in_flight_together_share_one_refresh(run: Run) -> None:
    """A refresh token works once: eight batches refreshing at once were one refresh and seven
    logins. The first refreshes; the others wait for its token."""
    run.platform.faults = Faults(token_ttl=61)  # under a minute left one second into its life
    run.settings = make_settings(batch_size=2, concurrency=4)
    fill(run, 40)

    def time_passes(call: PlatformCall) -> None:
        run.clock.time += 1

    run.before = time_passes
    report = run.cycle()
    assert report is not None and report.result == "OK" and report.completed == 40
    assert run.platform.requests["login"] == 1 and run.platform.requests["refresh"] >= 2
    assert all(entry.status != 401 for entry in run.platform.log)
    assert_exactly_once(run)


def test_ids_are_discovered_per_platform_never_hard_coded(clock: Clock) -> None:
    runs = [Run(FakePlatform(seed=seed, clock=clock), clock) for seed in (1, 2)]
    assert runs[0].platform.bus_ob_ids["Incident"] != runs[1].platform.bus_ob_ids["Incident"]
    for r in runs:
        fill(r, 6)
        r.drain()
        assert_exactly_once(r)
    # Ids from another platform (say, after a migration): the search fails on them, the ids are
    # resolved again, and the search is tried again in the same cycle.
    stale = Run(FakePlatform(seed=2, clock=clock), clock, session=runs[0].session)
    fill(stale, 3)
    first = stale.cycle()
    assert first is not None and first.result == "OK" and first.failed == 0
    # 401 (the other platform's token) -> login -> 500 (its ids) -> ids resolved again -> OK
    assert first.requests["search"] == 3 and first.requests["metadata"] == 4
    assert stale.session.metadata is not None
    assert stale.session.metadata.incident.bus_ob_id == stale.platform.bus_ob_ids["Incident"]
    assert_exactly_once(stale)


def test_a_platform_that_never_lets_us_in_is_a_timeout_and_the_tickets_keep_their_retries(run: Run) -> None:
    # Issue 12: a wrong password used to burn every ticket's retries (all in Error within seconds).
    run.settings = make_settings(password="not-the-password", max_retries=2)
    run.add("WM-1")
    run.add("WM-2", node="N-2")
    reports = [run.cycle() for _ in range(5)]
    reason = "Cherwell invalid_grant: Could not login to system with the provided user ID and password."
    for report in reports:
        assert report is not None and report.requests == {"login": 1}
        assert report.timeout == f"Login failed: {reason}" and report.result == f"Timeout: Login failed: {reason}"
        assert report.failed == report.errors == 0
        (event,) = report.take_events(max_retries=2)
        assert (event.event, event.level, event.fields["reason"]) == ("login_refused", "error", reason)
        assert "not-the-password" not in repr(event)
    for key in ("WM-1", "WM-2"):
        row = run.row(key)
        assert (row[tk.STATUS], row[tk.OPERATION], row[tk.RETRIES], row[tk.LAST_ERROR]) == (
            tk.RECEIVED,
            tk.CHECK_EXISTING,
            0,
            "",
        )
    assert run.session.describe().startswith("Login failed")
    run.settings = make_settings(max_retries=2)  # the password fixed: the tickets go through
    run.drain()
    assert_exactly_once(run)
    assert all(row[tk.RETRIES] == 0 for _, row in run.table.rows())
    assert "not-the-password" not in repr(run.settings)


def test_a_wrong_sfyc_key_is_a_timeout_without_a_cherwell_login_and_without_showing_the_key(run: Run) -> None:
    run.settings = make_settings(api_key="wrong-sfyc-key", max_retries=0)
    run.add("WM-1")
    report = run.cycle()
    assert report is not None and report.requests["login"] == 1 and report.requests["create_ot"] == 1
    assert report.timeout == "SFyC NO_AUTORIZADO: Falta la cabecera X-Api-Key o su valor no es valido"
    row = run.row("WM-1")
    assert (row[tk.STATUS], row[tk.OPERATION], row[tk.RETRIES]) == (tk.IN_PROGRESS, tk.CREATE_OT, 0)
    assert [entry[:2] for entry in run.journal.entries] == [(tk.CREATE_OT, ("WM-1",))]  # and when it left
    assert not any("wrong-sfyc-key" in str(cells) for _, cells in run.table.rows())
    run.settings = make_settings(max_retries=0)
    run.drain()
    assert_exactly_once(run)


def test_retry_errors_then_completes_them_once_the_fault_is_gone(run: Run) -> None:
    run.settings = make_settings(max_retries=1)
    run.platform.faults = Faults(fail_operation={"ot_create": "SFyC en mantenimiento"})
    fill(run, 8, note_share=0.25)
    run.drain()
    assert ticket_table.counts(run.table) == {tk.RECEIVED: 0, tk.IN_PROGRESS: 0, tk.COMPLETED: 2, tk.ERROR: 6}
    run.platform.faults = Faults()
    assert ticket_table.retry_errors(run.table, run.clock()) == 6
    reports = run.drain()
    assert len(reports) == 1 and reports[0].ots_created == 6
    assert_exactly_once(run)


# == crashes and random faults: exactly once, whatever happens =======================================


def crash_scenario(run: Run, concurrency: int = 1, answers_first: bool = False) -> None:
    run.settings = make_settings(batch_size=3, max_retries=10, concurrency=concurrency)
    run.answers_first = answers_first
    run.platform.add_incident("SNR", "N-0")
    for i in range(8):  # notes on N-0, a shared new node N-1, and nodes of their own
        run.add(f"WM-{i}", "SNR", f"N-{min(i, 2) if i < 5 else i}")


@pytest.mark.parametrize("concurrency, answers_first", [(1, False), (1, True), (3, False), (3, True)])
def test_a_crash_at_any_request_then_a_restart_completes_everything_once(
    clock: Clock, concurrency: int, answers_first: bool
) -> None:
    probe = Run(FakePlatform(seed=3, clock=clock), clock)
    crash_scenario(probe, concurrency, answers_first)
    probe.drain()
    total = len(probe.sent)
    for crash_after in range(total):
        for applied in (False, True):
            run = Run(FakePlatform(seed=3, clock=clock), clock)
            crash_scenario(run, concurrency, answers_first)
            if run.cycle(crash_after=crash_after, applied=applied) is not None:
                # Past the last wave's first answer (waves answer several calls at once).
                assert concurrency > 1 and crash_after > total - concurrency
                continue
            run.restart()
            run.drain()
            assert_exactly_once(run)


@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=flow_ticket_plans(),
    schedule=flow_schedules(),
    seed=st.integers(0, 2**16),
    batch_size=st.integers(1, 5),
    max_retries=st.integers(0, 2),
    concurrency=st.sampled_from([1, 1, 2, 4]),
    answers_first=st.booleans(),
)
def test_exactly_once_under_random_faults_crashes_arrivals_and_retries(
    plan: list[tuple[str, int, bool]],
    schedule: list[FlowStep],
    seed: int,
    batch_size: int,
    max_retries: int,
    concurrency: int,
    answers_first: bool,
) -> None:
    clock = Clock()
    platform = FakePlatform(seed=seed, clock=clock)
    run = Run(
        platform,
        clock,
        settings=make_settings(
            batch_size=batch_size, max_retries=max_retries, retry_delay=1.0, concurrency=concurrency
        ),
        rng=random.Random(seed),
        answers_first=answers_first,
    )
    for node in range(3):
        platform.add_incident("SNR", f"N-{node}")
    waiting = list(enumerate(plan))

    def arrive(count: int) -> None:
        for _ in range(min(count, len(waiting))):
            i, (category, node, valid) = waiting.pop(0)
            run.add(f"WM-{i}", category, f"N-{node}", summary="caida" if valid else "")

    arrive(len(plan) // 2)
    for step in schedule:  # the storm
        arrive(step.arrivals)
        if step.retry_errors:
            ticket_table.retry_errors(run.table, clock())
        platform.faults = step.faults
        if run.cycle(crash_at=step.crash_at, applied=step.applied) is None:
            run.restart()
        clock.time += step.wait
        assert_exactly_once(run, all_completed=False)
    arrive(len(waiting))
    platform.faults = Faults()  # the platform heals; the operator retries what ended in Error
    run.drain(200)
    ticket_table.retry_errors(run.table, clock())
    run.drain(200)
    invalid = {f"WM-{i}" for i, (_, _, valid) in enumerate(plan) if not valid}
    for key, row in run.table.rows():
        if key in invalid and row[tk.STATUS] == tk.ERROR:
            run.table.delete_row(key)  # refused for good: the check below is about the others
    assert_exactly_once(run)
    secrets = (DEFAULT_PASSWORD, DEFAULT_API_KEY)
    assert not any(s in str(row) for _, row in run.table.rows() for s in secrets)


# == speed ==========================================================================================


def test_a_cycle_is_linear_in_the_number_of_ready_tickets(clock: Clock) -> None:
    def seconds(tickets: int) -> float:
        run = Run(FakePlatform(seed=1, clock=clock), clock, settings=make_settings(batch_size=200))
        fill(run, tickets)
        started = time.perf_counter()
        report = run.cycle()
        assert report is not None and report.completed == tickets
        return time.perf_counter() - started

    small, large = seconds(1_000), seconds(10_000)
    assert large < 30 * small + 0.5, f"1,000 tickets: {small:.2f} s, 10,000: {large:.2f} s"


# -- Max Concurrent Requests -----------------------------------------------------------------------


def writes_per_ticket(run: Run) -> dict[str, list[str]]:
    """Each ticket's write requests (by session), in the order they were sent."""
    by_record = {row[tk.PLATFORM_RECORD]: key for key, row in run.table.rows()}
    writes: dict[str, list[str]] = {}
    for call in run.sent:
        if call.session not in ("create_ticket", "add_note", "create_ot", "update_ticket_ot"):
            continue
        body = json.loads(call.body or "{}")
        if call.session == "create_ot":
            keys = [order["referencia"] for order in body["ordenes"]]
        else:
            keys = []
            for save in body["saveRequests"]:
                fields = {f["name"]: f["value"] for f in save["fields"]}
                keys.append(
                    fields.get("ExternalID")
                    or by_record.get(save.get("busObRecId"))
                    or fields["Details"][1:].split("]", 1)[0]
                )
        for key in keys:
            writes.setdefault(key, []).append(call.session)
    return writes


def test_concurrent_batches_keep_the_least_requests_and_each_tickets_order(platform, clock) -> None:
    run = Run(platform, clock, settings=make_settings(batch_size=5, concurrency=4))
    notes = fill(run, 97)
    report = run.cycle()
    assert report is not None and report.completed == 97
    creates = 97 - notes
    assert (
        report.requests["create_ticket"]
        == report.requests["create_ot"]
        == report.requests["update_ticket_ot"]
        == math.ceil(creates / 5)
    )
    assert report.requests["add_note"] == math.ceil(notes / 5)
    writes = writes_per_ticket(run)
    for key, _ in run.table.rows():
        assert writes[key] in (["create_ticket", "create_ot", "update_ticket_ot"], ["add_note"]), (key, writes[key])
    sessions = [c.session for c in run.sent]
    last_create = max(i for i, s in enumerate(sessions) if s == "create_ticket")
    first_ot = min(i for i, s in enumerate(sessions) if s == "create_ot")
    assert first_ot < last_create, "a batch's OTs go out while other incidents are still being created"
    assert_exactly_once(run)


def test_concurrent_waves_are_full_and_metadata_and_search_pages_go_side_by_side(platform, clock) -> None:
    run = Run(platform, clock, settings=make_settings(batch_size=10, concurrency=4))
    for i in range(1400):  # 3 pages of open incidents of our categories
        platform.add_incident("SNR", f"OLD-{i:04d}")
    fill(run, 200, note_share=0.2)
    report = run.cycle()
    assert report is not None and report.completed == 200
    waves = run.rounds
    assert ["search", "search"] in waves, "pages 2 and 3 at once, after the first said how many there are"
    assert waves[:4] == [["login"], ["metadata"] * 2, ["metadata"] * 2, ["search"]], "both summaries, then both schemas"
    writes = [wave for wave in waves if wave[0] not in ("login", "metadata", "search")]
    # 4 notes + 16 x 3 writes = 52 batches, 4 at a time: 13 waves if every wave were full; the
    # chain (an OT needs its incident, an update its OT) may leave a few short at the end.
    assert sum(len(w) for w in writes) == 52 and len(writes) <= 16, writes


def test_a_revoked_token_during_a_concurrent_wave_logs_in_again_and_creates_once(platform, clock) -> None:
    revoked = []

    def revoke_once(call: PlatformCall) -> None:
        if call.session == "create_ticket" and not revoked:
            platform.revoke_tokens()
            revoked.append(call)

    run = Run(platform, clock, settings=make_settings(batch_size=5, concurrency=3), before=revoke_once)
    for i in range(15):
        run.add(f"T-{i:03d}", node=f"N-{i:03d}")
    report = run.cycle()
    assert report is not None and report.completed == 15 and report.failed == 0
    # The three batches in flight all got a 401: the first logged in, the others used its token.
    assert report.requests["login"] == 2, report.requests
    assert all(len(found) == 1 for found in platform.incidents_by_external_id().values())
    assert len(platform.incidents) == 15


def test_a_read_that_fails_in_passing_is_tried_again_without_costing_a_retry(platform, clock) -> None:
    lost_once: list[str] = []

    def lose_first_of_each_read(call: PlatformCall) -> Faults | None:
        if call.session in ("login", "metadata", "search") and call.path not in lost_once:
            lost_once.append(call.path)
            return Faults(lost_rate=1.0)
        return None

    run = Run(platform, clock, faults_for=lose_first_of_each_read)
    run.add("WM-1")
    report = run.cycle()
    assert report is not None and report.result == "OK" and report.failed == 0
    assert run.row("WM-1")["Status"] == tk.COMPLETED and run.row("WM-1")["Retries"] == 0
    assert report.requests["login"] == 2 and report.requests["metadata"] == 8 and report.requests["search"] == 2


def test_a_read_that_keeps_failing_fails_the_cycle_after_three_tries(platform, clock) -> None:
    run = Run(platform, clock, faults_for=lambda call: Faults(error_rate=1.0) if call.session == "search" else None)
    run.add("WM-1")
    report = run.cycle()
    assert report is not None and report.timeout.startswith("Search failed")
    assert report.requests["search"] == 3
    assert run.row("WM-1")["Retries"] == 0  # the platform's failure: the element's timeout (issue 12)
    retried = [e for e in report.take_events(max_retries=3) if e.event == "call_retry"]
    assert [(e.fields["call"], e.fields["status"], e.fields["try"], e.fields["of"]) for e in retried] == [
        ("search", 500, 2, 3),
        ("search", 500, 3, 3),
    ]
    assert retried[0].message == (
        "search failed: Cherwell GENERALFAILURE: Injected failure: the server failed, try again; "
        "tried again (try 2 of 3)"
    )


def test_no_attribute_of_the_flow_shadows_one_of_its_methods(run: Run) -> None:
    """Each method of the flow's classes is still that method on an instance: a dict once took
    the name of the Add Note success step, which then worked only because it was read first."""
    run.add("WM-1")
    cycle = flow_module._Cycle(
        run.table, run.settings, run.session, run.clock, run.rng, run.journal, WorkWhileOut(), CycleReport()
    )
    parts = [cycle, *(value for value in vars(cycle).values() if type(value).__module__.startswith("connector."))]
    assert len(parts) > 5, "the cycle's parts are checked too"
    for part in parts:
        for name, member in vars(type(part)).items():
            if callable(member) and not name.startswith("__"):
                assert callable(getattr(part, name)), f"{type(part).__name__}.{name} is shadowed"
