"""A small protocol built in code, for engine tests that must not depend on the loader."""

from __future__ import annotations

from typing import Any

from connector.protocol import model as m

CALLS: list[tuple[str, Any]] = []  # what the toy handlers saw, in order


def _param(pid: int, name: str, **kw: Any) -> m.Param:
    return m.Param(id=pid, name=name, **kw)


def toy_protocol(**overrides: Any) -> m.Protocol:
    params = [
        _param(10, "Level", kind=m.ValueKind.NUMBER, range=m.Range(low=0, high=100), save=True, default=5),
        _param(
            11, "Level", type=m.ParamType.WRITE, kind=m.ValueKind.NUMBER, range=m.Range(low=0, high=100), setter=True
        ),
        _param(
            12,
            "Mode",
            kind=m.ValueKind.DISCREET,
            discreets=(m.Discreet(display="Disabled", value=0), m.Discreet(display="Enabled", value=1)),
            default=0,
            save=True,
        ),
        _param(
            13,
            "Mode",
            type=m.ParamType.WRITE,
            kind=m.ValueKind.TOGGLE,
            setter=True,
            discreets=(m.Discreet(display="Disabled", value=0), m.Discreet(display="Enabled", value=1)),
        ),
        _param(20, "Status Line"),
        _param(21, "Content"),
        _param(22, "Path"),
        _param(23, "Token", password=True, save=True),
        _param(24, "Echo"),
        _param(25, "Copy Target"),
        _param(26, "Counter", kind=m.ValueKind.NUMBER),
        _param(2, "After Startup", type=m.ParamType.DUMMY),
        _param(9000000, "InterApp Receive"),
        _param(9000001, "InterApp Return"),
    ]
    table = m.Table(
        id=1000,
        name="Things",
        key_column=1001,
        columns=(
            m.Column(id=1001, name="Key"),
            m.Column(id=1002, name="Value"),
            m.Column(id=1003, name="Scratch", save=False),
        ),
    )
    sessions = [
        m.Session(
            id=1,
            name="fetch",
            request=m.Request(
                verb="GET",
                path_param=22,
                headers=(m.Header(key="Accept", value="application/json"), m.Header(key="Authorization", param=23)),
            ),
            response=m.Response(status_param=20, content_param=21),
        )
    ]
    groups = [
        m.Group(id=1, name="Fetch", content_kind=m.ContentKind.SESSIONS, content=(1,)),
        m.Group(id=2, name="Startup", type=m.GroupType.POLL_ACTION, content_kind=m.ContentKind.ACTIONS, content=(2,)),
        m.Group(id=3, name="Other", type=m.GroupType.POLL_ACTION, content_kind=m.ContentKind.ACTIONS, content=(5,)),
    ]
    timers = [m.Timer(id=1, name="Poll", interval=10.0, groups=(1,), interval_param=10)]
    triggers = [
        m.Trigger(id=1, name="After Startup", on=m.TriggerOn.PROTOCOL, time=m.TriggerTime.AFTER_STARTUP, actions=(1,)),
        m.Trigger(id=2, name="Queue Fetch", actions=(3,)),
        m.Trigger(
            id=4, name="Echo Changed", on=m.TriggerOn.PARAMETER, on_id=24, time=m.TriggerTime.CHANGE, actions=(6,)
        ),
    ]
    actions = [
        m.Action(id=1, name="Startup Group", on=m.ActionOn.GROUP, on_ids=(2,), type=m.ActionType.EXECUTE_NEXT),
        m.Action(id=2, name="Run Startup", on=m.ActionOn.PARAMETER, on_ids=(2,), type=m.ActionType.RUN_HANDLERS),
        m.Action(id=3, name="Fetch Next", on=m.ActionOn.GROUP, on_ids=(1,), type=m.ActionType.EXECUTE_NEXT),
        m.Action(id=4, name="Parse", on=m.ActionOn.PARAMETER, on_ids=(21,), type=m.ActionType.RUN_HANDLERS),
        m.Action(id=5, name="Count", on=m.ActionOn.PARAMETER, on_ids=(26,), type=m.ActionType.INCREMENT),
        m.Action(id=6, name="Copy Echo", on=m.ActionOn.PARAMETER, on_ids=(25,), type=m.ActionType.COPY, source=24),
    ]
    handlers = [
        m.Handler(id=2, name="After Startup", entry="tests.engine.toy:after_startup", triggers=(2,)),
        m.Handler(id=3, name="Parse", entry="tests.engine.toy:parse", triggers=(21,)),
        m.Handler(id=4, name="Receive", entry="tests.engine.toy:receive", triggers=(9000000,)),
        m.Handler(id=5, name="Level Changed", entry="tests.engine.toy:level_changed", triggers=(11,)),
    ]
    pieces: dict[str, Any] = {
        "params": {p.id: p for p in params},
        "tables": {table.id: table},
        "sessions": {s.id: s for s in sessions},
        "groups": {g.id: g for g in groups},
        "timers": {t.id: t for t in timers},
        "triggers": {t.id: t for t in triggers},
        "actions": {a.id: a for a in actions},
        "handlers": {h.id: h for h in handlers},
    }
    pieces.update(overrides)
    return m.Protocol(name="Toy", version="1.0.0.1", **pieces)


def after_startup(protocol: Any) -> None:
    CALLS.append(("startup", protocol.get("Level")))
    protocol.set("Path", "/things")


def parse(protocol: Any) -> None:
    CALLS.append(("parse", protocol.get(20)))
    table = protocol.table("Things")
    for line in (protocol.get(21) or "").splitlines():
        key, _, value = line.partition("=")
        if key:
            table.add_row(key, {"Value": value})
            table.set_row(key, {"Value": value})


def receive(protocol: Any) -> None:
    CALLS.append(("interapp", protocol.get(9000000)))
    protocol.send_interapp("sender", "ack:" + protocol.get(9000000), 9000001)


def level_changed(protocol: Any) -> None:
    # The setter has copied the write value to the read parameter before handlers run.
    CALLS.append(("level", protocol.get(10)))


HANDLERS = {2: after_startup, 3: parse, 4: receive, 5: level_changed}
