"""What Humanoid-v5 and HumanoidStandup-v5 share: the 3-D humanoid (torso on a free
joint, 17 hinge joints), its options, observation and reset. Subclasses set the card,
the explicit signature and the reward.

The observation is Gymnasium's: ``qpos[2:]``, ``qvel``, then ``cinert[1:]``,
``cvel[1:]``, ``qfrc_actuator[6:]`` and ``cfrc_ext[1:]`` (each optional), flattened.
"""

from __future__ import annotations

from typing import Any, Mapping

import mujoco
import numpy as np

from ..task import number, range_pair, sum_of_squares, weight
from ._common import GymnasiumTask, flag

# Joints (and their dofs, after the root's six) in model order.
JOINTS = [
    "abdomen_z", "abdomen_y", "abdomen_x",
    "right_hip_x", "right_hip_z", "right_hip_y", "right_knee",
    "left_hip_x", "left_hip_z", "left_hip_y", "left_knee",
    "right_shoulder1", "right_shoulder2", "right_elbow",
    "left_shoulder1", "left_shoulder2", "left_elbow",
]
# Actuators in model order (the action): abdomen_y comes before abdomen_z.
ACTUATORS = ["abdomen_y", "abdomen_z", "abdomen_x"] + JOINTS[3:]
# The bodies after the world.
BODIES = [
    "torso", "lwaist", "pelvis",
    "right_thigh", "right_shin", "right_foot",
    "left_thigh", "left_shin", "left_foot",
    "right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm",
]
# MuJoCo's com-based inertia: the inertia matrix (xx, yy, zz, xy, xz, yz), mass × com offset, mass.
CINERT = ["ixx", "iyy", "izz", "ixy", "ixz", "iyz", "mcx", "mcy", "mcz", "m"]
# MuJoCo's spatial convention: rotational part first, then translational.
CVEL = ["wx", "wy", "wz", "vx", "vy", "vz"]
CFRC = ["torque_x", "torque_y", "torque_z", "force_x", "force_y", "force_z"]

OBS_FLAGS = (
    "exclude_current_positions_from_observation",
    "include_cinert_in_observation",
    "include_cvel_in_observation",
    "include_qfrc_actuator_in_observation",
    "include_cfrc_ext_in_observation",
)


def observation_labels(
    exclude_xy: bool = True, cinert: bool = True, cvel: bool = True, qfrc_actuator: bool = True, cfrc_ext: bool = True
) -> tuple[str, ...]:
    """A name for each index of the humanoid's observation (Gymnasium's model)."""
    labels = [] if exclude_xy else ["torso_x", "torso_y"]
    labels += ["torso_z", "torso_qw", "torso_qx", "torso_qy", "torso_qz"] + [f"{j}_angle" for j in JOINTS]
    labels += ["torso_vx", "torso_vy", "torso_vz", "torso_wx", "torso_wy", "torso_wz"]
    labels += [f"{j}_angvel" for j in JOINTS]
    if cinert:
        labels += [f"{b}_cinert_{c}" for b in BODIES for c in CINERT]
    if cvel:
        labels += [f"{b}_cvel_{c}" for b in BODIES for c in CVEL]
    if qfrc_actuator:
        labels += [f"{j}_actuator_force" for j in JOINTS]
    if cfrc_ext:
        labels += [f"{b}_cfrc_{c}" for b in BODIES for c in CFRC]
    return tuple(labels)


