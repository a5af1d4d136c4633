"""MRN's parts on their own: the functional inner step is an SGD step of a copy of the critic, the outer step
lowers the updated critic's preference loss through the reward model, the schedule; then PEBBLE with
``method=mrn`` end to end, and ``method=mrn`` refused for PrefPPO before any work."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from typer.testing import CliRunner

from pbrl.agents.online.sac import PbrlSACPolicy
from pbrl.agents.preference.mrn import MetaBatch, MetaSchedule, PreferenceProbe, mean_reward, meta_update, preference_loss, sgd_step, soft_value, td_loss
from pbrl.agents.preference.options import PreferenceOptionError, resolve_preference_options
from pbrl.cli.main import app
from pbrl.rewards.ensemble import RewardEnsemble
from pbrl.runs.metrics import read_metrics

PENDULUM = "pbrl/InvertedPendulum-v5"


def _sac_and_batch(b: int = 32, seed: int = 0):
    """A real SB3 SAC with pbrl's critic (Pendulum-v1: obs 3, action 1), a reward ensemble and a random minibatch."""
    torch.manual_seed(seed)
    sac = SAC(PbrlSACPolicy, "Pendulum-v1", policy_kwargs={"net_arch": [16, 16]}, seed=seed, device="cpu")
    model = RewardEnsemble(3, 1, n_members=3, hidden_sizes=(16, 16), lr=1e-2, seed=seed)
    g = torch.Generator().manual_seed(seed)
    obs, act = torch.randn(b, 3, generator=g), torch.rand(b, 1, generator=g) * 2 - 1
    nxt, done = torch.randn(b, 3, generator=g), (torch.rand(b, 1, generator=g) < 0.1).float()
    batch = MetaBatch(obs, act, obs, 2 * act, 0.99 * (1 - done), soft_value(sac.actor, sac.critic_target, nxt, 0.2))
    return sac, model, batch


def _probe(batch: MetaBatch) -> PreferenceProbe:
    """Pairs of the batch's own states, labelled by their first observation coordinate (1: the second is higher)."""
    n = batch.obs.shape[0] // 2
    o1, a1, o2, a2 = batch.obs[:n], batch.actions[:n], batch.obs[n:], batch.actions[n:]
    return PreferenceProbe(o1, a1, o2, a2, (o2[:, 0] > o1[:, 0]).float())


def test_the_inner_step_is_a_plain_sgd_step_of_a_copy_of_the_critic():
    sac, model, batch = _sac_and_batch()
    critic, lr = sac.critic, 0.05
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    params = {k: p.detach().requires_grad_(True) for k, p in critic.named_parameters()}
    target = mean_reward(model, batch.reward_obs, batch.reward_actions).reshape(-1, 1) + batch.discount * batch.next_value
    updated = sgd_step(params, td_loss(critic, params, batch.obs, batch.actions, target), lr)
    # by hand: the critic copied, MRN's loss (both heads' MSE summed) under the detached target, p - lr * grad
    manual = copy.deepcopy(critic)
    q1, q2 = manual(batch.obs, batch.actions)
    (F.mse_loss(q1, target.detach()) + F.mse_loss(q2, target.detach())).backward()
    for name, p in manual.named_parameters():
        torch.testing.assert_close(updated[name], p - lr * p.grad, rtol=1e-5, atol=1e-6)
        assert not torch.equal(updated[name], p)
    # the step stays differentiable in the reward model's parameters
    grads = torch.autograd.grad(sum(v.sum() for v in updated.values()), list(model.net.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # and the critic itself is unchanged, also by a whole meta update, which leaves it no gradient
    meta_update(model, critic, batch, _probe(batch), lr, 0.1)
    for k, v in critic.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in critic.parameters())


def test_outer_steps_change_the_reward_model_and_lower_the_updated_critics_preference_loss():
    sac, model, batch = _sac_and_batch()
    probe, lr = _probe(batch), 0.2
    weights = [p.detach().clone() for p in model.net.parameters()]

    def updated_critic_loss() -> float:
        params = {k: p.detach().requires_grad_(True) for k, p in sac.critic.named_parameters()}
        target = mean_reward(model, batch.reward_obs, batch.reward_actions).reshape(-1, 1) + batch.discount * batch.next_value
        updated = sgd_step(params, td_loss(sac.critic, params, batch.obs, batch.actions, target), lr)
        return preference_loss(sac.critic, updated, probe).item()

    start = updated_critic_loss()
    losses = [meta_update(model, sac.critic, batch, probe, lr, 1.0) for _ in range(15)]
    assert losses[0] == pytest.approx(start, rel=1e-6)  # what meta_update reports: the loss before its step
    end = updated_critic_loss()
    assert all(b < a for a, b in zip(losses, losses[1:])) and end < start - 0.02, (start, losses, end)
    assert all(not torch.equal(a, b) for a, b in zip(weights, model.net.parameters()))


def test_the_schedule_fires_once_per_multiple_and_only_while_active():
    s = MetaSchedule(100)
    fired = [t for t in range(0, 1000, 12) if s.due(t, active=t < 700)]
    assert fired == [108, 204, 300, 408, 504, 600]  # the first step at or past each multiple; none from 700 on
    s = MetaSchedule(100)
    assert not s.due(500, True) and not s.due(540, True) and s.due(600, True)  # the first check only sets the mark
    s.mark = 5  # a resumed run's restored mark
    assert s.due(600, True) and not s.due(650, True)


def _raises(agent: str, opt: dict, message: str) -> None:
    with pytest.raises(PreferenceOptionError, match=message):
        resolve_preference_options(agent, opt, 100)


def test_mrn_is_refused_where_it_cannot_run_before_any_work(tmp_path):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, ["train", "--env", PENDULUM, "--agent", "ppo", "--reward", "learned", "--teacher", "oracle",
                                      "--pref", "method=mrn", "--runs-dir", runs, "--quiet"], env={"COLUMNS": "10000"})  # fmt: skip
    assert result.exit_code == 2 and "method mrn needs agent sac (PEBBLE)" in " ".join(result.output.split()), result.output
    assert not os.path.exists(runs)
    _raises("sac", {"method": "mrn", "feedback_kind": "ratings"}, "method 'mrn'")  # its outer loss needs pairs (check_feedback_options)
    _raises("sac", {"mrn_meta_steps": 10}, "'mrn_meta_steps' belongs to method 'mrn'")
    _raises("sac", {"method": "mrn", "mrn_meta_steps": 0}, "mrn_meta_steps")
    opt = resolve_preference_options("sac", {"method": "mrn"}, 100)
    assert opt["mrn_meta_steps"] == 1000 and opt["mrn_outer_weight"] == 0.1


