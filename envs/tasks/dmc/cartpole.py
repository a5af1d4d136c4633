"""DeepMind Control's cart-pole: swing-up, batched."""

from __future__ import annotations

import numpy as np

from ...registry import register_builtin
from .base import DMCTask, dmc_card
from .rewards import tolerance

POLE = 2  # body id of the pole
XZ, ZZ = 2, 8  # entries of a flattened rotation matrix
CART_RANGE = (-0.25, 0.25)
ANGLE_COSINE_RANGE = (0.995, 1.0)


@register_builtin
class CartpoleSwingup(DMCTask):
    """dm_control's cartpole-swingup: swing a hanging pole up and balance it on a moving cart.

    Same model (``dm_control/suite/cartpole.xml``, RK4, one physics step of 0.01 s per
    control step), observation, reward and initial-state distribution as
    ``dm_control.suite.load("cartpole", "swingup")``.

    ## Action space
    ``Box(-1, 1, (1,), float32)``: force on the cart.

    ## Observation space (dm_control's keys in order, flattened)
    | idx | key | observation |
    |-----|-----|-------------|
    | 0 | ``position`` | cart x (m) |
    | 1–2 | ``position`` | pole's zz and xz rotation entries (cos and sin of its angle from upright) |
    | 3–4 | ``velocity`` | qvel: cart (m/s), pole hinge (rad/s) |

    ## Reward
    dm_control's smooth product ``upright · small_control · small_velocity · centered``,
    reported as the one term ``info["reward_terms"]["swingup"]`` (equal to the reward) with
    the factors as named quantities: ``upright = (cos + 1)/2``, ``centered = (1 +
    tolerance(x, margin 2))/2``, ``small_control = (4 + tolerance(u, margin 1, quadratic, 0
    at the margin))/5``, ``small_velocity = (1 + tolerance(pole angular velocity, margin
    5))/2``. In [0, 1] per control step.

    ## Success
    dm_control's own criterion, the reward of its ``swingup_sparse`` task:
    ``info["success"]`` when |cart x| <= 0.25 and the pole's cosine is >= 0.995.

    ## Episode end
    Never terminates; truncated after 1,000 control steps (10 s).

    ## Reset
    As dm_control's swing-up: cart x = 0.01·N(0, 1), pole angle = π + 0.01·N(0, 1)
    (hanging down), qvel = 0.01·N(0, 1) each.

    ## Version history
    * v0 (pbrl 0.1): first version.
    """

    domain = "cartpole"
    n_sub_steps = 1
    data_fields = ("xmat",)
    card = dmc_card(
        "cartpole", "swingup", "Swing the hanging pole up and keep it balanced upright with the cart near the centre, using little force.",
        ("cart_position", "pole_cos", "pole_sin", "cart_velocity", "pole_angular_velocity"),
        {
            "cart_position": "cart x (m), 0 at the centre of the rail",
            "pole_cos": "cosine of the pole's angle from upright",
            "pole_angular_velocity": "pole's angular velocity (rad/s)",
            "upright": "(pole_cos + 1) / 2",
            "centered": "(1 + tolerance(cart_position, margin 2)) / 2",
            "small_control": "(4 + tolerance(force, margin 1, quadratic, 0 at the margin)) / 5",
            "small_velocity": "(1 + tolerance(pole_angular_velocity, margin 5)) / 2",
        },
        "dm_control's cartpole-swingup reward: upright * small_control * small_velocity * centered, in [0, 1]",
        success="the pole is upright (cosine >= 0.995) with the cart within 0.25 m of the centre at the step (dm_control's swingup_sparse reward)",
    )

    def initial_state(self, rng, qpos, qvel):
        qpos[0] = 0.01 * rng.standard_normal()
        qpos[1] = np.pi + 0.01 * rng.standard_normal()
        qvel = 0.01 * rng.standard_normal(qvel.size)
        return qpos, qvel

    def observe(self, sim):
        pole = sim.field("xmat")[:, POLE]
        return np.concatenate([sim.qpos[:, :1], pole[:, [ZZ, XZ]], sim.qvel], axis=1)

    def reward(self, sim):
        x = sim.qpos[:, 0].copy()
        cos = sim.field("xmat")[:, POLE, ZZ].copy()
        angular = sim.qvel[:, 1].copy()
        upright = (cos + 1) / 2
        centered = (1 + tolerance(x, margin=2)) / 2
        small_control = (4 + tolerance(sim.ctrl[:, 0], margin=1, value_at_margin=0, sigmoid="quadratic")) / 5
        small_velocity = (1 + tolerance(angular, margin=5)) / 2
        reward = upright * small_control * small_velocity * centered
        return reward, {
            "cart_position": x, "pole_cos": cos, "pole_angular_velocity": angular,
            "upright": upright, "centered": centered, "small_control": small_control, "small_velocity": small_velocity,
        }

    def success(self, sim, quantities):
        x, cos = quantities["cart_position"], quantities["pole_cos"]
        return (tolerance(x, CART_RANGE) * tolerance(cos, ANGLE_COSINE_RANGE)) == 1.0
