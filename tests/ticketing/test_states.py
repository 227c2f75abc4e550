"""The table of the cycle's phases (connector.ticketing.states) and the round a flow yields."""

from __future__ import annotations

import pytest

from connector.ticketing.calls import PlatformCall, Round, RoundKind
from connector.ticketing.states import (
    EVENT_OF_ROUND,
    TRANSITIONS,
    Event,
    FlowProtocolError,
    Phase,
    next_phase,
    step_to,
)

CALL = PlatformCall(session="login", method="POST", path="/CherwellAPI/token")


def test_a_cycle_with_work_while_out_and_with_answers_first_keeps_to_the_table() -> None:
    phase = step_to(Phase.IDLE, Event.START)
    phase = step_to(phase, Event.SEND_AND_WORK)
    assert phase is Phase.WORKING_WHILE_OUT
    assert step_to(phase, Event.REPLIES) is Phase.RUNNING  # answers first
    phase = step_to(step_to(phase, Event.CONTINUE), Event.COLLECT)
    assert phase is Phase.AWAITING_REPLIES
    assert next_phase(phase, Event.CONTINUE) is None, "a Continue Cycle after its answers changes nothing"
    assert step_to(step_to(phase, Event.REPLIES), Event.END) is Phase.IDLE


def test_what_the_table_does_not_allow_is_a_protocol_error() -> None:
    with pytest.raises(FlowProtocolError):
        step_to(Phase.RUNNING, EVENT_OF_ROUND[RoundKind.WAIT])  # a wave's WAIT never reaches the driver
    with pytest.raises(FlowProtocolError):
        step_to(Phase.WORKING_WHILE_OUT, Event.COLLECT)  # collect only after the work
    with pytest.raises(FlowProtocolError):
        step_to(Phase.AWAITING_REPLIES, Event.CONTINUE)  # late: changes nothing, so not a step


def test_every_phase_is_in_the_table_and_every_target_is_a_phase() -> None:
    assert set(TRANSITIONS) == set(Phase)
    for moves in TRANSITIONS.values():
        assert all(target is None or isinstance(target, Phase) for target in moves.values())
    assert set(EVENT_OF_ROUND) == set(RoundKind)


def test_a_round_carries_calls_exactly_when_it_sends() -> None:
    assert Round((CALL,)).kind is RoundKind.SEND
    Round((CALL,), RoundKind.SEND_AND_WORK)
    Round((), RoundKind.COLLECT)
    with pytest.raises(ValueError):
        Round(())
    with pytest.raises(ValueError):
        Round((CALL,), RoundKind.COLLECT)
