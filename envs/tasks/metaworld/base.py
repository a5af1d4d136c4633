"""The Sawyer arm of Meta-World v3, batched: what every pbrl Meta-World task shares.

Meta-World's ``SawyerXYZEnv`` (metaworld 3.1.1) as a pbrl :class:`~pbrl.envs.task.Task`:

* **Action** ``(dx, dy, dz, grip)`` in [-1, 1]⁴: xyz is clipped to [-1, 1], scaled by
  ``ACTION_SCALE`` (1/100, in the action's dtype as Meta-World computes it) and added
  to the hand's mocap position, which is clipped to ``[hand_low, hand_high]``; the
  mocap quaternion is set to (1, 0, 1, 0); the gripper controls are ``(grip, −grip)``.
  ``frame_skip`` 5 MuJoCo steps of 2.5 ms per env step, then ``mj_forward`` (in the same native call:
  ``step_stage = mjSTAGE_ACC``).
* **Observation** (39, float64): ``[hand xyz, gripper opening, objects (14)]`` of this
  step, the same 18 of the previous step (of the reset at the first step), and the goal
  (zeros when ``partially_observable``); clipped after a step to Meta-World's
  observation space (hand to ``HAND_SPACE``, opening to [-1, 1], goal to the task's
  goal space), not after a reset.
* **Reset**: Meta-World's reset of the hand (50 × 5 steps with the mocap at
  ``hand_init_pos`` and the gripper open) gives the same state every episode, so it is
  simulated once when the model is built and every reset starts from its end state.
  The task's object is then placed at a vector drawn from ``reset_low``/``reset_high``
  (Meta-World's ``_random_reset_space``): freshly from the sub-env's generator at every
  reset (``rand_vec=None``; Meta-World with ``seeded_rand_vec`` and an unfrozen vector,
  which draws twice per reset, as here), or the fixed vector ``rand_vec`` (Meta-World's
  frozen task vector, as ML1/MT1 tasks and ``set_task`` fix it).
* **Episode end**: never terminates; truncated after 500 steps (``max_path_length``).

How the batch does what Meta-World does on one MjData:

* Meta-World moves the task's object by writing ``model.body_pos``; a batch shares one
  model, so the object's root body (``object_body``) is compiled as a *mocap* body and
  its position is written to ``mocap_pos`` per sub-env (a mocap body is kinematically
  fixed, as a body welded to the world). Its contact filtering is kept as Meta-World's
  model has it (``_keep_world_filter``), so the same geom pairs collide; the parity tests
  check that the physics agree, with the hand pushing the objects (the scripted experts).
* The action drives the hand's mocap body and the two finger actuators
  (:meth:`SawyerTask.apply_action`, the engine's hook in place of ``ctrl = action``); its
  size and bounds, [-1, 1]⁴, are :meth:`SawyerTask.action_bounds` (the model has
  ``nu`` = 2 controls, the fingers).
* The engine's reset writes qpos/qvel and runs ``mj_forward``; the rest of a Meta-World
  reset (mocap positions, controls, warm start, time and the task's own reset
  quantities) is :meth:`SawyerTask.after_reset`, with the task vector that
  :meth:`SawyerTask.reset_state` drew from the sub-env's generator.

To add a task: subclass :class:`SawyerTask`, set the class attributes (``card``,
``xml_name``, ``object_body``, ``hand_init_pos``, ``reset_low``/``reset_high``,
``goal_low``/``goal_high``) and implement ``objects`` (object positions and quaternions
for the observation), ``reset_task`` (target and initial quantities after the object is
placed) and ``reward`` (Meta-World's ``compute_reward`` + ``evaluate_state``, its info
keys through :func:`info`); optionally ``reset_joints`` (the object's joints set by
Meta-World's ``reset_model``), ``object_position`` (where a vector puts the object's
body), ``accepts_vector`` (the vectors ``reset_model`` keeps rather than redraws),
``reset_frame`` (what the task keeps from its reset observation), ``edit_spec``
(additions that change no physics, e.g. contact sensors) and ``forward_at_reset``. Vendor
its XML files into ``assets/`` (same layout as Meta-World's ``assets/``). A scripted
expert goes to :mod:`.policies`.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Sequence

import mujoco
import numpy as np

from ...card import RewardTerm, TaskCard
from ...task import Sim, StepOutcome, Task, check_options
from .._common import flag

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")

#: mocap displacement per unit action (m), Meta-World's ``action_scale``
ACTION_SCALE = 1.0 / 100
#: the hand's mocap orientation, as Meta-World writes it
MOCAP_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
#: Meta-World's ``reset_mocap_welds``: anchor 0, relative pose (0, 0, 0, -1, 0, 0, 0),
#: torque scale 5 (the 11 entries it writes; MuJoCo 4 has a 12th, kept as compiled)
WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])
#: bounds of the hand position in the observation (``SawyerXYZEnv._HAND_SPACE``)
HAND_SPACE = (np.array([-0.525, 0.348, -0.0525]), np.array([0.525, 1.025, 0.7]))
#: Meta-World's ``TARGET_RADIUS``
TARGET_RADIUS = 0.05
#: steps of Meta-World's ``_reset_hand`` (each frame_skip MuJoCo steps)
HAND_RESET_STEPS = 50
MAX_PATH_LENGTH = 500

#: Meta-World's info keys every task reports (besides ``success``)
INFO_KEYS = ("near_object", "grasp_success", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

#: labels of the 39 observation entries
OBSERVATION_LABELS = tuple(
    [f"{p}{name}" for p in ("", "prev_") for name in (
        "hand_x", "hand_y", "hand_z", "gripper_opening",
        "obj1_x", "obj1_y", "obj1_z", "obj1_qw", "obj1_qx", "obj1_qy", "obj1_qz",
        "obj2_x", "obj2_y", "obj2_z", "obj2_qw", "obj2_qx", "obj2_qy", "obj2_qz",
    )]
    + ["goal_x", "goal_y", "goal_z"]
)

#: card quantities every task reports (Meta-World's info keys, plus the tcp)
COMMON_QUANTITIES = {
    "near_object": "Meta-World's info['near_object'] (the task's reach factor or flag)",
    "grasp_success": "Meta-World's info['grasp_success'] (1.0 or 0.0)",
    "grasp_reward": "Meta-World's info['grasp_reward'] (the task's reach/grasp factor, in [0, 1])",
    "in_place_reward": "Meta-World's info['in_place_reward'] (the task's progress factor, in [0, 1])",
    "obj_to_target": "Meta-World's info['obj_to_target']: object-to-target distance (m), 0 where the task reports none",
    "unscaled_reward": "Meta-World's info['unscaled_reward'] (= the reward)",
    "tcp_x": "x of the tool centre point, midway between the fingertips (m)",
    "tcp_y": "y of the tool centre point (m)",
    "tcp_z": "z of the tool centre point (m)",
}


def sawyer_card(task: str, goal: str, quantities: dict[str, str], reward_terms: tuple[RewardTerm, ...], success: str) -> TaskCard:
    """The card of ``pbrl/metaworld-<task>``: the shared observation, quantities and episode.

    The reference returns span the reward's range over an episode: 0 and 10 × 500.
    """
    return TaskCard(
        id=f"pbrl/metaworld-{task}",
        goal=goal,
        observation_labels=OBSERVATION_LABELS,
        quantities={**COMMON_QUANTITIES, **quantities},
        reward_terms=reward_terms,
        termination=f"Never terminates; episodes are truncated after {MAX_PATH_LENGTH} steps.",
        success=success,
        max_episode_steps=MAX_PATH_LENGTH,
        ref_min_return=0.0,
        ref_max_return=10.0 * MAX_PATH_LENGTH,
        extra={"reference": f"metaworld 3.1.1 {task}"},
    )


def vector_option(name: str, value: Any, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """Validate ``rand_vec``: None, or a vector of the reset space's size inside it."""
    if value is None:
        return None
    try:
        vec = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None or a sequence of {low.size} numbers, got {value!r}") from None
    if vec.shape != low.shape or not np.all(np.isfinite(vec)):
        raise ValueError(f"{name} must be None or {low.size} finite numbers, got {value!r}")
    if np.any(vec < low) or np.any(vec > high):
        raise ValueError(f"{name} {vec.tolist()} is outside the task's reset space [{low.tolist()}, {high.tolist()}]")
    return vec


