"""The spread: every element on exactly one agent, none over its fair share, `prefer:` honoured."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.service.cluster.spread import Picture, fair_share, plan


def settle(
    agents: list[str], elements: dict[str, str | None], owned: dict[str, str], rounds: int = 20
) -> dict[str, str]:
    """Every agent runs the plan in turn, as their loops would, until nothing changes."""
    owned = dict(owned)
    for _ in range(rounds):
        changed = False
        for me in agents:
            step = plan(
                Picture(
                    me=me,
                    elements=elements,
                    live_agents=set(agents),
                    held=owned,
                    owned={e for e, a in owned.items() if a == me},
                )
            )
            for element in step.hand_over:
                del owned[element]
                changed = True
            for element in step.take:
                assert element not in owned, "an agent never takes a held element"
                owned[element] = me
                changed = True
        if not changed:
            return owned
    raise AssertionError(f"no settling after {rounds} rounds: {owned}")


def test_one_agent_takes_everything_and_a_second_gets_its_share() -> None:
    elements: dict[str, str | None] = {f"BE {i}": None for i in range(4)}
    alone = settle(["a"], elements, {})
    assert set(alone.values()) == {"a"} and len(alone) == 4
    shared = settle(["a", "b"], elements, alone)
    assert sorted(shared.values()) == ["a", "a", "b", "b"]


def test_a_preferred_agent_gets_its_element_back_when_it_returns() -> None:
    elements: dict[str, str | None] = {"BE 1": "b", "BE 2": None, "BE 3": None}
    without_b = settle(["a", "c"], elements, {})
    assert without_b["BE 1"] in ("a", "c")
    back = settle(["a", "b", "c"], elements, without_b)
    assert back["BE 1"] == "b"


@settings(max_examples=200, deadline=None)
@given(
    agents=st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True),
    count=st.integers(min_value=0, max_value=12),
    prefers=st.lists(st.sampled_from([None, "a", "b", "z"]), min_size=12, max_size=12),
    first=st.data(),
)
def test_any_cluster_settles_with_each_element_once_and_fair_shares(agents, count, prefers, first) -> None:
    elements = {f"BE {i:02d}": prefers[i] for i in range(count)}
    start = first.draw(st.dictionaries(st.sampled_from(sorted(elements) or ["-"]), st.sampled_from(agents)))
    start = {e: a for e, a in start.items() if e in elements}
    owned = settle(agents, elements, start)
    assert set(owned) == set(elements), "every element runs somewhere"
    share = fair_share(len(elements), len(agents))
    for agent in agents:
        mine = [e for e, a in owned.items() if a == agent]
        preferred_here = [e for e in mine if elements[e] == agent]
        assert len(mine) <= max(share, len(preferred_here)), (agent, mine, share)
    for element, prefer in elements.items():
        if prefer in agents:
            assert owned[element] == prefer
    assert fair_share(0, 0) == 0
