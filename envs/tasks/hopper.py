"""Hopper, batched; identical to Gymnasium's ``Hopper-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import range_pair
from ._planar_walker import PlanarWalker

DEFAULT_CAMERA_CONFIG = {
    "trackbodyid": 2,
    "distance": 3.0,
    "lookat": np.array((0.0, 0.0, 1.15)),
    "elevation": -20.0,
}

_DEFAULTS = dict(
    xml_file="hopper.xml",
    frame_skip=4,
    default_camera_config=DEFAULT_CAMERA_CONFIG,
    forward_reward_weight=1.0,
    ctrl_cost_weight=1e-3,
    healthy_reward=1.0,
    terminate_when_unhealthy=True,
    healthy_state_range=(-100.0, 100.0),
    healthy_z_range=(0.7, float("inf")),
    healthy_angle_range=(-0.2, 0.2),
    reset_noise_scale=5e-3,
    exclude_current_positions_from_observation=True,
)

_JOINTS = ["thigh", "leg", "foot"]


@register_builtin
class Hopper(PlanarWalker):
    """A 2-D one-legged hopper (torso, thigh, leg, foot) that should hop forward.

    Same model, dynamics, observation, reward, termination and reset as
    Gymnasium's ``Hopper-v5`` (``hopper.xml``, frame_skip 4, dt 0.008 s).

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

    ## Keyword arguments
    As Gymnasium's ``HopperEnv``: ``xml_file``, ``frame_skip``,
    ``default_camera_config``, ``forward_reward_weight``, ``ctrl_cost_weight``,
    ``healthy_reward``, ``terminate_when_unhealthy``, ``healthy_state_range``,
    ``healthy_z_range``, ``healthy_angle_range``, ``reset_noise_scale``,
    ``exclude_current_positions_from_observation``.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Hopper-v5.
    """

    card = TaskCard(
        id="pbrl/Hopper-v5",
        goal="Make the one-legged planar hopper hop forward (in +x) as fast as possible without falling, using little control effort.",
        observation_labels=tuple(
            ["rootz", "rooty"] + [f"{j}_angle" for j in _JOINTS]
            + ["rootx_vel", "rootz_vel", "rooty_angvel"] + [f"{j}_angvel" for j in _JOINTS]
        ),
        quantities={
            "x_position": "x coordinate of the torso (m)",
            "x_velocity": "forward velocity of the torso, Δx/dt (m/s)",
            "z_distance_from_origin": "torso height minus its initial height (m)",
            "torso_height": "z coordinate of the torso (m)",
            "torso_angle": "pitch angle of the torso (rad, 0 = upright)",
            "healthy": "True while height, angle and state are within the healthy ranges",
        },
        reward_terms=(
            RewardTerm("forward", 1.0, "forward velocity (m/s) times forward_reward_weight", option="forward_reward_weight"),
            RewardTerm("healthy", 1.0, "healthy_reward for every step the hopper is healthy", option="healthy_reward"),
            RewardTerm("ctrl", -1e-3, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
        ),
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
    default_camera = DEFAULT_CAMERA_CONFIG

    defaults = _DEFAULTS
    python_bool_health = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.healthy_state_range = range_pair("healthy_state_range", self._options["healthy_state_range"])

    def is_healthy(self, sim) -> np.ndarray:
        """(N,) bool: Gymnasium's ``is_healthy``: also every state entry after qpos[:2] in range."""
        state = np.concatenate([sim.qpos[:, 2:], sim.qvel], axis=1)
        lo, hi = self.healthy_state_range
        return np.all((lo < state) & (state < hi), axis=1) & self.healthy_z_angle(sim)
