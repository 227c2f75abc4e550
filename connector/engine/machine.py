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
from connector.engine.conditions import holds
from connector.engine.context import HandlerContext
from connector.engine.persist import Saved, collect_persist
from connector.engine.runner import GroupRunner, PendingRequest
from connector.engine.set_commands import set_cell, set_command
from connector.engine.table import Table
from connector.engine.values import coerce
from connector.engine.wiring import wire
from connector.protocol.model import (
    GROUP_ACTIONS,
    Action,
    ActionType,
    Protocol,
)

log = logging.getLogger("connector.element")

Handler = Callable[[Any], None]


class Machine:
    """One element's state and the steps that change it. See element.py for the rules."""

    def __init__(
        self,
        protocol: Protocol,
        *,
        name: str,
        handlers: Mapping[int, Handler],
        now: Callable[[], float],
        monotonic: Callable[[], float],
        element_id: str = "1/1",
    ) -> None:
        self.protocol = protocol
        self.name = name
        self.element_id = element_id  # "DataMinerID/ElementID", stable across restarts
        self.now = now  # wall-clock seconds since the epoch: for what is saved and shown
        self.monotonic = monotonic  # seconds that never jump: for waits while running
        self.values: dict[int, Any] = {pid: None for pid in protocol.params}
        self.tables: dict[int, Table] = {tid: Table(t) for tid, t in protocol.tables.items()}
        # Handler state kept between runs, shared by the element's handlers (in memory only).
        self.memory: dict[str, Any] = {}
        self.status = ev.ElementStatus(timeout=False)  # the last one emitted (or restored), saved
        self._status_dirty = False
        self._handlers = handlers
        self._cleared: set[int] = set()
        self._dirty: set[int] = set()
        self._effects: list[ev.Effect] = []
        # The wiring's maps copied into attributes: a set reads them without another hop.
        wiring = self._wiring = wire(protocol)
        self._param_triggers, self._each_triggers = wiring.param_triggers, wiring.each_triggers
        self._param_handlers, self._setter_target = wiring.param_handlers, wiring.setter_target
        self._saved, self._interval_params = wiring.saved, wiring.interval_params
        self.groups = GroupRunner(protocol, wiring, self.values, self, name)

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
        self.groups.pump()
        return self._flush()

    def _restore(self, saved: Saved) -> None:
        status = ev.ElementStatus.from_saved(saved.params.get(ev.ELEMENT_STATUS_ID))
        if status.timeout:  # in timeout when it stopped: so it comes back, until the platform answers
            self.emit(status)
            self._status_dirty = False
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
        self.groups.pump()
        return self._flush()

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
        if trigger.condition is not None and not holds(trigger.condition, self.protocol, self.values):
            return
        for aid in trigger.actions:
            self.run_action(self.protocol.actions[aid])
        for sub in trigger.triggers:
            self.fire_trigger(sub)

    def run_action(self, action: Action, trigger_param: int | None = None) -> None:
        if action.condition is None or holds(action.condition, self.protocol, self.values):
            ACTIONS[action.type](self, action, trigger_param)

    def run_handlers_on(self, pid: int, row_key: str | None = None) -> None:
        """Run the handlers on parameter or column `pid` (DataMiner's "run actions"); a cell's
        handlers get its row's key."""
        for hid in self._param_handlers.get(pid, ()):
            self.run_handler(hid, pid, row_key)

    def run_handler(self, hid: int, trigger_param: int | None, row_key: str | None = None) -> None:
        handler = self._handlers.get(hid)
        if handler is None:
            return
        try:
            handler(HandlerContext(self, hid, trigger_param, row_key))
        except Exception:
            # DataMiner logs a failing QAction and keeps the element running; so do we.
            log.exception("[%s] handler %d %r failed", self.name, hid, self.protocol.handlers[hid].name)

    # -- groups and HTTP (connector.engine.runner) ----------------------------------------

    def hold(self) -> None:
        """Start no further group, send no further parallel request (a graceful stop)."""
        self.groups.held = True

    def http_result(self, result: ev.HttpResult) -> None:
        self.groups.http_result(result)

    def send_parallel(self, requests: list[PendingRequest], done_trigger: int) -> int:
        return self.groups.send_parallel(requests, done_trigger)

    def take_parallel_results(self, set_id: int) -> list[ev.HttpResult]:
        return self.groups.take_parallel_results(set_id)

    def last_result(self, session: int) -> ev.HttpResult | None:
        return self.groups.last_result(session)

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
            self.groups.queue_group(gid, "timer")

    def check_trigger(self, event: ev.CheckTrigger) -> None:
        self.fire_trigger(event.trigger)

    # -- effects --------------------------------------------------------------------------

    def emit(self, effect: ev.Effect) -> None:
        if isinstance(effect, ev.ElementStatus):
            if effect == self.status:
                return  # no news: the host and the store have it
            self.status, self._status_dirty = effect, True
        self._effects.append(effect)

    def _flush(self) -> list[ev.Effect]:
        effects, self._effects = self._effects, []
        persist = collect_persist(self.values, self._dirty, self.tables.values(), self._wiring.saved_columns)
        if self._status_dirty:
            self._status_dirty = False
            status = {ev.ELEMENT_STATUS_ID: self.status.saved()}
            persist = ev.Persist(params={**persist.params, **status}, tables=persist.tables) if persist else None
            persist = persist or ev.Persist(params=status, tables=())
        if persist is not None:
            effects.insert(0, persist)
        return effects


# -- what each event and each action does ---------------------------------------------------------


def _queue_groups(machine: Machine, action: Action, trigger_param: int | None) -> None:
    for gid in action.on_ids:
        machine.groups.queue_group(gid, action.type)


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
        machine.groups.queue.drop(set(machine.protocol.timers[timer_id].groups))
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
    ev.SetParameter: set_command,
    ev.SetCell: set_cell,
    ev.TimerFired: Machine.timer_fired,
    ev.HttpResult: Machine.http_result,
    ev.CheckTrigger: Machine.check_trigger,
}
