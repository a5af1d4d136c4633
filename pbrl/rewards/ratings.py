"""Reward learning from ratings (RbRL, White et al. 2024), alone or mixed with pairs.

RbRL's rating loss, per minibatch and per ensemble member:

1. s = Σ_seg r̂ (the segment score), normalised in the batch: ŝ = (s − min s)/(max s − min s);
2. the class bounds come from the batch's ratings: with n_c ratings of class c, sort ŝ and
   take b_c = the sorted ŝ at the cumulative count of classes 0..c (b_{−1} = 0,
   b_{n−1} = 1) — the batch's own rating proportions set where each class begins;
3. class logits Q_c = −k·(ŝ − b_{c−1})·(ŝ − b_c), k = 30: positive inside bucket c,
   negative outside, most negative far from it;
4. cross-entropy of softmax(Q) with the rating.

The bounds are order statistics of the batch and are held fixed in the backward pass
(they move with ŝ from one step to the next); the gradient flows through ŝ. With pairs
as well, the loss is ``rating_weight · rating loss + Bradley–Terry loss`` on a batch
of each per step.

:class:`RatingRewardEnsemble` is :class:`~pbrl.rewards.RewardEnsemble` (same network,
prediction, saving and reward source) with :meth:`~RatingRewardEnsemble.fit_ratings`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..preferences.ratings import check_ratings, check_scale
from .bradley_terry import bradley_terry_loss, segment_score
from .ensemble import RewardEnsemble
from .model import validate_labels

__all__ = ["RatingFitResult", "RatingRewardEnsemble", "batch_bounds", "classes_from_scores", "rating_logits", "rating_loss"]

#: RbRL's sharpness of the class logits
RBRL_K = 30.0


def _normalise(scores: torch.Tensor) -> torch.Tensor:
    """Min–max normalisation over the last axis (the batch); a constant batch maps to 0.5."""
    lo = scores.min(-1, keepdim=True).values
    hi = scores.max(-1, keepdim=True).values
    span = hi - lo
    return torch.where(span > 1e-8, (scores - lo) / span.clamp_min(1e-8), torch.full_like(scores, 0.5))


def batch_bounds(normalised: torch.Tensor, ratings: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``(..., n + 1)`` class bounds ``[0, b_0, …, b_{n−2}, 1]`` from the batch's rating counts (detached)."""
    counts = torch.bincount(ratings.reshape(-1), minlength=n_classes)[:n_classes]
    b = normalised.shape[-1]
    position = torch.cumsum(counts, 0)[:-1].clamp(max=b - 1)  # where class c+1 begins in the sorted batch
    inner = normalised.detach().sort(-1).values[..., position]
    zeros = torch.zeros_like(inner[..., :1])
    return torch.cat([zeros, inner, zeros + 1.0], -1)


def rating_logits(scores: torch.Tensor, ratings: torch.Tensor, n_classes: int, k: float = RBRL_K) -> torch.Tensor:
    """RbRL's class logits ``(..., B, n)`` of segment scores ``(..., B)`` in a batch rated ``ratings`` (B,)."""
    s = _normalise(scores)
    bounds = batch_bounds(s, ratings, n_classes)  # (..., n + 1)
    s = s.unsqueeze(-1)
    return -k * (s - bounds[..., None, :-1]) * (s - bounds[..., None, 1:])


