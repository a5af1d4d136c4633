"""Scripted rating teachers (RbRL buckets, B-Pref's noise knobs) and rankings from pairwise teachers (LiRE)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pbrl.preferences.segments import SegmentBatch
from pbrl.teachers import RatingTeacher, Teacher, equal_width_bounds, make_teacher, rank_segments


def batch(returns, h=10):
    """Segments whose per-step rewards sum to ``returns`` (spread evenly)."""
    r = np.asarray(returns, dtype=np.float64)
    n = r.size
    return SegmentBatch(np.zeros((n, h, 2), np.float32), np.zeros((n, h, 1), np.float32), np.repeat(r[:, None] / h, h, 1))


def test_noiseless_ratings_are_the_return_buckets():
    t = make_teacher("rating", n_classes=5, bounds=[10, 20, 30, 40])
    ratings = t.rate(batch([0, 9.9, 10.5, 25, 39, 41, 100]))
    assert ratings.values.tolist() == [0, 0, 1, 2, 3, 4, 4]
    assert ratings.provenance.kind == "scripted" and t.params["n_classes"] == 5
    np.testing.assert_allclose(equal_width_bounds(0, 50, 5), [10, 20, 30, 40])  # RbRL's walker table
    np.testing.assert_allclose(RatingTeacher(3, return_range=(0, 50)).bounds, [50 / 3, 100 / 3])


def test_uncalibrated_teacher_uses_quantiles_of_its_first_batch():
    rng = np.random.default_rng(0)
    t = RatingTeacher(4, seed=0)
    ratings = t.rate(batch(rng.normal(size=400)))
    assert np.bincount(ratings.values.astype(int), minlength=4).tolist() == [100] * 4


def test_mistakes_move_one_class_at_the_rate_asked():
    returns = np.linspace(0, 50, 2000)
    truth = RatingTeacher(5, return_range=(0, 50)).rate(batch(returns)).values
    noisy = RatingTeacher(5, eps_mistake=0.2, return_range=(0, 50), seed=1).rate(batch(returns)).values
    moved = noisy != truth
    assert 0.16 < moved.mean() < 0.24
    assert (np.abs(noisy - truth)[moved] == 1).all() and noisy.min() >= 0 and noisy.max() <= 4


def test_beta_makes_ratings_noisier_near_the_bounds():
    returns = np.linspace(0, 50, 2000)
    truth = RatingTeacher(5, return_range=(0, 50)).rate(batch(returns)).values
    wrong = {}
    for beta in (0.5, 5.0):
        wrong[beta] = (RatingTeacher(5, beta=beta, return_range=(0, 50), seed=2).rate(batch(returns)).values != truth).mean()
    assert wrong[0.5] > wrong[5.0] > 0.0 and wrong[0.5] < 0.8


def test_skip_threshold_and_refused_knobs():
    t = RatingTeacher(3, eps_skip=0.5, max_episode_steps=10, return_range=(0, 30), seed=0)
    t.set_recent_returns([20.0] * 10)  # θ_skip = 0.5 · 20 · 10/10 = 10
    ratings = t.rate(batch([5.0, 15.0, 25.0]))
    assert ratings.skipped.tolist() == [True, False, False] and math.isnan(ratings.values[0])
    with pytest.raises(ValueError, match="eps_equal does not apply"):
        make_teacher("rating", preset="equal", max_episode_steps=10)
    with pytest.raises(ValueError, match="2 to 10 classes"):
        RatingTeacher(1)
    with pytest.raises(ValueError, match="4 increasing"):
        RatingTeacher(5, bounds=[1, 2, 2, 3])
    with pytest.raises(TypeError, match="pairwise queries only"):
        make_teacher("oracle").rate(batch([1.0]))


def test_rating_teacher_still_labels_pairs():
    t = make_teacher("rating", n_classes=3)
    labels = t.label(batch([1.0, 5.0]), batch([2.0, 3.0]))
    assert labels.values.tolist() == [1.0, 0.0] and isinstance(t, Teacher)


def test_rankings_with_the_oracle_are_in_true_order_with_log_comparisons():
    rng = np.random.default_rng(3)
    returns = rng.permutation(30).astype(float)
    (ranking,) = rank_segments(make_teacher("oracle"), batch(returns))
    assert ranking.order() == np.argsort(returns).tolist()
    assert ranking.comparisons <= sum(math.ceil(math.log2(g + 1)) for g in range(30))


def test_ranking_budget_starts_new_lists_and_noise_mis_orders():
    returns = np.arange(40, dtype=float)
    lists = rank_segments(make_teacher("oracle"), batch(returns), budget=20)
    assert len(lists) > 1 and sum(len(r.order()) for r in lists) == 40
    assert all(r.comparisons <= 20 + math.ceil(math.log2(41)) for r in lists)
    (noisy,) = rank_segments(make_teacher("mistake", eps_mistake=0.3, seed=0), batch(np.random.default_rng(1).permutation(40).astype(float)))
    assert sorted(noisy.order()) == list(range(40))  # every segment placed once
    with pytest.raises(ValueError, match="budget"):
        rank_segments(make_teacher("oracle"), batch([1.0, 2.0]), budget=0)


def test_equal_labels_group_segments_in_a_ranking():
    t = make_teacher("equal", max_episode_steps=10, eps_equal=0.5)
    t.set_recent_returns([10.0])  # θ_equal = 0.5 · 10 = 5
    (ranking,) = rank_segments(t, batch([0.0, 1.0, 20.0, 21.0]))
    assert sorted(map(sorted, ranking.groups)) == [[0, 1], [2, 3]]
