"""The element's state machine: DataMiner's rules over parameters, groups, HTTP and timers.

Internal to the engine: services and tests hold a `connector.engine.element.Element` (start,
handle, hold, a read-only view); handlers reach this through `HandlerContext`, which knows it
only as `connector.engine.core.ElementCore`. The rules it keeps are in element.py's docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from connector.engine import events as ev
from connector.engine.context import HandlerContext
from connector.engine.groups import GroupQueue
from connector.engine.parallel import ParallelRequests
from connector.engine.persist import Saved, collect_persist
from connector.engine.table import Table
from connector.engine.values import ValueRefused, coerce
from connector.engine.wiring import wire
from connector.protocol.model import (
    GROUP_ACTIONS,
    Action,
    ActionType,
    ContentKind,
    GroupType,
    ParamType,
    Protocol,
    Session,
    TriggerTime,
)

log = logging.getLogger("connector.element")

Handler = Callable[[Any], None]
PendingRequest = tuple[int, dict[str, Any]]  # (session id, the request's fields)


class Machine:
    """One element's state and the steps that change it. See element.py for the rules."""

    def __init__(
        self, protocol: Protocol, *, name: str, handlers: Mapping[int, Handler], now: Callable[[], float]
    ) -> None:
        self.protocol = protocol
        self.name = name
        self.now = now
        self.values: dict[int, Any] = {pid: None for pid in protocol.params}
        self.tables: dict[int, Table] = {tid: Table(t) for tid, t in protocol.tables.items()}
        self.queue = GroupQueue()
        self.running: int | None = None  # the group that is running now
        # Handler state kept between runs, shared by the element's handlers (in memory only).
        self.memory: dict[str, Any] = {}
        self.held = False  # stopping: finish the running group, start no other
        self._handlers = handlers
        self._last_results: dict[int, ev.HttpResult] = {}  # by session id
        self._cleared: set[int] = set()
        self._dirty: set[int] = set()
        self._effects: list[ev.Effect] = []
        self._pending: list[PendingRequest] = []  # requests of the running group not sent yet
        self._in_flight: tuple[int, int] | None = None  # (request id, session id)
        self._parallel = ParallelRequests()
        self._next_request_id = 1
        # The wiring's maps copied into attributes: a set reads them without another hop.
        wiring = self._wiring = wire(protocol)
        self._param_triggers, self._each_triggers = wiring.param_triggers, wiring.each_triggers
        self._param_handlers, self._setter_target = wiring.param_handlers, wiring.setter_target
        self._saved, self._interval_params = wiring.saved, wiring.interval_params

    # -- steps ----------------------------------------------------------------------------

    def start(
        self, saved: Saved | None, initial: Mapping[int, Any] | None, always: Mapping[int, Any] | None
    ) -> list[ev.Effect]:
        if saved is not None and not saved.empty:
            self._restore(saved)
        else:
            for pid, value in (initial or {}).items():
                self.values[pid] = value
                if pid in self._saved:
                    self._dirty.add(pid)
        self.values.update(always or {})
        for pid, param in self.protocol.params.items():
            if self.values[pid] is None and param.default is not None:
                self.values[pid] = param.default
                if pid in self._saved:
                    self._dirty.add(pid)
        for timer in self.protocol.timers.values():
            if timer.initial:
                self.emit(ev.ScheduleTimer(timer=timer.id, interval=self.timer_interval(timer.id), first_in=0.0))
        for tid in self._wiring.startup_triggers:
            self.fire_trigger(tid)
        self._pump()
        return self._flush()

    def _restore(self, saved: Saved) -> None:
        for pid, value in saved.params.items():
            if pid in self.values:
                self.values[pid] = value
        for tid, rows in saved.tables.items():
            table = self.tables.get(tid)
            if table is not None:
                for key, cells in rows:
                    table.load(key, cells)

    def handle(self, event: ev.Event) -> list[ev.Effect]:
        step = _EVENTS.get(type(event))
        if step is None:  # pragma: no cover - the Event union is closed
            raise TypeError(f"unknown event {event!r}")
        step(self, event)
        self._pump()
        return self._flush()

    def set_command(self, event: ev.SetParameter) -> None:
        """A set from outside: goes to the write parameter of a read/write pair.

        Raises KeyError for an unknown parameter and ValueRefused for a bad value, before
        anything changes.
        """
        param = self.protocol.param(event.param)
        if param.type is not ParamType.WRITE:
            param = self.protocol.write_of(param.id) or param
        if param.type is ParamType.ARRAY:
            raise KeyError(f"{param.name!r} is a table")
        self.change(param.id, coerce(param, event.value), always=True)

    def set_cell(self, event: ev.SetCell) -> None:
        """A set on one cell: the cell changes, then the handlers on its column run; a handler
        declared `row: true` gets the row's key (DataMiner's row QActions).

        KeyError for an unknown table, row or column, ValueRefused for a bad value or the key
        column; nothing changes then.
        """
        table = self.tables[self.protocol.table(event.table).id]
        column = table.model.column(event.column)
        if event.key not in table:
            raise KeyError(f"table {table.name!r} has no row {event.key!r}")
        if column.id == table.model.key_column:
            raise ValueRefused("the primary key of a row never changes")
        table.set(event.key, column.id, coerce(column, event.value))
        for hid in self._param_handlers.get(column.id, ()):
            self.run_handler(hid, column.id, event.key if self.protocol.handlers[hid].row else None)

    # -- parameters -----------------------------------------------------------------------

    def get(self, ref: int | str) -> Any:
        if isinstance(ref, int):
            return self.values[ref]
        return self.values[self.protocol.param(ref).id]

    def change(self, pid: int, value: Any, *, always: bool) -> None:
        """Store a value and run what a change runs; `always`: fire even if equal."""
        if not always and pid not in self._cleared and self.values.get(pid) == value:
            return
        self.values[pid] = value
        self._cleared.discard(pid)
        triggers = self._param_triggers.get(pid)
        if triggers is None and self._each_triggers:
            triggers = self._each_triggers
        if triggers:
            for tid in triggers:
                self.fire_trigger(tid)
        if pid in self._saved:
            self._dirty.add(pid)
        target = self._setter_target.get(pid)
        if target is not None:
            self.values[target] = value
            if target in self._saved:
                self._dirty.add(target)
            if target in self._interval_params:
                self._reschedule(self._interval_params[target])
        if pid in self._interval_params:
            self._reschedule(self._interval_params[pid])
        handlers = self._param_handlers.get(pid)
        if handlers:
            for hid in handlers:
                self.run_handler(hid, pid)

    def clear(self, pid: int) -> None:
        self.values[pid] = None
        self._cleared.add(pid)

    # -- triggers, actions, handlers -------------------------------------------------------

    def fire_trigger(self, tid: int) -> None:
        trigger = self.protocol.triggers[tid]
        for aid in trigger.actions:
            self.run_action(self.protocol.actions[aid])
        for sub in trigger.triggers:
            self.fire_trigger(sub)

    def run_action(self, action: Action, trigger_param: int | None = None) -> None:
        ACTIONS[action.type](self, action, trigger_param)

    def run_handlers_on(self, pid: int) -> None:
        """Run the handlers on parameter `pid` (DataMiner's "run actions")."""
        for hid in self._param_handlers.get(pid, ()):
            self.run_handler(hid, pid)

    def run_handler(self, hid: int, trigger_param: int | None, row_key: str | None = None) -> None:
        handler = self._handlers.get(hid)
        if handler is None:
            return
        try:
            handler(HandlerContext(self, hid, trigger_param, row_key))
        except Exception:
            # DataMiner logs a failing QAction and keeps the element running; so do we.
            log.exception("[%s] handler %d %r failed", self.name, hid, self.protocol.handlers[hid].name)

    # -- groups and HTTP ------------------------------------------------------------------

    def queue_group(self, gid: int, how: ActionType | str) -> bool:
        group = self.protocol.groups[gid]
        if how == "timer" and group.type in (GroupType.ACTION, GroupType.TRIGGER):
            self._run_content(gid)  # non-poll groups run at once on the timer, unqueued
            return True
        payload = None
        if group.content_kind is ContentKind.SESSIONS:
            payload = [self._build_request(self.protocol.sessions[sid]) for sid in group.content]
        return self.queue.add(gid, how, payload)

    def _build_request(self, session: Session) -> PendingRequest:
        request = session.request
        path = request.path
        if path is None:
            path = str(self.values.get(request.path_param) or "") if request.path_param is not None else ""
        headers: dict[str, str] = {}
        for header in request.headers:
            if header.param is None:
                headers[header.key] = header.value
            else:
                value = self.values.get(header.param)
                if value not in (None, ""):
                    headers[header.key] = str(value)
        body = None if request.body_param is None else self.values.get(request.body_param)
        return session.id, {
            "method": request.verb,
            "path": path,
            "headers": headers,
            "body": None if body is None else str(body),
            "timeout": request.timeout,
        }

    def _pump(self) -> None:
        """Run queued groups until one waits for an HTTP answer or the queue is empty."""
        while self.running is None and not self.held:
            entry = self.queue.pop()
            if entry is None:
                return
            self.running = entry.group
            self._fire_group(entry.group, TriggerTime.BEFORE)
            if self.protocol.groups[entry.group].content_kind is ContentKind.SESSIONS:
                self._pending = list(entry.payload or [])
                if self._send_next():
                    return
            else:
                self._run_content(entry.group)
            self._finish_group()

    def _run_content(self, gid: int) -> None:
        group = self.protocol.groups[gid]
        if group.content_kind is ContentKind.ACTIONS:
            for aid in group.content:
                self.run_action(self.protocol.actions[aid])
        elif group.content_kind is ContentKind.TRIGGERS:
            for tid in group.content:
                self.fire_trigger(tid)
        # ContentKind.PARAMS: polling parameters means nothing on an HTTP or virtual connection

    def _send_next(self) -> bool:
        if not self._pending:
            return False
        session_id, request = self._pending.pop(0)
        request_id = self._new_request_id()
        self._in_flight = (request_id, session_id)
        self.emit(ev.SendRequest(request_id=request_id, session=session_id, **request))
        return True

    def _new_request_id(self) -> int:
        self._next_request_id += 1
        return self._next_request_id - 1

    def send_parallel(self, requests: list[PendingRequest], done_trigger: int) -> int:
        """Send several requests at once, outside the group queue (see connector.engine.parallel)."""
        set_id = self._new_request_id()
        if self.held:
            return set_id  # stopping: nothing new goes out (the set simply never completes)
        sent = []
        for session_id, overrides in requests:
            base = self._build_request(self.protocol.sessions[session_id])[1]
            request = {**base, **overrides, "headers": {**base["headers"], **overrides.get("headers", {})}}
            sent.append(ev.SendRequest(request_id=self._new_request_id(), session=session_id, **request))
        self._parallel.open(set_id, [request.request_id for request in sent], done_trigger)
        self._effects.extend(sent)
        return set_id

    def take_parallel_results(self, set_id: int) -> list[ev.HttpResult]:
        return self._parallel.take(set_id)

    def last_result(self, session: int) -> ev.HttpResult | None:
        return self._last_results.get(session)

    def http_result(self, result: ev.HttpResult) -> None:
        if result.request_id in self._parallel:
            done = self._parallel.answer(result)
            if done is not None:
                self.fire_trigger(done)
            return
        if self._in_flight is None or self._in_flight[0] != result.request_id:
            log.warning("[%s] answer to request %d that is not in flight: ignored", self.name, result.request_id)
            return
        session = self.protocol.sessions[self._in_flight[1]]
        self._in_flight = None
        self._last_results[session.id] = result
        self._store_answer(session, result)
        if result.error is not None:
            for tid in self._wiring.session_timeout_triggers.get(session.id, ()):
                self.fire_trigger(tid)
        if not self._send_next():
            self._finish_group()

    def _store_answer(self, session: Session, result: ev.HttpResult) -> None:
        response = session.response
        if response.status_param is not None:
            self.change(response.status_param, result.status_line, always=False)
        if response.content_param is not None:
            self.change(response.content_param, result.body, always=False)
        for header in response.headers:
            if header.param is not None:
                value = result.headers.get(header.key.lower(), result.headers.get(header.key))
                self.change(header.param, value, always=False)

    def _finish_group(self) -> None:
        gid = self.running
        self.running = None
        if gid is not None:
            self._fire_group(gid, TriggerTime.AFTER)

    def _fire_group(self, gid: int, time: TriggerTime) -> None:
        for tid in self._wiring.group_triggers.get((gid, time), ()):
            self.fire_trigger(tid)

    # -- timers ---------------------------------------------------------------------------

    def timer_interval(self, timer_id: int) -> float:
        timer = self.protocol.timers[timer_id]
        if timer.interval_param is not None:
            value = self.values.get(timer.interval_param)
            if isinstance(value, (int, float)) and value > 0:
                return float(value)
        return timer.interval

    def _reschedule(self, timer_id: int, first_in: float | None = None) -> None:
        interval = self.timer_interval(timer_id)
        self.emit(
            ev.ScheduleTimer(timer=timer_id, interval=interval, first_in=interval if first_in is None else first_in)
        )

    def start_timer(self, timer_id: int, after: float | None = None) -> None:
        self._reschedule(timer_id, after)

    def stop_timer(self, timer_id: int) -> None:
        self.emit(ev.CancelTimer(timer=timer_id))

    def timer_fired(self, event: ev.TimerFired) -> None:
        for tid in self._wiring.timer_triggers.get(event.timer, ()):
            self.fire_trigger(tid)
        for gid in self.protocol.timers[event.timer].groups:
            self.queue_group(gid, "timer")

    def check_trigger(self, event: ev.CheckTrigger) -> None:
        self.fire_trigger(event.trigger)

    # -- effects --------------------------------------------------------------------------

    def emit(self, effect: ev.Effect) -> None:
        self._effects.append(effect)

    def _flush(self) -> list[ev.Effect]:
        effects, self._effects = self._effects, []
        persist = collect_persist(self.values, self._dirty, self.tables.values(), self._wiring.saved_columns)
        if persist is not None:
            effects.insert(0, persist)
        return effects


