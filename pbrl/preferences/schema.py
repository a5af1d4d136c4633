"""The preference store's SQLite schema and the marks that make a file a pbrl store.

Schema (version 2; version 1 had the first five tables only)::

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
    -- version 2: ratings and rankings
    rating_queries (id, segment_id -> segments, n_classes 2..10,
               status 'open'|'labelled'|'skipped', created, meta TEXT JSON)
    ratings   (id, rating_query_id -> rating_queries, rating 0..n_classes-1 or NULL
               when skipped, skipped 0|1, teacher_kind, teacher_params, labeler,
               created, retracted NULL|time)
        -- at most one active rating per (rating query, labeler)
    rankings  (id, status 'open'|'done', labeler (NULL until someone works on it),
               teacher_kind, teacher_params, state TEXT JSON (the insertion state),
               comparisons, created, finished NULL|time, meta TEXT JSON)
    ranking_items (ranking_id -> rankings, segment_id -> segments,
               position (group index, 0 = worst))
        -- a finished ranking's implied pairs are ordinary queries (meta
        -- {"ranking": id}) with labels, so pair-based training uses them unchanged

Migrations (:data:`MIGRATIONS`) only add tables: every row of an older store is kept.

Segment arrays are named ``obs`` (H, obs_dim), ``actions`` (H, act_dim),
``rewards`` (H,), ``mask`` (H,) bool, ``terms/<name>`` (H,) and
``extras/<name>`` (H, ...). The file is marked as a pbrl store by the
``pbrl_meta`` table (and ``PRAGMA application_id`` = 0x7062726C, "pbrl").
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "MIGRATIONS", "QUERY_STATUSES", "RANKING_STATUSES", "SCHEMA_VERSION", "SQLITE_MAGIC", "STORE_FORMAT", "TABLES"]

#: ``pbrl_meta``'s ``format`` entry.
STORE_FORMAT = "pbrl-preference-store"
#: The newest schema this pbrl reads and the one it writes.
SCHEMA_VERSION = 2
APPLICATION_ID = 0x7062726C  # "pbrl"
#: The first bytes of every SQLite file.
SQLITE_MAGIC = b"SQLite format 3\x00"
QUERY_STATUSES = ("open", "labelled", "skipped")
RANKING_STATUSES = ("open", "done")

#: The tables schema version 2 adds: ratings and rankings.
V2_TABLES = [
    """CREATE TABLE IF NOT EXISTS rating_queries (
        id INTEGER PRIMARY KEY,
        segment_id INTEGER NOT NULL REFERENCES segments(id),
        n_classes INTEGER NOT NULL CHECK (n_classes BETWEEN 2 AND 10),
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'labelled', 'skipped')),
        created REAL NOT NULL,
        meta TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS rating_queries_status ON rating_queries(status)",
    """CREATE TABLE IF NOT EXISTS ratings (
        id INTEGER PRIMARY KEY,
        rating_query_id INTEGER NOT NULL REFERENCES rating_queries(id),
        rating INTEGER CHECK (rating BETWEEN 0 AND 9),
        skipped INTEGER NOT NULL CHECK (skipped IN (0, 1)),
        teacher_kind TEXT NOT NULL,
        teacher_params TEXT NOT NULL,
        labeler TEXT NOT NULL,
        created REAL NOT NULL,
        retracted REAL,
        CHECK ((skipped = 1 AND rating IS NULL) OR (skipped = 0 AND rating IS NOT NULL))
    )""",
    "CREATE INDEX IF NOT EXISTS ratings_query ON ratings(rating_query_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ratings_active ON ratings(rating_query_id, labeler) WHERE retracted IS NULL",
    """CREATE TABLE IF NOT EXISTS rankings (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
        labeler TEXT,
        teacher_kind TEXT,
        teacher_params TEXT,
        state TEXT NOT NULL,
        comparisons INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        finished REAL,
        meta TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS ranking_items (
        ranking_id INTEGER NOT NULL REFERENCES rankings(id),
        segment_id INTEGER NOT NULL REFERENCES segments(id),
        position INTEGER NOT NULL CHECK (position >= 0),
        PRIMARY KEY (ranking_id, segment_id)
    )""",
]

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
    *V2_TABLES,
]

#: schema version -> the statements that bring a store of that version to the next one
#: (run in one transaction when an older store is opened; they only add tables)
MIGRATIONS: dict[int, list[str]] = {1: V2_TABLES}
