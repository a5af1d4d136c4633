"""dm_control's soft indicator ``tolerance`` and its sigmoids, on numpy arrays of any shape.

The same formulas as ``dm_control/utils/rewards.py`` (the reward shaping of every
DeepMind Control task), written for pbrl's batches: ``x`` is an (N,) or (N, k) array and
the result has its shape. The arithmetic follows dm_control's operation for operation,
so values agree to the last bit (tests/envs/test_dmc_rewards.py checks this on random
inputs for every sigmoid).
"""

from __future__ import annotations

import numpy as np

#: dm_control's default ``value_at_margin``.
DEFAULT_VALUE_AT_MARGIN = 0.1

#: Sigmoids that may reach 0 at the margin (``value_at_margin == 0``); the others need
#: ``0 < value_at_margin < 1``.
BOUNDED_SIGMOIDS = ("cosine", "linear", "quadratic")
SIGMOIDS = ("gaussian", "hyperbolic", "long_tail", "reciprocal", "cosine", "linear", "quadratic", "tanh_squared")


def sigmoids(d: np.ndarray, value_at_1: float, kind: str) -> np.ndarray:
    """A function of the scaled distance ``d`` (>= 0) that is 1 at 0 and ``value_at_1`` at 1."""
    if kind not in SIGMOIDS:
        raise ValueError(f"unknown sigmoid {kind!r}; choose one of {list(SIGMOIDS)}")
    low_ok = 0 <= value_at_1 if kind in BOUNDED_SIGMOIDS else 0 < value_at_1
    if not (low_ok and value_at_1 < 1):
        allowed = "in [0, 1)" if kind in BOUNDED_SIGMOIDS else "in (0, 1)"
        raise ValueError(f"value_at_margin must be {allowed} for the {kind} sigmoid, got {value_at_1!r}")
    if kind == "gaussian":
        return np.exp(-0.5 * (d * np.sqrt(-2 * np.log(value_at_1))) ** 2)
    if kind == "hyperbolic":
        return 1 / np.cosh(d * np.arccosh(1 / value_at_1))
    if kind == "long_tail":
        return 1 / ((d * np.sqrt(1 / value_at_1 - 1)) ** 2 + 1)
    if kind == "reciprocal":
        return 1 / (np.abs(d) * (1 / value_at_1 - 1) + 1)
    if kind == "tanh_squared":
        return 1 - np.tanh(d * np.arctanh(np.sqrt(1 - value_at_1))) ** 2
    # The compact ones: 0 beyond |d·scale| = 1.
    if kind == "cosine":
        scaled = d * (np.arccos(2 * value_at_1 - 1) / np.pi)
        with np.errstate(invalid="ignore"):  # cos of inf, masked out below
            inside = (1 + np.cos(np.pi * scaled)) / 2
    elif kind == "linear":
        scaled = d * (1 - value_at_1)
        inside = 1 - scaled
    else:  # quadratic
        scaled = d * np.sqrt(1 - value_at_1)
        inside = 1 - scaled**2
    return np.where(np.abs(scaled) < 1, inside, 0.0)


def tolerance(
    x,
    bounds: tuple[float, float] = (0.0, 0.0),
    margin: float = 0.0,
    sigmoid: str = "gaussian",
    value_at_margin: float = DEFAULT_VALUE_AT_MARGIN,
) -> np.ndarray:
    """1 where ``bounds[0] <= x <= bounds[1]``, else ``sigmoids((distance to the bound) / margin)``.

    With ``margin == 0`` it is the indicator of the bounds. ``x`` is an array (any shape)
    or a number; the result is a float64 array of ``x``'s shape (dm_control returns a
    Python float for a scalar ``x``; pbrl's tasks always pass batches).
    """
    lower, upper = bounds
    if lower > upper:
        raise ValueError(f"tolerance bounds must have lower <= upper, got {bounds!r}")
    if margin < 0:
        raise ValueError(f"tolerance margin must be >= 0, got {margin!r}")
    x = np.asarray(x, dtype=np.float64)
    in_bounds = (lower <= x) & (x <= upper)
    if margin == 0:
        return np.where(in_bounds, 1.0, 0.0)
    d = np.where(x < lower, lower - x, x - upper) / margin
    return np.where(in_bounds, 1.0, sigmoids(d, value_at_margin, sigmoid))
