"""What the Ticketing BE flow asks of the platform, and what it gets back.

The flow (`connector.ticketing.flow`) is sans-I/O, like httpx's auth flows: a generator that
yields one kind of thing, a `Round` of `PlatformCall`s, and is resumed with their
`PlatformReply`s. In the element, the glue handlers turn a call into the parameters of the
protocol.yaml HTTP session named by `session` and queue its group (several calls at once go out
as a parallel set); in tests a driver hands the calls straight to the fake platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from attrs import field, frozen

# The protocol.yaml HTTP sessions, by the key the flow names them with.
SESSIONS = (
    "login",
    "metadata",
    "search",
    "add_note",
    "create_ticket",
    "create_ot",
    "lookup_ot",
    "update_ticket_ot",
)


@frozen(kw_only=True)
class PlatformCall:
    session: str  # one of SESSIONS
    method: str  # GET or POST
    path: str  # absolute path with its query string, e.g. "/SFyC/api/v1/ordenes-trabajo?ticket=1"
    headers: Mapping[str, str] = field(factory=dict)  # Authorization, X-Api-Key, Content-Type
    body: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.session not in SESSIONS:
            raise ValueError(f"unknown platform session {self.session!r}")


@frozen(kw_only=True)
class PlatformReply:
    """An HTTP answer, or the lack of one (status 0, `error` says why)."""

    status: int
    reason: str = ""
    body: str = ""
    error: str | None = None  # "timeout", "connect", "lost" (connection lost after sending), ...

    @property
    def answered(self) -> bool:
        return self.status != 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def maybe_applied(self) -> bool:
        """True when a write may have happened although we did not see it succeed.

        A connect failure never reached the server; a timeout, a lost connection or a 5xx may
        have been applied (the contract: reconcile before retrying).
        """
        if not self.answered:
            return self.error != "connect"
        return self.status >= 500


class RoundKind(Enum):
    """What the flow wants done with a round's calls (see `connector.ticketing.states`)."""

    SEND = "send"  # send them; resume the flow with their replies
    # Send them; the flow has work to do while they are on the wire (settling the batch before,
    # building the one after): resume it with NOT_YET once they are out, or with their replies
    # if those came back first (the work then waits for the next round).
    SEND_AND_WORK = "send and work"
    COLLECT = "collect"  # no calls: resume the flow with the replies of the round still out
    WAIT = "wait"  # no calls, inside a wave only: resume once the other batches' round is answered


@frozen
class Round:
    """The one thing the flow yields: calls to send together, and what to do while they are out.

    It is always resumed with the replies (a tuple, in the order of `calls`), or, after a
    SEND_AND_WORK, with NOT_YET once its calls are out.
    """

    calls: tuple[PlatformCall, ...]
    kind: RoundKind = RoundKind.SEND

    def __attrs_post_init__(self) -> None:
        if bool(self.calls) != (self.kind in (RoundKind.SEND, RoundKind.SEND_AND_WORK)):
            raise ValueError(f"a {self.kind.value} round with {len(self.calls)} calls")


@frozen
class NotYet:
    """The replies of a SEND_AND_WORK round are not back yet: the flow does its work first."""


NOT_YET = NotYet()
Replies = tuple[PlatformReply, ...]
