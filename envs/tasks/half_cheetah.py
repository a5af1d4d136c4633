"""HalfCheetah, batched; identical to Gymnasium's ``HalfCheetah-v5`` by default."""

from __future__ import annotations

import numpy as np

from ..card import RewardTerm, TaskCard
from ..registry import register_builtin
from ..task import StepOutcome, Task, check_kwargs, number, sum_of_squares, weight
from ._common import camera_config, flag, gymnasium_asset, planar_structure

_DEFAULTS = dict(
    xml_file="half_cheetah.xml",
    frame_skip=5,
    default_camera_config={"distance": 4.0},
    forward_reward_weight=1.0,
    ctrl_cost_weight=0.1,
    reset_noise_scale=0.1,
    exclude_current_positions_from_observation=True,
)

_JOINTS = ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"]


@register_builtin
class HalfCheetah(Task):
    """A 2-D cheetah (9 links, 6 hinge joints) that should run forward fast.

    Same model, dynamics, observation, reward and reset as Gymnasium's
    ``HalfCheetah-v5`` (``half_cheetah.xml``, frame_skip 5, dt 0.05 s).

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
        observation_labels=tuple(
            ["rootz", "rooty"] + [f"{j}_angle" for j in _JOINTS]
            + ["rootx_vel", "rootz_vel", "rooty_angvel"] + [f"{j}_angvel" for j in _JOINTS]
        ),
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
    default_camera = {"distance": 4.0}

    def __init__(self, **kwargs):
        o = check_kwargs(self.card.id, kwargs, _DEFAULTS)
        self.xml_file = gymnasium_asset(o["xml_file"])
        self.frame_skip = int(number("frame_skip", o["frame_skip"], positive=True))
        self.forward_reward_weight = weight("forward_reward_weight", o["forward_reward_weight"])
        self.ctrl_cost_weight = weight("ctrl_cost_weight", o["ctrl_cost_weight"])
        self.reset_noise_scale = number("reset_noise_scale", o["reset_noise_scale"], nonnegative=True)
        self.exclude_x = flag(
            "exclude_current_positions_from_observation", o["exclude_current_positions_from_observation"]
        )
        self.default_camera = camera_config(o["default_camera_config"])

    @property
    def observation_dim(self) -> int:
        return 17 if self.exclude_x else 18

    @property
    def observation_structure(self) -> dict[str, int]:
        """Gymnasium's ``observation_structure`` (HalfCheetah-v5)."""
        return planar_structure(self, 1, self.exclude_x)

    def reset_state(self, rng, init_qpos, init_qvel):
        s = self.reset_noise_scale
        qpos = init_qpos + rng.uniform(low=-s, high=s, size=init_qpos.size)
        qvel = init_qvel + s * rng.standard_normal(init_qvel.size)
        return qpos, qvel

    def before_step(self, sim):
        return {"x": sim.qpos[:, 0].copy()}

    def observe(self, sim):
        start = 1 if self.exclude_x else 0
        return np.concatenate([sim.qpos[:, start:], sim.qvel], axis=1)

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
