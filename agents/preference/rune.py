"""RUNE: reward uncertainty as an exploration bonus (Liang et al., ICLR 2022; rll-research/rune).

The agent trains on ``r̂_mean(s, a) + β_t · r̂_std(s, a)``: the ensemble's mean reward plus
its disagreement (the std over members of ``r̂``), weighted by
``β_t = β_0 (1 - ρ)^t`` with ``t`` the env step (β_0 = 0.05, ρ = 1e-5; RUNE's
``beta_schedule: linear_decay``, which is exponential despite its name).

* With SAC (PEBBLE) the bonus is added when a minibatch is sampled, with the β of that
  update (RUNE's critic target ``r_ext + β_t r_int``). Its ``r_int`` is the std the
  replay buffer holds, relabelled after every reward update; here it is recomputed from
  the current model for the sampled batch — the same values, without a second buffer.
* With PPO (PrefPPO) the bonus is part of the reward each rollout step gets
  (:class:`RUNERewardSource`), with β at that step.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pbrl.rewards.model import PreferenceRewardModel
from pbrl.rewards.source import RewardSource


def rune_beta(step: int, beta_init: float, decay: float) -> float:
    """β_t = β_0 (1 - ρ)^t."""
    return float(beta_init) * (1.0 - float(decay)) ** int(step)


def rune_bonus(member_rewards: np.ndarray, beta: float) -> np.ndarray:
    """β · std over members (population std, numpy's as in RUNE) of ``(M, N)`` rewards -> ``(N,)``."""
    return beta * np.asarray(member_rewards, dtype=np.float64).std(axis=0)


def rune_reward(model: PreferenceRewardModel, obs: np.ndarray, actions: np.ndarray, beta: float) -> np.ndarray:
    """``mean + β·std`` of the members' rewards of ``(N, ·)`` transitions -> ``(N,)`` float64."""
    r = model.member_rewards(obs, actions)
    return r.mean(0).astype(np.float64) + rune_bonus(r, beta)


class RUNERewardSource(RewardSource):
    """The learned reward with RUNE's bonus, β read from ``step()`` at every call (PrefPPO)."""

    name = "learned"

    def __init__(self, model: PreferenceRewardModel, beta_init: float, decay: float, step: Callable[[], int]):
        super().__init__()
        self.model, self.beta_init, self.decay, self.step = model, float(beta_init), float(decay), step

    def compute(self, obs, action, next_obs=None, info=None) -> np.ndarray:
        return rune_reward(self.model, obs, action, rune_beta(self.step(), self.beta_init, self.decay))

    def describe(self) -> dict:
        return {"kind": self.name, "model": self.model.kind, "aggregate": "rune", "beta_init": self.beta_init, "decay": self.decay}


__all__ = ["RUNERewardSource", "rune_beta", "rune_bonus", "rune_reward"]
