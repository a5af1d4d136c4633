"""Ant, batched; identical to Gymnasium's ``Ant-v5`` by default."""

from __future__ import annotations

import mujoco
import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, number, range_pair, row_norms, sum_of_squares, weight
from ._common import GymnasiumTask, flag

DEFAULT_CAMERA_CONFIG = {"distance": 4.0}

_LEGS = ["front_left", "front_right", "back_left", "back_right"]
_JOINTS = [f"{kind}_{i}" for i in range(1, 5) for kind in ("hip", "ankle")]
# The bodies after the world, named as in Gymnasium's Ant-v5 manual.
_BODIES = [
    "torso",
    "front_left_leg", "aux_1", "ankle_1",
    "front_right_leg", "aux_2", "ankle_2",
    "back_leg", "aux_3", "ankle_3",
    "right_back_leg", "aux_4", "ankle_4",
]
# MuJoCo's spatial convention: rotational part first, then translational.
_CFRC = ["torque_x", "torque_y", "torque_z", "force_x", "force_y", "force_z"]


@register_builtin
class Ant(GymnasiumTask):
    """A 3-D quadruped (torso on a free joint, four two-link legs) that should walk forward.

    Same model, dynamics, observation, reward, termination and reset as
    Gymnasium's ``Ant-v5`` (``ant.xml``, RK4, frame_skip 5, dt 0.05 s), and the same
    keyword arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (8,), float32)``: torques on hip_1, ankle_1, hip_2, ankle_2,
    hip_3, ankle_3, hip_4, ankle_4 (front left, front right, back left, back right).

    ## Observation space
    ``Box(-inf, inf, (105,), float64)`` — ``qpos[2:]``, ``qvel``, then
    ``clip(cfrc_ext[1:], *contact_force_range)`` flattened:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | torso z | m |
    | 1–4 | torso orientation quaternion (w, x, y, z) | – |
    | 5–12 | angles of hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3, hip_4, ankle_4 | rad |
    | 13–15 | torso linear velocity x, y, z | m/s |
    | 16–18 | torso angular velocity x, y, z | rad/s |
    | 19–26 | angular velocities of the eight joints | rad/s |
    | 27–104 | clipped external contact wrench of the 13 bodies (torso, front_left_leg, aux_1, ankle_1, front_right_leg, aux_2, ankle_2, back_leg, aux_3, ankle_3, right_back_leg, aux_4, ankle_4), 6 each: torque x, y, z then force x, y, z (MuJoCo's com-based ``cfrc_ext``) | N·m, N |

    ``exclude_current_positions_from_observation=False`` puts torso x, y first
    (107); ``include_cfrc_ext_in_observation=False`` drops the 78 contact values
    (27). With another ``xml_file`` the sizes follow that model.

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``forward`` | ``forward_reward_weight`` × x velocity of ``main_body`` (Δx / dt) |
    | ``healthy`` | ``healthy_reward`` while healthy, else 0 |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ action² |
    | ``contact`` | −``contact_cost_weight`` × Σ clip(cfrc_ext, ``contact_force_range``)² (all bodies) |

    ## Episode end
    Healthy means every entry of (qpos, qvel) is finite and the torso z lies in the
    closed interval ``healthy_z_range`` (default [0.2, 1.0]). With
    ``terminate_when_unhealthy`` (default) the episode terminates when unhealthy.
    Truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, ``qvel = init + reset_noise_scale·N(0, 1)``;
    right after a reset ``cfrc_ext`` is 0, as in Gymnasium (``mj_resetData`` then
    ``mj_forward``, which does not compute it).

    ## Info
    ``x_position``, ``y_position``, ``distance_from_origin``, ``x_velocity``,
    ``y_velocity`` (as in Gymnasium's info; the velocities are those of
    ``main_body``, the positions are qpos[0:2]), ``torso_height`` (qpos[2]),
    ``is_healthy``, and Gymnasium's ``reward_forward``, ``reward_ctrl`` (in the
    action's dtype), ``reward_contact`` and ``reward_survive``; Gymnasium's keys
    have its values bit for bit. The reset info has the first three.

    ## Cost of the contact forces
    ``mujoco.batch`` does not compute ``cfrc_ext`` (MuJoCo 4.0), and Gymnasium calls
    ``mj_rnePostConstraint`` after ``mj_step``. pbrl runs it on each stepped sub-env's own
    MjData in the persistent batch, on the batch's threads (``mjb_apply``), and reads
    ``cfrc_ext`` from there (``envs/_native.py``); where that in-place access cannot be
    checked (another MuJoCo version, another platform) it falls back to a copy of each
    MjData (``get_data``) and ``mj_rnePostConstraint`` on the copy, with the same numbers.
    ``python benchmarks/throughput.py --tasks Ant`` prints both side by side (BENCHMARKS.md,
    "Ant's contact forces"). Sub-envs reset in a step skip it (their cfrc_ext is 0, as in Gymnasium). With
    ``include_cfrc_ext_in_observation=False`` and ``contact_cost_weight=0`` nothing is
    computed and the batch is not persistent. BENCHMARKS.md ("Issue 16's table") has Ant's
    env-steps/s against the bare batch and EnvPool.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Ant-v5.
    """

    card = TaskCard(
        id="pbrl/Ant-v5",
        goal="Make the four-legged ant walk forward (in +x) as fast as possible without falling over or "
        "flipping, using little control effort and light contact forces.",
        observation_labels=tuple(
            ["torso_z", "torso_qw", "torso_qx", "torso_qy", "torso_qz"]
            + [f"{j}_angle" for j in _JOINTS]
            + ["torso_vx", "torso_vy", "torso_vz", "torso_wx", "torso_wy", "torso_wz"]
            + [f"{j}_angvel" for j in _JOINTS]
            + [f"{b}_cfrc_{c}" for b in _BODIES for c in _CFRC]
        ),
        quantities={
            "x_position": "x coordinate of the torso (m)",
            "y_position": "y coordinate of the torso (m)",
            "distance_from_origin": "distance of the torso from the origin in the ground plane (m)",
            "x_velocity": "forward velocity of the torso, Δx/dt (m/s)",
            "y_velocity": "sideways velocity of the torso, Δy/dt (m/s)",
            "torso_height": "z coordinate of the torso (m)",
            "is_healthy": "state finite and torso height inside healthy_z_range (bool)",
        },
        reward_terms=(
            RewardTerm("forward", 1.0, "forward velocity (m/s) times forward_reward_weight", option="forward_reward_weight"),
            RewardTerm("healthy", 1.0, "healthy_reward on every step the ant is healthy", option="healthy_reward"),
            RewardTerm("ctrl", -0.5, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
            RewardTerm("contact", -5e-4, "minus contact_cost_weight times the squared clipped contact forces", option="contact_cost_weight"),
        ),
        termination="Terminates when the state is not finite or the torso height leaves [0.2, 1.0]; "
        "episodes are truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # D4RL's reference returns for ant (random, expert).
        ref_min_return=-325.6,
        ref_max_return=3879.7,
    )
    data_fields = ("xpos",)
    velocity_noise = "normal"

    def __init__(
        self,
        *,
        xml_file: str = "ant.xml",
        frame_skip: int = 5,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 1.0,
        main_body: int | str = 1,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        contact_force_range: tuple[float, float] = (-1.0, 1.0),
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        **unknown,
    ):
        check_options(self, Ant.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.forward_reward_weight = weight("forward_reward_weight", forward_reward_weight)
        self.ctrl_cost_weight = weight("ctrl_cost_weight", ctrl_cost_weight)
        self.contact_cost_weight = weight("contact_cost_weight", contact_cost_weight)
        self.healthy_reward = weight("healthy_reward", healthy_reward)
        self.terminate_when_unhealthy = flag("terminate_when_unhealthy", terminate_when_unhealthy)
        self.healthy_z_range = range_pair("healthy_z_range", healthy_z_range)
        self.contact_force_range = range_pair("contact_force_range", contact_force_range)
        self.reset_noise_scale = number("reset_noise_scale", reset_noise_scale, nonnegative=True)
        self.exclude_xy = flag("exclude_current_positions_from_observation", exclude_current_positions_from_observation)
        self.include_cfrc = flag("include_cfrc_ext_in_observation", include_cfrc_ext_in_observation)

        model = self.build_model()
        if isinstance(main_body, (bool, np.bool_)) or not isinstance(main_body, (int, np.integer, str)):
            raise ValueError(f"main_body must be a body name or id, got {main_body!r}")
        if isinstance(main_body, str):
            if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, main_body) < 0:
                raise ValueError(f"main_body {main_body!r}: the model has no body of that name")
        elif not 0 <= int(main_body) < model.nbody:
            raise ValueError(f"main_body {main_body!r} is not a body id of the model (0..{model.nbody - 1})")
        if model.nq < 3 or model.nv < 1:
            raise ValueError(f"{self.xml_file}: Ant needs a model whose qpos[2] is the torso height")
        self.main_body = main_body if isinstance(main_body, str) else int(main_body)
        self._obs_dim = (
            model.nq + model.nv - 2 * self.exclude_xy + (model.nbody - 1) * 6 * self.include_cfrc
        )
        # Gymnasium's Ant-v5 observation_structure (a fresh copy on each access).
        self._structure = {
            "skipped_qpos": 2 * self.exclude_xy,
            "qpos": model.nq - 2 * self.exclude_xy,
            "qvel": model.nv,
            "cfrc_ext": (model.nbody - 1) * 6 * self.include_cfrc,
        }
        # Contact forces cost a per-env loop: pay it only when something reads them.
        self.needs_cfrc_ext = self.include_cfrc or self.contact_cost_weight != 0.0

    @property
    def observation_dim(self) -> int:
        return self._obs_dim

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (Ant-v5)."""
        return dict(self._structure)

    def before_step(self, sim):
        return {"xy": sim.body_xpos(self.main_body)[:, :2].copy()}

    def _contact_forces(self, sim):
        low, high = self.contact_force_range
        return np.clip(sim.cfrc_ext, low, high)

    def _healthy(self, sim):
        low, high = self.healthy_z_range
        z = sim.qpos[:, 2]
        finite = np.isfinite(sim.qpos).all(axis=1) & np.isfinite(sim.qvel).all(axis=1)
        return finite & (low <= z) & (z <= high)

    def observe(self, sim):
        start = 2 if self.exclude_xy else 0
        parts = [sim.qpos[:, start:], sim.qvel]
        if self.include_cfrc:
            parts.append(self._contact_forces(sim)[:, 1:].reshape(sim.num_envs, -1))
        return np.concatenate(parts, axis=1)

    def evaluate(self, sim, before, action):
        xy = sim.body_xpos(self.main_body)[:, :2].copy()
        velocity = (xy - before["xy"]) / sim.dt
        x_velocity, y_velocity = velocity[:, 0], velocity[:, 1]
        healthy = self._healthy(sim)

        # Gymnasium's arithmetic, in its order: the control cost in the action's dtype
        # (float32), the healthy reward in healthy_reward's type.
        forward = x_velocity * self.forward_reward_weight
        healthy_reward = healthy * self.healthy_reward
        ctrl_cost = self.ctrl_cost_weight * sum_of_squares(action)
        if self.needs_cfrc_ext:
            contact_cost = self.contact_cost_weight * sum_of_squares(self._contact_forces(sim))
        else:  # weight 0 and no contact forces in the observation: Gymnasium's 0 * Σ
            contact_cost = self.contact_cost_weight * np.zeros(sim.num_envs)
        reward = (forward + healthy_reward) - (ctrl_cost + contact_cost)

        terminated = ~healthy if self.terminate_when_unhealthy else np.zeros(sim.num_envs, dtype=bool)
        qpos = sim.qpos
        return StepOutcome(
            reward_terms={
                "forward": forward,
                "healthy": healthy_reward,
                "ctrl": -ctrl_cost,
                "contact": -contact_cost,
            },
            terminated=terminated,
            quantities={
                "x_position": qpos[:, 0].copy(),
                "y_position": qpos[:, 1].copy(),
                "distance_from_origin": row_norms(qpos[:, 0:2]),
                "x_velocity": x_velocity,
                "y_velocity": y_velocity,
                "torso_height": qpos[:, 2].copy(),
                "is_healthy": healthy,
                # Gymnasium's info keys for the terms, its dtypes.
                "reward_forward": forward,
                "reward_ctrl": -ctrl_cost,
                "reward_contact": -contact_cost,
                "reward_survive": healthy_reward,
            },
            reward=reward,
        )

    def reset_quantities(self, sim):
        qpos = sim.qpos
        return {
            "x_position": qpos[:, 0].copy(),
            "y_position": qpos[:, 1].copy(),
            "distance_from_origin": row_norms(qpos[:, 0:2]),
        }
