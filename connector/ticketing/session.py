"""The flow's side of the platform: one session's login, token and metadata, its requests.

`PlatformClient` is what a cycle talks through (`connector.ticketing.flow`): it logs in once and
reuses the token across cycles (`PlatformSession`), refreshes it before it expires, logs in
again once after a 401 and retries, resolves the business object and field ids from the
metadata calls (never hard-coded), tries a read again at once after a passing failure, and
counts every request in the cycle's report. `gather` runs several batch flows side by side
(Max Concurrent Requests); an `Overlap` sends a request while the cycle's background work
(settling the previous batch) runs.

Everything here is sans-I/O: generators that yield `PlatformCall`s and receive replies.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

from attrs import define, field, frozen
from attrs.validators import ge, instance_of, le

from connector.ticketing import cherwell as cw
from connector.ticketing.calls import Collect, Overlap, PlatformCall, PlatformReply
from connector.ticketing.cherwell import Metadata, PlatformError

T = TypeVar("T")
Flow = Generator[PlatformCall, PlatformReply, T]
# What run_cycle yields: a call (resumed with its reply); several calls at once (a list,
# resumed with the list of replies) when Max Concurrent Requests is above 1; an Overlap
# (resumed with None as soon as its calls are on their way) and then a Collect (resumed with
# the Overlap's replies, a list).
Flows = Generator[
    "PlatformCall | list[PlatformCall] | Overlap | Collect", "PlatformReply | list[PlatformReply] | None", T
]

# What a flow inside `gather` yields to wait one round without a call (for another flow's login).
WAIT = object()

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


@define(kw_only=True)
class PlatformSession:
    """What the flow keeps between cycles, in memory only (a restart simply logs in again)."""

    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float = 0.0
    metadata: Metadata | None = None
    login_state: str = "Not logged in"  # for the element's login state parameter

    def forget_token(self) -> None:
        self.access_token = self.refresh_token = ""
        self.expires_at = 0.0

    def describe(self) -> str:
        """The platform login state, for people (never the token)."""
        return self.login_state


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
    result: str = "OK"

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())


class SessionLost(Exception):
    """No ticket can progress: Cherwell would not let us in (login, metadata) or would not say
    which incidents exist (the search). The message is the cycle's result."""


def run_to_end(flow: Flow[T]) -> Flow[T | PlatformError]:
    """Run a flow to its end; a PlatformError becomes its result instead of escaping."""
    try:
        return (yield from flow)
    except PlatformError as error:
        return error


def gather(flows: Sequence[Flow[T]], platform: PlatformClient | None = None) -> Flows[list[T | PlatformError]]:
    """Run flows side by side: their next calls go out together, as one list.

    Each flow still sees its own calls and replies in order (a 401 re-login inside one of
    them is just its next call), so a batch written this way behaves exactly as when sent
    alone; only the waiting overlaps. Results come back in the order of `flows`. With a
    `platform` whose background holds work, the first calls go out as an Overlap.

    A flow that loses the session (`SessionLost`) has that as its result, and the others run
    to their end: their batches may have been saved, and their outcomes must be kept.
    """
    results: list[T | PlatformError | SessionLost | None] = [None] * len(flows)
    calls: dict[int, PlatformCall] = {}
    waiting: list[int] = []  # flows that yielded WAIT: stepped again after the next round
    running = [run_to_end(flow) for flow in flows]

    def step(index: int, reply: PlatformReply | None) -> None:
        try:
            call = running[index].send(reply)  # type: ignore[arg-type]
        except StopIteration as done:
            results[index] = done.value
        except SessionLost as lost:
            results[index] = lost
        else:
            if call is WAIT:
                waiting.append(index)
            else:
                calls[index] = call

    if platform is not None:
        platform.overlapping = False  # the flows' own sends must not overlap: the wave does
    try:
        for index in range(len(running)):
            step(index, None)
        while calls or waiting:
            order = list(calls)
            wave = [calls.pop(index) for index in order]
            if wave:
                if platform is not None and platform.background:
                    replies = yield from platform.overlap(wave)
                else:
                    replies = yield wave
                for index, reply in zip(order, replies):  # type: ignore[arg-type]
                    step(index, reply)
            resumed, waiting[:] = list(waiting), []
            for index in resumed:
                step(index, None)
    finally:
        if platform is not None:
            platform.overlapping = True
    return results  # type: ignore[return-value]


class PlatformClient:
    """Requests out, counted; Cherwell's with the session's token and ids (login, refresh, the
    401 retry, metadata). SFyC needs none of that: its calls just go through `send`."""

    def __init__(
        self, settings: FlowSettings, session: PlatformSession, report: CycleReport, now: Callable[[], float]
    ) -> None:
        self.settings, self.session, self.report, self.now = settings, session, report, now
        self._ids_renewed = False  # metadata is resolved again at most once per cycle
        # Work that may wait until the next request is on the wire (settling a batch), and
        # whether a send may carry it (not inside `gather`, whose wave carries it instead).
        self.background: list[Callable[[], None]] = []
        self.overlapping = True
        self._logging_in = False  # a flow is refreshing the token or logging in: the others wait

    @property
    def in_wave(self) -> bool:
        """Inside `gather`: a read there goes alone (no wave inside a wave)."""
        return not self.overlapping

    def send(self, call: PlatformCall) -> Flow[PlatformReply]:
        self.report.requests[call.session] = self.report.requests.get(call.session, 0) + 1
        if self.background and self.overlapping:
            replies = yield from self.overlap([call])  # type: ignore[misc]
            return replies[0]
        reply = yield call
        return reply

    def overlap(self, calls: list[PlatformCall]) -> Flows[list[PlatformReply]]:
        """Send `calls`, do the background work while they are out, then collect their replies.

        The driver resumes the Overlap with None once the calls are out (the work is done, then
        the flow `Collect`s), or straight with their replies when they came back before it got
        to the work: the work then waits for the next Overlap (or a `drain`).
        """
        early = yield Overlap(calls=tuple(calls))
        if early is not None:
            return early  # type: ignore[return-value]
        self.drain()
        replies = yield Collect()
        return replies  # type: ignore[return-value]

    def drain(self) -> None:
        """Do the background work now."""
        work, self.background = self.background, []
        for job in work:
            job()

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
        raise AssertionError("unreachable")

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
            yield WAIT  # type: ignore[misc]
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
            self.session.login_state = f"Login failed: {error.message}"
            raise SessionLost(self.session.login_state) from None

    def _keep(self, token: cw.Token, sent_at: float) -> None:
        # Counted from when the request left: the server's clock started no later than that.
        self.session.access_token = token.access_token
        self.session.refresh_token = token.refresh_token
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
            if self.settings.concurrency > 1 and self.overlapping:
                found = yield from gather(flows, self)  # type: ignore[misc]
                failed = next((f for f in found if isinstance(f, (PlatformError, SessionLost))), None)
                if failed is not None:
                    raise failed
                incident, note = found
            else:
                incident = yield from flows[0]
                note = yield from flows[1]
        except PlatformError as error:
            raise SessionLost(f"Metadata failed: {error.message}") from None
        self.session.metadata = Metadata(incident=incident, note=note)  # type: ignore[arg-type]

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
