"""Segments: windows of steps of one episode, alone or stacked in batches.

A *segment* is a window of ``H`` consecutive steps of one episode: the observation
each action was chosen from, the action, the true reward it earned, the reward
terms of the task (``info["reward_terms"]``), optional per-step extras (e.g. the
task card's named quantities, or ``qpos``/``qvel`` for rendering clips), and its
origin (a run or a dataset, which episode, which start step).

Hot paths work on batches: :class:`SegmentBatch` holds ``B`` segments as
``(B, H, ...)`` arrays plus per-segment origin arrays. Segments are cut from a
:class:`~pbrl.preferences.TrajectoryBuffer` (``buffer.py``) by the
:class:`~pbrl.preferences.SegmentSampler` (``sampler.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "ORIGIN_KINDS",
    "Origin",
    "Segment",
    "SegmentBatch",
    "SegmentShapeError",
    "check_pair_batches",
]

#: The kinds of source a segment can come from.
ORIGIN_KINDS = ("run", "dataset")


class SegmentShapeError(ValueError):
    """Arrays of a segment (or of a pair of segment batches) do not fit together."""


@dataclass(frozen=True)
class Origin:
    """Where a segment was cut from.

    Args:
        kind: ``"run"`` (an online rollout) or ``"dataset"`` (an offline dataset).
        source_id: the run or dataset id (e.g. a run folder name or a Minari id).
        episode: the episode's index in that source (``-1`` if unknown).
        start: the step of the episode the segment starts at (``-1`` if unknown).
    """

    kind: str = "run"
    source_id: str = ""
    episode: int = -1
    start: int = -1

    def __post_init__(self):
        if self.kind not in ORIGIN_KINDS:
            raise ValueError(f"origin kind must be one of {ORIGIN_KINDS}, got {self.kind!r}")


@dataclass(frozen=True, eq=False)
class Segment:
    """One window of ``H`` steps from one episode.

    Args:
        obs: (H, obs_dim) the observation each action was chosen from.
        actions: (H, act_dim) the actions.
        rewards: (H,) the true rewards.
        terms: reward term name -> (H,) weighted term values (their sum is the reward).
        origin: where the segment comes from.
        mask: (H,) bool, True on real steps and False on padding after the end of a
            short episode (default: all True).
        extras: name -> (H, ...) per-step extras (named quantities, qpos, ...).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terms: Mapping[str, np.ndarray] = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)
    mask: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        batch = SegmentBatch.from_segments([self])  # validates every shape
        for name, value in batch._steps_at(0).items():
            object.__setattr__(self, name, value)

    @property
    def horizon(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def total_reward(self) -> float:
        """Sum of the true rewards over the real steps."""
        return float(np.sum(self.rewards[self.mask]))


def _as_str_array(values, n: int, default: str, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=object).astype(str)
    if isinstance(values, str):
        return np.full(n, values, dtype=object).astype(str)
    arr = np.asarray(values).astype(str)
    if arr.shape != (n,):
        raise SegmentShapeError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


def _as_int_array(values, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, -1, dtype=np.int64)
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        raise SegmentShapeError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr.astype(np.int64)


class SegmentBatch:
    """``B`` segments of ``H`` steps as stacked arrays.

    Args:
        obs: (B, H, obs_dim) observations each action was chosen from.
        actions: (B, H, act_dim) actions.
        rewards: (B, H) true rewards.
        terms: reward term name -> (B, H) weighted term values.
        mask: (B, H) bool, False on padding after the end of a short episode
            (default: all True). Padded steps have zero action, reward and terms.
        extras: name -> (B, H, ...) per-step extras (named quantities, qpos, ...).
        origin_kind: (B,) ``"run"`` / ``"dataset"``, or one string for all (default ``"run"``).
        source_id: (B,) run or dataset ids, or one string for all (default ``""``).
        episode: (B,) episode index in the source (default -1, unknown).
        start: (B,) start step in the episode (default -1, unknown).

    ``horizon`` (H), ``obs_dim`` and ``act_dim`` give the shapes, ``shape_key`` all three.
    Indexing with an int gives a :class:`Segment`; with a slice, a boolean mask or an
    index array it gives a :class:`SegmentBatch`. Arrays are not copied.

    Raises:
        SegmentShapeError: when the arrays' shapes do not fit together.
    """

    def __init__(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terms: Mapping[str, np.ndarray] | None = None,
        mask: np.ndarray | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        origin_kind: Sequence[str] | str | None = None,
        source_id: Sequence[str] | str | None = None,
        episode: Sequence[int] | np.ndarray | None = None,
        start: Sequence[int] | np.ndarray | None = None,
    ):
        obs = np.asarray(obs)
        actions = np.asarray(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        if obs.ndim != 3:
            raise SegmentShapeError(f"obs must be (B, H, obs_dim), got shape {obs.shape}")
        b, h = obs.shape[:2]
        if actions.ndim != 3 or actions.shape[:2] != (b, h):
            raise SegmentShapeError(
                f"actions must be (B, H, act_dim) = ({b}, {h}, act_dim) to match obs {obs.shape}, got {actions.shape}"
            )
        if rewards.shape != (b, h):
            raise SegmentShapeError(f"rewards must be (B, H) = ({b}, {h}) to match obs {obs.shape}, got {rewards.shape}")
        if mask is None:
            mask = np.ones((b, h), dtype=bool)
        mask = np.asarray(mask)
        if mask.shape != (b, h) or mask.dtype != np.bool_:
            raise SegmentShapeError(f"mask must be a bool array of shape ({b}, {h}), got {mask.dtype} {mask.shape}")
        checked_terms: dict[str, np.ndarray] = {}
        for name, value in dict(terms or {}).items():
            value = np.asarray(value, dtype=np.float64)
            if value.shape != (b, h):
                raise SegmentShapeError(f"reward term {name!r} must be (B, H) = ({b}, {h}), got {value.shape}")
            checked_terms[str(name)] = value
        checked_extras: dict[str, np.ndarray] = {}
        for name, value in dict(extras or {}).items():
            value = np.asarray(value)
            if value.shape[:2] != (b, h):
                raise SegmentShapeError(f"extra {name!r} must be (B, H, ...) = ({b}, {h}, ...), got {value.shape}")
            checked_extras[str(name)] = value
        self.obs = obs
        self.actions = actions
        self.rewards = rewards
        self.terms = checked_terms
        self.mask = mask
        self.extras = checked_extras
        # H (steps per segment), obs_dim, act_dim: checked above, fixed for the batch
        self.horizon, self.obs_dim, self.act_dim = int(h), int(obs.shape[2]), int(actions.shape[2])
        kind = _as_str_array(origin_kind, b, "run", "origin_kind")
        bad = ~np.isin(kind, ORIGIN_KINDS)
        if bad.any():
            raise ValueError(f"origin_kind must be one of {ORIGIN_KINDS}, got {sorted(set(kind[bad].tolist()))}")
        self.origin_kind = kind
        self.source_id = _as_str_array(source_id, b, "", "source_id")
        self.episode = _as_int_array(episode, b, "episode")
        self.start = _as_int_array(start, b, "start")

    # -- shape --------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @property
    def term_names(self) -> tuple[str, ...]:
        return tuple(self.terms)

    @property
    def shape_key(self) -> tuple[int, int, int]:
        """(H, obs_dim, act_dim): two batches can be paired iff their keys match."""
        return (self.horizon, self.obs_dim, self.act_dim)

    # -- values -------------------------------------------------------------

    @property
    def returns(self) -> np.ndarray:
        """(B,) sum of the true rewards of each segment (padding contributes 0)."""
        return np.sum(np.where(self.mask, self.rewards, 0.0), axis=1)

    def term_returns(self) -> dict[str, np.ndarray]:
        """Term name -> (B,) sum of that term over each segment."""
        return {k: np.sum(np.where(self.mask, v, 0.0), axis=1) for k, v in self.terms.items()}

    def origins(self) -> list[Origin]:
        """The origin of each segment as :class:`Origin` records."""
        return [
            Origin(str(k), str(s), int(e), int(t))
            for k, s, e, t in zip(self.origin_kind, self.source_id, self.episode, self.start)
        ]

    # -- indexing -----------------------------------------------------------

    def __getitem__(self, index) -> "Segment | SegmentBatch":
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"segment index {i} out of range for a batch of {len(self)}")
            origin = Origin(str(self.origin_kind[i]), str(self.source_id[i]), int(self.episode[i]), int(self.start[i]))
            return Segment(**self._steps_at(i), origin=origin)
        if isinstance(index, slice):
            sel: Any = index
        else:
            sel = np.asarray(index)
            if sel.dtype == np.bool_:
                if sel.shape != (len(self),):
                    raise IndexError(f"boolean index must have shape ({len(self)},), got {sel.shape}")
            elif not np.issubdtype(sel.dtype, np.integer):
                raise IndexError(f"index segments with an int, a slice, a bool mask or int array, got {sel.dtype}")
        return SegmentBatch(
            **self._steps_at(sel),
            origin_kind=self.origin_kind[sel],
            source_id=self.source_id[sel],
            episode=self.episode[sel],
            start=self.start[sel],
        )

    def _steps_at(self, index) -> dict[str, Any]:
        """The per-step arrays (obs, actions, rewards, terms, mask, extras) of the segment(s) at ``index``."""
        return {
            "obs": self.obs[index],
            "actions": self.actions[index],
            "rewards": self.rewards[index],
            "terms": {k: v[index] for k, v in self.terms.items()},
            "mask": self.mask[index],
            "extras": {k: v[index] for k, v in self.extras.items()},
        }

    def __iter__(self) -> Iterator[Segment]:
        for i in range(len(self)):
            yield self[i]  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"SegmentBatch(B={len(self)}, H={self.horizon}, obs_dim={self.obs_dim}, act_dim={self.act_dim}, "
            f"terms={list(self.terms)}, extras={list(self.extras)})"
        )

    # -- building -----------------------------------------------------------

    @classmethod
    def from_segments(cls, segments: Iterable[Segment]) -> "SegmentBatch":
        """Stack single segments (all of the same shape and with the same keys)."""
        segs = list(segments)
        if not segs:
            raise ValueError("from_segments needs at least one segment")
        first = segs[0]
        term_keys, extra_keys = list(first.terms), list(first.extras)
        for i, s in enumerate(segs):
            if list(s.terms) != term_keys or list(s.extras) != extra_keys:
                raise SegmentShapeError(
                    f"segment {i} has terms {list(s.terms)} / extras {list(s.extras)}, segment 0 has "
                    f"{term_keys} / {extra_keys}"
                )

        def stack(name, values):
            arrays = [np.asarray(v) for v in values]
            shapes = {a.shape for a in arrays}
            if len(shapes) > 1:
                raise SegmentShapeError(f"segments have different {name} shapes: {sorted(shapes)}")
            return np.stack(arrays)

        obs = stack("obs", [s.obs for s in segs])
        if obs.ndim != 3:
            raise SegmentShapeError(f"a segment's obs must be (H, obs_dim), got {obs.shape[1:]}")
        h = obs.shape[1]
        masks = [np.ones(h, dtype=bool) if s.mask is None else s.mask for s in segs]
        return cls(
            obs=obs,
            actions=stack("actions", [s.actions for s in segs]),
            rewards=stack("rewards", [s.rewards for s in segs]),
            terms={k: stack(f"term {k!r}", [s.terms[k] for s in segs]) for k in term_keys},
            mask=stack("mask", masks),
            extras={k: stack(f"extra {k!r}", [s.extras[k] for s in segs]) for k in extra_keys},
            origin_kind=[s.origin.kind for s in segs],
            source_id=[s.origin.source_id for s in segs],
            episode=[s.origin.episode for s in segs],
            start=[s.origin.start for s in segs],
        )

    @classmethod
    def concatenate(cls, batches: Sequence["SegmentBatch"]) -> "SegmentBatch":
        """Concatenate batches of the same (H, obs_dim, act_dim); keeps the terms
        and extras all of them have."""
        batches = list(batches)
        if not batches:
            raise ValueError("concatenate needs at least one batch")
        keys = {b.shape_key for b in batches}
        if len(keys) > 1:
            raise SegmentShapeError(f"cannot concatenate segment batches of (H, obs_dim, act_dim) {sorted(keys)}")
        terms = [k for k in batches[0].terms if all(k in b.terms for b in batches)]
        extras = [k for k in batches[0].extras if all(k in b.extras for b in batches)]
        cat = np.concatenate
        return cls(
            obs=cat([b.obs for b in batches]),
            actions=cat([b.actions for b in batches]),
            rewards=cat([b.rewards for b in batches]),
            terms={k: cat([b.terms[k] for b in batches]) for k in terms},
            mask=cat([b.mask for b in batches]),
            extras={k: cat([b.extras[k] for b in batches]) for k in extras},
            origin_kind=cat([b.origin_kind for b in batches]),
            source_id=cat([b.source_id for b in batches]),
            episode=cat([b.episode for b in batches]),
            start=cat([b.start for b in batches]),
        )


def check_pair_batches(first: SegmentBatch, second: SegmentBatch) -> None:
    """Raise :class:`SegmentShapeError` unless ``first[i]`` and ``second[i]`` can be compared.

    Both must be :class:`SegmentBatch` of the same length and (H, obs_dim, act_dim).
    """
    for name, b in (("first", first), ("second", second)):
        if not isinstance(b, SegmentBatch):
            raise TypeError(f"{name} must be a SegmentBatch, got {type(b).__name__}")
    if len(first) != len(second):
        raise SegmentShapeError(f"pairs need as many first as second segments, got {len(first)} and {len(second)}")
    if first.shape_key != second.shape_key:
        raise SegmentShapeError(
            "paired segments must have the same (H, obs_dim, act_dim), got "
            f"{first.shape_key} and {second.shape_key}"
        )
