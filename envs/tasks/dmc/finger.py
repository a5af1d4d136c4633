"""DeepMind Control's planar finger: spin, batched."""

from __future__ import annotations

import numpy as np

from ...registry import register_builtin
from .base import DMCTask, dmc_card, sensor_columns

SPIN_VELOCITY = 15.0
HINGE_DAMPING = 0.03
MAX_ATTEMPTS = 1000
X, Z = 0, 2


@register_builtin
class FingerSpin(DMCTask):
    """dm_control's finger-spin: a two-link planar finger that should spin a free body on a hinge.

    Same model (``dm_control/suite/finger.xml``, with the spinner's hinge damping 0.03
    and the target and tip sites hidden, as dm_control's spin task sets them), control
    timestep (0.02 s = 2 physics steps of 0.01 s), observation, reward and initial-state
    distribution as ``dm_control.suite.load("finger", "spin")``.

    ## Action space
    ``Box(-1, 1, (2,), float32)``: proximal and distal joint torques.

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–1 | ``position`` | proximal and distal joint angles (rad) |
    | 2–3 | ``position`` | spinner tip minus spinner centre, x and z (m) |
    | 4–6 | ``velocity`` | proximal, distal and spinner hinge angular velocities (rad/s) |
    | 7–8 | ``touch`` | log1p of the finger's top and bottom touch sensors (N) |

    ## Reward
    1 when the spinner turns at 15 rad/s or faster in the negative direction
    (``hinge_velocity <= -15``), else 0: one term ``info["reward_terms"]["spin"]`` equal to
    the reward, ``hinge_velocity`` in ``info``.

    ## Success
    None: dm_control defines no success for spinning (the reward is already an indicator
    of spinning fast at each step).

    ## Episode end
    Never terminates; truncated after 1,000 control steps (20 s).

    ## Reset
    As dm_control: all three joints drawn with ``randomize_limited_and_rotational_joints``
    (finger joints in their ranges, spinner in [-π, π]) until no geoms touch (at most
    1,000 tries); qvel 0.

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "finger"
    n_sub_steps = 2
    data_fields = ("sensordata",)
    card = dmc_card(
        "finger", "spin", "Flick the free spinner with the finger so that it keeps turning fast (15 rad/s or more, clockwise).",
        (
            "proximal_angle", "distal_angle", "tip_x", "tip_z",
            "proximal_velocity", "distal_velocity", "hinge_velocity", "touch_top", "touch_bottom",
        ),
        {"hinge_velocity": "angular velocity of the spinner (rad/s); negative is the rewarded direction"},
        "dm_control's finger-spin reward: 1 when hinge_velocity <= -15 rad/s, else 0",
    )

    def configure_model(self, model):
        model.dof_damping[model.jnt_dofadr[model.joint("hinge").id]] = HINGE_DAMPING
        model.site_rgba[model.site("target").id, 3] = 0
        model.site_rgba[model.site("tip").id, 3] = 0
        self._angles = sensor_columns(model, "proximal", "distal")
        self._tip = sensor_columns(model, "tip")[[X, Z]]
        self._spinner = sensor_columns(model, "spinner")[[X, Z]]
        self._velocity = sensor_columns(model, "proximal_velocity", "distal_velocity", "hinge_velocity")
        self._touch = sensor_columns(model, "touchtop", "touchbottom")

    def initial_state(self, rng, qpos, qvel):
        return self.contact_free_joints(rng, qpos, MAX_ATTEMPTS), qvel

    def observe(self, sim):
        s = sim.field("sensordata")
        return np.concatenate(
            [s[:, self._angles], s[:, self._tip] - s[:, self._spinner], s[:, self._velocity], np.log1p(s[:, self._touch])],
            axis=1,
        )

    def reward(self, sim):
        hinge_velocity = sim.field("sensordata")[:, self._velocity[2]].copy()
        return (hinge_velocity <= -SPIN_VELOCITY).astype(np.float64), {"hinge_velocity": hinge_velocity}
