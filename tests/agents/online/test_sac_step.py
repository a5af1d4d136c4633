"""pbrl's SAC gradient step: SB3's algorithm, bit for bit, without the actor loss's critic-weight gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

import pbrl  # noqa: F401
from pbrl.agents import make_agent, resolve
from pbrl.agents.online.sac import ActorLossCritic, PbrlSACPolicy, fused_adam_available

TASK = "pbrl/HalfCheetah-v5"


def _filled(model, n: int = 600, seed: int = 0) -> None:
    """Random transitions in the replay buffer, the same for every model given ``seed``."""
    rb = model.replay_buffer
    rng = np.random.default_rng(seed)
    for name in ("observations", "next_observations"):
        getattr(rb, name)[:n] = rng.standard_normal(getattr(rb, name)[:n].shape)
    rb.actions[:n] = rng.uniform(-1, 1, rb.actions[:n].shape)
    rb.rewards[:n] = rng.standard_normal(rb.rewards[:n].shape)
    rb.dones[:n] = rng.random(rb.dones[:n].shape) < 0.05
    rb.pos = n


def _twins(policy_b, fused: bool):
    """SB3's SAC with its MlpPolicy and one with ``policy_b``, same weights and data."""
    agent = make_agent("sac", TASK, resolve("sac", TASK), seed=0)
    kwargs = dict(policy_kwargs=dict(net_arch=[64, 64], optimizer_kwargs={"fused": True} if fused else None))
    a = SAC("MlpPolicy", agent.env, learning_rate=1e-3, batch_size=64, learning_starts=0, seed=0, verbose=0, **kwargs)
    b = SAC(policy_b, agent.env, learning_rate=1e-3, batch_size=64, learning_starts=0, seed=0, verbose=0, **kwargs)
    b.policy.load_state_dict(a.policy.state_dict())
    with torch.no_grad():
        b.log_ent_coef.copy_(a.log_ent_coef)
    for m in (a, b):
        _filled(m)
        m._setup_learn(1000, None)
    return agent, a, b


def _train(model, steps: int) -> None:
    np.random.seed(7)  # the replay buffer samples with numpy's global generator
    torch.manual_seed(7)  # the actor's action noise
    model.train(gradient_steps=steps, batch_size=64)


@pytest.mark.parametrize("fused", [False, True] if fused_adam_available() else [False])
def test_updates_are_bit_identical_to_sb3s_sac(fused):
    agent, a, b = _twins(PbrlSACPolicy, fused)
    try:
        assert isinstance(b.critic, ActorLossCritic) and not isinstance(a.critic, ActorLossCritic)
        _train(a, 30)
        _train(b, 30)
        sa, sb = a.policy.state_dict(), b.policy.state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), key
        assert torch.equal(a.log_ent_coef, b.log_ent_coef)
        # the check has teeth: training moved the weights away from the shared start
        _, fresh, _ = _twins(PbrlSACPolicy, fused)
        assert any(not torch.equal(sa[k], fresh.policy.state_dict()[k]) for k in sa if "critic" in k)
        assert any(not torch.equal(sa[k], fresh.policy.state_dict()[k]) for k in sa if "actor" in k)
    finally:
        agent.close()


def test_the_actor_loss_leaves_no_gradient_on_the_critic_but_one_on_the_actions():
    agent = make_agent("sac", TASK, resolve("sac", TASK), seed=0)
    try:
        critic = agent.model.critic
        assert isinstance(critic, ActorLossCritic)
        obs = torch.randn(8, agent.model.observation_space.shape[0])
        actions = torch.rand(8, agent.model.action_space.shape[0], requires_grad=True)
        critic.zero_grad(set_to_none=True)
        q = torch.cat(critic(obs, actions), dim=1).min(dim=1).values.sum()
        assert all(p.requires_grad for p in critic.parameters())  # restored before the backward
        q.backward()
        assert actions.grad is not None and actions.grad.abs().sum() > 0
        assert all(p.grad is None for p in critic.parameters())
        # the critic's own loss (actions from the buffer, no grad) still reaches its weights
        q = torch.cat(critic(obs, actions.detach()), dim=1).sum()
        q.backward()
        assert all(p.grad is not None for p in critic.parameters())
    finally:
        agent.close()


def test_the_agent_uses_fused_adam_where_torch_has_it():
    agent = make_agent("sac", TASK, resolve("sac", TASK), seed=0)
    try:
        for opt in (agent.model.actor.optimizer, agent.model.critic.optimizer):
            assert bool(opt.param_groups[0].get("fused")) is fused_adam_available()
    finally:
        agent.close()
