"""RIME's selection state survives a checkpoint: the KL statistics, the epochs that drive β_t and the
learning-rate warm-up, and the knobs — through state_dicts (the loop's resume, torch.load(weights_only=True))
and through pbrl.rewards.persist (save / RIMEEnsemble.load)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from pbrl.rewards import load_reward_model
from pbrl.rewards.rime import RIMEEnsemble, rime_beta

KNOBS = dict(alpha=0.3, beta_init=2.5, beta_min=0.5, beta_k=10, flip_tau=0.01, min_epochs=2, warmup=20)


def _noisy_pairs(n: int = 80, seed: int = 0):
    """Pairs preferred by their first feature's sum, 25 % of the labels flipped."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 2, 10, 3)).astype(np.float32)
    act = np.zeros((n, 2, 10, 1), np.float32)
    true = (obs[:, 1, :, 0].sum(-1) > obs[:, 0, :, 0].sum(-1)).astype(np.float32)
    return obs, act, np.where(rng.random(n) < 0.25, 1.0 - true, true)


def _model(seed: int = 0, **knobs) -> RIMEEnsemble:
    return RIMEEnsemble(3, 1, n_members=3, hidden_sizes=(16,), lr=1e-2, seed=seed, **(knobs or KNOBS))


def _through_torch(states):
    """As the agent's checkpoint stores them: torch.save, read back with weights_only=True."""
    buf = io.BytesIO()
    torch.save(states, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_a_resumed_model_selects_with_the_same_thresholds_and_schedule():
    obs, act, y = _noisy_pairs()
    first = _model()
    first.fit(obs, act, y, max_epochs=12, target_accuracy=1.1)
    assert first.kl_stats.max > 0 and first.epochs_trained == 12  # the bound has tightened from its start
    resumed, fresh = _model(seed=5), _model(seed=5)
    states = _through_torch(first.state_dicts())
    resumed.load_state_dicts(states)
    fresh.load_state_dicts({k: v for k, v in states.items() if k != "rime"})  # the weights alone
    assert resumed.kl_stats.state() == first.kl_stats.state() and resumed.epochs_trained == 12
    assert rime_beta(resumed.epochs_trained, 2.5, 0.5, 10) == 0.5 != rime_beta(fresh.epochs_trained, 2.5, 0.5, 10)
    for model in (first, resumed, fresh):
        model.fit(obs, act, y, max_epochs=1, target_accuracy=1.1)
    # the same labels trusted and flipped as the uninterrupted model; the weights alone trust more
    assert torch.equal(resumed.last_trusted, first.last_trusted) and torch.equal(resumed.last_flipped, first.last_flipped)
    assert int(fresh.last_trusted.sum()) > int(first.last_trusted.sum())
    # the warm-up goes on where it was: epoch 13 of 20 at 12/20 of the learning rate, not 0
    lr = [g["lr"] for g in first.optimizer.param_groups] + [g["lr"] for g in resumed.optimizer.param_groups]
    assert np.allclose(lr, 1e-2 * 12 / 20) and fresh.optimizer.param_groups[0]["lr"] == 0.0
    assert resumed.kl_stats.state() == pytest.approx(first.kl_stats.state())


def test_save_and_load_keep_the_selection_state_and_the_knobs(tmp_path):
    obs, act, y = _noisy_pairs()
    model = _model()
    model.fit(obs, act, y, max_epochs=6, target_accuracy=1.1)
    model.save(str(tmp_path / "rm"))
    back = RIMEEnsemble.load(str(tmp_path / "rm"))
    assert isinstance(back, RIMEEnsemble)
    assert back.kl_stats.state() == model.kl_stats.state() and back.epochs_trained == 6
    assert {k: getattr(back, k) for k in KNOBS} == KNOBS  # not the constructor's defaults
    assert isinstance(back.beta_k, int) and isinstance(back.alpha, float)
    # any-model loading still works (the plain ensemble: the same reward function)
    x, a = obs[:, 0].reshape(-1, 3), act[:, 0].reshape(-1, 1)
    assert np.allclose(load_reward_model(str(tmp_path / "rm")).reward(x, a), model.reward(x, a))
    back.fit(obs, act, y, max_epochs=1, target_accuracy=1.1)
    model.fit(obs, act, y, max_epochs=1, target_accuracy=1.1)
    assert torch.equal(back.last_trusted, model.last_trusted)


def test_older_and_malformed_rime_states():
    obs, act, y = _noisy_pairs(40)
    model = _model()
    model.fit(obs, act, y, max_epochs=3, target_accuracy=1.1)
    states = model.state_dicts()
    # saved before the knobs were: the stats load, this model's knobs stay
    old = dict(states, rime={k: v for k, v in states["rime"].items() if k != "config"})
    other = _model(seed=1, **dict(KNOBS, alpha=0.9))
    other.load_state_dicts(old)
    assert other.alpha == 0.9 and other.epochs_trained == 3 and other.kl_stats.state() == model.kl_stats.state()
    for bad, match in (
        ({"mean": 0.0, "var": 1.0, "max": 0.0}, "malformed"),
        ({"mean": float("nan"), "var": 1.0, "max": 0.0, "epochs_trained": 1}, "not finite"),
        ({"mean": 0.0, "var": -1.0, "max": 0.0, "epochs_trained": 1}, "negative variance"),
        ({"mean": 0.0, "var": 1.0, "max": 0.0, "epochs_trained": 1.5}, "epochs_trained"),
        ({"mean": 0.0, "var": 1.0, "max": 0.0, "epochs_trained": 1, "config": {"gamma": 1}}, "unknown knobs"),
    ):
        target = _model(seed=2)
        before = [p.detach().clone() for p in target.net.parameters()]
        with pytest.raises(ValueError, match=match):
            target.load_state_dicts(dict(states, rime=bad))
        # refused before anything was loaded
        assert all(torch.equal(p, q) for p, q in zip(before, target.net.parameters())) and target.epochs_trained == 0
