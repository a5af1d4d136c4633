"""DeepMind Control's planar cheetah: run, batched."""

from __future__ import annotations

import mujoco
import numpy as np

from ...registry import register_builtin
from .base import DMCTask, dmc_card, labels
from .rewards import tolerance

JOINTS = ("rootx", "rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
RUN_SPEED = 10.0
SETTLE_STEPS = 200


@register_builtin
class CheetahRun(DMCTask):
    """dm_control's cheetah-run: a planar cheetah (6 actuated joints) that should run forward.

    Same model (``dm_control/suite/cheetah.xml``), control timestep (one physics step of
    0.01 s), observation, reward and initial-state distribution as
    ``dm_control.suite.load("cheetah", "run")``.

    ## Action space
    ``Box(-1, 1, (6,), float32)``: back thigh, shin, foot, front thigh, shin, foot.

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–7 | ``position`` | qpos without rootx: rootz, rooty, bthigh, bshin, bfoot, fthigh, fshin, ffoot |
    | 8–16 | ``velocity`` | qvel: rootx, rootz, rooty, bthigh, bshin, bfoot, fthigh, fshin, ffoot |

    ## Reward
    ``tolerance(speed, (10, inf), margin 10, linear, 0 at the margin)`` = min(speed/10, 1)
    for speed >= 0 (0 when moving backward), with ``speed`` the torso subtree's forward
    velocity; one term ``info["reward_terms"]["run"]`` equal to the reward, ``speed`` in
    ``info``. In [0, 1] per control step.

    ## Success
    None: dm_control defines no success for the cheetah.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (10 s).

    ## Reset
    As dm_control: the limited joints uniform in their ranges, then 200 physics steps
    with zero control to let the cheetah settle (the first one from the reset's
    kinematics, as dm_control's legacy step does); that state is the start (time 0).

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "cheetah"
    n_sub_steps = 1
    data_fields = ("sensordata",)
    card = dmc_card(
        "cheetah", "run", "Make the planar cheetah run forward as fast as possible, up to 10 m/s.",
        labels("position", JOINTS[1:]) + labels("velocity", JOINTS),
        {"speed": "forward (x) velocity of the cheetah's centre of mass (m/s)"},
        "dm_control's cheetah-run reward: min(speed / 10, 1) for speed >= 0, else 0",
    )

    def initial_state(self, rng, qpos, qvel):
        model, data = self.scratch()
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        limited = model.jnt_limited.astype(bool)
        low, high = model.jnt_range[limited].T
        data.qpos[model.jnt_qposadr[limited]] = rng.uniform(low, high)
        mujoco.mj_step2(model, data)  # dm_control's first step reuses the reset's kinematics
        mujoco.mj_step(model, data, SETTLE_STEPS - 1)
        return data.qpos.copy(), data.qvel.copy()

    def observe(self, sim):
        return np.concatenate([sim.qpos[:, 1:], sim.qvel], axis=1)

    def reward(self, sim):
        speed = sim.field("sensordata")[:, 0].copy()  # torso_subtreelinvel x
        run = tolerance(speed, bounds=(RUN_SPEED, float("inf")), margin=RUN_SPEED, value_at_margin=0, sigmoid="linear")
        return run, {"speed": speed}
