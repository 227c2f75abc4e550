"""Which elements an agent takes and which it hands over: the spread, as a pure function.

Every agent runs the same rules on the same picture of the leases, each loop:

- an element whose `prefer:` agent is alive runs there: its owner hands it over, the preferred
  agent takes it as soon as it is free, whatever its share;
- otherwise an agent takes a free element (no lease, or an expired one) while it owns fewer
  than its fair share, `ceil(elements / live agents)`;
- an agent that owns more than its share (an agent joined or came back) hands the excess over,
  those it took last first (by name, from the end): the others have room for them.

Taking is a race the database settles (connector.service.cluster.leases): of two agents that
both see a free element, one bumps the epoch and the other finds it taken. The rules never ask
two agents to hold one element, so they settle after a loop or two, without a leader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set

from attrs import frozen


@frozen(kw_only=True)
class Picture:
    """What an agent sees of the cluster at one loop."""

    me: str
    elements: Mapping[str, str | None]  # every element's name -> its `prefer:` agent
    live_agents: Set[str]  # agents seen within a lease's time to live (me included)
    held: Mapping[str, str]  # elements whose lease is live -> the agent holding it
    owned: Set[str]  # elements this agent runs now


@frozen(kw_only=True)
class Plan:
    take: tuple[str, ...]
    hand_over: tuple[str, ...]


def fair_share(elements: int, agents: int) -> int:
    return math.ceil(elements / max(agents, 1))


def plan(picture: Picture) -> Plan:
    me, live = picture.me, picture.live_agents | {picture.me}
    share = fair_share(len(picture.elements), len(live))

    def preferred_elsewhere(element: str) -> bool:
        prefer = picture.elements.get(element)
        return prefer is not None and prefer != me and prefer in live

    hand_over = [element for element in sorted(picture.owned) if preferred_elsewhere(element)]
    keep = [element for element in sorted(picture.owned) if element not in hand_over]
    movable = [element for element in keep if picture.elements.get(element) != me]  # not those preferring me
    excess = min(max(len(keep) - share, 0), len(movable))
    if excess:
        hand_over += movable[-excess:]
    count = len(keep) - excess
    take = []
    free = sorted(
        (element for element in picture.elements if element not in picture.held and element not in picture.owned),
        key=lambda element: (picture.elements[element] != me, element),
    )
    for element in free:
        if preferred_elsewhere(element):
            continue
        if picture.elements[element] == me or count < share:
            take.append(element)
            count += 1
    return Plan(take=tuple(take), hand_over=tuple(hand_over))
