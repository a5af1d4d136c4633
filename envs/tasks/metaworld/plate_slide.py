"""Meta-World v3's plate-slide, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import TARGET_RADIUS, SawyerTask, body_quat_to_xyzw, info, sawyer_card
from .reward_utils import hamacher_product, tolerance

#: qpos of the puck's two slide joints (x, y)
PUCK_QPOS = slice(9, 11)


@register_builtin
class PlateSlide(SawyerTask):
    """Slide a puck (the plate) forward across the table into a goal net.

    Meta-World v3's ``plate-slide-v3`` (``SawyerPlateSlideEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, puck position (the
    ``puck`` geom) and quaternion (x, y, z, w, as scipy's ``as_quat``), 7 zeros; the
    same 18 of the previous step; goal (the goal net's place; zeros when
    ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``in_place = tolerance(‖puck − target‖, (0, 0.05), margin ‖puck start − target‖,
    long_tail)``, ``object_grasped = tolerance(‖tcp − puck‖, (0, 0.05), margin
    ‖init_tcp − puck start‖, long_tail)``.

    | term | value |
    |------|-------|
    | ``success_bonus`` | what lifts the reward to 10 once the puck is within 0.05 m of the target, else 0 |
    | ``slide`` | 8 × hamacher(object_grasped, in_place) |

    ## Success
    ``info["success"]``: ``‖puck − target‖ ≤ 0.07``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state, the puck at (0, 0.6, 0); the goal net at (x, y, 0)
    drawn uniformly from [−0.1, 0.1] × [0.85, 0.9] (the vector's last three entries;
    ``rand_vec=None``) or from ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (‖tcp − puck‖ ≤ 0.03), ``grasp_success``
    (0), ``grasp_reward`` (= object_grasped), ``in_place_reward`` (= in_place),
    ``obj_to_target``, ``unscaled_reward``; and ``tcp_to_obj``, ``object_grasped``,
    ``in_place``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``plate-slide-v3``.
    """

    card = sawyer_card(
        "plate-slide-v3",
        "Push the puck on the table in front of the Sawyer arm forward (towards +y) into the goal net.",
        {
            "tcp_to_obj": "distance from the tool centre point to the puck (m)",
            "object_grasped": "gripper at the puck factor, in [0, 1]",
            "in_place": "puck at the goal factor, in [0, 1]",
        },
        (
            RewardTerm("success_bonus", 10.0, "the rest of 10 once the puck is within 0.05 m of the goal, else 0"),
            RewardTerm("slide", 8.0, "8 x hamacher product of the gripper being at the puck and the puck's nearness to the goal"),
        ),
        "the puck is within 0.07 m of the goal (obj_to_target <= 0.07)",
    )
    xml_name = "sawyer_plate_slide.xml"
    object_body = "puck_goal"
    hand_init_pos = np.float32((0.0, 0.6, 0.2)).astype(np.float64)  # float32, as Meta-World stores it
    reset_low = np.array([0.0, 0.6, 0.0, -0.1, 0.85, 0.0])
    reset_high = np.array([0.0, 0.6, 0.0, 0.1, 0.9, 0.0])
    goal_low = np.array([-0.1, 0.85, 0.0])
    goal_high = np.array([0.1, 0.9, 0.0])

    def object_position(self, vec):
        return vec[:, 3:6]

    def reset_joints(self, qpos, qvel, vec):
        qpos[PUCK_QPOS] = 0.0

    def objects(self, sim):
        puck = sim.model.geom("puck").id
        return sim.field("geom_xpos")[:, puck].copy(), body_quat_to_xyzw(sim.field("geom_xmat")[:, puck])

    def reset_task(self, sim, rows, vec):
        self._target[rows] = vec[:, 3:6]
        self._obj_init[rows] = vec[:, :3]

    def reward(self, sim, obs, action):
        obj = obs[:, 4:7]
        tcp = self.tcp_center(sim)
        obj_to_target = row_norms(obj - self._target)
        in_place = tolerance(obj_to_target, (0, TARGET_RADIUS), row_norms(self._obj_init - self._target), "long_tail")
        tcp_to_obj = row_norms(tcp - obj)
        grasped = tolerance(tcp_to_obj, (0, TARGET_RADIUS), row_norms(self._hand["init_tcp"] - self._obj_init), "long_tail")
        slide = 8 * hamacher_product(grasped, in_place)
        success = obj_to_target < TARGET_RADIUS
        reward = np.where(success, 10.0, slide)
        bonus = np.where(success, reward - slide, 0.0)
        quantities = info(tcp_to_obj <= 0.03, np.zeros(sim.num_envs), grasped, in_place, obj_to_target, reward)
        quantities.update(tcp_to_obj=tcp_to_obj, object_grasped=grasped.copy(), in_place=in_place.copy())
        return reward, {"success_bonus": bonus, "slide": slide}, quantities, obj_to_target <= 0.07
