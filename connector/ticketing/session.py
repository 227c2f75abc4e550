"""The flow's side of the platform: one session's login, token and metadata, its requests.

`PlatformClient` is what a cycle talks through (`connector.ticketing.flow`): it logs in once and
reuses the token across cycles (`PlatformSession`), refreshes it before it expires, logs in
again once after a 401 and retries, resolves the business object and field ids from the
metadata calls (never hard-coded), tries a read again at once after a passing failure, and
counts every request in the cycle's report. `PlatformClient.gather` runs several batch flows
side by side (Max Concurrent Requests); `with_work_while_out` lets a round of requests go out
before the cycle's bookkeeping (settling the previous batch) is done.

Everything here is sans-I/O: generators that yield `Round`s of `PlatformCall`s and are resumed
with their replies.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar

from attrs import define, field, frozen
from attrs.validators import ge, instance_of, le

from connector.ticketing import cherwell as cw
from connector.ticketing.calls import NotYet, PlatformCall, PlatformReply, Replies, Round, RoundKind
from connector.ticketing.cherwell import Metadata, PlatformError
from connector.ticketing.duplicates import Duplicate
from connector.ticketing.scrub import Scrubber
from connector.ticketing.states import FlowProtocolError

T = TypeVar("T")
# A flow inside the cycle: it yields SEND rounds (WAIT inside a wave) and is resumed with the
# replies. Only the cycle as a whole (`with_work_while_out`) yields SEND_AND_WORK and COLLECT
# rounds, and is resumed with NOT_YET.
Flow = Generator[Round, Replies, T]
CycleFlow = Generator[Round, "Replies | NotYet", T]
_WAIT = Round((), RoundKind.WAIT)

REFRESH_MARGIN = 60.0  # seconds of token life left below which we refresh before a call
DEFAULT_TOKEN_LIFE = 1199.0  # the contract's expires_in, when a server leaves it out
READ_ATTEMPTS = 3  # a read (login, metadata, search, look-up) is tried this often in a cycle


@frozen(kw_only=True)
class FlowSettings:
    max_retries: int = field(default=3, validator=[instance_of(int), ge(0)])
    batch_size: int = field(default=50, validator=[instance_of(int), ge(1), le(cw.MAX_SAVES)])
    retry_delay: float = field(default=5.0, converter=float, validator=ge(0.0))
    client_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    concurrency: int = field(default=1, validator=[instance_of(int), ge(1), le(16)])  # batches in flight
    # Seconds an unknown outcome waits before it is looked up (a late write lands first).
    settle_time: float = field(default=0.0, converter=float, validator=ge(0.0))


@define(kw_only=True)
class PlatformSession:
    """What the flow keeps between cycles, in memory only (a restart simply logs in again)."""

    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float = 0.0  # on the client's clock: the monotonic one (a jump neither expires nor extends it)
    metadata: Metadata | None = None
    login_state: str = "Not logged in"  # for the element's login state parameter

    def forget_token(self) -> None:
        self.access_token = self.refresh_token = ""
        self.expires_at = 0.0

    def describe(self) -> str:
        """The platform login state, for people (never the token)."""
        return self.login_state


@frozen(kw_only=True)
class FlowEvent:
    """Something an operator acts on, as the flow saw it: the glue writes it to the log (the flow
    is sans-I/O). `event` names it for machines; `fields` are its values."""

    event: str
    message: str
    level: str = "info"
    fields: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class Failure:
    """One ticket's failure counted in this cycle (`CycleReport.take_events` sums them up)."""

    key: str
    operation: str
    reason: str
    tries: int  # failures counted so far, this one included
    in_error: bool


