"""Labeling statistics: answers per labeler, agreement between labelers, and with
the scripted oracle where the true reward is known.

* **Agreement between two labelers**: over the queries both answered with a label
  (skips left out), the fraction with the same label (0, 0.5 or 1).
* **Agreement with the oracle**: segments carry their true rewards, so B-Pref's
  perfectly rational scripted teacher (:class:`pbrl.teachers.ScriptedTeacher`,
  preset ``oracle``: σ² preferred iff its summed true reward is larger) answers
  every labelled query; a labeler's agreement is the fraction of their labels equal
  to its answer. Their ``equal`` answers count as disagreement (the oracle never
  says equal) and are also reported separately. Queries whose segments have
  non-finite rewards (the true reward is not known) are left out.

Every labeler in the store is counted: humans from the web app and any scripted,
hierarchical or LLM teacher whose labels are stored with them.

Ratings and rankings are counted beside the pairs (``ratings`` and ``rankings``): rating
queries (open, rated, skipped), the segments rated, and per labeler the ratings, skips and
levels given; finished and open ranked lists, the segments they place and the comparisons
they took, per labeler. A finished list's implied pairs are pair labels, so they are in the
pair counts too.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np

__all__ = ["OracleCache", "labeling_stats", "ranking_stats", "rating_stats"]


class OracleCache:
    """The oracle's label per query (queries never change, so computed once each)."""

    def __init__(self):
        self._labels: dict[int, float] = {}
        self._lock = threading.Lock()

    def labels(self, store: Any, query_ids: np.ndarray) -> dict[int, float]:
        """query id -> oracle label (NaN where the true reward is unknown)."""
        from pbrl.teachers import make_teacher

        from pbrl.preferences import SegmentShapeError

        want = [int(q) for q in np.unique(query_ids) if int(q) not in self._labels]
        chunks = [want[lo : lo + 500] for lo in range(0, len(want), 500)]
        while chunks:
            chunk = chunks.pop()
            try:
                first, second = store.get_pairs(chunk)
            except SegmentShapeError:  # segments of several horizons: one query at a time
                if len(chunk) == 1:
                    self._labels[chunk[0]] = float("nan")
                else:
                    chunks.extend([q] for q in chunk)
                continue
            known = np.isfinite(first.rewards).all(axis=1) & np.isfinite(second.rewards).all(axis=1)
            values = np.full(len(chunk), np.nan)
            if known.any():
                oracle = make_teacher("oracle")
                sel = np.flatnonzero(known)
                values[sel] = oracle.label(first[sel], second[sel]).values
            with self._lock:
                self._labels.update(zip(chunk, values.tolist()))
        return {int(q): self._labels[int(q)] for q in np.unique(query_ids)}


def labeling_stats(store: Any, oracle: OracleCache | None = None) -> dict[str, Any]:
    """Counts per labeler, pairwise agreement on shared queries and agreement with
    the oracle, as JSON-ready data."""
    oracle = oracle or OracleCache()
    rows = store.labels()
    summary = store.summary()
    names = sorted(set(rows["labeler"].tolist()))
    registered = set(store.labelers())
    per: list[dict[str, Any]] = []
    answers: dict[str, dict[int, float]] = {}
    for name in names:
        sel = rows["labeler"] == name
        values, skipped = rows["label"][sel], rows["skipped"][sel]
        kinds = sorted(set(rows["teacher_kind"][sel].tolist()))
        given = ~skipped
        answers[name] = dict(zip(rows["query_id"][sel][given].tolist(), values[given].tolist()))
        per.append(
            {
                "labeler": name,
                "kind": kinds[0] if len(kinds) == 1 else ",".join(kinds),
                "registered": name in registered,
                "answers": int(sel.sum()),
                "labels": int(given.sum()),
                "left": int(np.sum(values[given] == 0.0)),
                "right": int(np.sum(values[given] == 1.0)),
                "equal": int(np.sum(values[given] == 0.5)),
                "skipped": int(skipped.sum()),
                "first": float(rows["created"][sel].min()),
                "last": float(rows["created"][sel].max()),
            }
        )
    for name in registered - set(names):
        per.append({"labeler": name, "kind": "human", "registered": True, "answers": 0, "labels": 0, "left": 0,
                    "right": 0, "equal": 0, "skipped": 0, "first": None, "last": None})

    pairs = []
    for a, b in itertools.combinations(names, 2):
        shared = sorted(set(answers[a]) & set(answers[b]))
        if not shared:
            continue
        agree = sum(answers[a][q] == answers[b][q] for q in shared)
        pairs.append({"a": a, "b": b, "shared": len(shared), "agree": int(agree), "agreement": agree / len(shared)})

    with_oracle = []
    labelled = rows["query_id"][~rows["skipped"]]
    truth = oracle.labels(store, labelled) if labelled.size else {}
    for name in names:
        known = {q: v for q, v in answers[name].items() if np.isfinite(truth.get(q, np.nan))}
        if not known:
            continue
        agree = sum(truth[q] == v for q, v in known.items())
        equal = sum(v == 0.5 for v in known.values())
        with_oracle.append(
            {"labeler": name, "compared": len(known), "agree": int(agree), "agreement": agree / len(known), "equal": int(equal)}
        )
    return {
        "store": summary,
        "labelers": per,
        "agreement": pairs,
        "oracle": with_oracle,
        "ratings": rating_stats(store),
        "rankings": ranking_stats(store),
    }


