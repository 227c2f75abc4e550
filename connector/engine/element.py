"""An element: one running instance of a protocol, as a sans-I/O state machine.

The rules it keeps (DataMiner's, see ../shared/reference/dataminer-model.md):

*Parameter changes.* A change runs, in this order: the triggers on the parameter (or the
`each` triggers when it has none), the save, the setter copy (write -> read), the handlers
on the parameter. A set from a handler or from outside always fires, even with the same
value; a value written by the protocol itself (an HTTP response, a copy) fires only when it
differs from the current one, or when a `clear` action erased the memory of it.

*The queue.* Groups run one at a time from one queue (`connector.engine.groups`). A group
of HTTP sessions sends its requests one after the other and is finished when the last
answer has been stored; only then does the next group start. Requests are built from the
parameters when the group is queued.

*Effects.* `start()` and `handle(event)` return the effects of the step in the order they
must be carried out. The first is the `Persist` of every saved value the step changed:
commits are batched per step (per group answer, per set command), never per cell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any

from connector.engine import events as ev
from connector.engine.groups import GroupQueue
from connector.engine.table import Table
from connector.engine.values import ValueRefused, coerce
from connector.protocol.model import (
    EACH,
    GROUP_ACTIONS,
    Action,
    ActionType,
    ContentKind,
    GroupType,
    ParamType,
    Protocol,
    Session,
    TriggerOn,
    TriggerTime,
)

log = logging.getLogger("connector.element")

Handler = Callable[[Any], None]


class _ParallelSet:
    __slots__ = ("size", "trigger", "answered", "results")

    def __init__(self, size: int, trigger: int) -> None:
        self.size, self.trigger, self.answered = size, trigger, 0
        self.results: list[ev.HttpResult | None] = [None] * size


class Saved:
    """What the store hands back at start-up: saved parameter values and table rows."""

    def __init__(
        self,
        params: Mapping[int, Any] | None = None,
        tables: Mapping[int, Iterable[tuple[str, Mapping[str, Any]]]] | None = None,
    ) -> None:
        self.params = dict(params or {})
        self.tables = dict(tables or {})

    @property
    def empty(self) -> bool:
        return not self.params and not self.tables


class Element:
    def __init__(
        self,
        protocol: Protocol,
        *,
        name: str,
        handlers: Mapping[int, Handler],
        now: Callable[[], float],
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
        self.last_results: dict[int, ev.HttpResult] = {}  # by session id
        self._handlers = handlers
        self._cleared: set[int] = set()
        self._dirty: set[int] = set()
        self._effects: list[ev.Effect] = []
        self._pending: list[tuple[int, Any]] = []  # requests of the running group not sent yet
        self._in_flight: tuple[int, int] | None = None  # (request id, session id)
        # Parallel requests (see send_parallel): request id -> (set id, index); set id -> state.
        self._parallel_requests: dict[int, tuple[int, int]] = {}
        self._parallel_sets: dict[int, _ParallelSet] = {}
        self.parallel_results: dict[int, list[ev.HttpResult]] = {}
        self._next_request_id = 1
        self._held = False  # stopping: finish the running group, start no other
        self._index()

    # -- wiring, computed once so that a set costs a few dict look-ups ----------------------

    def _index(self) -> None:
        p = self.protocol
        self._param_triggers: dict[int, list[int]] = {}
        self._each_triggers: list[int] = []
        self._group_triggers: dict[tuple[int, TriggerTime], list[int]] = {}
        self._session_timeout_triggers: dict[int, list[int]] = {}
        self._timer_triggers: dict[int, list[int]] = {}
        self._startup_triggers: list[int] = []
        for t in p.triggers.values():
            if t.on is TriggerOn.PARAMETER and t.time is TriggerTime.CHANGE:
                if t.on_id == EACH:
                    self._each_triggers.append(t.id)
                else:
                    self._param_triggers.setdefault(int(t.on_id), []).append(t.id)  # type: ignore[arg-type]
            elif t.on is TriggerOn.GROUP:
                self._group_triggers.setdefault((int(t.on_id), t.time), []).append(t.id)  # type: ignore[arg-type]
            elif t.on is TriggerOn.SESSION:
                self._session_timeout_triggers.setdefault(int(t.on_id), []).append(t.id)  # type: ignore[arg-type]
            elif t.on is TriggerOn.TIMER:
                self._timer_triggers.setdefault(int(t.on_id), []).append(t.id)  # type: ignore[arg-type]
            elif t.on is TriggerOn.PROTOCOL and t.time is TriggerTime.AFTER_STARTUP:
                self._startup_triggers.append(t.id)
        self._param_handlers: dict[int, list[int]] = {}
        for h in p.handlers.values():
            for pid in h.triggers:
                self._param_handlers.setdefault(pid, []).append(h.id)
        self._setter_target: dict[int, int] = {}
        for param in p.params.values():
            if param.type is ParamType.WRITE and param.setter:
                read = p.read_of(param.id)
                if read is not None:
                    self._setter_target[param.id] = read.id
        self._saved = {pid for pid, param in p.params.items() if param.save and not param.password}
        self._interval_params = {t.interval_param: t.id for t in p.timers.values() if t.interval_param}
        # Per table: the positions and ids of the saved columns, the key column first.
        self._saved_columns: dict[int, tuple[Callable[[list[Any]], tuple[Any, ...]], tuple[int, ...]]] = {}
        for t in p.tables.values():
            keyed = sorted(enumerate(t.columns), key=lambda ic: ic[1].id != t.key_column)
            kept = [(i, c.id) for i, c in keyed if c.save or c.id == t.key_column]
            # itemgetter builds each row's tuple in C; with one position it would give a bare value.
            positions = [i for i, _ in kept]
            getter = itemgetter(*positions) if len(positions) > 1 else (lambda cells, i=positions[0]: (cells[i],))
            self._saved_columns[t.id] = (getter, tuple(cid for _, cid in kept))

    # -- events ---------------------------------------------------------------------------

    def start(
        self,
        saved: Saved | None = None,
        initial: Mapping[int, Any] | None = None,
        always: Mapping[int, Any] | None = None,
    ) -> list[ev.Effect]:
        """Start the element.

        `saved`: what the store kept; when there is nothing, the `initial` values apply.
        `always`: values applied at every start (passwords, never stored). Then defaults fill
        what is still empty, the initial timers start and the after-startup triggers fire.
        """
        if saved is not None and not saved.empty:
            for pid, value in saved.params.items():
                if pid in self.values:
                    self.values[pid] = value
            for tid, rows in saved.tables.items():
                table = self.tables.get(tid)
                if table is not None:
                    for key, cells in rows:
                        table.load(key, cells)
        else:
            for pid, value in (initial or {}).items():
                self.values[pid] = value
                if pid in self._saved:
                    self._dirty.add(pid)
        for pid, value in (always or {}).items():
            self.values[pid] = value
        for pid, param in self.protocol.params.items():
            if self.values[pid] is None and param.default is not None:
                self.values[pid] = param.default
                if pid in self._saved:
                    self._dirty.add(pid)
        for timer in self.protocol.timers.values():
            if timer.initial:
                interval = self.timer_interval(timer.id)
                self._emit(ev.ScheduleTimer(timer=timer.id, interval=interval, first_in=0.0))
        for tid in self._startup_triggers:
            self.fire_trigger(tid)
        self._pump()
        return self._flush()

    def handle(self, event: ev.Event) -> list[ev.Effect]:
        if isinstance(event, ev.SetParameter):
            self.set_command(event.param, event.value)
        elif isinstance(event, ev.SetCell):
            self.set_cell(event.table, event.key, event.column, event.value)
        elif isinstance(event, ev.TimerFired):
            self._timer_fired(event.timer)
        elif isinstance(event, ev.HttpResult):
            self._http_result(event)
        elif isinstance(event, ev.CheckTrigger):
            self.fire_trigger(event.trigger)
        else:  # pragma: no cover - the Event union is closed
            raise TypeError(f"unknown event {event!r}")
        self._pump()
        return self._flush()

    def set_command(self, ref: int | str, value: Any) -> None:
        """A set from outside: goes to the write parameter of a read/write pair.

        Raises KeyError for an unknown parameter and ValueRefused for a bad value, before
        anything changes.
        """
        param = self.protocol.param(ref)
        if param.type is not ParamType.WRITE:
            param = self.protocol.write_of(param.id) or param
        if param.type is ParamType.ARRAY:
            raise KeyError(f"{param.name!r} is a table")
        self.change(param.id, coerce(param, value), always=True)

    def set_cell(self, table_ref: int | str, key: str, column_ref: int | str, value: Any) -> None:
        """A set on one cell: the cell changes, then the handlers on its column run; a handler
        declared `row: true` gets the row's key (DataMiner's row QActions).

        KeyError for an unknown table, row or column, ValueRefused for a bad value or the key
        column; nothing changes then.
        """
        table = self.tables[self.protocol.table(table_ref).id]
        column = table.model.column(column_ref)
        if key not in table:
            raise KeyError(f"table {table.name!r} has no row {key!r}")
        if column.id == table.model.key_column:
            raise ValueRefused("the primary key of a row never changes")
        table.set(key, column.id, coerce(column, value))
        for hid in self._param_handlers.get(column.id, ()):
            self.run_handler(hid, column.id, key if self.protocol.handlers[hid].row else None)

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
        kind = action.type
        if kind in GROUP_ACTIONS:
            for gid in action.on_ids:
                self.queue_group(gid, kind)
        elif kind is ActionType.RUN_HANDLERS:
            for pid in action.on_ids:
                for hid in self._param_handlers.get(pid, ()):
                    self.run_handler(hid, pid)
        elif kind is ActionType.SET:
            for pid in action.on_ids:
                self.change(pid, coerce(self.protocol.params[pid], action.value), always=True)
        elif kind is ActionType.CLEAR:
            for pid in action.on_ids:
                self.clear(pid)
        elif kind is ActionType.COPY:
            source = action.source if action.source is not None else trigger_param
            if source is not None:
                for pid in action.on_ids:
                    self.change(pid, self.values.get(source), always=False)
        elif kind is ActionType.INCREMENT:
            step = action.value if action.value is not None else 1
            for pid in action.on_ids:
                self.change(pid, (self.values.get(pid) or 0) + step, always=False)
        elif kind is ActionType.START or kind is ActionType.RESTART_TIMER:
            for timer_id in action.on_ids:
                if kind is ActionType.RESTART_TIMER:
                    self.queue.drop(set(self.protocol.timers[timer_id].groups))
                self._reschedule(timer_id)
        elif kind is ActionType.STOP:
            for timer_id in action.on_ids:
                self._emit(ev.CancelTimer(timer=timer_id))

    def run_handler(self, hid: int, trigger_param: int | None, row_key: str | None = None) -> None:
        from connector.engine.context import HandlerContext  # the handler API sits above the core

        handler = self._handlers.get(hid)
        if handler is None:
            return
        try:
            handler(HandlerContext(self, hid, trigger_param, row_key))
        except Exception:
            # DataMiner logs a failing QAction and keeps the element running; so do we.
            spec = self.protocol.handlers[hid]
            log.exception("[%s] handler %d %r failed", self.name, hid, spec.name)

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

    def _build_request(self, session: Session) -> tuple[int, dict[str, Any]]:
        request = session.request
        path = request.path if request.path is not None else str(self.values.get(request.path_param) or "")  # type: ignore[arg-type]
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

    def hold(self) -> None:
        """Start no further group (a graceful stop lets the running one finish)."""
        self._held = True

    def _pump(self) -> None:
        """Run queued groups until one waits for an HTTP answer or the queue is empty."""
        while self.running is None and not self._held:
            entry = self.queue.pop()
            if entry is None:
                return
            self.running = entry.group
            self._fire_group(entry.group, TriggerTime.BEFORE)
            group = self.protocol.groups[entry.group]
            if group.content_kind is ContentKind.SESSIONS:
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
        elif group.content_kind is ContentKind.PARAMS:
            pass  # polling parameters means nothing on an HTTP or virtual connection

    def _send_next(self) -> bool:
        if not self._pending:
            return False
        session_id, request = self._pending.pop(0)
        request_id = self._next_request_id
        self._next_request_id += 1
        self._in_flight = (request_id, session_id)
        self._emit(ev.SendRequest(request_id=request_id, session=session_id, **request))
        return True

    # -- parallel requests ------------------------------------------------------------------

    def send_parallel(self, requests: list[tuple[int, dict[str, Any]]], done_trigger: int) -> int:
        """Send several requests at once, outside the group queue; fire `done_trigger` when
        every one of them is answered (results in `parallel_results[set id]`, in order).

        DataMiner sends one request at a time per connection; its multithreaded HTTP lets
        QActions send more at once. This is that, for connectors whose platform is slow: the
        caller decides how many, and keeps what must stay in order in order.
        """
        set_id = self._next_request_id
        self._next_request_id += 1
        if self._held:
            return set_id  # stopping: nothing new goes out (the set simply never completes)
        self._parallel_sets[set_id] = _ParallelSet(size=len(requests), trigger=done_trigger)
        for index, (session_id, overrides) in enumerate(requests):
            session = self.protocol.sessions[session_id]
            base = self._build_request(session)[1]
            request = {**base, **overrides, "headers": {**base["headers"], **overrides.get("headers", {})}}
            request_id = self._next_request_id
            self._next_request_id += 1
            self._parallel_requests[request_id] = (set_id, index)
            self._emit(ev.SendRequest(request_id=request_id, session=session_id, **request))
        return set_id

    def _parallel_result(self, result: ev.HttpResult) -> None:
        set_id, index = self._parallel_requests.pop(result.request_id)
        pending = self._parallel_sets[set_id]
        pending.results[index] = result
        pending.answered += 1
        if pending.answered < pending.size:
            return
        del self._parallel_sets[set_id]
        self.parallel_results[set_id] = [r for r in pending.results if r is not None]
        self.fire_trigger(pending.trigger)

    def _http_result(self, result: ev.HttpResult) -> None:
        if result.request_id in self._parallel_requests:
            self._parallel_result(result)
            return
        if self._in_flight is None or self._in_flight[0] != result.request_id:
            log.warning("[%s] answer to request %d that is not in flight: ignored", self.name, result.request_id)
            return
        session = self.protocol.sessions[self._in_flight[1]]
        self._in_flight = None
        self.last_results[session.id] = result
        response = session.response
        if response.status_param is not None:
            self.change(response.status_param, result.status_line, always=False)
        if response.content_param is not None:
            self.change(response.content_param, result.body, always=False)
        for header in response.headers:
            if header.param is not None:
                self.change(
                    header.param, result.headers.get(header.key.lower(), result.headers.get(header.key)), always=False
                )
        if result.error is not None:
            for tid in self._session_timeout_triggers.get(session.id, ()):
                self.fire_trigger(tid)
        if not self._send_next():
            self._finish_group()

    def _finish_group(self) -> None:
        gid = self.running
        self.running = None
        if gid is not None:
            self._fire_group(gid, TriggerTime.AFTER)

    def _fire_group(self, gid: int, time: TriggerTime) -> None:
        for tid in self._group_triggers.get((gid, time), ()):
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
        self._emit(
            ev.ScheduleTimer(timer=timer_id, interval=interval, first_in=interval if first_in is None else first_in)
        )

    def start_timer(self, timer_id: int, after: float | None = None) -> None:
        self._reschedule(timer_id, after)

    def stop_timer(self, timer_id: int) -> None:
        self._emit(ev.CancelTimer(timer=timer_id))

    def _timer_fired(self, timer_id: int) -> None:
        for tid in self._timer_triggers.get(timer_id, ()):
            self.fire_trigger(tid)
        for gid in self.protocol.timers[timer_id].groups:
            self.queue_group(gid, "timer")

    # -- effects --------------------------------------------------------------------------

    def _emit(self, effect: ev.Effect) -> None:
        self._effects.append(effect)

    def emit(self, effect: ev.Effect) -> None:
        """For the handler API: an effect such as SendInterApp."""
        self._effects.append(effect)

    def _flush(self) -> list[ev.Effect]:
        effects, self._effects = self._effects, []
        persist = self._collect_persist()
        if persist is not None:
            effects.insert(0, persist)
        return effects

    def _collect_persist(self) -> ev.Persist | None:
        params = {pid: self.values[pid] for pid in self._dirty}
        self._dirty.clear()
        deltas = []
        for table in self.tables.values():
            if not table.changes:
                continue
            written, deleted = table.changes.take()
            if table.model.volatile:
                continue
            saved_cells, columns = self._saved_columns[table.id]
            rows = {}
            for key in written:
                if key in table:
                    rows[key] = saved_cells(table.raw_cells(key))
            deltas.append(ev.TableDelta(table=table.id, columns=columns, written=rows, deleted=tuple(deleted)))
        if not params and not deltas:
            return None
        return ev.Persist(params=params, tables=tuple(deltas))
