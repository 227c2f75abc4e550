"""The PostgreSQL schema every element and agent shares: created and migrated on first use.

Everything lives in one PostgreSQL schema, `connector`, keyed by element name, so that any
number of elements and agents share one database without a schema each:

- `schema_info`: the schema's version (one row). `MIGRATIONS[n]` takes version n to n + 1;
  an agent migrates under a transaction-scoped advisory lock, so that agents starting together
  do it once, and refuses a database whose version is newer than it knows.
- `stores`: whose each element's state is (its protocol), as SQLite's `meta` says it.
- `meta`, `params`, `rows`: what `SQLiteStore` keeps (element metadata such as its id, saved
  parameters as JSON text, saved rows as one JSON object of cells each). `seq` keeps the
  order rows were first added in, as SQLite's rowid does: an upsert keeps it.
- `leases`: who owns each element, until when (the database's clock), and the epoch, the
  fencing token every commit checks (`fence()`, below).
- `agents`: the agents alive, with their API address, for the fair spread and for `owner`.
- `inbox`: sets and InterApp messages for an element, stored by any agent, applied once by
  its owner.

`fence(element, epoch)` raises SQLSTATE `CN001` unless the lease row still holds that epoch
and has not expired by the database's clock. It takes the row FOR SHARE, so an agent taking
the lease over (an UPDATE of that row) waits for a commit in flight to finish: a commit that
passed the fence is whole before the next owner reads the store.
"""

from __future__ import annotations

SCHEMA = "connector"
FENCE_SQLSTATE = "CN001"
MIGRATION_LOCK = 0x636F6E6E  # "conn": the advisory lock taken while creating or migrating

_V1 = f"""
CREATE TABLE {SCHEMA}.stores (
    element text PRIMARY KEY,
    protocol text NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {SCHEMA}.meta (
    element text NOT NULL, key text NOT NULL, value text NOT NULL,
    PRIMARY KEY (element, key)
);
CREATE TABLE {SCHEMA}.params (
    element text NOT NULL, id integer NOT NULL, value text,
    PRIMARY KEY (element, id)
);
CREATE TABLE {SCHEMA}.rows (
    element text NOT NULL, table_id integer NOT NULL, key text NOT NULL,
    seq bigserial NOT NULL, cells json NOT NULL,
    PRIMARY KEY (element, table_id, key)
);
CREATE INDEX rows_order ON {SCHEMA}.rows (element, table_id, seq);
CREATE TABLE {SCHEMA}.leases (
    element text PRIMARY KEY,
    agent text,
    agent_url text,
    epoch bigint NOT NULL DEFAULT 0,
    expires timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE TABLE {SCHEMA}.agents (
    name text PRIMARY KEY,
    url text NOT NULL,
    seen timestamptz NOT NULL,
    leaving boolean NOT NULL DEFAULT false
);
CREATE TABLE {SCHEMA}.inbox (
    id bigserial PRIMARY KEY,
    element text NOT NULL,
    kind text NOT NULL,
    ref text,
    payload text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    applied timestamptz
);
CREATE INDEX inbox_pending ON {SCHEMA}.inbox (element, id) WHERE applied IS NULL;
CREATE FUNCTION {SCHEMA}.fence(p_element text, p_epoch bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM {SCHEMA}.leases
        WHERE element = p_element AND epoch = p_epoch AND expires > clock_timestamp() FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'element %: lease of epoch % lost', p_element, p_epoch USING ERRCODE = '{FENCE_SQLSTATE}';
    END IF;
END $$;
"""

MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)

CREATE_INFO = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_info (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL
);
INSERT INTO {SCHEMA}.schema_info (version) VALUES (0) ON CONFLICT DO NOTHING;
"""
