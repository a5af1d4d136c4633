"""Hopper, batched; identical to Gymnasium's ``Hopper-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import TaskCard
from ..registry import register_builtin
from ..task import check_options, range_pair
from ._planar import QUANTITIES, PlanarWalker, planar_labels, reward_terms

DEFAULT_CAMERA_CONFIG = {
    "trackbodyid": 2,
    "distance": 3.0,
    "lookat": np.array((0.0, 0.0, 1.15)),
    "elevation": -20.0,
}

_JOINTS = ["thigh", "leg", "foot"]


@register_builtin
class Hopper(PlanarWalker):
    """A 2-D one-legged hopper (torso, thigh, leg, foot) that should hop forward.

    Same model, dynamics, observation, reward, termination and reset as
    Gymnasium's ``Hopper-v5`` (``hopper.xml``, frame_skip 4, dt 0.008 s), and the same
    keyword arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (3,), float32)``: torques on the thigh, leg and foot hinges.

    ## Observation space
    ``Box(-inf, inf, (11,), float64)`` — ``qpos[1:]`` then ``clip(qvel, -10, 10)``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | rootz: z of the torso (height) | m |
    | 1 | rooty: angle of the torso | rad |
    | 2–4 | angles of the thigh, leg and foot joints | rad |
    | 5 | rootx velocity | m/s |
    | 6 | rootz velocity | m/s |
    | 7 | rooty angular velocity | rad/s |
    | 8–10 | angular velocities of the thigh, leg and foot joints | rad/s |

    Velocities are clipped to ±10. With
    ``exclude_current_positions_from_observation=False`` rootx comes first (12).

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``forward`` | ``forward_reward_weight`` × x velocity (Δx / dt) |
    | ``healthy`` | ``healthy_reward`` while healthy, else 0 |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ action² |

    ## Episode end
    The hopper is healthy while, with strict inequalities, every element of
    ``state_vector()[2:]`` (``qpos[2:]`` and the unclipped ``qvel``) lies in
    ``healthy_state_range`` (−100, 100), the torso height ``qpos[1]`` in
    ``healthy_z_range`` (0.7, ∞) and the torso angle ``qpos[2]`` in
    ``healthy_angle_range`` (−0.2, 0.2). It terminates when unhealthy (unless
    ``terminate_when_unhealthy=False``); truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, then ``qvel = init + U(±reset_noise_scale)``.

    ## Info
    ``x_position``, ``x_velocity``, ``z_distance_from_origin`` (height above the
    initial height), ``torso_height``, ``torso_angle``, ``healthy``, and
    Gymnasium's ``reward_forward``, ``reward_ctrl`` (in the action's dtype) and
    ``reward_survive``, with Gymnasium's values bit for bit; the reset info has
    ``x_position`` and ``z_distance_from_origin``.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Hopper-v5.
    """

    card = TaskCard(
        id="pbrl/Hopper-v5",
        goal="Make the one-legged planar hopper hop forward (in +x) as fast as possible without falling, using little control effort.",
        observation_labels=planar_labels(_JOINTS),
        quantities={**QUANTITIES, "healthy": "True while height, angle and state are within the healthy ranges"},
        reward_terms=reward_terms("hopper"),
        termination=(
            "By default terminates when unhealthy: torso height <= 0.7 m, |torso angle| >= 0.2 rad, or any of "
            "qpos[2:], qvel outside (-100, 100); truncated after 1000 steps."
        ),
        success=None,
        max_episode_steps=1000,
        # D4RL's reference returns for hopper (random, expert).
        ref_min_return=-20.272305,
        ref_max_return=3234.3,
    )

    python_bool_health = True

    def __init__(
        self,
        *,
        xml_file: str = "hopper.xml",
        frame_skip: int = 4,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-3,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_state_range: tuple[float, float] = (-100.0, 100.0),
        healthy_z_range: tuple[float, float] = (0.7, float("inf")),
        healthy_angle_range: tuple[float, float] = (-0.2, 0.2),
        reset_noise_scale: float = 5e-3,
        exclude_current_positions_from_observation: bool = True,
        **unknown,
    ):
        super().__init__(check_options(self, Hopper.__init__, locals()))
        self.healthy_state_range = range_pair("healthy_state_range", healthy_state_range)

    def is_healthy(self, sim) -> np.ndarray:
        """(N,) bool: Gymnasium's ``is_healthy``: also every state entry after qpos[:2] in range."""
        state = np.concatenate([sim.qpos[:, 2:], sim.qvel], axis=1)
        lo, hi = self.healthy_state_range
        return np.all((lo < state) & (state < hi), axis=1) & self.healthy_z_angle(sim)
