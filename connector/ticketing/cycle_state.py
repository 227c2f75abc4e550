"""What the Ticketing BE handlers keep between runs, and what they read of the element each time:
the cycle's state in element memory, the In Flight journal in its parameter, the flow's
settings, and the scrubber that keeps every form of a secret out of what they show.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache

from attrs import define, field

from connector.engine.context import HandlerContext
from connector.ticketing.calls import PlatformCall
from connector.ticketing.flow import CycleReport, FlowSettings, InFlightEntry, PlatformSession
from connector.ticketing.ids import ids
from connector.ticketing.scrub import Scrubber
from connector.ticketing.session import CycleFlow
from connector.ticketing.states import Phase
from connector.ticketing.waits import Waits

ENABLED = 1  # Ticketing Processing: Enabled
DEFAULT_SETTLE = 120.0  # Settle Time's default in protocol.yaml, for a parameter not set yet


@define
class CycleState:
    """What the handlers keep between runs (element memory: lost on restart, by design —
    after a restart the table alone says where every ticket is)."""

    session: PlatformSession = field(factory=PlatformSession)
    rng: random.Random = field(factory=random.Random)
    cycle: CycleFlow[CycleReport] | None = None
    phase: Phase = Phase.IDLE  # where the cycle is, by connector.ticketing.states
    out: tuple[PlatformCall, ...] = ()  # the calls on the wire
    parallel_set: int | None = None  # the parallel set they went out as (more than one call)
    started: float = 0.0  # on the monotonic clock (the cycle's duration)
    requests: int = 0
    report: CycleReport | None = None  # the running cycle's, its events taken as they come
    timeout: str | None = None  # why the element is in timeout (the platform down), or None
    down_cycles: int = 0  # cycles in a row that found the platform down (the backoff's exponent)
    retry_at: float = 0.0  # in timeout: no cycle starts before this (monotonic) time
    waits: Waits | None = None  # Next Try on the monotonic clock (connector.ticketing.waits)


class ParamJournal:
    """The flow's journal of writes on their way, in the saved parameter In Flight (JSON)."""

    def __init__(self, protocol: HandlerContext) -> None:
        self._protocol = protocol

    def load(self) -> list[InFlightEntry]:
        try:
            entries = json.loads(self._protocol.get(ids().in_flight) or "[]")
        except ValueError:
            self._protocol.log("In Flight held no readable journal: ignored", "warning")
            return []
        # An entry written before entries kept their time counts from now (the safe side).
        now = self._protocol.now()
        return [
            (str(entry[0]), tuple(str(k) for k in entry[1]), float(entry[2]) if len(entry) > 2 else now)
            for entry in entries
        ]

    def save(self, entries: list[InFlightEntry]) -> None:
        self._protocol.set(
            ids().in_flight, json.dumps([[operation, list(keys), at] for operation, keys, at in entries])
        )


def cycle_state(protocol: HandlerContext) -> CycleState:
    state = protocol.memory.get("ticketing")
    if state is None:
        # Seeded by the element's name: runs are reproducible, and elements still differ.
        # In timeout as the element was saved (a restart): the platform's first answer ends it.
        state = protocol.memory["ticketing"] = CycleState(
            rng=random.Random(protocol.element_name), timeout=protocol.timeout_reason
        )
    if state.waits is None:
        state.waits = Waits(protocol.now, protocol.monotonic)
    return state


def cycle_waits(protocol: HandlerContext) -> Waits:
    waits = cycle_state(protocol).waits
    assert waits is not None
    return waits


def flow_settings(protocol: HandlerContext) -> FlowSettings:
    return FlowSettings(
        max_retries=int(protocol.get(ids().max_retries)),
        batch_size=int(protocol.get(ids().batch_size)),
        retry_delay=float(protocol.get(ids().retry_delay)),
        client_id=protocol.get(ids().client_id) or "",
        username=protocol.get(ids().username) or "",
        password=protocol.get(ids().password) or "",
        api_key=protocol.get(ids().api_key) or "",
        concurrency=int(protocol.get(ids().concurrency) or 1),
        settle_time=settle_time(protocol),
    )


def settle_time(protocol: HandlerContext) -> float:
    value = protocol.get(ids().settle_time)
    return float(DEFAULT_SETTLE if value is None else value)


def scrub(protocol: HandlerContext, text: str) -> str:
    """Platforms have been known to echo what they were sent: never let a secret, in any of its
    forms, reach the log or a parameter (`connector.ticketing.scrub`)."""
    return scrubber(protocol, cycle_state(protocol))(text)


def scrubber(protocol: HandlerContext, state: CycleState) -> Scrubber:
    # Not through _settings: this runs when a cycle failed, maybe on a bad setting.
    return _scrubber_of(
        str(protocol.get(ids().username) or ""),
        str(protocol.get(ids().password) or ""),
        str(protocol.get(ids().api_key) or ""),
        (state.session.access_token, state.session.refresh_token),
    )


@lru_cache(maxsize=8)
def _scrubber_of(username: str, password: str, api_key: str, tokens: tuple[str, str]) -> Scrubber:
    """Built once per set of secrets, not at every log line: each secret's encoded forms cost."""
    return Scrubber.of(username=username, password=password, api_key=api_key, tokens=tokens)
