"""Meta-World v3's reward helpers, vectorised over the batch (numpy, first axis N).

The same arithmetic as ``metaworld.utils.reward_utils`` (a port of dm_control's
``rewards.tolerance``) and ``SawyerXYZEnv._gripper_caging_reward``, element-wise on
(N,) arrays, so that each sub-env's value is the one Meta-World computes for it.
"""

from __future__ import annotations

import numpy as np

from ...task import row_norms

#: value of a sigmoid at distance ``margin`` outside the bounds (dm_control's default)
VALUE_AT_MARGIN = 0.1


def _sigmoid(x: np.ndarray, value_at_1: float, sigmoid: str) -> np.ndarray:
    """The sigmoids Meta-World's v3 rewards use: 1 at 0, ``value_at_1`` at 1."""
    if not 0 < value_at_1 < 1:
        raise ValueError(f"value_at_1 must be strictly between 0 and 1, got {value_at_1}")
    if sigmoid == "gaussian":
        scale = np.sqrt(-2 * np.log(value_at_1))
        return np.exp(-0.5 * (x * scale) ** 2)
    if sigmoid == "long_tail":
        scale = np.sqrt(1 / value_at_1 - 1)
        return 1 / ((x * scale) ** 2 + 1)
    if sigmoid == "reciprocal":
        scale = 1 / value_at_1 - 1
        return 1 / (abs(x) * scale + 1)
    if sigmoid == "hyperbolic":
        scale = np.arccosh(1 / value_at_1)
        return 1 / np.cosh(x * scale)
    if sigmoid == "tanh_squared":
        scale = np.arctanh(np.sqrt(1 - value_at_1))
        return 1 - np.tanh(x * scale) ** 2
    raise ValueError(f"unknown sigmoid {sigmoid!r}; expected gaussian, long_tail, reciprocal, hyperbolic or tanh_squared")


def tolerance(x, bounds=(0.0, 0.0), margin=0.0, sigmoid: str = "gaussian", value_at_margin: float = VALUE_AT_MARGIN) -> np.ndarray:
    """1 where ``x`` lies in ``bounds``, falling off as ``sigmoid`` outside; (N,).

    ``margin`` may be a scalar or one value per sub-env; where it is 0 the value
    outside the bounds is 0, as Meta-World's ``tolerance``.
    """
    lower, upper = bounds
    if lower > upper:
        raise ValueError("lower bound must be <= upper bound")
    x = np.asarray(x, dtype=np.float64)
    margin = np.asarray(margin, dtype=np.float64)
    if np.any(margin < 0):
        raise ValueError(f"margin must be non-negative, got {margin}")
    in_bounds = (lower <= x) & (x <= upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(x < lower, lower - x, x - upper) / margin
        outside = np.where(margin == 0, 0.0, _sigmoid(d, value_at_margin, sigmoid))
    return np.where(in_bounds, 1.0, outside)


def hamacher_product(a, b) -> np.ndarray:
    """The Hamacher t-norm ``a·b / (a + b − a·b)``, 0 where the denominator is 0; (N,).

    Both factors must lie in [0, 1] (a ValueError otherwise, as Meta-World's). Computed
    in the factors' float type (float32 factors give Meta-World's float32 values where
    it multiplies a float32 action term).
    """
    a, b = _floats(a), _floats(b)
    if not (np.all((0.0 <= a) & (a <= 1.0)) and np.all((0.0 <= b) & (b <= 1.0))):
        raise ValueError(f"a ({a}) and b ({b}) must range between 0 and 1")
    denominator = a + b - (a * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (a * b) / denominator, 0.0)


def _floats(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def gripper_caging_reward(
    action: np.ndarray,
    obj_pos: np.ndarray,
    obj_init_pos: np.ndarray,
    tcp: np.ndarray,
    init_tcp: np.ndarray,
    left_pad: np.ndarray,
    right_pad: np.ndarray,
    *,
    obj_radius: float,
    pad_success_thresh: float,
    object_reach_radius: float,
    xz_thresh: float,
    desired_gripper_effort: float = 1.0,
    high_density: bool = False,
    medium_density: bool = False,
) -> np.ndarray:
    """``SawyerXYZEnv._gripper_caging_reward``, (N,): how well the pads cage the object.

    Args are (N, 3) positions (``left_pad``/``right_pad``: the pads' body positions,
    ``tcp``: the centre between the fingertips, ``init_tcp`` (3,) or (N, 3) after the
    hand reset) and the (N, 4) action; keyword arguments as Meta-World's.
    """
    if high_density and medium_density:
        raise ValueError("can only be either high_density or medium_density")
    action = np.asarray(action)
    caging_lr = []
    for pad in (left_pad, right_pad):
        pad_y = pad[:, 1]
        margin = np.abs(np.abs(pad_y - obj_init_pos[:, 1]) - pad_success_thresh)
        caging_lr.append(tolerance(np.abs(pad_y - obj_pos[:, 1]), (obj_radius, pad_success_thresh), margin, "long_tail"))
    caging_y = hamacher_product(*caging_lr)
    init_tcp = np.broadcast_to(init_tcp, tcp.shape)
    xz = [0, 2]
    caging_xz_margin = row_norms(obj_init_pos[:, xz] - init_tcp[:, xz]) - xz_thresh
    caging_xz = tolerance(row_norms(tcp[:, xz] - obj_pos[:, xz]), (0, xz_thresh), caging_xz_margin, "long_tail")
    gripper_closed = np.minimum(np.maximum(0, action[:, -1]), desired_gripper_effort) / desired_gripper_effort
    caging = hamacher_product(caging_y, caging_xz)
    gripping = np.where(caging > 0.97, gripper_closed, 0.0)
    caging_and_gripping = hamacher_product(caging, gripping)
    if high_density:
        caging_and_gripping = (caging_and_gripping + caging) / 2
    if medium_density:
        reach_margin = np.abs(row_norms(obj_init_pos - init_tcp) - object_reach_radius)
        reach = tolerance(row_norms(obj_pos - tcp), (0, object_reach_radius), reach_margin, "long_tail")
        caging_and_gripping = (caging_and_gripping + reach) / 2
    return caging_and_gripping
