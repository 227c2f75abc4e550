"""The group queue at work: one group at a time, its HTTP requests one after the other.

DataMiner's queue rules are in `connector.engine.groups`; this runs them. A group of HTTP
sessions sends its requests one after the other and is finished when the last answer has been
stored; only then does the next group start. Requests are built from the parameters when the
group is queued. Parallel requests (`connector.engine.parallel`) go out beside the queue.

What a group does (its actions and triggers, storing an answer in parameters) is the state
machine's: the runner reaches it through `Steps`, so that the two modules do not import each
other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from typing import Protocol as TypingProtocol

from connector.engine import events as ev
from connector.engine.conditions import holds
from connector.engine.groups import GroupQueue
from connector.engine.parallel import ParallelRequests
from connector.engine.timeout import ElementTimeout
from connector.engine.wiring import Wiring
from connector.protocol.model import Action, ActionType, ContentKind, GroupType, Protocol, Session, TriggerTime

log = logging.getLogger("connector.element")

PendingRequest = tuple[int, dict[str, Any]]  # (session id, the request's fields)


class Steps(TypingProtocol):
    """What the runner asks of the state machine."""

    def fire_trigger(self, tid: int) -> None: ...

    def run_action(self, action: Action, trigger_param: int | None = None) -> None: ...

    def change(self, pid: int, value: Any, *, always: bool) -> None: ...

    def emit(self, effect: ev.Effect) -> None: ...


class GroupRunner:
    """The queue, the running group and the requests in flight of one element."""

    def __init__(self, protocol: Protocol, wiring: Wiring, values: Mapping[int, Any], steps: Steps, name: str) -> None:
        self.protocol = protocol
        self.name = name
        self.queue = GroupQueue()
        self.running: int | None = None  # the group that is running now
        self.held = False  # stopping: finish the running group, start no other
        self._values = values
        self._steps = steps
        self._group_triggers = wiring.group_triggers
        self._session_timeout_triggers = wiring.session_timeout_triggers
        self._last_results: dict[int, ev.HttpResult] = {}  # by session id
        self._pending: list[PendingRequest] = []  # requests of the running group not sent yet
        self._in_flight: tuple[int, int] | None = None  # (request id, session id)
        self._parallel = ParallelRequests()
        self._timeout = ElementTimeout(protocol.timeout_after)
        self._next_request_id = 1

    def queue_group(self, gid: int, how: ActionType | str) -> bool:
        group = self.protocol.groups[gid]
        if how == "timer" and group.type in (GroupType.ACTION, GroupType.TRIGGER):
            if holds(group.condition, self.protocol, self._values):
                self._run_content(gid)  # non-poll groups run at once on the timer, unqueued
            return True
        payload = None
        if group.content_kind is ContentKind.SESSIONS:
            payload = [self.build_request(self.protocol.sessions[sid]) for sid in group.content]
        return self.queue.add(gid, how, payload)

    def build_request(self, session: Session) -> PendingRequest:
        request = session.request
        path = request.path
        if path is None:
            path = str(self._values.get(request.path_param) or "") if request.path_param is not None else ""
        headers: dict[str, str] = {}
        for header in request.headers:
            if header.param is None:
                headers[header.key] = header.value
            else:
                value = self._values.get(header.param)
                if value not in (None, ""):
                    headers[header.key] = str(value)
        body = None if request.body_param is None else self._values.get(request.body_param)
        return session.id, {
            "method": request.verb,
            "path": path,
            "headers": headers,
            "body": None if body is None else str(body),
            "timeout": request.timeout,
        }

    def pump(self) -> None:
        """Run queued groups until one waits for an HTTP answer or the queue is empty."""
        while self.running is None and not self.held:
            entry = self.queue.pop()
            if entry is None:
                return
            if not holds(self.protocol.groups[entry.group].condition, self.protocol, self._values):
                continue  # DataMiner's group condition, checked when the group's turn comes
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
                self._steps.run_action(self.protocol.actions[aid])
        elif group.content_kind is ContentKind.TRIGGERS:
            for tid in group.content:
                self._steps.fire_trigger(tid)
        # ContentKind.PARAMS: polling parameters means nothing on an HTTP or virtual connection

    def _send_next(self) -> bool:
        if not self._pending:
            return False
        session_id, request = self._pending.pop(0)
        request_id = self._new_request_id()
        self._in_flight = (request_id, session_id)
        self._steps.emit(ev.SendRequest(request_id=request_id, session=session_id, **request))
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
            base = self.build_request(self.protocol.sessions[session_id])[1]
            fields = {**base, **overrides, "headers": {**base["headers"], **overrides.get("headers", {})}}
            sent.append(ev.SendRequest(request_id=self._new_request_id(), session=session_id, **fields))
        self._parallel.open(set_id, [request.request_id for request in sent], done_trigger)
        for request in sent:
            self._steps.emit(request)
        return set_id

    def take_parallel_results(self, set_id: int) -> list[ev.HttpResult]:
        return self._parallel.take(set_id)

    def last_result(self, session: int) -> ev.HttpResult | None:
        return self._last_results.get(session)

    def http_result(self, result: ev.HttpResult) -> None:
        if result.request_id in self._parallel:
            done = self._parallel.answer(result)
            if done is not None:
                self._steps.fire_trigger(done)
            return
        if self._in_flight is None or self._in_flight[0] != result.request_id:
            log.warning("[%s] answer to request %d that is not in flight: ignored", self.name, result.request_id)
            return
        session = self.protocol.sessions[self._in_flight[1]]
        self._in_flight = None
        self._last_results[session.id] = result
        status = self._timeout.result(session, result)
        if status is not None:
            self._steps.emit(status)
        self._store_answer(session, result)
        if result.error is not None:
            for tid in self._session_timeout_triggers.get(session.id, ()):
                self._steps.fire_trigger(tid)
        if not self._send_next():
            self._finish_group()

    def _store_answer(self, session: Session, result: ev.HttpResult) -> None:
        response = session.response
        if response.status_param is not None:
            self._steps.change(response.status_param, result.status_line, always=False)
        if response.content_param is not None:
            self._steps.change(response.content_param, result.body, always=False)
        for header in response.headers:
            if header.param is not None:
                value = result.headers.get(header.key.lower(), result.headers.get(header.key))
                self._steps.change(header.param, value, always=False)

    def _finish_group(self) -> None:
        gid = self.running
        self.running = None
        if gid is not None:
            self._fire_group(gid, TriggerTime.AFTER)

    def _fire_group(self, gid: int, time: TriggerTime) -> None:
        for tid in self._group_triggers.get((gid, time), ()):
            self._steps.fire_trigger(tid)
