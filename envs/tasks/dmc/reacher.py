"""DeepMind Control's two-link planar reacher: easy and hard, batched."""

from __future__ import annotations

from typing import ClassVar

import mujoco
import numpy as np

from ...task import row_norms
from .base import DMCTask, dmc_card, dmc_variant
from .rewards import tolerance

BIG_TARGET, SMALL_TARGET = 0.05, 0.015
OBSERVATION = ("shoulder_angle", "wrist_angle", "to_target_x", "to_target_y", "shoulder_velocity", "wrist_velocity")
QUANTITIES = {
    "distance": "distance from the finger's centre to the target's centre (m)",
    "radii": "target radius + finger radius (m): the reward is 1 when distance <= radii",
    "target_x": "x coordinate of the target (m)",
    "target_y": "y coordinate of the target (m)",
}


class _Reacher(DMCTask):
    """A two-link planar arm that should touch a random target with its finger (dm_control's reacher).

    Same model (``dm_control/suite/reacher.xml``, one physics step of 0.02 s per control
    step, contacts disabled), observation, reward and initial-state distribution as
    ``dm_control.suite.load("reacher", task)``, with one difference in the model: the
    target sphere, which dm_control moves by editing the model (``geom_pos``) at each
    reset, sits on a body with two slide joints (``target_x``, ``target_y``: ``qpos[2:4]``,
    no damping, no contacts, so it never moves), so that each sub-env of a batch has its
    own target in its state. The arm's dynamics are unchanged (the two bodies do not
    interact); the observation reads only the arm's ``qpos[:2]`` and ``qvel[:2]``.
    Joints rather than a mocap body set in ``after_reset``: a mocap position is no part of
    ``qpos``/``qvel``, so a state recorded in a dataset or restored with ``set_state``
    would lose the target; in ``qpos`` it travels with the state.

    ## Action space
    ``Box(-1, 1, (2,), float32)``: shoulder and wrist torques.

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–1 | ``position`` | shoulder and wrist angles (rad) |
    | 2–3 | ``to_target`` | target minus finger, x and y (m) |
    | 4–5 | ``velocity`` | shoulder and wrist angular velocities (rad/s) |

    ## Reward
    1 when the finger touches the target (centre distance <= target radius + finger
    radius 0.01 m), else 0 (``tolerance`` with margin 0): one term
    ``info["reward_terms"]["easy"|"hard"]`` equal to the reward; ``distance`` and ``radii``
    in ``info``. Target radius 0.05 m (easy) or 0.015 m (hard).

    ## Success
    ``info["success"]``: the finger touches the target at the step (reward 1), the
    natural criterion of this indicator reward.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (20 s).

    ## Reset
    As dm_control: shoulder uniform in [-π, π], wrist uniform in its range (±160°); the
    target at angle U(0, 2π) and radius U(0.05, 0.20) from the origin
    (x = r·sin, y = r·cos); qvel 0.

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "reacher"
    n_sub_steps = 1
    data_fields = ("geom_xpos",)
    target_size: ClassVar[float]

    def build_model(self):
        spec = mujoco.MjSpec.from_file(self.xml_file)
        geom = spec.geom("target")
        body = spec.worldbody.add_body(name="target")
        for name, axis in (("target_x", [1.0, 0.0, 0.0]), ("target_y", [0.0, 1.0, 0.0])):
            joint = body.add_joint(name=name, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=axis)
            joint.damping, joint.armature, joint.limited = [0.0, 0.0, 0.0], 0.0, mujoco.mjtLimited.mjLIMITED_FALSE
        moved = body.add_geom(
            type=geom.type, size=geom.size, pos=geom.pos, material=geom.material,
            contype=geom.contype, conaffinity=geom.conaffinity, rgba=geom.rgba,
        )
        spec.delete(geom)
        moved.name = "target"
        try:
            model = spec.compile()
        except ValueError as exc:
            raise ValueError(f"invalid MJCF model {self.xml_file!r}: {exc}") from None
        model.geom_size[model.geom("target").id, 0] = self.target_size
        self._target = model.geom("target").id
        self._finger = model.geom("finger").id
        self._radii = self.target_size + model.geom_size[self._finger, 0]
        self._model, self._scratch = model, None
        return model

    def initial_state(self, rng, qpos, qvel):
        qpos = self.randomize_joints(rng, qpos)  # the target's slides are unlimited: left alone
        angle = rng.uniform(0, 2 * np.pi)
        radius = rng.uniform(0.05, 0.20)
        qpos[2:4] = radius * np.sin(angle), radius * np.cos(angle)
        return qpos, qvel

    def _to_target(self, sim):
        xpos = sim.field("geom_xpos")
        return xpos[:, self._target, :2] - xpos[:, self._finger, :2]

    def observe(self, sim):
        return np.concatenate([sim.qpos[:, :2], self._to_target(sim), sim.qvel[:, :2]], axis=1)

    def reward(self, sim):
        distance = row_norms(self._to_target(sim))
        target = sim.field("geom_xpos")[:, self._target]
        return tolerance(distance, (0, self._radii)), {
            "distance": distance, "radii": np.full(sim.num_envs, self._radii),
            "target_x": target[:, 0].copy(), "target_y": target[:, 1].copy(),
        }

    def success(self, sim, quantities):
        return quantities["distance"] <= quantities["radii"]


def reacher_card(task: str, size: float, goal: str):
    """The card of reacher-``task``, whose target has radius ``size``."""
    reward = f"dm_control's reacher-{task} reward: 1 when the finger touches the target (radius {size:g} m), else 0"
    success = "the finger touches the target (centre distance <= target radius + finger radius) at the step"
    return dmc_card("reacher", task, goal, OBSERVATION, QUANTITIES, reward, success=success)


ReacherEasy = dmc_variant(
    _Reacher, "ReacherEasy",
    reacher_card("easy", BIG_TARGET, "Move the two-link arm's finger onto the random target (radius 0.05 m) and keep it there."),
    target_size=BIG_TARGET,
)
ReacherHard = dmc_variant(
    _Reacher, "ReacherHard",
    reacher_card("hard", SMALL_TARGET, "Move the two-link arm's finger onto the small random target (radius 0.015 m) and keep it there."),
    target_size=SMALL_TARGET,
)
