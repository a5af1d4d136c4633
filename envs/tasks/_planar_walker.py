"""What Hopper-v5 and Walker2d-v5 share: a planar body rewarded for forward speed
and for staying healthy, with the same options, observation and reward terms.
Subclasses set the card, the defaults and their health check."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np

from ..task import (
    StepOutcome,
    Task,
    check_kwargs,
    number,
    range_pair,
    sum_of_squares,
    weight,
)
from ._common import camera_config, flag, gymnasium_asset, planar_structure


class PlanarWalker(Task):
    """Base of Hopper and Walker2d (Gymnasium v5 semantics)."""

    defaults: ClassVar[Mapping[str, Any]]
    #: Gymnasium's ``is_healthy`` is a Python bool (Hopper: ``all(...)``), not numpy's
    #: (Walker2d: ``a and b`` of numpy bools): then ``reward_survive`` is a Python scalar.
    python_bool_health: ClassVar[bool] = False

    def __init__(self, **kwargs):
        o = check_kwargs(self.card.id, kwargs, self.defaults)
        self.xml_file = gymnasium_asset(o["xml_file"])
        self.frame_skip = int(number("frame_skip", o["frame_skip"], positive=True))
        self.default_camera = camera_config(o["default_camera_config"])
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
        self._options = o
        if self.python_bool_health:
            self.scalar_types = {"reward_survive": type(True * self.healthy_reward)}

    @property
    def observation_dim(self) -> int:
        return self.card.obs_dim + (0 if self.exclude_x else 1)

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (Hopper-v5, Walker2d-v5)."""
        return planar_structure(self, 1, self.exclude_x)

    def reset_state(self, rng, init_qpos, init_qvel):
        s = self.reset_noise_scale
        qpos = init_qpos + rng.uniform(low=-s, high=s, size=init_qpos.size)
        qvel = init_qvel + rng.uniform(low=-s, high=s, size=init_qvel.size)
        return qpos, qvel

    def before_step(self, sim):
        return {"x": sim.qpos[:, 0].copy()}

    def observe(self, sim):
        start = 1 if self.exclude_x else 0
        return np.concatenate([sim.qpos[:, start:], np.clip(sim.qvel, -10.0, 10.0)], axis=1)

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
