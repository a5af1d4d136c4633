"""Humanoid, batched; identical to Gymnasium's ``Humanoid-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, range_pair, row_norms, weight
from ._common import flag
from ._humanoid import HumanoidBase, observation_labels

DEFAULT_CAMERA_CONFIG = {"trackbodyid": 1, "distance": 4.0, "lookat": np.array((0.0, 0.0, 2.0)), "elevation": -20.0}


@register_builtin
class Humanoid(HumanoidBase):
    """A 3-D humanoid (torso on a free joint, 17 hinge joints) that should walk forward without falling.

    Same model, dynamics, observation, reward, termination, reset and info as
    Gymnasium's ``Humanoid-v5`` (``humanoid.xml``, RK4, timestep 0.003 s,
    frame_skip 5, dt 0.015 s), and the same keyword arguments with the same defaults.

    ## Action space
    ``Box(-0.4, 0.4, (17,), float32)``: torques (gears 25–300) on abdomen_y,
    abdomen_z, abdomen_x, right_hip_x, right_hip_z, right_hip_y, right_knee,
    left_hip_x, left_hip_z, left_hip_y, left_knee, right_shoulder1, right_shoulder2,
    right_elbow, left_shoulder1, left_shoulder2, left_elbow (the model's actuator order).

    ## Observation space
    ``Box(-inf, inf, (348,), float64)`` — ``qpos[2:]``, ``qvel``, ``cinert[1:]``,
    ``cvel[1:]``, ``qfrc_actuator[6:]``, ``cfrc_ext[1:]``, flattened:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | torso z | m |
    | 1–4 | torso orientation quaternion (w, x, y, z) | – |
    | 5–21 | angles of abdomen_z, abdomen_y, abdomen_x, right_hip_x, right_hip_z, right_hip_y, right_knee, left_hip_x, left_hip_z, left_hip_y, left_knee, right_shoulder1, right_shoulder2, right_elbow, left_shoulder1, left_shoulder2, left_elbow | rad |
    | 22–24 | torso linear velocity x, y, z | m/s |
    | 25–27 | torso angular velocity x, y, z | rad/s |
    | 28–44 | angular velocities of the 17 joints (same order) | rad/s |
    | 45–174 | com-based inertia of the 13 bodies (torso, lwaist, pelvis, right_thigh, right_shin, right_foot, left_thigh, left_shin, left_foot, right_upper_arm, right_lower_arm, left_upper_arm, left_lower_arm), 10 each: I xx, yy, zz, xy, xz, yz, mass × com offset x, y, z, mass (MuJoCo's ``cinert``) | kg·m², kg·m, kg |
    | 175–252 | com-based velocity of the 13 bodies, 6 each: angular x, y, z then linear x, y, z (``cvel``) | rad/s, m/s |
    | 253–269 | actuator force on the 17 joint dofs (``qfrc_actuator[6:]``, joint order) | N·m |
    | 270–347 | external contact wrench of the 13 bodies, 6 each: torque x, y, z then force x, y, z (``cfrc_ext``, unclipped) | N·m, N |

    ``exclude_current_positions_from_observation=False`` puts torso x, y first (350);
    ``include_cinert_in_observation``, ``include_cvel_in_observation``,
    ``include_qfrc_actuator_in_observation`` and ``include_cfrc_ext_in_observation``
    (``=False``) drop 130, 78, 17 and 78 values. With another ``xml_file`` the sizes
    follow that model.

    ## Reward terms (``info["reward_terms"]``)
    | term | value | Gymnasium's info key |
    |------|-------|------|
    | ``forward`` | ``forward_reward_weight`` × x velocity of the centre of mass (Δx / dt) | ``reward_forward`` |
    | ``healthy`` | ``healthy_reward`` while healthy, else 0 | ``reward_survive`` |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ ctrl² | ``reward_ctrl`` |
    | ``contact`` | −clip(``contact_cost_weight`` × Σ cfrc_ext² (all bodies), ``contact_cost_range``) | ``reward_contact`` |

    The reward is ``(forward + healthy) − (ctrl cost + contact cost)``. The centre of
    mass is the mass-weighted mean of the bodies' ``xipos``.

    ## Episode end
    Healthy means the torso z lies strictly inside ``healthy_z_range`` (default
    (1.0, 2.0)), as in Gymnasium (no finiteness check there; a non-finite state is
    pbrl's ``diverged`` and truncates). With ``terminate_when_unhealthy`` (default)
    the episode terminates when unhealthy. Truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, ``qvel = init + U(±reset_noise_scale)``;
    right after a reset ``cfrc_ext`` is 0, as in Gymnasium (``mj_resetData`` then
    ``mj_forward``, which does not compute it).

    ## Info
    Gymnasium's keys, same values: ``x_position``, ``y_position`` (torso, qpos[0:2]),
    ``distance_from_origin``, ``x_velocity``, ``y_velocity`` (centre of mass),
    ``tendon_length``, ``tendon_velocity`` ((N, 2): left_hipknee, right_hipknee),
    ``reward_survive``, ``reward_forward``, ``reward_ctrl``, ``reward_contact``; the
    reset info has the first five less the velocities. pbrl adds ``reward_terms``,
    ``torso_height`` (qpos[2]) and ``is_healthy``.

    ## Cost of the contact forces
    As for Ant (see ``ant.py``): ``mj_rnePostConstraint`` runs in place on each stepped
    sub-env's MjData on the batch's threads, with the per-env ``get_data`` copy as the
    fallback. Sub-envs reset in a step skip it (their cfrc_ext is 0, as in Gymnasium);
    with ``include_cfrc_ext_in_observation=False`` and ``contact_cost_weight=0`` nothing
    is computed. What it costs: BENCHMARKS.md ("Humanoid's contact forces").

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Humanoid-v5.
    """

    card = TaskCard(
        id="pbrl/Humanoid-v5",
        goal="Make the humanoid walk forward (in +x) as fast as possible without falling (torso height "
        "between 1 and 2 m), using little control effort and light contact forces.",
        observation_labels=observation_labels(),
        quantities={
            "x_position": "x coordinate of the torso (m)",
            "y_position": "y coordinate of the torso (m)",
            "distance_from_origin": "distance of the torso from the origin in the ground plane (m)",
            "x_velocity": "forward velocity of the centre of mass, Δx/dt (m/s)",
            "y_velocity": "sideways velocity of the centre of mass, Δy/dt (m/s)",
            "torso_height": "z coordinate of the torso (m)",
            "is_healthy": "torso height strictly inside healthy_z_range (bool)",
        },
        reward_terms=(
            RewardTerm("forward", 1.25, "centre-of-mass forward velocity (m/s) times forward_reward_weight", option="forward_reward_weight"),
            RewardTerm("healthy", 5.0, "healthy_reward on every step the humanoid is healthy", option="healthy_reward"),
            RewardTerm("ctrl", -0.1, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
            RewardTerm("contact", -5e-7, "minus contact_cost_weight times the squared contact forces, "
                       "the product clipped to at most 10", option="contact_cost_weight"),
        ),
        termination="Terminates when the torso height leaves (1.0, 2.0); episodes are truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # No published reference: D4RL has no humanoid and Gymnasium gives
        # Humanoid-v5 no reward_threshold. min: mean return of uniformly random
        # actions, measured with pbrl (first episodes of 1000 sub-envs seeded 0..999,
        # actions from default_rng(0); the dynamics are Gymnasium's Humanoid-v5).
        # max: 5000 = healthy_reward × 1000 steps, the return of standing healthy for
        # a whole episode at zero cost — not an expert's return (none is published);
        # walking policies exceed it, so normalized scores above 100 occur.
        ref_min_return=113.983,
        ref_max_return=5000.0,
    )

    def __init__(
        self,
        *,
        xml_file: str = "humanoid.xml",
        frame_skip: int = 5,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        forward_reward_weight: float = 1.25,
        ctrl_cost_weight: float = 0.1,
        contact_cost_weight: float = 5e-7,
        contact_cost_range: tuple[float, float] = (-np.inf, 10.0),
        healthy_reward: float = 5.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (1.0, 2.0),
        reset_noise_scale: float = 1e-2,
        exclude_current_positions_from_observation: bool = True,
        include_cinert_in_observation: bool = True,
        include_cvel_in_observation: bool = True,
        include_qfrc_actuator_in_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        **unknown,
    ):
        options = check_options(self, Humanoid.__init__, locals())
        super().__init__(options, "contact_cost_weight", "contact_cost_range")
        self.forward_reward_weight = weight("forward_reward_weight", forward_reward_weight)
        self.healthy_reward = weight("healthy_reward", healthy_reward)
        self.terminate_when_unhealthy = flag("terminate_when_unhealthy", terminate_when_unhealthy)
        self.healthy_z_range = range_pair("healthy_z_range", healthy_z_range)

    def before_step(self, sim):
        return {"xy": self.mass_center_xy(sim)}

    def _healthy(self, sim):
        low, high = self.healthy_z_range
        z = sim.qpos[:, 2]
        return (low < z) & (z < high)

    def evaluate(self, sim, before, action):
        velocity = (self.mass_center_xy(sim) - before["xy"]) / sim.dt
        x_velocity, y_velocity = velocity[:, 0], velocity[:, 1]
        healthy = self._healthy(sim)

        forward = self.forward_reward_weight * x_velocity
        healthy_reward = healthy * self.healthy_reward
        ctrl_cost = self.ctrl_cost_weight * self.squared_ctrl(sim)
        contact_cost = self.contact_cost(sim)
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
                **self.tendons(sim),
                "distance_from_origin": row_norms(qpos[:, 0:2]),
                "x_velocity": x_velocity,
                "y_velocity": y_velocity,
                "torso_height": qpos[:, 2].copy(),
                "is_healthy": healthy,
                # Gymnasium's names of the reward terms, as its info has them.
                "reward_survive": healthy_reward,
                "reward_forward": forward,
                "reward_ctrl": -ctrl_cost,
                "reward_contact": -contact_cost,
            },
            reward=reward,
        )

    def reset_quantities(self, sim):
        qpos = sim.qpos
        return {
            "x_position": qpos[:, 0].copy(),
            "y_position": qpos[:, 1].copy(),
            **self.tendons(sim),
            "distance_from_origin": row_norms(qpos[:, 0:2]),
        }
