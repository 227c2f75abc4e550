"""The owner's side of the inbox: sets and InterApp messages other agents stored, applied once.

Another agent stores a message for an element it does not run (connector.service.cluster
.views). The owner reads the pending ones, oldest first, and submits each to its element as
the API would. The message's "applied" mark is written by the commit of the very step that
applies it (the store's `acks`, taken at the step's start through `ElementHost.step_starts`):
either both are durable or neither is, so a message survives its owner dying at any moment and
is applied exactly once, by whoever owns the element next.

A step that commits nothing (a set refused, or one that changed nothing saved) leaves its mark
to be written afterwards, alone: applying such a message again would change nothing either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING
from typing import Protocol as TypingProtocol

import psycopg

from connector.engine import events as ev
from connector.engine.store_pg import PostgresStore
from connector.engine.values import ValueRefused
from connector.protocol.model import INTERAPP_RECEIVE

if TYPE_CHECKING:
    from connector.service.cluster.leases import LeaseBook
    from connector.service.runtime import ElementHost

log = logging.getLogger("connector.agent")


class Owner(TypingProtocol):
    """What the inbox reads of its agent (connector.service.cluster.agent.Agent)."""

    book: LeaseBook | None
    elements: dict[str, ElementHost]


class Inbox:
    def __init__(self, agent: Owner) -> None:
        self.agent = agent
        self._marks: dict[int, tuple[PostgresStore, int]] = {}  # id(event) -> (store, message)

    async def run(self, wake: asyncio.Event, period: float) -> None:
        """Apply what waits, every `period` seconds or when `wake` is set (another agent stored some)."""
        while True:
            wake.clear()
            try:
                await self.apply_pending()
            except (psycopg.Error, OSError):
                pass  # the agent's loop reports the database's state; the messages wait, stored
            await until_set(wake, period)

    def watch(self, host: ElementHost) -> None:
        """Tie the marks of the messages `host` applies to its steps' commits."""
        host.step_starts = self._step_starts

    def _step_starts(self, event: object) -> None:
        mark = self._marks.pop(id(event), None)
        if mark is not None:
            store, message = mark
            store.acks.append(message)

    async def apply_pending(self) -> int:
        """Apply what is waiting for the elements running here; how many were applied."""
        book = self.agent.book
        assert book is not None
        applied = 0
        for message, element, kind, ref, payload in await book.pending(list(self.agent.elements)):
            host = self.agent.elements.get(element)
            if host is None or not host.state.accepting or not isinstance(host.store, PostgresStore):
                continue  # handed over meanwhile: its next owner applies it
            if not await self._apply(host, host.store, message, kind, ref, payload):
                continue
            applied += 1
        return applied

    async def _apply(
        self, host: ElementHost, store: PostgresStore, message: int, kind: str, ref: str | None, payload: str
    ) -> bool:
        assert self.agent.book is not None
        if kind == "interapp":
            host.metrics.interapp_messages += 1
            event = ev.SetParameter(param=INTERAPP_RECEIVE, value=payload)
        elif kind == "element":  # another element's message, as the runtime routes it between its own
            host.metrics.interapp_messages += 1
            event = ev.SetParameter(param=int(ref or INTERAPP_RECEIVE), value=payload, from_outside=False)
        else:
            event = ev.SetParameter(param=int(ref or 0), value=json.loads(payload))
        self._marks[id(event)] = (store, message)
        try:
            await host.submit(event)
        except (KeyError, ValueRefused) as refused:
            log.warning("[%s] inbox message %d refused: %s", host.name, message, refused)
        except Exception as exc:  # noqa: BLE001 - the element failed on it: its next start applies it again
            self._marks.pop(id(event), None)
            log.error("[%s] inbox message %d not applied: %s", host.name, message, exc)
            return False
        if message in store.acks:  # no commit took the mark with it
            store.acks.remove(message)
            await self.agent.book.mark_applied(message)
        return True


async def until_set(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` have passed. Not asyncio.wait_for: on Python 3.11 it
    loses a cancel that comes as the event is set, and the agent's loops would never stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
