"""Offline data for training: a dataset's transitions as resident torch tensors.

* :class:`OfflineData` — a dataset's transitions (numpy, float32), its task and
  episode structure, checked once for NaN/inf and against the env's spaces.
* :class:`StateNormalizer` — ``(s - mean) / std`` with the dataset's statistics
  (``std + 1e-3``, as CORL), saved with the agent so that acting after a reload uses
  exactly the statistics training used.
* :func:`reward_scale` — IQL's locomotion scaling ``r · T / (max return - min return)``.
* :class:`TransitionBatches` — every column of every transition packed into one
  ``(N, D)`` float32 tensor that stays on the device; a batch is one ``randint`` and
  one ``index_select``, then column views (no numpy, no copies per field).
* :class:`SegmentIndex` — windows of H steps inside episodes as ``(B, H)`` index
  arrays into the transitions (padded with the episode's last step, masked), used
  for preference segments and for sampling unlabelled dataset segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn

from pbrl.datasets.trajectories import EpisodeArrays
from ._errors import OfflineDataError  # noqa: F401  (defined without torch; importable from here as before)


@dataclass
class OfflineData(EpisodeArrays):
    """A dataset's transitions (see :meth:`pbrl.datasets.Trajectories.transitions`); sizes and
    episode ``starts`` as :class:`~pbrl.datasets.trajectories.EpisodeArrays`.

    Attributes:
        observations, actions, next_observations: float32 (T, ·).
        rewards: float32 (T,).
        terminals: bool (T,): the episode terminated here (bootstrap with 0).
        timeouts: bool (T,): the episode was cut here (bootstrap from ``next_observations``).
        episode, step: int64 (T,): episode index and position of each transition.
        lengths: int64 (E,): steps of each episode.
        source: the dataset id (for messages).
        task: the pbrl task id the data belongs to.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    lengths: np.ndarray
    source: str = "<memory>"
    task: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        n = self.observations.shape[0]
        for name in ("actions", "rewards", "next_observations", "terminals", "timeouts", "episode", "step"):
            if getattr(self, name).shape[0] != n:
                raise OfflineDataError(f"{self.source}: {name} has {getattr(self, name).shape[0]} rows, observations {n}")
        if int(self.lengths.sum()) != n:
            raise OfflineDataError(f"{self.source}: episode lengths add up to {int(self.lengths.sum())}, not {n} transitions")
        if n == 0:
            raise OfflineDataError(f"{self.source}: the dataset holds no transitions")

    @classmethod
    def from_transitions(cls, t: Mapping[str, np.ndarray], source: str = "<memory>", task: str = "", metadata=None) -> "OfflineData":
        """From a transitions dict (``load_transitions`` / ``Trajectories.transitions``)."""
        missing = {"observations", "actions", "rewards", "next_observations", "terminals", "timeouts", "episode"} - set(t)
        if missing:
            raise OfflineDataError(f"{source}: transitions lack {sorted(missing)}")
        episode = np.asarray(t["episode"], dtype=np.int64)
        if episode.size and np.any(np.diff(episode) < 0):
            raise OfflineDataError(f"{source}: transitions are not ordered by episode")
        lengths = np.bincount(episode, minlength=int(episode.max()) + 1 if episode.size else 0).astype(np.int64)
        if (lengths == 0).any():
            raise OfflineDataError(f"{source}: episode indices skip {np.flatnonzero(lengths == 0)[:5].tolist()}")
        starts = np.cumsum(lengths) - lengths
        step = np.asarray(t["step"], dtype=np.int64) if "step" in t else np.arange(episode.size) - np.repeat(starts, lengths)
        return cls(
            observations=np.ascontiguousarray(t["observations"], dtype=np.float32),
            actions=np.ascontiguousarray(t["actions"], dtype=np.float32),
            rewards=np.asarray(t["rewards"], dtype=np.float32).reshape(-1),
            next_observations=np.ascontiguousarray(t["next_observations"], dtype=np.float32),
            terminals=np.asarray(t["terminals"], dtype=bool).reshape(-1),
            timeouts=np.asarray(t["timeouts"], dtype=bool).reshape(-1),
            episode=episode,
            step=step,
            lengths=lengths,
            source=source,
            task=task,
            metadata=dict(metadata or {}),
        )

    @classmethod
    def load(cls, dataset_id: str, task: str | None = None) -> "OfflineData":
        """Load a local dataset, checking it against ``task`` (default: the dataset's own task).

        Raises:
            pbrl.datasets.DatasetNotFoundError: no such dataset.
            OfflineDataError: NaN/inf in the data, or spaces that don't match the task.
        """
        from pbrl.datasets import DatasetError, load_trajectories, read_metadata, task_of

        meta = read_metadata(dataset_id)
        own = task_of(dataset_id, meta)
        task = task or own
        try:
            traj = load_trajectories(dataset_id)
        except DatasetError as exc:
            raise OfflineDataError(str(exc)) from None
        data = cls.from_transitions(traj.transitions(), source=dataset_id, task=task, metadata=meta)
        data.check_spaces(task)
        return data

    # -- checks -------------------------------------------------------------------

    def check_spaces(self, task: str, env_kwargs: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raise :class:`OfflineDataError` unless observations and actions fit ``task``'s spaces;
        returns the action bounds."""
        import gymnasium as gym

        import pbrl.envs  # noqa: F401  (registers the tasks)

        try:
            env = gym.make(task, **dict(env_kwargs or {}))
        except gym.error.Error as exc:
            raise OfflineDataError(f"dataset {self.source!r}: task {task!r} cannot be made ({exc})") from None
        try:
            obs_shape, act_space = env.observation_space.shape, env.action_space
        finally:
            env.close()
        if self.observations.shape[1:] != tuple(obs_shape):
            raise OfflineDataError(
                f"dataset {self.source!r} has observations of shape {self.observations.shape[1:]} but {task} "
                f"observes {tuple(obs_shape)}: the dataset was made for another task"
            )
        if self.actions.shape[1:] != tuple(act_space.shape):
            raise OfflineDataError(
                f"dataset {self.source!r} has actions of shape {self.actions.shape[1:]} but {task} takes "
                f"{tuple(act_space.shape)}: the dataset was made for another task"
            )
        return np.asarray(act_space.low, dtype=np.float32), np.asarray(act_space.high, dtype=np.float32)

    def check_finite(self, rewards: np.ndarray | None = None) -> None:
        """Raise :class:`OfflineDataError` naming the first array with NaN or inf."""
        arrays = {"observations": self.observations, "actions": self.actions, "next_observations": self.next_observations}
        arrays["rewards"] = self.rewards if rewards is None else rewards
        for name, arr in arrays.items():
            bad = ~np.isfinite(arr)
            if bad.any():
                where = tuple(np.argwhere(bad)[0].tolist())
                raise OfflineDataError(
                    f"dataset {self.source!r}: {name} holds {int(bad.sum())} NaN/inf value(s), the first at index {where} "
                    f"(transition {where[0]}, episode {int(self.episode[where[0]])}); an offline agent cannot train on it"
                )

    # -- structure ----------------------------------------------------------------

    def episode_returns(self, rewards: np.ndarray | None = None) -> np.ndarray:
        """(E,) undiscounted return of each episode (of ``rewards``, default the dataset's)."""
        r = self.rewards if rewards is None else rewards
        return np.add.reduceat(np.asarray(r, dtype=np.float64), self.starts)

    def fingerprint(self) -> dict[str, Any]:
        """A summary that changes when the data changes (checked on resume)."""
        return {
            "source": self.source,
            "transitions": len(self),
            "episodes": self.num_episodes,
            "obs_sum": round(float(self.observations.astype(np.float64).sum()), 3),
            "reward_sum": round(float(self.rewards.astype(np.float64).sum()), 3),
        }


class StateNormalizer(nn.Module):
    """``(s - mean) / std``; the identity until :meth:`fit` is called (or when disabled)."""

    def __init__(self, dim: int, eps: float = 1e-3):
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, observations: np.ndarray) -> None:
        obs = np.asarray(observations, dtype=np.float64)
        self.mean.copy_(torch.as_tensor(obs.mean(0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(obs.std(0) + self.eps, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.mean) / self.std

    def numpy(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.mean.cpu().numpy()) / self.std.cpu().numpy()).astype(np.float32)


def reward_scale(data: OfflineData, rewards: np.ndarray, mode: str, max_episode_steps: int) -> float:
    """The factor IQL multiplies rewards by.

    ``"locomotion"``: ``max_episode_steps / (max episode return - min episode return)``
    (CORL's ``modify_reward``: ``r · 1000 / (max - min)`` on the v2 locomotion tasks);
    ``"none"``: 1.
    """
    if mode == "none":
        return 1.0
    if mode != "locomotion":
        raise ValueError(f"reward_scaling must be 'locomotion' or 'none', got {mode!r}")
    returns = data.episode_returns(rewards)
    span = float(returns.max() - returns.min())
    if not np.isfinite(span) or span <= 1e-8:
        return 1.0  # one episode, or all returns equal: nothing to scale by
    return float(max_episode_steps) / span


def unit_range(rewards: np.ndarray) -> np.ndarray:
    """``rewards`` mapped affinely onto [0, 1] (min → 0, max → 1), as float32: every step then
    pays something, which sets the offset a learned reward leaves open (see ``agents/offline/piql.py``)."""
    low, high = float(rewards.min()), float(rewards.max())
    return ((rewards - low) / max(high - low, 1e-8)).astype(np.float32)


def check_batch(batch: Mapping[str, torch.Tensor], who: str = "batch") -> None:
    """Raise ``ValueError`` naming the first column of a user-given batch with NaN/inf.

    (Batches sampled from a dataset need no check: the dataset was checked once at setup.)
    """
    for name, value in batch.items():
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            where = tuple(torch.nonzero(bad)[0].tolist())
            raise ValueError(f"{who}: column {name!r} holds {int(bad.sum())} NaN/inf value(s), the first at index {where}")


class TransitionBatches:
    """Resident training data and its batch sampler.

    Args:
        columns: name -> (N,) or (N, d) arrays; all packed into one float32 ``(N, D)``
            tensor on ``device``.
        device: torch device.
        generator: the torch generator of the indices (seeded by the agent; saved in
            checkpoints).
    """

    def __init__(self, columns: Mapping[str, np.ndarray], device: torch.device | str, generator: torch.Generator):
        parts, self.slices = [], {}
        start = 0
        n = None
        for name, value in columns.items():
            arr = np.asarray(value, dtype=np.float32)
            arr = arr.reshape(arr.shape[0], -1)
            n = arr.shape[0] if n is None else n
            if arr.shape[0] != n:
                raise OfflineDataError(f"column {name!r} has {arr.shape[0]} rows, the others {n}")
            self.slices[name] = (start, start + arr.shape[1], np.asarray(value).ndim == 1)
            start += arr.shape[1]
            parts.append(arr)
        self.size = int(n or 0)
        self.table = torch.from_numpy(np.concatenate(parts, axis=1)).to(device)
        self.generator = generator
        self.device = torch.device(device)

    def __len__(self) -> int:
        return self.size

    def split(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Column views of gathered rows ``(B, D)``; 1-D columns come back as ``(B,)``."""
        out = {}
        for name, (a, b, flat) in self.slices.items():
            out[name] = rows[..., a] if flat else rows[..., a:b]
        return out

    def indices(self, batch_size: int) -> torch.Tensor:
        return torch.randint(self.size, (batch_size,), generator=self.generator, device=self.device)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """``batch_size`` transitions drawn uniformly with replacement."""
        return self.split(self.table.index_select(0, self.indices(batch_size)))

    def gather(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows at an index tensor of any shape ``(…)`` -> columns ``(…, d)``."""
        rows = self.table.index_select(0, index.reshape(-1))
        return self.split(rows.reshape(*index.shape, rows.shape[-1]))

    def column(self, name: str) -> torch.Tensor:
        a, b, flat = self.slices[name]
        return self.table[:, a] if flat else self.table[:, a:b]


class SegmentIndex:
    """Windows of ``horizon`` steps inside episodes, as indices into the transitions.

    A window starting at step ``k`` of episode ``e`` covers transitions
    ``start_e + k + j`` for ``j < H``; steps past the episode's end point at its last
    transition and are masked out (as pbrl's segment sampler pads short episodes with
    their absorbing last state).
    """

    def __init__(self, lengths: np.ndarray, horizon: int):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.horizon = int(horizon)
        # every (episode, start) with a full window, or start 0 for shorter episodes
        counts = np.maximum(self.lengths - self.horizon + 1, 1)
        self._episode_of_window = np.repeat(np.arange(self.lengths.size), counts)
        self._offset_of_window = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)

    @property
    def num_windows(self) -> int:
        return int(self._episode_of_window.size)

    def windows(self, episode: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(index (B, H), mask (B, H))`` of the windows at (episode, start in episode)."""
        episode = np.asarray(episode, dtype=np.int64)
        start = np.asarray(start, dtype=np.int64)
        j = np.arange(self.horizon)
        pos = start[:, None] + j[None, :]
        length = self.lengths[episode][:, None]
        mask = pos < length
        index = self.starts[episode][:, None] + np.minimum(pos, length - 1)
        return index, mask

    def resident(self, device: torch.device | str) -> "ResidentWindows":
        """A torch sampler of these windows whose tables stay on ``device``."""
        first = self.starts[self._episode_of_window] + self._offset_of_window
        last = self.starts[self._episode_of_window] + self.lengths[self._episode_of_window] - 1
        return ResidentWindows(first, last, self.horizon, device)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n`` windows uniformly over all windows: ``(episode, start, index, mask)``."""
        w = rng.integers(0, self.num_windows, size=int(n))
        episode, start = self._episode_of_window[w], self._offset_of_window[w]
        index, mask = self.windows(episode, start)
        return episode, start, index, mask


class ResidentWindows:
    """Uniform windows of H steps drawn on the device: ``sample(n) -> (index (n, H), mask (n, H))``.

    Window ``w`` starts at transition ``first[w]``; steps past its episode's last
    transition ``last[w]`` point at that transition and are masked out.
    """

    def __init__(self, first: np.ndarray, last: np.ndarray, horizon: int, device: torch.device | str):
        self.first = torch.as_tensor(np.asarray(first, dtype=np.int64), device=device)
        self.last = torch.as_tensor(np.asarray(last, dtype=np.int64), device=device)
        self.offsets = torch.arange(int(horizon), device=device)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.randint(self.first.numel(), (int(n),), generator=generator, device=self.first.device)
        index = self.first[w, None] + self.offsets
        last = self.last[w, None]
        return torch.minimum(index, last), index <= last


__all__ = [
    "ResidentWindows",
    "OfflineData",
    "OfflineDataError",
    "SegmentIndex",
    "StateNormalizer",
    "TransitionBatches",
    "check_batch",
    "reward_scale",
]
