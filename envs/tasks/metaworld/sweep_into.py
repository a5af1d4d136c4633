"""Meta-World v3's sweep-into, batched."""

from __future__ import annotations

import mujoco
import numpy as np

from ...card import RewardTerm
from ...registry import register_builtin
from ...task import row_norms
from .base import SawyerTask, body_quat_to_xyzw, info, sawyer_card
from .reward_utils import hamacher_product, tolerance

#: qpos/qvel of the block's free joint
OBJ_QPOS = slice(9, 12)
OBJ_QVEL = slice(9, 15)
#: where Meta-World's sweep-into puts its target (the hole), and the block's radius
TARGET = np.array([0.0, 0.84, 0.02])
OBJ_RADIUS = 0.02
#: contacts between a finger pad and the block that the touch test sums (more never occur
#: between two boxes)
PAD_CONTACTS = 8


def pad_touch_sensors(spec: mujoco.MjSpec, obj_geom: str) -> None:
    """Contact sensors of each finger pad with ``obj_geom`` (normal force of each contact),
    for Meta-World's ``touching_object``: both pads push on the object."""
    for pad in ("leftpad_geom", "rightpad_geom"):
        sensor = spec.add_sensor(
            name=f"pbrl_touch_{pad}", type=mujoco.mjtSensor.mjSENS_CONTACT,
            objtype=mujoco.mjtObj.mjOBJ_GEOM, objname=pad, reftype=mujoco.mjtObj.mjOBJ_GEOM, refname=obj_geom,
        )
        sensor.intprm[0] = 1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE)
        sensor.intprm[2] = PAD_CONTACTS


def touching(sim, model: mujoco.MjModel) -> np.ndarray:
    """Meta-World's ``touching_object`` (N,): the normal forces of both pads' contacts with
    the object sum to more than 0 (from :func:`pad_touch_sensors`)."""
    data = sim.field("sensordata")
    both = np.ones(sim.num_envs, dtype=bool)
    for pad in ("leftpad_geom", "rightpad_geom"):
        sensor = model.sensor(f"pbrl_touch_{pad}")
        forces = data[:, sensor.adr[0] : sensor.adr[0] + sensor.dim[0]].reshape(sim.num_envs, -1, 3)
        both &= forces[:, :, 0].sum(axis=1) > 0
    return both


