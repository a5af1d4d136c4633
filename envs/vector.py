"""``BatchedMujocoEnv``: a Gymnasium ``VectorEnv`` over ``mujoco.batch``.

All sub-envs step together on native threads; observations, rewards, terms and
terminations are computed in numpy over the batch. Semantics follow Gymnasium's
vector API: per-env seeding as ``SyncVectorEnv`` (``seed + i``), a time limit per
sub-env, and the three autoreset modes.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .engine import TaskEngine
from .task import Task

_MODES = {m.value: m for m in AutoresetMode} | {m.name: m for m in AutoresetMode}
_NO_IDS = np.empty(0, np.int64)
_NO_IDS.flags.writeable = False


def positive_int(name: str, value) -> int:
    """Validate a positive integer option (e.g. a frame size)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _autoreset_mode(value) -> AutoresetMode:
    if isinstance(value, AutoresetMode):
        return value
    try:
        return _MODES[value]
    except (KeyError, TypeError):
        raise ValueError(
            f"autoreset_mode must be one of {[m.name for m in AutoresetMode]}, got {value!r}"
        ) from None


class BatchedMujocoEnv(VectorEnv):
    """N copies of a pbrl task stepped together by ``mujoco.batch``.

    Args:
        task: the task to simulate.
        num_envs: number of sub-envs.
        max_episode_steps: time limit per episode (``None`` or -1: no limit).
        autoreset_mode: ``NEXT_STEP`` (Gymnasium's default: the step after an
            episode ends returns the reset observation, reward 0 and both flags
            False), ``SAME_STEP`` (reset in the same step; ``info["final_obs"]`` and
            ``info["final_info"]`` hold the last observation and info) or
            ``DISABLED`` (call ``reset(options={"reset_mask": mask})`` yourself).
        nthread: native threads for stepping; ``None`` picks one per core.
        render_mode: ``None`` or ``"rgb_array"``.
        width, height: rendered frame size.
        render_env: which sub-env ``render()`` shows by default.

    ``info`` of ``step`` holds, as (N,) arrays: ``reward_terms`` (term name ->
    weighted term; the reward is their sum), the task card's named quantities,
    ``success`` where the task defines it, and ``diverged`` (MuJoCo warned or the
    state went non-finite: that episode is truncated, its last finite observation
    is returned and it is reset like any finished episode).
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        task: Task,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        nthread: int | None = None,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        render_env: int = 0,
    ):
        self.task = task
        self.card = task.card
        self.engine = TaskEngine(task, num_envs, nthread)
        self.num_envs = self.engine.num_envs
        if max_episode_steps is not None and max_episode_steps != -1:
            if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1:
                raise ValueError(f"max_episode_steps must be a positive integer, None or -1, got {max_episode_steps!r}")
            self.max_episode_steps: int | None = int(max_episode_steps)
        else:
            self.max_episode_steps = None
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.metadata = dict(self.metadata)
        self.metadata["autoreset_mode"] = self.autoreset_mode
        self.metadata["render_fps"] = int(np.round(1.0 / self.engine.dt))
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.render_env = self._env_index(render_env, "render_env")
        self._width, self._height = positive_int("width", width), positive_int("height", height)
        self._renderer: mujoco.Renderer | None = None

        model = self.engine.model
        low, high = model.actuator_ctrlrange.copy().astype(np.float32).T
        self.single_action_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.single_observation_space = spaces.Box(
            low=-np.inf, high=np.inf, shape=(self.engine.obs_dim,), dtype=np.float64
        )
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        n = self.num_envs
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._needs_reset = np.zeros(n, dtype=bool)  # NEXT_STEP: reset on next step
        self._has_reset = False
        self._obs = np.zeros((n, self.engine.obs_dim))
        self._all = np.ones(n, dtype=bool)
        self._all.flags.writeable = False

    # -- reset ---------------------------------------------------------------

    def _seeds(self, seed, ids: np.ndarray) -> list[int | None] | None:
        if seed is None:
            return None
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + int(i) for i in ids]
        if not isinstance(seed, (list, tuple, np.ndarray)):
            raise TypeError(
                f"seed must be None, an int or a list of {self.num_envs} ints/None, got {type(seed).__name__} {seed!r}"
            )
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be an int or a list of {self.num_envs} seeds, got {len(seeds)}")
        return [seeds[int(i)] for i in ids]

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all sub-envs, or those in ``options["reset_mask"]``.

        Args:
            seed: an int (sub-env i gets ``seed + i``, as in ``SyncVectorEnv``), a list
                of per-env seeds, or None (keep each sub-env's generator).
            options: ``{"reset_mask": (N,) bool}`` resets only the masked sub-envs.
        """
        ids = np.arange(self.num_envs)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},)")
            ids = np.flatnonzero(mask)
        if options:
            unknown = set(options) - {"reset_mask"}
            if unknown:
                raise ValueError(f"unknown reset option(s) {sorted(unknown)}; only 'reset_mask' is supported")
        seeds = self._seeds(seed, ids)
        if seeds is not None:
            self.engine.seed(seeds, ids)
        self.engine.reset(ids)
        obs = self.engine.observe()
        self._obs[ids] = obs[ids]
        self._elapsed[ids] = 0
        self._needs_reset[ids] = False
        self._has_reset = True
        info = self._reset_info(ids)
        return obs.copy(), info

    def _reset_info(self, ids: np.ndarray) -> dict[str, Any]:
        info: dict[str, Any] = {}
        quantities = self.task.reset_quantities(self.engine.sim)
        if quantities:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ids] = True
            for key, value in quantities.items():
                info[key] = np.asarray(value)
                info["_" + key] = mask
        return info

    # -- step ----------------------------------------------------------------

    def step(self, actions):
        """Step every sub-env with ``actions`` of shape (num_envs, action_dim)."""
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        engine = self.engine
        action = engine.check_action(actions)
        pending = self._needs_reset.any()
        if pending and self.autoreset_mode is AutoresetMode.DISABLED:
            raise RuntimeError(
                f"sub-env(s) {np.flatnonzero(self._needs_reset).tolist()} ended; with autoreset "
                "DISABLED call reset(options={'reset_mask': ...}) before stepping again"
            )
        if pending and self.autoreset_mode is AutoresetMode.NEXT_STEP:
            resetting = np.flatnonzero(self._needs_reset)
        else:
            resetting = _NO_IDS

        out = engine.step(action)
        obs, reward, terminated = out.obs, out.reward, out.terminated
        self._elapsed += 1
        truncated = (
            self._elapsed >= self.max_episode_steps if self.max_episode_steps is not None else np.zeros(self.num_envs, bool)
        )
        diverged = out.diverged
        if out.any_diverged:
            # Never hand out a blown-up state: the episode ends on its last finite obs.
            obs[diverged] = self._obs[diverged]
            reward[diverged] = 0.0
            terminated = terminated & ~diverged
            truncated = truncated | diverged
        info = self._step_info(out.outcome, diverged)

        if resetting.size:
            engine.reset(resetting)
            fresh = engine.observe()
            obs[resetting] = fresh[resetting]
            reward[resetting] = 0.0
            terminated[resetting] = False
            truncated[resetting] = False
            self._elapsed[resetting] = 0
            # Those sub-envs were not stepped in Gymnasium's sense: zero their
            # terms and mask their quantities out, as a reset step has none.
            stepped = np.ones(self.num_envs, dtype=bool)
            stepped[resetting] = False
            for term in info["reward_terms"].values():
                term[resetting] = 0.0
            info["diverged"][resetting] = False
            info["_reward_terms"] = info["_diverged"] = stepped
            for key in list(info):
                if key.startswith("_") or key in ("reward_terms", "diverged"):
                    continue
                info[key] = np.array(info[key], copy=True)
                info[key][resetting] = False if info[key].dtype == np.bool_ else 0
                info["_" + key] = stepped
            # As Gymnasium's vector envs, the reset step carries the reset info.
            for key, value in self.task.reset_quantities(engine.sim).items():
                value = np.asarray(value)
                if key not in info:
                    info[key] = np.zeros(value.shape, dtype=value.dtype)
                    info["_" + key] = np.zeros(self.num_envs, dtype=bool)
                info[key][resetting] = value[resetting]
                info["_" + key] = info["_" + key] | ~stepped

        done = terminated | truncated
        if self.autoreset_mode is AutoresetMode.SAME_STEP and done.any():
            ids = np.flatnonzero(done)
            final_info = self._final_info(info, done)  # before final_obs joins info
            info["final_obs"] = np.where(done[:, None], obs, 0.0)
            info["_final_obs"] = done
            info["final_info"] = final_info
            info["_final_info"] = done
            engine.reset(ids)
            fresh = engine.observe()
            obs[ids] = fresh[ids]
            self._elapsed[ids] = 0
        else:
            self._needs_reset = done
        self._obs = obs
        return obs.copy(), reward, terminated, truncated, info

    def _step_info(self, outcome, diverged: np.ndarray) -> dict[str, Any]:
        all_ = self._all
        terms = {k: np.asarray(v, dtype=np.float64).copy() for k, v in outcome.reward_terms.items()}
        info: dict[str, Any] = {"reward_terms": terms, "_reward_terms": all_}
        for key, value in outcome.quantities.items():
            info[key] = np.array(value, copy=True)  # not a live view into the batch
            info["_" + key] = all_
        if outcome.success is not None:
            info["success"] = np.asarray(outcome.success, dtype=bool).copy()
            info["_success"] = all_
        info["diverged"] = diverged.copy()
        info["_diverged"] = all_
        return info

    def _final_info(self, info: dict[str, Any], done: np.ndarray) -> dict[str, Any]:
        final: dict[str, Any] = {}
        for key, value in info.items():
            if key.startswith("_"):
                continue
            if isinstance(value, dict):
                final[key] = {k: v.copy() for k, v in value.items()}
                final["_" + key] = done
            else:
                final[key] = np.array(value, copy=True)
                final["_" + key] = done
        return final

    # -- rendering and cleanup ---------------------------------------------

    def render(self, env_index: int | None = None) -> np.ndarray | None:
        """An RGB frame (height, width, 3) of one sub-env (default ``render_env``).

        Headless machines need ``MUJOCO_GL=egl`` (or ``osmesa``).
        """
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array' when the env is made")
        index = self.render_env if env_index is None else self._env_index(env_index, "render env_index")
        if self._renderer is None:
            model = self.engine.model
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, self._width)
            model.vis.global_.offheight = max(model.vis.global_.offheight, self._height)
            self._renderer = mujoco.Renderer(model, self._height, self._width)
            self._camera = make_camera(model, self.task.default_camera)
        return self.engine.render(int(index), self._renderer, self._camera)

    def _env_index(self, value, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not 0 <= value < self.num_envs:
            raise IndexError(f"{name} {value} out of range for {self.num_envs} sub-envs")
        return int(value)

    def close_extras(self, **kwargs) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def make_camera(model: mujoco.MjModel, config) -> mujoco.MjvCamera:
    """A free camera set up like Gymnasium's ``default_camera_config``."""
    cam = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(model, cam)
    for key, value in dict(config).items():
        if key == "trackbodyid":
            continue
        if key == "lookat":
            cam.lookat[:] = value
        else:
            setattr(cam, key, value)
    return cam
