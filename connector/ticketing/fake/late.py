"""Late writes: a write whose answer was lost on the way back, applied later by something in
between (a queuing gateway, a retrying proxy). The `late_rate` fault holds such writes here;
the platform lands them when they are due by its clock, before it answers anything else.
"""

from __future__ import annotations

from collections.abc import Callable


class LateWrites:
    """The held writes, each with the time it lands."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._held: list[tuple[float, Callable[[], object]]] = []

    def hold(self, delay: float, apply: Callable[[], object]) -> None:
        """`apply` lands `delay` seconds from now."""
        self._held.append((self._clock() + delay, apply))

    def land(self, *, all_of_them: bool = False) -> int:
        """Apply the held writes that are due (`all_of_them`: every one, as if the clock had passed
        them all), oldest due first. Returns how many landed."""
        now = self._clock()
        due = [late for late in self._held if all_of_them or late[0] <= now]
        if not due:
            return 0
        self._held = [late for late in self._held if late not in due]
        for _, apply in sorted(due, key=lambda late: late[0]):
            apply()
        return len(due)

    def __len__(self) -> int:
        return len(self._held)