class SawyerTask(Task):
    """Base of pbrl's Meta-World v3 tasks (see the module docstring).

    Subclasses set the class attributes below and implement :meth:`objects`,
    :meth:`reset_task` and :meth:`reward`.
    """

    #: the task's model, relative to ``assets/sawyer_xyz``
    xml_name: ClassVar[str]
    #: the body Meta-World moves by writing ``model.body_pos`` at reset (made a mocap
    #: body), or None where the task places its objects by their joints only
    object_body: ClassVar[str | None]
    hand_init_pos: ClassVar[tuple[float, float, float]]
    hand_low: ClassVar[np.ndarray] = np.array([-0.5, 0.40, 0.05])
    hand_high: ClassVar[np.ndarray] = np.array([0.5, 1.0, 0.5])
    #: Meta-World's ``_random_reset_space``
    reset_low: ClassVar[np.ndarray]
    reset_high: ClassVar[np.ndarray]
    #: Meta-World's ``goal_space`` (clips the observed goal)
    goal_low: ClassVar[np.ndarray]
    goal_high: ClassVar[np.ndarray]
    #: False where Meta-World's ``reset_model`` computes no kinematics after the hand
    #: reset: the reset observation's hand part is then that of the state before the
    #: last MuJoCo step of the hand reset (what MjData holds after mj_step)
    forward_at_reset: ClassVar[bool] = True
    #: a free body that Meta-World's reset moves to the vector's (x, y) at the height the hand
    #: reset left it (``_set_obj_xyz``, see :meth:`resting_place`), or None
    free_body: ClassVar[str | None] = None

    frame_skip = 5
    #: mjSTAGE_ACC: the native step ends with the mj_forward Meta-World runs after each step
    step_stage = int(mujoco.mjtStage.mjSTAGE_ACC)
    action_scale = ACTION_SCALE
    data_fields = ("xpos", "xquat", "site_xpos", "geom_xpos", "geom_xmat")
    default_camera: dict = {}

    def __init__(self, *, rand_vec: Sequence[float] | None = None, partially_observable: bool = False, **unknown):
        check_options(self, SawyerTask.__init__, locals())
        self.xml_file = os.path.join(ASSETS, "sawyer_xyz", self.xml_name)
        self.rand_vec = vector_option("rand_vec", rand_vec, self.reset_low, self.reset_high)
        if self.rand_vec is not None and not self.accepts_vector(self.rand_vec):
            raise ValueError(f"rand_vec {self.rand_vec.tolist()} is one {self.card.id} redraws at reset: {self.vector_rule}")
        self.partially_observable = flag("partially_observable", partially_observable)
        self._sim: Sim | None = None

    # -- the model ------------------------------------------------------------------

    def build_model(self) -> mujoco.MjModel:
        """Meta-World's model, its object body as a mocap body, the mocap weld as
        ``reset_mocap_welds`` sets it; and the hand reset simulated once."""
        spec = mujoco.MjSpec.from_file(self.xml_file)
        if self.object_body is not None:
            original = spec.copy().compile()
            spec.body(self.object_body).mocap = True
            self._keep_world_filter(spec, original)
        self.edit_spec(spec)
        model = spec.compile()
        welds = model.eq_type == mujoco.mjtEq.mjEQ_WELD
        model.eq_data[welds, : WELD_DATA.size] = WELD_DATA
        self._prepare(model)
        return model

    def _keep_world_filter(self, spec: mujoco.MjSpec, original: mujoco.MjModel) -> None:
        """Keep the contact filtering of Meta-World's model, where the object was welded to the world.

        MuJoCo never collides bodies welded together, nor (parent filter) a body with its parent's
        weld group unless one of the two is welded to the world. As a mocap body the object is a
        weld group of its own: its jointless bodies would collide with the table, walls and robot
        base, and its jointed parts (the button, the door on its hinge) could no longer touch the
        object's other parts. So the parent filter is switched off and the pairs Meta-World's model
        filters are excluded explicitly: the same pairs collide, in the same order.
        """
        spec.option.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_FILTERPARENT)
        weld = spec.copy().compile().body_weldid
        old, parent = original.body_weldid, original.body_parentid
        parent_filter = not original.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_FILTERPARENT)
        colliding = {int(b) for b in original.geom_bodyid[(original.geom_contype != 0) | (original.geom_conaffinity != 0)]}
        bodies = sorted(colliding)
        for i, a in enumerate(bodies):
            for b in bodies[i + 1 :]:
                wa, wb = old[a], old[b]
                filtered = wa == wb or (
                    parent_filter and wa != 0 and wb != 0 and (wa == old[parent[wb]] or wb == old[parent[wa]])
                )
                if filtered and weld[a] != weld[b]:
                    spec.add_exclude(bodyname1=original.body(a).name, bodyname2=original.body(b).name)

    def _prepare(self, model: mujoco.MjModel) -> None:
        """Ids, and the end state of Meta-World's ``_reset_hand`` from ``mj_resetData``."""
        self._free_body = None if self.free_body is None else model.body(self.free_body).id
        self._hand_mocap = int(model.body_mocapid[model.body("mocap").id])
        self._object_mocap = None if self.object_body is None else int(model.body_mocapid[model.body(self.object_body).id])
        self._ids = {
            "hand": model.body("hand").id, "rightclaw": model.body("rightclaw").id,
            "leftclaw": model.body("leftclaw").id, "leftpad": model.body("leftpad").id,
            "rightpad": model.body("rightpad").id,
            "right_ee": model.site("rightEndEffector").id, "left_ee": model.site("leftEndEffector").id,
        }
        data = mujoco.MjData(model)
        mujoco.mj_resetData(model, data)
        if self._object_mocap is not None:
            data.mocap_pos[self._object_mocap] = self.object_position(self._default_vector()[None])[0]
        for _ in range(HAND_RESET_STEPS):
            data.mocap_pos[self._hand_mocap] = self.hand_init_pos
            data.mocap_quat[self._hand_mocap] = MOCAP_QUAT
            data.ctrl[:] = (-1.0, 1.0)
            mujoco.mj_step(model, data, nstep=self.frame_skip)
        ids = self._ids
        self._hand = {
            "qpos": data.qpos.copy(), "qvel": data.qvel.copy(), "warmstart": data.qacc_warmstart.copy(),
            "time": float(data.time), "ctrl": data.ctrl.copy(),
            # body positions as Meta-World reads them after the hand reset (those of the
            # state before the last MuJoCo step: mj_step computes no kinematics after it)
            "xpos": data.xpos.copy(),
            # Meta-World's init_tcp: the fingertip sites as mj_step left them
            "init_tcp": (data.site_xpos[ids["right_ee"]] + data.site_xpos[ids["left_ee"]]) / 2.0,
            "frame_head": self._frame_head(data.xpos[None])[0],
        }

    def _default_vector(self) -> np.ndarray:
        return self.rand_vec if self.rand_vec is not None else (self.reset_low + self.reset_high) / 2

    # -- hooks of the tasks ----------------------------------------------------------

    #: what :meth:`accepts_vector` requires, for the error message of a fixed ``rand_vec``
    vector_rule: ClassVar[str] = ""

    def accepts_vector(self, vec: np.ndarray) -> bool:
        """Whether Meta-World's ``reset_model`` keeps the vector (a task that redraws some
        vectors overrides this; a fixed vector it would redraw forever is refused)."""
        return True

    def edit_spec(self, spec: mujoco.MjSpec) -> None:
        """Additions to Meta-World's model that change no physics (e.g. contact sensors)."""

    def draw_vector(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of ``reset_model``'s vector (``_get_state_rand_vec``); a task whose
        ``reset_model`` redraws until a condition holds overrides this with its loop."""
        vec = rng.uniform(self.reset_low, self.reset_high, size=self.reset_low.size)
        while not self.accepts_vector(vec):
            vec = rng.uniform(self.reset_low, self.reset_high, size=self.reset_low.size)
        return vec

    def object_position(self, vec: np.ndarray) -> np.ndarray:
        """Position of ``object_body`` for reset vectors (n, k) -> (n, 3)."""
        return vec[:, :3]

    def reset_joints(self, qpos: np.ndarray, qvel: np.ndarray, vec: np.ndarray) -> None:
        """Set the object's joints as Meta-World's ``reset_model`` does, for one sub-env and
        its reset vector ``vec``, in place (a free object placed by ``_set_obj_xyz``)."""

    def objects(self, sim: Sim) -> tuple[np.ndarray, np.ndarray]:
        """Object positions (N, 3k) and quaternions (N, 4k) of the observation (k ≤ 2)."""
        raise NotImplementedError

    def reset_task(self, sim: Sim, rows: np.ndarray, vec: np.ndarray) -> None:
        """Per-sub-env targets and initial quantities of ``rows`` after their reset."""
        raise NotImplementedError

    def resting_place(self, vec: np.ndarray) -> np.ndarray:
        """Where Meta-World's reset puts ``free_body``: the vector's (x, y) at the height the hand
        reset left the body (read after it, as ``get_body_com``), (..., 3)."""
        height = self._hand["xpos"][self._free_body, 2:]
        return np.concatenate([vec[..., :2], np.broadcast_to(height, vec[..., :1].shape)], axis=-1)

    def reset_frame(self, sim: Sim, rows: np.ndarray, frame: np.ndarray) -> None:
        """Read what a task keeps from its reset observation's 18 entries (rows × 18)."""

    def reward(self, sim: Sim, obs: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, dict, dict, np.ndarray]:
        """Meta-World's reward (N,), reward terms, quantities (its info keys) and success."""
        raise NotImplementedError

    # -- shared quantities -----------------------------------------------------------

    def tcp_center(self, sim: Sim) -> np.ndarray:
        """Midpoint of the fingertip sites (N, 3), Meta-World's ``tcp_center``."""
        site = sim.field("site_xpos")
        return (site[:, self._ids["right_ee"]] + site[:, self._ids["left_ee"]]) / 2.0

    def _frame_head(self, xpos: np.ndarray) -> np.ndarray:
        """Hand position and gripper opening (N, 4) from body positions (N, nbody, 3)."""
        ids = self._ids
        apart = xpos[:, ids["rightclaw"]] - xpos[:, ids["leftclaw"]]
        opening = np.clip(np.sqrt(np.matmul(apart[:, None, :], apart[:, :, None])[:, 0, 0]) / 0.1, 0.0, 1.0)
        return np.concatenate([xpos[:, ids["hand"]], opening[:, None]], axis=1)

    def _frame(self, sim: Sim) -> np.ndarray:
        """The current 18 entries (N, 18): hand, gripper opening, objects padded to 14."""
        pos, quat = self.objects(sim)
        n = pos.shape[0]
        parts = [self._frame_head(sim.xpos)]
        for k in range(pos.shape[1] // 3):
            parts += [pos[:, 3 * k : 3 * k + 3], quat[:, 4 * k : 4 * k + 4]]
        used = sum(p.shape[1] for p in parts)
        parts.append(np.zeros((n, 18 - used)))
        return np.concatenate(parts, axis=1)

    def _goal_obs(self, rows=slice(None)) -> np.ndarray:
        goal = self._target[rows]
        return np.zeros_like(goal) if self.partially_observable else goal

    # -- the Task interface ------------------------------------------------------------

    def _bind(self, sim: Sim) -> None:
        """Per-sub-env arrays of the task and the MjData fields it writes (once per sim)."""
        if self._sim is sim:
            return
        n = sim.num_envs
        self._obs = np.zeros((n, 39))
        self._last = np.zeros((n, 18))
        self._target = np.zeros((n, 3))
        self._obj_init = np.zeros((n, 3))
        self._margin = np.zeros(n)  # a per-sub-env scalar a task fixes at reset
        self._mocap_pos = sim.batch.bind("mocap_pos")
        self._mocap_quat = sim.batch.bind("mocap_quat")
        self._time = sim.batch.bind("time")
        self._warmstart = sim.batch.bind("qacc_warmstart")
        self._sim = sim

    def reset_state(self, rng, init_qpos, init_qvel):
        if self.rand_vec is None:
            # Meta-World's reset calls reset_model twice (before and after mj_resetData),
            # each drawing from np_random; the second is the episode's
            first = self.draw_vector(rng)
            vec = self.draw_vector(rng)
        else:
            first = vec = self.rand_vec.copy()
        qpos, qvel = self._hand["qpos"].copy(), self._hand["qvel"].copy()
        self.reset_joints(qpos, qvel, vec)
        return qpos, qvel, (first, vec)

    def after_reset(self, sim: Sim, ids: np.ndarray, draws: list) -> None:
        """The rest of Meta-World's reset for sub-envs ``ids``: the hand reset's mocap,
        controls, warm start and time, the object's place, and the task's reset quantities.

        ``draws`` are (first, episode) vector pairs. Where Meta-World's ``reset_model``
        computes no kinematics after placing the object (``forward_at_reset`` False), its
        reset observation shows the object where the hand reset left it: at the place of
        the first of its two draws (the same vector when it is fixed).
        """
        self._bind(sim)
        pairs = np.array(draws)
        first, vec = pairs[:, 0], pairs[:, 1]
        self._mocap_pos[ids, self._hand_mocap] = self.hand_init_pos
        self._mocap_quat[ids, self._hand_mocap] = MOCAP_QUAT
        if self._object_mocap is not None:
            self._mocap_pos[ids, self._object_mocap] = self.object_position(vec)
        sim.ctrl[ids] = self._hand["ctrl"]
        self._warmstart[ids] = self._hand["warmstart"]
        self._time[ids] = self._hand["time"]
        sim.batch.forward(ids)
        self.reset_task(sim, ids, vec)
        frame = self._frame(sim)[ids]
        if not self.forward_at_reset:
            frame[:, :4] = self._hand["frame_head"]
            if self._object_mocap is not None:
                shift = self.object_position(first) - self.object_position(vec)
                moved = frame[:, 4:18].reshape(-1, 2, 7)
                moved[:, :, :3] += np.where(np.any(moved != 0, axis=2, keepdims=True), shift[:, None, :], 0.0)
                frame[:, 4:18] = moved.reshape(-1, 14)
        self.reset_frame(sim, ids, frame)
        self._last[ids] = frame
        self._obs[ids] = np.concatenate([frame, frame, self._goal_obs(ids)], axis=1)

    def action_bounds(self, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
        """Meta-World's action space, ``(dx, dy, dz, grip)`` in [-1, 1]⁴ (not the two finger controls)."""
        return np.full(4, -1.0), np.full(4, 1.0)

    def apply_action(self, sim: Sim, action: np.ndarray) -> None:
        """Meta-World's ``set_xyz_action`` and gripper control for every sub-env: the hand's
        mocap moves by ``clip(action[:3], -1, 1) * action_scale`` (in the action's dtype, as
        Meta-World computes it) inside ``[hand_low, hand_high]``; the fingers get
        ``(grip, -grip)``."""
        hand = self._hand_mocap
        delta = np.clip(action[:, :3], -1, 1) * self.action_scale
        self._mocap_pos[:, hand] = np.clip(self._mocap_pos[:, hand] + delta, self.hand_low, self.hand_high)
        self._mocap_quat[:, hand] = MOCAP_QUAT
        grip = action[:, 3]
        ctrl = sim.ctrl
        ctrl[:, 0] = grip
        ctrl[:, 1] = -grip

    def observe(self, sim):
        return self._obs.copy()

    def evaluate(self, sim, before, action):
        frame = self._frame(sim)
        obs = np.concatenate([frame, self._last, self._goal_obs()], axis=1)
        self._last = frame
        # Meta-World's clip to its observation space (objects unbounded)
        for start in (0, 18):
            obs[:, start : start + 3] = np.clip(obs[:, start : start + 3], *HAND_SPACE)
            obs[:, start + 3] = np.clip(obs[:, start + 3], -1.0, 1.0)
        if not self.partially_observable:
            obs[:, 36:] = np.clip(obs[:, 36:], self.goal_low, self.goal_high)
        self._obs = obs
        reward, terms, quantities, success = self.reward(sim, obs, action)
        tcp = self.tcp_center(sim)
        quantities.update(tcp_x=tcp[:, 0].copy(), tcp_y=tcp[:, 1].copy(), tcp_z=tcp[:, 2].copy())
        return StepOutcome(
            reward_terms=terms,
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities=quantities,
            success=success,
            reward=reward,
        )


def info(near_object, grasp_success, grasp_reward, in_place_reward, obj_to_target, reward) -> dict[str, np.ndarray]:
    """Meta-World's info keys (besides ``success``) as float64 (N,) arrays."""
    values = (near_object, grasp_success, grasp_reward, in_place_reward, obj_to_target, reward)
    return {key: np.array(value, dtype=np.float64) for key, value in zip(INFO_KEYS, values)}


def body_quat_to_xyzw(xmat: np.ndarray) -> np.ndarray:
    """Quaternions (x, y, z, w) of rotation matrices (N, 9), as scipy's
    ``Rotation.from_matrix(m).as_quat()`` gives them (Meta-World's door handle)."""
    m = xmat.reshape(-1, 3, 3)
    n = m.shape[0]
    diag = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    trace = diag.sum(axis=1)
    decision = np.concatenate([diag, trace[:, None]], axis=1)
    choice = decision.argmax(axis=1)
    quat = np.empty((n, 4))
    for c in range(4):
        r = np.flatnonzero(choice == c)
        if r.size == 0:
            continue
        mm = m[r]
        if c == 3:
            quat[r, 0] = mm[:, 2, 1] - mm[:, 1, 2]
            quat[r, 1] = mm[:, 0, 2] - mm[:, 2, 0]
            quat[r, 2] = mm[:, 1, 0] - mm[:, 0, 1]
            quat[r, 3] = 1 + trace[r]
        else:
            i, j, k = c, (c + 1) % 3, (c + 2) % 3
            quat[r, i] = 1 - trace[r] + 2 * mm[:, i, i]
            quat[r, j] = mm[:, j, i] + mm[:, i, j]
            quat[r, k] = mm[:, k, i] + mm[:, i, k]
            quat[r, 3] = mm[:, k, j] - mm[:, j, k]
    return quat / np.sqrt((quat * quat).sum(axis=1))[:, None]
