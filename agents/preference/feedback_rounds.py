"""Feedback rounds beyond pairs in the online preference loop (``--pref feedback_kind=...``).

The loop (``loop.py``) asks pairs itself; with ``feedback_kind`` ``ratings`` or
``rankings`` it hands the asking, counting and training to one of these:

* :class:`RatingRounds` (RbRL): each round draws ``n`` segments — uniformly, or with a
  model and a selection other than ``uniform`` the ``n`` of ``large_batch · n`` on whose
  score the ensemble's members disagree most (std of their segment scores) — stores them
  as rating queries (committed), asks the teacher's ``rate()`` and stores the ratings
  (committed before training). The reward model is a
  :class:`~pbrl.rewards.ratings.RatingRewardEnsemble` trained with ``fit_ratings`` on
  every rating in the store. A scripted teacher is a
  :class:`~pbrl.teachers.RatingTeacher` with the run's preset and knobs; unless given
  ``bounds`` or ``return_range`` its classes are the quantiles of the returns of up to
  2000 buffer segments at the first round (as ``pbrl dataset label --feedback rating``
  calibrates on the dataset), kept for the whole run (and in its checkpoint).
* :class:`RankingRounds` (LiRE): each round inserts uniformly drawn segments by binary
  search, one pairwise ``label()`` per comparison, until the round's ``n`` comparisons
  are spent; a list is closed before an insertion could take it past
  ``ranking_budget`` comparisons. Each list is stored with its implied pairs
  (``add_ranked_segments``), so the pairwise reward model trains on them unchanged.

The label budget counts the teacher's answers: rating queries asked, or comparisons
(skips included). Rounds are tagged ``{"round", "step", "run"}`` in their meta, as pair
queries are, so a resumed run replays (never re-asks) what a killed run asked after its
checkpoint.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from pbrl.preferences import EmptyPreferencesError, SegmentBatch
from pbrl.preferences.ranking import RankingBuilder, max_comparisons
from pbrl.rewards.ratings import RatingRewardEnsemble

__all__ = ["RankingRounds", "RatingRounds", "distinct", "feedback_rounds", "rating_model", "rating_teacher", "rounds_after"]

def distinct(segments: SegmentBatch) -> SegmentBatch:
    """``segments`` without repeats (same observations, actions and mask as an earlier one), in their order.

    Windows are drawn with replacement, and a policy that stands still repeats itself; the store
    keeps one row per distinct segment, so a ranked list may hold each only once."""
    n = len(segments)
    flat = np.concatenate(
        [segments.obs.reshape(n, -1), segments.actions.reshape(n, -1), segments.mask.reshape(n, -1).astype(segments.obs.dtype)], axis=1
    )
    _, first = np.unique(flat, axis=0, return_index=True)
    keep = np.sort(first)
    return segments if keep.size == n else segments[keep]


#: segments drawn to calibrate a scripted rating teacher's classes
CALIBRATION_SEGMENTS = 2000


def rounds_after(ids: np.ndarray, metas: np.ndarray, run_id: str, rounds: int, step: int) -> dict[int, np.ndarray]:
    """Ids, by round, whose meta names run ``run_id``, a round ``>= rounds`` and an env step ``>= step``:
    what a run killed after its last checkpoint had asked."""
    ahead: dict[int, list[int]] = {}
    for i, text in zip(np.asarray(ids).tolist(), np.asarray(metas).tolist()):
        try:
            meta = json.loads(text) if text else None
        except ValueError:
            continue
        if not isinstance(meta, dict) or meta.get("run") != run_id:
            continue
        r, at = meta.get("round"), meta.get("step")
        if isinstance(r, int) and isinstance(at, int) and r >= rounds and at >= step:
            ahead.setdefault(r, []).append(int(i))
    return {r: np.asarray(v, dtype=np.int64) for r, v in sorted(ahead.items())}


def rating_model(reward_model: Any) -> RatingRewardEnsemble:
    """A :class:`RatingRewardEnsemble` with the settings of the loop's pairwise ``reward_model``."""
    m = reward_model
    return RatingRewardEnsemble(
        m.obs_dim, m.act_dim, n_members=m.n_members, hidden_sizes=m.hidden_sizes, segment_score=m.segment_score,
        lr=m.lr, batch_size=m.batch_size, max_epochs=m.max_epochs, target_accuracy=m.target_accuracy, device=m.device,
        seed=m.seed,
    )  # fmt: skip


