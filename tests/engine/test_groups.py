"""DataMiner's queue positions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.engine.groups import GroupQueue
from connector.protocol.model import ActionType as A


def queue_of(*adds: tuple[int, object]) -> GroupQueue:
    q = GroupQueue()
    for group, how in adds:
        q.add(group, how)  # type: ignore[arg-type]
    return q


def test_add_to_execute_goes_to_the_very_end() -> None:
    assert queue_of((1, "timer"), (2, A.EXECUTE_NEXT), (3, A.ADD_TO_EXECUTE)).groups() == [2, 1, 3]


def test_execute_goes_before_the_timer_groups_behind_other_executes() -> None:
    q = queue_of((1, "timer"), (2, A.ADD_TO_EXECUTE), (3, A.EXECUTE), (4, A.EXECUTE))
    assert q.groups() == [3, 4, 1, 2]


def test_execute_next_goes_to_the_front() -> None:
    assert queue_of((1, A.EXECUTE), (2, "timer"), (3, A.EXECUTE_NEXT)).groups() == [3, 1, 2]


def test_the_one_variants_skip_a_group_already_queued() -> None:
    q = queue_of((1, "timer"))
    assert not q.add(1, A.EXECUTE_ONE)
    assert not q.add(1, A.EXECUTE_ONE_NOW)
    assert not q.add(1, A.EXECUTE_ONE_TOP)
    assert q.add(2, A.EXECUTE_ONE_TOP)
    assert q.groups() == [2, 1]


def test_a_timer_never_queues_the_same_group_twice() -> None:
    q = queue_of((1, "timer"), (1, "timer"), (2, "timer"))
    assert q.groups() == [1, 2]


def test_the_plain_variants_queue_again() -> None:
    assert queue_of((1, A.EXECUTE_NEXT), (1, A.EXECUTE_NEXT)).groups() == [1, 1]


HOWS = ["timer", A.ADD_TO_EXECUTE, A.EXECUTE, A.EXECUTE_NEXT, A.EXECUTE_ONE, A.EXECUTE_ONE_NOW, A.EXECUTE_ONE_TOP]


@given(st.lists(st.tuples(st.integers(1, 5), st.sampled_from(HOWS)), max_size=30))
def test_queue_matches_a_list_model(adds: list[tuple[int, object]]) -> None:
    """The positions, restated as plain list operations, agree with the queue."""
    model: list[tuple[int, bool]] = []  # (group, back of queue)
    q = GroupQueue()
    for group, how in adds:
        once = how in ("timer", A.EXECUTE_ONE, A.EXECUTE_ONE_NOW, A.EXECUTE_ONE_TOP)
        added = q.add(group, how)  # type: ignore[arg-type]
        if once and any(g == group for g, _ in model):
            assert not added
            continue
        assert added
        if how in ("timer", A.ADD_TO_EXECUTE, A.EXECUTE_ONE):
            model.append((group, True))
        elif how in (A.EXECUTE_NEXT, A.EXECUTE_ONE_TOP):
            model.insert(0, (group, False))
        else:
            last = max((i + 1 for i, (_, back) in enumerate(model) if not back), default=0)
            model.insert(last, (group, False))
        assert q.groups() == [g for g, _ in model]
