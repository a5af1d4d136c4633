"""Query selection: which pairs of segments to ask the teacher about (B-Pref).

Methods (B-Pref's ``reward_model.py``):

* ``uniform`` — ``n`` pairs sampled uniformly;
* ``disagreement`` — a candidate pool of ``n × large_batch`` pairs; keep the ``n``
  with the largest std over the ensemble of P(σ¹ ≻ σ²);
* ``entropy`` — the same pool; keep the ``n`` with the largest ensemble-mean binary
  entropy of P(σ¹ ≻ σ²);
* ``kcenter`` — the same pool; greedily keep the candidate farthest (Euclidean,
  over the pair's concatenated observations) from everything already chosen and
  every already-labelled pair (max-min distance, k-center greedy);
* ``kcenter_disagreement`` / ``kcenter_entropy`` — keep the top half of the pool
  by disagreement / entropy, then k-center on that half.

The first round of a loop is uniform whatever the method (B-Pref), since
neither a trained ensemble nor labelled pairs exist yet.

The ensemble enters as a callable ``ensemble(first, second) -> (n_members, n_pairs)``
array of probabilities P(σ¹ ≻ σ²) (the complement works equally: both criteria are
symmetric), so this module needs no torch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .sampler import SegmentSampler
from .segments import SegmentBatch, check_pair_batches

__all__ = [
    "METHODS",
    "EnsembleFn",
    "QuerySelector",
    "disagreement",
    "ensemble_entropy",
    "kcenter_greedy",
    "pair_features",
    "select_indices",
]

#: Query-selection methods.
METHODS = ("uniform", "disagreement", "entropy", "kcenter", "kcenter_disagreement", "kcenter_entropy")
_NEEDS_ENSEMBLE = {"disagreement", "entropy", "kcenter_disagreement", "kcenter_entropy"}

EnsembleFn = Callable[[SegmentBatch, SegmentBatch], np.ndarray]


def _probs(probs: np.ndarray, n_pairs: int | None = None) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2:
        raise ValueError(f"ensemble probabilities must be (n_members, n_pairs), got shape {p.shape}")
    if n_pairs is not None and p.shape[1] != n_pairs:
        raise ValueError(f"ensemble returned probabilities for {p.shape[1]} pairs, expected {n_pairs}")
    if not np.isfinite(p).all():
        raise ValueError("ensemble probabilities contain NaN or inf (is the reward model diverging?)")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"ensemble probabilities must lie in [0, 1], got range [{p.min()}, {p.max()}]")
    return p


def disagreement(probs: np.ndarray) -> np.ndarray:
    """(n,) std over ensemble members of P(σ¹ ≻ σ²); ``probs`` is (n_members, n)."""
    return _probs(probs).std(axis=0)


def ensemble_entropy(probs: np.ndarray) -> np.ndarray:
    """(n,) mean over members of the binary entropy (nats) of P(σ¹ ≻ σ²)."""
    p = np.clip(_probs(probs), 1e-12, 1 - 1e-12)
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    return h.mean(axis=0)


def pair_features(first: SegmentBatch, second: SegmentBatch) -> np.ndarray:
    """(n, 2·H·obs_dim) float32: each pair's observations, flattened and concatenated
    (B-Pref's k-center space: states only)."""
    check_pair_batches(first, second)
    n = len(first)
    return np.concatenate([first.obs.reshape(n, -1), second.obs.reshape(n, -1)], axis=1).astype(np.float32)


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x, dtype=np.float64)


