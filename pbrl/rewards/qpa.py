"""QPA's reward model: temporal data augmentation (Hu et al., ICLR 2024; huxiao09/QPA ``train_reward_iter``).

Each labelled pair is seen ``aug_ratio`` (20) times per epoch, each time on a fresh random
crop of ``L ~ U{S - 15, ..., S - 5}`` steps per segment (35…45 for S = 50). QPA replicates
the pairs 20 times and shuffles; here an epoch is 20 passes over the pairs with fresh crops —
the same number of gradient steps and crops per pair, without a 20-fold copy of the data.
"""

from __future__ import annotations

import torch

from .crop import crop_mask_t
from .ensemble import RewardEnsemble


class QPAEnsemble(RewardEnsemble):
    """A reward ensemble (QPA uses one member) trained on cropped pairs.

    Args:
        aug_ratio: passes with fresh crops per epoch (QPA's ``data_aug_ratio``, 20).
        crop_min, crop_max: steps a crop leaves out, inclusive range (5, 15).
    """

    def __init__(self, *args, aug_ratio: int = 20, crop_min: int = 5, crop_max: int = 15, **kwargs):
        super().__init__(*args, **kwargs)
        self.aug_ratio, self.crop_min, self.crop_max = int(aug_ratio), int(crop_min), int(crop_max)

    def _batch_mask(self, mask, shape):
        m, c, _, length = shape
        return crop_mask_t((m, c, 2), length, length - self.crop_max, length - self.crop_min, self._rng, self.device, mask)

    def _train_epoch(self, x, mask, y, batch_size) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.aug_ratio):
            acc, loss = super()._train_epoch(x, mask, y, batch_size)
        return acc, loss


__all__ = ["QPAEnsemble"]
