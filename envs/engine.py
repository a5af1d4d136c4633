"""The batched physics engine under every pbrl env: ``mujoco.batch`` plus a task.

:class:`TaskEngine` holds N simulations of one model, resets chosen sub-envs from
per-env random generators, applies batched actions, steps all sims on native
threads and asks the task for observations, reward terms and termination. It
knows nothing of autoreset or time limits: the vector and single envs add those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mujoco
import mujoco.batch
import numpy as np

from .generators import GeneratorBank
from .task import Sim, StepOutcome, Task


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(num_envs: int) -> int:
    """Native threads for stepping: one per core, never more than sub-envs."""
    return max(1, min(usable_cores(), num_envs))


@dataclass
class EngineStep:
    """One batched step: everything the envs need to build their outputs."""

    obs: np.ndarray  # (N, obs_dim) float64
    reward: np.ndarray  # (N,) float64
    terminated: np.ndarray  # (N,) bool
    diverged: np.ndarray  # (N,) bool: MuJoCo warned or the state went non-finite
    outcome: StepOutcome
    any_diverged: bool = True  # False only when ``diverged`` is known to be all False


#: longest piece of a vector :func:`zero_dot` gives one BLAS call: above 10 000 values OpenBLAS
#: splits a dot product over its threads, which costs milliseconds a call instead of microseconds
#: (measured here: 2 µs for 10 000 values, 7-15 ms for 10 001 on a loaded machine)
DOT_CHUNK = 8192
_ZEROS = {np.dtype(np.float64): np.zeros(DOT_CHUNK), np.dtype(np.float32): np.zeros(DOT_CHUNK, np.float32)}


def zero_dot(flat: np.ndarray) -> float:
    """``flat · 0``: 0.0 when every entry is finite, NaN otherwise (one pass, no temporary array),
    in pieces of at most :data:`DOT_CHUNK` values so that BLAS never starts its threads."""
    zeros = _ZEROS.get(flat.dtype, _ZEROS[np.dtype(np.float64)])
    n = flat.size
    if n <= DOT_CHUNK:
        return float(np.dot(flat, zeros[:n]))
    total = 0.0
    for start in range(0, n, DOT_CHUNK):
        piece = flat[start : start + DOT_CHUNK]
        total += float(np.dot(piece, zeros[: piece.size]))
    return total


def zero_rows(block: np.ndarray, zeros: np.ndarray) -> float:
    """``block · 0`` for a strided (N, k) block: 0.0 when every entry is finite, NaN otherwise;
    a matrix-vector product per piece of at most :data:`DOT_CHUNK` values (no BLAS threads)."""
    n, k = block.shape
    step = max(1, DOT_CHUNK // max(1, k))
    total = 0.0
    for start in range(0, n, step):
        part = np.dot(block[start : start + step], zeros)
        total += float(np.dot(part, _ZEROS[np.dtype(np.float64)][: part.size]))
    return total


def action_bounds(task: Task, model: mujoco.MjModel, maps_action: bool) -> tuple[np.ndarray, np.ndarray]:
    """``task.action_bounds(model)`` as two read-only float64 arrays of the action size.

    The default (the actuators' ctrlrange) is taken as compiled, as it always was; a task's own
    bounds are checked: two 1-D arrays of one size, no NaN, low <= high, and an action of another
    size than ``model.nu`` only with an ``apply_action`` of the task's (``maps_action``) that maps
    it to the controls.
    """
    bounds = task.action_bounds(model)
    if type(task).action_bounds is Task.action_bounds:
        return _read_only(bounds[0]), _read_only(bounds[1])
    name = f"{type(task).__name__}.action_bounds"
    try:
        low, high = (np.array(b, dtype=np.float64) for b in bounds)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must return (low, high), two arrays of numbers, got {bounds!r}") from None
    if low.ndim != 1 or low.shape != high.shape:
        raise ValueError(f"{name} must return two 1-D arrays of one size, got shapes {low.shape} and {high.shape}")
    if np.isnan(low).any() or np.isnan(high).any():
        raise ValueError(f"{name} returned NaN bounds: low {low.tolist()}, high {high.tolist()}")
    if (low > high).any():
        raise ValueError(f"{name} returned low > high at entries {np.flatnonzero(low > high).tolist()}")
    if low.size != model.nu and not maps_action:
        raise ValueError(
            f"{name} gives {low.size} action entries but the model has {model.nu} controls (nu), and "
            f"{type(task).__name__} keeps the default apply_action (ctrl = action): override apply_action "
            "to map the action to the controls"
        )
    return _read_only(low), _read_only(high)


def _read_only(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=np.float64)
    values.flags.writeable = False
    return values


class TaskEngine:
    """N simulations of a task on one ``mujoco.batch.Batch``.

    Args:
        task: the task (model, observation, reward terms, termination).
        num_envs: number of sub-envs N.
        nthread: native threads for stepping; ``None`` picks one per core.
        persistent: keep each sim's whole MjData (as ``mujoco.batch.Batch``'s
            ``persistent``); ``None``: only when the task needs cfrc_ext.
    """

    def __init__(self, task: Task, num_envs: int, nthread: int | None = None, persistent: bool | None = None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if nthread is not None and (not isinstance(nthread, (int, np.integer)) or nthread < 1):
            raise ValueError(f"nthread must be a positive integer or None, got {nthread!r}")
        self.task = task
        self.num_envs = int(num_envs)
        self.model = task.build_model()
        self.nthread = int(nthread) if nthread else default_threads(self.num_envs)
        # Persistent sims keep their whole MjData, which cfrc_ext needs.
        self.batch = mujoco.batch.Batch(
            self.model, self.num_envs, nthread=self.nthread,
            persistent=(task.needs_cfrc_ext or bool(task.step_stage)) if persistent is None else bool(persistent),
        )
        self._stage = int(task.step_stage)
        # the default hooks cost nothing: only a task that overrides them is called
        self._apply_action = None if type(task).apply_action is Task.apply_action else task.apply_action
        self._after_reset = None if type(task).after_reset is Task.after_reset else task.after_reset
        # The sims read self.model live (mujoco.batch copies it otherwise), so that edits
        # of it (opt.timestep, body_mass, ...) change the physics, as with MujocoEnv.model.
        self.batch.set_models(self.model)
        self.sim = Sim(self.batch, self.model, task.frame_skip, tuple(task.data_fields), task.needs_cfrc_ext)
        #: the action space's bounds (act_dim,) float64, read-only: the task's ``action_bounds``
        self.action_low, self.action_high = action_bounds(task, self.model, self._apply_action is not None)
        self.act_dim = self.action_low.size
        self._action_shape = (self.num_envs, self.act_dim)
        self.obs_dim = task.observation_dim
        # Live (N, mjNWARNING) view of MuJoCo's warning counters.
        self._warning_counts = self.batch.warning[:, :, 1]
        self._warnings = self._warning_counts.sum(axis=1)
        # Their grand total: one reduction per step tells whether any sim warned.
        self._warnings_total = int(self._warnings.sum())
        # Each sub-env's generator (Gymnasium's seeding.np_random), kept compactly.
        self.rngs = GeneratorBank(self.num_envs)
        # The finiteness checks of a step are dot products with zeros (zero_dot): NaN iff an
        # entry is NaN or infinite, no overflow to guard. The state checked is what a step
        # integrates, qpos, qvel (and act): one block of each integration-state row, read
        # as a strided (N, k) block (the rest of a row, warm start and applied forces, is
        # not read: a step leaves those rows' cache lines on the core that stepped them).
        qpos, qvel = self.sim.qpos, self.sim.qvel
        rows = qpos.base
        width = self.model.nq + self.model.nv + self.model.na
        if (
            rows is not None and rows.ndim == 2 and rows.flags.c_contiguous and np.shares_memory(rows, qvel)
            and qpos.strides[1] == rows.itemsize
        ):
            start = (qpos.__array_interface__["data"][0] - rows.__array_interface__["data"][0]) // rows.itemsize
            self._state_block = rows[:, start : start + width]
        else:  # an unexpected layout: qpos and qvel on their own
            self._state_block = None
        self._state_checks = [qpos, qvel]
        self._zero_cols = np.zeros(width)
        self.batch.reset()
        self._step_all = self._native_step(self.batch)

    @staticmethod
    def _native_step(batch):
        """``mujoco.batch``'s native ``step(ids, nstep, stage) -> number failed`` where its
        signature is the one pbrl was tested with (MuJoCo 4.0), else None (``Batch.step``)."""
        native = getattr(getattr(batch, "_b", None), "step", None)
        doc = getattr(native, "__doc__", None) or ""
        if not callable(native) or not callable(getattr(batch, "_check", None)):
            return None
        if not all(part in doc for part in ("ids", "nstep", "stage", "-> int")):
            return None
        return native

    @property
    def dt(self) -> float:
        """One env step in seconds: ``model.opt.timestep * frame_skip``, read on access."""
        return self.model.opt.timestep * self.task.frame_skip

    # -- seeding and resets -------------------------------------------------

    def seed(self, seeds: list[int | None], ids: np.ndarray) -> None:
        """Give sub-envs ``ids`` fresh generators, as ``Env.reset(seed=...)`` does."""
        for i, s in zip(ids, seeds):
            self.rngs.seed(int(i), s)

    def reset(self, ids: np.ndarray) -> None:
        """Reset sub-envs ``ids`` to states drawn from their own generators.

        As Gymnasium's ``MujocoEnv.reset``: mj_resetData, set qpos/qvel, mj_forward.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return
        sim = self.sim
        self.batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        rngs = self.rngs
        draws = []
        for i in ids.tolist():
            rng = rngs.borrow(i)
            drawn = self.task.reset_state(rng, sim.init_qpos, sim.init_qvel)
            rngs.give_back(i, rng)
            sim.qpos[i] = drawn[0]
            sim.qvel[i] = drawn[1]
            draws.append(drawn[2] if len(drawn) > 2 else None)
        self.batch.forward(ids)
        if self._after_reset is not None:
            self._after_reset(sim, ids, draws)
        self._warnings[ids] = self._warning_counts[ids].sum(axis=1)
        self._warnings_total = int(self._warnings.sum())
        sim._invalidate(ids, reset=True)

    def observe(self) -> np.ndarray:
        obs = np.asarray(self.task.observe(self.sim), dtype=np.float64)
        if obs.shape != (self.num_envs, self.obs_dim):
            raise RuntimeError(
                f"{type(self.task).__name__}.observe returned shape {obs.shape}, "
                f"expected {(self.num_envs, self.obs_dim)}"
            )
        return obs

    # -- stepping -----------------------------------------------------------

    def check_action(self, action) -> np.ndarray:
        """Validate a batched action (N, act_dim); returns it in its own dtype.

        The dtype is kept because Gymnasium computes control costs on the action as
        given (float32 arithmetic for float32 actions); ``ctrl`` is float64 anyway.
        """
        if type(action) is np.ndarray and action.dtype.kind == "f" and action.shape == self._action_shape:
            arr = action  # the common case, without the general checks below
        else:
            try:
                arr = np.asarray(action)
            except Exception as exc:  # ragged lists and the like
                raise ValueError(f"action could not be read as an array: {exc}") from None
            if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
                raise TypeError(f"action must hold real numbers, got dtype {arr.dtype}")
            expected = (self.num_envs, self.act_dim)
            if arr.shape != expected:
                raise ValueError(f"action has shape {arr.shape}, expected {expected} (num_envs, action_dim)")
        with np.errstate(invalid="ignore"):  # inf · 0 is the NaN looked for, not a warning to show
            finite = zero_dot(arr.reshape(-1)) == 0.0
        if not finite:  # NaN: some entry is NaN or infinite
            bad = ~np.isfinite(arr).all(axis=1)
            raise ValueError(f"action is NaN or infinite for sub-env(s) {np.flatnonzero(bad).tolist()}")
        return arr

    def step(self, action: np.ndarray, ids: np.ndarray | None = None) -> EngineStep:
        """Apply ``action`` (validated, (N, act_dim)) and advance one env step.

        Args:
            action: the batched action, in the dtype the user gave (the task's
                costs are computed in it, as Gymnasium's are).
            ids: the sub-envs to step, or None for all (others keep their state).
        """
        sim, task = self.sim, self.task
        before = task.before_step(sim)
        if self._apply_action is None:
            sim.ctrl[:] = action
        else:
            self._apply_action(sim, action)
        if ids is None and self._step_all is not None:
            # the native call under Batch.step (whose id checks cost ~7 µs a call at N = 16);
            # a failure is reported by Batch's own check, with MuJoCo's message
            failed = self._step_all(None, task.frame_skip, self._stage)
            if failed:
                self.batch._check(None, failed)
        else:
            self.batch.step(ids, nstep=task.frame_skip, stage=self._stage)
        if sim._wants_cfrc:
            sim._invalidate(ids)
        outcome = task.evaluate(sim, before, action)
        obs = self.observe()
        terms = outcome.reward_terms
        if outcome.reward is not None:
            reward = np.asarray(outcome.reward, dtype=np.float64)
        else:
            reward = np.zeros(self.num_envs)
            for value in terms.values():
                reward = reward + value
        # Per-sim counts only when the grand total moved (rare): the common
        # step costs one small reduction.
        warned = int(self._warning_counts.sum())
        clean = warned == self._warnings_total
        if clean:
            diverged = np.zeros(self.num_envs, dtype=bool)
        else:
            warnings = self._warning_counts.sum(axis=1)
            diverged = warnings != self._warnings
            self._warnings, self._warnings_total = warnings, warned
        # Zero unless some entry is not finite: the per-env check only runs then. An infinite
        # entry gives inf·0 = NaN, the very signal looked for: numpy's "invalid value" warning is
        # silenced here (~1 µs a step) rather than shown to the user.
        with np.errstate(invalid="ignore"):
            total = zero_dot(obs.reshape(-1)) + zero_dot(reward)
            if self._state_block is not None:
                total += zero_rows(self._state_block, self._zero_cols)
            else:
                for values in self._state_checks:
                    total += zero_dot(values.reshape(-1))
        if total != 0.0:
            state_ok = np.isfinite(sim.qpos).all(axis=1) & np.isfinite(sim.qvel).all(axis=1)
            diverged |= ~state_ok | ~np.isfinite(obs).all(axis=1) | ~np.isfinite(reward)
            clean = False
        terminated = np.asarray(outcome.terminated, dtype=bool)
        return EngineStep(obs, reward, terminated, diverged, outcome, any_diverged=False if clean else bool(diverged.any()))
