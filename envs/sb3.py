"""Stable-Baselines3 ``VecEnv`` adapter for pbrl's batched envs.

SB3 expects same-step autoreset: when an episode ends, ``step_wait`` returns the
first observation of the next episode, with the last one in
``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` set
when the episode was cut by the time limit rather than terminated.

Imports stable-baselines3 (and so torch): ``pbrl.envs`` does not import this module.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from .vector import BatchedMujocoEnv


class SB3VecEnv(VecEnv):
    """Present a :class:`~pbrl.envs.BatchedMujocoEnv` to Stable-Baselines3.

    Args:
        env: a batched env, or a pbrl id to make one with ``gym.make_vec``.
        num_envs: sub-envs, when ``env`` is an id.
        **kwargs: passed to ``gym.make_vec`` when ``env`` is an id.

    After every step ``last_info`` holds the batched info of the underlying env
    (``reward_terms``, quantities, ``success`` as (N,) arrays), so callbacks can
    log them without per-env dictionaries.
    """

    def __init__(self, env: BatchedMujocoEnv | str, num_envs: int = 1, **kwargs: Any):
        if isinstance(env, str):
            env = gym.make_vec(env, num_envs=num_envs, autoreset_mode="SameStep", **kwargs)
        base = env.unwrapped if hasattr(env, "unwrapped") else env
        if not isinstance(base, BatchedMujocoEnv):
            raise TypeError(f"SB3VecEnv needs a pbrl BatchedMujocoEnv, got {type(base).__name__}")
        if base.autoreset_mode.name != "SAME_STEP":
            raise ValueError("SB3VecEnv needs an env made with autoreset_mode='SameStep' (SB3's semantics)")
        self.env = base
        self.render_mode = base.render_mode
        super().__init__(base.num_envs, base.single_observation_space, base.single_action_space)
        self._actions: np.ndarray | None = None
        self.last_info: dict[str, Any] = {}

    # -- the VecEnv protocol ---------------------------------------------------

    def reset(self) -> np.ndarray:
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs, info = self.env.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self.last_info = info
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async()")
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        self.last_info = info
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final_obs = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                if "success" in info:
                    infos[i]["is_success"] = bool(info["success"][i])
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
        value = getattr(self.env, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        method = getattr(self.env, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
