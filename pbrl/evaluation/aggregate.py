"""Aggregate statistics over runs and tasks, with rliable's definitions (Agarwal et al., 2021).

Scores come as a ``(runs, tasks)`` array per algorithm (normalized scores, e.g. ×100).

* :func:`iqm` — interquartile mean: the 25%-trimmed mean of all runs × tasks scores
  (``scipy.stats.trim_mean(scores, 0.25, axis=None)``: sort, drop ``int(0.25 n)`` from
  each end, average the rest);
* :func:`optimality_gap` — ``γ - mean(min(s, γ))`` (γ = 100 for ×100 scores);
* :func:`stratified_bootstrap` — resample runs with replacement *within each task*
  (never mixing tasks), ``reps`` times, and compute a statistic on each resample;
  :func:`interval_estimate` turns that into a percentile confidence interval;
* :func:`probability_of_improvement` — ``P(X > Y)``: for each task the Mann–Whitney
  ``U / (n m)`` (ties count ½), averaged over tasks.

Numpy only. rliable's defaults are 50 000 bootstrap repetitions; pbrl's 2 000 keep
the benchmarks' tables quick (pass ``reps`` for more).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

Statistic = Callable[[np.ndarray], float]


def _as_matrix(scores) -> np.ndarray:
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"scores must be a non-empty (runs, tasks) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("scores hold NaN/inf")
    return a


def iqm(scores) -> float:
    """Interquartile mean of all scores (runs × tasks flattened): the 25%-trimmed mean."""
    flat = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    cut = int(0.25 * flat.size)
    return float(flat[cut : flat.size - cut].mean())


def mean(scores) -> float:
    return float(np.mean(scores))


def median(scores) -> float:
    return float(np.median(scores))


def optimality_gap(scores, gamma: float = 100.0) -> float:
    """``γ - mean(min(s, γ))``: how far below the target γ the scores fall (lower is better)."""
    return float(gamma - np.mean(np.minimum(np.asarray(scores, dtype=np.float64), gamma)))


STATISTICS: dict[str, Statistic] = {"iqm": iqm, "mean": mean, "median": median, "optimality_gap": optimality_gap}


def stratified_bootstrap(scores, statistic: Statistic, reps: int = 2000, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """``reps`` values of ``statistic`` on resamples of the runs, drawn within each task.

    Args:
        scores: ``(runs, tasks)``.
        statistic: maps a ``(runs, tasks)`` array to a number.
        reps: bootstrap repetitions.
        seed: seed or generator of the resampling.
    """
    a = _as_matrix(scores)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n, t = a.shape
    cols = np.arange(t)
    out = np.empty(int(reps))
    for r in range(int(reps)):
        rows = rng.integers(0, n, size=(n, t))  # each task's runs resampled on their own
        out[r] = statistic(a[rows, cols])
    return out


def interval_estimate(
    scores, statistic: Statistic = iqm, reps: int = 2000, confidence: float = 0.95, seed: int | np.random.Generator | None = 0
) -> tuple[float, float, float]:
    """``(point estimate, low, high)``: the statistic and its percentile bootstrap interval."""
    a = _as_matrix(scores)
    samples = stratified_bootstrap(a, statistic, reps, seed)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(statistic(a)), float(low), float(high)


def probability_of_improvement(x, y) -> float:
    """``P(X > Y)`` of two algorithms' ``(runs, tasks)`` scores (same tasks, any run counts):
    per task the fraction of run pairs where X beats Y (ties ½), averaged over tasks."""
    a, b = _as_matrix(x), _as_matrix(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x has {a.shape[1]} tasks but y has {b.shape[1]}")
    diff = a[:, None, :] - b[None, :, :]  # (n, m, tasks)
    wins = (diff > 0).mean(axis=(0, 1)) + 0.5 * (diff == 0).mean(axis=(0, 1))
    return float(wins.mean())


def aggregate(
    scores: Mapping[str, np.ndarray],
    statistics: tuple[str, ...] = ("iqm", "mean", "median", "optimality_gap"),
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """For each algorithm's ``(runs, tasks)`` scores, each statistic's ``(point, low, high)``."""
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for algo, values in scores.items():
        out[algo] = {name: interval_estimate(values, STATISTICS[name], reps, confidence, seed) for name in statistics}
    return out


__all__ = [
    "STATISTICS",
    "aggregate",
    "interval_estimate",
    "iqm",
    "mean",
    "median",
    "optimality_gap",
    "probability_of_improvement",
    "stratified_bootstrap",
]
