"""``BatchedTaskEnv``'s single-env sibling: one task as a plain ``gymnasium.Env``.

``gym.make("pbrl/HalfCheetah-v5")`` returns this (inside Gymnasium's usual
wrappers, TimeLimit included). It runs the same task code on a batch of one.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import gymnasium as gym
from gymnasium import spaces

from .engine import TaskEngine
from .task import Task
from .vector import make_camera, positive_int


class SingleTaskEnv(gym.Env):
    """One sub-env of a pbrl task.

    Args:
        task: the task.
        render_mode: ``None`` or ``"rgb_array"``.
        width, height: rendered frame size.

    ``step`` returns scalar reward and flags; ``info`` holds ``reward_terms``
    (term name -> float), the card's quantities, ``success`` where defined and
    ``diverged``.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: Task, render_mode: str | None = None, width: int = 480, height: int = 480):
        self.task = task
        self.card = task.card
        self.engine = TaskEngine(task, 1, nthread=1)
        model = self.engine.model
        low, high = model.actuator_ctrlrange.copy().astype(np.float32).T
        self.action_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self.engine.obs_dim,), dtype=np.float64)
        self.metadata = dict(self.metadata, render_fps=int(np.round(1.0 / self.engine.dt)))
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self._width, self._height = positive_int("width", width), positive_int("height", height)
        self._renderer = None
        self._last_obs = np.zeros(self.engine.obs_dim)

    @property
    def dt(self) -> float:
        return self.engine.dt

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        # Share Gymnasium's generator so seeding matches gym.make(...).reset(seed=...).
        self.engine.rngs[0] = self.np_random
        self.engine.reset(np.array([0]))
        obs = self.engine.observe()[0]
        self._last_obs = obs
        info = {k: np.asarray(v)[0] for k, v in self.task.reset_quantities(self.engine.sim).items()}
        return obs.copy(), info

    def step(self, action):
        try:
            action = np.asarray(action)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"action could not be read as an array: {exc}") from None
        if action.dtype.kind in "biuf" and action.shape != self.action_space.shape:
            raise ValueError(f"action has shape {action.shape}, expected {self.action_space.shape}")
        out = self.engine.step(self.engine.check_action(action[None]))  # names bad dtypes, NaN
        obs = out.obs[0]
        reward = out.reward[0]  # np.float64, as Gymnasium's v5 tasks return
        terminated = bool(out.terminated[0])
        truncated = False
        diverged = bool(out.diverged[0])
        if diverged:
            obs, reward, terminated, truncated = self._last_obs, 0.0, False, True
        self._last_obs = obs
        types = self.task.scalar_types  # keys Gymnasium gives as Python scalars
        if "reward" in types:
            reward = types["reward"](reward)
        info: dict[str, Any] = {
            "reward_terms": {k: float(np.asarray(v)[0]) for k, v in out.outcome.reward_terms.items()},
            "diverged": diverged,
        }
        for key, value in out.outcome.quantities.items():
            info[key] = np.asarray(value)[0]
            if key in types:
                info[key] = types[key](info[key])
        if out.outcome.success is not None:
            info["success"] = bool(np.asarray(out.outcome.success)[0])
        return obs.copy(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array' when the env is made")
        if self._renderer is None:
            model = self.engine.model
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, self._width)
            model.vis.global_.offheight = max(model.vis.global_.offheight, self._height)
            self._renderer = mujoco.Renderer(model, self._height, self._width)
            self._camera = make_camera(model, self.task.default_camera)
        return self.engine.render(0, self._renderer, self._camera)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
