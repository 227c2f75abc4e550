"""The leases in PostgreSQL: take, renew, hand over, and what every agent sees.

A lease row (connector.engine.pg_schema) says which agent runs an element until when, on the
database's clock, and its epoch, the fencing token. Taking a lease is one UPDATE that succeeds
only on an expired (or handed-over) row and bumps the epoch, so of two agents racing for an
element one wins and the other's UPDATE finds nothing. Renewing extends only a live lease of
this agent at its epoch. Handing over expires the row at once and NOTIFYs the other agents,
who take it within a round trip rather than at their next loop.

The owner's side of the timing lives here too (`Held`): a renewal's deadline is counted on
this machine's monotonic clock from the moment the renewal was SENT, minus a margin, so that
the owner stops sending before the database could see its lease expire, even if it is paused
or cut off right after.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import psycopg
from attrs import define, frozen

from connector.engine.pg_connect import connection_settings
from connector.engine.pg_schema import SCHEMA

CHANNEL = "connector_leases"
INBOX_CHANNEL = "connector_inbox"


@frozen(kw_only=True)
class LeaseTiming:
    """Patroni's rule: loop_wait + 2 * retry_timeout <= ttl (retry_timeout: a database call's limit)."""

    ttl: float = 8.0  # seconds a lease lives after a renewal, on the database's clock
    loop_wait: float = 1.0  # seconds between two renewals
    retry_timeout: float = 3.0  # what one database call may take (connector.engine.pg_connect)
    margin: float = 1.5  # the owner stops sending this long before its lease can expire

    def __attrs_post_init__(self) -> None:
        if self.loop_wait + 2 * self.retry_timeout > self.ttl or self.margin >= self.ttl:
            raise ValueError(f"lease timing {self}: needs loop_wait + 2 * retry_timeout <= ttl and margin < ttl")


@define
class Held:
    """A lease this agent holds: its epoch and, on the monotonic clock, when to stop sending."""

    epoch: int
    deadline: float

    def valid(self) -> bool:
        return time.monotonic() < self.deadline


@frozen(kw_only=True)
class Owner:
    agent: str
    url: str


class LeaseBook:
    """One agent's connection to the leases (asyncio: a slow database stalls no element)."""

    def __init__(self, url: str, password: str | None, *, agent: str, timing: LeaseTiming) -> None:
        self._settings = connection_settings(url, password, purpose=f"agent {agent}")
        self.agent = agent
        self.agent_url = ""
        self.timing = timing
        self._db: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._db is None or self._db.closed or self._db.broken:
            self._db = await psycopg.AsyncConnection.connect(self._settings, autocommit=True)
        return self._db

    async def heartbeat(self, *, leaving: bool = False) -> None:
        db = await self._connection()
        await db.execute(
            f"INSERT INTO {SCHEMA}.agents (name, url, seen, leaving) VALUES (%s, %s, clock_timestamp(), %s) "
            "ON CONFLICT (name) DO UPDATE SET url = excluded.url, seen = excluded.seen, leaving = excluded.leaving",
            (self.agent, self.agent_url, leaving),
        )

    async def renew(self, held: Mapping[str, Held]) -> set[str]:
        """Extend the leases held; the elements whose lease is still ours (the others are lost)."""
        if not held:
            return set()
        db = await self._connection()
        sent = time.monotonic()
        names = list(held)
        cursor = await db.execute(
            f"UPDATE {SCHEMA}.leases AS l SET expires = clock_timestamp() + make_interval(secs => %s) "
            "FROM unnest(%s::text[], %s::bigint[]) AS o(element, epoch) "
            "WHERE l.element = o.element AND l.epoch = o.epoch AND l.agent = %s AND l.expires > clock_timestamp() "
            "RETURNING l.element",
            (self.timing.ttl, names, [held[name].epoch for name in names], self.agent),
        )
        renewed = {str(row[0]) for row in await cursor.fetchall()}
        for name in renewed:
            held[name].deadline = sent + self.timing.ttl - self.timing.margin
        return renewed

    async def take(self, element: str) -> Held | None:
        """The element's lease with a new epoch, if it is free; None if another agent has it."""
        db = await self._connection()
        sent = time.monotonic()
        # One statement: of two agents inserting the same new lease, the second waits for the
        # first and then finds a live lease, which its WHERE refuses.
        cursor = await db.execute(
            f"INSERT INTO {SCHEMA}.leases AS l (element, agent, agent_url, epoch, expires) "
            "VALUES (%s, %s, %s, 1, clock_timestamp() + make_interval(secs => %s)) "
            "ON CONFLICT (element) DO UPDATE SET agent = excluded.agent, agent_url = excluded.agent_url, "
            "epoch = l.epoch + 1, expires = excluded.expires WHERE l.expires <= clock_timestamp() RETURNING l.epoch",
            (element, self.agent, self.agent_url, self.timing.ttl),
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        return Held(epoch=int(str(row[0])), deadline=sent + self.timing.ttl - self.timing.margin)

    async def hand_over(self, element: str, held: Held) -> None:
        """Expire our lease now and tell the other agents: one of them takes it at once."""
        db = await self._connection()
        await db.execute(  # one statement: the connection may be shared by several hand-overs at once
            f"WITH freed AS (UPDATE {SCHEMA}.leases SET expires = '-infinity' "
            "WHERE element = %s AND agent = %s AND epoch = %s RETURNING 1) "
            f"SELECT pg_notify('{CHANNEL}', %s) FROM freed",
            (element, self.agent, held.epoch, element),
        )

    async def look(self) -> tuple[dict[str, Owner], dict[str, str]]:
        """The live leases (element -> owner) and the live agents (name -> API URL)."""
        db = await self._connection()
        leases = await db.execute(
            f"SELECT element, agent, coalesce(agent_url, '') FROM {SCHEMA}.leases WHERE expires > clock_timestamp()"
        )
        held = {str(e): Owner(agent=str(a), url=str(u)) for e, a, u in await leases.fetchall()}
        agents = await db.execute(
            f"SELECT name, url FROM {SCHEMA}.agents "
            "WHERE seen > clock_timestamp() - make_interval(secs => %s) AND NOT leaving",
            (self.timing.ttl,),
        )
        return held, {str(name): str(url) for name, url in await agents.fetchall()}

    # -- the inbox (connector.service.cluster.inbox) ---------------------------------------------

    async def post(self, element: str, kind: str, ref: str | None, payload: str) -> int:
        """Store a message for `element` (committed when this returns) and wake its owner; its id."""
        db = await self._connection()
        cursor = await db.execute(
            f"WITH queued AS (INSERT INTO {SCHEMA}.inbox (element, kind, ref, payload) VALUES (%s, %s, %s, %s) "
            f"RETURNING id) SELECT id, pg_notify('{INBOX_CHANNEL}', %s) FROM queued",
            (element, kind, ref, payload, element),
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(str(row[0]))

    async def pending(self, elements: list[str]) -> list[tuple[int, str, str, str | None, str]]:
        """The messages not yet applied for `elements`: (id, element, kind, ref, payload), oldest first."""
        if not elements:
            return []
        db = await self._connection()
        cursor = await db.execute(
            f"SELECT id, element, kind, ref, payload FROM {SCHEMA}.inbox "
            "WHERE element = ANY(%s::text[]) AND applied IS NULL ORDER BY id LIMIT 500",
            (elements,),
        )
        return [
            (int(str(i)), str(e), str(k), None if r is None else str(r), str(p))
            for i, e, k, r, p in await cursor.fetchall()
        ]

    async def mark_applied(self, message: int) -> None:
        """For a message whose step committed nothing (refused, or it changed nothing saved)."""
        db = await self._connection()
        await db.execute(f"UPDATE {SCHEMA}.inbox SET applied = now() WHERE id = %s", (message,))

    async def listen(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        """A connection of its own, listening for hand-overs (its `notifies()` yields them)."""
        listener = await psycopg.AsyncConnection.connect(self._settings, autocommit=True)
        await listener.execute(f"LISTEN {CHANNEL}")
        await listener.execute(f"LISTEN {INBOX_CHANNEL}")
        return listener

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
