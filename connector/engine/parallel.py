"""Parallel requests: sets of requests sent at once, outside the group queue.

DataMiner sends one request at a time per connection; its multithreaded HTTP lets QActions
send more at once. This is that, for connectors whose platform is slow: the handler decides
how many, and keeps what must stay in order in order. A set fires its trigger once every
request of it is answered; its answers are then kept, in request order, until taken.
"""

from __future__ import annotations

from connector.engine.events import HttpResult


class _OpenSet:
    __slots__ = ("trigger", "answered", "results")

    def __init__(self, size: int, trigger: int) -> None:
        self.trigger, self.answered = trigger, 0
        self.results: list[HttpResult | None] = [None] * size


class ParallelRequests:
    """The open sets and the answers of the finished ones, by set id."""

    def __init__(self) -> None:
        self._requests: dict[int, tuple[int, int]] = {}  # request id -> (set id, index)
        self._open: dict[int, _OpenSet] = {}
        self._finished: dict[int, list[HttpResult]] = {}

    def open(self, set_id: int, request_ids: list[int], done_trigger: int) -> None:
        """A set whose requests carry `request_ids`, in order."""
        self._open[set_id] = _OpenSet(len(request_ids), done_trigger)
        for index, request_id in enumerate(request_ids):
            self._requests[request_id] = (set_id, index)

    def __contains__(self, request_id: object) -> bool:
        """Whether `request_id` is a request of an open set."""
        return request_id in self._requests

    def answer(self, result: HttpResult) -> int | None:
        """Record an answer; the set's trigger when it was the set's last, else None."""
        set_id, index = self._requests.pop(result.request_id)
        pending = self._open[set_id]
        pending.results[index] = result
        pending.answered += 1
        if pending.answered < len(pending.results):
            return None
        del self._open[set_id]
        self._finished[set_id] = [r for r in pending.results if r is not None]
        return pending.trigger

    def take(self, set_id: int) -> list[HttpResult]:
        """The answers of a finished set, in request order; [] for an open or unknown set."""
        return self._finished.pop(set_id, [])
