"""Feedback beyond pairs from scripted teachers: ratings (RbRL) and rankings (LiRE).

**Ratings.** :class:`RatingTeacher` is B-Pref's scripted teacher (it still answers
pairs with :meth:`label`) that also rates single segments on an ``n``-class scale
(:meth:`~pbrl.teachers.Teacher.rate`): the segment's (myopic) return R falls into one
of ``n`` buckets, class 0 the lowest. The bucket bounds are, in order of precedence,

* ``bounds``: ``n − 1`` increasing thresholds on R (RbRL's hard-coded table is
  ``equal_width_bounds(0, 50, n)``);
* ``return_range=(lo, hi)``: equal-width buckets on [lo, hi] (RbRL's form);
* the quantiles ``k/n`` of reference returns (:meth:`RatingTeacher.calibrate`); a
  teacher with none of these calibrates on the first batch it rates.

B-Pref's knobs, as they apply to one segment:

1. **skip** ε_skip: no rating unless R > θ_skip = ε_skip·m (m as for pairs);
2. **myopia** γ: R = Σ γ^(H−t) r_t;
3. **rationality** β: class c with probability ∝ exp(−β·d_c/w), d_c the distance from
   R to bucket c (0 inside it), w the median bucket width; β = ∞ gives the true bucket;
4. **mistake** ε_mistake: with probability ε_mistake the rating moves one class up or
   down (the only neighbour at either end).

ε_equal has no meaning for one segment; a rating teacher refuses it.

**Rankings.** :func:`rank_segments` builds LiRE's ranked lists with *any* pairwise
teacher: each segment is inserted by binary search (:mod:`pbrl.preferences.ranking`),
one :meth:`~pbrl.teachers.Teacher.label` call per comparison (a 0.5 label puts it in
the probed group, a skip leaves it out); a new list starts when the current one has
used ``budget`` comparisons (LiRE's q_budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..preferences.labels import Provenance
from ..preferences.ranking import RankingBuilder
from ..preferences.ratings import Ratings, check_scale
from ..preferences.segments import SegmentBatch
from .base import Teacher
from .scripted import ScriptedTeacher, myopic_weights

__all__ = ["Ranking", "RatingTeacher", "equal_width_bounds", "quantile_bounds", "rank_segments"]


def equal_width_bounds(lo: float, hi: float, n_classes: int) -> np.ndarray:
    """(n−1,) thresholds of ``n`` equal buckets on [lo, hi] (RbRL: lo=0, hi=50)."""
    n = check_scale(n_classes)
    if not hi > lo:
        raise ValueError(f"return_range must be (lo, hi) with hi > lo, got ({lo}, {hi})")
    return np.linspace(lo, hi, n + 1)[1:-1]


def quantile_bounds(returns: Sequence[float] | np.ndarray, n_classes: int) -> np.ndarray:
    """(n−1,) thresholds at the quantiles k/n of ``returns``: about as many segments in each class."""
    n = check_scale(n_classes)
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if r.size < 2 or not np.isfinite(r).all():
        raise ValueError(f"calibrating {n} rating classes needs at least 2 finite returns, got {r.size}")
    return np.quantile(r, np.arange(1, n) / n)


class RatingTeacher(ScriptedTeacher):
    """A scripted teacher that rates segments on an ``n_classes`` scale (and labels pairs as B-Pref's).

    Args:
        n_classes: the scale (2..10).
        bounds: ``n_classes − 1`` increasing thresholds on the return.
        return_range: ``(lo, hi)`` for equal-width buckets (ignored when ``bounds`` is given).
        beta, gamma, eps_mistake, eps_skip: B-Pref's knobs (module docstring).
        **kwargs: as :class:`~pbrl.teachers.ScriptedTeacher` (``card``, ``max_episode_steps``,
            ``seed``, ``preset``, ``return_window``).
    """

    def __init__(
        self,
        n_classes: int = 5,
        beta: float = math.inf,
        gamma: float = 1.0,
        eps_mistake: float = 0.0,
        eps_skip: float = 0.0,
        eps_equal: float = 0.0,
        *,
        bounds: Sequence[float] | None = None,
        return_range: tuple[float, float] | None = None,
        **kwargs: Any,
    ):
        if eps_equal:
            raise ValueError("eps_equal does not apply to ratings of one segment; use a pairwise teacher for it")
        super().__init__(beta, gamma, eps_mistake, eps_skip, 0.0, **kwargs)
        self.n_classes = check_scale(n_classes)
        self.return_range = None if return_range is None else (float(return_range[0]), float(return_range[1]))
        self.bounds: np.ndarray | None = None
        if bounds is not None:
            b = np.asarray(bounds, dtype=np.float64).reshape(-1)
            if b.size != self.n_classes - 1 or not np.isfinite(b).all() or (np.diff(b) <= 0).any():
                raise ValueError(f"bounds must be {self.n_classes - 1} increasing finite thresholds, got {list(b)}")
            self.bounds = b
        elif self.return_range is not None:
            self.bounds = equal_width_bounds(*self.return_range, self.n_classes)

    @property
    def params(self) -> dict[str, Any]:
        return {
            **super().params,
            "n_classes": self.n_classes,
            "bounds": None if self.bounds is None else [round(float(b), 6) for b in self.bounds],
        }

    def calibrate(self, returns: Sequence[float] | np.ndarray) -> np.ndarray:
        """Set the bounds to the quantiles of these (myopic) segment returns; returns them."""
        self.bounds = quantile_bounds(returns, self.n_classes)
        return self.bounds

    def segment_returns(self, segments: SegmentBatch) -> np.ndarray:
        """(n,) R = Σ γ^(H−t) r_t over the real steps."""
        r = np.where(segments.mask, segments.rewards, 0.0)
        return r @ myopic_weights(segments.horizon, self.gamma)

    def true_classes(self, segments: SegmentBatch) -> np.ndarray:
        """(n,) the noiseless rating: the bucket of each segment's return."""
        if self.bounds is None:
            self.calibrate(self.segment_returns(segments))
        return np.searchsorted(self.bounds, self.segment_returns(segments), side="right")

    def rate(self, segments: SegmentBatch, *, query_ids=None) -> Ratings:
        big = self.segment_returns(segments)
        classes = self.true_classes(segments).astype(np.float64)
        n = big.size
        if not math.isinf(self.beta):
            edges = np.concatenate([[-np.inf], self.bounds, [np.inf]])
            dist = np.maximum(edges[None, :-1] - big[:, None], 0.0) + np.maximum(big[:, None] - edges[None, 1:], 0.0)
            width = float(np.median(np.diff(self.bounds))) if self.bounds.size > 1 else max(abs(float(self.bounds[0])), 1.0)
            logits = -self.beta * dist / max(width, 1e-12)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            classes = (self.rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1).astype(np.float64)
        if self.eps_mistake > 0:
            mistake = self.rng.random(n) < self.eps_mistake
            step = np.where(self.rng.random(n) < 0.5, -1.0, 1.0)
            step[classes == 0] = 1.0
            step[classes == self.n_classes - 1] = -1.0
            classes = np.where(mistake, classes + step, classes)
        skipped = np.zeros(n, dtype=bool)
        if self.eps_skip > 0:
            theta_skip, _ = self.thresholds(segments.horizon)
            s = np.where(segments.mask, segments.rewards, 0.0).sum(axis=1)
            skipped = ~(s > theta_skip)
        classes[skipped] = np.nan
        return Ratings.make(classes, self.n_classes, self.provenance, skipped=skipped)


@dataclass(frozen=True)
class Ranking:
    """One ranked list built by :func:`rank_segments`.

    Attributes:
        groups: positions into the ranked batch, grouped (equal segments), worst group first.
        comparisons: the teacher's answers it took.
        dropped: positions the teacher skipped (left out of the list).
        provenance: who compared.
    """

    groups: list[list[int]]
    comparisons: int
    provenance: Provenance
    dropped: list[int] = field(default_factory=list)

    def order(self) -> list[int]:
        """The positions worst first (equal ones in insertion order)."""
        return [i for g in self.groups for i in g]


def rank_segments(teacher: Teacher, segments: SegmentBatch, *, budget: int | None = None) -> list[Ranking]:
    """Rank ``segments`` by binary insertion, asking ``teacher`` one pair per comparison.

    Args:
        teacher: any pairwise teacher (its labels: 1 = the new segment is better).
        segments: the segments, inserted in this order.
        budget: comparisons per list (LiRE's q_budget); None = one list for all.

    Returns:
        The lists (one unless ``budget`` ran out), each with positions into ``segments``.
    """
    if budget is not None and int(budget) < 1:
        raise ValueError(f"budget must be >= 1 comparisons per list, got {budget!r}")
    if getattr(teacher, "asynchronous", False):
        raise ValueError(f"{type(teacher).__name__} answers later; rankings by binary search need an immediate answer per comparison")
    out: list[Ranking] = []
    builder = RankingBuilder()
    for pos in range(len(segments)):
        if budget is not None and builder.comparisons >= int(budget) and builder.groups:
            out.append(_finished(builder, teacher))
            builder = RankingBuilder()
        builder.add(pos + 1)  # ids are positive: position + 1
        while (step := builder.probe()) is not None:
            ref, cand = step
            labels = teacher.label(segments[[ref - 1]], segments[[cand - 1]])
            builder.answer(None if labels.skipped[0] else float(labels.values[0]))
    if builder.groups or builder.dropped:
        out.append(_finished(builder, teacher))
    return out


def _finished(builder: RankingBuilder, teacher: Teacher) -> Ranking:
    return Ranking(
        groups=[[i - 1 for i in g] for g in builder.groups],
        comparisons=builder.comparisons,
        provenance=teacher.provenance,
        dropped=[i - 1 for i in builder.dropped],
    )
