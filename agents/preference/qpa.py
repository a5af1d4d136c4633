"""QPA: query-policy alignment and hybrid experience replay (Hu et al., ICLR 2024; huxiao09/QPA).

1. **Policy-aligned queries** (:class:`RecentEpisodeSampler`): query segments are cut only
   from the last ``N`` finished episodes (QPA's reward-model FIFO of
   ``max_reward_buffer_size`` episodes: 10 on DMC), i.e. from the current policy's
   behaviour, so the reward model is accurate where the policy is. Queries are uniform
   and the "ensemble" is one network (QPA's defaults; ``METHOD_DEFAULTS``).
2. **Hybrid experience replay** (:func:`hybrid_rows`, SAC only): while feedback is still
   being collected, a ``ratio`` (0.5) share of each SAC minibatch comes uniformly from the
   transitions of the last ``min(N, episodes - 1)`` episodes' worth of steps, the rest
   uniformly from the whole buffer; afterwards plain uniform replay.
3. **Temporal augmentation** of the reward model's training pairs: ``pbrl.rewards.qpa``.
"""

from __future__ import annotations

import numpy as np

from pbrl.preferences import SegmentSampler


class RecentEpisodeSampler(SegmentSampler):
    """A :class:`SegmentSampler` over the ``recent`` most recently finished episodes only."""

    def __init__(self, *args, recent: int = 10, **kwargs):
        super().__init__(*args, **kwargs)
        self.recent = int(recent)

    def window_counts(self) -> np.ndarray:
        counts = super().window_counts().copy()
        counts[: max(0, counts.size - self.recent)] = 0  # episodes are held oldest first
        return counts


def hybrid_rows(
    size: int, pos: int, buffer_size: int, batch: int, recent_rows: int, ratio: float, rng: np.random.Generator
) -> np.ndarray:
    """Replay-buffer rows of one hybrid batch: ``round(ratio·batch)`` from the ``recent_rows`` rows written
    last (before ``pos``, wrapping in a full ring), the rest uniform over the ``size`` rows held."""
    n_recent = int(round(ratio * batch)) if recent_rows > 0 else 0
    recent_rows = min(int(recent_rows), size)
    old = rng.integers(0, size, size=batch - n_recent)
    new = (pos - 1 - rng.integers(0, max(recent_rows, 1), size=n_recent)) % buffer_size
    return np.concatenate([old, new])


__all__ = ["RecentEpisodeSampler", "hybrid_rows"]
