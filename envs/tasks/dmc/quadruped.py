"""DeepMind Control's quadruped: walk and run, batched."""

from __future__ import annotations

from typing import ClassVar

import mujoco
import numpy as np

from .base import DMCTask, dmc_card, dmc_variant, labels, sensor_columns, sensor_columns_of_type
from .rewards import tolerance

TIME_LIMIT = 20  # s: dm_control sizes the floor as time limit x speed
LEGS = ("front_left", "front_right", "back_right", "back_left")
HINGES = tuple(f"{j}_{leg}" for leg in LEGS for j in ("yaw", "pitch", "knee", "ankle"))
ACTUATORS = tuple(f"{a}_{leg}" for leg in LEGS for a in ("yaw", "lift", "extend"))
OBSERVATION = (
    labels("qpos", HINGES) + labels("qvel", HINGES) + labels("act", ACTUATORS)
    + labels("torso_velocity", ("x", "y", "z")) + ("torso_upright",)
    + labels("imu", ("accel", "gyro"), ("x", "y", "z"))
    + labels("arcsinh", [f"{k}_toe_{leg}" for k in ("force", "torque") for leg in LEGS], ("x", "y", "z"))
)
HEIGHT_STEP = 0.01  # m: dm_control raises the body by 1 cm until nothing touches
MAX_HEIGHT_ATTEMPTS = 10000
ZZ = 8  # entry of a flattened rotation matrix

QUANTITIES = {
    "torso_upright": "z-z entry of the torso's rotation: 1 upright, -1 upside down",
    "torso_velocity_x": "forward velocity of the torso in its own frame (velocimeter x, m/s)",
    "upright": "tolerance(torso_upright, (1, inf), margin 2, linear) = (1 + torso_upright) / 2",
    "move": "tolerance(torso_velocity_x, (speed, inf), margin speed, linear, 0.5 at the margin)",
}