@register_builtin
class SweepInto(SawyerTask):
    """Sweep a block across the table into a hole with the Sawyer gripper.

    Meta-World v3's ``sweep-into-v3`` (``SawyerSweepIntoGoalEnvV3``, its v2 reward),
    batched; the Sawyer base is described in :mod:`pbrl.envs.tasks.metaworld.base`.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: hand displacement (dx, dy, dz) × 1 cm, gripper effort.

    ## Observation space
    ``Box(-inf, inf, (39,), float64)``: hand xyz, gripper opening, block position and
    quaternion (x, y, z, w, as scipy's ``as_quat``), 7 zeros; the same 18 of the
    previous step; goal (the hole, (0, 0.84, 0.02); zeros when ``partially_observable``).

    ## Reward (Meta-World's, in [0, 10]) and terms (``info["reward_terms"]``)
    ``in_place = tolerance(‖block − target‖, (0, 0.05), margin ‖block at reset −
    target‖, long_tail)`` with the target at the block's height; ``grasp = (caging +
    gripping) / 2``, Meta-World's sweep caging of the block by the pads (y) and the hand
    (x-z).

    | term | value |
    |------|-------|
    | ``success_bonus`` | what lifts the reward to 10 once the block is within 0.05 m of the target, else 0 |
    | ``grasp`` | 2 × grasp |
    | ``in_place`` | 6 × hamacher(grasp, in_place) |

    ## Success
    ``info["success"]``: ``‖block − target‖ ≤ 0.05``.

    ## Episode end
    Never terminates; truncated after 500 steps.

    ## Reset
    The hand reset's end state; the block at rest at (x, y) drawn uniformly from
    [−0.1, 0.1] × [0.6, 0.7], redrawn while within 0.15 m of the hole (the vector's last
    three entries, Meta-World's goal range, are drawn and not used); ``rand_vec`` fixes
    the vector.

    ## Info
    ``success``, Meta-World's ``near_object`` (‖block − tcp‖ ≤ 0.03), ``grasp_success``
    (both pads push on the block and the gripper is open), ``grasp_reward`` (= grasp),
    ``in_place_reward`` (= in_place), ``obj_to_target``, ``unscaled_reward``; and
    ``tcp_to_obj``, ``grasp``, ``in_place``, ``tcp_x/y/z``.

    ## Version history
    * v3 (pbrl 0.1): first version, Meta-World 3.1.1's ``sweep-into-v3``.
    """

    card = sawyer_card(
        "sweep-into-v3",
        "Push the block on the table with the Sawyer gripper across the table into the hole at (0, 0.84).",
        {
            "tcp_to_obj": "distance from the tool centre point to the block (m)",
            "grasp": "how well the gripper holds the block (caging and gripping), in [0, 1]",
            "in_place": "block at the hole factor, in [0, 1]",
        },
        (
            RewardTerm("success_bonus", 10.0, "the rest of 10 once the block is within 0.05 m of the hole, else 0"),
            RewardTerm("in_place", 6.0, "6 x hamacher product of holding the block and its nearness to the hole"),
            RewardTerm("grasp", 2.0, "2 x how well the gripper holds the block"),
        ),
        "the block is within 0.05 m of the hole (obj_to_target <= 0.05)",
    )
    xml_name = "sawyer_table_with_hole.xml"
    object_body = None
    free_body = "obj"
    hand_init_pos = (0.0, 0.6, 0.2)
    reset_low = np.array([-0.1, 0.6, 0.02, -0.001, 0.8399, 0.0199])
    reset_high = np.array([0.1, 0.7, 0.02, 0.001, 0.8401, 0.0201])
    goal_low = np.array([-0.001, 0.8399, 0.0199])
    goal_high = np.array([0.001, 0.8401, 0.0201])
    data_fields = SawyerTask.data_fields + ("sensordata",)
    vector_rule = "its (x, y) must be at least 0.15 m from the hole at (0, 0.84)"

    def accepts_vector(self, vec):
        return not np.linalg.norm(vec[:2] - TARGET[:2]) < 0.15

    def edit_spec(self, spec):
        pad_touch_sensors(spec, "objGeom")

    def reset_joints(self, qpos, qvel, vec):
        qpos[OBJ_QPOS] = self.resting_place(vec)
        qvel[OBJ_QVEL] = 0.0

    def objects(self, sim):
        return sim.xpos[:, self._free_body].copy(), body_quat_to_xyzw(sim.field("geom_xmat")[:, sim.model.geom("objGeom").id])

    def reset_task(self, sim, rows, vec):
        self._target[rows] = TARGET
        self._obj_init[rows] = self.resting_place(vec)

    def caging(self, sim, obj):
        """Meta-World's sweep-into ``_gripper_caging_reward`` (its own, not the base's), (N,)."""
        ids = self._ids
        left, right = sim.xpos[:, ids["leftpad"]], sim.xpos[:, ids["rightpad"]]
        # Meta-World's init_left_pad/init_right_pad are live views of the pads' positions
        right_margin = np.abs(np.abs(obj[:, 1] - right[:, 1]) - 0.05)
        left_margin = np.abs(np.abs(obj[:, 1] - left[:, 1]) - 0.05)
        to_right, to_left = obj[:, 1] - right[:, 1], left[:, 1] - obj[:, 1]
        y_caging = hamacher_product(
            tolerance(to_right, (OBJ_RADIUS, 0.05), right_margin, "long_tail"),
            tolerance(to_left, (OBJ_RADIUS, 0.05), left_margin, "long_tail"),
        )
        grip = (OBJ_RADIUS, OBJ_RADIUS + 0.005)
        y_gripping = hamacher_product(
            tolerance(to_right, grip, right_margin, "long_tail"), tolerance(to_left, grip, left_margin, "long_tail")
        )
        xz = np.array([1.0, 0.0, 1.0])
        tcp = self.tcp_center(sim)
        xz_margin = row_norms(self._obj_init * xz - self._hand["init_tcp"] * xz) - 0.01
        x_z_caging = tolerance(row_norms(tcp * xz - obj * xz), (0, 0.01), xz_margin, "long_tail")
        caging = hamacher_product(y_caging, x_z_caging)
        gripping = np.where(caging > 0.95, y_gripping, 0.0)
        return (caging + gripping) / 2

    def reward(self, sim, obs, action):
        obj = obs[:, 4:7]
        tcp = self.tcp_center(sim)
        target = np.concatenate([self._target[:, :2], obj[:, 2:]], axis=1)
        obj_to_target = row_norms(obj - target)
        tcp_to_obj = row_norms(obj - tcp)
        in_place = tolerance(obj_to_target, (0, 0.05), row_norms(self._obj_init - target), "long_tail")
        grasp = self.caging(sim, obj)
        grasp_term = 2 * grasp
        place_term = 6 * hamacher_product(grasp, in_place)
        success = obj_to_target < 0.05
        reward = np.where(success, 10.0, grasp_term + place_term)
        bonus = np.where(success, reward - (grasp_term + place_term), 0.0)
        grasp_success = touching(sim, sim.model) & (obs[:, 3] > 0)
        quantities = info(tcp_to_obj <= 0.03, grasp_success, grasp, in_place, obj_to_target, reward)
        quantities.update(tcp_to_obj=tcp_to_obj, grasp=grasp.copy(), in_place=in_place.copy())
        return reward, {"success_bonus": bonus, "in_place": place_term, "grasp": grasp_term}, quantities, obj_to_target <= 0.05
