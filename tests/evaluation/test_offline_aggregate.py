"""pbrl.evaluation.aggregate: rliable's IQM, optimality gap, stratified bootstrap and
probability of improvement, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from pbrl.evaluation.aggregate import (
    aggregate,
    interval_estimate,
    iqm,
    mean,
    optimality_gap,
    probability_of_improvement,
    stratified_bootstrap,
)


def test_iqm_is_the_25_percent_trimmed_mean_of_all_runs_and_tasks():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # drop 1, 2 and 7, 8: mean(3, 4, 5, 6)
    # (runs, tasks) flattened: 2 × 3 scores, int(0.25·6) = 1 dropped at each end
    scores = np.array([[10.0, 0.0, 7.0], [3.0, 100.0, 5.0]])
    assert iqm(scores) == pytest.approx((3 + 5 + 7 + 10) / 4)
    assert iqm([4.0, 1.0, 9.0]) == pytest.approx(14 / 3)  # int(0.75) = 0: nothing dropped


def test_optimality_gap_by_hand():
    assert optimality_gap([50.0, 120.0, 90.0]) == pytest.approx(100 - (50 + 100 + 90) / 3)
    assert optimality_gap([[1.0]], gamma=1.0) == 0.0


def test_probability_of_improvement_by_hand():
    # one task: x = {1, 3}, y = {2, 2}: 3 > 2 twice of 4 pairs
    assert probability_of_improvement([[1.0], [3.0]], [[2.0], [2.0]]) == pytest.approx(0.5)
    assert probability_of_improvement([[2.0]], [[2.0]]) == pytest.approx(0.5)  # a tie counts half
    # two tasks, averaged: task 0 always wins (1), task 1 never (0)
    assert probability_of_improvement([[5.0, 0.0]], [[1.0, 3.0]]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="tasks"):
        probability_of_improvement([[1.0, 2.0]], [[1.0]])


def test_bootstrap_resamples_runs_within_each_task():
    # task 0 scores 0 in every run, task 1 scores 10: any within-task resample has mean 5
    scores = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    samples = stratified_bootstrap(scores, mean, reps=200, seed=0)
    assert np.all(samples == 5.0)
    point, low, high = interval_estimate(scores, mean, reps=200)
    assert point == low == high == 5.0


def test_bootstrap_interval_covers_the_point_and_shrinks_with_more_runs():
    rng = np.random.default_rng(0)
    few = rng.normal(50, 10, size=(3, 4))
    many = rng.normal(50, 10, size=(60, 4))
    p1, lo1, hi1 = interval_estimate(few, iqm, reps=500, seed=1)
    p2, lo2, hi2 = interval_estimate(many, iqm, reps=500, seed=1)
    assert lo1 <= p1 <= hi1 and lo2 <= p2 <= hi2
    assert hi2 - lo2 < hi1 - lo1


def test_aggregate_table_and_bad_input():
    out = aggregate({"a": np.ones((3, 2)) * 40, "b": np.ones((3, 2)) * 80}, reps=50)
    assert out["a"]["iqm"] == (40.0, 40.0, 40.0)
    assert out["b"]["optimality_gap"][0] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="NaN"):
        interval_estimate([[1.0, float("nan")]])
