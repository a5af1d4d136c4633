"""Reacher, batched; identical to Gymnasium's ``Reacher-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, row_norms, sum_of_squares, weight
from ._common import GymnasiumTask

DEFAULT_CAMERA_CONFIG = {"trackbodyid": 0}

#: The fingertip counts as on the target when closer than this (m). The target
#: sphere has radius 0.009 m and the fingertip 0.01 m; the goal is drawn within
#: 0.2 m of the origin and the arm reaches 0.21 m.
SUCCESS_DISTANCE = 0.05


@register_builtin
class Reacher(GymnasiumTask):
    """A two-link planar arm that should move its fingertip to a random target.

    Same model, dynamics, observation, reward and reset as Gymnasium's
    ``Reacher-v5`` (``reacher.xml``, frame_skip 2, dt 0.02 s), and the same keyword
    arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (2,), float32)``: torques on joint0 (shoulder) and joint1 (elbow).

    ## Observation space
    ``Box(-inf, inf, (10,), float64)``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0–1 | cos of joint0, joint1 angles | — |
    | 2–3 | sin of joint0, joint1 angles | — |
    | 4–5 | target x, y (``qpos[2:]``) | m |
    | 6–7 | angular velocities of joint0, joint1 | rad/s |
    | 8–9 | x, y of fingertip − target | m |

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``dist`` | −``reward_dist_weight`` × ‖fingertip − target‖ after the step |
    | ``ctrl`` | −``reward_control_weight`` × Σ action² |

    ## Success
    ``info["success"]`` is True at a step when the fingertip is less than
    ``SUCCESS_DISTANCE`` = 0.05 m from the target after the step
    (``info["distance"] < 0.05``). Not part of Gymnasium; the reward is unchanged.

    ## Episode end
    Never terminates; truncated after 50 steps.

    ## Reset
    ``qpos = init + U(±0.1)`` (nq = 4), then the goal is drawn as U(±0.2)² until its
    norm is below 0.2 and written to ``qpos[2:]``; ``qvel = init + U(±0.005)`` with
    the target's two velocities set to 0.

    ## Info
    ``distance`` (fingertip to target, m), ``fingertip_x``, ``fingertip_y``,
    ``target_x``, ``target_y``, and Gymnasium's ``reward_dist`` and ``reward_ctrl``
    (in the action's dtype), with Gymnasium's values bit for bit.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Reacher-v5, with
      success defined as the fingertip within 0.05 m of the target.
    """

    card = TaskCard(
        id="pbrl/Reacher-v5",
        goal="Move the fingertip of the two-link arm onto the randomly placed target and keep it there, using little control effort.",
        observation_labels=(
            "cos_joint0", "cos_joint1", "sin_joint0", "sin_joint1", "target_x", "target_y",
            "joint0_angvel", "joint1_angvel", "fingertip_minus_target_x", "fingertip_minus_target_y",
        ),
        quantities={
            "distance": "distance from the fingertip to the target (m)",
            "fingertip_x": "x coordinate of the fingertip (m)",
            "fingertip_y": "y coordinate of the fingertip (m)",
            "target_x": "x coordinate of the target (m)",
            "target_y": "y coordinate of the target (m)",
        },
        reward_terms=(
            RewardTerm("dist", -1.0, "minus reward_dist_weight times the fingertip-to-target distance (m)", option="reward_dist_weight"),
            RewardTerm("ctrl", -1.0, "minus reward_control_weight times the squared action norm", option="reward_control_weight"),
        ),
        termination="Never terminates; episodes are truncated after 50 steps.",
        success=f"the fingertip is within {SUCCESS_DISTANCE} m of the target (distance < {SUCCESS_DISTANCE}) at the step",
        max_episode_steps=50,
        # min: mean return of uniformly random actions, measured with pbrl (first
        # episodes of 1000 sub-envs seeded 0..999, actions from default_rng(0); the
        # dynamics are Gymnasium's Reacher-v5). max: Gymnasium's reward_threshold for
        # Reacher-v5 (gymnasium/envs/__init__.py).
        ref_min_return=-42.889,
        ref_max_return=-3.75,
        extra={"success_distance": SUCCESS_DISTANCE},
    )
    data_fields = ("xpos",)

    def __init__(
        self,
        *,
        xml_file: str = "reacher.xml",
        frame_skip: int = 2,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        reward_dist_weight: float = 1,
        reward_control_weight: float = 1,
        **unknown,
    ):
        check_options(self, Reacher.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.reward_dist_weight = weight("reward_dist_weight", reward_dist_weight)
        self.reward_control_weight = weight("reward_control_weight", reward_control_weight)

    def reset_state(self, rng, init_qpos, init_qvel):
        qpos = rng.uniform(low=-0.1, high=0.1, size=init_qpos.size) + init_qpos
        while True:  # Gymnasium's rejection sampling of the goal, in its draw order
            goal = rng.uniform(low=-0.2, high=0.2, size=2)
            if np.linalg.norm(goal) < 0.2:
                break
        qpos[-2:] = goal
        qvel = init_qvel + rng.uniform(low=-0.005, high=0.005, size=init_qvel.size)
        qvel[-2:] = 0
        return qpos, qvel

    def _tip_minus_target(self, sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tip = sim.body_xpos("fingertip")
        target = sim.body_xpos("target")
        return tip, target, tip - target

    def observe(self, sim):
        theta = sim.qpos[:, :2]
        _, _, vec = self._tip_minus_target(sim)
        return np.concatenate(
            [np.cos(theta), np.sin(theta), sim.qpos[:, 2:], sim.qvel[:, :2], vec[:, :2]], axis=1
        )

    def evaluate(self, sim, before, action):
        tip, target, vec = self._tip_minus_target(sim)
        # Gymnasium's arithmetic: norm as of one row, the control cost in the action's dtype.
        distance = row_norms(vec)
        dist = -distance * self.reward_dist_weight
        ctrl = -sum_of_squares(action) * self.reward_control_weight
        return StepOutcome(
            reward_terms={"dist": dist, "ctrl": ctrl},
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities={
                "distance": distance,
                "fingertip_x": tip[:, 0].copy(),
                "fingertip_y": tip[:, 1].copy(),
                "target_x": target[:, 0].copy(),
                "target_y": target[:, 1].copy(),
                # Gymnasium's info keys for the terms, its dtypes.
                "reward_dist": dist,
                "reward_ctrl": ctrl,
            },
            success=distance < SUCCESS_DISTANCE,
            reward=dist + ctrl,
        )
