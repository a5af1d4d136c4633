"""PrefPPO: PPO trained on a reward learned online from preferences (B-Pref's baseline).

Lee et al. (2021), "B-Pref: Benchmarking Preference-Based Reinforcement Learning";
Christiano et al. (2017) with PPO. Read top to bottom:

1. Until the first feedback round PPO trains on a zero reward (no unsupervised
   pre-training here; B-Pref's optional ``--unsupervise`` phase is not implemented).
2. **Feedback rounds** every ``interval`` env steps, at the start of a rollout so a
   rollout never mixes two reward models (the shared
   :class:`~.loop.PreferenceLoop`): segments, queries, teacher labels
   into the run's preference store, the reward-model ensemble retrained on all labels.
   The first round waits until two training episodes have finished (segments are cut
   from finished episodes only).
3. From then on every rollout is rewarded by the current reward model (one batched
   ``torch.no_grad`` call per vector step, in the reward wrapper). PPO is on-policy,
   so nothing is relabelled; VecNormalize's return statistics are restarted when the
   first model replaces the zero reward, so the reward scale is learned afresh.

A checkpoint holds PPO's state (``ppo.py``) plus the reward model, the loop's state and
its trajectory buffer; labels live in the preference store.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd

from pbrl.rewards.source import RewardSource

from ..online.ppo import PPOAgent
from .base import PreferenceAgent


class PrefPPOAgent(PreferenceAgent, PPOAgent):
    """PPO trained on a reward learned online from a teacher's preferences (arguments:
    :class:`~.base.PreferenceAgent`)."""

    def on_reward_update(self, source: RewardSource, first: bool) -> None:
        """After the first reward model replaces the zero reward, restart the return normaliser."""
        vn = self.vecnormalize
        if first and vn is not None and vn.norm_reward:
            vn.ret_rms = RunningMeanStd(shape=())
            vn.returns = np.zeros(vn.num_envs)
