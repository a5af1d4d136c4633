"""Meta-World v3's door-open and door-unlock, batched."""

from __future__ import annotations

import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import SawyerTask, body_quat_to_xyzw, info, sawyer_card
from .reward_utils import hamacher_product, tolerance

#: index of the door's hinge in qpos and qvel
DOOR_JOINT = 9


@register_builtin
class DoorOpen(SawyerTask):
    """Pull a door open by its handle with the Sawyer arm.

    Meta-World v3's ``door-open-v3`` (``SawyerDoorEnvV3``, its v2 reward), batched; the
    Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, handle position (the
    ``handle`` geom) and its quaternion as scipy's ``as_quat`` (x, y, z, w), 7 zeros; the
    same 18 of the previous step; goal (door + (−0.3, −0.45, 0); zeros when
    ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``grab_effort = (clip(grip, −1, 1) + 1) / 2``; ``ready`` = hamacher(above_floor,
    in_place) of the hand's height over a floor that rises away from the handle and its
    nearness to the handle; ``opened = 0.2·[θ < −π/90] + 0.8·tolerance(π/2 + π/6 + θ,
    (0, 0.5), π/3, long_tail)`` with θ the hinge angle.

    | term | value |
    |------|-------|
    | ``open`` | 8 × opened |
    | ``ready_grab`` | 2 × hamacher(ready, grab_effort) |
    | ``success_bonus`` | what lifts the reward to 10 at success, else 0 |

    ## Success
    ``info["success"]``: ``|handle_x − target_x| ≤ 0.08``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state, the door closed (θ = 0, at rest); the door at a vector
    drawn uniformly from [(0, 0.85, 0.15), (0.1, 0.95, 0.15)] (``rand_vec=None``) or
    at ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (= ready), ``grasp_success``
    (grab_effort ≥ 0.5), ``grasp_reward`` (= grab_effort), ``in_place_reward``
    (= opened), ``obj_to_target`` (0), ``unscaled_reward``; and ``door_angle`` (−θ),
    ``grab_effort``, ``ready``, ``opened``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``door-open-v3``.
    """

    card = sawyer_card(
        "door-open-v3",
        "Grab the handle of the door in front of the Sawyer arm and pull the door open (swing it towards the robot) until the handle reaches the goal.",
        {
            "door_angle": "how far the door is open (rad, minus the hinge angle)",
            "grab_effort": "(gripper effort + 1) / 2, in [0, 1]",
            "ready": "hand at the handle and above the floor factor, in [0, 1]",
            "opened": "door opening factor, in [0, 1]",
        },
        (
            RewardTerm("success_bonus", 10.0, "the rest of 10 once the handle is within 0.08 m (in x) of the goal, else 0"),
            RewardTerm("open", 8.0, "8 x how far the door is open (0.2 for having started, up to 1 at about 120 degrees)"),
            RewardTerm("ready_grab", 2.0, "2 x hamacher product of the hand being at the handle and the gripper effort"),
        ),
        "the handle is within 0.08 m of the goal in x (|handle_x - target_x| <= 0.08)",
    )
    xml_name = "sawyer_door_pull.xml"
    object_body = "door"
    hand_init_pos = (0.0, 0.6, 0.2)
    reset_low = np.array([0.0, 0.85, 0.15])
    reset_high = np.array([0.1, 0.95, 0.15])
    goal_low = np.array([-0.3, 0.4, 0.1499])
    goal_high = np.array([-0.2, 0.5, 0.1501])

    def reset_joints(self, qpos, qvel, vec):
        qpos[DOOR_JOINT] = 0.0
        qvel[DOOR_JOINT] = 0.0

    def objects(self, sim):
        handle = sim.model.geom("handle").id
        return sim.field("geom_xpos")[:, handle].copy(), body_quat_to_xyzw(sim.field("geom_xmat")[:, handle])

    def reset_task(self, sim, rows, vec):
        self._target[rows] = vec + np.array([-0.3, -0.45, 0.0])

    def reward(self, sim, obs, action):
        theta = sim.qpos[:, DOOR_JOINT].copy()
        grip = action[:, 3]
        grab = ((np.clip(grip, -1, 1) + 1.0) / 2.0).astype(np.float64)
        hand = obs[:, :3]
        door = obs[:, 4:7] + np.array([-0.05, 0, 0])
        radius = row_norms(hand[:, :2] - door[:, :2])
        with np.errstate(divide="ignore", invalid="ignore"):
            floor = np.where(radius <= 0.12, 0.0, 0.04 * np.log(radius - 0.12) + 0.4)
        above = hand[:, 2] >= floor
        above_floor = np.where(
            above, 1.0, tolerance(floor - hand[:, 2], (0.0, 0.01), np.where(above, 0.0, floor / 2.0), "long_tail")
        )
        in_place = tolerance(row_norms(hand - door - np.array([0.05, 0.03, -0.01])), (0, 0.06), 0.5, "long_tail")
        ready = hamacher_product(above_floor, in_place)
        opened = 0.2 * (theta < -np.pi / 90.0) + 0.8 * tolerance(
            np.pi / 2.0 + np.pi / 6 - (-theta), (0, 0.5), np.pi / 3.0, "long_tail"
        )
        ready_grab = 2.0 * hamacher_product(ready, grab)
        open_ = 8.0 * opened
        success = np.abs(obs[:, 4] - self._target[:, 0]) <= 0.08
        reward = np.where(success, 10.0, ready_grab + open_)
        bonus = np.where(success, reward - (ready_grab + open_), 0.0)
        quantities = {
            "near_object": ready, "grasp_success": (grab >= 0.5).astype(np.float64), "grasp_reward": grab,
            "in_place_reward": opened, "obj_to_target": np.zeros(sim.num_envs), "unscaled_reward": reward.copy(),
            "door_angle": -theta, "grab_effort": grab.copy(), "ready": ready.copy(), "opened": opened.copy(),
        }
        return reward, {"success_bonus": bonus, "open": open_, "ready_grab": ready_grab}, quantities, success


