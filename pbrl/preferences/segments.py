"""Segments, the trajectory buffer they are cut from, and the one segment sampler.

A *segment* is a window of ``H`` consecutive steps of one episode: the observation
each action was chosen from, the action, the true reward it earned, the reward
terms of the task (``info["reward_terms"]``), optional per-step extras (e.g. the
task card's named quantities, or ``qpos``/``qvel`` for rendering clips), and its
origin (a run or a dataset, which episode, which start step).

Hot paths work on batches: :class:`SegmentBatch` holds ``B`` segments as
``(B, H, ...)`` arrays plus per-segment origin arrays.

:class:`TrajectoryBuffer` collects complete episodes from two kinds of source,
with the same storage:

* online rollouts append batched steps (one ``(N, ...)`` row per ``env.step``)
  with :meth:`TrajectoryBuffer.add`; episodes finish when the env says so, and only
  finished episodes are sampled;
* offline datasets are loaded as flat arrays plus episode boundaries with
  :meth:`TrajectoryBuffer.add_episodes`.

:class:`SegmentSampler` draws windows of length ``H`` inside single episodes from
either, with vectorised index arithmetic and a seeded generator.

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

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from pbrl.envs.vector import merge_final_info

__all__ = [
    "ORIGIN_KINDS",
    "Origin",
    "Segment",
    "SegmentBatch",
    "SegmentShapeError",
    "SegmentSampler",
    "TrajectoryBuffer",
    "check_pair_batches",
]

#: The kinds of source a segment can come from.
ORIGIN_KINDS = ("run", "dataset")


class SegmentShapeError(ValueError):
    """Arrays of a segment (or of a pair of segment batches) do not fit together."""


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# Segment and SegmentBatch
# ---------------------------------------------------------------------------


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
        object.__setattr__(self, "obs", batch.obs[0])
        object.__setattr__(self, "actions", batch.actions[0])
        object.__setattr__(self, "rewards", batch.rewards[0])
        object.__setattr__(self, "mask", batch.mask[0])
        object.__setattr__(self, "terms", {k: v[0] for k, v in batch.terms.items()})
        object.__setattr__(self, "extras", {k: v[0] for k, v in batch.extras.items()})

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
    def horizon(self) -> int:
        """H, the number of steps per segment."""
        return int(self.obs.shape[1])

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[2])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[2])

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
            return Segment(
                obs=self.obs[i],
                actions=self.actions[i],
                rewards=self.rewards[i],
                terms={k: v[i] for k, v in self.terms.items()},
                origin=Origin(str(self.origin_kind[i]), str(self.source_id[i]), int(self.episode[i]), int(self.start[i])),
                mask=self.mask[i],
                extras={k: v[i] for k, v in self.extras.items()},
            )
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
            obs=self.obs[sel],
            actions=self.actions[sel],
            rewards=self.rewards[sel],
            terms={k: v[sel] for k, v in self.terms.items()},
            mask=self.mask[sel],
            extras={k: v[sel] for k, v in self.extras.items()},
            origin_kind=self.origin_kind[sel],
            source_id=self.source_id[sel],
            episode=self.episode[sel],
            start=self.start[sel],
        )

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


# ---------------------------------------------------------------------------
# Growable column storage
# ---------------------------------------------------------------------------


class _Columns:
    """Named numpy columns sharing one row range, growing at the back and
    dropping rows at the front, both amortised O(1) per row."""

    def __init__(self, specs: Mapping[str, tuple[tuple[int, ...], Any]], capacity: int = 1024):
        self._specs = dict(specs)
        self._data = {k: np.zeros((capacity, *shape), dtype=dt) for k, (shape, dt) in self._specs.items()}
        self._lo = 0
        self._hi = 0
        self.base = 0  # logical index of physical row 0

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def first_logical(self) -> int:
        return self.base + self._lo

    def view(self, name: str) -> np.ndarray:
        return self._data[name][self._lo : self._hi]

    def append(self, rows: Mapping[str, np.ndarray]) -> None:
        n = len(next(iter(rows.values()))) if rows else 0
        if n == 0:
            return
        self._reserve(n)
        for k in self._specs:
            self._data[k][self._hi : self._hi + n] = rows[k]
        self._hi += n

    def drop_front(self, n: int) -> None:
        self._lo += n
        if self._lo > (self._hi - self._lo) and self._lo > 1024:
            self._compact(len(next(iter(self._data.values()))))

    def _compact(self, capacity: int) -> None:
        live = self._hi - self._lo
        for k, arr in self._data.items():
            new = np.zeros((capacity, *arr.shape[1:]), dtype=arr.dtype)
            new[:live] = arr[self._lo : self._hi]
            self._data[k] = new
        self.base += self._lo
        self._lo, self._hi = 0, live

    def _reserve(self, n: int) -> None:
        cap = len(next(iter(self._data.values())))
        if self._hi + n <= cap:
            return
        live = self._hi - self._lo
        new_cap = cap
        while live + n > new_cap // 2:  # leave at least half free: amortised O(1)
            new_cap *= 2
        self._compact(new_cap)


# ---------------------------------------------------------------------------
# Trajectory buffer
# ---------------------------------------------------------------------------

_KIND_CODE = {k: i for i, k in enumerate(ORIGIN_KINDS)}


class TrajectoryBuffer:
    """Complete episodes from online rollouts and offline datasets, stored flat.

    Args:
        capacity: keep at most this many steps (the oldest episodes are dropped;
            the newest one is always kept). ``None``: unbounded.
        obs_dtype: dtype observations and actions are stored in (float32 halves the
            memory; rewards and terms are always float64).
        autoreset_mode: how the env passed to :meth:`add` resets finished episodes:
            ``"next_step"`` (Gymnasium's default: the step after an episode ends is a
            reset step, which is not a transition and is not recorded) or
            ``"same_step"`` (Stable-Baselines3 and ``AutoresetMode.SAME_STEP``).
        source_id: id of the run that :meth:`add` records (origin of its segments).
        extras: names of per-step info entries to record with each step (e.g. the
            task card's quantities ``("x_velocity",)``). Like rewards and terms they
            are the values of the step (after the action). To record the state
            each action was chosen in (e.g. ``qpos``/``qvel`` for rendering clips),
            pass ``extras={...}`` to :meth:`add` yourself.
        return_history: how many finished-episode returns to remember for
            :meth:`recent_returns` (independent of ``capacity``).

    Online use, with a batched env (``obs`` is the observation the actions were
    chosen from; the rest is what ``env.step(actions)`` returned)::

        buffer = TrajectoryBuffer.from_env(env)
        obs, _ = env.reset(seed=0)
        for _ in range(steps):
            actions = policy(obs)
            next_obs, rewards, terminated, truncated, infos = env.step(actions)
            buffer.add(obs, actions, rewards, terminated, truncated, infos)
            obs = next_obs

    Offline use: :meth:`add_episodes` with flat arrays and episode boundaries.
    """

    def __init__(
        self,
        *,
        capacity: int | None = None,
        obs_dtype: Any = np.float32,
        autoreset_mode: str = "next_step",
        source_id: str = "run",
        extras: Sequence[str] = (),
        return_history: int = 1000,
    ):
        if capacity is not None and (int(capacity) != capacity or capacity < 1):
            raise ValueError(f"capacity must be a positive int or None, got {capacity!r}")
        mode = str(getattr(autoreset_mode, "name", autoreset_mode)).lower().replace("-", "_")
        mode = {"nextstep": "next_step", "samestep": "same_step"}.get(mode, mode)
        if mode not in ("next_step", "same_step"):
            raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', got {autoreset_mode!r}")
        self.capacity = None if capacity is None else int(capacity)
        self.obs_dtype = np.dtype(obs_dtype)
        self.autoreset_mode = mode
        self.source_id = str(source_id)
        self.extra_names: tuple[str, ...] = tuple(extras)
        self._returns_hist: list[float] = []
        self._return_history = int(return_history)
        self._steps: _Columns | None = None
        self._eps = _Columns(
            {
                "start": ((), np.int64),
                "length": ((), np.int64),
                "ret": ((), np.float64),
                "kind": ((), np.int8),
                "source": ((), np.int32),
                "episode": ((), np.int64),
                "terminated": ((), np.bool_),
            },
            capacity=64,
        )
        self._sources: list[str] = []
        self._next_episode: list[int] = []
        self._source_index: dict[str, int] = {}
        self.obs_dim: int | None = None
        self.act_dim: int | None = None
        self.term_names: tuple[str, ...] | None = None
        self._extra_shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        # online staging (per sub-env, the episode in progress)
        self.num_envs: int | None = None
        self._stage: dict[str, np.ndarray] = {}
        self._stage_len: np.ndarray | None = None
        self._stage_ret: np.ndarray | None = None
        self._skip_next: np.ndarray | None = None

    @classmethod
    def from_env(cls, env: Any, **kwargs: Any) -> "TrajectoryBuffer":
        """A buffer matching a batched pbrl env (or an SB3 adapter around one): its
        autoreset mode, and the task card's named quantities as extras."""
        base = getattr(env, "env", env)
        base = getattr(base, "unwrapped", base)
        if "autoreset_mode" not in kwargs:
            if hasattr(env, "step_wait"):  # an SB3 VecEnv resets in the same step
                kwargs["autoreset_mode"] = "same_step"
            else:
                mode = getattr(base, "metadata", {}).get("autoreset_mode", "next_step")
                kwargs["autoreset_mode"] = getattr(mode, "name", mode)
        card = getattr(base, "card", None)
        if "extras" not in kwargs and card is not None:
            kwargs["extras"] = tuple(card.quantities)
        return cls(**kwargs)

    # -- layout -------------------------------------------------------------

    def _init_layout(self, obs_dim: int, act_dim: int, terms: Sequence[str], extras: Mapping[str, np.ndarray]) -> None:
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.term_names = tuple(terms)
        specs: dict[str, tuple[tuple[int, ...], Any]] = {
            "obs": ((self.obs_dim,), self.obs_dtype),
            "actions": ((self.act_dim,), self.obs_dtype),
            "rewards": ((), np.float64),
        }
        for name in self.term_names:
            specs["t:" + name] = ((), np.float64)
        for name, value in extras.items():
            shape = tuple(np.shape(value)[1:])
            dtype = np.asarray(value).dtype
            if dtype.kind not in "biuf":
                raise TypeError(f"extra {name!r} must be numeric, got {dtype}")
            self._extra_shapes[name] = (shape, dtype)
            specs["x:" + name] = (shape, dtype)
        self.extra_names = tuple(extras)
        self._steps = _Columns(specs, capacity=1024)

    def _check_layout(self, obs_dim, act_dim, terms, extras) -> None:
        if (obs_dim, act_dim) != (self.obs_dim, self.act_dim):
            raise SegmentShapeError(
                f"this buffer holds obs_dim {self.obs_dim}, act_dim {self.act_dim}; got obs_dim {obs_dim}, act_dim {act_dim}"
            )
        if tuple(terms) != self.term_names:
            raise SegmentShapeError(f"this buffer records reward terms {list(self.term_names or ())}, got {list(terms)}")
        for name, value in extras.items():
            shape = tuple(np.shape(value)[1:])
            if name not in self._extra_shapes or self._extra_shapes[name][0] != shape:
                raise SegmentShapeError(
                    f"extra {name!r} with per-step shape {shape} does not match the buffer's extras "
                    f"{ {k: v[0] for k, v in self._extra_shapes.items()} }"
                )
        if set(extras) != set(self._extra_shapes):
            raise SegmentShapeError(f"this buffer records extras {list(self._extra_shapes)}, got {list(extras)}")

    def _source(self, source_id: str) -> int:
        if source_id not in self._source_index:
            self._source_index[source_id] = len(self._sources)
            self._sources.append(source_id)
            self._next_episode.append(0)
        return self._source_index[source_id]

    # -- online -------------------------------------------------------------

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray | None = None,
        infos: Mapping[str, Any] | None = None,
        *,
        reward_terms: Mapping[str, np.ndarray] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
    ) -> int:
        """Record one batched env step.

        Args:
            obs: (N, obs_dim) the observations the actions were chosen from.
            actions: (N, act_dim) the actions passed to ``env.step``.
            rewards: (N,) the rewards ``env.step`` returned (the true reward).
            terminated: (N,) bool; with Stable-Baselines3, its ``dones``.
            truncated: (N,) bool (default all False).
            infos: the batched info dict of ``env.step``; its ``"reward_terms"`` and
                the entries named in ``extras`` are recorded. With pbrl's SB3 adapter
                pass ``venv.last_info`` (SB3's per-env info list has no terms).
            reward_terms: term name -> (N,) values, instead of ``infos["reward_terms"]``.
            extras: name -> (N, ...) values, instead of taking them from ``infos``.

        Returns:
            The number of episodes that finished with this step.
        """
        obs = np.asarray(obs)
        actions = np.asarray(actions)
        if obs.ndim != 2:
            raise SegmentShapeError(f"add() takes batched obs (N, obs_dim), got shape {obs.shape}")
        n = obs.shape[0]
        if actions.ndim == 1 and n == actions.shape[0]:
            actions = actions[:, None]
        if actions.ndim != 2 or actions.shape[0] != n:
            raise SegmentShapeError(f"actions must be (N, act_dim) with N={n}, got shape {actions.shape}")
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        terminated = np.asarray(terminated, dtype=bool).reshape(-1)
        truncated = np.zeros(n, bool) if truncated is None else np.asarray(truncated, dtype=bool).reshape(-1)
        for name, arr in (("rewards", rewards), ("terminated", terminated), ("truncated", truncated)):
            if arr.shape != (n,):
                raise SegmentShapeError(f"{name} must have shape ({n},), got {arr.shape}")
        infos = infos or {}
        if self.autoreset_mode == "next_step" and self._skip_next is not None and self._skip_next.all():
            # every sub-env is on its reset step: no transition to record (and, as in
            # Gymnasium, the info then holds only reset keys)
            self._skip_next = np.zeros(n, dtype=bool)
            return 0
        if isinstance(infos, Mapping) and "final_info" in infos:  # SAME_STEP: ended episodes' last step
            infos = merge_final_info(infos)
        if reward_terms is None:
            reward_terms = infos.get("reward_terms", {}) if isinstance(infos, Mapping) else {}
        terms = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in dict(reward_terms).items()}
        for k, v in terms.items():
            if v.shape != (n,):
                raise SegmentShapeError(f"reward term {k!r} must have shape ({n},), got {v.shape}")
        if extras is None:
            names = self.extra_names
            missing = [k for k in names if not (isinstance(infos, Mapping) and k in infos)]
            if missing:
                raise KeyError(f"infos has no {missing} (recorded extras); pass extras= or make the buffer with extras=()")
            extras = {k: infos[k] for k in names}
        extras = {k: np.asarray(v) for k, v in extras.items()}
        for k, v in extras.items():
            if v.shape[:1] != (n,):
                raise SegmentShapeError(f"extra {k!r} must have a leading dimension {n}, got {v.shape}")

        if self._steps is None:
            self._init_layout(obs.shape[1], actions.shape[1], list(terms), extras)
        else:
            self._check_layout(obs.shape[1], actions.shape[1], list(terms), extras)
        if self.num_envs is None:
            self._init_stage(n)
        elif n != self.num_envs:
            raise SegmentShapeError(f"this buffer records {self.num_envs} sub-envs per step, got {n}")

        valid = ~self._skip_next if self.autoreset_mode == "next_step" else np.ones(n, bool)
        ids = np.flatnonzero(valid)
        length = self._stage_len[ids]
        need = int(length.max()) + 1 if ids.size else 0
        if need > self._stage["rewards"].shape[1]:
            self._grow_stage(need)
        row = {"obs": obs, "actions": actions, "rewards": rewards}
        row.update({"t:" + k: v for k, v in terms.items()})
        row.update({"x:" + k: v for k, v in extras.items()})
        for key, value in row.items():
            self._stage[key][ids, length] = value[ids]
        self._stage_len[ids] += 1
        self._stage_ret[ids] += rewards[ids]
        done = (terminated | truncated) & valid
        finished = np.flatnonzero(done)
        for i in finished:
            self._flush(int(i), bool(terminated[i]))
        if self.autoreset_mode == "next_step":
            self._skip_next = done
        if finished.size:
            self._evict()
        return int(finished.size)

    def _init_stage(self, n: int) -> None:
        self.num_envs = n
        self._stage = {}
        cap = 64
        for key, (shape, dtype) in self._steps._specs.items():  # type: ignore[union-attr]
            self._stage[key] = np.zeros((n, cap, *shape), dtype=dtype)
        self._stage_len = np.zeros(n, dtype=np.int64)
        self._stage_ret = np.zeros(n, dtype=np.float64)
        self._skip_next = np.zeros(n, dtype=bool)

    def _grow_stage(self, need: int) -> None:
        cap = self._stage["rewards"].shape[1]
        while cap < need:
            cap *= 2
        for key, arr in self._stage.items():
            new = np.zeros((arr.shape[0], cap, *arr.shape[2:]), dtype=arr.dtype)
            new[:, : arr.shape[1]] = arr
            self._stage[key] = new

    def _flush(self, i: int, terminated: bool) -> None:
        length = int(self._stage_len[i])
        if length == 0:
            return
        start = self._steps.first_logical + len(self._steps)  # type: ignore[union-attr]
        self._steps.append({k: v[i, :length] for k, v in self._stage.items()})  # type: ignore[union-attr]
        ret = float(self._stage_ret[i])
        src = self._source(self.source_id)
        self._eps.append(
            {
                "start": np.array([start]),
                "length": np.array([length]),
                "ret": np.array([ret]),
                "kind": np.array([_KIND_CODE["run"]]),
                "source": np.array([src]),
                "episode": np.array([self._next_episode[src]]),
                "terminated": np.array([terminated]),
            }
        )
        self._next_episode[src] += 1
        self._remember_returns([ret])
        self._stage_len[i] = 0
        self._stage_ret[i] = 0.0

    def end_episodes(self) -> int:
        """Close every episode in progress as if truncated now (e.g. at the end of
        collection), so its steps can be sampled. Returns how many were closed."""
        if self.num_envs is None:
            return 0
        ids = np.flatnonzero(self._stage_len > 0)
        for i in ids:
            self._flush(int(i), False)
        if self.autoreset_mode == "next_step":
            self._skip_next[:] = False
        self._evict()
        return int(ids.size)

    # -- offline ------------------------------------------------------------

    def add_episodes(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        *,
        episode_lengths: Sequence[int] | np.ndarray | None = None,
        dones: np.ndarray | None = None,
        terminals: np.ndarray | None = None,
        reward_terms: Mapping[str, np.ndarray] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        source_id: str = "dataset",
        kind: str = "dataset",
        episode_ids: Sequence[int] | np.ndarray | None = None,
    ) -> int:
        """Load whole episodes from flat arrays (an offline dataset).

        Args:
            observations: (T, obs_dim) the observation each action was taken in
                (D4RL's ``observations``; for Minari, each episode's observations
                without its final one).
            actions: (T, act_dim).
            rewards: (T,).
            episode_lengths: (E,) steps per episode, summing to T. Or give ``dones``.
            dones: (T,) bool, True on the last step of each episode (D4RL:
                ``terminals | timeouts``); steps after the last True form a final
                episode. With neither, all T steps are one episode.
            terminals: (T,) bool, whether an episode ended by termination (recorded
                per episode; default False).
            reward_terms: term name -> (T,) values.
            extras: name -> (T, ...) per-step extras.
            source_id: the dataset id (origin of its segments).
            kind: ``"dataset"`` (default) or ``"run"``.
            episode_ids: (E,) index of each episode in the dataset (default: numbered on
                from the episodes already added from ``source_id``, starting at 0).

        Returns:
            The number of episodes added.
        """
        obs = np.asarray(observations)
        act = np.asarray(actions)
        rew = np.asarray(rewards, dtype=np.float64).reshape(-1) if np.ndim(rewards) <= 2 else None
        if obs.ndim != 2:
            raise SegmentShapeError(f"observations must be (T, obs_dim), got shape {obs.shape}")
        t = obs.shape[0]
        if act.ndim == 1 and act.shape[0] == t:
            act = act[:, None]
        if act.ndim != 2 or act.shape[0] != t:
            raise SegmentShapeError(f"actions must be (T, act_dim) with T={t} like observations, got {act.shape}")
        if rew is None or rew.shape != (t,):
            raise SegmentShapeError(f"rewards must have shape ({t},) like observations, got {np.shape(rewards)}")
        if kind not in ORIGIN_KINDS:
            raise ValueError(f"kind must be one of {ORIGIN_KINDS}, got {kind!r}")
        if t == 0:
            raise ValueError("add_episodes got no steps (T = 0)")
        if episode_lengths is not None and dones is not None:
            raise ValueError("give episode_lengths or dones, not both")
        if episode_lengths is not None:
            lengths = np.asarray(episode_lengths).astype(np.int64).reshape(-1)
            if (lengths < 1).any():
                raise ValueError(f"episode_lengths must be positive, got {lengths[lengths < 1][:5].tolist()}...")
            if lengths.sum() != t:
                raise SegmentShapeError(f"episode_lengths sum to {int(lengths.sum())} but there are {t} steps")
        elif dones is not None:
            d = np.asarray(dones, dtype=bool).reshape(-1)
            if d.shape != (t,):
                raise SegmentShapeError(f"dones must have shape ({t},), got {np.shape(dones)}")
            ends = np.flatnonzero(d) + 1
            if ends.size == 0 or ends[-1] != t:
                ends = np.append(ends, t)
            lengths = np.diff(np.concatenate([[0], ends]))
        else:
            lengths = np.array([t], dtype=np.int64)
        e = lengths.size
        starts_rel = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        term_flags = np.zeros(e, dtype=bool)
        if terminals is not None:
            term = np.asarray(terminals, dtype=bool).reshape(-1)
            if term.shape != (t,):
                raise SegmentShapeError(f"terminals must have shape ({t},), got {np.shape(terminals)}")
            term_flags = term[starts_rel + lengths - 1]
        terms = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in dict(reward_terms or {}).items()}
        for k, v in terms.items():
            if v.shape != (t,):
                raise SegmentShapeError(f"reward term {k!r} must have shape ({t},), got {v.shape}")
        extras = {k: np.asarray(v) for k, v in dict(extras or {}).items()}
        for k, v in extras.items():
            if v.shape[:1] != (t,):
                raise SegmentShapeError(f"extra {k!r} must have a leading dimension {t}, got {v.shape}")
        src = self._source(str(source_id))
        if episode_ids is None:
            ep_ids = self._next_episode[src] + np.arange(e, dtype=np.int64)
        else:
            ep_ids = np.asarray(episode_ids).astype(np.int64).reshape(-1)
            if ep_ids.shape != (e,):
                raise SegmentShapeError(f"episode_ids must have one id per episode ({e}), got {ep_ids.shape}")
        if self._steps is None:
            self._init_layout(obs.shape[1], act.shape[1], list(terms), extras)
        else:
            self._check_layout(obs.shape[1], act.shape[1], list(terms), extras)

        first = self._steps.first_logical + len(self._steps)  # type: ignore[union-attr]
        row = {"obs": obs, "actions": act, "rewards": rew}
        row.update({"t:" + k: v for k, v in terms.items()})
        row.update({"x:" + k: v for k, v in extras.items()})
        self._steps.append(row)  # type: ignore[union-attr]
        rets = np.add.reduceat(rew, starts_rel)
        self._eps.append(
            {
                "start": first + starts_rel,
                "length": lengths,
                "ret": rets,
                "kind": np.full(e, _KIND_CODE[kind], dtype=np.int8),
                "source": np.full(e, src, dtype=np.int32),
                "episode": ep_ids,
                "terminated": term_flags,
            }
        )
        self._next_episode[src] = max(self._next_episode[src], int(ep_ids.max()) + 1)
        self._remember_returns(rets.tolist())
        self._evict()
        return int(e)

    # -- bookkeeping --------------------------------------------------------

    def _remember_returns(self, returns: list[float]) -> None:
        self._returns_hist.extend(returns)
        extra = len(self._returns_hist) - self._return_history
        if extra > 0:
            del self._returns_hist[:extra]

    def _evict(self) -> None:
        if self.capacity is None or self._steps is None:
            return
        total = len(self._steps)
        if total <= self.capacity:
            return
        lengths = self._eps.view("length")
        # drop the k oldest episodes, k minimal with total - sum(first k) <= capacity,
        # but always keep the newest episode
        dropped = np.cumsum(lengths)
        k = int(np.searchsorted(dropped, total - self.capacity, side="left")) + 1
        k = min(k, len(lengths) - 1)
        if k <= 0:
            return
        steps = int(dropped[k - 1])
        self._eps.drop_front(k)
        self._steps.drop_front(steps)

    # -- queries ------------------------------------------------------------

    @property
    def num_episodes(self) -> int:
        """Finished episodes held (those segments can be sampled from)."""
        return len(self._eps)

    @property
    def num_steps(self) -> int:
        """Steps held in finished episodes."""
        return 0 if self._steps is None else len(self._steps)

    @property
    def episode_lengths(self) -> np.ndarray:
        return self._eps.view("length").copy()

    @property
    def episode_returns(self) -> np.ndarray:
        """(E,) true return of each held episode, oldest first."""
        return self._eps.view("ret").copy()

    def recent_returns(self, k: int = 10) -> np.ndarray:
        """True returns of the last ``k`` finished episodes (up to ``return_history``;
        not limited by ``capacity``), oldest first: what a scripted teacher's
        thresholds are relative to."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return np.asarray(self._returns_hist[-k:], dtype=np.float64)

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """All steps of held episode ``index`` (0 = oldest) as arrays."""
        e = len(self._eps)
        if not -e <= index < e:
            raise IndexError(f"episode {index} out of range ({e} held)")
        index %= e
        start = int(self._eps.view("start")[index]) - self._steps.base  # type: ignore[union-attr]
        length = int(self._eps.view("length")[index])
        steps = self._steps
        sl = slice(start, start + length)
        out = {"obs": steps._data["obs"][sl], "actions": steps._data["actions"][sl], "rewards": steps._data["rewards"][sl]}
        for name in self.term_names or ():
            out["terms/" + name] = steps._data["t:" + name][sl]
        for name in self.extra_names:
            out["extras/" + name] = steps._data["x:" + name][sl]
        return {k: v.copy() for k, v in out.items()}

    # -- persistence --------------------------------------------------------

    def save(self, path: str) -> None:
        """Write the buffer (held episodes, episodes in progress, return history) to
        an ``.npz`` file, e.g. with a checkpoint; :meth:`load` restores it exactly.
        No pickle: plain arrays plus a JSON header."""
        import json
        import os
        import tempfile

        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {
            "format": "pbrl-trajectory-buffer",
            "version": 1,
            "capacity": self.capacity,
            "obs_dtype": self.obs_dtype.str,
            "autoreset_mode": self.autoreset_mode,
            "source_id": self.source_id,
            "extra_names": list(self.extra_names),
            "term_names": None if self.term_names is None else list(self.term_names),
            "return_history": self._return_history,
            "sources": self._sources,
            "next_episode": self._next_episode,
            "num_envs": self.num_envs,
        }
        arrays["returns_hist"] = np.asarray(self._returns_hist, dtype=np.float64)
        if self._steps is not None:
            for key in self._steps._specs:
                arrays["steps/" + key] = self._steps.view(key)
            for key in self._eps._specs:
                arrays["eps/" + key] = self._eps.view(key)
            arrays["eps/start"] = arrays["eps/start"] - self._steps.first_logical
        if self.num_envs is not None:
            longest = int(self._stage_len.max())  # type: ignore[union-attr]
            for key, value in self._stage.items():
                arrays["stage/" + key] = value[:, :longest]
            arrays["stage_len"] = self._stage_len  # type: ignore[assignment]
            arrays["stage_ret"] = self._stage_ret  # type: ignore[assignment]
            arrays["skip_next"] = self._skip_next  # type: ignore[assignment]
        arrays["meta"] = np.asarray(json.dumps(meta))
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".pbrl-buffer-", suffix=".npz", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str) -> "TrajectoryBuffer":
        """Read a buffer written by :meth:`save`."""
        import json

        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise ValueError(f"{path} is not a pbrl trajectory buffer (no meta entry)")
            meta = json.loads(str(z["meta"][()]))
            if meta.get("format") != "pbrl-trajectory-buffer" or meta.get("version") != 1:
                raise ValueError(f"{path} is not a pbrl trajectory buffer of version 1")
            buf = cls(
                capacity=meta["capacity"],
                obs_dtype=np.dtype(meta["obs_dtype"]),
                autoreset_mode=meta["autoreset_mode"],
                source_id=meta["source_id"],
                extras=meta["extra_names"],
                return_history=meta["return_history"],
            )
            buf._sources = list(meta["sources"])
            buf._source_index = {k: i for i, k in enumerate(buf._sources)}
            buf._next_episode = [int(v) for v in meta["next_episode"]]
            buf._returns_hist = z["returns_hist"].tolist()
            if meta["term_names"] is not None:
                steps = {k[6:]: z[k] for k in z.files if k.startswith("steps/")}
                extras = {name: steps["x:" + name] for name in meta["extra_names"]}
                buf._init_layout(steps["obs"].shape[1], steps["actions"].shape[1], meta["term_names"], extras)
                buf._steps.append(steps)  # type: ignore[union-attr]
                buf._eps.append({k[4:]: z[k] for k in z.files if k.startswith("eps/")})
            if meta["num_envs"] is not None:
                buf._init_stage(int(meta["num_envs"]))
                stage_len = z["stage_len"]
                if stage_len.max(initial=0) > 0:
                    buf._grow_stage(int(stage_len.max()))
                for key in buf._stage:
                    value = z["stage/" + key]
                    buf._stage[key][:, : value.shape[1]] = value
                buf._stage_len = stage_len.astype(np.int64)
                buf._stage_ret = z["stage_ret"].astype(np.float64)
                buf._skip_next = z["skip_next"].astype(bool)
        return buf

    def _episode_table(self) -> dict[str, np.ndarray]:
        return {k: self._eps.view(k) for k in self._eps._specs}

    def _gather(self, ep_rows: np.ndarray, offsets: np.ndarray, horizon: int) -> SegmentBatch:
        steps = self._steps
        table = self._episode_table()
        length = table["length"][ep_rows]
        pos = offsets[:, None] + np.arange(horizon)[None, :]
        mask = pos < length[:, None]
        pos = np.minimum(pos, (length - 1)[:, None])
        phys = (table["start"][ep_rows] - steps.base)[:, None] + pos  # type: ignore[union-attr]
        data = steps._data  # type: ignore[union-attr]
        actions = data["actions"][phys]
        actions[~mask] = 0
        rewards = np.where(mask, data["rewards"][phys], 0.0)
        terms = {name: np.where(mask, data["t:" + name][phys], 0.0) for name in self.term_names or ()}
        extras = {name: data["x:" + name][phys] for name in self.extra_names}
        sources = np.asarray(self._sources, dtype=str)
        return SegmentBatch(
            obs=data["obs"][phys],
            actions=actions,
            rewards=rewards,
            terms=terms,
            mask=mask,
            extras=extras,
            origin_kind=np.asarray(ORIGIN_KINDS)[table["kind"][ep_rows]],
            source_id=sources[table["source"][ep_rows]],
            episode=table["episode"][ep_rows],
            start=offsets,
        )


# ---------------------------------------------------------------------------
# Sampler
# ---------------------------------------------------------------------------


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
        self.rng = _rng(seed)

    def window_counts(self) -> np.ndarray:
        """(E,) number of windows each held episode offers."""
        lengths = self.buffer._eps.view("length")
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
            longest = int(buf._eps.view("length").max())
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
        return buf._gather(rows.astype(np.int64), np.asarray(offsets, dtype=np.int64), self.horizon)

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
