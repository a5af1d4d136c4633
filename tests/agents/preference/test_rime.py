"""RIME's parts on their own: the KL lower bound keeps trustworthy labels, confidently wrong ones flip,
β decays, the warm start fits the entropy target, a fit stops early only after min_epochs."""

from __future__ import annotations

import math

import numpy as np
import torch

from pbrl.agents.preference.options import resolve_preference_options
from pbrl.rewards.rime import KLStats, RIMEEnsemble, label_kl, rime_beta, rime_select


def test_selection_keeps_labels_under_the_bound_and_flips_those_above_minus_ln_tau():
    kl = torch.tensor([0.01, 0.5, 1.0, 2.0, 4.0, 6.0, 7.0, 20.0])
    x_max, var, alpha, beta = 1.0, 0.5, 0.5, 2.0
    bound = -math.log(1.0 + 1e-8) + 0.5 * 1.0 + min(2.0 * 0.5, 3.0)  # = 1.5
    trusted, flipped = rime_select(kl, x_max, var, alpha, beta, flip_tau=0.001)
    assert trusted.tolist() == (kl < bound).tolist() == [True, True, True, False, False, False, False, False]
    assert flipped.tolist() == (kl > -math.log(0.001)).tolist() == [False] * 6 + [True, True]
    # the uncertainty term is capped at 3; at the start (x_max = 0) everything below the flip threshold is trusted
    assert rime_select(kl, 1.0, 100.0, 0.5, 2.0, 0.001)[0].sum() == 4  # bound 0.5 + 3, not 0.5 + 200
    assert rime_select(kl, 0.0, 1.0, 0.5, 2.0, 0.001)[0].tolist() == [True] * 6 + [False] * 2


def test_beta_decays_linearly_over_k_and_the_kl_statistics_are_emas():
    assert rime_beta(0, 3.0, 1.0, 60) == 3.0 and rime_beta(30, 3.0, 1.0, 60) == 2.0
    assert rime_beta(60, 3.0, 1.0, 60) == rime_beta(600, 3.0, 1.0, 60) == 1.0
    stats = KLStats()
    stats.update(torch.tensor([1.0, 3.0]))
    assert np.isclose(stats.mean, 0.2) and np.isclose(stats.max, 0.3)
    assert np.isclose(stats.var, 0.9 * 1.0 + 0.1 * 1.0 + 0.1 * 0.9 * 4.0)
    assert np.isclose(float(label_kl(torch.zeros(2, 1, 2), torch.tensor([1.0]))[0]), math.log(2))


def _pairs(n: int, rng: np.random.Generator):
    """Each pair: one segment of +1 features, one of -1, in random order; the +1 one is preferred."""
    sign = rng.choice([-1.0, 1.0], size=n)
    obs = np.ones((n, 2, 10, 1), np.float32)
    obs[:, 0] *= sign[:, None, None]
    obs[:, 1] *= -sign[:, None, None]
    return obs, np.zeros((n, 2, 10, 1), np.float32), (sign < 0).astype(np.float32)


def test_a_confident_model_flips_exactly_the_wrong_labels_and_trusts_the_rest():
    rng = np.random.default_rng(0)
    obs, act, clean = _pairs(100, rng)
    model = RIMEEnsemble(1, 1, n_members=3, hidden_sizes=(16,), seed=0, lr=3e-2, min_epochs=0)
    model.fit(obs, act, clean, max_epochs=20, target_accuracy=1.1)  # clean labels: the model becomes confident
    assert model.evaluate(obs, act, clean)["accuracy"] == 1.0
    wrong = np.zeros(100, bool)
    wrong[rng.choice(100, 12, replace=False)] = True
    noisy = np.where(wrong, 1.0 - clean, clean)
    model.fit(obs, act, noisy, max_epochs=1, target_accuracy=1.1)
    assert model.last_flipped.numpy().tolist() == wrong.tolist()
    assert not (model.last_trusted.numpy() & wrong).any() and model.last_trusted.numpy()[~wrong].all()
    # trained on the flipped labels, the model stays right about every pair
    assert model.evaluate(obs, act, clean)["accuracy"] == 1.0


def test_warm_start_regresses_the_normalised_entropy_and_fits_stop_only_after_min_epochs():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(256, 2)).astype(np.float32)
    act = np.zeros((256, 1), np.float32)
    entropy = torch.as_tensor(np.abs(obs[:, 0]) + 1.0)
    model = RIMEEnsemble(2, 1, n_members=2, hidden_sizes=(32,), seed=0, lr=3e-3)
    e = entropy.numpy()
    first = model.warm_start(obs, act, entropy, e.min(), e.max(), e.mean(), e.std(), iters=1)
    last = model.warm_start(obs, act, entropy, e.min(), e.max(), e.mean(), e.std(), iters=200)
    assert last < 0.2 * first
    r = model.member_rewards(obs, act).mean(0)
    assert np.corrcoef(r, e)[0, 1] > 0.9
    x, a, y = _pairs(20, rng)
    fit = RIMEEnsemble(1, 1, hidden_sizes=(8,), seed=0, min_epochs=7).fit(x, a, y, max_epochs=50, target_accuracy=0.0)
    assert fit.epochs == 8 and fit.stopped_early


def test_warmup_resolves_from_the_budget():
    opt = resolve_preference_options("sac", {"method": "rime", "queries_per_round": 100}, 1000)
    assert opt["rime_warmup"] == int(10 * 15 / 3 + 0.5) and opt["reset_critic"] is False
    assert resolve_preference_options("sac", {}, 1000)["reset_critic"] is True
