"""Meta-World v3's drawer-open and drawer-close, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import TARGET_RADIUS, SawyerTask, sawyer_card
from .reward_utils import hamacher_product, tolerance

#: index of the drawer's slide joint in qpos
DRAWER_JOINT = 9


class _Drawer(SawyerTask):
    """The drawer case placed at the reset vector, its drawer on a slide joint."""

    xml_name = "sawyer_drawer.xml"
    object_body = "drawer"
    hand_init_pos = np.float32((0.0, 0.6, 0.2)).astype(np.float64)  # float32, as Meta-World stores it
    reset_low = np.array([-0.1, 0.9, 0.0])
    reset_high = np.array([0.1, 0.9, 0.0])
    goal_low = SawyerTask.hand_low
    goal_high = SawyerTask.hand_high
    handle_offset: np.ndarray

    def handle(self, sim):
        return sim.xpos[:, sim.model.body("drawer_link").id] + self.handle_offset


@register_builtin
class DrawerOpen(_Drawer):
    """Pull a drawer open by its handle with the Sawyer arm.

    Meta-World v3's ``drawer-open-v3`` (``SawyerDrawerOpenEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, handle position
    (``drawer_link`` + (0, −0.16, 0)) and the drawer's quaternion (w, x, y, z), 7
    zeros; the same 18 of the previous step; goal (drawer + (0, −0.36, 0.09); zeros
    when ``partially_observable``). At reset the hand part is that of the state before
    the hand reset's last MuJoCo step, as Meta-World's (its reset computes no
    kinematics afterwards).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``opening = tolerance(‖handle − target‖, (0, 0.02), 0.2, long_tail)``, ``caging =
    tolerance(‖(handle − hand)·(3, 3, 1)‖, (0, 0.01), margin ‖(closed handle −
    init_tcp)·(3, 3, 1)‖, long_tail)``; reward = 5·(caging + opening).

    | term | value |
    |------|-------|
    | ``opening`` | 5 × opening |
    | ``caging`` | 5 × caging |

    ## Success
    ``info["success"]``: ``‖handle − target‖ ≤ 0.03``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state; the drawer case at x drawn uniformly from [−0.1, 0.1]
    (y = 0.9, z = 0; ``rand_vec=None``) or at ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (‖handle − hand‖ ≤ 0.03),
    ``grasp_success`` (gripper opening > 0), ``grasp_reward`` (= caging),
    ``in_place_reward`` (= opening), ``obj_to_target`` (‖handle − target‖),
    ``unscaled_reward``; and ``gripper_to_handle``, ``caging``, ``opening``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``drawer-open-v3``.
    """

    card = sawyer_card(
        "drawer-open-v3",
        "Grab the handle of the drawer in front of the Sawyer arm and pull the drawer fully open.",
        {
            "gripper_to_handle": "distance from the hand to the drawer handle (m)",
            "caging": "hand at the handle factor, in [0, 1]",
            "opening": "drawer opening factor (handle near the open position), in [0, 1]",
        },
        (
            RewardTerm("opening", 5.0, "5 x how close the handle is to the fully open position (tolerance)"),
            RewardTerm("caging", 5.0, "5 x how close the hand is to the handle (tolerance, x and y weighted 3x)"),
        ),
        "the handle is within 0.03 m of the open position (obj_to_target <= 0.03)",
    )
    handle_offset = np.array([0.0, -0.16, 0.0])
    forward_at_reset = False
    max_dist = 0.2

    def objects(self, sim):
        return self.handle(sim), sim.field("xquat")[:, sim.model.body("drawer_link").id].copy()

    def reset_task(self, sim, rows, vec):
        self._target[rows] = vec + np.array([0.0, -0.16 - self.max_dist, 0.09])

    def reward(self, sim, obs, action):
        gripper = obs[:, :3]
        handle = obs[:, 4:7]
        target = self._target
        handle_error = row_norms(handle - target)
        opening = tolerance(handle_error, (0, 0.02), self.max_dist, "long_tail")
        scale = np.array([3.0, 3.0, 1.0])
        gripper_error = (handle - gripper) * scale
        gripper_error_init = (target + np.array([0.0, self.max_dist, 0.0]) - self._hand["init_tcp"]) * scale
        caging = tolerance(row_norms(gripper_error), (0, 0.01), row_norms(gripper_error_init), "long_tail")
        reward = (caging + opening) * 5.0
        to_handle = row_norms(handle - gripper)
        quantities = {
            "near_object": (to_handle <= 0.03).astype(np.float64), "grasp_success": (obs[:, 3] > 0).astype(np.float64),
            "grasp_reward": caging, "in_place_reward": opening, "obj_to_target": handle_error,
            "unscaled_reward": reward.copy(), "gripper_to_handle": to_handle,
            "caging": caging.copy(), "opening": opening.copy(),
        }
        return reward, {"opening": 5.0 * opening, "caging": 5.0 * caging}, quantities, handle_error <= 0.03


@register_builtin
class DrawerClose(_Drawer):
    """Push an open drawer closed with the Sawyer arm.

    Meta-World v3's ``drawer-close-v3`` (``SawyerDrawerCloseEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, handle position
    (``drawer_link`` + (0, −0.16, 0.05)), 4 zeros (Meta-World reports no quaternion),
    7 zeros; the same 18 of the previous step; goal (drawer + (0, −0.16, 0.09); zeros
    when ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``in_place = tolerance(‖handle − target‖, (0, 0.05), margin |‖handle_init −
    target‖ − 0.05|, long_tail)``; ``reach`` = hamacher(tolerance(‖handle − tcp‖,
    (0, 0.005), margin |‖handle_init − init_tcp‖ − 0.005|, gaussian), clip(grip, 0, 1)).

    | term | value |
    |------|-------|
    | ``success_bonus`` | 10 once the handle is within 0.065 m of the target, else 0 |
    | ``progress`` | 10 × hamacher(reach, in_place) before that, else 0 |

    ## Success
    ``info["success"]``: ``‖handle − target‖ ≤ 0.065`` (``TARGET_RADIUS`` + 0.015).

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state, the drawer pulled out 0.15 m; the case at x drawn
    uniformly from [−0.1, 0.1] (y = 0.9, z = 0; ``rand_vec=None``) or at ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (‖handle − tcp‖ ≤ 0.01), ``grasp_success``
    (1), ``grasp_reward`` (= reach), ``in_place_reward`` (= in_place),
    ``obj_to_target``, ``unscaled_reward``; and ``tcp_to_handle``, ``reach``,
    ``in_place``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``drawer-close-v3``.
    """

    card = sawyer_card(
        "drawer-close-v3",
        "Push the open drawer in front of the Sawyer arm closed.",
        {
            "tcp_to_handle": "distance from the tool centre point to the drawer handle (m)",
            "reach": "hand at the handle (with the gripper effort) factor, in [0, 1]",
            "in_place": "drawer closed factor, in [0, 1]",
        },
        (
            RewardTerm("success_bonus", 10.0, "10 once the drawer is closed to within 0.065 m, else 0"),
            RewardTerm("progress", 10.0, "before success, 10 x hamacher product of reaching the handle and the drawer's closing"),
        ),
        "the handle is within 0.065 m of the closed position (obj_to_target <= 0.065)",
    )
    handle_offset = np.array([0.0, -0.16, 0.05])
    max_dist = 0.15

    def reset_joints(self, qpos, qvel, vec):
        qpos[DRAWER_JOINT] = -self.max_dist

    def objects(self, sim):
        return self.handle(sim), np.zeros((sim.num_envs, 4))

    def reset_task(self, sim, rows, vec):
        self._target[rows] = vec + np.array([0.0, -0.16, 0.09])
        self._obj_init[rows] = self.handle(sim)[rows]

    def reward(self, sim, obs, action):
        obj = obs[:, 4:7]
        tcp = self.tcp_center(sim)
        target_to_obj = row_norms(obj - self._target)
        target_to_obj_init = row_norms(self._obj_init - self._target)
        in_place = tolerance(target_to_obj, (0, TARGET_RADIUS), np.abs(target_to_obj_init - TARGET_RADIUS), "long_tail")
        tcp_to_obj = row_norms(obj - tcp)
        tcp_to_obj_init = row_norms(self._obj_init - self._hand["init_tcp"])
        reach = tolerance(tcp_to_obj, (0, 0.005), np.abs(tcp_to_obj_init - 0.005), "gaussian")
        # in the action's float type, as Meta-World's Python-float factors times its float32 grip
        gripper_closed = np.minimum(np.maximum(0, action[:, -1]), 1)
        low = gripper_closed.dtype if gripper_closed.dtype.kind == "f" else np.float64
        reach = hamacher_product(reach.astype(low), gripper_closed.astype(low))
        success = target_to_obj <= TARGET_RADIUS + 0.015
        progress = np.where(success, 0.0, hamacher_product(reach, in_place.astype(low)) * 10).astype(np.float64)
        bonus = np.where(success, 10.0, 0.0)
        reward = progress + bonus
        quantities = {
            "near_object": (tcp_to_obj <= 0.01).astype(np.float64), "grasp_success": np.ones(sim.num_envs),
            "grasp_reward": reach.astype(np.float64), "in_place_reward": in_place, "obj_to_target": target_to_obj,
            "unscaled_reward": reward.copy(), "tcp_to_handle": tcp_to_obj, "reach": reach.astype(np.float64), "in_place": in_place.copy(),
        }
        return reward, {"success_bonus": bonus, "progress": progress}, quantities, success
