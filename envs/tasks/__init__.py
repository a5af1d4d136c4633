"""pbrl's built-in tasks: batched ports of Gymnasium's MuJoCo v5 environments."""

from . import half_cheetah  # noqa: F401  (registers pbrl/HalfCheetah-v5)
