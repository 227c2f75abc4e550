"""What the Ticketing BE flow asks of the platform, and what it gets back.

The flow (`connector.ticketing.flow`) is sans-I/O, like httpx's auth flows: a generator that
yields `PlatformCall`s and receives `PlatformReply`s. In the element, the glue handlers turn a
call into the parameters of the protocol.yaml HTTP session named by `session` and queue its
group; in tests a driver hands the call straight to the fake platform.
"""

from __future__ import annotations

from collections.abc import Mapping

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


@frozen(kw_only=True)
class Overlap:
    """Send `calls` now, and resume the flow at once: it has work to do while they are on
    the wire (settling the previous batch). Their replies come back at the next `Collect`,
    as a list in the same order.

    This is how the flow keeps its bookkeeping off the critical path: what must be durable
    before a request leaves (its tickets' marks) is written before the Overlap; what only
    records the previous batch's outcome is written while the request is in flight.
    """

    calls: tuple[PlatformCall, ...]


@frozen
class Collect:
    """Resume the flow with the replies of the last `Overlap`."""
