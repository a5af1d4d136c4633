"""Meta-World v3's bin-picking, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import TARGET_RADIUS, SawyerTask, info, sawyer_card
from .reward_utils import gripper_caging_reward, hamacher_product, tolerance

#: qpos/qvel of the cube's free joint
OBJ_QPOS = slice(9, 12)
OBJ_QVEL = slice(9, 15)


@register_builtin
class BinPicking(SawyerTask):
    """Pick a cube out of one bin and place it in the other.

    Meta-World v3's ``bin-picking-v3`` (``SawyerBinPickingEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, cube position and
    quaternion (w, x, y, z), 7 zeros; the same 18 of the previous step; goal (the
    target bin, clipped to Meta-World's goal space; zeros when ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``in_place = tolerance(‖cube − target‖, (0, 0.05), margin that distance at the
    first step, long_tail)``; ``grasp`` = the base's gripper caging of the cube (dense,
    gripper effort 0.7); ``above_floor`` keeps the hand above two funnels round the
    start and target; ``grasped`` = cube within 0.04 m of the hand, lifted 0.02 m and
    the gripper not closed on nothing (opening ≥ 0.43).

    | term | value |
    |------|-------|
    | ``success_bonus`` | what lifts the reward to 10 once the cube is within 0.05 m of the target, else 0 |
    | ``grasp_in_place`` | hamacher(grasp, in_place) |
    | ``carry`` | 1 + 5 × hamacher(above_floor, in_place) while ``grasped``, else 0 |

    ## Success
    ``info["success"]``: ``‖cube − target‖ ≤ 0.05``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state; the cube at rest at (x, y) drawn uniformly from
    [−0.21, −0.03] × [0.65, 0.75] (the vector's first two entries; the others, a goal
    range, are drawn and not used; ``rand_vec`` fixes the vector).

    ## Info
    ``success``, Meta-World's ``near_object`` (cube within 0.04 m of the hand),
    ``grasp_success`` (= grasped), ``grasp_reward`` (= grasp), ``in_place_reward``
    (= in_place), ``obj_to_target``, ``unscaled_reward``; and ``above_floor``,
    ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``bin-picking-v3``.
    """

    card = sawyer_card(
        "bin-picking-v3",
        "Grasp the cube in the left bin with the Sawyer gripper, lift it out and put it into the right bin.",
        {"above_floor": "hand above the bins' walls factor, in [0, 1]"},
        (
            RewardTerm("success_bonus", 10.0, "the rest of 10 once the cube is within 0.05 m of the target bin's centre, else 0"),
            RewardTerm("carry", 6.0, "while the cube is held and lifted: 1 + 5 x hamacher product of the hand clearing the walls and the cube's nearness to the target"),
            RewardTerm("grasp_in_place", 1.0, "hamacher product of holding the cube and its nearness to the target"),
        ),
        "the cube is within 0.05 m of the target bin's centre (obj_to_target <= 0.05)",
    )
    xml_name = "sawyer_bin_picking.xml"
    object_body = None
    free_body = "obj"
    hand_init_pos = (0.0, 0.6, 0.2)
    hand_low = np.array([-0.5, 0.40, 0.07])
    reset_low = np.array([-0.21, 0.65, 0.02, 0.1199, 0.699, -0.001])
    reset_high = np.array([-0.03, 0.75, 0.02, 0.1201, 0.701, 0.001])
    goal_low = np.array([0.1199, 0.699, -0.001])
    goal_high = np.array([0.1201, 0.701, 0.001])

    def reset_joints(self, qpos, qvel, vec):
        qpos[OBJ_QPOS] = self.resting_place(vec)
        qvel[OBJ_QVEL] = 0.0

    def objects(self, sim):
        return sim.xpos[:, self._free_body].copy(), sim.field("xquat")[:, self._free_body].copy()

    def reset_task(self, sim, rows, vec):
        self._target[rows] = sim.xpos[rows, sim.model.body("bin_goal").id]
        self._obj_init[rows] = self.resting_place(vec)
        self._margin[rows] = np.nan  # Meta-World's _target_to_obj_init: set at the first step

    def reward(self, sim, obs, action):
        hand, obj = obs[:, :3], obs[:, 4:7]
        target = self._target
        target_to_obj = row_norms(obj - target)
        first = np.isnan(self._margin)
        self._margin[first] = target_to_obj[first]
        in_place = tolerance(target_to_obj, (0, TARGET_RADIUS), self._margin, "long_tail")
        floors = []
        for centre in (self._obj_init, target):
            radius = row_norms(hand[:, :2] - centre[:, :2])
            with np.errstate(divide="ignore", invalid="ignore"):
                floors.append(np.where(radius > 0.03, 0.02 * np.log(radius - 0.03) + 0.2, 0.0))
        floor = np.minimum(*floors)
        above_floor = np.where(
            hand[:, 2] >= floor, 1.0, tolerance(np.maximum(floor - hand[:, 2], 0.0), (0.0, 0.01), 0.05, "long_tail")
        )
        ids = self._ids
        grasp = gripper_caging_reward(
            action, obj, self._obj_init, self.tcp_center(sim), self._hand["init_tcp"],
            sim.xpos[:, ids["leftpad"]], sim.xpos[:, ids["rightpad"]],
            obj_radius=0.015, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.01,
            desired_gripper_effort=0.7, high_density=True,
        )
        grasp_in_place = hamacher_product(grasp, in_place)
        near = row_norms(obj - hand) < 0.04
        grasped = near & (obj[:, 2] - 0.02 > self._obj_init[:, 2]) & ~(obs[:, 3] < 0.43)
        carry = np.where(grasped, 1.0 + 5.0 * hamacher_product(above_floor, in_place), 0.0)
        shaped = grasp_in_place + carry
        success = target_to_obj < TARGET_RADIUS
        reward = np.where(success, 10.0, shaped)
        bonus = np.where(success, reward - shaped, 0.0)
        quantities = info(near, grasped, grasp, in_place, target_to_obj, reward)
        quantities["above_floor"] = above_floor
        return reward, {"success_bonus": bonus, "carry": carry, "grasp_in_place": grasp_in_place}, quantities, target_to_obj <= TARGET_RADIUS
