"""Meta-World v3's button-press and button-press-topdown, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import SawyerTask, sawyer_card
from .reward_utils import hamacher_product, tolerance

#: index of the button's slide joint in qpos and qvel (Meta-World's ``_set_obj_xyz``)
BUTTON_JOINT = 9

BUTTON_QUANTITIES = {
    "tcp_to_obj": "distance from the tool centre point to the button (m)",
    "tcp_closed": "how closed the gripper counts for the reach factor, in [0, 1]",
    "near_button": "reach factor: tolerance of tcp_to_obj, 1 when touching, in [0, 1]",
    "button_pressed": "press factor: tolerance of the button's distance to fully pressed, in [0, 1]",
}


class _ButtonPress(SawyerTask):
    """What the two button tasks share: the button box placed at the reset vector."""

    object_body = "box"
    hand_init_pos = np.float32((0.0, 0.4, 0.2)).astype(np.float64)  # float32, as Meta-World stores it
    goal_low = SawyerTask.hand_low
    goal_high = SawyerTask.hand_high
    #: the axis the button travels along (1: y, 2: z), its offset from the button's
    #: body to the reported position, the reach bounds and the success distance
    axis: int
    offset: np.ndarray
    near_bound: float
    success_distance: float

    def reset_joints(self, qpos, qvel, vec):
        qpos[BUTTON_JOINT] = 0.0
        qvel[BUTTON_JOINT] = 0.0

    def objects(self, sim):
        button = sim.model.body("button").id
        return sim.xpos[:, button] + self.offset, sim.field("xquat")[:, button].copy()

    def reset_task(self, sim, rows, vec):
        site = sim.field("site_xpos")
        hole = site[rows, sim.model.site("hole").id]
        start = site[rows, sim.model.site("buttonStart").id]
        self._target[rows] = hole
        self._margin[rows] = np.abs(hole[:, self.axis] - start[:, self.axis])

    def factors(self, sim, obs):
        obj = obs[:, 4:7]
        tcp = self.tcp_center(sim)
        tcp_to_obj = row_norms(obj - tcp)
        tcp_to_obj_init = row_norms(obj - self._hand["init_tcp"])
        obj_to_target = np.abs(self._target[:, self.axis] - obj[:, self.axis])
        near = tolerance(tcp_to_obj, (0, self.near_bound), tcp_to_obj_init, "long_tail")
        pressed = tolerance(obj_to_target, (0, 0.005), self._margin, "long_tail")
        return tcp_to_obj, obj_to_target, near, pressed

    def outcome(self, obs, tcp_to_obj, obj_to_target, tcp_closed, near, pressed, reward, terms):
        quantities = {
            "near_object": (tcp_to_obj <= 0.05).astype(np.float64),
            "grasp_success": (obs[:, 3] > 0).astype(np.float64),
            "grasp_reward": near,
            "in_place_reward": pressed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward.copy(),
            "tcp_to_obj": tcp_to_obj,
            "tcp_closed": tcp_closed,
            "near_button": near.copy(),
            "button_pressed": pressed.copy(),
        }
        return reward, terms, quantities, obj_to_target <= self.success_distance


@register_builtin
class ButtonPress(_ButtonPress):
    """Press a button on a box in front of the Sawyer arm, pushing along +y.

    Meta-World v3's ``button-press-v3`` (``SawyerButtonPressEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening (0 closed … 1 open),
    button position (the button body + (0, −0.193, 0)) and quaternion (w, x, y, z),
    7 zeros; the same 18 of the previous step; goal (the ``hole`` site; zeros when
    ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``near_button = tolerance(tcp_to_obj, (0, 0.05), margin ‖obj − init_tcp‖, long_tail)``,
    ``button_pressed = tolerance(|target_y − obj_y|, (0, 0.005), margin |hole_y −
    buttonStart_y|, long_tail)``, ``tcp_closed = max(gripper_opening, 0)``.

    | term | value |
    |------|-------|
    | ``reach`` | 2 × hamacher(tcp_closed, near_button) |
    | ``press`` | 8 × button_pressed when tcp_to_obj ≤ 0.05, else 0 |

    ## Success
    ``info["success"]``: ``obj_to_target = |target_y − obj_y| ≤ 0.02``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state, the button released; the box at a vector drawn
    uniformly from [(−0.1, 0.85, 0.115), (0.1, 0.9, 0.115)] (``rand_vec=None``) or at
    ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object``, ``grasp_success``, ``grasp_reward``
    (= near_button), ``in_place_reward`` (= button_pressed), ``obj_to_target``,
    ``unscaled_reward``; and ``tcp_to_obj``, ``tcp_closed``, ``near_button``,
    ``button_pressed``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``button-press-v3``.
    """

    card = sawyer_card(
        "button-press-v3",
        "Move the Sawyer gripper to the button on the box in front of it and press the button in (along +y) until it is fully pressed.",
        BUTTON_QUANTITIES,
        (
            RewardTerm("press", 8.0, "8 x how far the button is pressed (tolerance, 1 when fully in), paid only while the gripper touches it (tcp within 0.05 m)"),
            RewardTerm("reach", 2.0, "2 x hamacher product of the gripper's opening and its nearness to the button"),
        ),
        "the button is within 0.02 m of fully pressed (obj_to_target <= 0.02)",
    )
    xml_name = "sawyer_button_press.xml"
    reset_low = np.array([-0.1, 0.85, 0.115])
    reset_high = np.array([0.1, 0.9, 0.115])
    axis = 1
    offset = np.array([0.0, -0.193, 0.0])
    near_bound = 0.05
    success_distance = 0.02

    def reward(self, sim, obs, action):
        tcp_to_obj, obj_to_target, near, pressed = self.factors(sim, obs)
        tcp_closed = np.maximum(obs[:, 3], 0.0)
        reach = 2 * hamacher_product(tcp_closed, near)
        press = np.where(tcp_to_obj <= 0.05, 8 * pressed, 0.0)
        reward = reach + press
        return self.outcome(obs, tcp_to_obj, obj_to_target, tcp_closed, near, pressed, reward, {"press": press, "reach": reach})


@register_builtin
class ButtonPressTopdown(_ButtonPress):
    """Press a button on top of a box down (along −z) with the Sawyer arm.

    Meta-World v3's ``button-press-topdown-v3`` (``SawyerButtonPressTopdownEnvV3``, its
    v2 reward), batched; the Sawyer base is described in
    :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, button position (the
    button body + (0, 0, 0.193)) and quaternion (w, x, y, z), 7 zeros; the same 18 of
    the previous step; goal (the ``hole`` site; zeros when ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``near_button = tolerance(tcp_to_obj, (0, 0.01), margin ‖obj − init_tcp‖, long_tail)``,
    ``button_pressed = tolerance(|target_z − obj_z|, (0, 0.005), margin |hole_z −
    buttonStart_z|, long_tail)``, ``tcp_closed = 1 − gripper_opening``.

    | term | value |
    |------|-------|
    | ``reach`` | 5 × hamacher(tcp_closed, near_button) |
    | ``press`` | 5 × button_pressed when tcp_to_obj ≤ 0.03, else 0 |

    ## Success
    ``info["success"]``: ``obj_to_target = |target_z − obj_z| ≤ 0.024``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state; the box at a vector drawn uniformly from
    [(−0.1, 0.8, 0.115), (0.1, 0.9, 0.115)] (``rand_vec=None``) or at ``rand_vec``
    (Meta-World leaves the button's joint as the hand reset left it).

    ## Info
    As ``pbrl/metaworld-button-press-v3``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``button-press-topdown-v3``.
    """

    card = sawyer_card(
        "button-press-topdown-v3",
        "Move the Sawyer gripper onto the button on top of the box and press it down until it is fully pressed.",
        BUTTON_QUANTITIES,
        (
            RewardTerm("press", 5.0, "5 x how far the button is pressed (tolerance, 1 when fully in), paid only while the gripper is within 0.03 m of it"),
            RewardTerm("reach", 5.0, "5 x hamacher product of how closed the gripper is and its nearness to the button"),
        ),
        "the button is within 0.024 m of fully pressed (obj_to_target <= 0.024)",
    )
    xml_name = "sawyer_button_press_topdown.xml"
    reset_low = np.array([-0.1, 0.8, 0.115])
    reset_high = np.array([0.1, 0.9, 0.115])
    axis = 2
    offset = np.array([0.0, 0.0, 0.193])
    near_bound = 0.01
    success_distance = 0.024

    def reset_joints(self, qpos, qvel, vec):
        """Meta-World's topdown reset does not set the button's joint."""

    def reward(self, sim, obs, action):
        tcp_to_obj, obj_to_target, near, pressed = self.factors(sim, obs)
        tcp_closed = 1 - obs[:, 3]
        reach = 5 * hamacher_product(tcp_closed, near)
        press = np.where(tcp_to_obj <= 0.03, 5 * pressed, 0.0)
        reward = reach + press
        return self.outcome(obs, tcp_to_obj, obj_to_target, tcp_closed, near, pressed, reward, {"press": press, "reach": reach})
