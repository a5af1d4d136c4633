"""Ratings and rankings in the preference store (schema version 2).

:class:`FeedbackTables` is the part of :class:`~pbrl.preferences.PreferenceStore`
that handles the feedback beyond pairs; its tables are in ``schema.py``.

* **Ratings.** A *rating query* asks for one segment on an ``n``-class scale; a rating
  answers it with a class index (0 = worst) or a skip. Status, idempotence, conflicts,
  retraction and undo work as for pair labels.
* **Rankings.** A ranking is a list of groups of segments, worst first
  (:mod:`pbrl.preferences.ranking`). A scripted teacher's finished list is stored with
  :meth:`~FeedbackTables.add_ranking`; a person builds one on the labeling page through
  :meth:`~FeedbackTables.start_ranking` (an open ranking holding the insertion state)
  and :meth:`~FeedbackTables.answer_ranking`. When a ranking is finished its items are
  written to ``ranking_items`` and **the pairs it implies** become ordinary queries
  (meta ``{"ranking": id}``) with labels of the ranking's labeler — so
  :meth:`~pbrl.preferences.PreferenceStore.labelled_pairs` and every pair-based reward
  model train on rankings unchanged.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .labels import Provenance
from .ranking import RankingBuilder, RankingError, check_groups, implied_pairs
from .ratings import RatingError, Ratings, check_ratings, check_scale
from .segments import SegmentBatch

__all__ = ["FeedbackTables", "RankingNotFound", "RatingConflictError", "RatingData"]


class RatingConflictError(ValueError):
    """A labeler gave a different rating to a segment query they had already rated."""


class RankingNotFound(KeyError):
    """No ranking with that id in the store."""


@dataclass(frozen=True, eq=False)
class RatingData:
    """Rated segments ready for training (:func:`pbrl.rewards.ratings.RatingRewardEnsemble.fit_ratings`).

    Attributes:
        segments: (n,) the rated segments.
        ratings: (n,) int64 class indices 0..n_classes-1.
        n_classes: the scale.
        rating_query_ids, rating_ids: store ids.
        labelers: (n,) who rated.
    """

    segments: SegmentBatch
    ratings: np.ndarray
    n_classes: int
    rating_query_ids: np.ndarray
    rating_ids: np.ndarray
    labelers: np.ndarray

    def __len__(self) -> int:
        return int(self.ratings.size)


def _now() -> float:
    return time.time()


def answer_columns(rows: Sequence[tuple], query_key: str, value_key: str) -> dict[str, np.ndarray]:
    """Rows ``(id, query, value, skipped, teacher_kind, teacher_params, labeler, created, retracted)`` of the
    labels or ratings table as named arrays (NULL values and active retractions as NaN)."""
    cols = list(zip(*rows)) if rows else [[]] * 9
    nan = lambda vs: np.asarray([np.nan if v is None else v for v in vs], dtype=np.float64)  # noqa: E731
    return {
        "id": np.asarray(cols[0], dtype=np.int64),
        query_key: np.asarray(cols[1], dtype=np.int64),
        value_key: nan(cols[2]),
        "skipped": np.asarray(cols[3], dtype=bool),
        "teacher_kind": np.asarray(cols[4], dtype=str),
        "teacher_params": np.asarray(cols[5], dtype=str),
        "labeler": np.asarray(cols[6], dtype=str),
        "created": np.asarray(cols[7], dtype=np.float64),
        "retracted": nan(cols[8]),
    }


def query_columns(rows: Sequence[tuple], first_key: str, second_key: str) -> dict[str, np.ndarray]:
    """Rows ``(id, <first>, <second>, status, created, meta)`` of the queries or rating-queries table as named
    arrays (a NULL meta as "")."""
    cols = list(zip(*rows)) if rows else [[]] * 6
    return {
        "id": np.asarray(cols[0], dtype=np.int64),
        first_key: np.asarray(cols[1], dtype=np.int64),
        second_key: np.asarray(cols[2], dtype=np.int64),
        "status": np.asarray(cols[3], dtype=str),
        "created": np.asarray(cols[4], dtype=np.float64),
        "meta": np.asarray(["" if m is None else m for m in cols[5]], dtype=str),
    }


def _meta_text(meta: Mapping[str, Any] | None) -> str | None:
    return None if meta is None else json.dumps(dict(meta), allow_nan=False)


class FeedbackTables:
    """Ratings and rankings: mixed into :class:`~pbrl.preferences.PreferenceStore`."""

    _RATING_STATUS_SQL = (
        "UPDATE rating_queries SET status = CASE "
        "WHEN EXISTS (SELECT 1 FROM ratings r WHERE r.rating_query_id = rating_queries.id AND r.retracted IS NULL "
        "AND r.skipped = 0) THEN 'labelled' "
        "WHEN EXISTS (SELECT 1 FROM ratings r WHERE r.rating_query_id = rating_queries.id AND r.retracted IS NULL "
        "AND r.skipped = 1) THEN 'skipped' ELSE 'open' END WHERE id = ?"
    )

    # -- rating queries ----------------------------------------------------------

    def add_rating_queries(
        self, segments: SegmentBatch, n_classes: int, *, meta: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """Store segments and one open rating query each on an ``n_classes`` scale; returns the query ids."""
        n = check_scale(n_classes)
        text = _meta_text(meta)
        with self._write() as con:
            seg_ids = self._insert_segments(con, segments)
            now = _now()
            return np.asarray(
                [
                    con.execute(
                        "INSERT INTO rating_queries (segment_id, n_classes, status, created, meta) VALUES (?, ?, 'open', ?, ?)",
                        (int(s), n, now, text),
                    ).lastrowid
                    for s in seg_ids.tolist()
                ],
                dtype=np.int64,
            )

    def rating_queries(self, status: str | None = None) -> dict[str, np.ndarray]:
        """Rating queries as arrays ``id, segment_id, n_classes, status, created, meta``, oldest first."""
        sql, args = "SELECT id, segment_id, n_classes, status, created, meta FROM rating_queries", []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        return query_columns(self._conn().execute(sql + " ORDER BY id", args).fetchall(), "segment_id", "n_classes")

    def open_rating_queries(self, labeler: str | None = None, *, limit: int | None = None) -> np.ndarray:
        """Rating queries still to answer (by ``labeler``, or by anyone), oldest first."""
        if labeler is None:
            sql, args = "SELECT id FROM rating_queries WHERE status = 'open' ORDER BY id", []
        else:
            sql = (
                "SELECT q.id FROM rating_queries q WHERE NOT EXISTS (SELECT 1 FROM ratings r WHERE "
                "r.rating_query_id = q.id AND r.labeler = ? AND r.retracted IS NULL) ORDER BY q.id"
            )
            args = [labeler]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return np.asarray([r[0] for r in self._conn().execute(sql, args)], dtype=np.int64)

    def rating_query(self, rating_query_id: int) -> tuple[int, int]:
        """``(segment_id, n_classes)`` of a rating query; KeyError if there is none."""
        row = self._conn().execute(
            "SELECT segment_id, n_classes FROM rating_queries WHERE id = ?", (int(rating_query_id),)
        ).fetchone()
        if row is None:
            raise KeyError(f"rating query {int(rating_query_id)} is not in the store {self.path}")
        return int(row[0]), int(row[1])

    # -- ratings -----------------------------------------------------------------

    def _insert_rating(self, con, qid, value, kind, params, labeler, created, replace) -> tuple[int, bool]:
        row = con.execute("SELECT n_classes FROM rating_queries WHERE id = ?", (qid,)).fetchone()
        if row is None:
            raise KeyError(f"rating query {qid} is not in the store {self.path}")
        if value is not None:
            check_ratings([value], row[0], what=f"the rating of rating query {qid}")
        skipped = value is None
        old = con.execute(
            "SELECT id, rating, skipped FROM ratings WHERE rating_query_id = ? AND labeler = ? AND retracted IS NULL",
            (qid, labeler),
        ).fetchone()
        if old is not None:
            if bool(old[2]) == skipped and (skipped or int(old[1]) == int(value)):
                return int(old[0]), False
            if not replace:
                raise RatingConflictError(
                    f"labeler {labeler!r} already rated rating query {qid} as {'skip' if old[2] else old[1]}, now "
                    f"{'skip' if skipped else int(value)}; retract it first or pass replace=True"
                )
            con.execute("UPDATE ratings SET retracted = ? WHERE id = ?", (_now(), old[0]))
        cur = con.execute(
            "INSERT INTO ratings (rating_query_id, rating, skipped, teacher_kind, teacher_params, labeler, created, "
            "retracted) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (qid, None if skipped else int(value), int(skipped), kind, params, labeler, created),
        )
        return int(cur.lastrowid), True

    def add_ratings(self, rating_query_ids: Sequence[int] | np.ndarray, ratings: Ratings, *, replace: bool = False) -> np.ndarray:
        """Store a teacher's ratings of these rating queries, in one transaction (nothing on error).

        Raises:
            RatingError: a rating outside its query's scale, or a scale that differs
                from the query's; KeyError: an unknown query; RatingConflictError.
        """
        if not isinstance(ratings, Ratings):
            raise TypeError(f"ratings must be a pbrl Ratings object, got {type(ratings).__name__}")
        ids = np.asarray(rating_query_ids, dtype=np.int64).reshape(-1)
        if ids.size != len(ratings):
            raise RatingError(f"{ids.size} rating query ids but {len(ratings)} ratings")
        prov = ratings.provenance
        out = np.empty(ids.size, dtype=np.int64)
        with self._write() as con:
            for i, qid in enumerate(ids.tolist()):
                row = con.execute("SELECT n_classes FROM rating_queries WHERE id = ?", (qid,)).fetchone()
                if row is not None and row[0] != ratings.n_classes:
                    raise RatingError(f"rating query {qid} is on a {row[0]}-class scale, the ratings on {ratings.n_classes}")
                value = None if ratings.skipped[i] else int(ratings.values[i])
                out[i], _ = self._insert_rating(
                    con, qid, value, prov.kind, prov.params_json, prov.labeler, float(ratings.times[i]), replace
                )
            con.executemany(self._RATING_STATUS_SQL, [(q,) for q in np.unique(ids).tolist()])
        return out

    def add_rating(self, rating_query_id: int, rating: int | None, provenance: Provenance, *, replace: bool = False) -> int:
        """Store one rating (None = skipped), e.g. from the web app; returns its id."""
        with self._write() as con:
            rid, _ = self._insert_rating(
                con, int(rating_query_id), rating, provenance.kind, provenance.params_json, provenance.labeler, _now(), replace
            )
            con.execute(self._RATING_STATUS_SQL, (int(rating_query_id),))
        return rid

    def ratings(self, *, labeler: str | None = None, include_retracted: bool = False) -> dict[str, np.ndarray]:
        """Ratings as arrays: ``id, rating_query_id, rating`` (NaN if skipped), ``skipped, teacher_kind,
        teacher_params, labeler, created, retracted`` (NaN while active)."""
        with self._read() as con:
            return self._rating_rows(con, labeler=labeler, include_retracted=include_retracted)

    def _rating_rows(self, con, *, labeler=None, include_retracted=False) -> dict[str, np.ndarray]:
        sql = (
            "SELECT id, rating_query_id, rating, skipped, teacher_kind, teacher_params, labeler, created, retracted "
            "FROM ratings WHERE 1 = 1"
        )
        args: list[Any] = []
        if not include_retracted:
            sql += " AND retracted IS NULL"
        if labeler is not None:
            sql += " AND labeler = ?"
            args.append(labeler)
        return answer_columns(con.execute(sql + " ORDER BY id", args).fetchall(), "rating_query_id", "rating")

    def undo_last_rating(self, labeler: str) -> int | None:
        """Retract ``labeler``'s most recent active rating; returns its rating query id (or None)."""
        return self._retract_last("ratings", "rating_query_id", self._RATING_STATUS_SQL, labeler)

    def _retract_last(self, table: str, query_column: str, status_sql: str, labeler: str) -> int | None:
        """Retract ``labeler``'s most recent active answer in ``table`` (labels or ratings); its query id."""
        with self._write() as con:
            row = con.execute(
                f"SELECT id, {query_column} FROM {table} WHERE labeler = ? AND retracted IS NULL "
                "ORDER BY created DESC, id DESC LIMIT 1",
                (labeler,),
            ).fetchone()
            if row is None:
                return None
            con.execute(f"UPDATE {table} SET retracted = ? WHERE id = ?", (_now(), row[0]))
            con.execute(status_sql, (row[1],))
        return int(row[1])

    def rated_segments(
        self, *, n_classes: int | None = None, labelers: Sequence[str] | None = None, kinds: Sequence[str] | None = None
    ) -> RatingData:
        """Every active, non-skipped rating with its segment, for training.

        Args:
            n_classes: the scale (needed when the store holds ratings on several scales).
            labelers, kinds: only ratings from these labelers / teacher kinds.

        Raises:
            pbrl.preferences.EmptyPreferencesError: no rating to train on.
            RatingError: ratings on several scales and no ``n_classes`` chosen.
        """
        from .store import EmptyPreferencesError

        sql = (
            "SELECT r.id, r.rating_query_id, r.rating, r.labeler, q.segment_id, q.n_classes FROM ratings r "
            "JOIN rating_queries q ON q.id = r.rating_query_id WHERE r.retracted IS NULL AND r.skipped = 0"
        )
        args: list[Any] = []
        if n_classes is not None:
            sql += " AND q.n_classes = ?"
            args.append(check_scale(n_classes))
        for column, values in (("r.labeler", labelers), ("r.teacher_kind", kinds)):
            if values is not None:
                values = list(values)
                sql += f" AND {column} IN ({','.join('?' * len(values))})" if values else " AND 0"
                args += values
        with self._read() as con:
            rows = con.execute(sql + " ORDER BY r.id", args).fetchall()
            if not rows:
                total = con.execute("SELECT COUNT(*) FROM ratings WHERE retracted IS NULL").fetchone()[0]
                raise EmptyPreferencesError(
                    f"no ratings to train on in {self.path} ({total} active ratings or skips before the filters)"
                )
            scales = sorted({r[5] for r in rows})
            if len(scales) > 1:
                raise RatingError(f"the store holds ratings on scales of {scales} classes: choose one with n_classes")
            ids, qids, values, who, segs, _ = (np.asarray(c) for c in zip(*rows))
            batch = self._load_segments(con, segs.astype(np.int64))
        return RatingData(batch, values.astype(np.int64), int(scales[0]), qids.astype(np.int64), ids.astype(np.int64), who.astype(str))

    # -- rankings ----------------------------------------------------------------

    def _finish_ranking(self, con: sqlite3.Connection, rid: int, groups: list[list[int]], kind: str, params: str, labeler: str) -> int:
        """Write a finished ranking's items and its implied pairs (queries + labels); returns the pair count."""
        for position, group in enumerate(groups):
            for sid in group:
                con.execute("INSERT INTO ranking_items (ranking_id, segment_id, position) VALUES (?, ?, ?)", (rid, sid, position))
        first, second, labels = implied_pairs(groups)
        now = _now()
        qids = self._insert_queries(con, first, second, {"ranking": rid})
        for qid, y in zip(qids.tolist(), labels.tolist()):
            self._insert_label(con, qid, y, kind, params, labeler, now, False)
        con.executemany(self._STATUS_SQL, [(q,) for q in qids.tolist()])
        con.execute("UPDATE rankings SET status = 'done', finished = ? WHERE id = ?", (now, rid))
        return int(qids.size)

    def _check_segments(self, con, ids: Sequence[int]) -> None:
        shapes = set()
        for sid in ids:
            row = con.execute("SELECT horizon, obs_dim, act_dim FROM segments WHERE id = ?", (int(sid),)).fetchone()
            if row is None:
                raise KeyError(f"segment id {int(sid)} is not in the store {self.path}")
            shapes.add(tuple(row))
        if len(shapes) > 1:
            raise RankingError(f"a ranking's segments must share (H, obs_dim, act_dim), got {sorted(shapes)}")

    def add_ranking(
        self,
        groups: Sequence[Sequence[int]],
        provenance: Provenance,
        *,
        comparisons: int = 0,
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a finished ranking of stored segments (groups worst first) and its implied pairs; returns its id.

        Raises:
            RankingError: a malformed ranking (empty groups, repeated or non-integer ids, segments of
                different shapes); KeyError: an unknown segment. Nothing is stored then.
        """
        groups = check_groups(groups)
        if not groups:
            raise RankingError("a ranking needs at least one segment")
        builder = RankingBuilder(groups=groups)
        with self._write() as con:
            self._check_segments(con, [s for g in groups for s in g])
            rid = con.execute(
                "INSERT INTO rankings (status, labeler, teacher_kind, teacher_params, state, comparisons, created, meta) "
                "VALUES ('open', ?, ?, ?, ?, ?, ?, ?)",
                (provenance.labeler, provenance.kind, provenance.params_json, builder.to_json(), int(comparisons), _now(), _meta_text(meta)),
            ).lastrowid
            self._finish_ranking(con, int(rid), groups, provenance.kind, provenance.params_json, provenance.labeler)
        return int(rid)

    def add_ranked_segments(self, segments: SegmentBatch, groups: Sequence[Sequence[int]], provenance: Provenance, **kwargs) -> int:
        """:meth:`add_ranking` for segments not stored yet: ``groups`` index into ``segments``."""
        groups = check_groups([[i + 1 for i in g] for g in groups])  # positions, checked as ids
        with self._write() as con:
            ids = self._insert_segments(con, segments)
        return self.add_ranking([[int(ids[i - 1]) for i in g] for g in groups], provenance, **kwargs)

    def start_ranking(self, segments: SegmentBatch | Sequence[int], *, meta: Mapping[str, Any] | None = None) -> int:
        """An open ranking over these segments (a batch, stored now, or stored ids) for a person to build
        on the labeling page; returns its id."""
        with self._write() as con:
            if isinstance(segments, SegmentBatch):
                ids = self._insert_segments(con, segments).tolist()
            else:
                ids = [int(i) for i in segments]
            builder = RankingBuilder(ids)  # checks the ids are distinct
            if len(ids) < 2:
                raise RankingError(f"a ranking needs at least two segments, got {len(ids)}")
            self._check_segments(con, ids)
            rid = con.execute(
                "INSERT INTO rankings (status, state, comparisons, created, meta) VALUES ('open', ?, 0, ?, ?)",
                (builder.to_json(), _now(), _meta_text(meta)),
            ).lastrowid
        return int(rid)

    def ranking(self, ranking_id: int) -> dict[str, Any]:
        """One ranking: ``id, status, labeler, teacher_kind, comparisons, created, finished, meta`` and its
        ``builder`` (:class:`~pbrl.preferences.ranking.RankingBuilder`)."""
        row = self._conn().execute(
            "SELECT id, status, labeler, teacher_kind, state, comparisons, created, finished, meta FROM rankings WHERE id = ?",
            (int(ranking_id),),
        ).fetchone()
        if row is None:
            raise RankingNotFound(f"ranking {int(ranking_id)} is not in the store {self.path}")
        keys = ("id", "status", "labeler", "teacher_kind", "state", "comparisons", "created", "finished", "meta")
        out = dict(zip(keys, row))
        out["builder"] = RankingBuilder.from_json(out.pop("state"))
        return out

    def rankings(self, status: str | None = None) -> list[dict[str, Any]]:
        """All rankings (see :meth:`ranking`) with, for finished ones, their ``groups`` from ``ranking_items``."""
        sql, args = "SELECT id FROM rankings", []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        out = []
        for (rid,) in self._conn().execute(sql + " ORDER BY id", args).fetchall():
            r = self.ranking(rid)
            items = self._conn().execute(
                "SELECT segment_id, position FROM ranking_items WHERE ranking_id = ? ORDER BY position, rowid", (rid,)
            ).fetchall()
            groups: dict[int, list[int]] = {}
            for sid, pos in items:
                groups.setdefault(pos, []).append(sid)
            r["groups"] = [groups[p] for p in sorted(groups)]
            out.append(r)
        return out

    def open_ranking(self, labeler: str) -> int | None:
        """The open ranking ``labeler`` works on, or else the oldest unclaimed one; None if there is none."""
        row = self._conn().execute(
            "SELECT id FROM rankings WHERE status = 'open' AND (labeler = ? OR labeler IS NULL) "
            "ORDER BY labeler IS NULL, id LIMIT 1",
            (labeler,),
        ).fetchone()
        return None if row is None else int(row[0])

    def answer_ranking(self, ranking_id: int, step: int, label: float | None, provenance: Provenance) -> dict[str, Any]:
        """Answer the current comparison of an open ranking (a person on the labeling page).

        Args:
            ranking_id: the ranking.
            step: the number of answers the client saw (stale answers — a double submit, a second tab —
                are refused instead of being applied twice).
            label: 1 = the new segment is better than the reference, 0 = worse, 0.5 = equal, None = skip it.
            provenance: who answers; a ranking belongs to whoever answers it first.

        Returns:
            ``{"placed": bool, "done": bool, "pairs": implied pairs written (when done)}``.

        Raises:
            RankingNotFound; RankingError: finished, someone else's, a stale ``step`` or a bad label.
        """
        with self._write() as con:
            row = con.execute("SELECT status, labeler, state FROM rankings WHERE id = ?", (int(ranking_id),)).fetchone()
            if row is None:
                raise RankingNotFound(f"ranking {int(ranking_id)} is not in the store {self.path}")
            status, owner, state = row
            if status != "open":
                raise RankingError(f"ranking {int(ranking_id)} is finished")
            if owner is not None and owner != provenance.labeler:
                raise RankingError(f"ranking {int(ranking_id)} is being built by {owner!r}")
            builder = RankingBuilder.from_json(state)
            if int(step) != builder.steps:
                raise RankingError(
                    f"ranking {int(ranking_id)} is at answer {builder.steps}, the answer was for {int(step)}: reload"
                )
            placed = builder.answer(label)
            con.execute(
                "UPDATE rankings SET state = ?, comparisons = ?, labeler = ?, teacher_kind = ?, teacher_params = ? WHERE id = ?",
                (builder.to_json(), builder.comparisons, provenance.labeler, provenance.kind, provenance.params_json, int(ranking_id)),
            )
            pairs = 0
            if builder.done:
                pairs = self._finish_ranking(
                    con, int(ranking_id), builder.groups, provenance.kind, provenance.params_json, provenance.labeler
                )
        return {"placed": placed, "done": builder.done, "pairs": pairs}

    def undo_ranking(self, ranking_id: int, labeler: str) -> bool:
        """Take back ``labeler``'s last answer in an open ranking; False when there is none."""
        with self._write() as con:
            row = con.execute("SELECT status, labeler, state FROM rankings WHERE id = ?", (int(ranking_id),)).fetchone()
            if row is None or row[0] != "open" or row[1] != labeler:
                return False
            builder = RankingBuilder.from_json(row[2])
            if not builder.undo():
                return False
            con.execute("UPDATE rankings SET state = ?, comparisons = ? WHERE id = ?", (builder.to_json(), builder.comparisons, int(ranking_id)))
        return True

    # -- export / import -----------------------------------------------------------

    def _ranking_columns(self, con) -> dict[str, np.ndarray]:
        rows = con.execute(
            "SELECT id, status, labeler, teacher_kind, teacher_params, state, comparisons, created, finished, meta "
            "FROM rankings ORDER BY id"
        ).fetchall()
        cols = list(zip(*rows)) if rows else [[]] * 10
        text = lambda vs: np.asarray(["" if v is None else v for v in vs], dtype=str)  # noqa: E731
        return {
            "id": np.asarray(cols[0], dtype=np.int64),
            "status": text(cols[1]),
            "labeler": text(cols[2]),
            "teacher_kind": text(cols[3]),
            "teacher_params": text(cols[4]),
            "state": text(cols[5]),
            "comparisons": np.asarray(cols[6], dtype=np.int64),
            "created": np.asarray(cols[7], dtype=np.float64),
            "finished": np.asarray([np.nan if v is None else v for v in cols[8]], dtype=np.float64),
            "meta": text(cols[9]),
        }

    def _ranking_item_columns(self, con) -> dict[str, np.ndarray]:
        rows = con.execute("SELECT ranking_id, segment_id, position FROM ranking_items ORDER BY ranking_id, rowid").fetchall()
        cols = list(zip(*rows)) if rows else [[]] * 3
        return {k: np.asarray(c, dtype=np.int64) for k, c in zip(("ranking_id", "segment_id", "position"), cols)}

    def _import_feedback(self, con, feedback: Mapping[str, Mapping[str, np.ndarray]], seg_map: Mapping[int, int]) -> dict[str, int]:
        """Merge an export's rating queries, ratings and rankings (inside :meth:`import_from`'s transaction)."""
        added = {"rating_queries": 0, "ratings": 0, "rankings": 0}
        rq, rt = feedback["rating_queries"], feedback["ratings"]
        q_map: dict[int, int] = {}
        seen: dict[tuple, int] = {}  # the k-th rating query of the file with this (segment, created) is the store's k-th
        for qid, sid, n, created, meta in zip(*(rq[k].tolist() for k in ("id", "segment_id", "n_classes", "created", "meta"))):
            sid = seg_map[int(sid)]
            k = seen[(sid, created)] = seen.get((sid, created), -1) + 1
            row = con.execute(
                "SELECT id FROM rating_queries WHERE segment_id = ? AND created = ? ORDER BY id LIMIT 1 OFFSET ?", (sid, created, k)
            ).fetchone()
            if row is None:
                row = (con.execute(
                    "INSERT INTO rating_queries (segment_id, n_classes, status, created, meta) VALUES (?, ?, 'open', ?, ?)",
                    (sid, int(n), created, meta or None),
                ).lastrowid,)  # fmt: skip
                added["rating_queries"] += 1
            q_map[int(qid)] = int(row[0])
        for i in range(rt["id"].size):
            qid = q_map[int(rt["rating_query_id"][i])]
            skipped = bool(rt["skipped"][i])
            value = None if skipped else int(rt["rating"][i])
            kind, params, who = str(rt["teacher_kind"][i]), str(rt["teacher_params"][i]), str(rt["labeler"][i])
            created, retracted = float(rt["created"][i]), float(rt["retracted"][i])
            if np.isnan(retracted):
                added["ratings"] += int(self._insert_rating(con, qid, value, kind, params, who, created, False)[1])
            elif con.execute(
                "SELECT 1 FROM ratings WHERE rating_query_id = ? AND labeler = ? AND rating IS ? AND created = ? AND retracted = ?",
                (qid, who, value, created, retracted),
            ).fetchone() is None:
                con.execute(
                    "INSERT INTO ratings (rating_query_id, rating, skipped, teacher_kind, teacher_params, labeler, created, "
                    "retracted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (qid, value, int(skipped), kind, params, who, created, retracted),
                )
                added["ratings"] += 1
        con.executemany(self._RATING_STATUS_SQL, [(q,) for q in sorted(set(q_map.values()))])
        rk, items = feedback["rankings"], feedback["ranking_items"]
        for i in range(rk["id"].size):
            core = json.loads(str(rk["state"][i]))
            remap = lambda ids: [seg_map[int(s)] for s in ids]  # noqa: E731
            core["core"]["groups"] = [remap(g) for g in core["core"]["groups"]]
            core["core"]["pending"] = remap(core["core"]["pending"])
            core["core"]["dropped"] = remap(core["core"]["dropped"])
            core["history"] = []  # the undo history names the file's segment ids; it does not travel
            state = json.dumps(core)
            created = float(rk["created"][i])
            if con.execute("SELECT 1 FROM rankings WHERE created = ? AND state = ?", (created, state)).fetchone():
                continue
            finished = float(rk["finished"][i])
            rid = con.execute(
                "INSERT INTO rankings (status, labeler, teacher_kind, teacher_params, state, comparisons, created, finished, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(rk["status"][i]), str(rk["labeler"][i]) or None, str(rk["teacher_kind"][i]) or None,
                 str(rk["teacher_params"][i]) or None, state, int(rk["comparisons"][i]), created,
                 None if np.isnan(finished) else finished, str(rk["meta"][i]) or None),
            ).lastrowid  # fmt: skip
            mine = items["ranking_id"] == rk["id"][i]
            for sid, pos in zip(items["segment_id"][mine].tolist(), items["position"][mine].tolist()):
                con.execute("INSERT INTO ranking_items (ranking_id, segment_id, position) VALUES (?, ?, ?)", (rid, seg_map[sid], pos))
            added["rankings"] += 1
        return added
