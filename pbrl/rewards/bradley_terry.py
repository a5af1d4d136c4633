"""The Bradley–Terry preference loss (Christiano et al. 2017; B-Pref), and a segment's score.

``P(σ² ≻ σ¹) = σ(score(σ²) − score(σ¹))`` with ``score`` the sum (B-Pref) or mean
(Preference Transformer's code) of the per-step rewards; the loss is the cross-entropy
of that probability with the label (``1``: σ² preferred, ``0``: σ¹, ``0.5``: equal).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Ways of turning per-step rewards into a segment's score.
SEGMENT_SCORES = ("sum", "mean")


def bradley_terry_loss(
    score_1: torch.Tensor,
    score_2: torch.Tensor,
    labels: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of the Bradley–Terry preference model with soft targets.

    ``P(σ² ≻ σ¹) = exp s² / (exp s¹ + exp s²)`` where ``s`` is a segment's score (the sum
    or the mean of its per-step rewards). The target distribution over (σ¹, σ²) is
    ``(1 - label, label)``: ``(1, 0)``, ``(0, 1)`` or ``(½, ½)`` for a tie, so the loss is
    ``-(1 - y) log P(σ¹ ≻ σ²) - y log P(σ² ≻ σ¹)``, computed stably with log-softmax.

    :param score_1: scores of the first segments, any shape ``(..., B)``.
    :param score_2: scores of the second segments, same shape as ``score_1``.
    :param labels: labels in {0, 1, 0.5} (1 = second segment preferred), broadcastable
        to ``score_1``.
    :param reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.
    :return: the loss (a scalar, or the unreduced per-pair losses).
    """
    logits = torch.stack([score_1, score_2], dim=-1)
    labels = torch.as_tensor(labels, dtype=logits.dtype, device=logits.device).expand_as(score_1)
    target = torch.stack([1.0 - labels, labels], dim=-1)
    loss = -(target * F.log_softmax(logits, dim=-1)).sum(-1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def segment_score(step_rewards: torch.Tensor, mode: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """A segment's score from its per-step rewards (over the last axis).

    :param step_rewards: per-step rewards ``(..., H)``.
    :param mode: ``"sum"`` (B-Pref) or ``"mean"`` (Preference Transformer's code).
    :param mask: optional ``(..., H)`` validity mask (1 = real step, 0 = padding).
    :return: the scores, shape ``(...)``.
    """
    if mask is not None:
        step_rewards = step_rewards * mask
    if mode == "sum":
        return step_rewards.sum(-1)
    if mode == "mean":
        n = step_rewards.shape[-1] if mask is None else mask.sum(-1).clamp_min(1)
        return step_rewards.sum(-1) / n
    raise ValueError(f"segment_score must be one of {SEGMENT_SCORES}, got {mode!r}")
