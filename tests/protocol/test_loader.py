"""protocol.yaml loading and validation: one case per rule, positions, every problem at once.

Most cases break one thing in the minimal valid document (tests/strategies.py) and check that
the rule's problem is reported; `test_minimal_document_is_valid` makes sure the break alone is
the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.protocol.errors import Problem, ProtocolError
from connector.protocol.loader import load_protocol, parse_protocol
from connector.protocol.model import EACH, GroupType, Mark, ParamType, Protocol, TriggerOn, ValueKind
from tests.strategies import (
    protocol_minimal_document,
    protocol_mutated_documents,
    protocol_mutated_texts,
    protocol_yaml,
)

FILE = "p.yaml"
Document = dict[str, Any]


def parse(document: Document | str, *, check_imports: bool = False) -> Protocol:
    text = document if isinstance(document, str) else protocol_yaml(document)
    return parse_protocol(text, FILE, check_imports=check_imports)


def problems(document: Document | str, *, check_imports: bool = False) -> list[Problem]:
    with pytest.raises(ProtocolError) as caught:
        parse(document, check_imports=check_imports)
    return list(caught.value.problems)


def item(document: Document, section: str, id: int) -> dict[str, Any]:
    return next(x for x in document[section] if x["id"] == id)


def param(d: Document, id: int) -> dict[str, Any]:
    return item(d, "params", id)


def table(d: Document) -> dict[str, Any]:
    return d["tables"][0]


def request(d: Document) -> dict[str, Any]:
    return d["http"][0]["request"]


def with_(d: Document, section: str, *items: dict[str, Any]) -> None:
    d.setdefault(section, []).extend(items)


def minimal() -> Document:
    return protocol_minimal_document()


def test_minimal_document_is_valid() -> None:
    protocol = parse(minimal(), check_imports=True)
    assert protocol.name == "Test Connector" and protocol.version == "1.0.0.1" and protocol.source == FILE
    assert len(protocol.params) == 9 and list(protocol.tables) == [1000]


# --- one case per rule ------------------------------------------------------------------------

Mutation = Callable[[Document], Any]


def case(name: str, mutate: Mutation, expected: str) -> Any:
    return pytest.param(mutate, expected, id=name)


RULE_CASES = [
    # top level
    case("unknown top key", lambda d: d.update(colour="red"),
         "unknown key 'colour'; expected one of: protocol, params, tables, http, groups, timers, triggers, actions, handlers"),
    case("protocol required", lambda d: d.pop("protocol"), "missing required key 'protocol' in the protocol file"),
    case("protocol name required", lambda d: d["protocol"].pop("name"), "missing required key 'name' in protocol"),
    case("protocol version required", lambda d: d["protocol"].pop("version"), "missing required key 'version'"),
    case("unknown protocol key", lambda d: d["protocol"].update(author="x"),
         "unknown key 'author'; expected one of: name, version, description, timeout_after"),
    case("section is a list", lambda d: d.update(params={"id": 1}), "params: expected a list"),
    # ids
    case("param id reserved 64000-69999", lambda d: param(d, 20).update(id=64000),
         "param id 64000 is reserved for DataMiner (64000-64299: DataMiner modules"),
    case("param id reserved 69999", lambda d: param(d, 20).update(id=69999), "is reserved for DataMiner"),
    case("param id reserved 100000", lambda d: param(d, 20).update(id=100000), "param id 100000 is reserved for DataMiner"),
    case("param id flow engineering", lambda d: param(d, 20).update(id=9990000), "reserved for Flow Engineering"),
    case("param id 0", lambda d: param(d, 20).update(id=0),
         "param id 0 is outside the ids DataMiner allows: use an id in 1-63999, 70000-99999, 1000000-9989999"),
    case("column id reserved", lambda d: table(d)["columns"][1].update(id=65000), "column id 65000 is reserved"),
    case("trigger id 70000", lambda d: item(d, "triggers", 2).update(id=70000),
         "trigger id 70000 is outside the ids DataMiner allows: use an id in 1-63999, 1000000-9999999"),
    case("handler id 0", lambda d: item(d, "handlers", 2).update(id=0), "handler id 0 is outside"),
    case("id not an int", lambda d: param(d, 20).update(id="twenty"), "id: expected an integer, got the text 'twenty'"),
    case("id a bool", lambda d: param(d, 20).update(id=True), "id: expected an integer, got 'true'"),
    case("duplicate param id", lambda d: with_(d, "params", {"id": 20, "name": "Other"}),
         "param id 20 is already used by the param at line"),
    case("column id is a param id", lambda d: table(d)["columns"][1].update(id=20),
         "column id 20 is already used by the param at line"),
    case("table id is a param id", lambda d: table(d).update(id=100), "table id 100 is already used by the param"),
    case("duplicate trigger id", lambda d: item(d, "triggers", 2).update(id=1), "trigger id 1 is already used by the trigger"),
    case("InterApp receive not a number", lambda d: param(d, 9000000).update(kind="number"),
         "id 9000000 is InterApp's receive parameter: only a read string param may use it"),
    case("InterApp return not a write",
         lambda d: with_(d, "params", {"id": 9000001, "name": "interApp_receive", "type": "write"}),
         "id 9000001 is InterApp's return parameter: only a read string param may use it"),
    case("InterApp id not a column", lambda d: table(d)["columns"][1].update(id=9000001), "InterApp's return parameter"),
    # params
    case("param type array", lambda d: param(d, 100).update(type="array"), "type: 'array' is not one of: read, write, dummy"),
    case("unknown kind", lambda d: param(d, 100).update(kind="strin"), "kind: 'strin' is not one of: string, number"),
    case("unknown param key", lambda d: param(d, 100).update(nmae="x"), "unknown key 'nmae'; expected one of: id, name, type"),
    case("write has a read of its name", lambda d: param(d, 11).update(name="Processing Write"),
         "write param 11 has no read param named 'Processing Write'"),
    case("setter only on write", lambda d: param(d, 20).update(setter=True), "setter applies to write params only"),
    case("button only on write", lambda d: param(d, 20).update(kind="button", discreets=[{"display": "Go"}], default=None),
         "a button is a write param: set `type: write`"),
    case("toggle write needs a discreet read", lambda d: param(d, 10).update(kind="string", discreets=[], default=None),
         "a toggle needs a discreet read param; read param 10 'Processing' is a string"),
    case("discreet needs discreets", lambda d: param(d, 10).update(discreets=[], default=None), "a discreet needs `discreets:"),
    case("toggle needs discreets", lambda d: param(d, 11).pop("discreets"), "a toggle needs `discreets:"),
    case("discreets only on discreet kinds", lambda d: param(d, 20).update(discreets=[{"display": "A"}]),
         "discreets apply to kinds discreet, toggle and button only; this is a number"),
    case("discreet displays unique", lambda d: param(d, 10)["discreets"][1].update(display="Disabled"),
         "discreet display 'Disabled' is used twice (first in entry 1)"),
    case("discreet values unique", lambda d: param(d, 10)["discreets"][1].update(value=0),
         "discreet value 0 is used twice (first in entry 1)"),
    case("discreet needs a display", lambda d: param(d, 10)["discreets"][1].pop("display"),
         "missing required key 'display' in discreet"),
    case("range low <= high", lambda d: param(d, 20).update(range={"low": 10, "high": 0}, default=None),
         "range low (10) is above high (0): swap them"),
    case("range only on numbers", lambda d: param(d, 100).update(range={"low": 0}), "range applies to number params only"),
    case("step above 0", lambda d: param(d, 20).update(step=0), "step must be above 0"),
    case("decimals not negative", lambda d: param(d, 20).update(decimals=-1), "decimals must be 0 or more"),
    case("default inside range", lambda d: param(d, 20).update(default=11), "default 11 is outside the range 0..10"),
    case("default below range", lambda d: param(d, 20).update(default=-1), "default -1 is outside the range 0..10"),
    case("default a number", lambda d: param(d, 20).update(default="many"), "default 'many' is no number"),
    case("default among discreets", lambda d: param(d, 10).update(default=5),
         "default 5 is none of the discreets; use a value or display of: 0 (Disabled), 1 (Enabled)"),
    case("default whole with decimals 0", lambda d: param(d, 21).update(decimals=0, default=2.5),
         "default 2.5 has decimals, but the param has `decimals: 0`"),
    case("password only on strings", lambda d: param(d, 20).update(password=True), "password applies to string params only"),
    case("save not on write", lambda d: param(d, 11).update(save=True), "a write param is not saved: save its read param"),
    case("param names unique", lambda d: param(d, 100).update(name="Content"), "param name 'Content' is used twice (first by 100)"),
    case("one write per name", lambda d: with_(d, "params", {"id": 12, "name": "Processing", "type": "write"}),
         "param name 'Processing' is used twice (first by 11)"),
    case("flag a bool", lambda d: param(d, 20).update(save="always"), "save: expected true or false, got the text 'always'"),
    # tables
    case("table needs columns", lambda d: table(d).update(columns=[]), "a table needs at least one column: its key column"),
    case("key column in the table", lambda d: table(d).update(key=20), "key 20 is no column of this table; its columns are 1001, 1002"),
    case("key column a string", lambda d: table(d)["columns"][0].update(kind="number"),
         "the key column 1001 'Tickets ID' is a number; a key column is a string"),
    case("column ids unique", lambda d: table(d)["columns"][1].update(id=1001), "column id 1001 is already used by the column"),
    case("column names unique", lambda d: table(d)["columns"][1].update(name="Tickets ID"), "column name 'Tickets ID' is used twice"),
    case("key column not a write column", lambda d: table(d)["columns"][0].update(write=True),
         "is a write column, but a row's key never changes"),
    case("button column not also write", lambda d: table(d)["columns"][1].update(kind="button", write=True),
         "a button column is written by its kind: leave `write` out"),
    case("exceptions on numbers only", lambda d: param(d, 100).update(exceptions=[{"value": -1, "display": "N/A"}]),
         "exceptions apply to numbers only; this is a string"),
    case("column exceptions on numbers only", lambda d: table(d)["columns"][1].update(exceptions=[{"value": -1, "display": "N/A"}]),
         "exceptions apply to numbers only; this is a discreet"),
    case("exception display once", lambda d: param(d, 20).update(exceptions=[{"value": -1, "display": "N/A"}, {"value": -2, "display": "N/A"}]),
         "an exception display is listed twice"),
    case("exception value once", lambda d: param(d, 20).update(exceptions=[{"value": -1, "display": "N/A"}, {"value": -1, "display": "Off"}]),
         "an exception value is listed twice"),
    case("exception display a word", lambda d: param(d, 20).update(exceptions=[{"value": -1, "display": "-2"}]),
         "an exception display reads as a number"),
    case("exception value a number", lambda d: param(d, 20).update(exceptions=[{"value": "minus one", "display": "N/A"}]),
         "expected a number"),
    case("timeout_after 1 or more", lambda d: d["protocol"].update(timeout_after=0),
         "timeout_after counts requests in a row without an answer: 1 or more"),
    case("column discreet needs discreets", lambda d: table(d)["columns"][1].pop("discreets"), "a discreet needs `discreets:"),
    case("column has no default", lambda d: table(d)["columns"][1].update(default="Received"), "unknown key 'default'"),
    case("table key required", lambda d: table(d).pop("key"), "missing required key 'key' in table"),
    # http
    case("path or path_param, not both", lambda d: request(d).update(path_param=102),
         "give only one of 'path', 'path_param', not both 'path' and 'path_param'"),
    case("path or path_param needed", lambda d: request(d).pop("path"), "request needs one of 'path', 'path_param'"),
    case("verb known", lambda d: request(d).update(verb="FETCH"),
         "verb: 'FETCH' is not one of: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
    case("path_param exists", lambda d: (request(d).pop("path"), request(d).update(path_param=555)),
         "path_param: there is no param 555"),
    case("body_param not a column", lambda d: request(d).update(body_param=1001),
         "body_param: 1001 is a column; a session reads and fills standalone string params"),
    case("status_param a string", lambda d: d["http"][0]["response"].update(status_param=20),
         "status_param: param 20 'Max Retries' is a number; it must be a string"),
    case("content_param exists", lambda d: d["http"][0]["response"].update(content_param=1000),
         "content_param: there is no param 1000 (1000 is a table)"),
    case("request header param exists", lambda d: request(d)["headers"].append({"key": "Authorization", "param": 777}),
         "param: there is no param 777"),
    case("response header param a string",
         lambda d: d["http"][0]["response"].update(headers=[{"key": "Retry-After", "param": 21}]),
         "param: param 21 'Poll Interval' is a number; it must be a string"),
    case("header value or param, not both", lambda d: request(d)["headers"][0].update(param=100),
         "give only one of 'value', 'param', not both 'value' and 'param'"),
    case("header value or param needed", lambda d: request(d)["headers"][0].pop("value"),
         "request header needs one of 'value', 'param'"),
    case("response header is stored in a param", lambda d: d["http"][0]["response"].update(headers=[{"key": "A", "value": "b"}]),
         "unknown key 'value'; expected one of: key, param"),
    case("timeout above 0", lambda d: request(d).update(timeout=0), "timeout must be above 0 seconds"),
    case("request required", lambda d: d["http"][0].pop("request"), "missing required key 'request' in session"),
    # groups
    case("one content kind", lambda d: item(d, "groups", 2)["content"].update(params=[100]),
         "give only one of 'sessions', 'actions', 'params', 'triggers', not both 'sessions' and 'params'"),
    case("content needed", lambda d: item(d, "groups", 2).update(content={}),
         "group content needs one of 'sessions', 'actions', 'params', 'triggers'"),
    case("content ids resolve", lambda d: item(d, "groups", 2).update(content={"sessions": [9]}), "sessions: there is no session 9"),
    case("content ids of the kind", lambda d: item(d, "groups", 1).update(content={"actions": [2, 1000]}),
         "actions: there is no action 1000 (1000 is a table)"),
    case("content params resolve", lambda d: item(d, "groups", 2).update(content={"params": [100, 3]}),
         "params: there is no param or table 3"),
    case("content not empty", lambda d: item(d, "groups", 2).update(content={"sessions": []}), "the group lists no sessions"),
    case("group type known", lambda d: item(d, "groups", 2).update(type="pol"),
         "type: 'pol' is not one of: poll, poll action, poll trigger, action, trigger (did you mean 'poll'?)"),
    case("group type runs its content", lambda d: item(d, "groups", 1).update(type="poll"),
         "a group of actions is of type poll action or action (DataMiner runs its content only then), not poll"),
    # timers
    case("interval above 0", lambda d: d["timers"][0].update(interval=0), "interval must be above 0 seconds"),
    case("timer groups resolve", lambda d: d["timers"][0].update(groups=[2, 7]), "groups: there is no group 7"),
    case("timer has groups", lambda d: d["timers"][0].update(groups=[]), "a timer needs at least one group to queue"),
    case("interval_param a number", lambda d: d["timers"][0].update(interval_param=100),
         "interval_param: param 100 is a string; it must be a number (seconds)"),
    case("interval_param exists", lambda d: d["timers"][0].update(interval_param=555), "interval_param: there is no param 555"),
    # triggers
    case("parameter fires at change or timeout", lambda d: item(d, "triggers", 2).update(time="after"),
         "a trigger on parameter fires at time: change or timeout, not after"),
    case("group fires before or after", lambda d: item(d, "triggers", 2).update(on="group", on_id=2, time="change"),
         "a trigger on group fires at time: before or after, not change"),
    case("protocol fires after startup", lambda d: item(d, "triggers", 1).update(time="change"),
         "a trigger on protocol fires at time: after startup, not change"),
    case("session fires at timeout", lambda d: item(d, "triggers", 2).update(on="session", on_id=1, time="before"),
         "a trigger on session fires at time: timeout, not before"),
    case("timer fires before", lambda d: item(d, "triggers", 2).update(on="timer", on_id=1, time="after"),
         "a trigger on timer fires at time: before, not after"),
    case("on needs a time", lambda d: item(d, "triggers", 2).pop("time"), "a trigger on parameter fires at time: change or timeout"),
    case("no on, no time", lambda d: (item(d, "triggers", 2).pop("on"), item(d, "triggers", 2).pop("on_id")),
         "a trigger without `on` fires only through check_trigger or another trigger: remove `time`"),
    case("time known", lambda d: item(d, "triggers", 2).update(time="changed"), "time: 'changed' is not one of"),
    case("on_id of the right kind", lambda d: item(d, "triggers", 2).update(on_id=1),
         "on_id: there is no param or column 1 (1 is a session)"),
    case("group on_id resolves", lambda d: item(d, "triggers", 2).update(on="group", on_id=9, time="after"),
         "on_id: there is no group 9"),
    case("each only for parameters", lambda d: item(d, "triggers", 2).update(on="group", on_id="each", time="after"),
         "on_id 'each' applies to triggers on parameters only"),
    case("on_id needed", lambda d: item(d, "triggers", 2).pop("on_id"), "a trigger on parameter needs on_id: the id of its param or column"),
    case("protocol takes no on_id", lambda d: item(d, "triggers", 1).update(on_id=1), "a trigger on protocol takes no on_id"),
    case("trigger actions resolve", lambda d: item(d, "triggers", 2).update(actions=[3, 99]), "actions: there is no action 99"),
    case("trigger triggers resolve", lambda d: item(d, "triggers", 2).update(triggers=[42]), "triggers: there is no trigger 42"),
    case("trigger does something", lambda d: item(d, "triggers", 2).update(actions=[]),
         "a trigger needs `actions` or `triggers` to fire, or it does nothing"),
    case("triggers in a circle", lambda d: with_(d, "triggers", {"id": 3, "name": "A", "triggers": [4]}, {"id": 4, "name": "B", "triggers": [3]}),
         "triggers fire each other in a circle: 3 -> 4 -> 3"),
    case("trigger firing itself", lambda d: with_(d, "triggers", {"id": 3, "name": "A", "triggers": [3]}),
         "triggers fire each other in a circle: 3 -> 3"),
    # actions
    case("group action types", lambda d: item(d, "actions", 1).update(type="copy"),
         "an action on a group cannot be 'copy'; use one of: add to execute, execute, execute next"),
    case("parameter action types", lambda d: item(d, "actions", 2).update(type="start"),
         "an action on a parameter cannot be 'start'; use one of: run handlers, set, clear, copy, increment"),
    case("timer action types", lambda d: with_(d, "actions", {"id": 4, "name": "T", "on": "timer", "on_id": 1, "type": "execute"}),
         "an action on a timer cannot be 'execute'; use one of: start, stop, restart timer"),
    case("action on known", lambda d: item(d, "actions", 2).update(on="table"), "on: 'table' is not one of: parameter, group, timer"),
    case("action type known", lambda d: item(d, "actions", 2).update(type="run actions"), "type: 'run actions' is not one of"),
    case("copy needs source", lambda d: with_(d, "actions", {"id": 4, "name": "C", "on": "parameter", "on_id": 100, "type": "copy"}),
         "a copy action needs `source`: the id of the param copied from"),
    case("copy source resolves",
         lambda d: with_(d, "actions", {"id": 4, "name": "C", "on": "parameter", "on_id": 100, "type": "copy", "source": 555}),
         "source: there is no param 555"),
    case("source only on copy", lambda d: item(d, "actions", 2).update(source=100), "source applies to copy actions only"),
    case("on_id or on_ids, not both", lambda d: item(d, "actions", 1).update(on_ids=[1]),
         "give only one of 'on_id', 'on_ids', not both 'on_id' and 'on_ids'"),
    case("on_id or on_ids needed", lambda d: item(d, "actions", 1).pop("on_id"), "action needs one of 'on_id', 'on_ids'"),
    case("on_ids resolve", lambda d: (item(d, "actions", 1).pop("on_id"), item(d, "actions", 1).update(on_ids=[1, 9])),
         "on_ids: there is no group 9"),
    case("timer action on a timer", lambda d: with_(d, "actions", {"id": 4, "name": "T", "on": "timer", "on_id": 5, "type": "stop"}),
         "on_id: there is no timer 5"),
    case("only run handlers on a column",
         lambda d: with_(d, "actions", {"id": 4, "name": "C", "on": "parameter", "on_id": 1002, "type": "clear"}),
         "1002 is a column: only `run handlers` acts on a column; clear acts on standalone params"),
    case("run handlers runs a handler", lambda d: item(d, "actions", 3).update(on_id=100),
         "no handler lists 100 in its triggers, so `run handlers` would run nothing"),
    case("set needs a value", lambda d: with_(d, "actions", {"id": 4, "name": "S", "on": "parameter", "on_id": 100, "type": "set"}),
         "a set action needs `value`"),
    case("value only on set and increment", lambda d: item(d, "actions", 1).update(value=3),
         "value applies to set and increment actions only"),
    case("increment a number param",
         lambda d: with_(d, "actions", {"id": 4, "name": "I", "on": "parameter", "on_id": 100, "type": "increment"}),
         "increment needs a number param; param 100 is a string"),
    case("increment step a number",
         lambda d: with_(d, "actions", {"id": 4, "name": "I", "on": "parameter", "on_id": 20, "type": "increment", "value": "x"}),
         "the value of an increment is the step, a number"),
    # handlers
    case("entry format", lambda d: item(d, "handlers", 2).update(entry="print"),
         "entry 'print' is not 'package.module:function'"),
    case("handler triggers resolve", lambda d: item(d, "handlers", 2).update(triggers=[2, 555]),
         "triggers: there is no param or column 555"),
    case("handler entry required", lambda d: item(d, "handlers", 2).pop("entry"), "missing required key 'entry' in handler"),
]  # fmt: skip

# The after-startup flow (validator rule 5.7) is a warning: the protocol loads, and says why.
STARTUP_CASES = [
    case("startup trigger exists", lambda d: d["triggers"].pop(0),
         "no after-startup trigger: a connector starts with a trigger `on: protocol, time: after startup`"),
    case("startup action type", lambda d: item(d, "actions", 1).update(type="add to execute"),
         "the after-startup trigger should run an action of type execute next / execute one top / execute / execute one now"),
    case("startup group is polled", lambda d: item(d, "groups", 1).update(type="action"),
         "on a group of type poll / poll action / poll trigger (the DataMiner validator's after-startup flow, rule 5.7)"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "expected"), STARTUP_CASES)
def test_rule_5_7_after_startup_flow_is_a_warning(mutate: Mutation, expected: str) -> None:
    document = minimal()
    mutate(document)
    protocol = parse(document, check_imports=False)
    (warning,) = protocol.warnings
    assert warning.startswith(f"{FILE}:") and ": warning: " in warning and expected in warning
    assert "nothing runs at startup until a timer or a set starts it" in warning


@pytest.mark.parametrize(("mutate", "expected"), RULE_CASES)
def test_rule(mutate: Mutation, expected: str) -> None:
    document = minimal()
    mutate(document)
    found = problems(document)
    assert any(expected in p.message for p in found), "\n".join(map(str, found))
    assert all(p.mark is not None and p.mark.file == FILE for p in found)


# --- what is allowed --------------------------------------------------------------------------

VALID_CASES = [
    case("param id ranges", lambda d: _move_params(d, {20: 63999, 21: 70000, 100: 99999, 101: 1000000}), ""),
    case("param id top of range", lambda d: param(d, 20).update(id=9989999), ""),
    case("other ids up to 9999999", lambda d: item(d, "triggers", 2).update(id=9999999), ""),
    case("kinds have their own id spaces", lambda d: item(d, "handlers", 2).update(id=1), ""),
    case("InterApp return as a read string", lambda d: with_(d, "params", {"id": 9000001, "name": "interApp_return"}), ""),
    case("button write without read", lambda d: with_(d, "params", {"id": 30, "name": "Refresh", "type": "write", "kind": "button",
                                                                   "discreets": [{"display": "Refresh"}]}), ""),
    case("run handlers on a column", lambda d: (item(d, "actions", 3).update(on_id=1002), item(d, "handlers", 9000000).update(triggers=[1002])), ""),
    case("each on parameters", lambda d: item(d, "triggers", 2).update(on_id="each"), ""),
    case("lower-case verb", lambda d: request(d).update(verb="post"), ""),
    case("path from a param", lambda d: (request(d).pop("path"), request(d).update(path_param=100)), ""),
    case("group of params may name a table", lambda d: item(d, "groups", 2).update(content={"params": [100, 1000]}), ""),
    case("nulls are absent", lambda d: param(d, 100).update(description=None, units=None), ""),
]  # fmt: skip


def _move_params(document: Document, moves: dict[int, int]) -> None:
    """Give params new ids, and follow them where they are referred to."""
    for old, new in moves.items():
        param(document, old)["id"] = new
    document["timers"][0]["interval_param"] = moves.get(21, 21)
    document["http"][0]["response"].update(status_param=moves.get(100, 100), content_param=moves.get(101, 101))


@pytest.mark.parametrize(("mutate", "_"), VALID_CASES)
def test_allowed(mutate: Mutation, _: str) -> None:
    document = minimal()
    mutate(document)
    parse(document)


@pytest.mark.parametrize(
    ("on", "on_id", "time"),
    [
        ("parameter", 20, "change"),
        ("parameter", 20, "timeout"),
        ("parameter", 1001, "change"),
        ("group", 2, "before"),
        ("group", 2, "after"),
        ("session", 1, "timeout"),
        ("timer", 1, "before"),
        (None, None, None),
    ],
)
def test_valid_trigger_on_time_pairs(on: str | None, on_id: int | None, time: str | None) -> None:
    document = minimal()
    trigger = item(document, "triggers", 2)
    for key, value in (("on", on), ("on_id", on_id), ("time", time)):
        trigger.pop(key)
        if value is not None:
            trigger[key] = value
    assert parse(document).triggers[2].on is (TriggerOn(on) if on else TriggerOn.NONE)


# --- what the model holds ---------------------------------------------------------------------


def test_values_follow_the_discreets() -> None:
    document = minimal()
    param(document, 10)["default"] = "Enabled"  # a display becomes its value
    protocol = parse(document)
    assert protocol.params[10].default == 1
    assert [d.value for d in protocol.params[10].discreets] == [0, 1]  # numbers: every value is one
    column = protocol.tables[1000].column(1002)
    assert [d.value for d in column.discreets] == ["Received", "Error"]  # value defaults to display


def test_discreet_values_are_text_unless_every_one_is_a_number() -> None:
    document = minimal()
    param(document, 10).update(
        discreets=[{"display": "Off", "value": 0}, {"display": "On", "value": "on"}], default="on"
    )
    param(document, 11)["discreets"] = param(document, 10)["discreets"]
    assert [d.value for d in parse(document).params[10].discreets] == ["0", "on"]


def test_number_default_is_an_int_when_whole() -> None:
    document = minimal()
    param(document, 20)["default"] = 3.0
    param(document, 21).update(default=2.5)
    protocol = parse(document)
    assert protocol.params[20].default == 3 and type(protocol.params[20].default) is int
    assert protocol.params[21].default == 2.5


def test_text_is_kept_as_written() -> None:
    text = protocol_yaml(minimal()).replace("version: 1.0.0.1", "version: 1.0").replace("name: Status", "name: No")
    protocol = parse(text)
    assert protocol.version == "1.0" and protocol.params[100].name == "No"


def test_unquoted_on_key_works() -> None:
    text = protocol_yaml(minimal())
    assert "'on': protocol" in text  # safe_dump quotes it; a person would not
    protocol = parse(text.replace("'on':", "on:"))
    assert protocol.triggers[1].on is TriggerOn.PROTOCOL and protocol.actions[1].on_ids == (1,)


def test_defaults_of_the_schema() -> None:
    protocol = parse(minimal())
    assert protocol.params[100].type is ParamType.READ and protocol.params[100].kind is ValueKind.STRING
    assert protocol.groups[2].type is GroupType.POLL  # sessions -> poll
    assert protocol.sessions[1].request.timeout is None and protocol.timers[1].initial is True
    document = minimal()
    item(document, "groups", 1).pop("type")
    assert parse(document).groups[1].type is GroupType.POLL_ACTION  # actions -> poll action
    document = minimal()
    item(document, "triggers", 2)["on_id"] = "each"
    assert parse(document).triggers[2].on_id == EACH


def test_every_construct_has_its_mark() -> None:
    text = protocol_yaml(minimal())
    lines = text.splitlines()
    protocol = parse(text)
    things = [
        *protocol.params.values(), *protocol.tables.values(), *protocol.tables[1000].columns, *protocol.sessions.values(),
        *protocol.groups.values(), *protocol.timers.values(), *protocol.triggers.values(), *protocol.actions.values(),
        *protocol.handlers.values(),
    ]  # fmt: skip
    for thing in things:
        assert thing.mark is not None and thing.mark.file == FILE
        assert lines[thing.mark.line - 1][thing.mark.column - 1 :].startswith(f"id: {thing.id}")


# --- positions, and every problem at once -----------------------------------------------------

POSITIONED = """\
protocol: {name: T, version: 1.0.0.1}
params:
  - {id: 2, name: Start, type: dummy}
  - {id: 64001, name: Reserved}
  - {id: 100, name: Status, kind: strin}
  - {id: 101, name: Status, type: write, save: true}
