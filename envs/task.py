"""The task interface: what a batched MuJoCo task defines, as numpy over the batch.

A :class:`Task` supplies a model, a per-env reset distribution and vectorised
functions for observations, reward terms, termination and success. The engine
(:mod:`pbrl.envs.engine`) does the stepping, seeding and bookkeeping, so built-in
tasks and tasks registered with :func:`pbrl.envs.register_task` share one path.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import mujoco
import numpy as np

from ._native import PersistentData
from .card import TaskCard


class Sim:
    """Live, batched view of the simulation that task functions read.

    Every array has the number of sub-envs N as its first axis; rows are the
    sub-envs. Arrays are views into the engine's batch: read them, don't keep
    them across steps.

    Attributes:
        model: the MjModel shared by all sub-envs.
        qpos, qvel, ctrl: (N, nq), (N, nv), (N, nu) state and controls.
        dt: the duration of one env step (timestep × frame_skip), following edits of
            model.opt.timestep.
        frame_skip: MuJoCo steps per env step.
        init_qpos, init_qvel: the model's initial state (nq,), (nv,).
    """

    def __init__(self, batch, model: mujoco.MjModel, frame_skip: int, fields: tuple[str, ...], cfrc_ext: bool):
        self.batch = batch
        self.model = model
        self.frame_skip = frame_skip
        self.qpos = batch.bind("qpos")
        self.qvel = batch.bind("qvel")
        self.ctrl = batch.bind("ctrl")
        self._fields = {name: batch.bind(name) for name in fields}
        self._wants_cfrc = cfrc_ext
        self._cfrc_ext = np.zeros((batch.nsim, model.nbody, 6)) if cfrc_ext else None
        # Rows to recompute: after a step with mj_rnePostConstraint, after a reset
        # as the sim's MjData holds it (mj_forward leaves cfrc_ext alone, so 0).
        self._cfrc_stale = np.ones(batch.nsim, dtype=bool)
        self._cfrc_reset = np.zeros(batch.nsim, dtype=bool)
        self._cfrc_bound = batch.bind("cfrc_ext") if cfrc_ext else None
        self._scratch = mujoco.MjData(model) if cfrc_ext else None
        # In-place access to each sim's MjData where it can be checked (envs/_native.py):
        # no copy of the whole MjData per sub-env; None: the get_data copy.
        self._native = PersistentData.attach(batch, model) if cfrc_ext and batch.persistent else None
        self.init_qpos = model.qpos0.copy()
        self.init_qvel = np.zeros(model.nv)
        self._body_ids: dict[str, int] = {}

    @property
    def num_envs(self) -> int:
        return self.qpos.shape[0]

    @property
    def dt(self) -> float:
        """``model.opt.timestep * frame_skip``, read on access (as ``MujocoEnv.dt``)."""
        return self.model.opt.timestep * self.frame_skip

    def field(self, name: str) -> np.ndarray:
        """An MjData field the task declared in ``Task.data_fields``, (N, ...)."""
        try:
            return self._fields[name]
        except KeyError:
            raise KeyError(
                f"MjData field {name!r} is not bound; list it in the task's data_fields"
            ) from None

    @property
    def xpos(self) -> np.ndarray:
        """Body positions (N, nbody, 3), as MjData.xpos after mj_step."""
        return self.field("xpos")

    def body_id(self, name: str | int) -> int:
        if isinstance(name, (int, np.integer)):
            return int(name)
        if name not in self._body_ids:
            bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
            if bid < 0:
                raise KeyError(f"the model has no body named {name!r}")
            self._body_ids[name] = bid
        return self._body_ids[name]

    def body_xpos(self, name: str | int) -> np.ndarray:
        """Position of a body frame, (N, 3) (Gymnasium's ``get_body_com``)."""
        return self.xpos[:, self.body_id(name)]

    @property
    def cfrc_ext(self) -> np.ndarray:
        """External contact forces (N, nbody, 6), as Gymnasium's ``MjData.cfrc_ext``.

        After a step, the value of ``mj_rnePostConstraint`` on the state ``mj_step``
        left; after a reset, the value ``mj_resetData`` + ``mj_forward`` leave (0
        unless a sensor needs it). ``mujoco.batch`` does not compute cfrc_ext
        (MuJoCo 4.0), so this runs mj_rnePostConstraint on each stepped sub-env's
        own MjData in the persistent batch and reads cfrc_ext from it
        (:class:`~pbrl.envs._native.PersistentData`), or, where that access cannot be
        checked, on a copy made with ``get_data`` (slower; the same numbers). The engine's one per-env loop, paid only by
        tasks with ``needs_cfrc_ext`` and only once per step.
        """
        if self._cfrc_ext is None:
            raise KeyError("cfrc_ext is only computed for tasks with needs_cfrc_ext = True")
        stale = self._cfrc_stale
        if stale.any():
            out = self._cfrc_ext
            fresh = stale & self._cfrc_reset
            if fresh.any():
                out[fresh] = self._cfrc_bound[fresh]
            stepped = np.flatnonzero(stale & ~self._cfrc_reset).tolist()
            native = self._native
            if native is not None:
                native.rne_post_constraint(stepped)
                native.read_cfrc_ext(stepped, out)
            else:
                d, model = self._scratch, self.model
                get_data, rne = self.batch.get_data, mujoco.mj_rnePostConstraint
                cfrc = d.cfrc_ext  # a view of the scratch MjData, refilled by get_data
                for i in stepped:
                    get_data(i, d)
                    rne(model, d)
                    out[i] = cfrc
            stale[:] = False
        return self._cfrc_ext

    def _invalidate(self, ids: np.ndarray | None = None, reset: bool = False) -> None:
        """Mark rows (all if ``ids`` is None) changed by a step or, if ``reset``, a reset."""
        if self._cfrc_ext is None:
            return
        if ids is None:
            self._cfrc_stale[:] = True
            self._cfrc_reset[:] = reset
        else:
            self._cfrc_stale[ids] = True
            self._cfrc_reset[ids] = reset


@dataclass
class StepOutcome:
    """What a task reports for one batched step.

    Args:
        reward_terms: term name -> (N,) weighted term; the reward is their sum.
        terminated: (N,) bool.
        quantities: named physical quantities of the card, name -> (N,), and
            Gymnasium's step-info keys (``reward_ctrl``, ``x_velocity``, ...) with
            the dtype and bits of Gymnasium's values (float32 where it has float32).
        success: (N,) bool, or None if the task defines no success.
        reward: (N,) reward, if the task sums its terms in a particular order
            (to match a reference implementation bit for bit); else None.
    """

    reward_terms: dict[str, np.ndarray]
    terminated: np.ndarray
    quantities: dict[str, np.ndarray] = field(default_factory=dict)
    success: np.ndarray | None = None
    reward: np.ndarray | None = None


class Task:
    """Base class of pbrl's batched tasks.

    Subclasses set ``card``, ``frame_skip`` and ``xml_file`` and implement
    :meth:`reset_state`, :meth:`observe` and :meth:`evaluate` (and
    :meth:`before_step` when the reward needs a value from before the step, such as
    the position for a velocity). A task's options (reward weights, ranges, noise) are
    the keyword-only arguments of its ``__init__``, named as in Gymnasium's v5 classes
    and checked with :func:`check_options`.
    """

    card: ClassVar[TaskCard]
    xml_file: str = ""
    frame_skip: int = 1
    data_fields: tuple[str, ...] = ()
    needs_cfrc_ext: bool = False
    #: mjtStage computed at the new state after each step (``mujoco.batch``'s ``stage``): 0 leaves
    #: derived fields one substep behind, as ``mj_step`` does (Gymnasium's MujocoEnv);
    #: ``mjSTAGE_VEL`` makes positions, velocities and their sensors current, as dm_control's
    #: step does. Non-zero keeps whole sims (a persistent batch), where it costs nothing extra.
    step_stage: int = 0
    default_camera: Mapping[str, Any] = {}
    #: Info keys (and ``"reward"``) that Gymnasium's single env gives as Python
    #: scalars, with their type (e.g. InvertedPendulum's ``int`` reward): the single
    #: env converts those and gives every other value as a numpy scalar of its dtype.
    scalar_types: Mapping[str, type] = {}

    def build_model(self) -> mujoco.MjModel:
        """Compile the task's MJCF model (a bad file is a ``ValueError`` naming it)."""
        try:
            return mujoco.MjModel.from_xml_path(self.xml_file)
        except ValueError as exc:
            raise ValueError(f"invalid MJCF model {self.xml_file!r}: {exc}") from None

    @property
    def observation_dim(self) -> int:
        return self.card.obs_dim

    def reset_state(
        self, rng: np.random.Generator, init_qpos: np.ndarray, init_qvel: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, Any]:
        """Draw one sub-env's initial (qpos, qvel) with its own generator; a third value (e.g. a goal
        drawn with the same generator) goes to :meth:`after_reset`."""
        raise NotImplementedError

    def after_reset(self, sim: Sim, ids: np.ndarray, draws: list[Any]) -> None:
        """Finish resetting sub-envs ``ids`` after their ``mj_forward``: what ``qpos``/``qvel`` cannot hold
        (mocap bodies, goals kept by the task, a second forward). ``draws[k]`` is what :meth:`reset_state`
        returned for ``ids[k]`` beyond (qpos, qvel), or None."""

    def action_bounds(self, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
        """The action space's ``(low, high)``, float arrays of the action size, from the compiled model.

        By default one action entry per actuator, bounded by its ``ctrlrange`` as compiled (as
        Gymnasium's ``MujocoEnv``: an unlimited actuator keeps its range as written, (0, 0) when none
        is). A task whose action is not its controls (e.g. a mocap target and a gripper) overrides this
        together with :meth:`apply_action`. The engine reads it once, when it is built.
        """
        low, high = model.actuator_ctrlrange.copy().T
        return low, high

    def apply_action(self, sim: Sim, action: np.ndarray) -> None:
        """Turn the batched action into controls before the physics step: ``ctrl = action`` unless the
        task drives something else (e.g. a mocap body's position; its action then has the size
        :meth:`action_bounds` gives)."""
        sim.ctrl[:] = action

    def before_step(self, sim: Sim) -> dict[str, np.ndarray]:
        """Values to keep from before the physics step (copies), e.g. positions."""
        return {}

    def observe(self, sim: Sim) -> np.ndarray:
        """Observations of all sub-envs, (N, obs_dim) float64."""
        raise NotImplementedError

    def evaluate(self, sim: Sim, before: dict[str, np.ndarray], action: np.ndarray) -> StepOutcome:
        """Reward terms, termination, success and quantities after a step.

        The arrays are handed to the user as the step's info without a copy (a copy
        costs a numpy call per key and step), except views into the batch (``sim``'s
        arrays and their slices), an array given under two keys, and the reward and
        termination arrays, which are copied. So return fresh arrays: not a buffer the
        task keeps and overwrites on a later step.
        """
        raise NotImplementedError

    def reset_quantities(self, sim: Sim) -> dict[str, np.ndarray]:
        """Quantities reported in ``info`` by ``reset`` (Gymnasium's reset info)."""
        return {}


def check_options(task: Task, init: Callable, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options a task's explicit keyword-only ``init`` was called with, from its ``locals()``.

    A task declares its options in its signature (Gymnasium's names and defaults, so
    ``help`` shows them) and catches other keys in a ``**`` parameter: those are a
    TypeError naming them and the accepted ones. The returned options (name -> value, in
    the signature's order) let a base class validate the ones its tasks share.
    """
    params = inspect.signature(init).parameters.values()
    accepted = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    unknown = next((given[p.name] for p in params if p.kind is p.VAR_KEYWORD), {})
    if unknown:
        raise TypeError(
            f"{task.card.id} got unknown keyword argument(s) {sorted(unknown)}; "
            f"it accepts {sorted(accepted)}"
        )
    return {name: given[name] for name in accepted}


def range_pair(name: str, value: Any) -> tuple[float, float]:
    """Validate a (low, high) range option."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    if not low <= high:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    return low, high


def sum_of_squares(x: np.ndarray) -> np.ndarray:
    """Each row's ``np.sum(np.square(row))``, bit for bit, in the rows' own dtype.

    Gymnasium's control and contact costs are ``np.sum(np.square(a))`` of one
    sub-env's array in that array's dtype (float32 arithmetic for a float32 action).
    numpy reduces the trailing axes of a C-ordered batch with the same pairwise sum
    as one row alone; a float64 copy, ``einsum`` or a column-major square do not
    (they differ in the last bit). Verified against the per-row sum for float16/32/64
    and ints, 1-84 columns, N up to 4096 (numpy 2.4). Rows of fewer than 8 floats
    numpy sums left to right, which adding the columns in turn does with the same
    bits (float32 and float64), faster from N = 128 (3-6x at N >= 1024); below
    that the one reduction call is cheaper.
    """
    if x.ndim == 2 and x.shape[1] < 8 and x.shape[0] >= 128 and x.dtype in _SEQUENTIAL_DTYPES:
        squares = np.square(x)
        total = squares[:, 0].copy()
        for j in range(1, x.shape[1]):
            total += squares[:, j]
        return total
    return np.square(x, order="C").sum(axis=tuple(range(1, x.ndim)))


#: dtypes whose short rows numpy sums left to right in their own precision (float16
#: is summed in float32, so its rows go through the reduction).
_SEQUENTIAL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def row_norms(v: np.ndarray) -> np.ndarray:
    """Norms of the rows of (N, k), bit-identical to ``np.linalg.norm`` of one row.

    ``norm`` of a 1-D vector is ``sqrt(v.dot(v))`` (BLAS ddot); ``norm(axis=1)``
    sums in another order and differs in the last bit on ~10 % of rows. A stack of
    (1, k) @ (k, 1) products matched ``v.dot(v)`` on every one of 200 000 random
    rows of 2 and of 3 (numpy 2, OpenBLAS 0.3.31).
    """
    return np.sqrt(np.matmul(v[:, None, :], v[:, :, None])[:, 0, 0])


def weight(name: str, value: Any) -> Any:
    """Validate a reward weight as :func:`number` does, and return it as given.

    Gymnasium multiplies by the option as passed, so its type takes part in numpy's
    type promotion: a Python float times a float32 cost stays float32, a bool times
    an int ``healthy_reward`` is an int. Keeping it keeps the terms' dtypes and bits.
    """
    number(name, value)
    return value


def number(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    """Validate a numeric option."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value
