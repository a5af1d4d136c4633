"""``BatchedTaskEnv``'s single-env sibling: one task as a Gymnasium ``MujocoEnv``.

``gym.make("pbrl/HalfCheetah-v5")`` returns this (inside Gymnasium's usual
wrappers, TimeLimit included). It runs the same task code on a batch of one and
offers what users of Gymnasium's ``MujocoEnv`` reach for (``model``, ``data``,
``dt``, ``set_state``, ``state_vector``, ...), so that code written for
``gym.make("HalfCheetah-v5").unwrapped`` works on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import DEFAULT_SIZE, MujocoEnv

from .engine import TaskEngine
from .rendering import RENDER_MODES, FrameRenderer, check_render_mode
from .task import Task
from .vector import positive_int

_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION
_FIRST = np.zeros(1, dtype=np.int64)


class SingleTaskEnv(MujocoEnv):
    """One sub-env of a pbrl task, as a Gymnasium ``MujocoEnv``.

    Args:
        task: the task.
        render_mode: ``None``, ``"rgb_array"``, ``"depth_array"`` or ``"rgbd_tuple"``.
        width, height: rendered frame size.
        camera_id, camera_name: render from this camera of the model (not both), as in
            ``MujocoEnv``; by default Gymnasium's free camera set by the task's
            ``default_camera_config``, so frames match Gymnasium's pixel for pixel.
        max_geom, visual_options: the scene's geometry budget and render flags, as in
            ``MujocoEnv``.
        tracking_camera: render with pbrl's tracking camera instead: a free camera
            whose look-at point follows the camera config's ``trackbodyid`` (else the
            root body), so that a running task stays in the frame.

    ``step`` returns scalar reward and flags; ``info`` holds ``reward_terms``
    (term name -> float), the card's quantities, ``success`` where defined and
    ``diverged``.

    As in ``MujocoEnv``: ``model`` is the MjModel the simulation runs on (edits such
    as ``model.opt.timestep`` or ``model.body_mass`` change the physics, and ``dt``,
    ``model.opt.timestep * frame_skip``, follows them); ``init_qpos`` and
    ``init_qvel`` are the state resets draw around (writes to them move it);
    ``set_state``, ``state_vector``, ``get_body_com``, ``do_simulation``,
    ``reset_model`` and ``_get_obs`` do what Gymnasium's do. What differs:

    * ``data`` is a copy of the simulation's MjData (``mujoco.batch`` holds the
      real one), with the values Gymnasium's would hold (mj_rnePostConstraint after
      a step included). It is refreshed on first access after a reset, step or
      ``set_state``; writes to its state (``qpos``, ``qvel``, ``act``, ``ctrl``, ...;
      ``mj_setState``) are carried into the simulation before the next step or
      frame, which then also recomputes its derived fields (mj_forward) where
      Gymnasium's would keep stale ones until the step.
    * ``frame_skip`` is read-only (the task's).
    * ``observation_structure`` exists only where the task defines one.
    * ``render_mode="human"`` (a window) is not offered.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": list(RENDER_MODES)}

    def __init__(
        self,
        task: Task,
        render_mode: str | None = None,
        width: int = DEFAULT_SIZE,
        height: int = DEFAULT_SIZE,
        camera_id: int | None = None,
        camera_name: str | None = None,
        max_geom: int = 1000,
        visual_options: Mapping[int, bool] | None = None,
        tracking_camera: bool = False,
    ):
        # MujocoEnv.__init__ is not called: it compiles a model of its own, where
        # here the model is the engine's and the simulation is sub-env 0 of its batch.
        self.task = task
        self.card = task.card
        # A persistent sim keeps its whole MjData, so that data's derived fields and
        # frames after a step are those of mj_step, as Gymnasium's (a few µs a step).
        self.engine = TaskEngine(task, 1, nthread=1, persistent=True)
        self.model = self.engine.model
        self.fullpath = getattr(task, "xml_file", None) or None
        self._data = mujoco.MjData(self.model)
        self._data_stale = True  # the batch moved since _data was filled
        self._data_lent = False  # _data was handed out: carry its writes into the batch
        self._stepped = False  # the last change was a step (cfrc_ext is then computed)
        self._state = np.empty(mujoco.mj_stateSize(self.model, _INTEGRATION))
        low, high = self.engine.action_low.astype(np.float32), self.engine.action_high.astype(np.float32)
        self.action_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self.engine.obs_dim,), dtype=np.float64)
        self.metadata = dict(self.metadata, render_fps=int(np.round(1.0 / self.dt)))
        self.render_mode = check_render_mode(render_mode)
        self.width, self.height = positive_int("width", width), positive_int("height", height)
        self.camera_id, self.camera_name = camera_id, camera_name
        self._frames = FrameRenderer(
            self.model, self._data, task.default_camera, self.width, self.height,
            camera_id=camera_id, camera_name=camera_name, max_geom=max_geom,
            visual_options=visual_options, tracking_camera=tracking_camera,
        )
        #: Gymnasium's MujocoRenderer of the default camera (None with tracking_camera)
        self.mujoco_renderer = self._frames._renderer
        self._last_obs = np.zeros(self.engine.obs_dim)

    # -- MujocoEnv's attributes ---------------------------------------------------

    @property
    def dt(self) -> float:
        return self.model.opt.timestep * self.frame_skip

    @property
    def frame_skip(self) -> int:
        return self.task.frame_skip

    @property
    def init_qpos(self) -> np.ndarray:
        return self.engine.sim.init_qpos

    @init_qpos.setter
    def init_qpos(self, value) -> None:
        self.engine.sim.init_qpos[:] = value

    @property
    def init_qvel(self) -> np.ndarray:
        return self.engine.sim.init_qvel

    @init_qvel.setter
    def init_qvel(self, value) -> None:
        self.engine.sim.init_qvel[:] = value

    @property
    def observation_structure(self) -> dict[str, int]:
        """The v5 classes' map of observation parts to sizes, where the task gives one."""
        structure = getattr(self.task, "observation_structure", None)
        if structure is None:
            raise AttributeError(f"{type(self.task).__name__} defines no observation_structure")
        return structure

    @property
    def data(self) -> mujoco.MjData:
        """An MjData of the simulation's current state (see the class docstring)."""
        self._sync()
        self._data_lent = True
        return self._data

    def _sync(self) -> None:
        """Fill ``_data`` from the batch if the batch moved."""
        if not self._data_stale:
            return
        self.engine.batch.get_data(0, self._data)  # a persistent sim: its whole MjData
        if self._stepped:
            mujoco.mj_rnePostConstraint(self.model, self._data)
        self._data_stale = False

    def _push(self, force: bool = False) -> None:
        """Carry writes to the lent ``data``'s state into the batch."""
        if not (self._data_lent or force):
            return
        self._data_lent = False
        mujoco.mj_getState(self.model, self._data, self._state, _INTEGRATION)
        row = self.engine.batch.state[0]
        if force or not np.array_equal(self._state, row):
            row[:] = self._state
            self.engine.batch.forward(_FIRST)
            self._last_obs = self.engine.observe()[0]

    def _moved(self, stepped: bool) -> None:
        self._data_stale, self._data_lent, self._stepped = True, False, stepped

    def set_state(self, qpos, qvel):
        """Set the joints position qpos and velocity qvel of the model.

        Note: `qpos` and `qvel` is not the full physics state for all mujoco models/environments https://mujoco.readthedocs.io/en/stable/APIreference/APItypes.html#mjtstate
        """
        assert qpos.shape == (self.model.nq,) and qvel.shape == (self.model.nv,)
        self._push()
        self._sync()
        data = self._data
        data.qpos[:] = np.copy(qpos)
        data.qvel[:] = np.copy(qvel)
        if self.model.na == 0:
            data.act[:] = None
        mujoco.mj_forward(self.model, data)
        self._push(force=True)

    def _get_obs(self) -> np.ndarray:
        """The observation of the current state (as the v5 classes' ``_get_obs``)."""
        self._push()
        return self.engine.observe()[0].copy()

    def reset_model(self) -> np.ndarray:
        """Draw a reset state from ``np_random`` and return its observation, as the v5
        classes' ``reset_model`` (``reset`` also seeds and returns the reset info)."""
        self.engine.rngs[0] = self.np_random
        self.engine.reset(_FIRST)
        self._moved(stepped=False)
        self._last_obs = self.engine.observe()[0]
        return self._last_obs.copy()

    def do_simulation(self, ctrl, n_frames) -> None:
        """Step the simulation n_frames MuJoCo steps with control ``ctrl`` (MuJoCo's controls, ``model.nu``
        of them, written as given: not the task's action), as ``MujocoEnv``."""
        if np.array(ctrl).shape != (self.model.nu,):
            raise ValueError(
                f"Action dimension mismatch. Expected {(self.model.nu,)}, found {np.array(ctrl).shape}"
            )
        self._push()
        self.engine.sim.ctrl[0] = ctrl
        self.engine.batch.step(None, nstep=int(n_frames), stage=self.engine.task.step_stage)
        self._moved(stepped=True)

    # -- the gymnasium.Env API ----------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        gym.Env.reset(self, seed=seed)
        # Share Gymnasium's generator so seeding matches gym.make(...).reset(seed=...).
        self.engine.rngs[0] = self.np_random
        self.engine.reset(_FIRST)
        self._moved(stepped=False)
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
        checked = self.engine.check_action(action[None])  # names bad dtypes, NaN
        self._push()
        out = self.engine.step(checked)
        self._moved(stepped=True)
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
        """A frame of the current state in ``render_mode`` (Gymnasium's camera by default)."""
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array' when the env is made")
        self._push()
        self._sync()
        return self._frames.render(self.render_mode)

    def close(self):
        self._frames.close()