class HumanoidBase(GymnasiumTask):
    """Base of Humanoid and HumanoidStandup (Gymnasium v5 semantics)."""

    # ten_length / ten_velocity for Gymnasium's info, xipos for the centre of mass.
    data_fields = ("xipos", "cinert", "cvel", "qfrc_actuator", "ten_length", "ten_velocity")

    def __init__(self, options: Mapping[str, Any], contact_weight_name: str, contact_range_name: str):
        """Validate the shared options (the keyword arguments, by name) and compile the model.
        The contact cost's options are named ``contact_weight_name`` and ``contact_range_name``
        (Humanoid's ``contact_cost_…``, HumanoidStandup's ``impact_cost_…``)."""
        o = options
        super().__init__(o["xml_file"], o["frame_skip"], o["default_camera_config"])
        # Weights kept as given: their types take part in Gymnasium's arithmetic.
        self.ctrl_cost_weight = weight("ctrl_cost_weight", o["ctrl_cost_weight"])
        self.contact_cost_weight = weight(contact_weight_name, o[contact_weight_name])
        self.contact_cost_range = range_pair(contact_range_name, o[contact_range_name])
        self.reset_noise_scale = number("reset_noise_scale", o["reset_noise_scale"], nonnegative=True)
        (self.exclude_xy, self.include_cinert, self.include_cvel, self.include_qfrc_actuator,
         self.include_cfrc) = (flag(name, o[name]) for name in OBS_FLAGS)

        model = self.build_model()
        if model.nq < 7 or model.nv < 6 or model.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError(f"{self.xml_file}: the humanoid needs a model whose first joint is the torso's free joint")
        self._nbody = model.nbody
        self._body_mass = model.body_mass.copy()
        self._mass_total = model.body_mass.sum()
        self._init_z = float(model.qpos0[2])
        self._timestep = float(model.opt.timestep)
        nb = model.nbody - 1
        self._obs_dim = (
            model.nq + model.nv - 2 * self.exclude_xy
            + nb * 10 * self.include_cinert + nb * 6 * self.include_cvel
            + (model.nv - 6) * self.include_qfrc_actuator + nb * 6 * self.include_cfrc
        )
        # Gymnasium's observation_structure (Humanoid-v5, HumanoidStandup-v5): the
        # tendon entries are always 0 there.
        self._structure = {
            "skipped_qpos": 2 * self.exclude_xy,
            "qpos": model.nq - 2 * self.exclude_xy,
            "qvel": model.nv,
            "cinert": nb * 10 * self.include_cinert,
            "cvel": nb * 6 * self.include_cvel,
            "qfrc_actuator": (model.nv - 6) * self.include_qfrc_actuator,
            "cfrc_ext": nb * 6 * self.include_cfrc,
            "ten_length": 0,
            "ten_velocity": 0,
        }
        # Contact forces cost a per-env loop: pay it only when something reads them.
        self.needs_cfrc_ext = self.include_cfrc or self.contact_cost_weight != 0.0

    @property
    def observation_dim(self) -> int:
        return self._obs_dim

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (a fresh copy on each access)."""
        return dict(self._structure)

    def observe(self, sim):
        n = sim.num_envs
        parts = [sim.qpos[:, 2:] if self.exclude_xy else sim.qpos, sim.qvel]
        if self.include_cinert:
            parts.append(sim.field("cinert")[:, 1:].reshape(n, -1))
        if self.include_cvel:
            parts.append(sim.field("cvel")[:, 1:].reshape(n, -1))
        if self.include_qfrc_actuator:
            parts.append(sim.field("qfrc_actuator")[:, 6:])
        if self.include_cfrc:
            parts.append(sim.cfrc_ext[:, 1:].reshape(n, -1))
        return np.concatenate(parts, axis=1)

    def mass_center_xy(self, sim) -> np.ndarray:
        """Mass-weighted mean of the bodies' centres of mass, x and y, (N, 2)."""
        com = np.einsum("b,nbj->nj", self._body_mass, sim.field("xipos")) / self._mass_total
        return com[:, 0:2].copy()

    def squared_ctrl(self, sim) -> np.ndarray:
        """Σ ctrl² per sub-env, on MjData.ctrl (float64) as Gymnasium's cost reads it."""
        return sum_of_squares(sim.ctrl)

    def contact_cost(self, sim) -> np.ndarray:
        """``weight × Σ cfrc_ext²`` (all bodies, unclipped), then clipped to the cost range."""
        if not self.needs_cfrc_ext:
            return np.zeros(sim.num_envs)
        low, high = self.contact_cost_range
        return np.clip(self.contact_cost_weight * sum_of_squares(sim.cfrc_ext), low, high)

    def tendons(self, sim) -> dict[str, np.ndarray]:
        """Gymnasium's ``tendon_length`` and ``tendon_velocity`` info, (N, ntendon) each."""
        return {
            "tendon_length": sim.field("ten_length").copy(),
            "tendon_velocity": sim.field("ten_velocity").copy(),
        }
