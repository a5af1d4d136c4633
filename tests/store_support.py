"""Random segment batches and batch equality for the preference-store tests (and the label CLI's)."""

from __future__ import annotations

import numpy as np

from pbrl.preferences.labels import Provenance
from pbrl.preferences.segments import SegmentBatch

PROV = Provenance("scripted", {"preset": "oracle"})


def segments(n, h=6, obs_dim=3, act_dim=2, seed=0, source="run-a"):
    rng = np.random.default_rng(seed)
    return SegmentBatch(
        rng.normal(size=(n, h, obs_dim)).astype(np.float32),
        rng.uniform(-1, 1, size=(n, h, act_dim)).astype(np.float32),
        rng.normal(size=(n, h)),
        terms={"forward": rng.normal(size=(n, h)), "ctrl": -rng.uniform(size=(n, h))},
        mask=rng.uniform(size=(n, h)) < 0.9,
        extras={"x_velocity": rng.normal(size=(n, h)), "qpos": rng.normal(size=(n, h, 4))},
        origin_kind="run",
        source_id=source,
        episode=rng.integers(0, 100, n),
        start=rng.integers(0, 50, n),
    )


def assert_same(a: SegmentBatch, b: SegmentBatch):
    """Equal arrays, dtypes, origins, terms and extras."""
    for name in ("obs", "actions", "rewards", "mask", "origin_kind", "source_id", "episode", "start"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert list(a.terms) == list(b.terms) and list(a.extras) == list(b.extras)
    for k in a.terms:
        np.testing.assert_array_equal(a.terms[k], b.terms[k])
    for k in a.extras:
        np.testing.assert_array_equal(a.extras[k], b.extras[k])