def rating_loss(
    scores: torch.Tensor, ratings: torch.Tensor, n_classes: int, *, k: float = RBRL_K, reduction: str = "mean"
) -> torch.Tensor:
    """RbRL's rating loss: cross-entropy of :func:`rating_logits` with the ratings.

    :param scores: segment scores ``(..., B)`` (e.g. ``(M, B)`` for an ensemble: each member normalises its own).
    :param ratings: ``(B,)`` int64 class indices 0..n−1.
    :param n_classes: the scale n.
    :param k: the logits' sharpness (RbRL: 30).
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(..., B)``).
    """
    logits = rating_logits(scores, ratings, n_classes, k)
    target = ratings.expand(logits.shape[:-1])
    loss = F.cross_entropy(logits.reshape(-1, n_classes), target.reshape(-1), reduction="none").reshape(target.shape)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def classes_from_scores(scores: np.ndarray, proportions: np.ndarray) -> np.ndarray:
    """Ratings predicted from scores: the lowest ``proportions[0]`` of the scores are class 0, and so on
    (the bounds the loss uses, on a whole set instead of a batch)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    p = np.asarray(proportions, dtype=np.float64).reshape(-1)
    cut = np.quantile(s, np.clip(np.cumsum(p / p.sum())[:-1], 0, 1)) if s.size else np.zeros(p.size - 1)
    return np.searchsorted(cut, s, side="left")


@dataclass
class RatingFitResult:
    """What :meth:`RatingRewardEnsemble.fit_ratings` did: epochs, the last epoch's mean rating loss,
    pair loss (NaN without pairs), rating accuracy on the training segments (classes by
    :func:`classes_from_scores`), and the counts."""

    epochs: int
    rating_loss: float
    pair_loss: float
    rating_accuracy: float
    n_ratings: int
    n_pairs: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RatingRewardEnsemble(RewardEnsemble):
    """A reward ensemble that also learns from ratings (RbRL's loss); see the module docstring.

    Takes :class:`~pbrl.rewards.RewardEnsemble`'s arguments. :meth:`fit` (pairs only)
    works unchanged; :meth:`fit_ratings` trains on ratings, with pairs optionally.
    """

    def _segments(self, obs: Any, actions: Any, mask: Any, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, H, in_dim)`` unnormalised inputs (through the pair checks, as one-sided pairs)."""
        o, a = np.asarray(obs), np.asarray(actions)
        if o.ndim != 3 or a.ndim != 3:
            raise ValueError(f"{name}: rated segments are (B, H, obs_dim) and (B, H, act_dim), got {o.shape} and {a.shape}")
        m = None if mask is None else (np.asarray(mask, dtype=bool), np.asarray(mask, dtype=bool))
        x, pm = self._prepare_pairs((o, o), (a, a), m)
        return x[:, 0], (None if pm is None else pm[:, 0])

    def segment_scores(self, obs: Any, actions: Any, *, mask: Any = None) -> np.ndarray:
        """``(M, B)`` each member's score of each segment ``(B, H, ·)``."""
        x, m = self._segments(obs, actions, mask, "segment_scores")
        b, h, d = x.shape
        with torch.no_grad():
            r = torch.cat([self._step_rewards(c) for c in self._normalize(x.reshape(-1, d)).split(self._chunk_rows())], 1)
        r = self._check_output(r, "segment rewards").reshape(self.n_members, b, h)
        return segment_score(r, self.segment_score, None if m is None else m.to(r.dtype)).cpu().numpy()

    def fit_ratings(
        self,
        obs: Any,
        actions: Any,
        ratings: Any,
        n_classes: int,
        *,
        mask: Any = None,
        pairs: tuple[Any, Any, Any] | None = None,
        pair_mask: Any = None,
        rating_weight: float = 1.0,
        k: float = RBRL_K,
        max_epochs: int | None = None,
        batch_size: int | None = None,
    ) -> RatingFitResult:
        """Train on rated segments (and pairs, when given).

        :param obs: ``(B, H, obs_dim)`` rated segments' observations.
        :param actions: ``(B, H, act_dim)``.
        :param ratings: ``(B,)`` classes 0..n_classes−1 (NaN = skipped, dropped).
        :param n_classes: the scale.
        :param mask: optional ``(B, H)`` bool mask of real steps.
        :param pairs: ``(obs, actions, labels)`` as :meth:`fit` takes them, trained alongside.
        :param pair_mask: the pairs' mask.
        :param rating_weight: the rating loss's weight against the pair loss.
        :param k: RbRL's logit sharpness.
        :param max_epochs: passes over the ratings (default: the model's ``max_epochs``).
        :param batch_size: segments (and pairs) per step, per member (default: the model's).
        :raises ValueError: bad shapes, ratings outside the scale, fewer than two ratings.
        """
        t0 = time.perf_counter()
        n = check_scale(n_classes)
        y_all = check_ratings(ratings, n, np.isnan(np.asarray(ratings, dtype=np.float64)))
        keep = ~np.isnan(y_all)
        if keep.sum() < 2:
            raise ValueError(f"training on ratings needs at least 2 rated segments, got {int(keep.sum())}")
        if not math.isfinite(rating_weight) or rating_weight <= 0:
            raise ValueError(f"rating_weight must be a positive number, got {rating_weight!r}")
        x, m = self._segments(obs, actions, mask, "fit_ratings")
        if x.shape[0] != y_all.size:
            raise ValueError(f"{x.shape[0]} rated segments but {y_all.size} ratings")
        kt = torch.from_numpy(keep).to(self.device)
        x, m = x[kt], (None if m is None else m[kt])
        y = torch.from_numpy(y_all[keep].astype(np.int64)).to(self.device)
        px = pm = py = None
        if pairs is not None:
            px, pm = self._prepare_pairs(pairs[0], pairs[1], pair_mask)
            labels, pkeep = validate_labels(pairs[2], px.shape[0])
            pk = torch.from_numpy(pkeep).to(self.device)
            px, pm, py = px[pk], (None if pm is None else pm[pk]), torch.from_numpy(labels[pkeep]).to(self.device)
        if self.normalize_inputs:
            rows = [x if m is None else x[m]]
            if px is not None:
                rows.append((px if pm is None else px[pm]).reshape(-1, px.shape[-1]))
            self.normalizer.fit(torch.cat([r.reshape(-1, x.shape[-1]) for r in rows]))
        x = self._normalize(x)
        px = None if px is None else self._normalize(px)
        epochs = self.max_epochs if max_epochs is None else int(max_epochs)
        bs = self.batch_size if batch_size is None else int(batch_size)
        if epochs < 1 or bs < 2:
            raise ValueError(f"max_epochs must be >= 1 and batch_size >= 2, got {epochs}, {bs}")
        snap = self._snapshot()
        b, h, d = x.shape
        mm = self.n_members
        fm = None if m is None else m.to(x.dtype)
        self.net.train()
        for epoch in range(epochs):
            order = torch.from_numpy(np.argsort(self._rng.random((mm, b)), axis=1)).to(self.device)
            r_sum = p_sum = 0.0
            steps = 0
            for start in range(0, b, bs):
                idx = order[:, start : start + bs]
                if idx.shape[1] < 2:
                    continue
                c = idx.shape[1]
                r = self.net(x[idx].reshape(mm, c * h, d)).reshape(mm, c, h)
                scores = segment_score(r, self.segment_score, None if fm is None else fm[idx])
                # each member: its own batch's ratings (the bounds come from them)
                loss_r = torch.stack([rating_loss(scores[j], y[idx[j]], n, k=k) for j in range(mm)]).sum()
                loss = rating_weight * loss_r
                if px is not None:
                    pidx = torch.from_numpy(self._rng.integers(0, px.shape[0], size=(mm, min(bs, px.shape[0])))).to(self.device)
                    pc = pidx.shape[1]
                    pr = self.net(px[pidx].reshape(mm, pc * 2 * h, d)).reshape(mm, pc, 2, h)
                    ps = segment_score(pr, self.segment_score, None if pm is None else pm[pidx].to(pr.dtype))
                    loss_p = bradley_terry_loss(ps[..., 0], ps[..., 1], py[pidx], reduction="none").mean(-1).sum()
                    loss = loss + loss_p
                    p_sum += float(loss_p.detach()) / mm
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                r_sum += float(loss_r.detach()) / mm
                steps += 1
            if not math.isfinite(r_sum + p_sum):
                self._raise_non_finite_loss(snap, epoch)
        self.net.eval()
        y_np = y.cpu().numpy()
        predicted = classes_from_scores(
            self.segment_scores(np.asarray(obs)[keep], np.asarray(actions)[keep], mask=None if mask is None else np.asarray(mask)[keep]).mean(0),
            np.bincount(y_np, minlength=n),
        )
        return RatingFitResult(
            epochs=epochs,
            rating_loss=r_sum / max(steps, 1),
            pair_loss=p_sum / max(steps, 1) if px is not None else math.nan,
            rating_accuracy=float((predicted == y_np).mean()),
            n_ratings=int(b),
            n_pairs=0 if px is None else int(px.shape[0]),
            seconds=time.perf_counter() - t0,
        )
