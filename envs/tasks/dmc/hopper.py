"""DeepMind Control's planar one-legged hopper: stand and hop, batched."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import DMCTask, dmc_card, dmc_variant, labels, sensor_columns
from .rewards import tolerance

JOINTS = ("rootx", "rootz", "rooty", "waist", "hip", "knee", "ankle")
OBSERVATION = labels("position", JOINTS[1:]) + labels("velocity", JOINTS) + ("touch_toe", "touch_heel")
STAND_HEIGHT = 0.6
HOP_SPEED = 2.0
TORSO, FOOT = 1, 5  # body ids

QUANTITIES = {
    "height": "torso centre of mass height above the foot's centre of mass (m)",
    "speed": "forward (x) velocity of the hopper's centre of mass (m/s)",
    "standing": "1 when height is in [0.6, 2] m, else 0 (tolerance with margin 0)",
}


class _Hopper(DMCTask):
    """A planar one-legged hopper (4 actuated joints) of dm_control's hopper domain.

    Same model (``dm_control/suite/hopper.xml``), control timestep (0.02 s = 4 physics
    steps of 0.005 s), observation, reward and initial-state distribution as
    ``dm_control.suite.load("hopper", task)``.

    ## Action space
    ``Box(-1, 1, (4,), float32)``: waist, hip, knee, ankle.

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–5 | ``position`` | qpos without rootx: rootz, rooty, waist, hip, knee, ankle |
    | 6–12 | ``velocity`` | qvel: rootx, rootz, rooty, waist, hip, knee, ankle |
    | 13–14 | ``touch`` | log1p of the toe and heel touch sensors (N) |

    ## Reward
    dm_control's product, reported as the one term ``info["reward_terms"][task]`` (equal
    to the reward) with its factors as named quantities: ``standing`` = 1 when the torso is
    0.6–2 m above the foot; hop: reward = ``standing · hopping`` with ``hopping =
    tolerance(speed, (2, inf), margin 1, linear, 0.5 at the margin)``; stand: reward =
    ``standing · small_control`` with ``small_control = (4 + mean tolerance(ctrl, margin 1,
    quadratic, 0 at the margin)) / 5``. In [0, 1] per control step.

    ## Success
    None: dm_control defines no success for the hopper.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (20 s).

    ## Reset
    dm_control's ``randomize_limited_and_rotational_joints``: waist, hip, knee and ankle
    uniform in their ranges, the unlimited rooty hinge uniform in [-π, π]; qvel 0.

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "hopper"
    n_sub_steps = 4
    data_fields = ("xipos", "sensordata")
    hopping: ClassVar[bool] = False

    def configure_model(self, model):
        self._touch = sensor_columns(model, "touch_toe", "touch_heel")

    def initial_state(self, rng, qpos, qvel):
        return self.randomize_joints(rng, qpos), qvel

    def observe(self, sim):
        touch = np.log1p(sim.field("sensordata")[:, self._touch])
        return np.concatenate([sim.qpos[:, 1:], sim.qvel, touch], axis=1)

    def reward(self, sim):
        xipos = sim.field("xipos")
        height = xipos[:, TORSO, 2] - xipos[:, FOOT, 2]
        speed = sim.field("sensordata")[:, 0].copy()  # torso_subtreelinvel x
        standing = tolerance(height, (STAND_HEIGHT, 2))
        quantities = {"height": height, "speed": speed, "standing": standing}
        if self.hopping:
            hopping = tolerance(speed, bounds=(HOP_SPEED, float("inf")), margin=HOP_SPEED / 2, value_at_margin=0.5, sigmoid="linear")
            quantities["hopping"] = hopping
            return standing * hopping, quantities
        small_control = tolerance(sim.ctrl, margin=1, value_at_margin=0, sigmoid="quadratic").mean(axis=1)
        small_control = (small_control + 4) / 5
        quantities["small_control"] = small_control
        return standing * small_control, quantities


def hopper_card(task: str, factor: str, description: str, goal: str):
    """The card of hopper-``task``, whose reward is ``standing * factor``."""
    reward = f"dm_control's hopper-{task} reward: standing * {factor}, in [0, 1]"
    return dmc_card("hopper", task, goal, OBSERVATION, {**QUANTITIES, factor: description}, reward)


HopperStand = dmc_variant(
    _Hopper, "HopperStand",
    hopper_card(
        "stand", "small_control", "(4 + mean over actuators of tolerance(ctrl, margin 1, quadratic)) / 5",
        "Keep the one-legged hopper standing with its torso 0.6 to 2 m above its foot, using little control.",
    ),
)
HopperHop = dmc_variant(
    _Hopper, "HopperHop",
    hopper_card(
        "hop", "hopping", "tolerance(speed, (2, inf), margin 1, linear, 0.5 at the margin)",
        "Make the one-legged hopper hop forward at 2 m/s or faster while staying upright.",
    ),
    hopping=True,
)
