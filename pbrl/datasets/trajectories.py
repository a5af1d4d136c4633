"""``Trajectories``: a dataset's episodes in memory, as a few flat numpy arrays.

The layout is Minari's, concatenated: episode ``e`` with ``T_e`` steps has
``T_e + 1`` observations (the last one is where the episode ended) and ``T_e``
actions, rewards, terminations and truncations. Concatenating the episodes gives

* ``observations`` (T + E, obs_dim) and ``infos[name]`` (T + E, ...): *rows*;
* ``actions`` (T, act_dim), ``rewards``, ``terminations``, ``truncations`` (T,): *steps*;
* ``lengths`` (E,): the steps of each episode.

Step ``t`` of the flat arrays was taken in observation row ``t + e(t)`` (``e(t)`` its
episode) and led to row ``t + e(t) + 1``. Infos follow Minari's ``DataCollector``:
row 0 of an episode holds the reset's info, row ``k + 1`` the info of step ``k``.
State infos (``qpos``, ``qvel``) therefore describe the observation of their row,
as D4RL's ``infos/qpos``; step infos (``reward_terms/<name>``, the task card's
quantities, ``success``) are 0 on the reset row.

Each episode may carry the seed its reset was given (``seeds``, Minari's per-episode
``seed``): ``env.reset(seed=seeds[e])`` and the episode's actions replay it.

Everything that moves data (collection, storage, D4RL conversion, corruption,
labelling) works on this one class, with numpy index arithmetic instead of
per-episode Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import DatasetError

__all__ = ["STATE_INFOS", "EpisodeArrays", "Trajectories", "concatenated_ranges"]

#: Infos that describe the state of their observation row (D4RL's ``infos/qpos``);
#: every other info describes the step that led to its row.
STATE_INFOS = ("qpos", "qvel")


def concatenated_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`` without a loop."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths  # where each range begins in the output
    return np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)


class EpisodeArrays:
    """Sizes and episode starts of episodes held as flat arrays: ``observations`` (·, obs_dim),
    ``actions`` (T, act_dim), one row a step, and ``lengths`` (E,) steps per episode. Shared by
    :class:`Trajectories` and the offline agents' training data."""

    observations: np.ndarray
    actions: np.ndarray
    lengths: np.ndarray

    @property
    def num_episodes(self) -> int:
        return int(self.lengths.size)

    @property
    def num_steps(self) -> int:
        return int(self.actions.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    def __len__(self) -> int:
        return self.num_steps

    @property
    def starts(self) -> np.ndarray:
        """(E,) index of each episode's first step in the step arrays."""
        return np.cumsum(self.lengths) - self.lengths


@dataclass(eq=False)
class Trajectories(EpisodeArrays):
    """Episodes as flat arrays (see the module docstring for the layout).

    Args:
        observations: (T + E, obs_dim) each episode's ``T_e + 1`` observations.
        actions: (T, act_dim).
        rewards: (T,).
        terminations: (T,) bool, True on the last step of a terminated episode.
        truncations: (T,) bool, True on the last step of a truncated episode (time
            limit, divergence, or a collection budget that cut it).
        lengths: (E,) steps per episode, each >= 1.
        infos: name -> (T + E, ...) per-row infos; nested names use ``/``
            (``reward_terms/forward``).
        source: a name for error messages (a file or dataset id).
        seeds: (E,) int64 reset seed of each episode, -1 where unknown; None when no
            episode has one (e.g. D4RL imports, datasets made before seeds were kept).

    Raises:
        DatasetError: if the arrays' shapes do not fit together.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    lengths: np.ndarray
    infos: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "<memory>"
    seeds: np.ndarray | None = None

    def __post_init__(self):
        src = self.source
        self.observations = np.asarray(self.observations)
        self.actions = np.asarray(self.actions)
        self.rewards = np.asarray(self.rewards, dtype=np.float64)
        self.terminations = np.asarray(self.terminations, dtype=bool)
        self.truncations = np.asarray(self.truncations, dtype=bool)
        self.lengths = np.asarray(self.lengths, dtype=np.int64).reshape(-1)
        if self.observations.ndim != 2:
            raise DatasetError(f"{src}: observations must be (rows, obs_dim), got shape {self.observations.shape}")
        if self.actions.ndim != 2:
            raise DatasetError(f"{src}: actions must be (steps, act_dim), got shape {self.actions.shape}")
        if (self.lengths < 1).any():
            bad = np.flatnonzero(self.lengths < 1)
            raise DatasetError(f"{src}: episode(s) {bad[:5].tolist()} have no steps")
        t = int(self.lengths.sum())
        e = self.lengths.size
        for name in ("actions", "rewards", "terminations", "truncations"):
            arr = getattr(self, name)
            if arr.shape[0] != t:
                raise DatasetError(f"{src}: {name} has {arr.shape[0]} rows but the episodes have {t} steps in all")
        for name in ("rewards", "terminations", "truncations"):
            if getattr(self, name).ndim != 1:
                raise DatasetError(f"{src}: {name} must be one-dimensional, got shape {getattr(self, name).shape}")
        if self.observations.shape[0] != t + e:
            raise DatasetError(
                f"{src}: observations has {self.observations.shape[0]} rows; {e} episodes with {t} steps need "
                f"{t + e} (one more per episode than steps)"
            )
        infos = {}
        for name, value in dict(self.infos).items():
            value = np.asarray(value)
            if value.ndim == 0 or value.shape[0] != t + e:
                raise DatasetError(f"{src}: info {name!r} has shape {value.shape}, expected {t + e} rows like observations")
            infos[str(name)] = value
        self.infos = infos
        if self.seeds is not None:
            seeds = np.asarray(self.seeds)
            if seeds.shape != (e,) or seeds.dtype.kind not in "iu":
                raise DatasetError(f"{src}: seeds must be {e} integers (one per episode), got {seeds.dtype} {seeds.shape}")
            self.seeds = seeds.astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"Trajectories({self.source!r}, episodes={self.num_episodes}, steps={self.num_steps}, "
            f"obs_dim={self.obs_dim}, act_dim={self.act_dim}, infos={sorted(self.infos)})"
        )

    # -- index arithmetic --------------------------------------------------------

    @property
    def row_starts(self) -> np.ndarray:
        """(E,) index of each episode's first observation row."""
        return self.starts + np.arange(self.num_episodes, dtype=np.int64)

    def episode_index(self) -> np.ndarray:
        """(T,) the episode of each step."""
        return np.repeat(np.arange(self.num_episodes, dtype=np.int64), self.lengths)

    def step_in_episode(self) -> np.ndarray:
        """(T,) the position of each step inside its episode (0 = first)."""
        return np.arange(self.num_steps, dtype=np.int64) - np.repeat(self.starts, self.lengths)

    def step_rows(self) -> np.ndarray:
        """(T,) the observation row each step was taken in (``t + e(t)``)."""
        return np.arange(self.num_steps, dtype=np.int64) + self.episode_index()

    @property
    def dones(self) -> np.ndarray:
        """(T,) True on the last step of every episode."""
        out = np.zeros(self.num_steps, dtype=bool)
        out[np.cumsum(self.lengths) - 1] = True
        return out

    def returns(self) -> np.ndarray:
        """(E,) undiscounted return of each episode."""
        if self.num_episodes == 0:
            return np.zeros(0)
        return np.add.reduceat(self.rewards, self.starts)

    def step_info(self, name: str) -> np.ndarray:
        """(T, ...) an info aligned with the steps: row ``t`` for state infos
        (``qpos``: the state step ``t`` was taken in), row ``t + 1`` for step infos
        (``reward_terms/x``: what step ``t`` produced)."""
        rows = self.step_rows()
        value = self.infos[name]
        return value[rows] if name in STATE_INFOS else value[rows + 1]

    def reward_terms(self) -> dict[str, np.ndarray]:
        """Term name -> (T,) weighted reward term of each step (empty if not recorded)."""
        prefix = "reward_terms/"
        return {k[len(prefix):]: self.step_info(k) for k in self.infos if k.startswith(prefix)}

    # -- views for learners ------------------------------------------------------

    def transitions(self, dtype: Any = np.float32, infos: bool = False) -> dict[str, np.ndarray]:
        """Every step as a transition, for offline agents.

        Args:
            dtype: dtype of observations, actions and rewards (float32 for torch).
            infos: also return each info aligned with the steps as ``infos/<name>``.

        Returns:
            ``observations``, ``actions``, ``rewards``, ``next_observations`` (the true
            next observation, also at the end of truncated episodes), ``terminals``
            (the episode terminated: bootstrap with 0), ``timeouts`` (truncated:
            bootstrap from ``next_observations``), ``episode`` and ``step`` (episode
            index and position of each transition) as (T, ...) arrays.
        """
        rows = self.step_rows()
        out = {
            "observations": self.observations[rows].astype(dtype, copy=False),
            "actions": self.actions.astype(dtype, copy=False),
            "rewards": self.rewards.astype(dtype, copy=False),
            "next_observations": self.observations[rows + 1].astype(dtype, copy=False),
            "terminals": self.terminations.copy(),
            "timeouts": self.truncations.copy(),
            "episode": self.episode_index(),
            "step": self.step_in_episode(),
        }
        if infos:
            for name in self.infos:
                out["infos/" + name] = self.step_info(name)
        return out

    def episode(self, index: int) -> dict[str, Any]:
        """One episode as Minari lays it out: ``observations`` (T_e + 1, ...),
        ``actions``, ``rewards``, ``terminations``, ``truncations`` (T_e, ...), ``infos``."""
        e = self.num_episodes
        if not -e <= index < e:
            raise IndexError(f"{self.source}: episode {index} out of range ({e} episodes)")
        index %= e
        s = int(self.starts[index])
        n = int(self.lengths[index])
        r = s + index
        return {
            "id": index,
            "observations": self.observations[r : r + n + 1],
            "actions": self.actions[s : s + n],
            "rewards": self.rewards[s : s + n],
            "terminations": self.terminations[s : s + n],
            "truncations": self.truncations[s : s + n],
            "infos": {k: v[r : r + n + 1] for k, v in self.infos.items()},
            "seed": self.seed_of(index),
        }

    def seed_of(self, index: int) -> int | None:
        """The reset seed of episode ``index`` (None where unknown)."""
        if self.seeds is None or self.seeds[index] < 0:
            return None
        return int(self.seeds[index])

    # -- building ----------------------------------------------------------------

    def select(self, episodes: Sequence[int] | np.ndarray) -> "Trajectories":
        """A new ``Trajectories`` holding the given episodes, in that order."""
        idx = np.asarray(episodes, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -self.num_episodes or idx.max() >= self.num_episodes):
            raise IndexError(f"{self.source}: episode indices out of range ({self.num_episodes} episodes)")
        idx = idx % max(self.num_episodes, 1)
        lengths = self.lengths[idx]
        steps = concatenated_ranges(self.starts[idx], lengths)
        rows = concatenated_ranges(self.row_starts[idx], lengths + 1)
        return Trajectories(
            observations=self.observations[rows],
            actions=self.actions[steps],
            rewards=self.rewards[steps],
            terminations=self.terminations[steps],
            truncations=self.truncations[steps],
            lengths=lengths,
            infos={k: v[rows] for k, v in self.infos.items()},
            source=self.source,
            seeds=None if self.seeds is None else self.seeds[idx],
        )

    def replace(self, **changes: Any) -> "Trajectories":
        """A copy with some arrays replaced (validated like a new one)."""
        fields = {
            "observations": self.observations,
            "actions": self.actions,
            "rewards": self.rewards,
            "terminations": self.terminations,
            "truncations": self.truncations,
            "lengths": self.lengths,
            "infos": dict(self.infos),
            "source": self.source,
            "seeds": self.seeds,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"unknown field(s) {sorted(unknown)}")
        fields.update(changes)
        return Trajectories(**fields)

    @classmethod
    def concatenate(cls, parts: Iterable["Trajectories"], source: str | None = None) -> "Trajectories":
        """Episodes of several ``Trajectories`` one after the other (same dims; the
        infos kept are those all parts have)."""
        parts = list(parts)
        if not parts:
            raise ValueError("concatenate needs at least one Trajectories")
        first = parts[0]
        for p in parts[1:]:
            if (p.obs_dim, p.act_dim) != (first.obs_dim, first.act_dim):
                raise DatasetError(
                    f"cannot concatenate {p.source} (obs {p.obs_dim}, act {p.act_dim}) with "
                    f"{first.source} (obs {first.obs_dim}, act {first.act_dim})"
                )
        keys = [k for k in first.infos if all(k in p.infos for p in parts)]
        seeds = None
        if any(p.seeds is not None for p in parts):
            seeds = np.concatenate([p.seeds if p.seeds is not None else np.full(p.num_episodes, -1, np.int64) for p in parts])
        return cls(
            observations=np.concatenate([p.observations for p in parts]),
            actions=np.concatenate([p.actions for p in parts]),
            rewards=np.concatenate([p.rewards for p in parts]),
            terminations=np.concatenate([p.terminations for p in parts]),
            truncations=np.concatenate([p.truncations for p in parts]),
            lengths=np.concatenate([p.lengths for p in parts]),
            infos={k: np.concatenate([p.infos[k] for p in parts]) for k in keys},
            source=source or "+".join(p.source for p in parts),
            seeds=seeds,
        )

    @classmethod
    def from_episodes(cls, episodes: Iterable[Mapping[str, Any]], source: str = "<memory>") -> "Trajectories":
        """Build from per-episode dicts laid out as Minari's (see :meth:`episode`)."""
        eps = list(episodes)
        if not eps:
            raise DatasetError(f"{source}: no episodes")
        keys = None
        for ep in eps:
            flat = _flatten(ep.get("infos") or {})
            keys = set(flat) if keys is None else keys & set(flat)
        infos: dict[str, list] = {k: [] for k in sorted(keys or ())}
        for ep in eps:
            flat = _flatten(ep.get("infos") or {})
            for k in infos:
                infos[k].append(np.asarray(flat[k]))
        return cls(
            observations=np.concatenate([np.asarray(ep["observations"]) for ep in eps]),
            actions=np.concatenate([np.asarray(ep["actions"]).reshape(len(ep["rewards"]), -1) for ep in eps]),
            rewards=np.concatenate([np.asarray(ep["rewards"]).reshape(-1) for ep in eps]),
            terminations=np.concatenate([np.asarray(ep["terminations"]).reshape(-1) for ep in eps]),
            truncations=np.concatenate([np.asarray(ep["truncations"]).reshape(-1) for ep in eps]),
            lengths=np.array([len(np.asarray(ep["rewards"]).reshape(-1)) for ep in eps]),
            infos={k: np.concatenate(v) for k, v in infos.items()},
            source=source,
            seeds=_seeds([ep.get("seed") for ep in eps]),
        )

    # -- checks ------------------------------------------------------------------

    def check_finite(self) -> None:
        """Raise :class:`DatasetError` naming the first array with NaN or inf."""
        arrays = {
            "observations": self.observations,
            "actions": self.actions,
            "rewards": self.rewards,
        }
        arrays.update({"infos/" + k: v for k, v in self.infos.items()})
        for name, arr in arrays.items():
            if arr.dtype.kind not in "fc":
                continue
            bad = ~np.isfinite(arr)
            if bad.any():
                where = np.argwhere(bad)[0]
                raise DatasetError(
                    f"{self.source}: {name} holds {int(bad.sum())} NaN/inf value(s), the first at index {tuple(where.tolist())}"
                )

    def check_spaces(self, obs_shape: tuple[int, ...], act_shape: tuple[int, ...], task: str) -> None:
        """Raise :class:`DatasetError` if the dims do not match the task's spaces."""
        if self.observations.shape[1:] != tuple(obs_shape):
            raise DatasetError(
                f"{self.source}: observations have shape {self.observations.shape[1:]} per step but {task} "
                f"observes {tuple(obs_shape)}"
            )
        if self.actions.shape[1:] != tuple(act_shape):
            raise DatasetError(
                f"{self.source}: actions have shape {self.actions.shape[1:]} per step but {task} "
                f"takes {tuple(act_shape)}"
            )

    def nested_infos(self, rows: slice | np.ndarray | None = None) -> dict[str, Any]:
        """Infos as nested dicts (``reward_terms/forward`` -> ``{"reward_terms": {"forward": ...}}``)."""
        out: dict[str, Any] = {}
        for name, value in self.infos.items():
            parts = name.split("/")
            node = out
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value if rows is None else value[rows]
        return out


def _seeds(values: Sequence[Any]) -> np.ndarray | None:
    """(E,) int64 seeds from per-episode values (None or negative: unknown), or None if none is known."""
    seeds = np.array([-1 if v is None or int(v) < 0 else int(v) for v in values], dtype=np.int64)
    return seeds if (seeds >= 0).any() else None


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = value
    return out
