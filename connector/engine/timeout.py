"""DataMiner's element timeout: the element cannot reach what it talks to.

With `timeout_after: N` in its protocol's header, an element goes into timeout when N requests
of one session in a row got no answer (a timeout, a refused or lost connection: the failures
that fire the session's timeout triggers), and leaves it at the next answer of any session,
whatever its status (an HTTP error is an answer: the connector's handlers judge it). What the
host shows is the `ElementStatus` effect this returns, once per change.

Only the group queue's requests count: parallel requests (`send_parallel`) are a handler's
own, and a handler that wants them to count says so with `set_timeout`.
"""

from __future__ import annotations

from connector.engine.events import ElementStatus, HttpResult
from connector.protocol.model import Session


class ElementTimeout:
    """Counts each session's requests in a row without an answer; says when the state changes."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_timeout = False
        self._misses: dict[int, int] = {}  # session id -> requests in a row without an answer

    def result(self, session: Session, result: HttpResult) -> ElementStatus | None:
        """The status to show after `result` of `session`, or None when it does not change."""
        if self.limit is None:
            return None
        if result.error is None:
            self._misses.clear()
            if self.in_timeout:
                self.in_timeout = False
                return ElementStatus(timeout=False)
            return None
        misses = self._misses[session.id] = self._misses.get(session.id, 0) + 1
        if misses < self.limit or self.in_timeout:
            return None
        self.in_timeout = True
        return ElementStatus(
            timeout=True,
            reason=f"session {session.name!r}: {misses} requests in a row without an answer"
            f" (the last: {result.status_line})",
        )


__all__ = ["ElementTimeout"]