@define(kw_only=True)
class CycleReport:
    requests: dict[str, int] = field(factory=dict)  # by PlatformCall.session
    notes_added: int = 0
    tickets_created: int = 0
    incidents_adopted: int = 0
    ots_created: int = 0
    found_by_lookup: int = 0  # notes and OTs found after an uncertain outcome, instead of resent
    completed: int = 0
    failed: int = 0  # failures counted (each one a retry, or the last one before Error)
    errors: int = 0  # tickets that went to Error in this cycle
    unreadable: list[str] = field(factory=list)  # "key: reason" of rows sent to Error as unreadable
    result: str = "OK"
    timeout: str = ""  # why the platform is down for everyone (`connector.ticketing.outage`), or ""
    events: list[FlowEvent] = field(factory=list)  # not yet taken by the glue
    failures: list[Failure] = field(factory=list)  # not yet taken by the glue
    duplicates: list[Duplicate] = field(factory=list)  # found on the platform (connector.ticketing.duplicates)

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def take_events(self, max_retries: int) -> list[FlowEvent]:
        """The events since the last call, failures summed up: one event for the tickets of one
        operation that failed for one reason (tried again, or now in Error), their ids in it."""
        events, self.events = self.events, []
        failures, self.failures = self.failures, []
        groups: dict[tuple[str, str, bool], list[Failure]] = {}
        for failure in failures:
            groups.setdefault((failure.operation, failure.reason, failure.in_error), []).append(failure)
        for (operation, reason, in_error), group in groups.items():
            keys = [f.key for f in group]
            tries = sorted({f.tries for f in group})
            fields = {"operation": operation, "tickets": len(group), "reason": reason, "ids": keys}
            if in_error:
                message = f"{len(group)} ticket(s) now in Error at {operation} after {tries[-1]} tries: {reason}"
                events.append(FlowEvent(event="tickets_error", message=message, level="warning", fields=fields))
            else:
                shown = "/".join(str(n) for n in tries)
                message = (
                    f"{operation} failed for {len(group)} ticket(s): {reason}; "
                    f"tried again later (try {shown} of {max_retries + 1})"
                )
                fields |= {"try": tries[-1], "of": max_retries + 1}
                events.append(FlowEvent(event="tickets_retry", message=message, level="warning", fields=fields))
        return events


class SessionLost(Exception):
    """No ticket can progress: the platform is down for everyone (`connector.ticketing.outage`):
    Cherwell would not let us in (login, metadata) or would not say which incidents exist (the
    search), or a whole wave of writes got no answer. The element goes into timeout; no ticket
    counts a retry. The message is the cycle's result."""


def run_to_end(flow: Flow[T]) -> Flow[T | PlatformError]:
    """Run a flow to its end; a PlatformError becomes its result instead of escaping."""
    try:
        return (yield from flow)
    except PlatformError as error:
        return error


def all_done(results: Sequence[T | PlatformError | SessionLost]) -> list[T]:
    """Every result of a `gather`, or the first failure raised."""
    done: list[T] = []
    for result in results:
        if isinstance(result, (PlatformError, SessionLost)):
            raise result
        done.append(result)
    return done


class WorkWhileOut:
    """Bookkeeping that may wait until the next round of requests is on the wire (settling the
    batch before, noting and building the ones after): done then, or when `drain`ed."""

    def __init__(self) -> None:
        self._jobs: list[Callable[[], None]] = []

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def add(self, job: Callable[[], None]) -> None:
        self._jobs.append(job)

    def drain(self) -> None:
        """Do the work now."""
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job()


def with_work_while_out(flow: Flow[T], work: WorkWhileOut) -> CycleFlow[T]:
    """The cycle as its driver sees it: a round that goes out while work waits is a SEND_AND_WORK.

    The driver resumes it with NOT_YET once its calls are out: the work is done, and a COLLECT
    asks for their replies. Replies that come back before the driver got to the work resume it
    at once, and the work waits for the next round (or a `drain`). See connector.ticketing.states.
    """
    try:
        step = next(flow)
        while True:
            if step.kind is not RoundKind.SEND:
                raise FlowProtocolError(f"a {step.kind.value} round outside a wave")
            if not work:
                step = flow.send(_replies((yield step)))
                continue
            answer = yield Round(step.calls, RoundKind.SEND_AND_WORK)
            if isinstance(answer, NotYet):
                work.drain()
                answer = yield Round((), RoundKind.COLLECT)
            step = flow.send(_replies(answer))
    except StopIteration as done:
        result: T = done.value  # the flow's return value
        return result
    finally:
        flow.close()  # stopped half-way (Processing disabled): its `finally`s settle what was answered


def _replies(answer: Replies | NotYet) -> Replies:
    if isinstance(answer, NotYet):
        raise FlowProtocolError("NOT_YET answers a send-and-work round only")
    return answer


