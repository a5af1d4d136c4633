"""Walker2d, batched; identical to Gymnasium's ``Walker2d-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import TaskCard
from ..registry import register_builtin
from ..task import check_options
from ._planar import QUANTITIES, PlanarWalker, planar_labels, reward_terms

DEFAULT_CAMERA_CONFIG = {
    "trackbodyid": 2,
    "distance": 4.0,
    "lookat": np.array((0.0, 0.0, 1.15)),
    "elevation": -20.0,
}

_JOINTS = ["thigh", "leg", "foot", "thigh_left", "leg_left", "foot_left"]


@register_builtin
class Walker2d(PlanarWalker):
    """A 2-D biped (torso, two legs of thigh, leg and foot) that should walk forward.

    Same model, dynamics, observation, reward, termination and reset as
    Gymnasium's ``Walker2d-v5`` (``walker2d_v5.xml``, where both feet have friction
    1.9, frame_skip 4, dt 0.008 s), and the same keyword arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (6,), float32)``: torques on the right thigh, leg, foot and the
    left thigh, leg, foot hinges.

    ## Observation space
    ``Box(-inf, inf, (17,), float64)`` — ``qpos[1:]`` then ``clip(qvel, -10, 10)``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | rootz: z of the torso (height) | m |
    | 1 | rooty: angle of the torso | rad |
    | 2–4 | angles of the right thigh, leg and foot joints | rad |
    | 5–7 | angles of the left thigh, leg and foot joints | rad |
    | 8 | rootx velocity | m/s |
    | 9 | rootz velocity | m/s |
    | 10 | rooty angular velocity | rad/s |
    | 11–16 | angular velocities of the six joints (right then left) | rad/s |

    Velocities are clipped to ±10. With
    ``exclude_current_positions_from_observation=False`` rootx comes first (18).

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``forward`` | ``forward_reward_weight`` × x velocity (Δx / dt) |
    | ``healthy`` | ``healthy_reward`` while healthy, else 0 |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ action² |

    ## Episode end
    The walker is healthy while, with strict inequalities, the torso height
    ``qpos[1]`` lies in ``healthy_z_range`` (0.8, 2.0) and the torso angle
    ``qpos[2]`` in ``healthy_angle_range`` (−1, 1). It terminates when unhealthy
    (unless ``terminate_when_unhealthy=False``); truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, then ``qvel = init + U(±reset_noise_scale)``.

    ## Info
    ``x_position``, ``x_velocity``, ``z_distance_from_origin`` (height above the
    initial height), ``torso_height``, ``torso_angle``, ``healthy``, and
    Gymnasium's ``reward_forward``, ``reward_ctrl`` (in the action's dtype) and
    ``reward_survive``, with Gymnasium's values bit for bit; the reset info has
    ``x_position`` and ``z_distance_from_origin``.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Walker2d-v5.
    """

    card = TaskCard(
        id="pbrl/Walker2d-v5",
        goal="Make the two-legged planar walker walk forward (in +x) as fast as possible without falling, using little control effort.",
        observation_labels=planar_labels(_JOINTS),
        quantities={**QUANTITIES, "healthy": "True while torso height and angle are within the healthy ranges"},
        reward_terms=reward_terms("walker"),
        termination=(
            "By default terminates when unhealthy: torso height outside (0.8, 2.0) m or torso "
            "angle outside (-1, 1) rad; truncated after 1000 steps."
        ),
        success=None,
        max_episode_steps=1000,
        # D4RL's reference returns for walker2d (random, expert).
        ref_min_return=1.629008,
        ref_max_return=4592.3,
    )

    def __init__(
        self,
        *,
        xml_file: str = "walker2d_v5.xml",
        frame_skip: int = 4,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-3,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (0.8, 2.0),
        healthy_angle_range: tuple[float, float] = (-1.0, 1.0),
        reset_noise_scale: float = 5e-3,
        exclude_current_positions_from_observation: bool = True,
        **unknown,
    ):
        super().__init__(check_options(self, Walker2d.__init__, locals()))
