"""Rollouts of policies, recorded by trusted code, and the segments cut from them.

ICPL shows a teacher the behaviour of each candidate's trained policy, and the
reward-hacking check scores rewards on held-out behaviour. Both need episodes with
everything a teacher or a reward program reads: observations, actions, the next
observations, the true rewards and the task's reward terms, the card's named
quantities, and ``qpos``/``qvel`` (so the labeling page can draw them).

* :class:`EpisodeRecorder` records a batch of episodes step by step; the trusted
  evaluation (``fitness.py``, run by ``evaluator.py``) uses it, so a candidate's
  rollouts are the evaluation episodes of its policy on fresh seeds.
* :func:`random_rollouts` records random-action episodes (the reference behaviour of
  the reward-hacking check's "before" score), in this process: only pbrl's env runs.
* :class:`Rollouts` is the recorded data, written as a plain ``.npz`` (no pickle) and
  read back with its shapes checked (:func:`load_rollouts`).
* :func:`cut_segments` cuts windows of ``H`` steps (or whole episodes) into a
  :class:`~pbrl.preferences.SegmentBatch` for teachers and the preference store.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from pbrl.preferences.segments import SegmentBatch

__all__ = ["EpisodeRecorder", "MAX_ROLLOUT_BYTES", "Rollouts", "cut_segments", "load_rollouts", "random_rollouts"]

#: largest rollouts file the parent accepts from the trusted evaluation (bytes)
MAX_ROLLOUT_BYTES = 128 << 20
#: extras that describe the state, not the transition
STATE_EXTRAS = ("qpos", "qvel")


@dataclass
class Rollouts:
    """N recorded episodes padded to T steps: (N, T, ...) arrays and each episode's length."""

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def to_bytes(self) -> bytes:
        arrays = {"obs": self.obs, "actions": self.actions, "next_obs": self.next_obs, "rewards": self.rewards,
                  "lengths": self.lengths}
        arrays.update({f"terms/{k}": v for k, v in self.terms.items()})
        arrays.update({f"extras/{k}": v for k, v in self.extras.items()})
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()


def load_rollouts(data: bytes) -> Rollouts:
    """Read :meth:`Rollouts.to_bytes` back, refusing pickles, oversized files and arrays that do not fit."""
    if len(data) > MAX_ROLLOUT_BYTES:
        raise ValueError(f"a rollouts file of {len(data)} bytes is larger than the {MAX_ROLLOUT_BYTES} accepted")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in ("obs", "actions", "next_obs", "rewards", "lengths"):
        if key not in arrays:
            raise ValueError(f"the rollouts file has no {key!r}")
    obs = arrays["obs"]
    if obs.ndim != 3:
        raise ValueError(f"rollout observations must be (N, T, obs_dim), got {obs.shape}")
    n, t = obs.shape[:2]
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf" or (key != "lengths" and value.shape[:2] != (n, t)):
            raise ValueError(f"rollout array {key!r} of {value.dtype} {value.shape} does not fit (N, T) = ({n}, {t})")
    lengths = arrays["lengths"].astype(np.int64)
    if lengths.shape != (n,) or (lengths < 0).any() or (lengths > t).any():
        raise ValueError("rollout episode lengths do not fit the arrays")
    return Rollouts(obs, arrays["actions"], arrays["next_obs"], arrays["rewards"].astype(np.float64), lengths,
                    {k[6:]: v.astype(np.float64) for k, v in arrays.items() if k.startswith("terms/")},
                    {k[7:]: v for k, v in arrays.items() if k.startswith("extras/")})


