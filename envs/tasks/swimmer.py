"""Swimmer, batched; identical to Gymnasium's ``Swimmer-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, number, row_norms, sum_of_squares, weight
from ._common import GymnasiumTask, flag, planar_structure


@register_builtin
class Swimmer(GymnasiumTask):
    """A three-segment swimmer in a viscous fluid that should swim forward.

    Same model, dynamics, observation, reward and reset as Gymnasium's
    ``Swimmer-v5`` (``swimmer.xml``, frame_skip 4, dt 0.04 s), and the same keyword
    arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (2,), float32)``: torques on the two rotors (motor1_rot, motor2_rot).

    ## Observation space
    ``Box(-inf, inf, (8,), float64)`` — ``qpos[2:]`` then ``qvel``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | free_body_rot: angle of the front tip | rad |
    | 1 | motor1_rot: angle of the first rotor | rad |
    | 2 | motor2_rot: angle of the second rotor | rad |
    | 3 | x velocity of the front tip (slider1) | m/s |
    | 4 | y velocity of the front tip (slider2) | m/s |
    | 5 | angular velocity of the front tip | rad/s |
    | 6 | angular velocity of the first rotor | rad/s |
    | 7 | angular velocity of the second rotor | rad/s |

    With ``exclude_current_positions_from_observation=False`` the x and y of the
    front tip come first (10).

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``forward`` | ``forward_reward_weight`` × x velocity (Δx / dt) |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ action² |

    ## Episode end
    Never terminates; truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, then ``qvel = init + U(±reset_noise_scale)``.

    ## Info
    ``x_position``, ``y_position``, ``distance_from_origin`` (‖(x, y)‖),
    ``x_velocity``, ``y_velocity``, and Gymnasium's ``reward_forward`` and
    ``reward_ctrl`` (in the action's dtype), with Gymnasium's values bit for bit;
    the reset info has the first three.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's Swimmer-v5.
    """

    card = TaskCard(
        id="pbrl/Swimmer-v5",
        goal="Make the three-segment swimmer swim forward (in +x) through the viscous fluid as fast as possible, using little control effort.",
        observation_labels=(
            "tip_angle", "rotor1_angle", "rotor2_angle",
            "tip_x_vel", "tip_y_vel", "tip_angvel", "rotor1_angvel", "rotor2_angvel",
        ),
        quantities={
            "x_position": "x coordinate of the front tip (m)",
            "y_position": "y coordinate of the front tip (m)",
            "distance_from_origin": "distance of the front tip from the origin in the plane (m)",
            "x_velocity": "forward velocity of the front tip, Δx/dt (m/s)",
            "y_velocity": "sideways velocity of the front tip, Δy/dt (m/s)",
        },
        reward_terms=(
            RewardTerm("forward", 1.0, "forward velocity (m/s) times forward_reward_weight", option="forward_reward_weight"),
            RewardTerm("ctrl", -1e-4, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
        ),
        termination="Never terminates; episodes are truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # min: mean return of uniformly random actions, measured with pbrl (first
        # episodes of 1000 sub-envs seeded 0..999, actions from default_rng(0); the
        # dynamics are Gymnasium's Swimmer-v5). max: Gymnasium's reward_threshold for
        # Swimmer-v5 (gymnasium/envs/__init__.py).
        ref_min_return=0.739,
        ref_max_return=360.0,
    )

    def __init__(
        self,
        *,
        xml_file: str = "swimmer.xml",
        frame_skip: int = 4,
        default_camera_config: dict | None = None,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-4,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        **unknown,
    ):
        check_options(self, Swimmer.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.forward_reward_weight = weight("forward_reward_weight", forward_reward_weight)
        self.ctrl_cost_weight = weight("ctrl_cost_weight", ctrl_cost_weight)
        self.reset_noise_scale = number("reset_noise_scale", reset_noise_scale, nonnegative=True)
        self.exclude_xy = flag("exclude_current_positions_from_observation", exclude_current_positions_from_observation)

    @property
    def observation_dim(self) -> int:
        return 8 if self.exclude_xy else 10

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (Swimmer-v5)."""
        return planar_structure(self, 2, self.exclude_xy)

    def before_step(self, sim):
        return {"xy": sim.qpos[:, 0:2].copy()}

    def observe(self, sim):
        start = 2 if self.exclude_xy else 0
        return np.concatenate([sim.qpos[:, start:], sim.qvel], axis=1)

    def evaluate(self, sim, before, action):
        xy = sim.qpos[:, 0:2].copy()
        xy_velocity = (xy - before["xy"]) / sim.dt
        # Gymnasium's arithmetic: the control cost in the action's dtype (float32).
        forward = self.forward_reward_weight * xy_velocity[:, 0]
        ctrl_cost = self.ctrl_cost_weight * sum_of_squares(action)
        return StepOutcome(
            reward_terms={"forward": forward, "ctrl": -ctrl_cost},
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities={
                "x_position": xy[:, 0],
                "y_position": xy[:, 1],
                "distance_from_origin": row_norms(xy),
                "x_velocity": xy_velocity[:, 0],
                "y_velocity": xy_velocity[:, 1],
                # Gymnasium's info keys for the terms, its dtypes.
                "reward_forward": forward,
                "reward_ctrl": -ctrl_cost,
            },
            reward=forward - ctrl_cost,
        )

    def reset_quantities(self, sim):
        xy = sim.qpos[:, 0:2].copy()
        return {
            "x_position": xy[:, 0],
            "y_position": xy[:, 1],
            "distance_from_origin": row_norms(xy),
        }
