"""The reward-hacking check: does a reward order behaviour as held-out preference labels do?

A reward can score well on its task metric while disagreeing with what people (or a
held-out teacher) prefer — the policy found something the reward pays for and nobody
wants. This module scores any reward against labelled pairs of segments, with plain
functions over (reward values or a reward function, segment pairs, labels), so reward
synthesis, the online preference loop and offline code can all use it:

* **agreement** — the fraction of decisive labelled pairs (label 0 or 1) whose order the
  reward's segment returns reproduce (a predicted tie counts one half). 1.0: the reward
  orders every pair as the labels do; 0.5: chance; 0.0: always the other way.
* **rank correlation** — Spearman's ρ between the reward's segment returns and the
  ordering the labels imply (Bradley–Terry scores fitted to the labelled pairs; segments
  shared between pairs make that ordering global), and the **rank distance**
  ``√((1 − ρ) / 2)``, EPIC's Pearson distance on ranks (0: same ordering, ≈ 0.71:
  unrelated, 1: reversed).

A reward is *flagged* when its agreement is below ``min_agreement`` (default 0.6, above
chance by a margin). Numpy only; a reward function is any
``fn(obs, action, next_obs, info) -> (N,)`` (a :class:`~pbrl.rewards.RewardSource`, a
learned model's ``as_reward_source()``, a sandboxed program's client). ``fn`` is called in this
process: give a program that is not your own only through its sandboxed client (``pbrl.sandbox``),
as reward synthesis does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..preferences.segments import SegmentBatch, check_pair_batches

__all__ = [
    "DEFAULT_MIN_AGREEMENT",
    "HackingScore",
    "agreement",
    "implied_scores",
    "rank_correlation",
    "score_returns",
    "score_reward",
    "segment_rewards",
    "spearman",
]

#: below this agreement with held-out labels a reward is flagged
DEFAULT_MIN_AGREEMENT = 0.6
#: per-step extras that are not part of a transition's ``info`` (state copies, the next observation)
NOT_INFO = ("next_obs", "qpos", "qvel")


@dataclass(frozen=True)
class HackingScore:
    """A reward scored against labelled pairs.

    Attributes:
        agreement: fraction of decisive pairs ordered as the labels (NaN: none decisive).
        rank_correlation: Spearman ρ with the labels' implied ordering (NaN: undefined).
        rank_distance: ``√((1 − ρ) / 2)`` (NaN when ρ is).
        pairs: labelled pairs scored; decisive: those with label 0 or 1.
        min_agreement: the threshold; flagged: agreement below it.
    """

    agreement: float
    rank_correlation: float
    rank_distance: float
    pairs: int
    decisive: int
    min_agreement: float
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def _labels(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"{y.size} labels for {n} pairs")
    ok = np.isnan(y) | np.isin(y, (0.0, 0.5, 1.0))
    if not ok.all():
        raise ValueError(f"labels must be 0, 0.5, 1 or NaN (skipped), got {sorted(set(y[~ok].tolist()))[:5]}")
    return y


def agreement(first_returns: Any, second_returns: Any, labels: Any) -> float:
    """Fraction of decisive pairs (label 0 or 1; 1 = second preferred) that the returns order the same
    way; a predicted tie counts one half. NaN when no label is decisive."""
    r1 = np.asarray(first_returns, dtype=np.float64).reshape(-1)
    r2 = np.asarray(second_returns, dtype=np.float64).reshape(-1)
    if r1.shape != r2.shape:
        raise ValueError(f"first and second returns differ in size: {r1.size} and {r2.size}")
    y = _labels(labels, r1.size)
    decisive = (y == 0.0) | (y == 1.0)
    if not decisive.any():
        return float("nan")
    diff = (r2 - r1)[decisive]
    said = np.where(np.abs(diff) <= 1e-12 * np.maximum(1.0, np.abs(r1[decisive]) + np.abs(r2[decisive])), 0.5,
                    (diff > 0).astype(np.float64))
    return float(np.mean(np.where(y[decisive] == 1.0, said, 1.0 - said)))


def implied_scores(first_ids: Any, second_ids: Any, labels: Any, n_items: int | None = None,
                   prior: float = 0.1, iterations: int = 500) -> np.ndarray:
    """Bradley–Terry scores of items from labelled pairs: the ordering the labels imply.

    Maximises ``Σ y log σ(s₂ − s₁) + (1 − y) log σ(s₁ − s₂) − prior·Σ s²/2`` by gradient ascent
    (ties count half to each side, skipped pairs not at all). Items in no pair score 0.

    Args:
        first_ids, second_ids: (n,) item index of each pair's segments.
        labels: (n,) 0, 0.5, 1 or NaN.
        n_items: number of items (default: the largest index + 1).
    """
    a = np.asarray(first_ids, dtype=np.int64).reshape(-1)
    b = np.asarray(second_ids, dtype=np.int64).reshape(-1)
    y = _labels(labels, a.size)
    keep = ~np.isnan(y)
    a, b, y = a[keep], b[keep], y[keep]
    n = int(n_items if n_items is not None else (max(a.max(initial=-1), b.max(initial=-1)) + 1))
    s = np.zeros(n)
    if not a.size:
        return s
    degree = np.bincount(np.concatenate([a, b]), minlength=n).astype(np.float64)
    step = 1.0 / (0.25 * max(degree.max(), 1.0) + prior)  # the Hessian's bound: a monotone ascent
    for _ in range(int(iterations)):
        p = 0.5 * (1.0 + np.tanh(0.5 * (s[b] - s[a])))  # P(second preferred)
        g = np.zeros(n)
        np.add.at(g, b, y - p)
        np.add.at(g, a, p - y)
        g -= prior * s
        s += step * g
        if np.abs(g).max() < 1e-8:
            break
    return s


def spearman(x: Any, y: Any) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"spearman needs two samples of the same size >= 2, got {a.size} and {b.size}")

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(v.size)
        r[order] = np.arange(v.size, dtype=np.float64)
        _, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return sums[inv] / counts[inv]

    ra, rb = ranks(a) - (a.size - 1) / 2.0, ranks(b) - (b.size - 1) / 2.0
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float(np.clip((ra * rb).sum() / denom, -1.0, 1.0)) if denom > 0 else float("nan")


def rank_correlation(first_returns: Any, second_returns: Any, labels: Any,
                     first_ids: Any = None, second_ids: Any = None) -> float:
    """Spearman ρ between a reward's segment returns and the labels' implied (Bradley–Terry) scores,
    over the segments of the answered pairs. ``first_ids``/``second_ids`` name shared segments (the same
    id in several pairs); without them every pair's two segments are distinct items."""
    r1 = np.asarray(first_returns, dtype=np.float64).reshape(-1)
    r2 = np.asarray(second_returns, dtype=np.float64).reshape(-1)
    n = r1.size
    y = _labels(labels, n)
    if first_ids is None or second_ids is None:
        first_ids, second_ids = np.arange(n), n + np.arange(n)
    a = np.asarray(first_ids, dtype=np.int64).reshape(-1)
    b = np.asarray(second_ids, dtype=np.int64).reshape(-1)
    keep = ~np.isnan(y)
    if keep.sum() < 1:
        return float("nan")
    items, inv = np.unique(np.concatenate([a[keep], b[keep]]), return_inverse=True)
    m = int(keep.sum())
    ia, ib = inv[:m], inv[m:]
    scores = implied_scores(ia, ib, y[keep], n_items=items.size)
    returns = np.zeros(items.size)
    returns[ia], returns[ib] = r1[keep], r2[keep]
    if items.size < 2:
        return float("nan")
    return spearman(returns, scores)


