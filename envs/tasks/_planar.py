"""What HalfCheetah-v5, Hopper-v5 and Walker2d-v5 share: a planar body on root slides
x, z and hinge y, observed and timed the same way (:class:`PlanarTask`); Hopper and
Walker2d are also rewarded for staying healthy, with the same options and reward terms
(:class:`PlanarWalker`). Subclasses set the card, the explicit signature and, for the
walkers, their health check."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np

from ..card import RewardTerm
from ..task import StepOutcome, number, range_pair, sum_of_squares, weight
from ._common import GymnasiumTask, flag, planar_structure


def planar_labels(joints: list[str]) -> tuple[str, ...]:
    """Observation labels of the planar body: ``qpos[1:]`` then ``qvel``."""
    return tuple(
        ["rootz", "rooty"] + [f"{j}_angle" for j in joints]
        + ["rootx_vel", "rootz_vel", "rooty_angvel"] + [f"{j}_angvel" for j in joints]
    )


class PlanarTask(GymnasiumTask):
    """Base of HalfCheetah, Hopper and Walker2d: the observation (``qpos[1:]``, or all of
    qpos with ``exclude_current_positions_from_observation=False``, then qvel, clipped to
    ±``velocity_clip`` where set) and the torso's x before a step, for its velocity."""

    velocity_clip: ClassVar[float | None] = None
    exclude_x: bool

    @property
    def observation_dim(self) -> int:
        return self.card.obs_dim + (0 if self.exclude_x else 1)

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (HalfCheetah-v5, Hopper-v5, Walker2d-v5)."""
        return planar_structure(self, 1, self.exclude_x)

    def before_step(self, sim):
        return {"x": sim.qpos[:, 0].copy()}

    def observe(self, sim):
        start = 1 if self.exclude_x else 0
        clip = self.velocity_clip
        qvel = sim.qvel if clip is None else np.clip(sim.qvel, -clip, clip)
        return np.concatenate([sim.qpos[:, start:], qvel], axis=1)


#: The card's quantities Hopper and Walker2d report (each adds what ``healthy`` means for it).
QUANTITIES = {
    "x_position": "x coordinate of the torso (m)",
    "x_velocity": "forward velocity of the torso, Δx/dt (m/s)",
    "z_distance_from_origin": "torso height minus its initial height (m)",
    "torso_height": "z coordinate of the torso (m)",
    "torso_angle": "pitch angle of the torso (rad, 0 = upright)",
}


def reward_terms(body: str) -> tuple[RewardTerm, ...]:
    """Hopper's and Walker2d's reward terms, at Gymnasium's default weights (the same for both)."""
    return (
        RewardTerm("forward", 1.0, "forward velocity (m/s) times forward_reward_weight", option="forward_reward_weight"),
        RewardTerm("healthy", 1.0, f"healthy_reward for every step the {body} is healthy", option="healthy_reward"),
        RewardTerm("ctrl", -1e-3, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
    )


class PlanarWalker(PlanarTask):
    """Base of Hopper and Walker2d (Gymnasium v5 semantics): the options they share,
    validated from the ``options`` their explicit signatures were called with."""

    velocity_clip = 10.0

    #: Gymnasium's ``is_healthy`` is a Python bool (Hopper: ``all(...)``), not numpy's
    #: (Walker2d: ``a and b`` of numpy bools): then ``reward_survive`` is a Python scalar.
    python_bool_health: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any]):
        o = options  # the keyword arguments, by name
        super().__init__(o["xml_file"], o["frame_skip"], o["default_camera_config"])
        self.forward_reward_weight = weight("forward_reward_weight", o["forward_reward_weight"])
        self.ctrl_cost_weight = weight("ctrl_cost_weight", o["ctrl_cost_weight"])
        self.healthy_reward = weight("healthy_reward", o["healthy_reward"])
        self.terminate_when_unhealthy = flag("terminate_when_unhealthy", o["terminate_when_unhealthy"])
        self.healthy_z_range = range_pair("healthy_z_range", o["healthy_z_range"])
        self.healthy_angle_range = range_pair("healthy_angle_range", o["healthy_angle_range"])
        self.reset_noise_scale = number("reset_noise_scale", o["reset_noise_scale"], nonnegative=True)
        self.exclude_x = flag(
            "exclude_current_positions_from_observation", o["exclude_current_positions_from_observation"]
        )
        if self.python_bool_health:
            self.scalar_types = {"reward_survive": type(True * self.healthy_reward)}

    def healthy_z_angle(self, sim) -> np.ndarray:
        """(N,) bool: torso height and angle strictly inside their ranges."""
        z, angle = sim.qpos[:, 1], sim.qpos[:, 2]
        z_lo, z_hi = self.healthy_z_range
        a_lo, a_hi = self.healthy_angle_range
        return (z_lo < z) & (z < z_hi) & (a_lo < angle) & (angle < a_hi)

    def is_healthy(self, sim) -> np.ndarray:
        """(N,) bool: Gymnasium's ``is_healthy``, over the batch."""
        return self.healthy_z_angle(sim)

    def evaluate(self, sim, before, action):
        x = sim.qpos[:, 0].copy()
        x_velocity = (x - before["x"]) / sim.dt
        healthy = self.is_healthy(sim)
        # Gymnasium's arithmetic: the control cost in the action's dtype (float32);
        # the healthy reward in healthy_reward's type (float, or int if given an int).
        forward = self.forward_reward_weight * x_velocity
        healthy_reward = healthy * self.healthy_reward
        ctrl_cost = self.ctrl_cost_weight * sum_of_squares(action)
        terminated = ~healthy if self.terminate_when_unhealthy else np.zeros(sim.num_envs, dtype=bool)
        return StepOutcome(
            reward_terms={"forward": forward, "healthy": healthy_reward, "ctrl": -ctrl_cost},
            terminated=terminated,
            quantities={
                "x_position": x,
                "x_velocity": x_velocity,
                "z_distance_from_origin": sim.qpos[:, 1] - sim.init_qpos[1],
                "torso_height": sim.qpos[:, 1].copy(),
                "torso_angle": sim.qpos[:, 2].copy(),
                "healthy": healthy,
                # Gymnasium's info keys for the terms, its dtypes.
                "reward_forward": forward,
                "reward_ctrl": -ctrl_cost,
                "reward_survive": healthy_reward,
            },
            reward=(forward + healthy_reward) - ctrl_cost,
        )

    def reset_quantities(self, sim):
        return {
            "x_position": sim.qpos[:, 0].copy(),
            "z_distance_from_origin": sim.qpos[:, 1] - sim.init_qpos[1],
        }
