"""DeepMind Control's humanoid: stand and walk, batched."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...task import row_norms
from .base import DMCTask, dmc_card, dmc_variant, labels, sensor_columns
from .rewards import tolerance

STAND_HEIGHT = 1.4
HINGES = (
    "abdomen_z", "abdomen_y", "abdomen_x", "right_hip_x", "right_hip_z", "right_hip_y", "right_knee",
    "right_ankle_y", "right_ankle_x", "left_hip_x", "left_hip_z", "left_hip_y", "left_knee", "left_ankle_y",
    "left_ankle_x", "right_shoulder1", "right_shoulder2", "right_elbow", "left_shoulder1", "left_shoulder2",
    "left_elbow",
)
EXTREMITIES = ("left_hand", "left_foot", "right_hand", "right_foot")
OBSERVATION = (
    labels("angle", HINGES) + ("head_height",) + labels("", EXTREMITIES, ("x", "y", "z"))
    + labels("torso_vertical", ("zx", "zy", "zz")) + labels("com_velocity", ("x", "y", "z"))
    + labels("velocity", ("root_x", "root_y", "root_z", "root_wx", "root_wy", "root_wz") + HINGES)
)
ZX, ZY, ZZ = 6, 7, 8  # entries of a flattened rotation matrix

QUANTITIES = {
    "head_height": "height of the head (m)",
    "torso_upright": "z-z entry of the torso's rotation: 1 upright, -1 upside down",
    "com_speed": "horizontal speed of the centre of mass (norm of the torso subtree's x, y velocity, m/s)",
    "standing": "tolerance(head_height, (1.4, inf), margin 0.35): 1 with the head 1.4 m high or more",
    "upright": "tolerance(torso_upright, (0.9, inf), margin 1.9, linear)",
    "small_control": "(4 + mean over actuators of tolerance(ctrl, margin 1, quadratic)) / 5",
}
STAND = {"dont_move": "mean over x, y of tolerance(com velocity, margin 2): 1 when the centre of mass is still"}
MOVE = {"move": "(5 tolerance(com_speed, (speed, inf), margin speed, linear) + 1) / 6"}


class _Humanoid(DMCTask):
    """A 3-d humanoid (21 hinge motors, free root) of dm_control's humanoid domain.

    Same model (``dm_control/suite/humanoid.xml``), control timestep (0.025 s = 5 physics
    steps of 0.005 s), observation, reward and initial-state distribution as
    ``dm_control.suite.load("humanoid", task)``.

    ## Action space
    ``Box(-1, 1, (21,), float32)``: the motors in the model's order (abdomen, right leg,
    left leg, right arm, left arm).

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–20 | ``joint_angles`` | qpos of the 21 hinges (``qpos[7:]``) |
    | 21 | ``head_height`` | head z (m) |
    | 22–33 | ``extremities`` | left hand, left foot, right hand, right foot relative to the torso, in its frame |
    | 34–36 | ``torso_vertical`` | zx, zy, zz entries of the torso's rotation |
    | 37–39 | ``com_velocity`` | torso subtree's linear velocity (m/s) |
    | 40–66 | ``velocity`` | qvel: free root (6), then the 21 hinges |

    ## Reward
    dm_control's product, reported as one term ``info["reward_terms"]["stand"|"walk"]``
    (equal to the reward) with its factors in ``info``: ``small_control · standing ·
    upright · dont_move`` (stand) or ``small_control · standing · upright · move`` with
    speed 1 m/s (walk). In [0, 1] per control step.

    ## Success
    None: dm_control defines no success for the humanoid.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (25 s).

    ## Reset
    As dm_control: ``randomize_limited_and_rotational_joints`` (hinges uniform in their
    ranges, the root's orientation a normalised uniform [0, 1)^4 draw, its position kept)
    repeated until no geoms touch; qvel 0.

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "humanoid"
    n_sub_steps = 5
    data_fields = ("xpos", "xmat", "sensordata")
    move_speed: ClassVar[float] = 0.0

    def configure_model(self, model):
        self._torso = model.body("torso").id
        self._head = model.body("head").id
        self._extremities = np.array([model.body(name).id for name in EXTREMITIES])
        self._com_velocity = sensor_columns(model, "torso_subtreelinvel")

    def initial_state(self, rng, qpos, qvel):
        return self.contact_free_joints(rng, qpos), qvel

    def _extremities_in_torso_frame(self, sim):
        xpos = sim.xpos
        frame = sim.field("xmat")[:, self._torso].reshape(-1, 1, 3, 3)
        relative = (xpos[:, self._extremities] - xpos[:, self._torso, None])[:, :, None, :]
        return np.matmul(relative, frame)[:, :, 0, :].reshape(sim.num_envs, -1)

    def observe(self, sim):
        return np.concatenate(
            [
                sim.qpos[:, 7:], sim.xpos[:, self._head, 2:3], self._extremities_in_torso_frame(sim),
                sim.field("xmat")[:, self._torso, ZX : ZZ + 1], sim.field("sensordata")[:, self._com_velocity], sim.qvel,
            ],
            axis=1,
        )

    def reward(self, sim):
        head = sim.xpos[:, self._head, 2].copy()
        zz = sim.field("xmat")[:, self._torso, ZZ].copy()
        horizontal = sim.field("sensordata")[:, self._com_velocity[:2]]
        standing = tolerance(head, bounds=(STAND_HEIGHT, float("inf")), margin=STAND_HEIGHT / 4)
        upright = tolerance(zz, bounds=(0.9, float("inf")), sigmoid="linear", margin=1.9, value_at_margin=0)
        small_control = tolerance(sim.ctrl, margin=1, value_at_margin=0, sigmoid="quadratic").mean(axis=1)
        small_control = (4 + small_control) / 5
        speed = row_norms(horizontal)
        quantities = {
            "head_height": head, "torso_upright": zz, "com_speed": speed,
            "standing": standing, "upright": upright, "small_control": small_control,
        }
        if self.move_speed == 0:
            dont_move = tolerance(horizontal, margin=2).mean(axis=1)
            quantities["dont_move"] = dont_move
            return small_control * (standing * upright) * dont_move, quantities
        move = tolerance(speed, bounds=(self.move_speed, float("inf")), margin=self.move_speed, value_at_margin=0, sigmoid="linear")
        move = (5 * move + 1) / 6
        quantities["move"] = move
        return small_control * (standing * upright) * move, quantities


def humanoid_card(task: str, speed: float, goal: str):
    """The card of humanoid-``task``: stand still (speed 0) or move at ``speed`` m/s."""
    if speed == 0:
        reward = "dm_control's humanoid-stand reward: small_control * standing * upright * dont_move, in [0, 1]"
        return dmc_card("humanoid", task, goal, OBSERVATION, {**QUANTITIES, **STAND}, reward)
    reward = f"dm_control's humanoid-{task} reward: small_control * standing * upright * move with speed {speed:g} m/s, in [0, 1]"
    return dmc_card("humanoid", task, goal, OBSERVATION, {**QUANTITIES, **MOVE}, reward)


HumanoidStand = dmc_variant(
    _Humanoid, "HumanoidStand",
    humanoid_card("stand", 0.0, "Stand the humanoid up, head 1.4 m high or more and torso upright, and keep it still."),
)
HumanoidWalk = dmc_variant(
    _Humanoid, "HumanoidWalk",
    humanoid_card("walk", 1.0, "Make the humanoid walk at 1 m/s or faster in any horizontal direction, upright and tall."),
    move_speed=1.0,
)
