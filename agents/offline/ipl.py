"""IPL — Inverse Preference Learning (Hejna & Sadigh, NeurIPS 2023).

No reward network: the Q-function *is* the reward model, through the inverse
Bellman operator. The implicit reward of a transition is

    r_Q(s, a) = Q(s, a) - γ (1 - d) V(s')

and Q is trained so that the implicit rewards explain the preferences
(Bradley–Terry over segment sums), with a χ² regulariser on the implicit reward::

    L_Q = BCE( Σ_t r_Q(σ²_t) - Σ_t r_Q(σ¹_t),  y )  +  ½ · E[r_Q²]

(y = 1 when σ² is preferred; the regulariser over the labelled segments' and an
unlabelled batch's transitions). V and the policy learn exactly as in IQL
(:mod:`pbrl.agents.offline.iql`): expectile regression of V towards the target twin Q, and
advantage-weighted regression of the policy. Each head of the twin Q takes the
preference loss; V(s') is detached inside r_Q as in IQL's TD target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .iql import IQL, IQLConfig, awr_weights, expectile_loss
from ._config import hp
from ._data import OfflineData, TransitionBatches
from ._nets import soft_update
from ._preferences import PreferencePairs


def preference_bce(score1: torch.Tensor, score2: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry loss ``BCE(σ(s² - s¹), y)`` over the last dimension's pairs (any leading dims)."""
    return F.binary_cross_entropy_with_logits(score2 - score1, y.expand_as(score1))


@dataclass
class IPLConfig(IQLConfig):
    agent = "ipl"

    pref_batch_size: int = hp(16, "labelled pairs per step (besides batch_size unlabelled transitions)", min=1)
    reg_coeff: float = hp(0.5, "weight of the χ² regulariser E[r_Q²]", min=0.0)
    reward_scaling: str = hp("none", "IPL learns no reward: nothing to scale", choices=("locomotion", "none"))
    compile: str = hp("off", "not used by IPL (its update runs eagerly)", choices=("auto", "on", "off"))
    max_pairs: int = hp(0, "use the first N labelled pairs of the store (0: all)", min=0)


class IPL(IQL):
    name = "ipl"
    Config = IPLConfig
    uses_preferences = "required"
    loss_names = ("value_loss", "q_loss", "preference_loss", "actor_loss", "preference_accuracy")

    def prepare(self, data: OfflineData, preferences: PreferencePairs) -> None:
        norm = self.normalizer.numpy if self.config.normalize_states else (lambda x: x)
        self.batches = TransitionBatches(
            {
                "obs": norm(data.observations),
                "actions": data.actions,
                "next_obs": norm(data.next_observations),
                "terminals": data.terminals.astype(np.float32),
            },
            self.device,
            self.generator,
        )
        self.pairs = preferences.resident(self.device)

    def implicit_reward(self, s, a, s2, d) -> torch.Tensor:
        """``r_Q = Q_i(s, a) - γ (1 - d) V(s')`` for each head: ``(2, ...)``."""
        flat = s.shape[:-1]
        q = self.q(s.reshape(-1, s.shape[-1]), a.reshape(-1, a.shape[-1])).reshape(-1, *flat)
        with torch.no_grad():
            next_v = self.v(s2.reshape(-1, s2.shape[-1])).reshape(flat)
        return q - self.config.gamma * (1.0 - d) * next_v

    def update(self) -> None:
        c = self.config
        b = self.batches.sample(c.batch_size)
        s, a = b["obs"], b["actions"]
        index, mask, y = self.pairs.sample(c.pref_batch_size, self.generator)
        seg = self.batches.gather(index)  # (P, 2, H, ·)

        # Q: preferences explained by the implicit reward, plus the χ² regulariser
        r_seg = self.implicit_reward(seg["obs"], seg["actions"], seg["next_obs"], seg["terminals"]) * mask  # (2, P, 2, H)
        scores = r_seg.sum(-1)  # (2, P, 2)
        preference_loss = preference_bce(scores[..., 0], scores[..., 1], y)
        r_batch = self.implicit_reward(s, a, b["next_obs"], b["terminals"])  # (2, B)
        reg = (r_seg.square().sum() / (2 * mask.sum()) + r_batch.square().mean()) / 2
        q_loss = preference_loss + c.reg_coeff * reg
        # V and the policy: IQL's losses
        with torch.no_grad():
            target_q = self.q_target(s, a).min(0).values
        advantage = target_q - self.v(s)
        value_loss = expectile_loss(advantage, c.expectile)
        actor_loss = torch.mean(awr_weights(advantage, c.beta, c.max_weight) * -self.actor.log_prob(s, a))

        self.optimizer.zero_grad(set_to_none=True)
        (value_loss + q_loss + actor_loss).backward()
        self.optimizer.param_groups[2]["lr"] = self.actor_lr(self.step)
        self.optimizer.step()
        soft_update(self.q_target, self.q, c.tau)
        with torch.no_grad():
            decisive = (y != 0.5).float()
            mean_scores = scores.mean(0)
            accuracy = ((((mean_scores[:, 1] > mean_scores[:, 0]) == (y > 0.5)).float() * decisive).sum() / decisive.sum().clamp(min=1.0))
        self.record(value_loss, q_loss, preference_loss, actor_loss, accuracy)


__all__ = ["IPL", "IPLConfig", "preference_bce"]
