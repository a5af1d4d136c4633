"""The preference store's SQLite schema and the marks that make a file a pbrl store.

Schema (version 1)::

    pbrl_meta (key TEXT PRIMARY KEY, value TEXT)
        -- format = 'pbrl-preference-store', schema_version = '1', created,
        -- pbrl_version, and user entries 'info.<key>' (JSON values)
    segments  (id, digest UNIQUE, horizon, obs_dim, act_dim,
               layout TEXT,   -- JSON [[name, dtype, shape, offset], ...]
               data BLOB,     -- the arrays' raw bytes, back to back
               source_kind 'run'|'dataset', source_id, episode, start, created)
    queries   (id, segment1 -> segments, segment2 -> segments,
               status 'open'|'labelled'|'skipped', created, meta TEXT JSON)
    labels    (id, query_id -> queries, label 0|0.5|1 or NULL when skipped,
               skipped 0|1, teacher_kind, teacher_params TEXT JSON, labeler,
               created, retracted NULL|time)
        -- at most one active (retracted IS NULL) label per (query, labeler)
    labelers  (id, name UNIQUE, token_hash UNIQUE (sha256 hex), created)

Segment arrays are named ``obs`` (H, obs_dim), ``actions`` (H, act_dim),
``rewards`` (H,), ``mask`` (H,) bool, ``terms/<name>`` (H,) and
``extras/<name>`` (H, ...). The file is marked as a pbrl store by the
``pbrl_meta`` table (and ``PRAGMA application_id`` = 0x7062726C, "pbrl").
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "QUERY_STATUSES", "SCHEMA_VERSION", "SQLITE_MAGIC", "STORE_FORMAT", "TABLES"]

#: ``pbrl_meta``'s ``format`` entry.
STORE_FORMAT = "pbrl-preference-store"
#: The newest schema this pbrl reads and the one it writes.
SCHEMA_VERSION = 1
APPLICATION_ID = 0x7062726C  # "pbrl"
#: The first bytes of every SQLite file.
SQLITE_MAGIC = b"SQLite format 3\x00"
QUERY_STATUSES = ("open", "labelled", "skipped")

#: The statements that create the schema (each idempotent).
TABLES = [
    """CREATE TABLE IF NOT EXISTS pbrl_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS segments (
        id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        horizon INTEGER NOT NULL,
        obs_dim INTEGER NOT NULL,
        act_dim INTEGER NOT NULL,
        layout TEXT NOT NULL,
        data BLOB NOT NULL,
        source_kind TEXT NOT NULL CHECK (source_kind IN ('run', 'dataset')),
        source_id TEXT NOT NULL,
        episode INTEGER NOT NULL,
        start INTEGER NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS queries (
        id INTEGER PRIMARY KEY,
        segment1 INTEGER NOT NULL REFERENCES segments(id),
        segment2 INTEGER NOT NULL REFERENCES segments(id),
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'labelled', 'skipped')),
        created REAL NOT NULL,
        meta TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS queries_status ON queries(status)",
    """CREATE TABLE IF NOT EXISTS labels (
        id INTEGER PRIMARY KEY,
        query_id INTEGER NOT NULL REFERENCES queries(id),
        label REAL CHECK (label IN (0.0, 0.5, 1.0)),
        skipped INTEGER NOT NULL CHECK (skipped IN (0, 1)),
        teacher_kind TEXT NOT NULL,
        teacher_params TEXT NOT NULL,
        labeler TEXT NOT NULL,
        created REAL NOT NULL,
        retracted REAL,
        CHECK ((skipped = 1 AND label IS NULL) OR (skipped = 0 AND label IS NOT NULL))
    )""",
    "CREATE INDEX IF NOT EXISTS labels_query ON labels(query_id)",
    "CREATE INDEX IF NOT EXISTS labels_labeler ON labels(labeler, created)",
    "CREATE UNIQUE INDEX IF NOT EXISTS labels_active ON labels(query_id, labeler) WHERE retracted IS NULL",
    """CREATE TABLE IF NOT EXISTS labelers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    )""",
]
