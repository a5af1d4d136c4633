"""RUNE's parts on their own: the bonus is β_t · std of the members' rewards, β_t = β_0 (1 - ρ)^t."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer

from pbrl.agents.preference.rune import RUNERewardSource, rune_beta, rune_bonus, rune_reward
from pbrl.rewards.ensemble import RewardEnsemble

PENDULUM = "pbrl/InvertedPendulum-v5"


def test_beta_decays_as_specified():
    assert rune_beta(0, 0.05, 1e-5) == 0.05
    assert np.isclose(rune_beta(100_000, 0.05, 1e-5), 0.05 * (1 - 1e-5) ** 100_000)  # ~ 0.05 / e
    assert np.isclose(rune_beta(100_000, 0.05, 1e-5), 0.05 * np.exp(-1), rtol=1e-4)
    betas = [rune_beta(t, 0.05, 1e-3) for t in range(0, 5000, 500)]
    assert all(a > b for a, b in zip(betas, betas[1:])) and rune_beta(10, 0.05, 0.0) == 0.05


def test_bonus_is_beta_times_the_members_std():
    r = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0], [5.0, 0.0, 2.0]])  # 3 members, 3 transitions
    np.testing.assert_allclose(rune_bonus(r, 0.5), 0.5 * np.array([np.sqrt(8 / 3), 0.0, 0.0]))
    model = RewardEnsemble(4, 1, n_members=3, hidden_sizes=(16,), seed=0)
    obs, act = np.random.default_rng(0).normal(size=(50, 4)), np.zeros((50, 1))
    members = model.member_rewards(obs, act)
    assert members.std(0).min() > 0  # independently initialised members disagree
    np.testing.assert_allclose(rune_reward(model, obs, act, 0.2), members.mean(0) + 0.2 * members.std(0), rtol=1e-6)
    step = [0]
    source = RUNERewardSource(model, 0.05, 1e-3, lambda: step[0])  # PrefPPO: beta read at every call
    first = source(obs, act, obs, {})
    step[0] = 2000
    later = source(obs, act, obs, {})
    np.testing.assert_allclose(later - members.mean(0), (first - members.mean(0)) * (1 - 1e-3) ** 2000, rtol=1e-4, atol=1e-7)


def test_pebble_adds_the_bonus_of_the_current_step_to_sampled_minibatches(tmp_path):
    from pbrl.agents import make_preference_agent, resolve
    from pbrl.agents.preference.options import resolve_preference_options

    hp = resolve("sac", PENDULUM, {"learning_starts": 200, "batch_size": 32, "net_arch": [16, 16], "n_envs": 4})
    pref = resolve_preference_options("sac", {
        "method": "rune", "rune_beta_init": 0.5, "rune_beta_decay": 1e-3, "reward_hidden": [16, 16], "reward_epochs": 5,
        "segment_length": 10, "unsup_steps": 400, "interval": 10_000, "queries_per_round": 10, "heldout_pairs": 0,
    }, 10)  # fmt: skip
    agent = make_preference_agent("sac", PENDULUM, hp, preference=pref, teacher="oracle", feedback=10, store_path=str(tmp_path / "p.sqlite"), seed=0)
    try:
        agent.learn(600)
        loop, rb = agent.preference_loop, agent.model.replay_buffer
        assert loop.model_ready
        raw = ReplayBuffer.sample(rb, 64)  # SB3's draw, without the hook
        out = agent._sample_rewards(raw)
        obs = raw.observations.numpy()
        act = agent.model.policy.unscale_action(raw.actions.numpy())
        members = loop.reward_model.member_rewards(obs, act)
        beta = 0.5 * (1 - 1e-3) ** agent.model.num_timesteps
        np.testing.assert_allclose(raw.rewards.numpy().ravel(), members.mean(0), rtol=1e-4, atol=1e-5)  # stored: the mean
        np.testing.assert_allclose((out.rewards - raw.rewards).numpy().ravel(), beta * members.std(0), rtol=1e-4, atol=1e-6)
    finally:
        agent.close()
