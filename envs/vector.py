"""``BatchedMujocoEnv``: a Gymnasium ``VectorEnv`` over ``mujoco.batch``.

All sub-envs step together on native threads; observations, rewards, terms and
terminations are computed in numpy over the batch. Semantics follow Gymnasium's
``SyncVectorEnv``: per-env seeding (``seed + i``) and ``np_random_seed`` as a tuple,
a time limit per sub-env, the three autoreset modes with the same ``info`` layout
(which sub-env reports which key, ``_key`` masks, ``final_obs``/``final_info``), the
same errors for bad resets and actions, and ``call``/``get_attr``/``set_attr``.

Where a batched env cannot behave as N separate envs, it says so:

* ``reward_terms`` maps each term name to an (N,) array; its mask is
  ``info["_reward_terms"]`` (``SyncVectorEnv`` over the single env would nest a mask
  per term inside the dict).
* ``render()`` returns one frame (sub-env ``render_env``, or ``render(i)``);
  ``call("render")`` returns Gymnasium's tuple of N frames.
* sub-envs share one model and one task: ``get_attr`` of a shared attribute gives the
  same value N times, ``set_attr`` with differing values raises, and a shared
  method run through ``call`` runs once (its result is given N times).
  ``call("step")``/``call("reset")`` raise: step and reset the batch itself.
"""

from __future__ import annotations

import numbers
from typing import Any

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .engine import TaskEngine
from .generators import check_seed
from .rendering import RENDER_MODES, FrameRenderer, check_render_mode
from .task import Task

_MODES = {m.value: m for m in AutoresetMode} | {m.name: m for m in AutoresetMode}
_NO_IDS = np.empty(0, np.int64)
_NO_IDS.flags.writeable = False
# Methods that only make sense for the whole batch: ``call`` refuses them.
_BATCH_ONLY = {
    "step": "step the batch itself: env.step(actions) with (num_envs, action_dim) actions",
    "reset": "reset the batch itself: env.reset(seed=..., options={'reset_mask': mask})",
    "close": "close the batch itself: env.close()",
}


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


