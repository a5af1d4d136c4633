"""InvertedDoublePendulum, batched; identical to Gymnasium's ``InvertedDoublePendulum-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, number, weight
from ._common import GymnasiumTask

#: The pendulum has fallen when the tip of the second pole is at or below this
#: height (m), as in Gymnasium. Upright, the tip is at 1.2 m.
MIN_TIP_HEIGHT = 1.0


def _pow2(v: np.ndarray) -> np.ndarray:
    """``v ** 2`` as numpy computes it for one float64 scalar (libm ``pow``)."""
    return np.float_power(v, 2.0)


@register_builtin
class InvertedDoublePendulum(GymnasiumTask):
    """A cart on a rail that should keep two chained poles hinged on it upright.

    Same model, dynamics, observation, reward, termination and reset as
    Gymnasium's ``InvertedDoublePendulum-v5`` (``inverted_double_pendulum.xml``,
    RK4, frame_skip 5, dt 0.05 s), and the same keyword arguments with the same defaults.

    ## Action space
    ``Box(-1, 1, (1,), float32)``: force (gear 500) pushing the cart along the rail.

    ## Observation space
    ``Box(-inf, inf, (9,), float64)``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | position of the cart along the rail | m |
    | 1–2 | sin of the angle of pole 1 (from upright), of pole 2 (relative to pole 1) | — |
    | 3–4 | cos of the same two angles | — |
    | 5 | velocity of the cart, clipped to ±10 | m/s |
    | 6–7 | angular velocities of the two hinges, clipped to ±10 | rad/s |
    | 8 | constraint force on the cart (``qfrc_constraint[0]``, the rail's limits), clipped to ±10 | N |

    ## Reward terms (``info["reward_terms"]``)
    | term | value | Gymnasium's info key |
    |------|-------|------|
    | ``survive`` | ``healthy_reward`` for every step that does not terminate, else 0 | ``reward_survive`` |
    | ``distance_penalty`` | −(0.01 x² + (y − 2)²), (x, y) = the tip of pole 2 (horizontal, height) | ``distance_penalty`` |
    | ``velocity_penalty`` | −(10⁻³ ω₁² + 5·10⁻³ ω₂²), ω = the hinges' angular velocities | ``velocity_penalty`` |

    The reward is ``survive − distance cost − velocity cost``, in Gymnasium's order;
    the tip is the model's first site (``site_xpos[0]``), as in Gymnasium.

    ## Episode end
    Terminates when the tip of pole 2 is at or below 1 m (``y <= 1``: the
    pendulum has fallen); truncated after 1000 steps.

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, then
    ``qvel = init + reset_noise_scale × N(0, 1)``, each sub-env from its own generator.

    ## Info
    Gymnasium's keys, same values: ``reward_survive``, ``distance_penalty``,
    ``velocity_penalty`` (its reset info is empty). pbrl adds ``reward_terms`` and
    the card's quantities: ``tip_x``, ``tip_height`` (Gymnasium's x and y of the
    tip), ``cart_position``, ``cart_velocity``, ``pole1_angular_velocity``,
    ``pole2_angular_velocity`` (unclipped).

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's
      InvertedDoublePendulum-v5.
    """

    card = TaskCard(
        id="pbrl/InvertedDoublePendulum-v5",
        goal="Push the cart left and right so that the two poles chained on it stay balanced upright, with the tip high and near the rail's centre, for as long as possible.",
        observation_labels=(
            "cart_position", "sin_pole1_angle", "sin_pole2_angle", "cos_pole1_angle", "cos_pole2_angle",
            "cart_velocity", "pole1_angular_velocity", "pole2_angular_velocity", "cart_constraint_force",
        ),
        quantities={
            "tip_x": "horizontal position of the tip of the second pole (m)",
            "tip_height": "height of the tip of the second pole (m; 1.2 upright, the episode ends at <= 1)",
            "cart_position": "position of the cart along the rail (m)",
            "cart_velocity": "velocity of the cart (m/s)",
            "pole1_angular_velocity": "angular velocity of the first hinge (rad/s)",
            "pole2_angular_velocity": "angular velocity of the second hinge (rad/s)",
        },
        reward_terms=(
            RewardTerm("survive", 10.0, "healthy_reward for every step the tip of the second pole stays above 1 m", option="healthy_reward"),
            RewardTerm("distance_penalty", -1.0, "minus (0.01 tip_x^2 + (tip_height - 2)^2)"),
            RewardTerm("velocity_penalty", -1.0, "minus (1e-3 pole1_angular_velocity^2 + 5e-3 pole2_angular_velocity^2)"),
        ),
        termination="Terminates when the tip of the second pole is at or below 1 m (the pendulum has fallen); truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # min: mean return of uniformly random actions, measured with pbrl (first
        # episodes of 1000 sub-envs seeded 0..999, actions from default_rng(0); the
        # dynamics are Gymnasium's InvertedDoublePendulum-v5). max: 9360, the
        # largest possible return (10 - 0.64 per step, upright at the rail's centre
        # and at rest, for 1000 steps); Gymnasium's reward_threshold for
        # InvertedDoublePendulum-v5 is 9100.
        ref_min_return=47.221,
        ref_max_return=9360.0,
    )
    data_fields = ("site_xpos", "qfrc_constraint")
    velocity_noise = "normal"

    def __init__(
        self,
        *,
        xml_file: str = "inverted_double_pendulum.xml",
        frame_skip: int = 5,
        default_camera_config: dict | None = None,
        healthy_reward: float = 10.0,
        reset_noise_scale: float = 0.1,
        **unknown,
    ):
        check_options(self, InvertedDoublePendulum.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.healthy_reward = weight("healthy_reward", healthy_reward)
        # Gymnasium's reward_survive is healthy_reward * int(not terminated): a Python scalar.
        self.scalar_types = {"reward_survive": type(self.healthy_reward * 1)}
        self.reset_noise_scale = number("reset_noise_scale", reset_noise_scale, nonnegative=True)

    def observe(self, sim):
        qpos = sim.qpos
        return np.concatenate(
            [
                qpos[:, :1],
                np.sin(qpos[:, 1:]),
                np.cos(qpos[:, 1:]),
                np.clip(sim.qvel, -10, 10),
                np.clip(sim.field("qfrc_constraint")[:, :1], -10, 10),
            ],
            axis=1,
        )

    def evaluate(self, sim, before, action):
        tip = sim.field("site_xpos")[:, 0]
        x, y = tip[:, 0].copy(), tip[:, 2].copy()
        terminated = y <= MIN_TIP_HEIGHT
        v1, v2 = sim.qvel[:, 1], sim.qvel[:, 2]
        # Gymnasium squares numpy float64 scalars: ``v ** 2`` is libm's pow(v, 2), which
        # differs from v * v (an array's ``** 2``) in the last bit on ~0.1 % of values;
        # float_power calls the same pow (equal on 300 000 values, magnitudes 1e-3-1e4).
        dist_penalty = 0.01 * _pow2(x) + _pow2(y - 2)
        vel_penalty = 1e-3 * _pow2(v1) + 5e-3 * _pow2(v2)
        alive_bonus = self.healthy_reward * (~terminated)
        return StepOutcome(
            reward_terms={
                "survive": alive_bonus,
                "distance_penalty": -dist_penalty,
                "velocity_penalty": -vel_penalty,
            },
            terminated=terminated,
            quantities={
                "tip_x": x,
                "tip_height": y,
                "cart_position": sim.qpos[:, 0].copy(),
                "cart_velocity": sim.qvel[:, 0].copy(),
                "pole1_angular_velocity": v1.copy(),
                "pole2_angular_velocity": v2.copy(),
                # Gymnasium's names of the reward terms, as its info has them.
                "reward_survive": alive_bonus,
                "distance_penalty": -dist_penalty,
                "velocity_penalty": -vel_penalty,
            },
            reward=alive_bonus - dist_penalty - vel_penalty,  # Gymnasium's order
        )
