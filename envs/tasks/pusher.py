"""Pusher, batched; identical to Gymnasium's ``Pusher-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, row_norms, sum_of_squares, weight
from ._common import GymnasiumTask

DEFAULT_CAMERA_CONFIG = {
    "trackbodyid": -1,
    "distance": 4.0,
}

#: The object counts as on the goal when its centre is closer than this to the
#: goal's centre in the table plane (m): the radius of the goal disc in
#: ``pusher_v5.xml``, so the object's centre lies over the disc. (The 3-D
#: distance of the ``dist`` term never falls below 0.048 m, the height of the
#: object's centre above the goal's.)
SUCCESS_DISTANCE = 0.08

_ARM = (
    "shoulder_pan", "shoulder_lift", "upper_arm_roll", "elbow_flex",
    "forearm_roll", "wrist_flex", "wrist_roll",
)


@register_builtin
class Pusher(GymnasiumTask):
    """A seven-joint arm on a table that should push a cylinder onto a goal disc.

    Same model, dynamics, observation, reward and reset as Gymnasium's
    ``Pusher-v5`` (``pusher_v5.xml``, frame_skip 5, dt 0.05 s), and the same keyword
    arguments with the same defaults.

    ## Action space
    ``Box(-2, 2, (7,), float32)``: torques on the shoulder pan, shoulder lift,
    upper-arm roll, elbow flex, forearm roll, wrist flex and wrist roll hinges.

    ## Observation space
    ``Box(-inf, inf, (23,), float64)``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0–6 | angles of the seven arm joints (``qpos[:7]``) | rad |
    | 7–13 | angular velocities of the seven arm joints (``qvel[:7]``) | rad/s |
    | 14–16 | x, y, z of the fingertip (body ``tips_arm``) | m |
    | 17–19 | x, y, z of the object (the cylinder) | m |
    | 20–22 | x, y, z of the goal | m |

    ## Reward terms (``info["reward_terms"]``)
    | term | value | Gymnasium's info key |
    |------|-------|------|
    | ``dist`` | −``reward_dist_weight`` × ‖object − goal‖ after the step | ``reward_dist`` |
    | ``near`` | −``reward_near_weight`` × ‖object − fingertip‖ after the step | ``reward_near`` |
    | ``ctrl`` | −``reward_control_weight`` × Σ action² | ``reward_ctrl`` |

    The reward is ``dist + ctrl + near``, summed in Gymnasium's order.

    ## Success
    ``info["success"]`` is True at a step when the object's centre is less than
    ``SUCCESS_DISTANCE`` = 0.08 m (the goal disc's radius) from the goal's centre
    in the table plane (``info["object_goal_xy_distance"] < 0.08``). Not part of
    Gymnasium; the reward is unchanged.

    ## Episode end
    Never terminates; truncated after 100 steps.

    ## Reset
    As Gymnasium, with each sub-env's own generator: the arm starts at
    ``init_qpos``; the object's offset from the goal, ``qpos[7:9]`` (slide y, then
    slide x), is drawn as (U(−0.3, 0), U(−0.2, 0.2)) until it is more than 0.17 m
    long (rejection sampling, in Gymnasium's draw order); the goal's offset
    ``qpos[9:11]`` is 0; ``qvel = init + U(±0.005)`` with the object's and goal's
    four velocities set to 0. The rejection loop is why a reset draws a varying
    number of values: it runs once per reset sub-env (the engine resets sub-envs
    one generator at a time), never in ``step``.

    ## Info
    Gymnasium's keys, same values: ``reward_dist``, ``reward_ctrl``, ``reward_near``
    (its reset info is empty). pbrl adds ``reward_terms``, ``success`` and the
    card's quantities: ``object_goal_distance`` and ``fingertip_object_distance``
    (3-D, m, as in the reward), ``object_goal_xy_distance`` (in the table plane, m),
    ``object_x``, ``object_y``, ``goal_x``, ``goal_y``, ``fingertip_x``,
    ``fingertip_y``, ``fingertip_z``.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Pusher-v5, with
      success defined as the object's centre over the goal disc.
    """

    card = TaskCard(
        id="pbrl/Pusher-v5",
        goal="Move the arm's fingertip to the cylinder and push the cylinder across the table onto the goal disc, using little control effort.",
        observation_labels=(
            *(f"{j}_angle" for j in _ARM),
            *(f"{j}_angvel" for j in _ARM),
            "fingertip_x", "fingertip_y", "fingertip_z",
            "object_x", "object_y", "object_z",
            "goal_x", "goal_y", "goal_z",
        ),
        quantities={
            "object_goal_distance": "distance from the object to the goal (m, 3-D, as in the dist term)",
            "fingertip_object_distance": "distance from the fingertip to the object (m, 3-D, as in the near term)",
            "object_goal_xy_distance": "distance from the object's centre to the goal's centre in the table plane (m)",
            "object_x": "x coordinate of the object (m)",
            "object_y": "y coordinate of the object (m)",
            "goal_x": "x coordinate of the goal (m)",
            "goal_y": "y coordinate of the goal (m)",
            "fingertip_x": "x coordinate of the fingertip (m)",
            "fingertip_y": "y coordinate of the fingertip (m)",
            "fingertip_z": "z coordinate (height) of the fingertip (m)",
        },
        reward_terms=(
            RewardTerm("dist", -1.0, "minus reward_dist_weight times the object-to-goal distance (m)", option="reward_dist_weight"),
            RewardTerm("near", -0.5, "minus reward_near_weight times the fingertip-to-object distance (m)", option="reward_near_weight"),
            RewardTerm("ctrl", -0.1, "minus reward_control_weight times the squared action norm", option="reward_control_weight"),
        ),
        termination="Never terminates; episodes are truncated after 100 steps.",
        success=(
            f"the object's centre is within {SUCCESS_DISTANCE} m of the goal's centre in the table plane "
            f"(object_goal_xy_distance < {SUCCESS_DISTANCE}) at the step"
        ),
        max_episode_steps=100,
        # min: mean return of uniformly random actions, measured with pbrl (first
        # episodes of 1000 sub-envs seeded 0..999, actions from default_rng(0); the
        # dynamics are Gymnasium's Pusher-v5). max: Gymnasium's reward_threshold for
        # Pusher-v5 (gymnasium/envs/__init__.py), 0.0: the supremum of the return
        # (every term is <= 0), not reachable; no expert return is published.
        ref_min_return=-149.649,
        ref_max_return=0.0,
        extra={"success_distance": SUCCESS_DISTANCE},
    )
    data_fields = ("xpos",)

    def __init__(
        self,
        *,
        xml_file: str = "pusher_v5.xml",
        frame_skip: int = 5,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        reward_near_weight: float = 0.5,
        reward_dist_weight: float = 1,
        reward_control_weight: float = 0.1,
        **unknown,
    ):
        check_options(self, Pusher.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.reward_near_weight = weight("reward_near_weight", reward_near_weight)
        self.reward_dist_weight = weight("reward_dist_weight", reward_dist_weight)
        self.reward_control_weight = weight("reward_control_weight", reward_control_weight)

    def reset_state(self, rng, init_qpos, init_qvel):
        qpos = init_qpos.copy()
        while True:  # Gymnasium's rejection sampling of the object, in its draw order
            cylinder = np.concatenate(
                [rng.uniform(low=-0.3, high=0, size=1), rng.uniform(low=-0.2, high=0.2, size=1)]
            )
            if np.linalg.norm(cylinder) > 0.17:  # the goal's offset is 0
                break
        qpos[-4:-2] = cylinder
        qpos[-2:] = 0.0
        qvel = init_qvel + rng.uniform(low=-0.005, high=0.005, size=init_qvel.size)
        qvel[-4:] = 0
        return qpos, qvel

    def _bodies(self, sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return sim.body_xpos("tips_arm"), sim.body_xpos("object"), sim.body_xpos("goal")

    def observe(self, sim):
        tip, obj, goal = self._bodies(sim)
        return np.concatenate([sim.qpos[:, :7], sim.qvel[:, :7], tip, obj, goal], axis=1)

    def evaluate(self, sim, before, action):
        tip, obj, goal = self._bodies(sim)
        near_distance = row_norms(obj - tip)
        goal_offset = obj - goal
        goal_distance = row_norms(goal_offset)
        xy_distance = np.linalg.norm(goal_offset[:, :2], axis=1)
        near = -near_distance * self.reward_near_weight
        dist = -goal_distance * self.reward_dist_weight
        ctrl = -sum_of_squares(action) * self.reward_control_weight  # in the action's dtype
        return StepOutcome(
            reward_terms={"dist": dist, "near": near, "ctrl": ctrl},
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities={
                "object_goal_distance": goal_distance,
                "fingertip_object_distance": near_distance,
                "object_goal_xy_distance": xy_distance,
                "object_x": obj[:, 0].copy(),
                "object_y": obj[:, 1].copy(),
                "goal_x": goal[:, 0].copy(),
                "goal_y": goal[:, 1].copy(),
                "fingertip_x": tip[:, 0].copy(),
                "fingertip_y": tip[:, 1].copy(),
                "fingertip_z": tip[:, 2].copy(),
                # Gymnasium's names of the reward terms, as its info has them.
                "reward_dist": dist,
                "reward_ctrl": ctrl,
                "reward_near": near,
            },
            success=xy_distance < SUCCESS_DISTANCE,
            reward=dist + ctrl + near,  # Gymnasium's order of the sum
        )