def rating_stats(store: Any) -> dict[str, Any]:
    """Rating queries by status, rated segments, and each labeler's ratings (levels 1..n as the page shows
    them: ``levels[k]`` = answers of level k + 1), JSON-ready."""
    queries = store.rating_queries()
    rows = store.ratings()
    status = queries["status"]
    given = ~rows["skipped"]
    scale = dict(zip(queries["id"].tolist(), queries["n_classes"].tolist()))
    segment = dict(zip(queries["id"].tolist(), queries["segment_id"].tolist()))
    per = []
    for name in sorted(set(rows["labeler"].tolist())):
        sel = rows["labeler"] == name
        mine = sel & given
        top = max((scale[q] for q in rows["rating_query_id"][sel].tolist()), default=0)
        kinds = sorted(set(rows["teacher_kind"][sel].tolist()))
        per.append(
            {
                "labeler": name,
                "kind": ",".join(kinds),
                "ratings": int(mine.sum()),
                "skipped": int((sel & ~given).sum()),
                "levels": np.bincount(rows["rating"][mine].astype(np.int64), minlength=top).tolist(),
                "last": float(rows["created"][sel].max()),
            }
        )
    return {
        "queries": int(status.size),
        "open": int(np.sum(status == "open")),
        "rated": int(np.sum(status == "labelled")),
        "skipped": int(np.sum(status == "skipped")),
        "ratings": int(given.sum()),
        "skips": int((~given).sum()),
        "rated_segments": len({segment[q] for q in rows["rating_query_id"][given].tolist()}),
        "scales": sorted(set(scale.values())),
        "labelers": per,
    }


def ranking_stats(store: Any) -> dict[str, Any]:
    """Finished and open ranked lists, the segments the finished ones place, comparisons, per labeler."""
    rankings = store.rankings()
    done = [r for r in rankings if r["status"] == "done"]
    per: dict[str, dict[str, Any]] = {}
    for r in rankings:
        if r["labeler"] is None:  # an open list nobody has started
            continue
        row = per.setdefault(r["labeler"], {"labeler": r["labeler"], "kind": r["teacher_kind"] or "human", "lists": 0,
                                            "in_progress": 0, "segments": 0, "comparisons": 0})  # fmt: skip
        row["comparisons"] += int(r["comparisons"])
        if r["status"] == "done":
            row["lists"] += 1
            row["segments"] += sum(len(g) for g in r["groups"])
        else:
            row["in_progress"] += 1
    return {
        "lists": len(done),
        "open": len(rankings) - len(done),
        "ranked_segments": len({s for r in done for g in r["groups"] for s in g}),
        "comparisons": int(sum(int(r["comparisons"]) for r in done)),
        "labelers": [per[k] for k in sorted(per)],
    }