class PlatformClient:
    """Requests out, counted; Cherwell's with the session's token and ids (login, refresh, the
    401 retry, metadata). SFyC needs none of that: its calls just go through `send`."""

    def __init__(
        self,
        settings: FlowSettings,
        session: PlatformSession,
        report: CycleReport,
        now: Callable[[], float],
        *,
        scrub: Scrubber | None = None,
    ) -> None:
        self.settings, self.session, self.report, self.now = settings, session, report, now
        self.scrub = scrub if scrub is not None else Scrubber.of(password=settings.password, api_key=settings.api_key)
        self._ids_renewed = False  # metadata is resolved again at most once per cycle
        self._logging_in = False  # a flow is refreshing the token or logging in: the others wait
        self.in_wave = False  # inside `gather`: a read there goes alone (no wave inside a wave)
        self.answered = ""  # the session of the call whose answer the running flow reads

    def send(self, call: PlatformCall) -> Flow[PlatformReply]:
        self.report.requests[call.session] = self.report.requests.get(call.session, 0) + 1
        (reply,) = yield Round((call,))
        self.answered = call.session  # set on resume: the flow stepped now is the one reading it
        return reply

    def gather(self, flows: Sequence[Flow[T]]) -> Flow[list[T | PlatformError | SessionLost]]:
        """Run flows side by side: their next calls go out together, as one round.

        Each flow still sees its own calls and replies in order (a 401 re-login inside one of
        them is just its next call), so a batch written this way behaves exactly as when sent
        alone; only the waiting overlaps. Results come back in the order of `flows`.

        A flow that loses the session (`SessionLost`) has that as its result, and the others run
        to their end: their batches may have been saved, and their outcomes must be kept.
        """
        results: dict[int, T | PlatformError | SessionLost] = {}
        calls: dict[int, tuple[PlatformCall, ...]] = {}
        waiting: list[int] = []  # flows that yielded WAIT: stepped again after the next round
        running = [run_to_end(flow) for flow in flows]

        def step(index: int, replies: Replies | None) -> None:
            try:
                sent = next(running[index]) if replies is None else running[index].send(replies)
            except StopIteration as done:
                results[index] = done.value
            except SessionLost as lost:
                results[index] = lost
            else:
                if sent.kind is RoundKind.WAIT:
                    waiting.append(index)
                else:
                    calls[index] = sent.calls

        self.in_wave = True
        try:
            for index in range(len(running)):
                step(index, None)
            while calls or waiting:
                order, out = list(calls), list(calls.values())
                calls.clear()
                if out:
                    replies = yield Round(tuple(call for some in out for call in some))
                    start = 0
                    for index, some in zip(order, out, strict=True):
                        step(index, replies[start : start + len(some)])
                        start += len(some)
                resumed, waiting[:] = list(waiting), []
                for index in resumed:
                    step(index, ())
        finally:
            self.in_wave = False
        return [results[index] for index in range(len(running))]

    def prepare(self) -> Flow[None]:
        """A usable token and the ids, before anything is marked as being sent."""
        yield from self._ensure_token()
        if self.session.metadata is None:
            yield from self._resolve_metadata()

    def call(
        self, build: Callable[[str, Metadata], PlatformCall], parse: Callable[[PlatformReply, Metadata], T]
    ) -> Flow[T]:
        yield from self.prepare()
        metadata = self.session.metadata
        assert metadata is not None
        reply = yield from self._authorized(lambda token: build(token, metadata))
        try:
            return parse(reply, metadata)
        except PlatformError as error:
            if error.stale_ids and not self._ids_renewed:
                self._ids_renewed = True
                self.session.metadata = None  # resolved again before the next Cherwell call
            raise

    def retrying(self, attempt: Callable[[], Flow[T]]) -> Flow[T]:
        """A read, tried again at once after a passing failure (no answer, 5xx, unreadable).

        Reads change nothing on the platform, so trying again is safe; and a failed login,
        metadata or search costs every waiting ticket one of its retries, so one lost answer
        should not fail the whole cycle. Writes are never retried here: they are reconciled.
        """
        for remaining in range(READ_ATTEMPTS - 1, -1, -1):
            try:
                return (yield from attempt())
            except PlatformError as error:
                if not error.maybe_applied or not remaining:
                    raise
                self._retried(error, READ_ATTEMPTS - remaining + 1)
        raise AssertionError("unreachable")

    def _retried(self, error: PlatformError, next_try: int) -> None:
        call, reason = self.answered, error.message
        self.report.events.append(
            FlowEvent(
                event="call_retry",
                message=f"{call} failed: {reason}; tried again (try {next_try} of {READ_ATTEMPTS})",
                level="warning",
                fields={"call": call, "reason": reason, "status": error.status, "try": next_try, "of": READ_ATTEMPTS},
            )
        )

    def read(
        self, build: Callable[[str, Metadata], PlatformCall], parse: Callable[[PlatformReply, Metadata], T]
    ) -> Flow[T]:
        return (yield from self.retrying(lambda: self.call(build, parse)))

    def _authorized(self, build: Callable[[str], PlatformCall]) -> Flow[PlatformReply]:
        yield from self._ensure_token()
        used = self.session.access_token
        reply = yield from self.send(build(used))
        if reply.status == 401:
            # Revoked or expired early: one new login, one retry. A 401 was not applied, so
            # resending a write is safe. A second 401 is the call's failure. In a wave of
            # batches, the first to see the 401 logs in; the others wait for it and retry with
            # its token (one login, not one per batch in flight).
            if self.session.access_token == used:
                self.session.forget_token()
            yield from self._ensure_token()
            reply = yield from self.send(build(self.session.access_token))
        return reply

    def _ensure_token(self) -> Flow[None]:
        """A token with over REFRESH_MARGIN of life left: refreshed, or a new login. Batches in
        flight together wait for the one that is already getting it (a refresh token works
        once: eight refreshes at once would be one refresh and seven logins)."""
        while self._logging_in:
            yield _WAIT
        session = self.session
        if session.access_token and session.expires_at - self.now() >= REFRESH_MARGIN:
            return
        self._logging_in = True
        try:
            if session.access_token and session.refresh_token:
                sent_at = self.now()
                reply = yield from self.send(cw.refresh_call(self.settings.client_id, session.refresh_token))
                try:
                    self._keep(cw.parse_token(reply), sent_at)
                    return
                except PlatformError:
                    pass  # a used or expired refresh token: the password still works
            yield from self._login()
        finally:
            self._logging_in = False

    def _login(self) -> Flow[None]:
        s = self.settings

        def once() -> Flow[None]:
            sent_at = self.now()
            reply = yield from self.send(cw.login_call(s.client_id, s.username, s.password))
            self._keep(cw.parse_token(reply), sent_at)

        try:
            yield from self.retrying(once)
        except PlatformError as error:
            self.session.forget_token()
            self.session.login_state = self.scrub(f"Login failed: {error.message}")
            # Refused: Cherwell answered no (a 4xx: the credentials, an operator's to fix). Anything
            # else (no answer, a 5xx, an unreadable answer) is the platform failing: a warning.
            refused = error.status is not None and 400 <= error.status < 500
            self.report.events.append(
                FlowEvent(
                    event="login_refused" if refused else "login_failed",
                    message=self.scrub(f"Cherwell login {'refused' if refused else 'failed'}: {error.message}"),
                    level="error" if refused else "warning",
                    fields={"reason": self.scrub(error.message), "status": error.status},
                )
            )
            raise SessionLost(self.session.login_state) from None

    def _keep(self, token: cw.Token, sent_at: float) -> None:
        # Counted from when the request left: the server's clock started no later than that.
        self.session.access_token = token.access_token
        self.session.refresh_token = token.refresh_token
        self.scrub.add(token.access_token, token.refresh_token)
        self.session.expires_at = sent_at + (token.expires_in if token.expires_in > 0 else DEFAULT_TOKEN_LIFE)
        self.session.login_state = "Logged in"

    def _resolve_metadata(self) -> Flow[None]:
        """The incident and note business objects: each a summary (its id), then its schema.
        With Max Concurrent Requests above 1 the two go side by side (unless this already runs
        inside a wave of batches: a batch that found the ids stale resolves them alone)."""
        flows = [
            self._business_object(cw.INCIDENT, None, cw.INCIDENT_FIELDS),
            self._business_object(cw.JOURNAL, cw.NOTE, cw.NOTE_FIELDS),
        ]
        try:
            if self.settings.concurrency > 1 and not self.in_wave:
                incident, note = all_done((yield from self.gather(flows)))
            else:
                incident = yield from flows[0]
                note = yield from flows[1]
        except PlatformError as error:
            raise SessionLost(self.scrub(f"Metadata failed: {error.message}")) from None
        self.session.metadata = Metadata(incident=incident, note=note)

    def _business_object(self, name: str, member: str | None, needed: Sequence[str]) -> Flow[cw.BusinessObject]:
        bus_ob_id = yield from self._read(
            lambda t: cw.summary_call(t, name), lambda r: cw.parse_summary(r, name, member=member)
        )
        return (
            yield from self._read(
                lambda t: cw.schema_call(t, bus_ob_id), lambda r: cw.parse_schema(r, member or name, bus_ob_id, needed)
            )
        )

    def _read(self, build: Callable[[str], PlatformCall], parse: Callable[[PlatformReply], T]) -> Flow[T]:
        def once() -> Flow[T]:
            return parse((yield from self._authorized(build)))

        return (yield from self.retrying(once))
