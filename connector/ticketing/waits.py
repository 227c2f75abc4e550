"""Next Try on a clock that does not jump: saved and shown as a wall-clock time, waited on monotonic time.

A ticket's Next Try is a wall-clock time in its row (saved, shown, kept across restarts). Compared
with the wall clock while running, a backward jump of an hour held every backing-off ticket for an
hour, and a forward jump woke them all early. So while the process runs each Next Try has a
deadline on the monotonic clock beside it, and waits are measured on that:

- a Next Try this process writes (`note`) waits `Next Try - wall now` from the monotonic now of
  the write: exactly the back-off it was given, whatever the wall clock does afterwards;
- a Next Try it did not write (read from the store at start, or by another handler) is converted
  once, when first seen: `monotonic now + (Next Try - wall now)`, clamped to [0, `longest`], so a
  Next Try saved before a backward jump across a restart waits no longer than the longest back-off.

Waits are kept in memory only (a restart converts again). `longest` is the longest wait the
flow writes (the capped back-off); a saved Next Try further ahead than that can only be a clock
that moved. A flow that writes longer waits (a settle time) must give a `longest` to match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connector.engine.table import Table
from connector.ticketing import tickets as tk
from connector.ticketing.cells import seconds


class Waits:
    """Monotonic deadlines beside the saved wall-clock Next Try values of one element."""

    def __init__(
        self, wall: Callable[[], float], monotonic: Callable[[], float], *, longest: float = tk.MAX_BACKOFF
    ) -> None:
        self.wall, self.monotonic, self.longest = wall, monotonic, longest
        self._deadlines: dict[str, tuple[float, float]] = {}  # key -> (Next Try saved, monotonic deadline)
        self._by_value: dict[float, float] = {}  # Next Try -> its deadline (a waiter shares its creator's)

    def note(self, key: str, next_try: float) -> None:
        """`next_try` was just written for `key`: it waits `next_try - wall now` from now, on the
        monotonic clock (not clamped: this process chose that wait)."""
        if next_try:
            self._keep(key, next_try, longest=None)
        else:  # the most frequent (a step that succeeded): nothing to wait for, without the call
            self._deadlines.pop(key, None)

    def deadline(self, key: str, next_try: float) -> float:
        """When `key`, saved with `next_try`, may be tried, on the monotonic clock (0: now)."""
        if not next_try:
            return 0.0
        known = self._deadlines.get(key)
        if known is None or known[0] != next_try:
            self._keep(key, next_try, longest=self.longest)  # first seen: converted once, clamped
            known = self._deadlines[key]
        return known[1]

    def _keep(self, key: str, next_try: float, *, longest: float | None) -> None:
        if not next_try:
            self._deadlines.pop(key, None)
            return
        known = self._deadlines.get(key)
        if known is not None and known[0] == next_try:
            return
        deadline = self._by_value.get(next_try)
        if deadline is None:
            wait = max(next_try - self.wall(), 0.0)
            deadline = self.monotonic() + (wait if longest is None else min(wait, longest))
            if len(self._by_value) > 2 * len(self._deadlines) + 64:
                self._by_value = {saved: d for saved, d in self._deadlines.values()}
            self._by_value[next_try] = deadline
        self._deadlines[key] = (next_try, deadline)

    def ready(self, key: str, next_try: float, at: float | None = None) -> bool:
        """Whether `key` may be tried at monotonic time `at` (default now)."""
        return self.deadline(key, next_try) <= (self.monotonic() if at is None else at)

    def has_ready_work(self, table: Table) -> bool:
        now = self.monotonic()
        return any(
            status in tk.LIVE_STATUSES and self.ready(key, next_try, now) for key, status, next_try in _live_rows(table)
        )

    def next_wait(self, table: Table) -> float | None:
        """Seconds until the earliest live ticket still waiting may be tried (None: none waits)."""
        now = self.monotonic()
        waits = [
            self.deadline(key, next_try) - now
            for key, status, next_try in _live_rows(table)
            if status in tk.LIVE_STATUSES and next_try
        ]
        return min((wait for wait in waits if wait > 0), default=None)


def _live_rows(table: Table) -> Iterable[tuple[str, object, float]]:
    """(key, Status, Next Try in seconds) of every live row (Received, In Progress: the only
    ones either caller looks at); an unreadable Next Try reads 0."""
    for key, status, next_try in table.cells(tk.STATUS, tk.NEXT_TRY):
        if status in tk.LIVE_STATUSES:
            yield key, status, seconds(next_try)
