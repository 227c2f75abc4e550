"""Live updates, coalesced: what changed on an element, at most a few times a second.

The card's script asks `GET /elements/{name}/live?since=VERSION&<its view>` about twice a
second; the answer is 204 while the element's version is VERSION, else the values, the
header and the visible page of the card's tables. Why polling and not server-sent events:
a browser keeps at most 6 HTTP/1.1 connections to one server (uvicorn has no HTTP/2), so
the 7th card open in one browser would hang behind 6 event streams; and a stream that never
ends holds up the server's graceful stop. A short poll holds no connection.

Coalescing: the answer for one element and one view is kept for COALESCE seconds, whoever
asks. During a drain of thousands of tickets the element steps hundreds of times a second;
every card open on it costs at most one render per COALESCE, and eight cards on the same
view cost one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from attrs import define

__all__ = ["COALESCE", "LiveCache", "host_version"]

COALESCE = 0.3  # seconds an answer is reused: the card follows within POLL_MS + COALESCE (< 1 s)
# An answer that took long to build (a view of 100,000 rows sorted by a column: 0.2-0.4 s) is kept
# this many times its cost instead: the runtime's loop, which the element shares, spends at most a
# tenth of its time on one view, however often it is asked for. Such a card follows more slowly.
COST_FACTOR = 10
POLL_MS = 500  # the card's script waits this long between two asks
_MAX_ENTRIES = 256


def host_version(host: Any) -> str:
    """A short text that changes whenever the element may have changed: a step, a state change."""
    metrics = getattr(host, "metrics", None)
    step = getattr(metrics, "last_step", None) if metrics is not None else time.monotonic()
    mark = f"{host.state}|{host.reason}|{host.failure}|{step!r}"
    return hashlib.blake2s(mark.encode("utf-8", "replace"), digest_size=8).hexdigest()


@define
class _Entry:
    at: float
    version: str
    payload: dict[str, Any]
    hold: float = COALESCE  # seconds it is reused whatever changed


class LiveCache:
    """The last answer per (element, view), reused for COALESCE seconds (or COST_FACTOR times what
    it cost to build, if more) or while nothing changed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}

    def answer(
        self, key: tuple[str, str], version: Callable[[], str], render: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry.at < entry.hold:
            return entry.payload
        current = version()
        if entry is not None and entry.version == current:
            entry.at = now
            return entry.payload
        payload = {"version": current, **render()}
        cost = self._clock() - now
        if len(self._entries) >= _MAX_ENTRIES:
            self._forget(now)
        self._entries[key] = _Entry(at=now, version=current, payload=payload, hold=max(COALESCE, COST_FACTOR * cost))
        return payload

    def forget(self, element: str) -> None:
        """Drop the element's answers: after a set, the next one shows the value the set left."""
        for key in [k for k in self._entries if k[0] == element]:
            del self._entries[key]

    def _forget(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.at > 10 * e.hold]:
            del self._entries[key]
        if len(self._entries) >= _MAX_ENTRIES:  # all recent: the oldest half goes
            for key in sorted(self._entries, key=lambda k: self._entries[k].at)[: _MAX_ENTRIES // 2]:
                del self._entries[key]