def _min_sq_dist(x: np.ndarray, ref: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(len(x),) squared distance from each row of x to its nearest row of ref."""
    out = np.full(len(x), np.inf)
    xn = _sq_norms(x)
    for lo in range(0, len(ref), chunk):
        r = ref[lo : lo + chunk]
        d = xn[:, None] + _sq_norms(r)[None, :] - 2.0 * (x @ r.T).astype(np.float64)
        np.minimum(out, d.min(axis=1), out=out)
    return np.maximum(out, 0.0)


def kcenter_greedy(
    candidates: np.ndarray,
    reference: np.ndarray | None,
    k: int,
    *,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Greedy k-center: repeatedly pick the candidate whose distance to the nearest
    already-picked candidate or ``reference`` row is largest.

    Args:
        candidates: (P, d) features of the candidate pairs.
        reference: (M, d) features of already-labelled pairs, or None / empty.
        k: how many to pick (at most P).
        rng: picks the first candidate when there is no reference (else unused).

    Returns:
        (k,) indices into ``candidates``, in the order picked.
    """
    x = np.asarray(candidates, dtype=np.float32)
    p = len(x)
    k = int(k)
    if not 0 <= k <= p:
        raise ValueError(f"cannot pick {k} of {p} candidates")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    x = x.reshape(p, -1)
    if reference is not None and len(reference):
        ref = np.asarray(reference, dtype=np.float32).reshape(len(reference), -1)
        if ref.shape[1] != x.shape[1]:
            raise ValueError(f"reference features have dimension {ref.shape[1]}, candidates {x.shape[1]}")
        mind = _min_sq_dist(x, ref)
    else:
        mind = np.full(p, np.inf)
    xn = _sq_norms(x)
    picked = np.empty(k, dtype=np.int64)
    rng = np.random.default_rng(rng)  # a Generator is used as it is
    for j in range(k):
        if np.isinf(mind).all():
            i = int(rng.integers(p))
        else:
            i = int(np.argmax(mind))
        picked[j] = i
        d = xn + xn[i] - 2.0 * (x @ x[i]).astype(np.float64)
        np.minimum(mind, np.maximum(d, 0.0), out=mind)
        mind[picked[: j + 1]] = -np.inf
    return picked


def select_indices(
    method: str,
    n: int,
    first: SegmentBatch,
    second: SegmentBatch,
    *,
    ensemble: EnsembleFn | None = None,
    labelled: np.ndarray | tuple[SegmentBatch, SegmentBatch] | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Pick ``n`` of the candidate pairs ``(first[i], second[i])`` with ``method``.

    Args:
        method: one of :data:`METHODS`.
        n: pairs to pick.
        first, second: the candidate pool.
        ensemble: ``(first, second) -> (n_members, n_pairs)`` P(σ¹ ≻ σ²); needed by
            the disagreement and entropy methods.
        labelled: already-labelled pairs, as ``(first, second)`` batches or their
            :func:`pair_features`; used by the k-center methods.
        rng: used by ``uniform`` and to start k-center without labelled pairs.

    Returns:
        (n,) indices into the pool.
    """
    if method not in METHODS:
        raise ValueError(f"unknown query-selection method {method!r}; methods: {', '.join(METHODS)}")
    check_pair_batches(first, second)
    pool = len(first)
    n = int(n)
    if not 0 <= n <= pool:
        raise ValueError(f"cannot select {n} queries from a pool of {pool}")
    rng = np.random.default_rng(rng)  # a Generator is used as it is
    if method == "uniform":
        return rng.choice(pool, size=n, replace=False)
    candidates = np.arange(pool)
    if method in _NEEDS_ENSEMBLE:
        if ensemble is None:
            raise ValueError(f"query selection {method!r} needs the reward-model ensemble (ensemble=...)")
        probs = _probs(ensemble(first, second), pool)
        score = disagreement(probs) if "disagreement" in method else ensemble_entropy(probs)
        order = np.argsort(-score, kind="stable")
        if method in ("disagreement", "entropy"):
            return order[:n]
        candidates = order[: max(n, pool // 2)]
    feats = pair_features(first[candidates], second[candidates])  # type: ignore[index]
    if isinstance(labelled, tuple):
        ref = pair_features(*labelled) if len(labelled[0]) else None
    else:
        ref = labelled
    return candidates[kcenter_greedy(feats, ref, n, rng=rng)]


class QuerySelector:
    """Chooses each round's queries from a segment sampler, B-Pref style.

    Args:
        method: one of :data:`METHODS`.
        batch_size: queries per round (B-Pref's ``mb_size``).
        large_batch: candidate pool = ``batch_size × large_batch`` pairs (default 10).
        first_round_uniform: the first round is uniform whatever the method.
        seed: an int, a ``numpy.random.Generator`` or None.

    Attributes:
        rounds: rounds selected so far.
    """

    def __init__(
        self,
        method: str = "uniform",
        batch_size: int = 128,
        *,
        large_batch: int = 10,
        first_round_uniform: bool = True,
        seed: int | np.random.Generator | None = None,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown query-selection method {method!r}; methods: {', '.join(METHODS)}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if int(large_batch) != large_batch or large_batch < 1:
            raise ValueError(f"large_batch must be a positive int, got {large_batch!r}")
        self.method = method
        self.batch_size = int(batch_size)
        self.large_batch = int(large_batch)
        self.first_round_uniform = bool(first_round_uniform)
        self.rng = np.random.default_rng(seed)  # a Generator is used as it is
        self.rounds = 0

    def select(
        self,
        sampler: SegmentSampler,
        *,
        ensemble: EnsembleFn | None = None,
        labelled: np.ndarray | tuple[SegmentBatch, SegmentBatch] | None = None,
        n: int | None = None,
    ) -> tuple[SegmentBatch, SegmentBatch]:
        """Sample a candidate pool from ``sampler`` and return the chosen pairs.

        Args:
            sampler: where segments come from.
            ensemble: ``(first, second) -> (n_members, n_pairs)`` P(σ¹ ≻ σ²).
            labelled: already-labelled pairs (k-center methods).
            n: queries this round (default ``batch_size``).

        Returns:
            ``(first, second)`` batches of the chosen pairs.
        """
        n = self.batch_size if n is None else int(n)
        method = self.method
        if self.rounds == 0 and self.first_round_uniform:
            method = "uniform"
        if method == "uniform":
            first, second = sampler.sample_pairs(n)
        else:
            pool_first, pool_second = sampler.sample_pairs(n * self.large_batch)
            idx = select_indices(
                method, n, pool_first, pool_second, ensemble=ensemble, labelled=labelled, rng=self.rng
            )
            first, second = pool_first[idx], pool_second[idx]  # type: ignore[assignment]
        self.rounds += 1
        return first, second  # type: ignore[return-value]

    def state_dict(self) -> dict:
        """JSON-ready state for resuming (round count and generator state)."""
        return {"method": self.method, "rounds": self.rounds, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.rounds = int(state["rounds"])
        self.rng.bit_generator.state = state["rng"]