groups:
  - {id: 1, name: Startup, type: poll action, content: {actions: [1, 9]}}
actions:
  - {id: 1, name: Run, on: parameter, on_id: 2, type: run handlers}
handlers:
  - {id: 2, name: H, entry: "builtins:print", triggers: [2]}
triggers:
  - {id: 1, name: After Startup, on: protocol, time: after startup, actions: [2]}
"""


def at(line: int, needle: str, text: str = POSITIONED) -> str:
    return f"{FILE}:{line}:{text.splitlines()[line - 1].index(needle) + 1}"


def test_every_problem_at_once_in_file_order_with_positions() -> None:
    assert [str(p) for p in problems(POSITIONED)] == [
        f"{at(4, '64001')}: param id 64001 is reserved for DataMiner (64000-64299: DataMiner modules, 64300-69999:"
        " its general parameters): use an id in 1-63999, 70000-99999, 1000000-9989999",
        f"{at(5, 'strin')}: kind: 'strin' is not one of: string, number, discreet, toggle, button, datetime"
        " (did you mean 'string'?)",
        f"{at(6, 'true')}: a write param is not saved: save its read param (the one of the same name) instead",
        f"{at(8, '9]')}: actions: there is no action 9",
        f"{at(14, '[2]')}: warning: the after-startup trigger should run an action of type execute next / execute one top /"
        " execute / execute one now on a group of type poll / poll action / poll trigger"
        " (the DataMiner validator's after-startup flow, rule 5.7);"
        " without it nothing runs at startup until a timer or a set starts it",
        f"{at(14, '2]')}: actions: there is no action 2 (2 is a param)",
    ]


def test_syntax_error_position() -> None:
    text = "protocol: {name: T, version: 1}\nparams:\n  - {id: 1, name: [A}\n"
    (problem,) = problems(text)
    assert str(problem).startswith(f"{FILE}:3:21: YAML syntax error: did not find expected ',' or ']'")


def test_missing_startup_flow_points_at_the_triggers_key() -> None:
    document = minimal()
    document["triggers"].pop(0)
    text = protocol_yaml(document)
    line = text.splitlines().index("triggers:") + 1
    (warning,) = parse(text, check_imports=False).warnings
    assert warning.startswith(f"{Mark(FILE, line, 1)}: warning: no after-startup trigger")


def test_missing_startup_flow_without_triggers_points_at_the_top() -> None:
    document = minimal()
    del document["triggers"]
    (warning,) = parse(document, check_imports=False).warnings
    assert warning.startswith(f"{Mark(FILE, 1, 1)}: warning: no after-startup trigger")


def test_shape_problems_do_not_cause_reference_noise() -> None:
    # Group 2 is broken (unknown key); the timer and the startup action referring to it must not
    # add "there is no group 2".
    document = minimal()
    item(document, "groups", 2)["colour"] = "red"
    item(document, "actions", 1)["on_id"] = 2
    assert [p.message for p in problems(document)] == [
        "unknown key 'colour'; expected one of: id, name, content, type, condition"
    ]


def test_empty_and_non_mapping_files() -> None:
    assert [str(p) for p in problems("")] == [
        f"{FILE}:1:1: the file is empty: it needs at least `protocol: {{name: ..., version: ...}}`"
    ]
    assert [str(p) for p in problems("- a\n")] == [
        f"{FILE}:1:1: the protocol file: expected a mapping (`key: value` lines or {{key: value}}), got a list"
    ]


# --- handler imports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "no_such_module_4711:run",
            "cannot load handler entry 'no_such_module_4711:run': ModuleNotFoundError: No module named",
        ),
        ("os.path:no_such_function", "cannot load handler entry 'os.path:no_such_function': AttributeError"),
        ("os:sep", "handler entry 'os:sep' is a str, not a function"),
    ],
)
def test_handler_entry_is_imported_and_callable(entry: str, expected: str) -> None:
    document = minimal()
    item(document, "handlers", 2)["entry"] = entry
    (problem,) = problems(document, check_imports=True)
    text = protocol_yaml(document)
    assert problem.mark is not None and entry in text.splitlines()[problem.mark.line - 1]
    assert problem.message.startswith(expected)
    parse(document, check_imports=False)  # the declaration alone is fine


def test_failing_handler_module_is_a_problem_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_handlers_4711.py").write_text("raise SystemExit('no')\n")
    (tmp_path / "syntax_handlers_4711.py").write_text("def f(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    document = minimal()
    item(document, "handlers", 2)["entry"] = "broken_handlers_4711:f"
    item(document, "handlers", 9000000)["entry"] = "syntax_handlers_4711:f"
    found = [p.message for p in problems(document, check_imports=True)]
    assert found[0].startswith("cannot load handler entry 'broken_handlers_4711:f': SystemExit: no")
    assert found[1].startswith("cannot load handler entry 'syntax_handlers_4711:f': SyntaxError")


# --- files ------------------------------------------------------------------------------------


def test_load_protocol_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "protocol.yaml"
    text = protocol_yaml(minimal())
    path.write_text("\ufeff" + text, encoding="utf-8")  # a BOM is tolerated
    protocol = load_protocol(path)
    line = text.splitlines().index("- id: 10") + 1
    assert protocol.source == str(path) and protocol.params[10].mark == Mark(str(path), line, 3)


def test_load_protocol_refuses_non_utf8_at_its_position(tmp_path: Path) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_bytes(b"protocol: {name: T, version: 1}\nparams:\n  - {id: 1, name: Caf\xe9}\n")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == f"{path}:3:22: not UTF-8 text: byte 0xE9 cannot be decoded; save the file as UTF-8"


def test_load_protocol_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_protocol(tmp_path / "nope.yaml")


# --- whatever the input: a Protocol or a ProtocolError ----------------------------------------


def _protocol_or_protocol_error(text: str) -> None:
    try:
        parse_protocol(text, FILE, check_imports=False)
    except ProtocolError as exc:
        assert exc.problems, "a ProtocolError names at least one problem"
        assert all(
            p.mark is not None and p.mark.file == FILE and p.mark.line >= 1 and p.mark.column >= 1 for p in exc.problems
        )


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_any_text(text: str) -> None:
    _protocol_or_protocol_error(text)


@FUZZ
@given(protocol_mutated_documents())
def test_mutated_documents(text: str) -> None:
    _protocol_or_protocol_error(text)


@FUZZ
@given(protocol_mutated_texts())
def test_mutated_texts(text: str) -> None:
    _protocol_or_protocol_error(text)
