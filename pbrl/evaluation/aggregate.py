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

* :func:`probability_of_improvement_interval` — the same with a CI, from
  rliable's *independent* stratified bootstrap (X's and Y's runs resampled apart,
  each within its task).
* :func:`performance_profile` — rliable's run-score distribution: for each threshold τ
  the fraction of runs with a score above τ (per task, averaged over tasks);
  :func:`performance_profile_interval` adds its stratified-bootstrap band.

Scores may also come *ragged*: a mapping ``{task: 1-D array of runs}`` (tasks with
different numbers of runs, as ``pbrl compare`` finds them; tasks are matched by key). Resampling is then
within each task as before, and a statistic sees the runs of all tasks together
(for equal run counts this is exactly the ``(runs, tasks)`` case).

The bootstrap is vectorised: each task's resamples are drawn at once and pbrl's
statistics are computed on the whole ``(reps, runs × tasks)`` array (in chunks that
bound memory); the probability of improvement of a resample is its run counts weighted
by the pairwise win matrix. :data:`DEFAULT_REPS` is rliable's 50 000: with the
vectorised bootstrap it costs milliseconds for pbrl's data shapes, and fewer
repetitions leave the interval ends visibly noisy (``benchmarks/bootstrap_reps.py``
measures both).

Numpy only.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping

import numpy as np

Statistic = Callable[[np.ndarray], float]

#: bootstrap repetitions by default (see :mod:`benchmarks.bootstrap_reps`)
DEFAULT_REPS = 50_000


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


def _is_ragged(scores) -> bool:
    return isinstance(scores, Mapping)


def _strata(scores) -> list[np.ndarray]:
    """One 1-D array of runs per task, from a ``(runs, tasks)`` array or a ragged ``{task: runs}`` mapping."""
    if _is_ragged(scores):
        if not scores:
            raise ValueError("scores name no task")
        out = [np.asarray(scores[k], dtype=np.float64).reshape(-1) for k in sorted(scores)]
        if any(s.size == 0 for s in out):
            raise ValueError("every task needs at least one run")
        if not all(np.isfinite(s).all() for s in out):
            raise ValueError("scores hold NaN/inf")
        return out
    a = _as_matrix(scores)
    return [a[:, j] for j in range(a.shape[1])]


#: at most this many resampled scores are held at once (the repetitions go in chunks of
#: ``_CHUNK_VALUES // runs``: ~2 MB, in cache, however many ``reps``)
_CHUNK_VALUES = 1 << 18


