"""Repeating timers on the event loop's clock, which is monotonic: a wall-clock jump moves none of them.

APScheduler 3.x (used before) schedules on wall-clock datetimes: a backward jump of the system
clock stopped every timer for the length of the jump, and it has no monotonic mode. asyncio's
`loop.call_at` runs on `loop.time()` (time.monotonic), so this small module does what the
runtime needed of it, with the same semantics:

- one pending fire per timer: scheduling a timer again replaces it (APScheduler's
  replace_existing), and a timer never has two fires queued (max_instances=1);
- late fires run, once: a loop that was busy past one or more due times fires the timer once and
  goes on with the next due time after now (coalesce=True, misfire_grace_time=None);
- the fire is a plain callback on the loop (the runtime's only posts an event to the element).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Hashable

MIN_INTERVAL = 0.001  # seconds: a 0 interval would spin the loop


class Timers:
    """Named repeating timers. Create it inside the running loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._handles: dict[Hashable, asyncio.TimerHandle] = {}

    def schedule(self, key: Hashable, fire: Callable[[], object], *, first_in: float, interval: float) -> None:
        """Fire `fire` in `first_in` seconds, then every `interval` seconds, until cancelled."""
        self.cancel(key)
        due = self._loop.time() + max(first_in, 0.0)
        self._arm(key, fire, due, max(interval, MIN_INTERVAL))

    def _arm(self, key: Hashable, fire: Callable[[], object], due: float, interval: float) -> None:
        self._handles[key] = self._loop.call_at(due, self._fire, key, fire, due, interval)

    def _fire(self, key: Hashable, fire: Callable[[], object], due: float, interval: float) -> None:
        now = self._loop.time()
        # Coalesced: however many due times passed while the loop was busy, one fire, and the
        # next due time is the first one after now (on the timer's own grid, no drift).
        missed = max(math.floor((now - due) / interval), 0)
        self._arm(key, fire, due + (missed + 1) * interval, interval)
        fire()

    def due_in(self, key: Hashable) -> float | None:
        """Seconds until the timer's next fire (None: not scheduled)."""
        handle = self._handles.get(key)
        return None if handle is None else handle.when() - self._loop.time()

    def cancel(self, key: Hashable) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for key in list(self._handles):
            self.cancel(key)

    def __len__(self) -> int:
        return len(self._handles)
