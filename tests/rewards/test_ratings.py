"""RbRL's rating loss and reward learning from ratings (alone and mixed with pairs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pbrl.rewards.ratings import RatingRewardEnsemble, batch_bounds, classes_from_scores, rating_logits, rating_loss


def _problem(n: int, seed: int, h: int = 8, obs_dim: int = 4, act_dim: int = 2, n_classes: int = 4):
    """Segments whose true reward is a fixed linear function of (obs, action); ratings = quantile bucket of the return."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, h, obs_dim)).astype(np.float32) + rng.normal(size=(n, 1, obs_dim)).astype(np.float32)
    act = rng.uniform(-1, 1, size=(n, h, act_dim)).astype(np.float32)
    w = np.array([1.0, -0.5, 0.25, 0.0])
    returns = (obs @ w).sum(1) + 0.3 * act[..., 0].sum(1)
    cuts = np.quantile(returns, np.arange(1, n_classes) / n_classes)
    return obs, act, returns, np.searchsorted(cuts, returns, side="right")


def test_logits_favour_the_bucket_a_score_is_in():
    scores = torch.arange(9.0)
    ratings = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    bounds = batch_bounds(scores / 8.0, ratings, 3)
    # RbRL: class c+1 begins at the sorted score at the cumulative count of classes 0..c
    torch.testing.assert_close(bounds, torch.tensor([0.0, 3 / 8, 6 / 8, 1.0]))
    logits = rating_logits(scores, ratings, 3)
    inside = [1, 2, 4, 5, 7, 8]  # 0, 3 and 6 sit on a bound (a tie of two classes)
    assert logits[inside].argmax(-1).tolist() == ratings[inside].tolist()


def test_gradient_raises_a_top_rated_segment_scored_low():
    scores = torch.tensor([3.0, 1.0, 2.0, 0.5, 4.0, 5.0], requires_grad=True)
    ratings = torch.tensor([0, 0, 1, 2, 2, 2])  # segment 3 is rated best but scored lowest
    rating_loss(scores, ratings, 3).backward()
    assert scores.grad[3] < 0  # gradient descent raises its score
    assert scores.grad[0] > 0  # and lowers the worst-rated segment scored high


def test_loss_is_lower_when_scores_agree_with_ratings():
    ratings = torch.tensor([0, 1, 2, 3] * 4)
    good = ratings.float() + 0.01 * torch.arange(16)
    bad = -good
    assert rating_loss(good, ratings, 4) < rating_loss(bad, ratings, 4)
    with pytest.raises(ValueError, match="reduction"):
        rating_loss(good, ratings, 4, reduction="max")


def test_learns_from_ratings_alone_above_chance():
    obs, act, returns, ratings = _problem(400, seed=0)
    model = RatingRewardEnsemble(4, 2, n_members=2, hidden_sizes=(32, 32), lr=3e-3, batch_size=64, seed=0)
    result = model.fit_ratings(obs, act, ratings, 4, max_epochs=40)
    assert result.n_ratings == 400 and np.isnan(result.pair_loss)
    t_obs, t_act, t_returns, t_ratings = _problem(200, seed=1)
    scores = model.segment_scores(t_obs, t_act).mean(0)
    predicted = classes_from_scores(scores, np.bincount(ratings, minlength=4))
    accuracy = float((predicted == t_ratings).mean())
    assert accuracy > 0.45, accuracy  # chance: 0.25
    assert np.corrcoef(scores, t_returns)[0, 1] > 0.7


def test_learns_from_ratings_mixed_with_pairs():
    obs, act, returns, ratings = _problem(120, seed=2)
    p_obs, p_act, p_returns, _ = _problem(200, seed=3)
    first, second = np.arange(0, 200, 2), np.arange(1, 200, 2)
    labels = (p_returns[second] > p_returns[first]).astype(np.float64)
    pairs = (np.stack([p_obs[first], p_obs[second]], 1), np.stack([p_act[first], p_act[second]], 1), labels)
    model = RatingRewardEnsemble(4, 2, n_members=2, hidden_sizes=(32, 32), lr=3e-3, batch_size=64, seed=0)
    result = model.fit_ratings(obs, act, ratings, 4, pairs=pairs, max_epochs=40)
    assert result.n_pairs == 100 and np.isfinite(result.pair_loss)
    t_obs, t_act, t_returns, _ = _problem(200, seed=4)
    assert np.corrcoef(model.segment_scores(t_obs, t_act).mean(0), t_returns)[0, 1] > 0.7
    # the pair API is the ensemble's: pair accuracy above chance by a margin
    tf, ts = np.arange(0, 200, 2), np.arange(1, 200, 2)
    p = model.predict_proba(np.stack([t_obs[tf], t_obs[ts]], 1), np.stack([t_act[tf], t_act[ts]], 1)).mean(0)
    assert ((p > 0.5) == (t_returns[ts] > t_returns[tf])).mean() > 0.75


def test_bad_ratings_are_refused_before_training():
    obs, act, _, ratings = _problem(20, seed=5)
    model = RatingRewardEnsemble(4, 2, n_members=1, hidden_sizes=(8,), seed=0)
    before = [p.detach().clone() for p in model.net.parameters()]
    with pytest.raises(ValueError, match="0..3"):
        model.fit_ratings(obs, act, np.where(np.arange(20) == 3, 4, ratings), 4, max_epochs=1)
    with pytest.raises(ValueError, match="0..3"):
        model.fit_ratings(obs, act, ratings + 0.5, 4, max_epochs=1)
    with pytest.raises(ValueError, match="2 to 10 classes"):
        model.fit_ratings(obs, act, ratings, 1, max_epochs=1)
    with pytest.raises(ValueError, match="20 rated segments but 19"):
        model.fit_ratings(obs, act, ratings[:19], 4, max_epochs=1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.net.parameters()))
