"""Stable-Baselines3 ``VecEnv`` adapter for pbrl's batched envs.

It gives what SB3's ``DummyVecEnv`` gives over N ``gym.make(id)`` envs wrapped in
SB3's ``Monitor``:

* every step, per sub-env, the step's info (the single env's keys: ``reward_terms``,
  the card's quantities, ``success``, ``diverged``, ...) and
  ``"TimeLimit.truncated"`` (truncated and not terminated);
* same-step autoreset: when an episode ends, the returned observation is the next
  episode's first, the last one is ``infos[i]["terminal_observation"]``, the reset
  info goes to ``reset_infos[i]``, and ``infos[i]["episode"]`` holds the episode's
  return, length and time as ``Monitor`` writes them (``monitor=False`` leaves
  them out). ``infos[i]["is_success"]`` is set there too where the task defines
  success (SB3 logs it as the success rate).

Because the adapter is its own ``Monitor``, ``env_is_wrapped(Monitor)`` is True and
SB3's ``evaluate_policy`` uses its episode statistics; wrapping it in ``VecMonitor``
too would only replace them by equal ones (and SB3 warns about it).

Per-env values are Python scalars (``float``, ``bool``), built from the batched
arrays in one pass per key. Imports stable-baselines3 (and so torch):
``pbrl.envs`` does not import this module.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from .vector import BatchedMujocoEnv

_NOT_PER_ENV = ("final_obs", "final_info")


class SB3VecEnv(VecEnv):
    """Present a :class:`~pbrl.envs.BatchedMujocoEnv` to Stable-Baselines3.

    Args:
        env: a batched env made with ``autoreset_mode="SameStep"``, or a pbrl id to
            make one with ``gym.make_vec``.
        num_envs: sub-envs, when ``env`` is an id.
        monitor: keep ``Monitor``'s episode statistics (``infos[i]["episode"]``).
        **kwargs: passed to ``gym.make_vec`` when ``env`` is an id.

    After every step ``last_info`` holds the batched info of the step just taken
    (``reward_terms``, quantities, ``success`` as (N,) arrays, ended episodes'
    rows included), plus ``final_obs`` as an (N, obs_dim) array where episodes
    ended, so callbacks and reward wrappers can work on arrays.
    """

    def __init__(self, env: BatchedMujocoEnv | str, num_envs: int = 1, monitor: bool = True, **kwargs: Any):
        if isinstance(env, str):
            env = gym.make_vec(env, num_envs=num_envs, autoreset_mode="SameStep", **kwargs)
        base = env.unwrapped if hasattr(env, "unwrapped") else env
        if not isinstance(base, BatchedMujocoEnv):
            raise TypeError(f"SB3VecEnv needs a pbrl BatchedMujocoEnv, got {type(base).__name__}")
        if base.autoreset_mode.name != "SAME_STEP":
            raise ValueError("SB3VecEnv needs an env made with autoreset_mode='SameStep' (SB3's semantics)")
        self.env = base
        self.render_mode = base.render_mode
        self.monitor = bool(monitor)
        super().__init__(base.num_envs, base.single_observation_space, base.single_action_space)
        self._actions: np.ndarray | None = None
        self.last_info: dict[str, Any] = {}
        self._ep_return = np.zeros(self.num_envs)
        self._ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self._t_start = time.time()

    # -- the VecEnv protocol ---------------------------------------------------

    def reset(self) -> np.ndarray:
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs, info = self.env.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = _per_env(info, self.num_envs)
        self.last_info = info
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async()")
        env = self.env
        obs, reward, terminated, truncated, info = env.step(self._actions)
        self._actions = None
        step_info = env.last_step_info  # every row: the ended episodes' last step too
        dones = terminated | truncated
        infos = _per_env(step_info, self.num_envs, {"TimeLimit.truncated": truncated & ~terminated})
        if self.monitor:
            self._ep_return += reward
            self._ep_length += 1
        if dones.any():
            ids = np.flatnonzero(dones)
            final_obs = info["final_obs"]
            dense = np.zeros_like(obs)
            success = step_info.get("success")
            for i in ids:
                row = infos[i]
                row["terminal_observation"] = final_obs[i]
                dense[i] = final_obs[i]
                if success is not None:
                    row["is_success"] = bool(success[i])
                if self.monitor:
                    row["episode"] = {
                        "r": round(float(self._ep_return[i]), 6),
                        "l": int(self._ep_length[i]),
                        "t": round(time.time() - self._t_start, 6),
                    }
                # the top-level row of an ended sub-env is its reset info
                self.reset_infos[i] = {
                    k: _item(v, i) for k, v in info.items()
                    if not k.startswith("_") and k not in _NOT_PER_ENV and info["_" + k][i]
                }
            self._ep_return[ids] = 0.0
            self._ep_length[ids] = 0
            step_info = dict(step_info, final_obs=dense, _final_obs=dones)
        self.last_info = step_info
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return [self.env.render(i) for i in range(self.num_envs)]

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        values = self.env.get_attr(attr_name)
        return [values[i] for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        targets = list(self._get_indices(indices))
        if len(targets) == self.num_envs:
            self.env.set_attr(attr_name, value)
            return
        values = list(self.env.get_attr(attr_name))
        for i in targets:
            values[i] = value
        self.env.set_attr(attr_name, values)  # raises if that leaves a shared attribute unequal

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        results = self.env.call(method_name, *method_args, **method_kwargs)
        return [results[i] for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        """Whether each sub-env is wrapped in ``wrapper_class``, as far as the adapter
        does a wrapper's work: ``Monitor`` (with ``monitor=True``) and ``TimeLimit``
        (when the env has a time limit)."""
        emulated = [Monitor] if self.monitor else []
        if self.env.max_episode_steps is not None:
            emulated.append(TimeLimit)
        wrapped = any(issubclass(w, wrapper_class) for w in emulated)
        return [wrapped for _ in self._get_indices(indices)]


def _item(value: Any, i: int) -> Any:
    """Row ``i`` of a batched info value, as a Python scalar (a dict: per key)."""
    if isinstance(value, dict):
        return {k: _item(v, i) for k, v in value.items() if not k.startswith("_")}
    row = value[i]
    return row.item() if isinstance(row, np.generic) else row


def _per_env(info: dict[str, Any], n: int, extra: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """One dict per sub-env from a batched info (rows whose mask is False left out).

    Built column by column (``tolist`` per key, one ``zip`` for the rows): the
    adapter does this every step, on PPO's hot path.
    """
    keys: list[str] = []
    cols: list[list[Any]] = []
    partial: list[tuple[str, np.ndarray]] = []
    for key, value in info.items():
        if key.startswith("_") or key in _NOT_PER_ENV:
            continue
        mask = info.get("_" + key)
        if mask is not None and not mask.all():
            partial.append((key, mask))
        if isinstance(value, dict):
            names = [k for k in value if not k.startswith("_")]
            if names:
                terms = zip(*[np.asarray(value[k]).tolist() for k in names])
                cols.append([dict(zip(names, row)) for row in terms])
            else:
                cols.append([{} for _ in range(n)])
        else:
            value = np.asarray(value)
            cols.append(value.tolist() if value.ndim == 1 else list(value))
        keys.append(key)
    for key, value in (extra or {}).items():
        keys.append(key)
        cols.append(np.asarray(value).tolist())
    rows = [dict(zip(keys, row)) for row in zip(*cols)] if keys else [{} for _ in range(n)]
    for key, mask in partial:
        for i in np.flatnonzero(~mask):
            del rows[i][key]
    return rows
