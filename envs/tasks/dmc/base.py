"""What pbrl's DeepMind Control tasks share: the model from dm_control's package, the
stepping and observation timing of dm_control's ``control.Environment``, action repeat,
per-sub-env initial states and the task card's fixed parts.

How a dm_control step maps onto pbrl's engine:

* One agent step is ``action_repeat`` control steps of ``n_sub_steps`` physics steps each
  (the engine runs the first, :meth:`DMCTask.evaluate` the others with the same
  control), and its reward is the sum of the control steps' rewards, as B-Pref's
  ``dmc2gym`` wrapper sums them (B-Pref's default action repeat is 1). An episode is
  1,000 control steps (dm_control's time limit), so ``1000 // action_repeat`` agent steps.
* dm_control computes positions and velocities at the new state after each step
  (``mj_step1``, its "legacy step"), while sensors of the acceleration stage (touch,
  force) keep the values of the last physics step. The tasks' ``step_stage`` is
  mjSTAGE_VEL, which makes ``mujoco.batch`` (persistent, so the acceleration-stage
  sensors stay in each sim's MjData) leave exactly that after every control step,
  the engine's and those of the action repeat alike.
* dm_control's reset ends with ``mj_forward`` with actuation disabled; the engine's
  reset forward keeps actuation, which gives the same numbers because every task's
  actuators push nothing at its reset states (motors at zero control; quadruped's servos,
  ``-1000 * length`` with zero activation, at joints in their default pose), so no
  ``after_reset`` second forward is paid (a test checks the premise).
* Resets draw each sub-env's start from its own generator, with the distributions of
  dm_control's ``initialize_episode`` (numpy ``Generator`` draws, not dm_control's
  ``RandomState`` stream). Warm starts begin at zero (dm_control's cheetah keeps those of
  its 200 settling steps).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace
from typing import ClassVar

import mujoco
import numpy as np

from ...card import RewardTerm, TaskCard
from ...registry import register_builtin
from ...task import Sim, StepOutcome, Task, check_options

#: dm_control's episodes are this many control steps (time limit / control timestep).
EPISODE_CONTROL_STEPS = 1000



def dm_control_model_path(domain: str) -> str:
    """The MJCF file of a dm_control suite domain, in the installed dm_control package."""
    spec = importlib.util.find_spec("dm_control")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "pbrl's DeepMind Control tasks load their models from the dm_control package; "
            "install it with `pip install dm_control`"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "suite", f"{domain}.xml")
    if not os.path.isfile(path):
        raise ValueError(f"dm_control has no suite domain model {domain}.xml ({path})")
    return path


def dmc_card(
    domain: str, task: str, goal: str, observation_labels: tuple[str, ...], quantities: dict[str, str],
    reward: str, success: str | None = None,
) -> TaskCard:
    """The card of ``pbrl/dmc-<domain>-<task>-v0``: one reward term, dm_control's reward."""
    return TaskCard(
        id=f"pbrl/dmc-{domain}-{task}-v0",
        goal=goal,
        observation_labels=observation_labels,
        quantities=quantities,
        reward_terms=(RewardTerm(task, 1.0, reward),),
        termination=(
            f"Never terminates; truncated after {EPISODE_CONTROL_STEPS} control steps "
            "(1000 // action_repeat agent steps), dm_control's time limit."
        ),
        success=success,
        max_episode_steps=EPISODE_CONTROL_STEPS,
        # dm_control's rewards lie in [0, 1] per control step: the bounds of the return.
        ref_min_return=0.0,
        ref_max_return=float(EPISODE_CONTROL_STEPS),
        extra={"suite": "dm_control", "domain": domain, "task": task},
    )


def dmc_variant(base: type[Task], name: str, card: TaskCard, **attributes) -> type[Task]:
    """Register ``name``, one task of a domain: a subclass of the domain's ``base`` with its
    ``card``, the domain's docstring and class attributes such as its speed."""
    namespace = {"__doc__": base.__doc__, "__module__": base.__module__, "__qualname__": name, "card": card, **attributes}
    return register_builtin(type(name, (base,), namespace))


def sensor_columns(model: mujoco.MjModel, *names: str) -> np.ndarray:
    """Columns of ``sensordata`` holding the named sensors, in the order given."""
    cols = []
    for name in names:
        sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SENSOR, name)
        if sid < 0:
            raise KeyError(f"the model has no sensor named {name!r}")
        cols.extend(range(model.sensor_adr[sid], model.sensor_adr[sid] + model.sensor_dim[sid]))
    return np.asarray(cols, dtype=np.int64)


def sensor_columns_of_type(model: mujoco.MjModel, *types: mujoco.mjtSensor) -> np.ndarray:
    """Columns of ``sensordata`` holding every sensor of the given types, in the model's
    order (as dm_control's domains select them by type)."""
    ids = np.flatnonzero(np.isin(model.sensor_type, [int(t) for t in types]))
    return np.asarray([c for s in ids for c in range(model.sensor_adr[s], model.sensor_adr[s] + model.sensor_dim[s])], dtype=np.int64)


def labels(prefix: str, names, suffixes=("",)) -> tuple[str, ...]:
    """Observation labels ``prefix_name_suffix`` for every name and suffix, names outer."""
    return tuple("_".join(p for p in (prefix, name, s) if p) for name in names for s in suffixes)