def test_pebble_with_mrn_through_pbrl_train(tmp_path):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, [
        "train", "--env", PENDULUM, "--agent", "sac", "--reward", "learned", "--teacher", "oracle", "--feedback", "60",
        "--steps", "2200", "--num-envs", "4", "--seed", "0", "--eval-episodes", "2", "--eval-freq", "0", "--checkpoint-freq", "0",
        "--hp", "learning_starts=200", "--hp", "batch_size=64", "--hp", "net_arch=[32, 32]",
        "--pref", "unsup_steps=600", "--pref", "interval=500", "--pref", "queries_per_round=20", "--pref", "reward_hidden=[32, 32]",
        "--pref", "reward_epochs=30", "--pref", "segment_length=15", "--pref", "heldout_pairs=128",
        "--pref", "method=mrn", "--pref", "mrn_meta_steps=100", "--runs-dir", runs, "--name", "mrn", "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = os.path.join(runs, "pbrl_InvertedPendulum-v5", "sac", "mrn-s0")
    feedback = json.load(open(os.path.join(run, "summary.json")))["final_eval"]["feedback"]
    assert feedback["labels"] == 60 and feedback["feedback_rounds"] == 3, feedback
    assert feedback["reward_model_accuracy"] > 0.7, feedback
    # rounds at 600, 1100, 1600 env steps: a meta step at each multiple of 100 after the first, up to the last round
    steps = [r["step"] for r in read_metrics(run) if "method/mrn_outer_loss" in r]
    assert steps == list(range(700, 1700, 100)), steps
    assert all(np.isfinite(r["method/mrn_outer_loss"]) for r in read_metrics(run) if "method/mrn_outer_loss" in r)


#: a tiny PEBBLE: one round of 10 queries at 400 env steps (the next round would be 10k later), so feedback is still collected
TINY_SAC = {"learning_starts": 200, "batch_size": 32, "net_arch": [16, 16], "n_envs": 4}
TINY_PREF = {"reward_hidden": [16, 16], "reward_epochs": 5, "segment_length": 10, "unsup_steps": 400, "interval": 10_000,
             "queries_per_round": 10, "heldout_pairs": 0}  # fmt: skip


def test_a_meta_step_updates_the_reward_relabels_the_buffer_and_hands_sac_the_new_rewards(tmp_path):
    from pbrl.agents import make_preference_agent, resolve

    opt = resolve_preference_options("sac", {**TINY_PREF, "method": "mrn", "mrn_meta_steps": 100, "mrn_outer_weight": 1.0}, 20)
    store = str(tmp_path / "p.sqlite")
    agent = make_preference_agent("sac", PENDULUM, resolve("sac", PENDULUM, TINY_SAC), preference=opt, teacher="oracle", feedback=20, store_path=store)
    try:
        agent.learn(800)
        loop, rb = agent.preference_loop, agent.model.replay_buffer
        assert loop.model_ready and loop.collecting and agent.mrn.steps == [500, 600, 700, 800]
        assert agent.checkpoint_extra()["mrn_mark"] == 8  # a resumed run's next meta step: at 900
        net = loop.reward_model.net
        weights = [p.detach().clone() for p in net.parameters()]
        critic = {k: v.clone() for k, v in agent.model.critic.state_dict().items()}
        raw = ReplayBuffer.sample(rb, 64)  # SB3's draw, without the hook
        out = agent.meta_reward_update(raw)
        assert all(not torch.equal(a, b) for a, b in zip(weights, net.parameters()))
        assert all(torch.equal(v, critic[k]) for k, v in agent.model.critic.state_dict().items())
        obs, act = raw.observations.numpy(), agent.model.policy.unscale_action(raw.actions.numpy())
        np.testing.assert_allclose(out.rewards.numpy().ravel(), loop.reward_model.reward(obs, act), rtol=1e-5, atol=1e-6)
        size = agent.replay_size()
        flat_act = agent.model.policy.unscale_action(rb.actions[:size].reshape(size * rb.n_envs, -1))
        stored = loop.reward_model.reward(rb.observations[:size].reshape(size * rb.n_envs, -1), flat_act)
        np.testing.assert_allclose(rb.rewards[:size].ravel(), stored, rtol=1e-5, atol=1e-6)  # the whole buffer relabelled
    finally:
        agent.close()