@register_builtin
class DoorUnlock(SawyerTask):
    """Turn the lock of a door from locked to unlocked by pushing its lever down.

    Meta-World v3's ``door-unlock-v3`` (``SawyerDoorUnlockEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, lock position (the
    ``lockStartUnlock`` site) and the door's quaternion (w, x, y, z), 7 zeros; the same
    18 of the previous step; goal (the lock at reset + (0.1, −0.04, 0); zeros when
    ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``ready_to_push = tolerance(‖(hand + (0, 0.055, 0.07) − lock)·(0.25, 1, 0.5)‖,
    (0, 0.02), margin the same at reset from init_tcp, long_tail)``, ``pushed =
    tolerance(|target_x − lock_x|, (0, 0.005), 0.1, long_tail)``.

    | term | value |
    |------|-------|
    | ``ready`` | 2 × ready_to_push |
    | ``pushed`` | 8 × pushed |

    ## Success
    ``info["success"]``: ``obj_to_target = |target_x − lock_x| ≤ 0.02``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state, the lock turned to 1.5708 rad (locked, at rest); the
    door at a vector drawn uniformly from [(−0.1, 0.8, 0.15), (0.1, 0.85, 0.15)]
    (``rand_vec=None``) or at ``rand_vec``.

    ## Info
    ``success``, Meta-World's ``near_object`` (shoulder_to_lock ≤ 0.05),
    ``grasp_success`` (gripper opening > 0), ``grasp_reward`` (= ready_to_push),
    ``in_place_reward`` (= pushed), ``obj_to_target``, ``unscaled_reward``; and
    ``shoulder_to_lock``, ``ready_to_push``, ``pushed``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``door-unlock-v3``.
    """

    card = sawyer_card(
        "door-unlock-v3",
        "Put the Sawyer gripper above the lock lever of the door in front of it and push the lever down (towards +x) until the door is unlocked.",
        {
            "shoulder_to_lock": "scaled distance from the gripper's shoulder (hand + (0, 0.055, 0.07)) to the lock (m)",
            "ready_to_push": "hand in position above the lock factor, in [0, 1]",
            "pushed": "lock turned to unlocked factor, in [0, 1]",
        },
        (
            RewardTerm("pushed", 8.0, "8 x how far the lock is turned to unlocked (tolerance of its x distance to the goal)"),
            RewardTerm("ready", 2.0, "2 x how close the gripper's shoulder is to the lock (tolerance)"),
        ),
        "the lock is within 0.02 m (in x) of unlocked (obj_to_target <= 0.02)",
    )
    xml_name = "sawyer_door_lock.xml"
    object_body = "door"
    hand_init_pos = np.float32((0.0, 0.6, 0.2)).astype(np.float64)  # float32, as Meta-World stores it
    hand_low = np.array([-0.5, 0.40, -0.15])
    reset_low = np.array([-0.1, 0.8, 0.15])
    reset_high = np.array([0.1, 0.85, 0.15])
    goal_low = np.array([0.0, 0.64, 0.2100])
    goal_high = np.array([0.2, 0.7, 0.2111])
    shoulder = np.array([0.0, 0.055, 0.07])
    scale = np.array([0.25, 1.0, 0.5])

    def reset_joints(self, qpos, qvel, vec):
        qpos[DOOR_JOINT] = 1.5708
        qvel[DOOR_JOINT] = 0.0

    def objects(self, sim):
        return sim.field("site_xpos")[:, sim.model.site("lockStartUnlock").id].copy(), sim.field("xquat")[:, sim.model.body("door_link").id].copy()

    def reset_task(self, sim, rows, vec):
        self._target[rows] = sim.xpos[rows, sim.model.body("lock_link").id] + np.array([0.1, -0.04, 0.0])

    def reward(self, sim, obs, action):
        lock = obs[:, 4:7]
        # Meta-World's obj_init_pos is a live view of lock_link's position (fixed: the lock turns about it)
        lock_link = sim.xpos[:, sim.model.body("lock_link").id]
        to_lock = row_norms((obs[:, :3] + self.shoulder - lock) * self.scale)
        to_lock_init = row_norms((self._hand["init_tcp"] + self.shoulder - lock_link) * self.scale)
        ready = tolerance(to_lock, (0, 0.02), to_lock_init, "long_tail")
        obj_to_target = np.abs(self._target[:, 0] - lock[:, 0])
        pushed = tolerance(obj_to_target, (0, 0.005), 0.1, "long_tail")
        reward = 2 * ready + 8 * pushed
        quantities = info(to_lock <= 0.05, obs[:, 3] > 0, ready, pushed, obj_to_target, reward)
        quantities.update(shoulder_to_lock=to_lock, ready_to_push=ready.copy(), pushed=pushed.copy())
        return reward, {"pushed": 8 * pushed, "ready": 2 * ready}, quantities, obj_to_target <= 0.02
