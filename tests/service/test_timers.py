"""The runtime's timers on the loop's monotonic clock (connector.service.timers), on a fake loop."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from connector.service.timers import Timers


class FakeHandle:
    def __init__(self, when: float) -> None:
        self._when, self.cancelled = when, False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """`time()` and `call_at` as asyncio's loop has them; `advance` runs what falls due, in order.
    `busy` moves the clock without running anything (a loop stuck in a long step)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._calls: list[tuple[float, int, FakeHandle, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> FakeHandle:
        handle = FakeHandle(when)
        heapq.heappush(self._calls, (when, next(self._order), handle, callback, args))
        return handle

    def busy(self, seconds: float) -> None:
        self.now += seconds

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._calls and self._calls[0][0] <= target:
            when, _, handle, callback, args = heapq.heappop(self._calls)
            if handle.cancelled:
                continue
            self.now = max(self.now, when)
            callback(*args)
        self.now = target


@pytest.fixture
def loop() -> FakeLoop:
    return FakeLoop()


def timers(loop: FakeLoop) -> Timers:
    return Timers(loop)  # type: ignore[arg-type]  # the fake has what Timers uses: time, call_at


def test_a_timer_fires_first_in_then_every_interval(loop: FakeLoop) -> None:
    fired: list[float] = []
    t = timers(loop)
    t.schedule("a", lambda: fired.append(loop.now), first_in=2, interval=10)
    loop.advance(35)
    assert fired == [1002.0, 1012.0, 1022.0, 1032.0]
    assert t.due_in("a") == pytest.approx(7.0)


def test_scheduling_again_replaces_the_pending_fire(loop: FakeLoop) -> None:
    fired: list[str] = []
    t = timers(loop)
    t.schedule("a", lambda: fired.append("old"), first_in=5, interval=100)
    t.schedule("a", lambda: fired.append("new"), first_in=1, interval=100)
    loop.advance(50)
    assert fired == ["new"] and len(t) == 1


def test_late_fires_run_once_and_keep_the_grid(loop: FakeLoop) -> None:
    fired: list[float] = []
    t = timers(loop)
    t.schedule("a", lambda: fired.append(loop.now), first_in=10, interval=10)
    loop.busy(45)  # the loop was stuck past four due times
    loop.advance(0)
    assert fired == [1045.0]  # one fire, not four
    loop.advance(10)
    assert fired == [1045.0, 1050.0]  # back on its own grid (1050, 1060, ...)


def test_cancel_stops_a_timer_and_cancel_all_every_timer(loop: FakeLoop) -> None:
    fired: list[str] = []
    t = timers(loop)
    t.schedule("a", lambda: fired.append("a"), first_in=1, interval=1)
    t.schedule(("e", 2), lambda: fired.append("b"), first_in=1, interval=1)
    t.cancel("a")
    loop.advance(1)
    assert fired == ["b"]
    t.cancel_all()
    loop.advance(10)
    assert fired == ["b"] and len(t) == 0 and t.due_in("a") is None


def test_a_zero_interval_does_not_spin(loop: FakeLoop) -> None:
    fired: list[float] = []
    timers(loop).schedule("a", lambda: fired.append(loop.now), first_in=0, interval=0)
    loop.advance(0.0105)
    assert len(fired) == 11  # every millisecond at most


def test_a_fire_that_raises_keeps_its_timer(loop: FakeLoop) -> None:
    calls: list[float] = []

    def fire() -> None:
        calls.append(loop.now)
        raise RuntimeError("boom")

    t = timers(loop)
    t.schedule("a", fire, first_in=1, interval=1)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            loop.advance(1)
    assert calls == [1001.0, 1002.0]


def test_timers_read_no_wall_clock(loop: FakeLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wall-clock jump cannot move them: they never read it."""
    import time

    def jumped() -> float:
        raise AssertionError("the wall clock was read")

    monkeypatch.setattr(time, "time", jumped)
    fired: list[float] = []
    timers(loop).schedule("a", lambda: fired.append(loop.now), first_in=1, interval=1)
    loop.advance(3)
    assert fired == [1001.0, 1002.0, 1003.0]
