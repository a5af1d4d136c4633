"""HumanoidStandup, batched; identical to Gymnasium's ``HumanoidStandup-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, weight
from ._humanoid import HumanoidBase, observation_labels

DEFAULT_CAMERA_CONFIG = {"trackbodyid": 1, "distance": 4.0, "lookat": np.array((0.0, 0.0, 0.8925)), "elevation": -20.0}


@register_builtin
class HumanoidStandup(HumanoidBase):
    """The 3-D humanoid of Humanoid-v5, starting lying on the ground, that should stand up.

    Same model, dynamics, observation, reward, reset and info as Gymnasium's
    ``HumanoidStandup-v5`` (``humanoidstandup.xml``, RK4, timestep 0.003 s,
    frame_skip 5, dt 0.015 s), and the same keyword arguments with the same defaults.

    ## Action space
    ``Box(-0.4, 0.4, (17,), float32)``: as Humanoid-v5 (abdomen_y, abdomen_z,
    abdomen_x, right_hip_x, right_hip_z, right_hip_y, right_knee, left_hip_x,
    left_hip_z, left_hip_y, left_knee, right_shoulder1, right_shoulder2, right_elbow,
    left_shoulder1, left_shoulder2, left_elbow).

    ## Observation space
    ``Box(-inf, inf, (348,), float64)``, laid out exactly as Humanoid-v5's (see
    ``humanoid.py``): torso z and quaternion (0–4), joint angles (5–21), torso
    velocities (22–27), joint velocities (28–44), ``cinert[1:]`` (45–174),
    ``cvel[1:]`` (175–252), ``qfrc_actuator[6:]`` (253–269), ``cfrc_ext[1:]``
    (270–347). The same five ``exclude_…``/``include_…_in_observation`` options
    change it the same way.

    ## Reward terms (``info["reward_terms"]``)
    | term | value | Gymnasium's info key |
    |------|-------|------|
    | ``linup`` | torso z / ``model.opt.timestep`` (0.003 s, not dt) | ``reward_linup`` |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ ctrl² | ``reward_quadctrl`` |
    | ``impact`` | −clip(``impact_cost_weight`` × Σ cfrc_ext² (all bodies), ``impact_cost_range``) | ``reward_impact`` |
    | ``alive`` | 1 on every step | – (Gymnasium adds it without an info key) |

    The reward is ``linup − ctrl cost − impact cost + 1``. ``uph_cost_weight`` is
    accepted and validated but, as in Gymnasium's ``HumanoidStandup-v5`` (1.x), not
    applied: ``linup`` is unweighted. pbrl keeps that, to stay exact.

    ## Episode end
    Never terminates; truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, ``qvel = init + U(±reset_noise_scale)``;
    right after a reset ``cfrc_ext`` is 0, as in Gymnasium.

    ## Info
    Gymnasium's keys, same values: ``x_position``, ``y_position`` (torso),
    ``z_distance_from_origin`` (torso z − its initial 0.105 m), ``tendon_length``,
    ``tendon_velocity`` ((N, 2)), ``reward_linup``, ``reward_quadctrl``,
    ``reward_impact``; the reset info has the first five. pbrl adds ``reward_terms``
    and ``torso_height`` (qpos[2]).

    ## Cost of the contact forces
    The humanoid lies on the ground, so contacts are many; ``cfrc_ext`` costs the
    per-env loop of Humanoid-v5 and Ant (see ``humanoid.py``). With
    ``include_cfrc_ext_in_observation=False`` and ``impact_cost_weight=0`` there is
    no loop and the batch is not persistent.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's HumanoidStandup-v5.
    """

    card = TaskCard(
        id="pbrl/HumanoidStandup-v5",
        goal="Make the humanoid, which starts lying on the ground, stand up and keep its torso "
        "as high as possible, using little control effort and light impacts.",
        observation_labels=observation_labels(),
        quantities={
            "x_position": "x coordinate of the torso (m)",
            "y_position": "y coordinate of the torso (m)",
            "z_distance_from_origin": "torso height above its initial height of 0.105 m (m)",
            "torso_height": "z coordinate of the torso (m)",
        },
        reward_terms=(
            RewardTerm("linup", 1.0, "torso height (m) divided by the physics timestep (0.003 s)"),
            RewardTerm("ctrl", -0.1, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
            RewardTerm("impact", -0.5e-6, "minus impact_cost_weight times the squared contact forces, "
                       "the product clipped to at most 10", option="impact_cost_weight"),
            RewardTerm("alive", 1.0, "a constant 1 on every step"),
        ),
        termination="Never terminates; episodes are truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # No published reference: D4RL has no humanoid and Gymnasium gives
        # HumanoidStandup-v5 no reward_threshold. min: mean return of uniformly
        # random actions, measured with pbrl (first episodes of 100 sub-envs seeded
        # 0..99, actions from default_rng(0); every episode is 1000 steps; the
        # dynamics are Gymnasium's HumanoidStandup-v5). max: (1.4 / 0.003 + 1) × 1000,
        # the return of a torso held at Humanoid-v5's standing height of 1.4 m for a
        # whole episode at zero cost — not an expert's return (none is published).
        ref_min_return=33614.191,
        ref_max_return=467666.667,
    )

    def __init__(
        self,
        *,
        xml_file: str = "humanoidstandup.xml",
        frame_skip: int = 5,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        uph_cost_weight: float = 1,
        ctrl_cost_weight: float = 0.1,
        impact_cost_weight: float = 0.5e-6,
        impact_cost_range: tuple[float, float] = (-np.inf, 10.0),
        reset_noise_scale: float = 1e-2,
        exclude_current_positions_from_observation: bool = True,
        include_cinert_in_observation: bool = True,
        include_cvel_in_observation: bool = True,
        include_qfrc_actuator_in_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        **unknown,
    ):
        options = check_options(self, HumanoidStandup.__init__, locals())
        super().__init__(options, "impact_cost_weight", "impact_cost_range")
        # Accepted and validated, not applied: Gymnasium's v5 reward ignores it too.
        self.uph_cost_weight = weight("uph_cost_weight", uph_cost_weight)

    def evaluate(self, sim, before, action):
        z = sim.qpos[:, 2].copy()
        uph_cost = (z - 0) / self._timestep
        quad_ctrl_cost = self.ctrl_cost_weight * self.squared_ctrl(sim)
        quad_impact_cost = self.contact_cost(sim)
        reward = uph_cost - quad_ctrl_cost - quad_impact_cost + 1
        qpos = sim.qpos
        return StepOutcome(
            reward_terms={
                "linup": uph_cost,
                "ctrl": -quad_ctrl_cost,
                "impact": -quad_impact_cost,
                "alive": np.ones(sim.num_envs),
            },
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities={
                "x_position": qpos[:, 0].copy(),
                "y_position": qpos[:, 1].copy(),
                "z_distance_from_origin": z - self._init_z,
                **self.tendons(sim),
                "torso_height": z,
                # Gymnasium's names of the reward terms, as its info has them.
                "reward_linup": uph_cost,
                "reward_quadctrl": -quad_ctrl_cost,
                "reward_impact": -quad_impact_cost,
            },
            reward=reward,
        )

    def reset_quantities(self, sim):
        qpos = sim.qpos
        return {
            "x_position": qpos[:, 0].copy(),
            "y_position": qpos[:, 1].copy(),
            "z_distance_from_origin": qpos[:, 2] - self._init_z,
            **self.tendons(sim),
        }
