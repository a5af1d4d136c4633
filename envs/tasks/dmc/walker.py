"""DeepMind Control's planar walker: stand, walk and run, batched."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import DMCTask, dmc_card, dmc_variant, labels
from .rewards import tolerance

BODIES = ("torso", "right_thigh", "right_leg", "right_foot", "left_thigh", "left_leg", "left_foot")
JOINTS = ("rootz", "rootx", "rooty", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
OBSERVATION = labels("orientation", BODIES, ("xx", "xz")) + ("torso_height",) + labels("velocity", JOINTS)
STAND_HEIGHT = 1.2
TORSO = 1  # body id of the torso
XX, XZ, ZZ = 0, 2, 8  # entries of a flattened rotation matrix

QUANTITIES = {
    "torso_height": "height of the torso frame (m)",
    "torso_upright": "z-z entry of the torso's rotation: 1 upright, -1 upside down",
    "horizontal_velocity": "forward (x) velocity of the walker's centre of mass (m/s)",
    "standing": "tolerance(torso_height, (1.2, inf), margin 0.6): 1 when the torso is 1.2 m high or more",
    "upright": "(1 + torso_upright) / 2",
    "stand": "(3 standing + upright) / 4",
}
MOVE = {"move": "tolerance(horizontal_velocity, (speed, inf), margin speed/2, linear, 0.5 at the margin)"}


class _Walker(DMCTask):
    """A planar biped (7 bodies, 6 actuated joints) of dm_control's walker domain.

    Same model (``dm_control/suite/walker.xml``), control timestep (0.025 s = 10 physics
    steps of 0.0025 s), observation, reward and initial-state distribution as
    ``dm_control.suite.load("walker", task)``.

    ## Action space
    ``Box(-1, 1, (6,), float32)``: right hip, knee, ankle, left hip, knee, ankle.

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–13 | ``orientations`` | xx and xz entries of each body's rotation (torso, right thigh, leg, foot, left thigh, leg, foot) |
    | 14 | ``height`` | torso z (m) |
    | 15–23 | ``velocity`` | qvel: rootz, rootx, rooty, right hip, knee, ankle, left hip, knee, ankle |

    ## Reward
    dm_control's product of factors, reported as the one term ``info["reward_terms"][task]``
    (equal to the reward) with its factors as named quantities in ``info``:
    ``stand = (3·standing + upright)/4``; stand: reward = stand; walk (speed 1 m/s) and run
    (8 m/s): reward = ``stand·(5·move + 1)/6``. In [0, 1] per control step.

    ## Success
    None: dm_control defines no success for the walker.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (25 s).

    ## Reset
    dm_control's ``randomize_limited_and_rotational_joints``: hips, knees and ankles
    uniform in their ranges, the unlimited rooty hinge uniform in [-π, π]; qvel 0.

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "walker"
    n_sub_steps = 10
    move_speed: ClassVar[float] = 0.0

    def initial_state(self, rng, qpos, qvel):
        return self.randomize_joints(rng, qpos), qvel

    def observe(self, sim):
        n = sim.num_envs
        xmat = sim.field("xmat")
        return np.concatenate(
            [xmat[:, 1:, [XX, XZ]].reshape(n, -1), sim.xpos[:, TORSO, 2:3], sim.qvel], axis=1
        )

    def reward(self, sim):
        height = sim.xpos[:, TORSO, 2].copy()
        zz = sim.field("xmat")[:, TORSO, ZZ].copy()
        velocity = sim.field("sensordata")[:, 0].copy()  # torso_subtreelinvel x
        standing = tolerance(height, bounds=(STAND_HEIGHT, float("inf")), margin=STAND_HEIGHT / 2)
        upright = (1 + zz) / 2
        stand = (3 * standing + upright) / 4
        quantities = {
            "torso_height": height, "torso_upright": zz, "horizontal_velocity": velocity,
            "standing": standing, "upright": upright, "stand": stand,
        }
        if self.move_speed == 0:
            return stand, quantities
        move = tolerance(
            velocity, bounds=(self.move_speed, float("inf")), margin=self.move_speed / 2,
            value_at_margin=0.5, sigmoid="linear",
        )
        quantities["move"] = move
        return stand * (5 * move + 1) / 6, quantities


def walker_card(task: str, speed: float, goal: str):
    """The card of walker-``task``: stand (speed 0) or move at ``speed`` m/s."""
    if speed == 0:
        return dmc_card("walker", task, goal, OBSERVATION, QUANTITIES, "dm_control's walker-stand reward: stand = (3 standing + upright) / 4, in [0, 1]")
    reward = f"dm_control's walker-{task} reward: stand * (5 move + 1) / 6 with speed {speed:g} m/s, in [0, 1]"
    return dmc_card("walker", task, goal, OBSERVATION, {**QUANTITIES, **MOVE}, reward)


WalkerStand = dmc_variant(_Walker, "WalkerStand", walker_card("stand", 0.0, "Stand the planar walker up with its torso high (1.2 m or more) and upright."))
WalkerWalk = dmc_variant(
    _Walker, "WalkerWalk", walker_card("walk", 1.0, "Make the planar walker walk forward at 1 m/s or faster while staying upright and tall."),
    move_speed=1.0,
)
WalkerRun = dmc_variant(
    _Walker, "WalkerRun", walker_card("run", 8.0, "Make the planar walker run forward at 8 m/s or faster while staying upright and tall."),
    move_speed=8.0,
)