def _chunks(reps: int, per_rep: int) -> list[int]:
    size = max(1, _CHUNK_VALUES // max(1, per_rep))
    return [min(size, reps - start) for start in range(0, reps, size)]


def _draw(strata: list[np.ndarray], count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` resamples at once: per task a ``(count, runs)`` array of indices into its runs."""
    return [rng.integers(0, s.size, size=(count, s.size)) for s in strata]


def _batch_trimmed(values: np.ndarray) -> np.ndarray:
    flat = np.sort(values, axis=1)
    cut = int(0.25 * flat.shape[1])
    return flat[:, cut : flat.shape[1] - cut].mean(axis=1)


def _batch_gap(gamma: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda values: gamma - np.minimum(values, gamma).mean(axis=1)


def _batched(statistic: Statistic) -> Callable[[np.ndarray], np.ndarray] | None:
    """The statistic over a ``(reps, values)`` array, one value per row, where one is known:
    pbrl's own statistics, ``functools.partial(optimality_gap, gamma=…)``, or a callable's
    ``batched`` attribute. ``None`` for any other callable (it is then called once per resample)."""
    builtin = {
        iqm: _batch_trimmed,
        mean: lambda v: v.mean(axis=1),
        median: lambda v: np.median(v, axis=1),
        optimality_gap: _batch_gap(100.0),
    }
    for known, batched in builtin.items():
        if statistic is known:
            return batched
    partial = isinstance(statistic, functools.partial)
    if partial and statistic.func is optimality_gap and not statistic.args and set(statistic.keywords) <= {"gamma"}:
        return _batch_gap(float(statistic.keywords.get("gamma", 100.0)))
    return getattr(statistic, "batched", None)


def optimality_gap_at(gamma: float) -> Statistic:
    """The optimality gap with threshold ``gamma`` as a one-argument statistic (bootstrapped vectorised)."""

    def statistic(scores) -> float:
        return optimality_gap(scores, gamma)

    statistic.batched = _batch_gap(float(gamma))  # type: ignore[attr-defined]
    return statistic


def stratified_bootstrap(
    scores, statistic: Statistic, reps: int = DEFAULT_REPS, seed: int | np.random.Generator | None = 0
) -> np.ndarray:
    """``reps`` values of ``statistic`` on resamples of the runs, drawn within each task.

    All resamples of a task are drawn at once; pbrl's statistics (:data:`STATISTICS`,
    :func:`optimality_gap_at`, or a callable with a ``batched`` attribute mapping a
    ``(reps, values)`` array to ``(reps,)``) are then computed on the whole
    ``(reps, runs × tasks)`` array; any other callable is called once per resample.

    Args:
        scores: ``(runs, tasks)``, or a ragged ``{task: runs}`` mapping (the statistic
            then gets the resampled runs of all tasks as one 1-D array).
        statistic: maps a ``(runs, tasks)`` array to a number.
        reps: bootstrap repetitions.
        seed: seed or generator of the resampling.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    reps = int(reps)
    ragged = _is_ragged(scores)
    strata = _strata(scores)
    batched = _batched(statistic)
    out = np.empty(reps)
    start = 0
    for count in _chunks(reps, sum(s.size for s in strata)):
        drawn = [s[idx] for s, idx in zip(strata, _draw(strata, count, rng))]
        # (count, runs of all tasks) for ragged scores, (count, runs, tasks) for a matrix
        values = np.concatenate(drawn, axis=1) if ragged else np.stack(drawn, axis=-1)
        if batched is not None:
            out[start : start + count] = batched(values.reshape(count, -1))
        else:
            out[start : start + count] = [statistic(v) for v in values]
        start += count
    return out


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def interval_estimate(
    scores, statistic: Statistic = iqm, reps: int = DEFAULT_REPS, confidence: float = 0.95, seed: int | np.random.Generator | None = 0
) -> tuple[float, float, float]:
    """``(point estimate, low, high)``: the statistic and its percentile bootstrap interval."""
    point_of = np.concatenate(_strata(scores)) if _is_ragged(scores) else _as_matrix(scores)
    samples = stratified_bootstrap(scores, statistic, reps, seed)
    low, high = _percentile_interval(samples, confidence)
    return float(statistic(point_of)), low, high


def _poi(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    wins = []
    for xs, ys in zip(a, b):
        diff = xs[:, None] - ys[None, :]  # Mann-Whitney U / (n m), ties count 1/2
        wins.append((diff > 0).mean() + 0.5 * (diff == 0).mean())
    return float(np.mean(wins))


def _counts(indices: np.ndarray, size: int) -> np.ndarray:
    """``(reps, size)``: how often each run appears in each resample of ``(reps, k)`` indices."""
    reps = indices.shape[0]
    flat = (indices + size * np.arange(reps)[:, None]).reshape(-1)
    return np.bincount(flat, minlength=reps * size).reshape(reps, size).astype(np.float64)


def _pair(x, y) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if _is_ragged(x) and _is_ragged(y) and set(x) != set(y):
        raise ValueError(f"x and y must name the same tasks, got {sorted(x)} and {sorted(y)}")
    return _strata(x), _strata(y)


def probability_of_improvement(x, y) -> float:
    """``P(X > Y)`` of two algorithms' ``(runs, tasks)`` scores (same tasks, any run counts):
    per task the fraction of run pairs where X beats Y (ties ½), averaged over tasks.

    Ragged ``{task: runs}`` mappings work too (both must name the same tasks)."""
    a, b = _pair(x, y)
    if len(a) != len(b):
        raise ValueError(f"x has {len(a)} tasks but y has {len(b)}")
    return _poi(a, b)


def probability_of_improvement_interval(
    x, y, reps: int = DEFAULT_REPS, confidence: float = 0.95, seed: int | np.random.Generator | None = 0
) -> tuple[float, float, float]:
    """``(P(X > Y), low, high)`` with rliable's independent stratified bootstrap:
    X's and Y's runs are resampled separately, each within its task."""
    a, b = _pair(x, y)
    if len(a) != len(b):
        raise ValueError(f"x has {len(a)} tasks but y has {len(b)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    reps = int(reps)
    # per task, whether each (x run, y run) pair is a win for X (ties ½): a resample's P(X > Y)
    # is then its run counts weighted by it, cx · W · cy / (n m)
    wins = [(xs[:, None] > ys[None, :]) + 0.5 * (xs[:, None] == ys[None, :]) for xs, ys in zip(a, b)]
    samples = np.zeros(reps)
    start = 0
    for count in _chunks(reps, max(w.size for w in wins)):
        # X's resamples of every task, then Y's, as in rliable's independent bootstrap
        cx = [_counts(idx, s.size) for s, idx in zip(a, _draw(a, count, rng))]
        cy = [_counts(idx, s.size) for s, idx in zip(b, _draw(b, count, rng))]
        for w, n, m in zip(wins, cx, cy):
            samples[start : start + count] += ((n @ w) * m).sum(axis=1) / w.size
        start += count
    samples /= len(wins)
    low, high = _percentile_interval(samples, confidence)
    return _poi(a, b), low, high


def performance_profile(scores, taus) -> np.ndarray:
    """For each τ in ``taus``, the fraction of runs with a score above τ: per task, then
    averaged over tasks (rliable's run-score distribution; for equal run counts the
    fraction of all runs × tasks scores above τ)."""
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)
    return np.mean([(s[:, None] > taus[None, :]).mean(axis=0) for s in _strata(scores)], axis=0)


def performance_profile_interval(
    scores, taus, reps: int = DEFAULT_REPS, confidence: float = 0.95, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(profile, low, high)`` over ``taus``: :func:`performance_profile` and, at each τ, its
    percentile interval from the stratified bootstrap (runs resampled within each task)."""
    taus = np.asarray(taus, dtype=np.float64).reshape(-1)
    strata = _strata(scores)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    reps = int(reps)
    # a resample's fraction above τ is its run counts weighted by "this run is above τ"
    above = [(s[:, None] > taus[None, :]).astype(np.float64) / s.size for s in strata]
    samples = np.zeros((reps, taus.size))
    start = 0
    for count in _chunks(reps, max(s.size for s in strata) * taus.size):
        for s, idx, a in zip(strata, _draw(strata, count, rng), above):
            samples[start : start + count] += _counts(idx, s.size) @ a
        start += count
    samples /= len(strata)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return performance_profile(scores, taus), low, high


def aggregate(
    scores: Mapping[str, np.ndarray],
    statistics: tuple[str, ...] = ("iqm", "mean", "median", "optimality_gap"),
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """For each algorithm's ``(runs, tasks)`` scores, each statistic's ``(point, low, high)``."""
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for algo, values in scores.items():
        out[algo] = {name: interval_estimate(values, STATISTICS[name], reps, confidence, seed) for name in statistics}
    return out


__all__ = [
    "DEFAULT_REPS",
    "STATISTICS",
    "aggregate",
    "interval_estimate",
    "iqm",
    "mean",
    "median",
    "optimality_gap",
    "optimality_gap_at",
    "performance_profile",
    "performance_profile_interval",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "stratified_bootstrap",
]
