"""Meta-World v3's hammer, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import SawyerTask, info, sawyer_card
from .reward_utils import gripper_caging_reward, tolerance

#: qpos/qvel of the hammer's free joint, and qpos of the nail's slide joint
HAMMER_QPOS = slice(9, 12)
HAMMER_QVEL = slice(9, 15)
NAIL_JOINT = 16
#: Meta-World's ``HAMMER_HANDLE_LENGTH``
HANDLE_LENGTH = 0.14


@register_builtin
class Hammer(SawyerTask):
    """Pick up a hammer and drive a nail into a box with it.

    Meta-World v3's ``hammer-v3`` (``SawyerHammerEnvV3``, its v2 reward), batched; the
    Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, hammer position and
    quaternion (w, x, y, z), nail position and quaternion; the same 18 of the previous
    step; goal (the box's ``goal`` site; zeros when ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``grab`` = the base's gripper caging of the hammer handle (x snapped to the hand's
    within half the handle), dense; ``in_place = 0.1·[head_z > 0.02] + 0.9·tolerance(
    ‖goal − head‖, (0, 0.02), 0.2, long_tail)`` with head = hammer + (0.16, 0.06, 0);
    ``upright = max(1 − ‖hammer quat − (1, 0, 0, 0)‖ / 0.4, 0)``.

    | term | value |
    |------|-------|
    | ``success_bonus`` | what lifts the reward to 10 once the nail is in and the reward above 5, else 0 |
    | ``grab`` | 2 × grab × upright |
    | ``in_place`` | 6 × in_place × upright |

    ## Success
    ``info["success"]``: the nail's slide joint is past 0.09 m.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state; the hammer at rest at a vector drawn uniformly from
    [(−0.1, 0.4, 0), (0.1, 0.5, 0)] (``rand_vec=None``) or at ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (= upright), ``grasp_success`` (grab ≥
    0.5), ``grasp_reward`` (= grab), ``in_place_reward`` (= in_place), ``obj_to_target``
    (0), ``unscaled_reward``; and ``nail_depth``, ``grab``, ``in_place``, ``upright``,
    ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``hammer-v3``.
    """

    card = sawyer_card(
        "hammer-v3",
        "Grasp the hammer lying on the table with the Sawyer gripper, keep it level, and hit the nail on the box with its head until the nail is driven in.",
        {
            "nail_depth": "how far the nail is driven in (m, its slide joint)",
            "grab": "how well the gripper holds the hammer handle, in [0, 1]",
            "in_place": "hammer head lifted and at the nail factor, in [0, 1]",
            "upright": "hammer orientation factor (1 when level as it lies), in [0, 1]",
        },
        (
            RewardTerm("success_bonus", 10.0, "the rest of 10 once the nail is in (and the reward above 5), else 0"),
            RewardTerm("in_place", 6.0, "6 x how close the hammer head is to the nail (0.1 for lifting it) x upright"),
            RewardTerm("grab", 2.0, "2 x how well the gripper holds the handle x upright"),
        ),
        "the nail is driven in past 0.09 m (its slide joint > 0.09)",
    )
    xml_name = "sawyer_hammer.xml"
    object_body = None
    hand_init_pos = (0.0, 0.4, 0.2)
    reset_low = np.array([-0.1, 0.4, 0.0])
    reset_high = np.array([0.1, 0.5, 0.0])
    goal_low = np.array([0.2399, 0.7399, 0.109])
    goal_high = np.array([0.2401, 0.7401, 0.111])

    def reset_joints(self, qpos, qvel, vec):
        qpos[HAMMER_QPOS] = vec
        qvel[HAMMER_QVEL] = 0.0

    def objects(self, sim):
        hammer, nail = sim.model.body("hammer").id, sim.model.body("nail_link").id
        xpos, xquat = sim.xpos, sim.field("xquat")
        return np.concatenate([xpos[:, hammer], xpos[:, nail]], axis=1), np.concatenate([xquat[:, hammer], xquat[:, nail]], axis=1)

    def reset_task(self, sim, rows, vec):
        self._target[rows] = sim.field("site_xpos")[rows, sim.model.site("goal").id]
        self._obj_init[rows] = vec

    def reward(self, sim, obs, action):
        hand, hammer = obs[:, :3], obs[:, 4:7]
        head = hammer + np.array([0.16, 0.06, 0.0])
        threshed = hammer.copy()
        near = np.abs(hammer[:, 0] - hand[:, 0]) < HANDLE_LENGTH / 2.0
        threshed[near, 0] = hand[near, 0]
        upright = np.maximum(1.0 - row_norms(obs[:, 7:11] - np.array([1.0, 0.0, 0.0, 0.0])) / 0.4, 0.0)
        ids = self._ids
        grab = gripper_caging_reward(
            action, threshed, self._obj_init, self.tcp_center(sim), self._hand["init_tcp"],
            sim.xpos[:, ids["leftpad"]], sim.xpos[:, ids["rightpad"]],
            obj_radius=0.015, pad_success_thresh=0.02, object_reach_radius=0.01, xz_thresh=0.01, high_density=True,
        )
        in_place = 0.1 * (head[:, 2] > 0.02) + 0.9 * tolerance(row_norms(self._target - head), (0, 0.02), 0.2, "long_tail")
        grab_term, place_term = 2.0 * grab * upright, 6.0 * in_place * upright
        shaped = (2.0 * grab + 6.0 * in_place) * upright
        depth = sim.qpos[:, NAIL_JOINT].copy()
        success = depth > 0.09
        reward = np.where(success & (shaped > 5.0), 10.0, shaped)
        bonus = reward - shaped
        quantities = info(upright, grab >= 0.5, grab, in_place, np.zeros(sim.num_envs), reward)
        quantities.update(nail_depth=depth, grab=grab.copy(), in_place=in_place.copy(), upright=upright.copy())
        return reward, {"success_bonus": bonus, "in_place": place_term, "grab": grab_term}, quantities, success
