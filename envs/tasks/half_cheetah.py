"""HalfCheetah, batched; identical to Gymnasium's ``HalfCheetah-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, number, sum_of_squares, weight
from ._common import flag
from ._planar import PlanarTask, planar_labels

DEFAULT_CAMERA_CONFIG = {"distance": 4.0}

_JOINTS = ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"]


@register_builtin
class HalfCheetah(PlanarTask):
    """A 2-D cheetah (9 links, 6 hinge joints) that should run forward fast.

    Same model, dynamics, observation, reward and reset as Gymnasium's
    ``HalfCheetah-v5`` (``half_cheetah.xml``, frame_skip 5, dt 0.05 s), and the same
    keyword arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (6,), float32)``: torques on bthigh, bshin, bfoot, fthigh, fshin, ffoot.

    ## Observation space
    ``Box(-inf, inf, (17,), float64)`` — ``qpos[1:]`` then ``qvel``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | rootz: z of the front tip | m |
    | 1 | rooty: angle of the front tip | rad |
    | 2–7 | angles of bthigh, bshin, bfoot, fthigh, fshin, ffoot | rad |
    | 8 | rootx velocity | m/s |
    | 9 | rootz velocity | m/s |
    | 10 | rooty angular velocity | rad/s |
    | 11–16 | angular velocities of the six joints | rad/s |

    With ``exclude_current_positions_from_observation=False`` rootx comes first (18).

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``forward`` | ``forward_reward_weight`` × x velocity (Δx / dt) |
    | ``ctrl`` | −``ctrl_cost_weight`` × Σ action² |

    ## Episode end
    Never terminates; truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, ``qvel = init + reset_noise_scale·N(0, 1)``.

    ## Info
    ``x_position``, ``x_velocity``, and Gymnasium's ``reward_forward`` and
    ``reward_ctrl`` (in the action's dtype, float32 for float32 actions), with
    Gymnasium's values bit for bit; the reset info has ``x_position``.

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's HalfCheetah-v5.
    """

    card = TaskCard(
        id="pbrl/HalfCheetah-v5",
        goal="Make the two-legged planar cheetah run forward (in +x) as fast as possible while using little control effort.",
        observation_labels=planar_labels(_JOINTS),
        quantities={
            "x_position": "x coordinate of the torso (m)",
            "x_velocity": "forward velocity of the torso, Δx/dt (m/s)",
        },
        reward_terms=(
            RewardTerm("forward", 1.0, "forward velocity (m/s) times forward_reward_weight", option="forward_reward_weight"),
            RewardTerm("ctrl", -0.1, "minus ctrl_cost_weight times the squared action norm", option="ctrl_cost_weight"),
        ),
        termination="Never terminates; episodes are truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # D4RL's reference returns for halfcheetah (random, expert).
        ref_min_return=-280.178953,
        ref_max_return=12135.0,
    )
    velocity_noise = "normal"

    def __init__(
        self,
        *,
        xml_file: str = "half_cheetah.xml",
        frame_skip: int = 5,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.1,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        **unknown,
    ):
        check_options(self, HalfCheetah.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.forward_reward_weight = weight("forward_reward_weight", forward_reward_weight)
        self.ctrl_cost_weight = weight("ctrl_cost_weight", ctrl_cost_weight)
        self.reset_noise_scale = number("reset_noise_scale", reset_noise_scale, nonnegative=True)
        self.exclude_x = flag("exclude_current_positions_from_observation", exclude_current_positions_from_observation)

    def evaluate(self, sim, before, action):
        x = sim.qpos[:, 0].copy()
        x_velocity = (x - before["x"]) / sim.dt
        # Gymnasium's arithmetic: the control cost in the action's dtype (float32).
        forward = self.forward_reward_weight * x_velocity
        ctrl_cost = self.ctrl_cost_weight * sum_of_squares(action)
        return StepOutcome(
            reward_terms={"forward": forward, "ctrl": -ctrl_cost},
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities={
                "x_position": x,
                "x_velocity": x_velocity,
                # Gymnasium's info keys for the terms, its dtypes (reward_ctrl: the action's).
                "reward_forward": forward,
                "reward_ctrl": -ctrl_cost,
            },
            reward=forward - ctrl_cost,
        )

    def reset_quantities(self, sim):
        return {"x_position": sim.qpos[:, 0].copy()}