class EpisodeRecorder:
    """Records N episodes (one per sub-env) of a batched env step by step.

    Args:
        num_envs: N.
        quantities: the card's named quantities to keep from each step's info.
        max_steps: T, the most steps kept per episode.
    """

    def __init__(self, num_envs: int, quantities: Sequence[str], max_steps: int):
        self.n, self.t = int(num_envs), int(max_steps)
        self.quantities = list(quantities)
        self.rows: list[dict[str, Any]] = []
        self.lengths = np.zeros(self.n, dtype=np.int64)

    def step(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, reward: np.ndarray,
             info: Mapping[str, Any], active: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """One vector step (``active``: rows still in their episode; ``state``: qpos, qvel before the step)."""
        if len(self.rows) >= self.t:
            return
        row: dict[str, Any] = {"obs": obs, "actions": action, "next_obs": next_obs, "rewards": reward}
        for k, v in dict(info.get("reward_terms") or {}).items():
            row[f"terms/{k}"] = v
        for k in self.quantities + ["success"]:
            if k in info:
                row[f"extras/{k}"] = info[k]
        if state is not None:
            row["extras/qpos"], row["extras/qvel"] = state
        self.rows.append({k: np.array(v, dtype=np.float32 if k != "rewards" and not k.startswith("terms/") else np.float64)
                          for k, v in row.items()})
        self.lengths += np.asarray(active, dtype=bool)

    def rollouts(self) -> Rollouts:
        if not self.rows:
            raise ValueError("no steps were recorded")
        keys = [k for k in self.rows[0] if all(k in r for r in self.rows)]
        stacked = {k: np.stack([r[k] for r in self.rows], axis=1) for k in keys}
        t = stacked["obs"].shape[1]
        valid = np.arange(t)[None, :] < self.lengths[:, None]
        for k, v in stacked.items():  # steps after an episode's end are zeros
            v[~valid] = 0
        return Rollouts(stacked["obs"], stacked["actions"], stacked["next_obs"], stacked["rewards"], self.lengths.copy(),
                        {k[6:]: v for k, v in stacked.items() if k.startswith("terms/")},
                        {k[7:]: v for k, v in stacked.items() if k.startswith("extras/")})


def random_rollouts(task: str, episodes: int, steps: int, seed: int, env_kwargs: Mapping[str, Any] | None = None) -> Rollouts:
    """``episodes`` episodes of uniformly random actions, at most ``steps`` steps each (trusted: pbrl's env only)."""
    import gymnasium as gym

    import pbrl.envs  # noqa: F401
    from pbrl.datasets.collect import qpos_qvel
    from pbrl.rewards.source import transition_info

    env = gym.make_vec(task, num_envs=int(episodes), vectorization_mode="vector_entry_point", **dict(env_kwargs or {}))
    try:
        card = env.unwrapped.card
        rng = np.random.default_rng(seed)
        low, high = env.single_action_space.low, env.single_action_space.high
        rec = EpisodeRecorder(env.num_envs, list(card.quantities), steps)
        obs, _ = env.reset(seed=int(seed))
        alive = np.ones(env.num_envs, dtype=bool)
        for _ in range(int(steps)):
            state = qpos_qvel(env)
            action = rng.uniform(low, high, size=(env.num_envs, low.shape[0]))
            next_obs, reward, terminated, truncated, raw = env.step(action)
            info = transition_info(getattr(env.unwrapped, "last_step_info", None) or raw)
            rec.step(obs, action, next_obs, reward, info, alive, state)
            alive &= ~(terminated | truncated)
            obs = next_obs
            if not alive.any():
                break
    finally:
        env.close()
    return rec.rollouts()


def cut_segments(rollouts: Rollouts, horizon: int, count: int, rng: np.random.Generator, source_id: str, *,
                 whole: bool = False) -> SegmentBatch:
    """``count`` segments of ``horizon`` steps at random episodes and starts, or (``whole``) episodes from
    their start, padded to ``horizon`` steps. Steps past an episode's end are padding (mask False). The
    batch carries the next observations, the card's quantities and qpos/qvel as extras."""
    lengths = rollouts.lengths
    pool = np.flatnonzero(lengths > 0)
    if pool.size == 0:
        raise ValueError(f"{source_id}: no recorded episode has a step")
    h = int(horizon)
    if h < 1:
        raise ValueError(f"segments need a horizon >= 1, got {h}")
    long_enough = pool[lengths[pool] >= h]
    chosen = rng.choice(long_enough if long_enough.size and not whole else pool, size=int(count), replace=True)
    starts = np.asarray([0 if whole else int(rng.integers(0, max(int(lengths[i]) - h, 0) + 1)) for i in chosen],
                        dtype=np.int64)
    idx = starts[:, None] + np.arange(h)[None, :]
    mask = idx < lengths[chosen][:, None]
    idx = np.minimum(idx, rollouts.obs.shape[1] - 1)
    rows = chosen[:, None]

    def take(a: np.ndarray) -> np.ndarray:
        out = np.array(a[rows, idx])
        out[~mask] = 0
        return out

    extras = {k: take(v) for k, v in rollouts.extras.items()}
    extras["next_obs"] = take(rollouts.next_obs)
    return SegmentBatch(take(rollouts.obs), take(rollouts.actions), take(rollouts.rewards),
                        terms={k: take(v) for k, v in rollouts.terms.items()}, mask=mask, extras=extras,
                        origin_kind="run", source_id=source_id, episode=chosen, start=starts)
