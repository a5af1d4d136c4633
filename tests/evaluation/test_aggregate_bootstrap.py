"""The vectorised stratified bootstrap of ``pbrl.evaluation.aggregate`` against a slow reference loop."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from pbrl.evaluation import aggregate as agg
from repo_support import load_benchmark


def _reference_bootstrap(scores, statistic, reps, seed):
    """The per-repetition loop the vectorised code replaced: one resample of each task at a time."""
    rng = np.random.default_rng(seed)
    strata = agg._strata(scores)
    ragged = isinstance(scores, dict)
    out = np.empty(reps)
    for r in range(reps):
        drawn = [s[rng.integers(0, s.size, size=s.size)] for s in strata]
        out[r] = statistic(np.concatenate(drawn) if ragged else np.column_stack(drawn))
    return out


def _reference_poi(x, y, reps, seed):
    rng = np.random.default_rng(seed)
    a, b = agg._strata(x), agg._strata(y)
    out = np.empty(reps)
    for r in range(reps):
        xs = [s[rng.integers(0, s.size, size=s.size)] for s in a]
        ys = [s[rng.integers(0, s.size, size=s.size)] for s in b]
        out[r] = agg._poi(xs, ys)
    return out


def _interval(samples):
    return np.percentile(samples, [2.5, 97.5])


@pytest.fixture
def scores():
    rng = np.random.default_rng(3)
    return rng.normal([40.0, 60.0, 80.0], 15.0, size=(8, 3))


def test_default_reps_is_rliables():
    assert agg.DEFAULT_REPS == 50_000
    for fn in (agg.stratified_bootstrap, agg.interval_estimate, agg.probability_of_improvement_interval, agg.aggregate):
        assert fn.__defaults__ is not None and agg.DEFAULT_REPS in fn.__defaults__


@pytest.mark.parametrize("name", ["iqm", "mean", "median", "optimality_gap"])
def test_point_estimate_is_the_statistic_of_the_scores(scores, name):
    statistic = agg.STATISTICS[name]
    assert agg.interval_estimate(scores, statistic, reps=100)[0] == pytest.approx(statistic(scores))
    ragged = {"a": scores[:, 0], "b": scores[:5, 1]}
    flat = np.concatenate([scores[:, 0], scores[:5, 1]])
    assert agg.interval_estimate(ragged, statistic, reps=100)[0] == pytest.approx(statistic(flat))


@pytest.mark.parametrize("name", ["iqm", "mean", "median", "optimality_gap"])
def test_vectorised_path_equals_the_per_resample_path_on_the_same_draws(scores, name):
    # the same statistic, once known (vectorised) and once as an opaque callable (called per resample)
    statistic = agg.STATISTICS[name]

    def opaque(s):
        return statistic(s)

    for data in (scores, {"a": scores[:, 0], "b": scores[:3, 1]}):
        fast = agg.stratified_bootstrap(data, statistic, reps=3000, seed=5)
        slow = agg.stratified_bootstrap(data, opaque, reps=3000, seed=5)
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)


def test_optimality_gap_with_a_threshold_is_vectorised_too(scores):
    slow = agg.stratified_bootstrap(scores, lambda s: agg.optimality_gap(s, 50.0), reps=2000, seed=1)
    for statistic in (agg.optimality_gap_at(50.0), functools.partial(agg.optimality_gap, gamma=50.0)):
        assert agg._batched(statistic) is not None
        np.testing.assert_allclose(agg.stratified_bootstrap(scores, statistic, reps=2000, seed=1), slow, atol=1e-12)
    assert agg.optimality_gap_at(50.0)(scores) == agg.optimality_gap(scores, 50.0)


@pytest.mark.parametrize("name", ["iqm", "mean", "optimality_gap"])
def test_interval_agrees_with_the_slow_reference_loop_within_monte_carlo_error(scores, name):
    statistic = agg.STATISTICS[name]
    reps = 20_000
    fast = agg.stratified_bootstrap(scores, statistic, reps=reps, seed=11)
    slow = _reference_bootstrap(scores, statistic, reps, seed=12)
    width = np.ptp(_interval(slow))
    # the ends of two independent 20 000-rep intervals differ by a few % of the width at most
    np.testing.assert_allclose(_interval(fast), _interval(slow), atol=0.05 * width)
    assert fast.mean() == pytest.approx(slow.mean(), abs=0.02 * width)
    assert fast.std() == pytest.approx(slow.std(), rel=0.05)


def test_ragged_interval_agrees_with_the_slow_reference_loop(scores):
    ragged = {"a": scores[:, 0], "b": scores[:4, 1], "c": scores[:6, 2]}
    fast = agg.stratified_bootstrap(ragged, agg.iqm, reps=20_000, seed=2)
    slow = _reference_bootstrap(ragged, agg.iqm, 20_000, seed=3)
    np.testing.assert_allclose(_interval(fast), _interval(slow), atol=0.05 * np.ptp(_interval(slow)))


def test_probability_of_improvement_interval_agrees_with_the_slow_reference_loop(scores):
    rng = np.random.default_rng(4)
    other = scores - 8.0 + rng.normal(0, 5, size=scores.shape)
    point, low, high = agg.probability_of_improvement_interval(scores, other, reps=20_000, seed=6)
    assert point == pytest.approx(agg.probability_of_improvement(scores, other))
    slow = _interval(_reference_poi(scores, other, 10_000, seed=7))
    np.testing.assert_allclose([low, high], slow, atol=0.05 * np.ptp(slow))
    # ragged, different run counts on each side
    x = {"a": scores[:, 0], "b": scores[:3, 1]}
    y = {"a": other[:5, 0], "b": other[:, 1]}
    point, low, high = agg.probability_of_improvement_interval(x, y, reps=20_000, seed=8)
    assert point == pytest.approx(agg.probability_of_improvement(x, y))
    slow = _interval(_reference_poi(x, y, 10_000, seed=9))
    np.testing.assert_allclose([low, high], slow, atol=0.05 * np.ptp(slow))


def test_probability_of_improvement_of_identical_groups_is_about_half(scores):
    point, low, high = agg.probability_of_improvement_interval(scores, scores.copy(), reps=20_000, seed=0)
    assert point == 0.5
    assert low < 0.5 < high
    assert (low + high) / 2 == pytest.approx(0.5, abs=0.02)  # symmetric: X and Y are exchangeable


def test_one_run_gives_a_zero_width_interval():
    assert agg.interval_estimate([[70.0]], agg.iqm, reps=1000) == (70.0, 70.0, 70.0)
    assert agg.interval_estimate({"a": [70.0], "b": [30.0]}, agg.mean, reps=1000) == (50.0, 50.0, 50.0)
    assert agg.probability_of_improvement_interval([[2.0]], [[1.0]], reps=1000) == (1.0, 1.0, 1.0)
    assert agg.probability_of_improvement_interval([[1.0]], [[1.0]], reps=1000) == (0.5, 0.5, 0.5)


def test_ties_count_half_in_every_resample():
    x = np.array([[1.0], [2.0], [2.0], [3.0]])
    samples_point, low, high = agg.probability_of_improvement_interval(x, x.copy(), reps=5000, seed=0)
    assert samples_point == 0.5 and 0.0 < low < 0.5 < high < 1.0
    tied = np.full((5, 2), 4.0)
    assert agg.interval_estimate(tied, agg.iqm, reps=500) == (4.0, 4.0, 4.0)
    assert agg.probability_of_improvement_interval(tied, tied, reps=500) == (0.5, 0.5, 0.5)


def test_reps_that_span_several_chunks(monkeypatch, scores):
    whole = agg.stratified_bootstrap(scores, agg.iqm, reps=1000, seed=0)
    monkeypatch.setattr(agg, "_CHUNK_VALUES", 100)  # 4 repetitions of 24 scores per chunk
    chunked = agg.stratified_bootstrap(scores, agg.iqm, reps=1001, seed=0)
    assert chunked.shape == (1001,) and np.isfinite(chunked).all()
    np.testing.assert_allclose(np.percentile(chunked, [2.5, 97.5]), np.percentile(whole, [2.5, 97.5]), atol=0.15 * np.ptp(whole))
    p = agg.probability_of_improvement_interval(scores, scores - 5, reps=1001, seed=0)
    assert 0.0 <= p[1] <= p[0] <= p[2] <= 1.0


def test_same_seed_same_interval(scores):
    assert agg.interval_estimate(scores, agg.iqm, reps=4000, seed=3) == agg.interval_estimate(scores, agg.iqm, reps=4000, seed=3)
    gen = np.random.default_rng(1)
    assert agg.stratified_bootstrap(scores, agg.iqm, reps=10, seed=gen).shape == (10,)


def test_bootstrap_reps_benchmark_quick(tmp_path, capsys):
    import json

    bench = load_benchmark("bootstrap_reps")
    out = tmp_path / "reps.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r["reps"] for r in data["rows"]} == {1000, 5000} and {r["statistic"] for r in data["rows"]} == {"iqm", "poi"}
    assert all(r["width"] > 0 and r["low_std_pct_width"] >= 0 for r in data["rows"])
    assert "worst end std" in capsys.readouterr().out