def rating_teacher(name: str, *, card: Any, seed: int, n_classes: int, kwargs: Mapping[str, Any]) -> Any:
    """The scripted rating teacher for ``--teacher name``: a B-Pref preset (or ``scripted`` knobs,
    or ``rating``) as a :class:`~pbrl.teachers.RatingTeacher` on ``n_classes`` levels."""
    from pbrl.teachers import make_teacher

    kw = dict(kwargs)
    if name != "rating":
        kw.setdefault("preset", "oracle" if name == "scripted" else name)
    return make_teacher("rating", card=card, seed=seed, n_classes=n_classes, **kw)


def feedback_rounds(loop: Any) -> "RatingRounds | RankingRounds | None":
    """The rounds object for the loop's ``feedback_kind`` (None: pairs, asked by the loop itself)."""
    kind = loop.opt.get("feedback_kind", "pairs")
    return {"ratings": RatingRounds, "rankings": RankingRounds}[kind](loop) if kind != "pairs" else None


class RatingRounds:
    """Rating queries, ratings and the rating model's training for :class:`~.loop.PreferenceLoop`."""

    kind = "ratings"

    def __init__(self, loop: Any):
        self.loop = loop
        self.n_classes = int(loop.opt["rating_classes"])
        #: the scripted teacher's class bounds once calibrated (restored on resume)
        self.bounds: list[float] | None = None

    @property
    def store(self):
        return self.loop.store

    def make_teacher(self, name: str, card: Any, seed: int, kwargs: Mapping[str, Any]) -> Any:
        if name == "human":
            from pbrl.teachers import make_teacher

            return make_teacher(name, card=card, seed=seed, **kwargs)
        teacher = rating_teacher(name, card=card, seed=seed, n_classes=self.n_classes, kwargs=kwargs)
        if self.bounds is not None:
            teacher.bounds = np.asarray(self.bounds, dtype=np.float64)
        return teacher

    def _calibrate(self, teacher: Any) -> None:
        if getattr(teacher, "asynchronous", False) or getattr(teacher, "bounds", 0) is not None:
            return
        loop = self.loop
        segments = loop.sampler.sample(CALIBRATION_SEGMENTS)
        teacher.calibrate(teacher.segment_returns(loop.judged_segments(segments)))
        self.bounds = [float(b) for b in teacher.bounds]

    def counts(self, hidden: np.ndarray) -> dict[str, int]:
        """``queries`` (rating queries asked), ``labels``/``skips`` (ratings), ``open`` and ``trainable``."""
        q = self.store.rating_queries()
        r = self.store.ratings()
        qkeep, rkeep = ~np.isin(q["id"], hidden), ~np.isin(r["rating_query_id"], hidden)
        labels = int((~r["skipped"][rkeep]).sum())
        return {"queries": int(qkeep.sum()), "labels": labels, "skips": int(r["skipped"][rkeep].sum()),
                "open": int((q["status"][qkeep] == "open").sum()), "trainable": labels}  # fmt: skip

    def rounds_ahead(self, run_id: str, rounds: int, step: int) -> dict[int, np.ndarray]:
        q = self.store.rating_queries()
        return rounds_after(q["id"], q["meta"], run_id, rounds, step)

    def _select(self, n: int) -> SegmentBatch:
        loop = self.loop
        if loop.opt["selection"] == "uniform" or not loop.model_ready:
            return loop.sampler.sample(n)
        pool = loop.sampler.sample(n * int(loop.opt["large_batch"]))
        scores = loop.reward_model.segment_scores(pool.obs, pool.actions, mask=pool.mask)
        return pool[np.argsort(-scores.std(0), kind="stable")[:n]]

    def ask(self, n: int, meta: Mapping[str, Any]) -> dict[str, float]:
        """Draw, store (committed), rate and store ``n`` segments' ratings."""
        loop = self.loop
        self._calibrate(loop.teacher)
        segments = self._select(n)
        qids = self.store.add_rating_queries(segments, self.n_classes, meta=meta)
        self._rate(segments, qids)
        return {}

    def _rate(self, segments: SegmentBatch, qids: np.ndarray) -> None:
        loop = self.loop
        loop.teacher.set_recent_returns(loop.buffer.recent_returns(10))
        ratings = loop.teacher.rate(loop.judged_segments(segments), query_ids=qids)
        if not getattr(loop.teacher, "answers_in_store", False):  # the human teacher's are stored already
            self.store.add_ratings(qids, ratings)

    def answer_open(self, among: np.ndarray | None = None, exclude: np.ndarray | None = None) -> None:
        """A synchronous teacher answers the rating queries a kill left open (``among`` these, not ``exclude``)."""
        if self.loop.teacher.asynchronous:
            return
        ids = self.store.open_rating_queries()
        if among is not None:
            ids = ids[np.isin(ids, among)]
        if exclude is not None:
            ids = ids[~np.isin(ids, exclude)]
        if ids.size:
            segs = self.store.get_segments([self.store.rating_query(int(i))[0] for i in ids])
            self._calibrate(self.loop.teacher)
            self._rate(segs, ids)

    def replay(self, ids: np.ndarray) -> dict[str, float]:
        self.answer_open(among=ids)
        return {}

    def fit(self, hidden: np.ndarray) -> tuple[int, dict[str, float]]:
        """Train the rating model on every rating this run has reached; (ratings used, metrics)."""
        data = self.store.rated_segments(n_classes=self.n_classes)
        keep = ~np.isin(data.rating_query_ids, hidden)
        if keep.sum() < 2:
            raise EmptyPreferencesError(f"fewer than 2 ratings to train on in {self.store.path}")
        seg = data.segments[np.flatnonzero(keep)]
        result = self.loop.reward_model.fit_ratings(seg.obs, seg.actions, data.ratings[keep], self.n_classes, mask=seg.mask)
        return int(keep.sum()), {
            "reward_model/train_accuracy": result.rating_accuracy,  # classes from the model's scores vs the ratings
            "reward_model/loss": result.rating_loss,
            "reward_model/epochs": float(result.epochs),
            "reward_model/fit_seconds": result.seconds,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"rating_bounds": self.bounds}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        bounds = state.get("rating_bounds")
        self.bounds = None if bounds is None else [float(b) for b in bounds]


