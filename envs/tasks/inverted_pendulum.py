"""InvertedPendulum, batched; identical to Gymnasium's ``InvertedPendulum-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, check_options, number
from ._common import GymnasiumTask, model_sizes

DEFAULT_CAMERA_CONFIG = {
    "trackbodyid": 0,
    "distance": 2.04,
}

#: The pole has fallen when |angle| exceeds this (rad), as in Gymnasium.
MAX_POLE_ANGLE = 0.2


@register_builtin
class InvertedPendulum(GymnasiumTask):
    """A cart on a rail that should keep a pole hinged on it upright.

    Same model, dynamics, observation, reward, termination and reset as
    Gymnasium's ``InvertedPendulum-v5`` (``inverted_pendulum.xml``, frame_skip 2,
    dt 0.04 s), and the same keyword arguments with the same defaults.

    ## Action space
    ``Box(-3, 3, (1,), float32)``: force pushing the cart along the rail.

    ## Observation space
    ``Box(-inf, inf, (4,), float64)`` — ``qpos`` then ``qvel``:

    | idx | observation | unit |
    |-----|-------------|------|
    | 0 | position of the cart along the rail | m |
    | 1 | angle of the pole (0 = upright) | rad |
    | 2 | velocity of the cart | m/s |
    | 3 | angular velocity of the pole | rad/s |

    ## Reward terms (``info["reward_terms"]``)
    | term | value |
    |------|-------|
    | ``survive`` | 1 for every step that does not terminate, else 0 |

    ## Episode end
    Terminates when ``|qpos[1]| > 0.2`` (the pole has fallen) or the observation is
    not finite; truncated after 1000 steps. (pbrl's engine reports a non-finite
    state as ``info["diverged"]`` and truncates that episode instead.)

    ## Reset
    ``qpos = init + U(±reset_noise_scale)``, then ``qvel = init + U(±reset_noise_scale)``.

    ## Info
    ``cart_position``, ``pole_angle``, ``cart_velocity``, ``pole_angular_velocity``,
    and Gymnasium's ``reward_survive``. As in Gymnasium, the single env's reward
    and ``reward_survive`` are the ints 1 and 0 (the batched env's reward is
    float64, as ``SyncVectorEnv``'s; its ``reward_survive`` int64).

    ## Version history
    * v5 (pbrl 0.1): first version, a batched port of Gymnasium's InvertedPendulum-v5.
    """

    card = TaskCard(
        id="pbrl/InvertedPendulum-v5",
        goal="Push the cart left and right so that the pole hinged on it stays upright for as long as possible.",
        observation_labels=("cart_position", "pole_angle", "cart_velocity", "pole_angular_velocity"),
        quantities={
            "cart_position": "position of the cart along the rail (m)",
            "pole_angle": "angle of the pole from upright (rad)",
            "cart_velocity": "velocity of the cart (m/s)",
            "pole_angular_velocity": "angular velocity of the pole (rad/s)",
        },
        reward_terms=(
            RewardTerm("survive", 1.0, "1 for every step the pole stays within 0.2 rad of upright"),
        ),
        termination="Terminates when the pole tilts more than 0.2 rad from upright (|qpos[1]| > 0.2); truncated after 1000 steps.",
        success=None,
        max_episode_steps=1000,
        # min: mean return of uniformly random actions, measured with pbrl (first
        # episodes of 1000 sub-envs seeded 0..999, actions from default_rng(0); the
        # dynamics are Gymnasium's InvertedPendulum-v5). max: 1000, the largest
        # possible return (1 per step for 1000 steps), which expert policies reach;
        # Gymnasium's reward_threshold for InvertedPendulum-v5 is 950.
        ref_min_return=4.98,
        ref_max_return=1000.0,
    )

    def __init__(
        self,
        *,
        xml_file: str = "inverted_pendulum.xml",
        frame_skip: int = 2,
        default_camera_config: dict | None = DEFAULT_CAMERA_CONFIG,
        reset_noise_scale: float = 0.01,
        **unknown,
    ):
        check_options(self, InvertedPendulum.__init__, locals())
        super().__init__(xml_file, frame_skip, default_camera_config)
        self.reset_noise_scale = number("reset_noise_scale", reset_noise_scale, nonnegative=True)
        self.scalar_types = {"reward": int, "reward_survive": int}  # Gymnasium's int(not terminated)

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (InvertedPendulum-v5)."""
        nq, nv = model_sizes(self)
        return {"qpos": nq, "qvel": nv}

    def observe(self, sim):
        return np.concatenate([sim.qpos, sim.qvel], axis=1)

    def evaluate(self, sim, before, action):
        obs = self.observe(sim)
        terminated = ~np.isfinite(obs).all(axis=1) | (np.abs(obs[:, 1]) > MAX_POLE_ANGLE)
        survive = (~terminated).astype(np.int64)  # Gymnasium's int(not terminated)
        return StepOutcome(
            reward_terms={"survive": survive},
            terminated=terminated,
            quantities={
                "cart_position": sim.qpos[:, 0].copy(),
                "pole_angle": sim.qpos[:, 1].copy(),
                "cart_velocity": sim.qvel[:, 0].copy(),
                "pole_angular_velocity": sim.qvel[:, 1].copy(),
                "reward_survive": survive,  # Gymnasium's info key
            },
            reward=survive,
        )