# -- what each event and each action does ---------------------------------------------------------


def _queue_groups(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for gid in action.on_ids:
        machine.queue_group(gid, action.type)


def _run_handlers(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for pid in action.on_ids:
        machine.run_handlers_on(pid)


def _set(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for pid in action.on_ids:
        machine.change(pid, coerce(machine.protocol.params[pid], action.value), always=True)


def _clear(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for pid in action.on_ids:
        machine.clear(pid)


def _copy(machine: Machine, action: Action, trigger_param: int | None) -> None:
    source = action.source if action.source is not None else trigger_param
    if source is not None:
        for pid in action.on_ids:
            machine.change(pid, machine.values.get(source), always=False)


def _increment(machine: Machine, action: Action, trigger_param: int | None) -> None:
    step = action.value if action.value is not None else 1
    for pid in action.on_ids:
        machine.change(pid, (machine.values.get(pid) or 0) + step, always=False)


def _start_timers(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for timer_id in action.on_ids:
        machine.start_timer(timer_id)


def _restart_timers(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for timer_id in action.on_ids:
        machine.queue.drop(set(machine.protocol.timers[timer_id].groups))
        machine.start_timer(timer_id)


def _stop_timers(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for timer_id in action.on_ids:
        machine.stop_timer(timer_id)


ActionRunner = Callable[[Machine, Action, "int | None"], None]

# Every ActionType has an entry (a test checks it); `trigger_param` is the parameter whose
# change ran the action, the source of a `copy` that names none.
ACTIONS: Mapping[ActionType, ActionRunner] = {
    **dict.fromkeys(GROUP_ACTIONS, _queue_groups),
    ActionType.RUN_HANDLERS: _run_handlers,
    ActionType.SET: _set,
    ActionType.CLEAR: _clear,
    ActionType.COPY: _copy,
    ActionType.INCREMENT: _increment,
    ActionType.START: _start_timers,
    ActionType.RESTART_TIMER: _restart_timers,
    ActionType.STOP: _stop_timers,
}

_EVENTS: Mapping[type, Callable[[Machine, Any], None]] = {
    ev.SetParameter: Machine.set_command,
    ev.SetCell: Machine.set_cell,
    ev.TimerFired: Machine.timer_fired,
    ev.HttpResult: Machine.http_result,
    ev.CheckTrigger: Machine.check_trigger,
}
