"""Meta-World v3's window-open, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import TARGET_RADIUS, SawyerTask, info, sawyer_card
from .reward_utils import hamacher_product, tolerance

#: index of the window's slide joint in qpos
WINDOW_JOINT = 9


@register_builtin
class WindowOpen(SawyerTask):
    """Slide a window open sideways by its handle with the Sawyer arm.

    Meta-World v3's ``window-open-v3`` (``SawyerWindowOpenEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, handle position (the
    ``handleOpenStart`` site), 4 zeros (Meta-World reports no quaternion), 7 zeros; the
    same 18 of the previous step; goal (window + (0.2, 0, 0); zeros when
    ``partially_observable``). At reset the hand and handle are where the hand reset
    left them, as Meta-World's (its reset computes no kinematics afterwards).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``in_place = tolerance(|handle_x − target_x|, (0, 0.05), margin ||window_x −
    target_x| − 0.05|, long_tail)``, ``reach = tolerance(‖handle − tcp‖, (0, 0.02),
    margin |‖handle at reset − init_tcp‖ − 0.02|, long_tail)``.

    | term | value |
    |------|-------|
    | ``open`` | 10 × hamacher(reach, in_place) |

    ## Success
    ``info["success"]``: ``|handle_x − target_x| ≤ 0.05``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state, the window closed; the window at a vector drawn
    uniformly from [(−0.1, 0.7, 0.16), (0.1, 0.9, 0.16)] (``rand_vec=None``) or at
    ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (‖handle − tcp‖ ≤ 0.05), ``grasp_success``
    (1), ``grasp_reward`` (= reach), ``in_place_reward`` (= in_place), ``obj_to_target``,
    ``unscaled_reward``; and ``tcp_to_handle``, ``reach``, ``in_place``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``window-open-v3``.
    """

    card = sawyer_card(
        "window-open-v3",
        "Put the Sawyer gripper against the handle of the window in front of it and slide the window open (towards +x) by 0.2 m.",
        {
            "tcp_to_handle": "distance from the tool centre point to the window handle (m)",
            "reach": "gripper at the handle factor, in [0, 1]",
            "in_place": "window opened factor, in [0, 1]",
        },
        (RewardTerm("open", 10.0, "10 x hamacher product of the gripper being at the handle and the window's opening"),),
        "the handle is within 0.05 m (in x) of the open position (obj_to_target <= 0.05)",
    )
    xml_name = "sawyer_window_horizontal.xml"
    object_body = "window"
    hand_init_pos = np.float32((0.0, 0.4, 0.2)).astype(np.float64)  # float32, as Meta-World stores it
    reset_low = np.array([-0.1, 0.7, 0.16])
    reset_high = np.array([0.1, 0.9, 0.16])
    goal_low = SawyerTask.hand_low
    goal_high = SawyerTask.hand_high
    forward_at_reset = False

    def reset_joints(self, qpos, qvel, vec):
        qpos[WINDOW_JOINT] = 0.0

    def objects(self, sim):
        return sim.field("site_xpos")[:, sim.model.site("handleOpenStart").id].copy(), np.zeros((sim.num_envs, 4))

    def reset_task(self, sim, rows, vec):
        self._target[rows] = vec + np.array([0.2, 0.0, 0.0])
        self._obj_init[rows] = vec

    def reset_frame(self, sim, rows, frame):
        # the handle as the reset observation shows it (Meta-World's window_handle_pos_init)
        self._margin[rows] = np.abs(row_norms(frame[:, 4:7] - self._hand["init_tcp"]) - 0.02)

    def reward(self, sim, obs, action):
        obj = obs[:, 4:7]
        tcp = self.tcp_center(sim)
        target_x = self._target[:, 0]
        target_to_obj = np.abs(obj[:, 0] - target_x)
        target_to_obj_init = np.abs(self._obj_init[:, 0] - target_x)
        in_place = tolerance(target_to_obj, (0, TARGET_RADIUS), np.abs(target_to_obj_init - TARGET_RADIUS), "long_tail")
        tcp_to_obj = row_norms(obj - tcp)
        reach = tolerance(tcp_to_obj, (0, 0.02), self._margin, "long_tail")
        reward = 10 * hamacher_product(reach, in_place)
        quantities = info(tcp_to_obj <= 0.05, np.ones(sim.num_envs), reach, in_place, target_to_obj, reward)
        quantities.update(tcp_to_handle=tcp_to_obj, reach=reach.copy(), in_place=in_place.copy())
        return reward, {"open": reward.copy()}, quantities, target_to_obj <= TARGET_RADIUS
