"""The element's group queue, with DataMiner's queue positions.

DataMiner keeps one queue per element and runs one group at a time. Where an action puts a
group decides when it runs:

    add to execute     at the very end, with the timer groups
    execute            after the last group that was not added by a timer or `add to
                       execute`, i.e. ahead of the timer groups, behind other executes
    execute next       at the front: right after the group that is running now
    execute one / one now / one top
                       like add to execute / execute / execute next, but only if the group
                       is not queued yet (the running group does not count)

A timer adds its groups at the end, never a group that is already queued.

HTTP requests are built when a group is queued, not when it runs: a request parameter that
changes while the group waits does not change the request (DataMiner buffers them). The
queue therefore stores whatever the element built at queue time as the entry's `payload`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from attrs import define

from connector.protocol.model import ActionType

# Where each way of queueing puts a group, and whether it skips an already-queued group.
_BACK, _BEFORE_TIMERS, _FRONT = "back", "before timers", "front"
POSITIONS: dict[ActionType | str, tuple[str, bool]] = {
    "timer": (_BACK, True),
    ActionType.ADD_TO_EXECUTE: (_BACK, False),
    ActionType.EXECUTE: (_BEFORE_TIMERS, False),
    ActionType.EXECUTE_NEXT: (_FRONT, False),
    ActionType.EXECUTE_ONE: (_BACK, True),
    ActionType.EXECUTE_ONE_NOW: (_BEFORE_TIMERS, True),
    ActionType.EXECUTE_ONE_TOP: (_FRONT, True),
}


@define(slots=True)
class Entry:
    group: int
    back_of_queue: bool  # queued by a timer or `add to execute`: `execute` goes ahead of it
    payload: Any = None


class GroupQueue:
    def __init__(self) -> None:
        self._entries: deque[Entry] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, group: object) -> bool:
        return any(e.group == group for e in self._entries)

    def groups(self) -> list[int]:
        return [e.group for e in self._entries]

    def add(self, group: int, how: ActionType | str, payload: Any = None) -> bool:
        """Queue `group` the way `how` says; False when an `one` variant found it queued."""
        position, only_once = POSITIONS[how]
        if only_once and group in self:
            return False
        entry = Entry(group=group, back_of_queue=position == _BACK, payload=payload)
        if position == _BACK:
            self._entries.append(entry)
        elif position == _FRONT:
            self._entries.appendleft(entry)
        else:
            index = 0
            for i, queued in enumerate(self._entries):
                if not queued.back_of_queue:
                    index = i + 1
            self._entries.insert(index, entry)
        return True

    def pop(self) -> Entry | None:
        return self._entries.popleft() if self._entries else None

    def drop(self, groups: set[int]) -> None:
        """Remove every queued entry of these groups (restart timer)."""
        self._entries = deque(e for e in self._entries if e.group not in groups)