class RankingRounds:
    """Ranked lists by binary insertion, their implied pairs and the comparison count for the loop."""

    kind = "rankings"

    def __init__(self, loop: Any):
        self.loop = loop
        self.budget = int(loop.opt["ranking_budget"])

    @property
    def store(self):
        return self.loop.store

    def make_teacher(self, name: str, card: Any, seed: int, kwargs: Mapping[str, Any]) -> Any:
        from pbrl.teachers import make_teacher

        teacher = make_teacher(name, card=card, seed=seed, **kwargs)
        if teacher.asynchronous:
            raise ValueError(f"feedback_kind rankings needs an immediate answer per comparison; {type(teacher).__name__} answers later")
        return teacher

    def _lists(self, hidden: np.ndarray) -> list[dict[str, Any]]:
        return [r for r in self.store.rankings(status="done") if r["id"] not in set(np.asarray(hidden).tolist())]

    def counts(self, hidden: np.ndarray) -> dict[str, int]:
        """``queries`` = comparisons asked, ``skips`` = items left out, ``labels`` = the rest;
        ``trainable`` = implied pairs labelled (what the pair model trains on)."""
        lists = self._lists(hidden)
        asked = sum(int(r["comparisons"]) for r in lists)
        skips = sum(len(r["builder"].dropped) for r in lists)
        pairs = self.store.summary()["labels"] - self._pair_labels(self.pair_ids(hidden))
        return {"queries": asked, "labels": asked - skips, "skips": skips, "open": 0, "trainable": int(pairs)}

    def _pair_labels(self, qids: np.ndarray) -> int:
        if not qids.size:
            return 0
        return int((~self.store.labels(query_ids=qids)["skipped"]).sum())

    def pair_ids(self, ranking_ids: np.ndarray) -> np.ndarray:
        """Query ids of the pairs these rankings imply (meta ``{"ranking": id}``)."""
        if not np.asarray(ranking_ids).size:
            return np.zeros(0, np.int64)
        wanted = set(np.asarray(ranking_ids).tolist())
        q = self.store.queries()
        out = []
        for qid, text in zip(q["id"].tolist(), q["meta"].tolist()):
            try:
                meta = json.loads(text) if text else None
            except ValueError:
                continue
            if isinstance(meta, dict) and meta.get("ranking") in wanted:
                out.append(int(qid))
        return np.asarray(out, dtype=np.int64)

    def rounds_ahead(self, run_id: str, rounds: int, step: int) -> dict[int, np.ndarray]:
        lists = self.store.rankings(status="done")
        return rounds_after(np.asarray([r["id"] for r in lists], np.int64), np.asarray([r["meta"] or "" for r in lists]), run_id, rounds, step)

    def ask(self, n: int, meta: Mapping[str, Any]) -> dict[str, float]:
        """Insert segments until ``n`` comparisons are spent; store each closed list (committed)."""
        loop = self.loop
        teacher = loop.teacher
        teacher.set_recent_returns(loop.buffer.recent_returns(10))
        segments = distinct(loop.sampler.sample(2 * n + 1))  # every list but the last holds >= 2 items: enough
        judged = loop.judged_segments(segments)
        used = 0
        builder, members, asked = RankingBuilder(), [], 0
        pos = 0
        new_pairs: list[np.ndarray] = []
        while pos < len(segments) and used < n:
            need = max_comparisons(len(builder.groups)) if builder.groups else 0
            if need > min(self.budget - asked, n - used):  # this insertion could overrun the list or the round
                new_pairs.append(self._close(segments, builder, members, asked, meta))
                builder, members, asked = RankingBuilder(), [], 0
                continue
            builder.add(len(members) + 1)
            members.append(pos)
            pos += 1
            while (step := builder.probe()) is not None:
                ref, cand = step
                labels = teacher.label(judged[[members[ref - 1]]], judged[[members[cand - 1]]])
                asked += 1
                used += 1
                builder.answer(None if labels.skipped[0] else float(labels.values[0]))
        new_pairs.append(self._close(segments, builder, members, asked, meta))
        metrics: dict[str, float] = {}
        ids = np.concatenate(new_pairs)
        if loop.model_ready and ids.size:
            from pbrl.rewards.metrics import preference_accuracy

            rows = self.store.labels(query_ids=ids)
            first, second = self.store.get_pairs(rows["query_id"])
            metrics["reward_model/query_accuracy"] = preference_accuracy(loop.ensemble_probabilities(first, second), rows["label"])
        return metrics

    def _close(self, segments: SegmentBatch, builder: RankingBuilder, members: list[int], asked: int, meta: Mapping[str, Any]) -> np.ndarray:
        """Store a list that took comparisons (with its implied pairs); the new pair query ids."""
        if asked == 0:
            return np.zeros(0, np.int64)
        kept = [i - 1 for g in builder.groups for i in g]
        local = {m: j for j, m in enumerate(kept)}
        groups = [[local[i - 1] for i in g] for g in builder.groups]
        rid = self.store.add_ranked_segments(
            segments[np.asarray([members[k] for k in kept])], groups, self.loop.teacher.provenance, comparisons=asked, meta=meta
        )
        return self.pair_ids(np.asarray([rid]))

    def replay(self, ids: np.ndarray) -> dict[str, float]:
        return {}  # a stored list is complete: nothing to answer

    def answer_open(self, among: np.ndarray | None = None, exclude: np.ndarray | None = None) -> None:
        """Lists are stored finished: nothing is ever left open."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

