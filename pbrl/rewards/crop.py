"""Temporal cropping of segment pairs: the augmentation SURF and QPA train reward models with.

A crop is a contiguous window of ``L`` steps inside a segment of ``S`` steps, with
``L`` drawn uniformly from ``[min_len, max_len]`` (clipped to ``S``) and its start uniformly
from ``[0, S - L]``, independently for each segment of a pair (SURF's
``get_cropping_mask``; QPA's ``train_reward_iter``). It is expressed as a boolean *mask*
over the segment, so a cropped segment's score is the masked sum of its per-step rewards
(:func:`pbrl.rewards.bradley_terry.segment_score`) and no array is reshaped or copied.
"""

from __future__ import annotations

import numpy as np
import torch


def crop_mask(shape: tuple[int, ...], length: int, min_len: int, max_len: int, rng: np.random.Generator) -> np.ndarray:
    """``shape + (length,)`` bool masks, each True on one random window of ``L`` steps.

    Args:
        shape: leading shape, e.g. ``(M, B, 2)`` (every segment gets its own window).
        length: ``S``, steps per stored segment.
        min_len, max_len: the window length's range, inclusive (clipped to ``[1, S]``).
        rng: numpy generator.
    """
    lo = int(min(max(1, min_len), length))
    hi = int(min(max(lo, max_len), length))
    size = rng.integers(lo, hi + 1, size=shape)
    start = rng.integers(0, length - size + 1)
    pos = np.arange(length)
    return (pos >= start[..., None]) & (pos < (start + size)[..., None])


def crop_mask_t(
    shape: tuple[int, ...], length: int, min_len: int, max_len: int, rng: np.random.Generator, device: torch.device,
    padding: torch.Tensor | None = None,
) -> torch.Tensor:  # fmt: skip
    """:func:`crop_mask` as a float tensor on ``device``, and-ed with the padding mask if any."""
    m = torch.from_numpy(crop_mask(shape, length, min_len, max_len, rng)).to(device)
    if padding is not None:
        m = m & padding.bool()
    return m.float()


__all__ = ["crop_mask", "crop_mask_t"]
