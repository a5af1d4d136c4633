"""The preference store: segments, queries, labels and labelers in one SQLite file.

One store per run or per project; :class:`PreferenceStore` is its API. The file
(WAL, one transaction per write, refused untouched when it is not a pbrl store) is
``database.py``, its tables ``schema.py``, the export file ``export.py``.

A query's status follows its active labels: ``labelled`` if any is a label,
``skipped`` if all are skips, ``open`` if there is none. Label submission is
idempotent: the same (query, labeler, label) twice stores one label; a different
label from the same labeler for the same query is a :class:`LabelConflictError`
unless ``replace=True`` (which retracts the old one). Retracted labels stay in the
file (``retracted`` holds the time), for audit and undo.

Export/import: :meth:`PreferenceStore.export_to` writes a single portable ``.npz``
file (format in ``pbrl/preferences/FORMAT.md``); :meth:`PreferenceStore.import_from`
merges one into a store idempotently.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from . import _codec
from .database import Database
from .feedback import FeedbackTables, answer_columns, query_columns
from .export import read_export, write_export
from .labels import LabelError, Labels, Provenance, check_label_values
from .schema import QUERY_STATUSES
from .segments import SegmentBatch, SegmentShapeError, check_pair_batches

__all__ = [
    "EmptyPreferencesError",
    "LabelConflictError",
    "PreferenceData",
    "PreferenceStore",
]


class EmptyPreferencesError(ValueError):
    """No usable (answered, non-skipped) labels to train on."""


class LabelConflictError(ValueError):
    """A labeler gave a different label to a query it had already labelled."""


@dataclass(frozen=True, eq=False)
class PreferenceData:
    """Labelled pairs ready for reward-model training.

    Attributes:
        first: (n,) σ¹ segments.
        second: (n,) σ² segments.
        labels: (n,) float64 in {0, 0.5, 1}; 1 = σ² preferred.
        query_ids: (n,) store ids of the queries.
        label_ids: (n,) store ids of the labels.
        labelers: (n,) who gave each label.
    """

    first: SegmentBatch
    second: SegmentBatch
    labels: np.ndarray
    query_ids: np.ndarray
    label_ids: np.ndarray
    labelers: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)

    def targets(self) -> np.ndarray:
        """(n, 2) Bradley–Terry targets over (σ¹, σ²): (1, 0), (0, 1) or (0.5, 0.5)."""
        return np.stack([1.0 - self.labels, self.labels], axis=1)


def _now() -> float:
    return time.time()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PreferenceStore(FeedbackTables, Database):
    """A pbrl preference store (SQLite, WAL) at ``path``.

    Args:
        path: the store file. Created if missing (``create=True``).
        create: create a new store when ``path`` does not exist (or is empty).
        timeout: seconds a write waits for another writer before failing.
        synchronous: SQLite ``synchronous`` setting, ``"FULL"`` (default: durable
            across power loss) or ``"NORMAL"`` (durable across process crashes).

    Raises:
        NotAPbrlStoreError: ``path`` exists but is not a pbrl store (not SQLite, or
            SQLite without pbrl's marker table), or has a newer schema.
        FileNotFoundError: ``path`` does not exist and ``create`` is False.

    Ratings and rankings (schema version 2) are kept beside the pairs: see
    :class:`~pbrl.preferences.feedback.FeedbackTables` for their methods.

    One object may be shared by threads (each thread gets its own connection) and
    by processes opening the same path. Use as a context manager or call
    :meth:`close`.
    """

    def __repr__(self) -> str:
        return f"PreferenceStore({self.path!r})"

    # -- metadata -----------------------------------------------------------

    def set_info(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable user value (e.g. the task id) under ``key``."""
        text = json.dumps(value, allow_nan=False)
        with self._write() as con:
            con.execute("INSERT OR REPLACE INTO pbrl_meta (key, value) VALUES (?, ?)", ("info." + key, text))

    def info(self) -> dict[str, Any]:
        """All user values set with :meth:`set_info`."""
        rows = self._conn().execute("SELECT key, value FROM pbrl_meta WHERE key LIKE 'info.%'").fetchall()
        return {k[5:]: json.loads(v) for k, v in rows}

    def summary(self) -> dict[str, int]:
        """Counts: segments, queries (and open/labelled/skipped), active labels, skips, labelers,
        rating queries, active ratings and finished rankings."""
        with self._read() as con:
            out = {"segments": con.execute("SELECT COUNT(*) FROM segments").fetchone()[0]}
            out["queries"] = con.execute("SELECT COUNT(*) FROM queries").fetchone()[0]
            for status in QUERY_STATUSES:
                out[status] = con.execute("SELECT COUNT(*) FROM queries WHERE status = ?", (status,)).fetchone()[0]
            out["labels"] = con.execute(
                "SELECT COUNT(*) FROM labels WHERE retracted IS NULL AND skipped = 0"
            ).fetchone()[0]
            out["skips"] = con.execute("SELECT COUNT(*) FROM labels WHERE retracted IS NULL AND skipped = 1").fetchone()[0]
            out["labelers"] = con.execute("SELECT COUNT(*) FROM labelers").fetchone()[0]
            out["rating_queries"] = con.execute("SELECT COUNT(*) FROM rating_queries").fetchone()[0]
            out["ratings"] = con.execute("SELECT COUNT(*) FROM ratings WHERE retracted IS NULL AND skipped = 0").fetchone()[0]
            out["rankings"] = con.execute("SELECT COUNT(*) FROM rankings WHERE status = 'done'").fetchone()[0]
        return out

    # -- segments -----------------------------------------------------------

    def _insert_segments(self, con: sqlite3.Connection, batch: SegmentBatch) -> np.ndarray:
        if not isinstance(batch, SegmentBatch):
            raise TypeError(f"expected a SegmentBatch, got {type(batch).__name__}")
        layout, blobs = _codec.encode(batch)
        now = _now()
        ids = np.empty(len(batch), dtype=np.int64)
        h, od, ad = batch.shape_key
        for i, data in enumerate(blobs):
            kind, source = str(batch.origin_kind[i]), str(batch.source_id[i])
            ep, st = int(batch.episode[i]), int(batch.start[i])
            digest = _codec.digest(layout, data, kind, source, ep, st)
            cur = con.execute(
                "INSERT OR IGNORE INTO segments (digest, horizon, obs_dim, act_dim, layout, data, source_kind, "
                "source_id, episode, start, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (digest, h, od, ad, layout, data, kind, source, ep, st, now),
            )
            if cur.rowcount == 1:
                ids[i] = cur.lastrowid
            else:
                ids[i] = con.execute("SELECT id FROM segments WHERE digest = ?", (digest,)).fetchone()[0]
        return ids

    def add_segments(self, batch: SegmentBatch) -> np.ndarray:
        """Store segments; returns their ids. A segment already stored (same arrays
        and origin) keeps its id."""
        with self._write() as con:
            return self._insert_segments(con, batch)

    def get_segments(self, ids: Sequence[int] | np.ndarray) -> SegmentBatch:
        """The segments with these ids, in this order, as one batch.

        Raises:
            KeyError: an id is not in the store.
            SegmentShapeError: the segments do not share (H, obs_dim, act_dim).
        """
        with self._read() as con:
            return self._load_segments(con, np.asarray(ids, dtype=np.int64).reshape(-1))

    def _load_segments(self, con: sqlite3.Connection, ids: np.ndarray) -> SegmentBatch:
        unique, inverse = np.unique(ids, return_inverse=True)
        rows: dict[int, tuple] = {}
        for lo in range(0, unique.size, 500):
            chunk = unique[lo : lo + 500].tolist()
            marks = ",".join("?" * len(chunk))
            for row in con.execute(
                f"SELECT id, horizon, obs_dim, act_dim, layout, data, source_kind, source_id, episode, start "
                f"FROM segments WHERE id IN ({marks})",
                chunk,
            ):
                rows[row[0]] = row
        missing = [int(i) for i in unique if int(i) not in rows]
        if missing:
            raise KeyError(f"segment id(s) {missing[:10]} not in the store {self.path}")
        if unique.size == 0:
            raise ValueError("no segment ids given")
        ordered = [rows[int(i)] for i in unique]
        shapes = {r[1:4] for r in ordered}
        if len(shapes) > 1:
            raise SegmentShapeError(
                f"the requested segments have different (H, obs_dim, act_dim): {sorted(shapes)}; "
                "select segments of one task and horizon (e.g. filter by source_ids)"
            )
        groups: dict[str, list[int]] = {}
        for j, r in enumerate(ordered):
            groups.setdefault(r[4], []).append(j)
        parts, order = [], []
        for layout, members in groups.items():
            arrays = _codec.decode(layout, [ordered[j][5] for j in members])
            parts.append(
                _codec.batch_from_arrays(
                    arrays,
                    [ordered[j][6] for j in members],
                    [ordered[j][7] for j in members],
                    [ordered[j][8] for j in members],
                    [ordered[j][9] for j in members],
                )
            )
            order.extend(members)
        batch = parts[0] if len(parts) == 1 else SegmentBatch.concatenate(parts)
        position = np.empty(len(order), dtype=np.int64)
        position[np.asarray(order)] = np.arange(len(order))
        return batch[position[inverse]]  # type: ignore[return-value]

    # -- queries ------------------------------------------------------------

    def _insert_queries(self, con, seg1: np.ndarray, seg2: np.ndarray, meta: Mapping[str, Any] | None) -> np.ndarray:
        meta_text = None if meta is None else json.dumps(dict(meta), allow_nan=False)
        now = _now()
        ids = np.empty(seg1.size, dtype=np.int64)
        for i, (a, b) in enumerate(zip(seg1.tolist(), seg2.tolist())):
            cur = con.execute(
                "INSERT INTO queries (segment1, segment2, status, created, meta) VALUES (?, ?, 'open', ?, ?)",
                (a, b, now, meta_text),
            )
            ids[i] = cur.lastrowid
        return ids

    def add_queries(
        self,
        segment1: Sequence[int] | np.ndarray,
        segment2: Sequence[int] | np.ndarray,
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """Add open queries over stored segments; returns the query ids.

        Args:
            segment1: (n,) ids of the first segments.
            segment2: (n,) ids of the second segments.
            meta: JSON-ready information kept with each query (e.g. round, method).

        Raises:
            KeyError: a segment id is not stored.
            SegmentShapeError: a pair's segments differ in (H, obs_dim, act_dim).
        """
        s1 = np.asarray(segment1, dtype=np.int64).reshape(-1)
        s2 = np.asarray(segment2, dtype=np.int64).reshape(-1)
        if s1.shape != s2.shape:
            raise SegmentShapeError(f"{s1.size} first and {s2.size} second segment ids")
        with self._write() as con:
            shapes = {}
            for sid in np.unique(np.concatenate([s1, s2])).tolist():
                row = con.execute("SELECT horizon, obs_dim, act_dim FROM segments WHERE id = ?", (sid,)).fetchone()
                if row is None:
                    raise KeyError(f"segment id {sid} is not in the store {self.path}")
                shapes[sid] = tuple(row)
            for a, b in zip(s1.tolist(), s2.tolist()):
                if shapes[a] != shapes[b]:
                    raise SegmentShapeError(
                        f"segments {a} and {b} cannot be compared: (H, obs_dim, act_dim) {shapes[a]} vs {shapes[b]}"
                    )
            return self._insert_queries(con, s1, s2, meta)

    def add_pairs(self, first: SegmentBatch, second: SegmentBatch, *, meta: Mapping[str, Any] | None = None) -> np.ndarray:
        """Store the segments of the pairs and one open query per pair, in one
        transaction; returns the (n,) query ids."""
        check_pair_batches(first, second)
        with self._write() as con:
            s1 = self._insert_segments(con, first)
            s2 = self._insert_segments(con, second)
            return self._insert_queries(con, s1, s2, meta)

    def queries(self, status: str | None = None, *, limit: int | None = None) -> dict[str, np.ndarray]:
        """Queries as arrays ``id, segment1, segment2, status, created, meta`` (JSON
        text, ``""`` if none), oldest first.

        Args:
            status: only ``"open"``, ``"labelled"`` or ``"skipped"`` ones.
            limit: at most this many.
        """
        if status is not None and status not in QUERY_STATUSES:
            raise ValueError(f"status must be one of {QUERY_STATUSES}, got {status!r}")
        sql = "SELECT id, segment1, segment2, status, created, meta FROM queries"
        args: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return query_columns(self._conn().execute(sql, args).fetchall(), "segment1", "segment2")

    def open_queries(self, labeler: str | None = None, *, limit: int | None = None) -> np.ndarray:
        """Ids of queries still to answer, oldest first: with ``labeler``, those this
        labeler has no active label for; otherwise those with status ``open``."""
        if labeler is None:
            sql, args = "SELECT id FROM queries WHERE status = 'open' ORDER BY id", []
        else:
            sql = (
                "SELECT q.id FROM queries q WHERE NOT EXISTS (SELECT 1 FROM labels l WHERE l.query_id = q.id "
                "AND l.labeler = ? AND l.retracted IS NULL) ORDER BY q.id"
            )
            args = [labeler]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return np.asarray([r[0] for r in self._conn().execute(sql, args)], dtype=np.int64)

    def get_pairs(self, query_ids: Sequence[int] | np.ndarray) -> tuple[SegmentBatch, SegmentBatch]:
        """The (first, second) segments of these queries, in this order."""
        ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        with self._read() as con:
            s1, s2 = self._query_segments(con, ids)
            both = self._load_segments(con, np.concatenate([s1, s2]))
        return both[: ids.size], both[ids.size :]  # type: ignore[return-value]

    def _query_segments(self, con, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found: dict[int, tuple[int, int]] = {}
        uniq = np.unique(ids).tolist()
        for lo in range(0, len(uniq), 500):
            chunk = uniq[lo : lo + 500]
            marks = ",".join("?" * len(chunk))
            for qid, a, b in con.execute(f"SELECT id, segment1, segment2 FROM queries WHERE id IN ({marks})", chunk):
                found[qid] = (a, b)
        missing = [q for q in uniq if q not in found]
        if missing:
            raise KeyError(f"query id(s) {missing[:10]} not in the store {self.path}")
        pairs = np.asarray([found[q] for q in ids.tolist()], dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    # -- labels -------------------------------------------------------------

    _STATUS_SQL = (
        "UPDATE queries SET status = CASE "
        "WHEN EXISTS (SELECT 1 FROM labels l WHERE l.query_id = queries.id AND l.retracted IS NULL AND l.skipped = 0) "
        "THEN 'labelled' "
        "WHEN EXISTS (SELECT 1 FROM labels l WHERE l.query_id = queries.id AND l.retracted IS NULL AND l.skipped = 1) "
        "THEN 'skipped' ELSE 'open' END WHERE id = ?"
    )

    def _insert_label(
        self,
        con,
        qid: int,
        value: float | None,
        kind: str,
        params: str,
        labeler: str,
        created: float,
        replace: bool,
    ) -> tuple[int, bool]:
        """Insert one active label idempotently; (label id, whether new)."""
        if con.execute("SELECT 1 FROM queries WHERE id = ?", (qid,)).fetchone() is None:
            raise KeyError(f"query id {qid} is not in the store {self.path}")
        skipped = value is None
        row = con.execute(
            "SELECT id, label, skipped FROM labels WHERE query_id = ? AND labeler = ? AND retracted IS NULL",
            (qid, labeler),
        ).fetchone()
        if row is not None:
            same = bool(row[2]) == skipped and (skipped or float(row[1]) == float(value))  # type: ignore[arg-type]
            if same:
                return int(row[0]), False
            if not replace:
                old = "skip" if row[2] else row[1]
                new = "skip" if skipped else value
                raise LabelConflictError(
                    f"labeler {labeler!r} already labelled query {qid} as {old}, now {new}; "
                    "retract it first or pass replace=True"
                )
            con.execute("UPDATE labels SET retracted = ? WHERE id = ?", (_now(), row[0]))
        cur = con.execute(
            "INSERT INTO labels (query_id, label, skipped, teacher_kind, teacher_params, labeler, created, retracted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (qid, value, int(skipped), kind, params, labeler, created),
        )
        return int(cur.lastrowid), True

    def add_labels(
        self, query_ids: Sequence[int] | np.ndarray, labels: Labels, *, replace: bool = False
    ) -> np.ndarray:
        """Store a teacher's answers to these queries, in one transaction.

        Args:
            query_ids: (n,) the queries the labels answer (e.g. from :meth:`add_pairs`).
            labels: the teacher's :class:`~pbrl.preferences.Labels`; pending entries
                are not stored, skipped ones are stored as skips.
            replace: a different label from the same labeler for the same query
                retracts the old one (default: :class:`LabelConflictError`).

        Returns:
            (n,) label ids (-1 for pending entries). Submitting the same labels
            again returns the same ids and stores nothing new.

        Raises:
            LabelError, KeyError, LabelConflictError: nothing is stored then.
        """
        if not isinstance(labels, Labels):
            raise TypeError(f"labels must be a pbrl Labels object, got {type(labels).__name__}")
        ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        if ids.size != len(labels):
            raise LabelError(f"{ids.size} query ids but {len(labels)} labels")
        prov = labels.provenance
        params = prov.params_json
        out = np.full(ids.size, -1, dtype=np.int64)
        times = np.where(np.isfinite(labels.times), labels.times, _now())
        with self._write() as con:
            for i in np.flatnonzero(~labels.pending):
                value = None if labels.skipped[i] else float(labels.values[i])
                out[i], _ = self._insert_label(
                    con, int(ids[i]), value, prov.kind, params, prov.labeler, float(times[i]), replace  # type: ignore[arg-type]
                )
            con.executemany(self._STATUS_SQL, [(int(q),) for q in np.unique(ids[~labels.pending])])
        return out

    def add_label(
        self,
        query_id: int,
        label: float | None,
        provenance: Provenance,
        *,
        replace: bool = False,
        timestamp: float | None = None,
    ) -> int:
        """Store one answer (e.g. from the web app); returns the label id.

        Args:
            query_id: the query answered.
            label: 0 (first preferred), 1 (second preferred), 0.5 (equal), or None
                (skipped).
            provenance: who answered (a human: ``Provenance("human", {}, name)``).
            replace: replace this labeler's different earlier label.
            timestamp: Unix time of the answer (default now).
        """
        if label is not None:
            check_label_values([label])
        labels = Labels.make(
            [np.nan if label is None else label], provenance, skipped=[label is None], timestamp=timestamp
        )
        return int(self.add_labels([query_id], labels, replace=replace)[0])

    def retract_label(self, label_id: int) -> bool:
        """Retract (undo) an active label; False if it was not active."""
        with self._write() as con:
            row = con.execute("SELECT query_id FROM labels WHERE id = ? AND retracted IS NULL", (int(label_id),)).fetchone()
            if row is None:
                return False
            con.execute("UPDATE labels SET retracted = ? WHERE id = ?", (_now(), int(label_id)))
            con.execute(self._STATUS_SQL, (row[0],))
        return True

    def undo_last(self, labeler: str) -> int | None:
        """Retract ``labeler``'s most recent active label; returns its query id (or None)."""
        return self._retract_last("labels", "query_id", self._STATUS_SQL, labeler)

    def labels(
        self,
        *,
        query_ids: Sequence[int] | np.ndarray | None = None,
        labeler: str | None = None,
        include_retracted: bool = False,
    ) -> dict[str, np.ndarray]:
        """Labels as arrays: ``id, query_id, label`` (NaN if skipped), ``skipped,
        teacher_kind, teacher_params`` (JSON), ``labeler, created, retracted`` (NaN if active)."""
        with self._read() as con:
            return self._label_rows(con, query_ids=query_ids, labeler=labeler, include_retracted=include_retracted)

    def _label_rows(self, con, *, query_ids=None, labeler=None, include_retracted=False) -> dict[str, np.ndarray]:
        sql = (
            "SELECT id, query_id, label, skipped, teacher_kind, teacher_params, labeler, created, retracted "
            "FROM labels WHERE 1 = 1"
        )
        args: list[Any] = []
        if not include_retracted:
            sql += " AND retracted IS NULL"
        if labeler is not None:
            sql += " AND labeler = ?"
            args.append(labeler)
        rows = con.execute(sql + " ORDER BY id", args).fetchall()
        if query_ids is not None:
            wanted = set(np.asarray(query_ids, dtype=np.int64).reshape(-1).tolist())
            rows = [r for r in rows if r[1] in wanted]
        return answer_columns(rows, "query_id", "label")

    def labelled_pairs(
        self,
        *,
        labelers: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        source_ids: Sequence[str] | None = None,
        include_equal: bool = True,
    ) -> PreferenceData:
        """All answered pairs (one row per active, non-skipped label) for training.

        Args:
            labelers: only labels from these labelers.
            kinds: only labels from these teacher kinds (``"scripted"``, ``"human"``, ...).
            source_ids: only pairs whose two segments come from these runs/datasets.
            include_equal: keep 0.5 (equal) labels.

        Raises:
            EmptyPreferencesError: nothing to train on (no labels, all skipped, or
                everything filtered out); the message gives the counts.
            SegmentShapeError: the selected segments differ in shape (filter them).
        """
        with self._read() as con:
            sql = (
                "SELECT l.id, l.query_id, l.label, l.labeler, q.segment1, q.segment2 FROM labels l "
                "JOIN queries q ON q.id = l.query_id WHERE l.retracted IS NULL AND l.skipped = 0"
            )
            args: list[Any] = []
            for column, values in (("l.labeler", labelers), ("l.teacher_kind", kinds)):
                if values is not None:
                    values = list(values)
                    sql += f" AND {column} IN ({','.join('?' * len(values))})" if values else " AND 0"
                    args += values
            if not include_equal:
                sql += " AND l.label != 0.5"
            if source_ids is not None:
                srcs = list(source_ids)
                marks = ",".join("?" * len(srcs)) or "NULL"
                sql += (
                    f" AND (SELECT source_id FROM segments WHERE id = q.segment1) IN ({marks})"
                    f" AND (SELECT source_id FROM segments WHERE id = q.segment2) IN ({marks})"
                )
                args += srcs + srcs
            rows = con.execute(sql + " ORDER BY l.id", args).fetchall()
            if not rows:
                counts = {
                    "queries": con.execute("SELECT COUNT(*) FROM queries").fetchone()[0],
                    "labels": con.execute("SELECT COUNT(*) FROM labels WHERE retracted IS NULL AND skipped = 0").fetchone()[0],
                    "skips": con.execute("SELECT COUNT(*) FROM labels WHERE retracted IS NULL AND skipped = 1").fetchone()[0],
                }
                if counts["queries"] == 0:
                    why = "it holds no queries"
                elif counts["labels"] == 0 and counts["skips"] > 0:
                    why = f"all {counts['skips']} answers to its {counts['queries']} queries were skips"
                elif counts["labels"] == 0:
                    why = f"none of its {counts['queries']} queries has been labelled yet"
                else:
                    why = f"the filters left none of its {counts['labels']} labels"
                raise EmptyPreferencesError(f"no labelled pairs to train on in {self.path}: {why}")
            label_ids, qids, values, who, s1, s2 = (np.asarray(c) for c in zip(*rows))
            both = self._load_segments(con, np.concatenate([s1.astype(np.int64), s2.astype(np.int64)]))
        n = len(rows)
        return PreferenceData(
            first=both[:n],  # type: ignore[arg-type]
            second=both[n:],  # type: ignore[arg-type]
            labels=values.astype(np.float64),
            query_ids=qids.astype(np.int64),
            label_ids=label_ids.astype(np.int64),
            labelers=who.astype(str),
        )

    # -- labelers -----------------------------------------------------------

    def add_labeler(self, name: str) -> str:
        """Create a labeler; returns their secret token (only its hash is stored).

        Raises:
            ValueError: the name is empty or taken.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValueError(f"labeler name must be a non-empty string of at most 100 characters, got {name!r}")
        token = secrets.token_urlsafe(24)
        try:
            with self._write() as con:
                con.execute(
                    "INSERT INTO labelers (name, token_hash, created) VALUES (?, ?, ?)", (name, _hash_token(token), _now())
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"a labeler named {name!r} already exists in {self.path}") from None
        return token

    def verify_token(self, token: str) -> str | None:
        """The labeler name a token belongs to, or None."""
        if not isinstance(token, str) or not token or len(token) > 200:
            return None
        row = self._conn().execute("SELECT name FROM labelers WHERE token_hash = ?", (_hash_token(token),)).fetchone()
        return None if row is None else str(row[0])

    def labelers(self) -> list[str]:
        """Names of the registered (human) labelers."""
        return [r[0] for r in self._conn().execute("SELECT name FROM labelers ORDER BY id")]

    # -- export / import ----------------------------------------------------

    def export_to(self, path: str | os.PathLike) -> dict[str, int]:
        """Write the whole store to a portable ``.npz`` file (see FORMAT.md).

        Written to a temporary file and renamed, so ``path`` is never half-written.
        Labelers' token hashes are not exported. Returns counts.
        """
        with self._read() as con:  # one snapshot of every table
            segments = con.execute(
                "SELECT id, layout, data, source_kind, source_id, episode, start, created, horizon, obs_dim, act_dim "
                "FROM segments ORDER BY id"
            ).fetchall()
            queries = self.queries()
            labels = self._label_rows(con, include_retracted=True)
            info, labelers = self.info(), self.labelers()
            feedback = {
                "rating_queries": self.rating_queries(),
                "ratings": self._rating_rows(con, include_retracted=True),
                "rankings": self._ranking_columns(con),
                "ranking_items": self._ranking_item_columns(con),
            }
        return write_export(path, segments, queries, labels, info, labelers, feedback)

    def import_from(self, path: str | os.PathLike) -> dict[str, int]:
        """Merge an export file into this store, in one transaction.

        Idempotent: segments are matched by content, queries by (segments, created
        time) — the k-th such query of the file with the store's k-th, so a pair asked
        twice in one batch stays two queries — labels by (query, labeler, label).
        Importing the same file twice adds nothing the second time.

        Ratings and rankings (version-2 files) merge the same way: rating queries by
        (segment, created), ratings by (rating query, labeler, rating), rankings by
        (created, state); a ranking's implied pairs are among the file's queries.

        Returns:
            Counts of what was added: ``segments, queries, labels``, and
            ``rating_queries, ratings, rankings`` where any was added.

        Raises:
            PreferenceFormatError: not a pbrl export, or malformed (nothing imported).
            LabelConflictError: a labeler's label differs from one in the store
                (nothing imported).
        """
        content = read_export(os.fspath(path))
        added = {"segments": 0, "queries": 0, "labels": 0}
        with self._write() as con:
            seg_map: dict[int, int] = {}
            before = con.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
            for old_ids, batch in content["segments"]:
                new_ids = self._insert_segments(con, batch)
                seg_map.update(zip(old_ids.tolist(), new_ids.tolist()))
            added["segments"] = con.execute("SELECT COUNT(*) FROM segments").fetchone()[0] - before
            qs = content["queries"]
            q_map: dict[int, int] = {}
            seen: dict[tuple, int] = {}  # the k-th query of the file with these (segments, created) is the store's k-th
            for qid, a, b, created, meta in zip(
                qs["id"].tolist(), qs["segment1"].tolist(), qs["segment2"].tolist(), qs["created"].tolist(), qs["meta"].tolist()
            ):
                a, b = seg_map[a], seg_map[b]
                k = seen[(a, b, created)] = seen.get((a, b, created), -1) + 1
                row = con.execute(
                    "SELECT id FROM queries WHERE segment1 = ? AND segment2 = ? AND created = ? ORDER BY id LIMIT 1 OFFSET ?", (a, b, created, k)
                ).fetchone()
                if row is None:
                    cur = con.execute(
                        "INSERT INTO queries (segment1, segment2, status, created, meta) VALUES (?, ?, 'open', ?, ?)",
                        (a, b, created, meta or None),
                    )
                    q_map[qid] = int(cur.lastrowid)
                    added["queries"] += 1
                else:
                    q_map[qid] = int(row[0])
            lb = content["labels"]
            for i in range(lb["id"].size):
                qid = q_map[int(lb["query_id"][i])]
                skipped = bool(lb["skipped"][i])
                value = None if skipped else float(lb["label"][i])
                kind, params, who = str(lb["teacher_kind"][i]), str(lb["teacher_params"][i]), str(lb["labeler"][i])
                created = float(lb["created"][i])
                retracted = float(lb["retracted"][i])
                if np.isnan(retracted):
                    _, new = self._insert_label(con, qid, value, kind, params, who, created, replace=False)
                    added["labels"] += int(new)
                else:
                    exists = con.execute(
                        "SELECT 1 FROM labels WHERE query_id = ? AND labeler = ? AND skipped = ? AND label IS ? "
                        "AND created = ? AND retracted = ?",
                        (qid, who, int(skipped), value, created, retracted),
                    ).fetchone()
                    if exists is None:
                        con.execute(
                            "INSERT INTO labels (query_id, label, skipped, teacher_kind, teacher_params, labeler, "
                            "created, retracted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (qid, value, int(skipped), kind, params, who, created, retracted),
                        )
                        added["labels"] += 1
            con.executemany(self._STATUS_SQL, [(q,) for q in sorted(set(q_map.values()))])
            for key, value in content["info"].items():
                con.execute(
                    "INSERT OR IGNORE INTO pbrl_meta (key, value) VALUES (?, ?)", ("info." + key, json.dumps(value))
                )
            added.update({k: v for k, v in self._import_feedback(con, content["feedback"], seg_map).items() if v})
        return added
