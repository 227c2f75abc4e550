"""The processing cycle as its driver sees it: phases, events, and the table of transitions.

This is the one place the exchange between the flow (`connector.ticketing.flow.run_cycle`) and
whoever drives it (the element's handlers, `connector.ticketing.handlers`; the flow tests) is
written down. The driver checks every step against `TRANSITIONS` (`next_phase`), so code that
strays from it fails loudly instead of wedging a cycle.

The rules
---------

The flow yields one thing, a `Round` (connector.ticketing.calls), and is resumed with the replies
of its calls, a tuple in the order of the calls. A round's kind says what the driver does:

    SEND           send the calls; when every one is answered, resume the flow with the replies.

    SEND_AND_WORK  send the calls, then let the flow go on: it has work to do while they are on
                   the wire (settling the wave before into the rows, noting and building the
                   waves after). The element defers a CONTINUE step, so that the calls leave
                   with this step's commit and the work runs in a step of its own. Whichever
                   comes first resumes the flow:
                   - the CONTINUE: the flow is resumed with NOT_YET, does its work, and yields a
                     COLLECT;
                   - the replies ("answers first": the element was busy, the platform quick):
                     the flow is resumed with them at once, so the next request goes out before
                     the work; the work waits for the flow's next round.
                   A CONTINUE that comes after the replies finds the flow elsewhere and is
                   ignored, as is one that outlived its cycle.

    COLLECT        no new calls: resume the flow with the replies of the SEND_AND_WORK round
                   still out, when they come.

    WAIT           only inside a wave of batches (`PlatformClient.gather`): a batch waits for
                   another one's login. It never reaches the driver: if it does, that is a bug.

The flow may end (its report) or fail (a bug: the cycle ends, the reason is logged) only while
it runs; a driver that stops it (Ticketing Processing disabled) does so when it would resume it.
Replies that come when no cycle waits for them (the cycle was stopped) are dropped.

Crash safety does not live here: the element commits every table and journal change before the
calls of the step that made it leave, whatever the phase.
"""

from __future__ import annotations

from enum import Enum

from connector.ticketing.calls import RoundKind


class Phase(Enum):
    IDLE = "idle"  # no cycle
    RUNNING = "running"  # the flow works out its next round (within one step)
    AWAITING_REPLIES = "awaiting replies"  # calls out; the flow waits for their replies
    WORKING_WHILE_OUT = "working while out"  # calls out, and the flow has work to do meanwhile
    WORKING = "working"  # resumed with NOT_YET: doing that work (within one step), then COLLECT


class Event(Enum):
    START = "start"  # a cycle begins
    SEND = "send"  # the flow yielded a SEND round
    SEND_AND_WORK = "send and work"  # ... a SEND_AND_WORK round
    COLLECT = "collect"  # ... a COLLECT round
    WAIT = "wait"  # ... a WAIT round (never valid here)
    REPLIES = "replies"  # every call of the round out was answered
    CONTINUE = "continue"  # the deferred step after a SEND_AND_WORK runs
    END = "end"  # the flow returned its report
    STOP = "stop"  # the driver stopped the flow, or the flow failed


class FlowProtocolError(Exception):
    """The flow or its driver broke the rules of `TRANSITIONS`: a bug, not a platform's fault."""


IGNORED = None  # an event that may come late, and changes nothing

TRANSITIONS: dict[Phase, dict[Event, Phase | None]] = {
    Phase.IDLE: {
        Event.START: Phase.RUNNING,
        Event.REPLIES: IGNORED,  # the answers of a stopped cycle
        Event.CONTINUE: IGNORED,
    },
    Phase.RUNNING: {
        Event.SEND: Phase.AWAITING_REPLIES,
        Event.SEND_AND_WORK: Phase.WORKING_WHILE_OUT,
        Event.END: Phase.IDLE,
        Event.STOP: Phase.IDLE,
    },
    Phase.AWAITING_REPLIES: {
        Event.REPLIES: Phase.RUNNING,
        Event.CONTINUE: IGNORED,  # its answers came first: the flow went on without it
    },
    Phase.WORKING_WHILE_OUT: {
        Event.CONTINUE: Phase.WORKING,
        Event.REPLIES: Phase.RUNNING,  # answers first
    },
    Phase.WORKING: {
        Event.COLLECT: Phase.AWAITING_REPLIES,
        Event.STOP: Phase.IDLE,
    },
}

EVENT_OF_ROUND = {
    RoundKind.SEND: Event.SEND,
    RoundKind.SEND_AND_WORK: Event.SEND_AND_WORK,
    RoundKind.COLLECT: Event.COLLECT,
    RoundKind.WAIT: Event.WAIT,
}


def next_phase(phase: Phase, event: Event) -> Phase | None:
    """Where `event` takes a driver in `phase`; None: the event came late and changes nothing."""
    try:
        return TRANSITIONS[phase][event]
    except KeyError:
        raise FlowProtocolError(f"{event.value} is not expected while {phase.value}") from None


def step_to(phase: Phase, event: Event) -> Phase:
    """Where `event` takes a driver in `phase`, for an event that may not come late."""
    after = next_phase(phase, event)
    if after is None:
        raise FlowProtocolError(f"{event.value} changes nothing while {phase.value}")
    return after