def score_returns(first_returns: Any, second_returns: Any, labels: Any, *, first_ids: Any = None,
                  second_ids: Any = None, min_agreement: float = DEFAULT_MIN_AGREEMENT) -> HackingScore:
    """Agreement, rank correlation and distance of segment returns with labels, and the flag."""
    y = _labels(labels, np.asarray(first_returns).size)
    agree = agreement(first_returns, second_returns, y)
    rho = rank_correlation(first_returns, second_returns, y, first_ids, second_ids)
    dist = float(np.sqrt(max(0.0, (1.0 - rho) / 2.0))) if np.isfinite(rho) else float("nan")
    decisive = int(np.sum((y == 0.0) | (y == 1.0)))
    return HackingScore(agree, rho, dist, int(np.sum(~np.isnan(y))), decisive, float(min_agreement),
                        bool(np.isfinite(agree) and agree < min_agreement))


def _transition_info(batch: SegmentBatch, rows: np.ndarray, cols: np.ndarray) -> dict[str, Any]:
    info: dict[str, Any] = {k: v[rows, cols] for k, v in batch.extras.items() if k not in NOT_INFO}
    if batch.terms:
        info["reward_terms"] = {k: v[rows, cols] for k, v in batch.terms.items()}
    return info


def segment_rewards(reward_fn: Callable[..., Any], batch: SegmentBatch, *, chunk: int = 8192,
                    info: Callable[[SegmentBatch, np.ndarray, np.ndarray], Mapping[str, Any]] | None = None) -> np.ndarray:
    """(B,) the sum of ``reward_fn``'s rewards over each segment's real steps.

    ``reward_fn(obs, action, next_obs, info) -> (N,)`` is called on batches of at most ``chunk``
    transitions. ``next_obs`` is the ``next_obs`` extra when the segments have it, else the next
    step's observation (the last step's own); ``info`` holds the other per-step extras (the
    card's named quantities) and the reward terms, unless ``info`` builds it instead.
    """
    rows, cols = np.nonzero(batch.mask)
    if "next_obs" in batch.extras:
        next_obs = batch.extras["next_obs"]
    else:
        next_obs = np.concatenate([batch.obs[:, 1:], batch.obs[:, -1:]], axis=1)
    make_info = info or _transition_info
    out = np.zeros(len(batch))
    for lo in range(0, rows.size, int(chunk)):
        r, c = rows[lo:lo + chunk], cols[lo:lo + chunk]
        values = np.asarray(reward_fn(batch.obs[r, c], batch.actions[r, c], next_obs[r, c], make_info(batch, r, c)),
                            dtype=np.float64).reshape(-1)
        if values.shape != r.shape or not np.isfinite(values).all():
            raise ValueError(f"the reward gave {values.shape} values (finite: {bool(np.isfinite(values).all())}) "
                             f"for {r.size} transitions")
        np.add.at(out, r, values)
    return out


def score_reward(reward_fn: Callable[..., Any], first: SegmentBatch, second: SegmentBatch, labels: Any, *,
                 first_ids: Any = None, second_ids: Any = None,
                 min_agreement: float = DEFAULT_MIN_AGREEMENT) -> HackingScore:
    """Score ``reward_fn`` on labelled pairs ``(first[i], second[i])`` (see :func:`segment_rewards`
    and :func:`score_returns`)."""
    check_pair_batches(first, second)
    both = SegmentBatch.concatenate([first, second])
    returns = segment_rewards(reward_fn, both)
    n = len(first)
    return score_returns(returns[:n], returns[n:], labels, first_ids=first_ids, second_ids=second_ids,
                         min_agreement=min_agreement)
