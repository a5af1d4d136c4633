"""MRN, Meta-Reward-Net: the reward model also learns from how well the critic it trains explains the labels
(Liu et al., NeurIPS 2022; RyanLiu112/MRN, ``train_MRN.py``).

PEBBLE fits the reward model to the labels alone. MRN adds a bi-level update (SAC only): every
``mrn_meta_steps`` env steps, while feedback is still being collected, the SAC update of that step becomes

1. a SAC minibatch; ``r̂`` = the ensemble's mean reward *with* gradient to the reward model (:func:`mean_reward`);
2. inner loss: the TD loss of a copy of the critic, each Q head's MSE against ``r̂ + γ(1 - d)·V(s')`` with
   ``V(s') = min Q_target(s', a') - α log π(a'|s')`` detached (:func:`soft_value`, :func:`td_loss`);
3. one plain SGD step ``θ' = θ - lr_critic ∇θ``, kept differentiable in ``r̂`` (:func:`sgd_step`:
   ``torch.func.functional_call`` on detached copies of the parameters, so the critic itself is not changed);
4. outer loss: the updated critic as a preference model on the last ``queries_per_round`` labelled queries —
   logits ``[Q'(s¹₀, a¹₀), Q'(s²₀, a²₀)]`` at each segment's *first* state-action, cross-entropy for both heads
   (:func:`preference_loss`) — times ``mrn_outer_weight``, backpropagated into the reward model, one step of its
   optimiser (:func:`meta_update`);
5. SAC's own update (critic, actor, α) on the same minibatch, its reward recomputed by the updated model;
6. the replay buffer relabelled.

``pebble.py`` runs 1-4 and 6 in its replay buffer's sample hook at the first SAC minibatch after each multiple
of ``mrn_meta_steps`` (:class:`MetaSchedule`) and hands SB3 the batch with the new rewards for 5. Otherwise
PEBBLE is unchanged: the reward model is still fitted to the labels every round.

Defaults: ``mrn_meta_steps`` 1000 (MRN's walker script and RIME's re-runs; 10000 in MRN's door-open),
``mrn_outer_weight`` 0.1 (``train_MRN.yaml``). As in MRN, the inner TD loss sums the heads' MSEs (SB3's SAC
halves that sum) and the inner step is plain SGD at the critic's learning rate, without Adam's moments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from pbrl.preferences import PreferenceStore, SegmentBatch
from pbrl.rewards.bradley_terry import bradley_terry_loss
from pbrl.rewards.ensemble import RewardEnsemble

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class MetaBatch:
    """A SAC minibatch for the inner step: critic inputs, reward-model inputs and the detached target parts.

    Attributes:
        obs, actions: ``(B, ·)`` as the critic sees them (normalised observations, actions scaled to [-1, 1]).
        reward_obs, reward_actions: ``(B, ·)`` as the reward model sees them (raw, as sent to the env).
        discount: ``(B, 1)`` ``γ(1 - done)``.
        next_value: ``(B, 1)`` ``V(s')`` (:func:`soft_value`).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    reward_obs: torch.Tensor
    reward_actions: torch.Tensor
    discount: torch.Tensor
    next_value: torch.Tensor


@dataclass(frozen=True)
class PreferenceProbe:
    """Labelled pairs reduced to each segment's first state-action, as critic inputs; ``labels`` 1: second preferred."""

    obs1: torch.Tensor
    act1: torch.Tensor
    obs2: torch.Tensor
    act2: torch.Tensor
    labels: torch.Tensor


def mean_reward(model: RewardEnsemble, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``(N,)`` ensemble mean ``r̂(s, a)``, differentiable in the model's parameters (its public ``net`` and ``normalizer``)."""
    x = torch.cat([obs, actions], dim=-1).to(model.device, torch.float32)
    if model.normalize_inputs:
        x = model.normalizer(x)
    return model.net(x).mean(0)


@torch.no_grad()
def soft_value(actor, critic_target: torch.nn.Module, next_obs: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """SAC's ``(B, 1)`` ``V(s') = min_i Q_target_i(s', a') - α log π(a'|s')``, ``a' ~ π(·|s')`` (SB3 actor), no gradient."""
    next_actions, log_prob = actor.action_log_prob(next_obs)
    q = torch.cat(critic_target(next_obs, next_actions), dim=1).min(dim=1, keepdim=True).values
    return q - alpha * log_prob.reshape(-1, 1)


def td_loss(critic: torch.nn.Module, params: Params, obs: torch.Tensor, actions: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the critic's heads of ``MSE(Q_i(s, a; params), target)`` (MRN's critic loss)."""
    return sum(F.mse_loss(q, target) for q in functional_call(critic, params, (obs, actions)))


def sgd_step(params: Params, loss: torch.Tensor, lr: float) -> Params:
    """One plain SGD step ``θ - lr ∇θ loss`` as new tensors, with the graph kept (``create_graph``) so the
    result stays differentiable in whatever ``loss`` depends on besides ``θ``."""
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    return {name: p - lr * g for (name, p), g in zip(params.items(), grads)}


def preference_loss(critic: torch.nn.Module, params: Params, probe: PreferenceProbe) -> torch.Tensor:
    """Sum over heads of the cross-entropy of ``softmax[Q_i(s¹₀, a¹₀), Q_i(s²₀, a²₀)]`` against the labels."""
    q1 = functional_call(critic, params, (probe.obs1, probe.act1))
    q2 = functional_call(critic, params, (probe.obs2, probe.act2))
    return sum(bradley_terry_loss(a.reshape(-1), b.reshape(-1), probe.labels) for a, b in zip(q1, q2))


def meta_update(model: RewardEnsemble, critic: torch.nn.Module, batch: MetaBatch, probe: PreferenceProbe, lr: float, weight: float) -> float:
    """Steps 1-4: one reward-optimiser step on ``weight ×`` the preference loss of the critic after one SGD step
    (``lr``) on the TD loss under ``r̂``. ``critic`` keeps its parameters. Returns that preference loss (unweighted)."""
    params = {name: p.detach().requires_grad_(True) for name, p in critic.named_parameters()}
    reward = mean_reward(model, batch.reward_obs, batch.reward_actions).reshape(-1, 1)
    updated = sgd_step(params, td_loss(critic, params, batch.obs, batch.actions, reward + batch.discount * batch.next_value), lr)
    loss = preference_loss(critic, updated, probe)
    model.optimizer.zero_grad(set_to_none=True)
    (weight * loss).backward()
    model.optimizer.step()
    return float(loss.detach())


def last_labelled(store: PreferenceStore, n: int) -> tuple[SegmentBatch, SegmentBatch, np.ndarray] | None:
    """The pairs and labels of the ``n`` most recent active, non-skipped labels (MRN: the last ``reward_batch``
    queries of its label buffer); None if there is none."""
    rows = store.labels()
    answered = ~rows["skipped"]
    query_ids, labels = rows["query_id"][answered][-int(n) :], rows["label"][answered][-int(n) :]
    if query_ids.size == 0:
        return None
    first, second = store.get_pairs(query_ids)
    return first, second, labels


class MetaSchedule:
    """When the bi-level update runs: at the first SAC minibatch after each multiple of ``every`` env steps
    (MRN: ``step % num_meta_steps == 0``; with N sub-envs the step counter moves N at a time), if ``active``
    (a reward model exists and feedback is still being collected). Crossings while inactive are spent.

    Attributes:
        mark: ``step // every`` at the last check (None before the first: a resumed run restores it).
        steps: env steps of the updates run by this process; ``last_loss`` the latest preference loss.
    """

    def __init__(self, every: int):
        self.every = int(every)
        self.mark: int | None = None
        self.steps: list[int] = []
        self.last_loss = float("nan")

    def due(self, step: int, active: bool) -> bool:
        tick = int(step) // self.every
        crossed = self.mark is not None and tick > self.mark
        self.mark = tick
        return crossed and bool(active)


__all__ = [
    "MetaBatch",
    "MetaSchedule",
    "PreferenceProbe",
    "last_labelled",
    "mean_reward",
    "meta_update",
    "preference_loss",
    "sgd_step",
    "soft_value",
    "td_loss",
]