def action_repeat_option(value) -> int:
    """Validate ``action_repeat``: a positive integer that divides the 1,000-step episode."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"action_repeat must be a positive integer, got {value!r}")
    if EPISODE_CONTROL_STEPS % int(value):
        raise ValueError(
            f"action_repeat must divide the {EPISODE_CONTROL_STEPS}-step episode "
            f"(1, 2, 4, 5, 8, 10, ...), got {value!r}"
        )
    return int(value)


class DMCTask(Task):
    """Base of the ``pbrl/dmc-*`` tasks, batched ports of ``dm_control.suite`` tasks.

    A subclass names its ``domain`` and its ``n_sub_steps`` (dm_control's control
    timestep over the model's timestep), and implements
    :meth:`initial_state`, :meth:`observe` and :meth:`reward` (dm_control's reward and its
    factors, from the current state).

    Args:
        action_repeat: control steps per agent step, with the same action; the reward is
            their sum (as B-Pref's ``dmc2gym`` wrapper; 1 in B-Pref and by default). It
            must divide 1,000. ``gym.make`` and ``gym.make_vec`` truncate episodes at
            ``1000 // action_repeat`` agent steps (the card's ``max_episode_steps``; the
            id's registered limit is 1,000): a ``max_episode_steps`` can shorten an
            episode, not make it outlast dm_control's 1,000 control steps.
    """

    domain: ClassVar[str]
    n_sub_steps: ClassVar[int] = 1
    data_fields = ("xpos", "xmat", "sensordata")
    step_stage = int(mujoco.mjtStage.mjSTAGE_VEL)

    def __init__(self, *, action_repeat: int = 1, **unknown):
        check_options(self, DMCTask.__init__, locals())
        self.action_repeat = action_repeat_option(action_repeat)
        self.frame_skip = self.n_sub_steps
        if self.action_repeat != 1:
            self.card = replace(type(self).card, max_episode_steps=EPISODE_CONTROL_STEPS // self.action_repeat)
        self.xml_file = dm_control_model_path(self.domain)
        self._model: mujoco.MjModel | None = None
        self._scratch: mujoco.MjData | None = None

    # -- model and resets -------------------------------------------------------

    def build_model(self) -> mujoco.MjModel:
        model = super().build_model()
        self.configure_model(model)
        self._model, self._scratch = model, None
        return model

    def configure_model(self, model: mujoco.MjModel) -> None:
        """Model edits dm_control's task makes (target sizes, damping); none by default."""

    def scratch(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        """The model and a private MjData, for resets that simulate (settling, contact checks)."""
        if self._model is None:
            self.build_model()
        if self._scratch is None:
            self._scratch = mujoco.MjData(self._model)
        return self._model, self._scratch

    def reset_state(self, rng, init_qpos, init_qvel):
        return self.initial_state(rng, init_qpos.copy(), init_qvel.copy())

    def contacts_at(self, qpos: np.ndarray) -> int:
        """Contacts of the model at ``qpos`` (velocities and activations zero), as dm_control
        counts them after a reset."""
        model, data = self.scratch()
        data.qpos[:] = qpos
        mujoco.mj_forward(model, data)
        return data.ncon

    def contact_free_joints(self, rng: np.random.Generator, qpos: np.ndarray, attempts: int = 1000) -> np.ndarray:
        """:meth:`randomize_joints` again until no geoms touch (dm_control's finger and
        humanoid resets); each draw starts from the last (free joints keep their position)."""
        for _ in range(attempts):
            qpos = self.randomize_joints(rng, qpos)
            if self.contacts_at(qpos) == 0:
                return qpos
        raise RuntimeError(f"{self.card.id}: no collision-free start after {attempts} tries")

    def initial_state(self, rng: np.random.Generator, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dm_control's ``initialize_episode`` for one sub-env, from the model's default state."""
        raise NotImplementedError

    def randomize_joints(self, rng: np.random.Generator, qpos: np.ndarray) -> np.ndarray:
        """dm_control's ``randomize_limited_and_rotational_joints`` on one sub-env's qpos:
        limited hinges and slides uniform in their range, unlimited hinges in [-pi, pi],
        ball and free joints a random orientation (free joints' positions kept)."""
        model, _ = self.scratch()
        for j in range(model.njnt):
            kind, adr = model.jnt_type[j], model.jnt_qposadr[j]
            low, high = model.jnt_range[j]
            if model.jnt_limited[j]:
                if kind in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
                    qpos[adr] = rng.uniform(low, high)
                elif kind == mujoco.mjtJoint.mjJNT_BALL:
                    axis = rng.standard_normal(3)
                    quat = np.zeros(4)
                    mujoco.mju_axisAngle2Quat(quat, axis / np.linalg.norm(axis), rng.random() * high)
                    qpos[adr : adr + 4] = quat
            elif kind == mujoco.mjtJoint.mjJNT_HINGE:
                qpos[adr] = rng.uniform(-np.pi, np.pi)
            elif kind == mujoco.mjtJoint.mjJNT_BALL:
                quat = rng.standard_normal(4)
                qpos[adr : adr + 4] = quat / np.linalg.norm(quat)
            elif kind == mujoco.mjtJoint.mjJNT_FREE:
                quat = rng.random(4)  # dm_control's uniform draw (not a uniform rotation)
                qpos[adr + 3 : adr + 7] = quat / np.linalg.norm(quat)
        return qpos

    # -- stepping ---------------------------------------------------------------

    def evaluate(self, sim, before, action):
        reward, quantities = self.reward(sim)
        for _ in range(self.action_repeat - 1):
            sim.batch.step(None, nstep=self.frame_skip, stage=self.step_stage)
            more, quantities = self.reward(sim)
            reward = reward + more
        return StepOutcome(
            reward_terms={self.card.reward_terms[0].name: reward},
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities=quantities,
            success=self.success(sim, quantities),
            reward=reward,
        )

    def reward(self, sim: Sim) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """dm_control's reward (N,) at the current state and the card's named factors."""
        raise NotImplementedError

    def success(self, sim: Sim, quantities: dict[str, np.ndarray]) -> np.ndarray | None:
        """(N,) bool where the task defines success (its card's ``success``), else None."""
        return None
