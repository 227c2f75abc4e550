"""A small HTTP poller declared in YAML, for runtime tests of the DataMiner rules of issue 15:
conditions, the element's timeout, `each` / `before` / `timeout` triggers, response headers
into parameters, Interprete exceptions, write and button columns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connector.engine import events as ev
from connector.engine.element import Element, Saved
from connector.engine.testing import FakeClock, Harness
from connector.protocol.loader import parse_protocol
from connector.protocol.model import Protocol

SWITCH = "[{display: Disabled, value: 0}, {display: Enabled, value: 1}]"
N_A = "[{value: -1, display: N/A}]"
POLLER_YAML = f"""
protocol: {{name: Poller, version: 1.0.0.1, timeout_after: 3}}
params:
  - {{id: 3, name: Each Changed, type: dummy}}
  - {{id: 4, name: Reset Pressed, type: dummy}}
  - {{id: 10, name: Polling, kind: discreet, discreets: {SWITCH}, default: 1, save: true}}
  - {{id: 11, name: Polling, type: write, kind: toggle, discreets: {SWITCH}, setter: true}}
  - {{id: 20, name: Level, kind: number, range: {{low: 0, high: 100}}, exceptions: {N_A}, default: 0}}
  - {{id: 21, name: Level, type: write, kind: number, range: {{low: 0, high: 100}}, exceptions: {N_A}, setter: true}}
  - {{id: 30, name: Status Line}}
  - {{id: 31, name: Content}}
  - {{id: 32, name: Rate Limit}}
  - {{id: 33, name: Alarm, kind: discreet, discreets: [{{display: Normal, value: 0}}, {{display: High, value: 1}}]}}
  - {{id: 41, name: Polls Started, kind: number, default: 0}}
  - {{id: 42, name: Fetch Failures, kind: number, default: 0}}
tables:
  - id: 1000
    name: Sensors
    key: 1001
    columns:
      - {{id: 1001, name: Sensor}}
      - {{id: 1002, name: Reading, kind: number}}
      - {{id: 1003, name: Label, write: true}}
      - {{id: 1004, name: Reset, kind: button, discreets: [{{display: Reset, value: 1}}]}}
http:
  - id: 1
    name: Fetch
    request: {{path: /data}}
    response: {{status_param: 30, content_param: 31, headers: [{{key: X-Rate-Limit, param: 32}}]}}
groups:
  - {{id: 1, name: Poll, content: {{sessions: [1]}}, condition: "id:10 == 'Enabled'"}}
timers:
  - {{id: 1, name: Poll Timer, interval: 2, initial: true, groups: [1]}}
triggers:
  - {{id: 1, name: After Startup, on: protocol, time: after startup, actions: [1]}}
  - id: 2
    name: Level Set High
    on: parameter
    on_id: 21
    time: change
    condition: "id:21 > 50 AND id:10 == 'Enabled'"
    actions: [2]
  - {{id: 3, name: Anything Else, on: parameter, on_id: each, time: change, actions: [3]}}
  - {{id: 4, name: Before Poll, on: group, on_id: 1, time: before, actions: [4]}}
  - {{id: 5, name: Fetch Failed, on: session, on_id: 1, time: timeout, actions: [5]}}
actions:
  - {{id: 1, name: First Poll, on: group, on_id: 1, type: execute next}}
  - {{id: 2, name: Raise Alarm, on: parameter, on_id: 33, type: set, value: High}}
  - {{id: 3, name: Note Change, on: parameter, on_id: 3, type: run handlers}}
  - {{id: 4, name: Count Poll, on: parameter, on_id: 41, type: increment}}
  - {{id: 5, name: Count Failure, on: parameter, on_id: 42, type: increment}}
handlers:
  - {{id: 3, name: Each Changed, entry: "builtins:print", triggers: [3]}}
  - {{id: 4, name: Reset, entry: "builtins:print", triggers: [1003, 1004]}}
"""


def poller_protocol() -> Protocol:
    return parse_protocol(POLLER_YAML, "poller.yaml", check_imports=False)


def make_poller(
    transport: Callable[[ev.SendRequest], ev.HttpResult] | None = None,
    handlers: Mapping[int, Callable[[Any], None]] | None = None,
) -> Harness:
    """The poller as an element on a fake clock; `handlers` by handler id (3: each, 4: cells)."""
    clock = FakeClock()
    element = Element(poller_protocol(), name="Poller 01", handlers=dict(handlers or {}), now=clock.now)
    return Harness(element, clock, transport=transport)


def saved_polling(value: int) -> Saved:
    """What the store kept of an element whose Polling was saved as `value`."""
    return Saved(params={10: value}, tables={})
