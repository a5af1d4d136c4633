"""SURF's reward model: pseudo-labels on unlabelled pairs and temporal cropping (Park et al., ICLR 2022).

alinlab/SURF (``reward_model_semi_dataaug.py``), as a :class:`RewardEnsemble` whose
gradient steps change in two ways:

1. **Temporal cropping.** Stored segments are ``S = H + 2w`` steps (the teacher judged
   the central ``H``). Each labelled pair is scored on random windows of
   ``L ~ U{H - c, ..., H + c}`` steps, one per segment (``crop_range`` c = 5).
2. **Pseudo-labels.** Each step also draws ``mu x batch`` pairs from the unlabelled pool.
   Each member labels them itself, without gradient, from the *uncropped central* ``H``
   steps: the label is the preferred side when ``max(P, 1 - P) >= threshold``
   (τ = 0.99), else the pair is masked out. The cropped pairs' cross-entropy against
   those labels, masked and averaged, times ``lam`` (λ = 1), is added to the loss.

Training runs the set number of epochs without stopping early (SURF's ``num_iters``).
A saved SURF model is an ordinary ``ensemble`` checkpoint (inference is the same).
"""

from __future__ import annotations

import torch

from .bradley_terry import bradley_terry_loss, segment_score
from .crop import crop_mask_t
from .ensemble import RewardEnsemble
from .model import PairArray


def pseudo_labels(p_second: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SURF's pseudo-labels from ``P(σ² ≻ σ¹)``: ``(labels in {0, 1}, confident)``, confident
    where ``max(P, 1 - P) >= threshold`` (only those pairs count in the loss)."""
    labels = (p_second > 0.5).to(p_second.dtype)
    confident = torch.maximum(p_second, 1.0 - p_second) >= threshold
    return labels, confident


class SURFEnsemble(RewardEnsemble):
    """A reward ensemble trained as SURF does (keyword arguments of :class:`RewardEnsemble`, plus):

    Args:
        threshold: τ, confidence a pseudo-label needs (SURF's ``threshold_u``; 0.99 in its scripts).
        mu: unlabelled pairs per labelled pair in a step (4 in its scripts).
        lam: λ, weight of the pseudo-label loss (1).
        window: w, steps cut beyond each end of the judged part (``dataaug_window``, 5).
        crop_range: c, the crop length's spread around H (5).
    """

    def __init__(self, *args, threshold: float = 0.99, mu: int = 4, lam: float = 1.0, window: int = 5, crop_range: int = 5, **kwargs):
        super().__init__(*args, **kwargs)
        self.threshold, self.mu, self.lam = float(threshold), int(mu), float(lam)
        self.window, self.crop_range = int(window), int(crop_range)
        self._pool: tuple[torch.Tensor, torch.Tensor | None] | None = None
        #: the last step's fraction of unlabelled pairs that got a pseudo-label (per member, averaged)
        self.last_confident = float("nan")

    def set_unlabelled(self, obs: PairArray, actions: PairArray, mask: PairArray | None = None) -> None:
        """The unlabelled pool (pairs of ``S``-step segments) pseudo-labels are drawn from."""
        self._pool = self._prepare_pairs(obs, actions, mask)

    def _core(self, length: int) -> int:
        return max(1, length - 2 * self.window)

    def _batch_mask(self, mask, shape):
        m, c, _, length = shape
        h = self._core(length)
        return crop_mask_t((m, c, 2), length, h - self.crop_range, h + self.crop_range, self._rng, self.device, mask)

    def _extra_loss(self, batch_size: int) -> torch.Tensor | None:
        if self._pool is None or self.lam == 0.0:
            return None
        x, pad = self._pool
        m, k = self.n_members, self.mu * batch_size
        idx = torch.from_numpy(self._rng.integers(0, x.shape[0], size=(m, k))).to(self.device)
        xb = self._normalize(x[idx])  # (M, k, 2, S, d)
        length = xb.shape[3]
        r = self.net(xb.reshape(m, k * 2 * length, -1)).reshape(m, k, 2, length)
        padb = None if pad is None else pad[idx]
        with torch.no_grad():  # each member's label from the uncropped central H steps
            centre = torch.zeros(length, dtype=torch.bool, device=self.device)
            centre[self.window : self.window + self._core(length)] = True
            cm = centre.expand(m, k, 2, length) if padb is None else centre & padb
            s = segment_score(r, self.segment_score, cm.float())
            labels, confident = pseudo_labels(torch.sigmoid(s[..., 1] - s[..., 0]), self.threshold)
            self.last_confident = float(confident.float().mean())
        s = segment_score(r, self.segment_score, self._batch_mask(padb, (m, k, 2, length)))
        losses = bradley_terry_loss(s[..., 0], s[..., 1], labels, reduction="none")  # (M, k)
        return self.lam * (losses * confident).mean(-1).sum()


__all__ = ["SURFEnsemble", "pseudo_labels"]