def _rows(value: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``value`` at the rows ``where``, zero (False) elsewhere: what Gymnasium's
    ``_add_info`` leaves in the rows of sub-envs that did not report the key."""
    out = np.zeros_like(value)
    out[where] = value[where]
    return out


def _combine(step_info: dict[str, Any], stepped: np.ndarray, reset_info: dict[str, Any], fresh: np.ndarray) -> dict[str, Any]:
    """The batched info of sub-envs ``stepped`` reporting ``step_info`` and sub-envs
    ``fresh`` reporting ``reset_info`` (disjoint masks), laid out as ``SyncVectorEnv``
    lays it out: a key nobody reported is absent, a key's ``_key`` mask says who did,
    and the others' rows are zero."""
    info: dict[str, Any] = {}
    if stepped.any():
        whole = bool(stepped.all())
        for key, value in step_info.items():
            if key.startswith("_"):
                continue
            if isinstance(value, dict):
                info[key] = value if whole else {k: _rows(v, stepped) for k, v in value.items()}
            else:
                info[key] = value if whole else _rows(value, stepped)
            info["_" + key] = stepped
    if fresh.any():
        for key, value in reset_info.items():
            value = np.asarray(value)
            if key in info:
                where = fresh.reshape((-1,) + (1,) * (value.ndim - 1))
                info[key] = np.where(where, value, info[key])
                info["_" + key] = stepped | fresh
            else:
                info[key] = _rows(value, fresh)
                info["_" + key] = fresh
    return info


def merge_final_info(info: dict[str, Any]) -> dict[str, Any]:
    """The info of the step just taken, a row per sub-env, from a SAME_STEP info.

    When an episode ends in SAME_STEP mode, its row of the top-level info is its
    reset info and its last step's info is in ``info["final_info"]``; this puts
    that step info back in its rows (masks follow), and drops ``final_obs`` and
    ``final_info``. An info without ``final_info`` is returned as it is.
    """
    if "final_info" not in info:
        return info
    done = np.asarray(info["_final_info"], dtype=bool)
    final = info["final_info"]
    out: dict[str, Any] = {}
    for key, value in info.items():  # the rows of sub-envs that did not end
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        mask = info["_" + key] & ~done
        if mask.any():
            out[key] = value
            out["_" + key] = mask
    for key, value in final.items():
        if key.startswith("_"):
            continue
        if key not in out:
            out[key], out["_" + key] = value, final["_" + key]
        elif isinstance(value, dict):
            out[key] = {k: np.where(done, v, out[key][k]) if k in out[key] else v for k, v in value.items()}
            out["_" + key] = out["_" + key] | final["_" + key]
        else:
            where = done.reshape((-1,) + (1,) * (np.ndim(value) - 1))
            out[key] = np.where(where, value, out[key])
            out["_" + key] = out["_" + key] | final["_" + key]
    return out



def _shared_rows(space: spaces.Box) -> spaces.Box:
    """``space`` (a batched Box) with its bounds as read-only views of one row.

    ``batch_space`` repeats the sub-env's bounds N times (4 arrays of N × dim: ~0.2-0.3 KB
    per sub-env, as much as the physics state of a small task at N = 4096). Every row is
    the same, so the views hold one row's memory and read the same values.
    """
    for name in ("low", "high", "bounded_below", "bounded_above"):
        rows = getattr(space, name)
        if (rows == rows[:1]).all():
            setattr(space, name, np.broadcast_to(rows[0].copy(), rows.shape))
    return space


class BatchedMujocoEnv(VectorEnv):
    """N copies of a pbrl task stepped together by ``mujoco.batch``.

    Args:
        task: the task to simulate.
        num_envs: number of sub-envs.
        max_episode_steps: time limit per episode (``None`` or -1: no limit).
        autoreset_mode: ``NEXT_STEP`` (Gymnasium's default: the step after an
            episode ends returns the reset observation, reward 0 and both flags
            False), ``SAME_STEP`` (reset in the same step: the returned observation
            and the top-level info of an ended sub-env are its reset ones;
            ``info["final_obs"]`` and ``info["final_info"]`` hold the last
            observation and step info) or ``DISABLED`` (call
            ``reset(options={"reset_mask": mask})`` yourself).
        nthread: native threads for stepping; ``None`` picks one per core.
        render_mode: ``None``, ``"rgb_array"``, ``"depth_array"`` or ``"rgbd_tuple"``.
        width, height: rendered frame size.
        render_env: which sub-env ``render()`` shows by default.
        camera_id, camera_name, max_geom, visual_options, tracking_camera: the
            camera, as for the single env (by default Gymnasium's free camera).

    ``info`` of ``step`` holds, as (N,) arrays with Gymnasium's ``_key`` masks:
    ``reward_terms`` (term name -> weighted term; the reward is their sum), the
    task card's named quantities, ``success`` where the task defines it, and
    ``diverged`` (MuJoCo warned or the state went non-finite: that episode is
    truncated, its last finite observation is returned and it is reset like any
    finished episode). :attr:`last_step_info` holds the step's info for every
    sub-env before SAME_STEP autoreset replaced an ended episode's row (what
    ``final_info`` holds, unmasked); rows of NEXT_STEP reset steps are no transition.
    """

    metadata = {"render_modes": list(RENDER_MODES), "autoreset_mode": AutoresetMode.NEXT_STEP}

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
        camera_id: int | None = None,
        camera_name: str | None = None,
        max_geom: int = 1000,
        visual_options: dict[int, bool] | None = None,
        tracking_camera: bool = False,
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
        self.render_mode = check_render_mode(render_mode)
        self.render_env = self._env_index(render_env, "render_env")
        self._width, self._height = positive_int("width", width), positive_int("height", height)
        model = self.engine.model
        self._render_data = mujoco.MjData(model)  # the rendered sub-env's state is copied here
        self._frames = FrameRenderer(
            model, self._render_data, task.default_camera, self._width, self._height,
            camera_id=camera_id, camera_name=camera_name, max_geom=max_geom,
            visual_options=visual_options, tracking_camera=tracking_camera,
        )

        low, high = self.engine.action_low.astype(np.float32), self.engine.action_high.astype(np.float32)
        self.single_action_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.single_observation_space = spaces.Box(
            low=-np.inf, high=np.inf, shape=(self.engine.obs_dim,), dtype=np.float64
        )
        self.action_space = _shared_rows(batch_space(self.single_action_space, self.num_envs))
        self.observation_space = _shared_rows(batch_space(self.single_observation_space, self.num_envs))

        n = self.num_envs
        # Each sub-env's generator with the seed it was made from, as Gymnasium's
        # envs keep ``np_random_seed`` (unseeded: a fresh entropy seed).
        self._np_random_seeds: list[int] = [self.engine.rngs.seed(i, None) for i in range(n)]
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._needs_reset = np.zeros(n, dtype=bool)  # NEXT_STEP: reset on next step
        self._pending = False  # _needs_reset.any()
        self._has_reset = False
        self._obs = np.zeros((n, self.engine.obs_dim))
        self._all = np.ones(n, dtype=bool)
        self._all.flags.writeable = False
        self._none = np.zeros(n, dtype=bool)
        self._none.flags.writeable = False
        self.last_step_info: dict[str, Any] = {}

    # -- Gymnasium's vector attributes ---------------------------------------

    @property
    def dt(self) -> float:
        """Seconds of simulated time per env step (``timestep * frame_skip``)."""
        return self.engine.dt

    @property
    def np_random_seed(self) -> tuple[int, ...]:
        """Each sub-env's seed, as ``SyncVectorEnv`` gives it (-1: generator set directly)."""
        return tuple(self._np_random_seeds)

    @property
    def np_random(self) -> tuple[np.random.Generator, ...]:
        """Each sub-env's random generator (what its resets draw from)."""
        return tuple(self.engine.rngs)  # each made and kept on first access (envs/generators.py)

    # -- reset ---------------------------------------------------------------

    def _seeds(self, seed) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        if not isinstance(seed, (list, tuple, np.ndarray)):
            raise TypeError(
                f"seed must be None, an int or a list of {self.num_envs} ints/None, got {type(seed).__name__} {seed!r}"
            )
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(
                f"If seeds are passed as a list the length must match num_envs={self.num_envs} but got length={len(seeds)}."
            )
        return seeds

    def _reset_mask(self, mask) -> np.ndarray:
        """Gymnasium's checks of ``options["reset_mask"]``, with its exceptions and messages."""
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"`options['reset_mask']` must be a numpy array, got {type(mask)}")
        if mask.shape != (self.num_envs,):
            raise ValueError(f"`options['reset_mask']` must have shape `({self.num_envs},)`, got {mask.shape}")
        if mask.dtype != np.bool_:
            raise TypeError(f"`options['reset_mask']` must have `dtype=np.bool_`, got {mask.dtype}")
        if not np.any(mask):
            raise ValueError(
                f"`options['reset_mask']` must contain a boolean array with at least one True value, got reset_mask={mask}"
            )
        return mask.copy()

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all sub-envs, or those in ``options["reset_mask"]``.

        Args:
            seed: an int (sub-env i gets ``seed + i``, as in ``SyncVectorEnv``), a list
                of per-env seeds (None: keep that sub-env's generator), or None.
            options: ``{"reset_mask": (N,) bool array}`` resets only the masked
                sub-envs (at least one); the info reports only theirs.
        """
        seeds = self._seeds(seed)
        mask = self._all
        if options:
            unknown = set(options) - {"reset_mask"}
            if unknown:
                raise ValueError(f"unknown reset option(s) {sorted(unknown)}; only 'reset_mask' is supported")
            if "reset_mask" in options:
                mask = self._reset_mask(options["reset_mask"])
        ids = np.flatnonzero(mask)
        seeded = [(int(i), seeds[int(i)]) for i in ids if seeds[int(i)] is not None]
        if seeded:
            # checks every seed before any generator changes (gym.error.Error names a bad one)
            for _, s in seeded:
                check_seed(s)
            for i, s in seeded:
                self._np_random_seeds[i] = self.engine.rngs.seed(i, s)
        self.engine.reset(ids)
        obs = self.engine.observe()
        self._obs[ids] = obs[ids]
        self._elapsed[ids] = 0
        self._needs_reset[ids] = False
        self._pending = bool(self._needs_reset.any())
        self._has_reset = True
        info = _combine({}, self._none, self.task.reset_quantities(self.engine.sim), mask)
        return obs.copy(), info

    # -- step ----------------------------------------------------------------

    def step(self, actions):
        """Step every sub-env with ``actions`` of shape (num_envs, action_dim)."""
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        if type(actions) is not np.ndarray and isinstance(actions, (numbers.Number, np.generic)) or (
            isinstance(actions, np.ndarray) and actions.ndim == 0
        ):
            # a scalar: TypeError, as SyncVectorEnv (which cannot iterate over it)
            raise TypeError(
                f"actions must be batched, shape (num_envs, action_dim) = {(self.num_envs, self.engine.act_dim)}, got {actions!r}"
            )
        engine = self.engine
        action = engine.check_action(actions)
        pending = self._pending
        if pending and self.autoreset_mode is AutoresetMode.DISABLED:
            raise RuntimeError(
                f"sub-env(s) {np.flatnonzero(self._needs_reset).tolist()} ended; with autoreset "
                "DISABLED call reset(options={'reset_mask': ...}) before stepping again"
            )
        if pending and self.autoreset_mode is AutoresetMode.NEXT_STEP:
            resetting = self._needs_reset.copy()
        else:
            resetting = None

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
        info = self.last_step_info = self._step_info(out.outcome, diverged, (obs, reward, terminated, out.terminated))

        if resetting is not None:
            # NEXT_STEP: these sub-envs were not stepped in Gymnasium's sense. They
            # return their reset observation, reward 0, no flags and their reset info.
            ids = np.flatnonzero(resetting)
            engine.reset(ids)
            fresh = engine.observe()
            obs[ids] = fresh[ids]
            reward[ids] = 0.0
            terminated[ids] = False
            truncated[ids] = False
            self._elapsed[ids] = 0
            info = _combine(info, ~resetting, self.task.reset_quantities(engine.sim), resetting)

        done = terminated | truncated
        if self.autoreset_mode is AutoresetMode.SAME_STEP and done.any():
            ids = np.flatnonzero(done)
            step_info = info
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i, row in zip(ids, obs[ids]):  # obs[ids] is a copy: rows outlive obs
                final_obs[i] = row
            engine.reset(ids)
            fresh = engine.observe()
            obs[ids] = fresh[ids]
            self._elapsed[ids] = 0
            info = _combine(step_info, ~done, self.task.reset_quantities(engine.sim), done)
            info["final_obs"], info["_final_obs"] = final_obs, done
            info["final_info"], info["_final_info"] = _combine(step_info, done, {}, self._none), done
            self._needs_reset, self._pending = self._none.copy(), False
        else:
            self._needs_reset, self._pending = done, bool(done.any())
        self._obs = obs
        return obs.copy(), reward, terminated, truncated, info

    def _step_info(self, outcome, diverged: np.ndarray, returned: tuple = ()) -> dict[str, Any]:
        all_ = self._all
        seen = {id(a) for a in returned}  # arrays the step returns (and may change in place)

        def own(value, dtype=None):
            # the info's own array: a task's fresh result is used as it is (a copy would cost a
            # numpy call each, ~1 µs), a view into the batch or an array given twice is copied
            if type(value) is np.ndarray and value.base is None and id(value) not in seen and (
                dtype is None or value.dtype == dtype
            ):
                seen.add(id(value))
                return value
            return np.array(value, dtype=dtype, copy=True)

        terms = {k: own(v, np.float64) for k, v in outcome.reward_terms.items()}
        info: dict[str, Any] = {"reward_terms": terms, "_reward_terms": all_}
        for key, value in outcome.quantities.items():
            info[key] = own(value)  # never a live view into the batch
            info["_" + key] = all_
        if outcome.success is not None:
            info["success"] = np.asarray(outcome.success, dtype=bool).copy()
            info["_success"] = all_
        info["diverged"] = diverged.copy()
        info["_diverged"] = all_
        return info

    # -- call, get_attr, set_attr ----------------------------------------------

    def _per_env(self, name: str) -> tuple[Any, ...] | None:
        """Attributes that differ between sub-envs, one value each (else None)."""
        if name == "np_random_seed":
            return self.np_random_seed
        if name == "np_random":
            return self.np_random
        if name == "_elapsed_steps":  # TimeLimit's counter
            return tuple(int(t) for t in self._elapsed)
        if name == "_max_episode_steps":
            return (self.max_episode_steps,) * self.num_envs
        return None

    def _owner(self, name: str) -> Any:
        """Where a shared attribute lives: the batched env, else its task."""
        if hasattr(self, name):
            return self
        if hasattr(self.task, name):
            return self.task
        raise AttributeError(
            f"{type(self).__name__} (task {type(self.task).__name__}) has no attribute {name!r}"
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """As ``SyncVectorEnv.call``: a tuple of N results, one per sub-env.

        ``call("render")`` renders every sub-env. Per-env attributes
        (``np_random_seed``, ``np_random``, ``_elapsed_steps``) give each
        sub-env's own value. Any other attribute of the batched env or its task
        is shared: its value, or the result of calling it once, is given N times.
        ``step``/``reset``/``close`` are batch operations and raise.
        """
        if name in _BATCH_ONLY:
            raise NotImplementedError(
                f"call({name!r}): pbrl's batched env has no separate sub-envs to {name}; {_BATCH_ONLY[name]}"
            )
        if name == "render":
            if args or kwargs:
                raise TypeError("call('render') takes no arguments, as Env.render()")
            return tuple(self.render(i) for i in range(self.num_envs))
        per_env = self._per_env(name)
        if per_env is not None:
            return per_env
        value = getattr(self._owner(name), name)
        if callable(value):
            value = value(*args, **kwargs)
        return (value,) * self.num_envs

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """As ``SyncVectorEnv.get_attr``: the attribute of each sub-env, a tuple of N."""
        per_env = self._per_env(name)
        if per_env is not None:
            return per_env
        return (getattr(self._owner(name), name),) * self.num_envs

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """As ``SyncVectorEnv.set_attr``: one value for all sub-envs, or a list of N.

        ``np_random`` takes one generator per sub-env. Every other attribute is
        shared by the sub-envs, so a list must hold N equal values.
        """
        if not isinstance(values, (list, tuple)):
            values = [values for _ in range(self.num_envs)]
        if len(values) != self.num_envs:
            raise ValueError(
                "Values must be a list or tuple with length equal to the number of environments. "
                f"Got `{len(values)}` values for {self.num_envs} environments."
            )
        if name == "np_random":
            for i, rng in enumerate(values):
                if not isinstance(rng, np.random.Generator):
                    raise TypeError(f"np_random must be a numpy Generator, got {type(rng).__name__}")
                self.engine.rngs[i] = rng
                self._np_random_seeds[i] = -1  # as Env.np_random's setter
            return
        if self._per_env(name) is not None:
            raise AttributeError(f"{name} cannot be set through set_attr on pbrl's batched env")
        first = values[0]
        for value in values[1:]:
            if not (value is first or _same(value, first)):
                raise ValueError(
                    f"pbrl's batched env shares {name!r} across its {self.num_envs} sub-envs: "
                    f"set_attr needs one value for all of them, got {list(values)!r}"
                )
        owner = self if hasattr(self, name) or not hasattr(self.task, name) else self.task
        setattr(owner, name, first)

    # -- rendering and cleanup ---------------------------------------------

    def render(self, env_index: int | None = None):
        """A frame of one sub-env (default ``render_env``), as ``render_mode`` says.

        With Gymnasium's camera, a frame after a reset is pixel for pixel the frame
        Gymnasium's env of that seed draws. After a step it shows the sub-env's
        state now, while Gymnasium's shows the kinematics ``mj_step`` computed
        before its last substep (one substep of motion earlier), except for tasks
        whose batch keeps whole MjData (``needs_cfrc_ext``): those match exactly.
        The single env keeps whole MjData and matches after steps too.

        ``SyncVectorEnv.render()`` returns a tuple of every sub-env's frame: that is
        ``call("render")`` here. Headless machines need ``MUJOCO_GL=egl`` (or ``osmesa``).
        """
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array' when the env is made")
        index = self.render_env if env_index is None else self._env_index(env_index, "render env_index")
        batch, data = self.engine.batch, self._render_data
        batch.get_data(index, data)
        if not batch.persistent:
            mujoco.mj_forward(self.engine.model, data)
        return self._frames.render(self.render_mode, index)

    def _env_index(self, value, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not 0 <= value < self.num_envs:
            raise IndexError(f"{name} {value} out of range for {self.num_envs} sub-envs")
        return int(value)

    def close_extras(self, **kwargs) -> None:
        self._frames.close()


def _same(a: Any, b: Any) -> bool:
    """Whether two set_attr values are equal (arrays compared elementwise)."""
    try:
        return bool(np.all(np.asarray(a == b)))
    except (TypeError, ValueError):  # shapes that do not compare
        return False
