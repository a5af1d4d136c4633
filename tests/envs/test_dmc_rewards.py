"""pbrl's vectorised ``tolerance`` equals dm_control's ``rewards.tolerance`` on random inputs."""

import numpy as np
import pytest

from pbrl.envs.tasks.dmc.rewards import SIGMOIDS, tolerance

rewards = pytest.importorskip("dm_control.utils.rewards")

CASES = [  # (bounds, margin)
    ((0.0, 0.0), 1.0),
    ((1.2, float("inf")), 0.6),
    ((-0.25, 0.25), 2.0),
    ((float("-inf"), 0.5), 0.3),
    ((0.6, 2.0), 0.0),
    ((-1.0, 1.0), 0.0),
]


@pytest.mark.parametrize("sigmoid", SIGMOIDS)
@pytest.mark.parametrize("bounds,margin", CASES)
def test_tolerance_matches_dm_control(sigmoid, bounds, margin):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 3, 500), rng.uniform(-20, 20, 500), [bounds[0], bounds[1], 0.0, np.inf, -np.inf]])
    x = x[np.isfinite(x) | (margin == 0)]
    values = [0.0, 0.1, 0.5, 0.9] if sigmoid in ("cosine", "linear", "quadratic") else [0.1, 0.5, 0.9]
    for v in values:
        ours = tolerance(x, bounds=bounds, margin=margin, sigmoid=sigmoid, value_at_margin=v)
        theirs = rewards.tolerance(x, bounds=bounds, margin=margin, sigmoid=sigmoid, value_at_margin=v)
        np.testing.assert_array_equal(ours, theirs)
        assert ours.dtype == np.float64 and ((0 <= ours) & (ours <= 1)).all()


def test_tolerance_keeps_the_batch_shape():
    x = np.linspace(-3, 3, 12).reshape(4, 3)
    out = tolerance(x, margin=1, sigmoid="quadratic", value_at_margin=0)
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(out, rewards.tolerance(x, margin=1, sigmoid="quadratic", value_at_margin=0))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"bounds": (1.0, 0.0)}, "lower <= upper"),
        ({"margin": -1.0}, "margin must be >= 0"),
        ({"margin": 1.0, "sigmoid": "sigmoidal"}, "unknown sigmoid 'sigmoidal'"),
        ({"margin": 1.0, "sigmoid": "gaussian", "value_at_margin": 0.0}, r"value_at_margin must be in \(0, 1\)"),
        ({"margin": 1.0, "sigmoid": "linear", "value_at_margin": 1.0}, r"value_at_margin must be in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tolerance(np.zeros(3) + 5, **kwargs)