class _Quadruped(DMCTask):
    """A four-legged robot (12 position servos with first-order activation) of dm_control's quadruped domain.

    Same model as ``dm_control.suite.load("quadruped", task)`` (``dm_control/suite/quadruped.xml``
    with dm_control's edits: floor size 20 s x speed, no walls, ball, target, terrain or
    rangefinders), control timestep (0.02 s = 4 physics steps of 0.005 s), observation,
    reward and initial-state distribution.

    ## Action space
    ``Box`` of 12 controls, per leg (front left, front right, back right, back left):
    yaw in [-1, 1], lift in [-1, 1.1], extend in [-0.8, 0.8] (servo targets).

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0–43 | ``egocentric_state`` | hinge qpos (16: yaw, pitch, knee, ankle per leg), hinge qvel (16), actuator activations (12) |
    | 44–46 | ``torso_velocity`` | velocimeter at the torso, in the torso frame (m/s) |
    | 47 | ``torso_upright`` | z-z entry of the torso's rotation |
    | 48–53 | ``imu`` | accelerometer, gyro at the torso (the model's sensor order) |
    | 54–77 | ``force_torque`` | arcsinh of the toe force (4 × 3) then torque (4 × 3) sensors |

    ## Reward
    ``upright · move`` (dm_control's): ``upright = (1 + torso_upright)/2``,
    ``move = tolerance(torso_velocity_x, (speed, inf), margin speed, linear, 0.5 at the
    margin)``, speed 0.5 m/s (walk) or 5 m/s (run); one term
    ``info["reward_terms"]["walk"|"run"]`` equal to the reward, the factors in ``info``.
    In [0, 1] per control step.

    ## Success
    None: dm_control defines no success for the quadruped.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (20 s).

    ## Reset
    As dm_control: a random orientation (a normalised 4-d standard normal quaternion) at
    x = y = 0, joints at their defaults, raised from z = 0 in 1 cm steps until no geom
    touches; qvel and activations 0. (dm_control's reset forward disables actuation: the
    servos push nothing in that pose anyway, so the first accelerometer and toe-force
    readings are dm_control's.)

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "quadruped"
    n_sub_steps = 4
    data_fields = ("xmat", "sensordata", "act")
    move_speed: ClassVar[float]

    def build_model(self):
        spec = mujoco.MjSpec.from_file(self.xml_file)
        size = TIME_LIMIT * self.move_speed
        spec.geom("floor").size = [size, size, 0.5]
        for name in ("wall_px", "wall_py", "wall_nx", "wall_ny", "terrain"):
            spec.delete(spec.geom(name))
        spec.delete(spec.body("ball"))
        spec.delete(spec.site("target"))
        for sensor in [s for s in spec.sensors if s.type == mujoco.mjtSensor.mjSENS_RANGEFINDER]:
            spec.delete(sensor)
        try:
            model = spec.compile()
        except ValueError as exc:
            raise ValueError(f"invalid MJCF model {self.xml_file!r}: {exc}") from None
        self.configure_model(model)
        self._model, self._scratch = model, None
        return model

    def configure_model(self, model):
        hinges = np.flatnonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE)
        self._hinge_qpos = model.jnt_qposadr[hinges]
        self._hinge_qvel = model.jnt_dofadr[hinges]
        self._torso = model.body("torso").id
        self._root = model.jnt_qposadr[model.joint("root").id]
        self._velocimeter = sensor_columns(model, "velocimeter")
        S = mujoco.mjtSensor
        self._imu = sensor_columns_of_type(model, S.mjSENS_GYRO, S.mjSENS_ACCELEROMETER)
        self._force_torque = sensor_columns_of_type(model, S.mjSENS_FORCE, S.mjSENS_TORQUE)

    def initial_state(self, rng, qpos, qvel):
        orientation = rng.standard_normal(4)
        orientation /= np.linalg.norm(orientation)
        root = self._root
        qpos[root + 3 : root + 7] = orientation
        z, attempts = 0.0, 0
        while True:
            qpos[root : root + 3] = 0.0, 0.0, z
            if self.contacts_at(qpos) == 0:
                return qpos, qvel
            z += HEIGHT_STEP
            attempts += 1
            if attempts > MAX_HEIGHT_ATTEMPTS:
                raise RuntimeError(f"{self.card.id}: no non-contacting height found")

    def observe(self, sim):
        s = sim.field("sensordata")
        return np.concatenate(
            [
                sim.qpos[:, self._hinge_qpos], sim.qvel[:, self._hinge_qvel], sim.field("act"),
                s[:, self._velocimeter], sim.field("xmat")[:, self._torso, ZZ : ZZ + 1],
                s[:, self._imu], np.arcsinh(s[:, self._force_torque]),
            ],
            axis=1,
        )

    def reward(self, sim):
        zz = sim.field("xmat")[:, self._torso, ZZ].copy()
        velocity = sim.field("sensordata")[:, self._velocimeter[0]].copy()
        upright = tolerance(zz, bounds=(1.0, float("inf")), sigmoid="linear", margin=2.0, value_at_margin=0)
        move = tolerance(
            velocity, bounds=(self.move_speed, float("inf")), margin=self.move_speed,
            value_at_margin=0.5, sigmoid="linear",
        )
        return upright * move, {"torso_upright": zz, "torso_velocity_x": velocity, "upright": upright, "move": move}


def quadruped_card(task: str, speed: float, goal: str):
    """The card of quadruped-``task``: move forward at ``speed`` m/s."""
    reward = f"dm_control's quadruped-{task} reward: upright * move with speed {speed:g} m/s, in [0, 1]"
    return dmc_card("quadruped", task, goal, OBSERVATION, QUANTITIES, reward)


QuadrupedWalk = dmc_variant(
    _Quadruped, "QuadrupedWalk",
    quadruped_card("walk", 0.5, "Make the quadruped walk forward at 0.5 m/s or faster while staying upright."), move_speed=0.5,
)
QuadrupedRun = dmc_variant(
    _Quadruped, "QuadrupedRun",
    quadruped_card("run", 5.0, "Make the quadruped run forward at 5 m/s or faster while staying upright."), move_speed=5.0,
)
