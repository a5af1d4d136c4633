"""The one segment sampler: windows of ``H`` steps inside single episodes.

:class:`SegmentSampler` draws from whatever finished episodes a
:class:`~pbrl.preferences.TrajectoryBuffer` holds (online rollouts and offline
datasets alike), with vectorised index arithmetic and a seeded generator.

Episodes shorter than ``H`` (early terminations, e.g. a falling Hopper) are
handled by ``short_episodes``:

* ``"pad"`` (default): the whole episode is one window, padded to ``H`` steps with
  an absorbing state: the last observation (and extras) repeated, zero action, zero
  reward and zero terms, and ``mask`` False on the padding. Sums of rewards and
  terms over a segment are therefore the sums over its real steps.
* ``"skip"``: such episodes are never sampled (an error if no episode is long
  enough).
"""

from __future__ import annotations

import numpy as np

from .buffer import TrajectoryBuffer
from .segments import SegmentBatch

__all__ = ["SegmentSampler"]


class SegmentSampler:
    """Draws windows of ``horizon`` steps inside single episodes of a buffer.

    One sampler for online and offline data: it reads whatever finished episodes
    the :class:`TrajectoryBuffer` holds at the time of each call.

    Args:
        buffer: the trajectory buffer.
        horizon: H, steps per segment (B-Pref and PEBBLE use 50).
        short_episodes: ``"pad"`` (an episode shorter than H is one window, padded
            with its absorbing last state, ``mask`` False there) or ``"skip"``
            (never sample such episodes).
        weighting: ``"window"`` (every possible window of every episode equally
            likely, so longer episodes give proportionally more segments) or
            ``"episode"`` (pick an episode uniformly, then a start uniformly; B-Pref).
        seed: an int, a ``numpy.random.Generator`` or None.
    """

    def __init__(
        self,
        buffer: TrajectoryBuffer,
        horizon: int = 50,
        *,
        short_episodes: str = "pad",
        weighting: str = "window",
        seed: int | np.random.Generator | None = None,
    ):
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive int, got {horizon!r}")
        if short_episodes not in ("pad", "skip"):
            raise ValueError(f"short_episodes must be 'pad' or 'skip', got {short_episodes!r}")
        if weighting not in ("window", "episode"):
            raise ValueError(f"weighting must be 'window' or 'episode', got {weighting!r}")
        self.buffer = buffer
        self.horizon = int(horizon)
        self.short_episodes = short_episodes
        self.weighting = weighting
        self.rng = np.random.default_rng(seed)  # a Generator is used as it is

    def window_counts(self) -> np.ndarray:
        """(E,) number of windows each held episode offers."""
        lengths = self.buffer.episode_lengths
        counts = np.maximum(lengths - self.horizon + 1, 0)
        if self.short_episodes == "pad":
            counts = np.maximum(counts, 1)
        return counts

    def sample(self, n: int) -> SegmentBatch:
        """``n`` segments, each a window of one episode.

        Raises:
            ValueError: if the buffer holds no finished episode, or (with
                ``short_episodes="skip"``) none with at least ``horizon`` steps.
        """
        if int(n) != n or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        n = int(n)
        buf = self.buffer
        if buf.num_episodes == 0:
            raise ValueError(
                "the trajectory buffer holds no finished episode yet; sample after episodes end "
                "(or call buffer.end_episodes())"
            )
        counts = self.window_counts()
        total = int(counts.sum())
        if total == 0:
            longest = int(buf.episode_lengths.max())
            raise ValueError(
                f"no episode has {self.horizon} steps (the longest has {longest}); "
                "use short_episodes='pad' or a shorter horizon"
            )
        if self.weighting == "window":
            cum = np.cumsum(counts)
            u = self.rng.integers(0, total, size=n)
            rows = np.searchsorted(cum, u, side="right")
            offsets = u - (cum[rows] - counts[rows])
        else:
            eligible = np.flatnonzero(counts > 0)
            rows = eligible[self.rng.integers(0, eligible.size, size=n)]
            offsets = self.rng.integers(0, counts[rows]) if n else np.zeros(0, np.int64)
        return buf.windows(rows.astype(np.int64), np.asarray(offsets, dtype=np.int64), self.horizon)

    def state_dict(self) -> dict:
        """JSON-ready state (settings and generator state) for resuming."""
        return {
            "horizon": self.horizon,
            "short_episodes": self.short_episodes,
            "weighting": self.weighting,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the generator continues where it was)."""
        self.rng.bit_generator.state = state["rng"]

    def sample_pairs(self, n: int) -> tuple[SegmentBatch, SegmentBatch]:
        """``n`` pairs of independently sampled segments, as (first, second) batches."""
        both = self.sample(2 * int(n))
        return both[: int(n)], both[int(n) :]  # type: ignore[return-value]
