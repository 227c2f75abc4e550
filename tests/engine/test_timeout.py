"""The element's timeout (connector.engine.timeout) and the HTTP triggers of issue 15, at runtime
through the Harness: `timeout_after: 3` in the poller's header, its `before`, `timeout` and
`each` triggers, and the response header stored in a parameter."""

from __future__ import annotations

from typing import Any

from connector.engine import events as ev
from connector.engine.testing import answer, failure
from tests.engine.poller import make_poller


def _failing(request: ev.SendRequest) -> ev.HttpResult:
    return failure(request, "timeout", "no answer within 30 s")


def test_three_requests_in_a_row_without_an_answer_put_the_element_in_timeout_the_next_answer_ends_it() -> None:
    outcome: list[Any] = [_failing]
    h = make_poller(lambda request: outcome[0](request))
    h.start()  # the after-startup poll and the timer's first: 2 failures
    assert h.statuses == [] and h.timeout is None
    h.advance(2)  # the third
    (status,) = h.statuses
    assert status.timeout and h.timeout == (
        "session 'Fetch': 3 requests in a row without an answer (the last: TIMEOUT: no answer within 30 s)"
    )
    h.advance(4)  # still failing: no second status
    assert len(h.statuses) == 1
    outcome[0] = lambda request: answer(request, 503, "down")  # an HTTP error is an answer
    h.advance(2)
    assert h.statuses[-1] == ev.ElementStatus(timeout=False) and h.timeout is None
    outcome[0] = _failing
    h.advance(4)  # two misses after an answer: not yet
    assert len(h.statuses) == 2
    h.advance(2)
    assert h.timeout is not None and len(h.statuses) == 3


def test_without_timeout_after_an_element_never_goes_into_timeout_by_itself() -> None:
    from attrs import evolve

    from connector.engine.element import Element
    from connector.engine.testing import FakeClock, Harness
    from tests.engine.poller import poller_protocol

    clock = FakeClock()
    element = Element(evolve(poller_protocol(), timeout_after=None), name="P", handlers={}, now=clock.now)
    h = Harness(element, clock, transport=_failing)
    h.start()
    h.advance(20)
    assert len(h.requests) == 12 and h.statuses == []


def test_before_and_session_timeout_triggers_fire_at_runtime() -> None:
    outcome: list[Any] = [lambda request: answer(request, 200, "{}")]
    h = make_poller(lambda request: outcome[0](request))
    h.start()
    assert h.element.view.get("Polls Started") == 2 and h.element.view.get("Fetch Failures") == 0
    outcome[0] = _failing
    h.advance(4)
    assert h.element.view.get("Polls Started") == 4 and h.element.view.get("Fetch Failures") == 2


def test_the_response_header_goes_into_its_parameter_and_each_fires_for_parameters_without_a_trigger() -> None:
    changed: list[Any] = []
    h = make_poller(
        lambda request: answer(request, 200, '{"level": 7}', headers={"x-rate-limit": "99"}),
        handlers={3: lambda protocol: changed.append(protocol.trigger_param)},
    )
    h.start()
    view = h.element.view
    assert view.get("Rate Limit") == "99" and view.get("Status Line") == "HTTP/1.1 200 OK"
    assert view.get("Content") == '{"level": 7}'
    # `each` stands in for every parameter without a change trigger of its own: Polls Started
    # (41) before each of the two first polls, and the status, content and header of the first
    # answer; the second answer is the same, and a protocol write fires on a change only.
    assert len(changed) == 5
    h.set("Level", 40)  # Level's write (21) has trigger 2 of its own: `each` does not fire
    assert len(changed) == 5
    h.advance(2)  # the next poll: Polls Started changes, the answer does not
    assert len(changed) == 6
