"""PEBBLE: SAC with unsupervised pre-training and a reward learned from preferences.

Lee, Smith & Abbeel (2021), "PEBBLE: Feedback-Efficient Interactive Reinforcement
Learning via Relabeling Experience and Unsupervised Pre-training". Read top to bottom:

1. **Random steps**: SAC's ``learning_starts`` env steps of uniform random actions.
2. **Unsupervised pre-training** until ``unsup_steps`` env steps (default 10k: PEBBLE's
   1k seed + 9k unsupervised steps): the env hands SAC a zero reward, and every
   minibatch SAC samples from its replay buffer gets the state-entropy bonus instead.
   ``state_entropy = "buffer"`` (default) is B-Pref's ``compute_state_entropy``
   (``agent/sac.py``): the distance of each sampled state ``s`` to its k-th nearest
   neighbour (k = 5, the state itself excluded) among *all* states in the replay
   buffer, divided by the std of B-Pref's ``TorchRunningMeanStd`` of those distances
   (:class:`BPrefRunningMeanStd`, its update reproduced as written, see there).
   ``"batch"`` takes the k-th nearest among the minibatch's next-states and divides by
   an exact running std: cheaper, but a 256-sample estimate of density, not PEBBLE's.
   This drives the policy to cover the state space, so the first queries show diverse
   behaviour.
3. **Feedback rounds** every ``interval`` env steps (the shared
   :class:`~.loop.PreferenceLoop`): segments, queries, teacher labels
   into the run's preference store, reward-model ensemble retrained on all labels.
4. **After every reward-model update** the whole replay buffer is relabelled with the
   new model — one batched reward-model call over the buffer (the model chunks it to
   stay in cache), no per-transition Python loop — and SAC trains on the learned
   reward from then on. After the first update the critics (and their optimiser) are
   re-initialised, since they were fitted to the intrinsic reward (PEBBLE's
   ``reset_critic``), and SAC runs ``reset_update`` (100) gradient steps at once on the
   relabelled buffer (B-Pref's ``update_after_reset``: critic, actor and temperature).

A checkpoint holds SAC's state and replay buffer (``sac.py``) plus the reward model,
the loop's state and its trajectory buffer; labels live in the preference store.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import torch
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from pbrl.rewards.source import RewardSource

from .base import PreferenceAgent
from .loop import RunningStd, knn_state_entropy
from ..online.sac import SACAgent


#: buffer rows per distance block of :func:`buffer_knn_distance` (a block is batch x rows floats: 8 MiB at 256 x 8192)
ENTROPY_CHUNK = 8192


def buffer_knn_distance(
    states: torch.Tensor, buffer_rows: Callable[[int, int], torch.Tensor], size: int, k: int, chunk: int = ENTROPY_CHUNK
) -> torch.Tensor:
    """B-Pref's ``compute_state_entropy``: each state's distance to its k-th nearest neighbour
    among ``size`` buffer states (``torch.kthvalue(dists, k + 1)``: the sampled state is in the
    buffer, at distance 0, and is not counted).

    The buffer is read ``chunk`` rows at a time (``buffer_rows(start, stop) -> (n, d)``) and
    only the ``k + 1`` smallest distances of each state are kept between chunks, so memory is
    ``B x chunk`` whatever the buffer's size; the result is the k-th value over all of them.

    Args:
        states: ``(B, d)`` float32 states.
        buffer_rows: returns buffer rows ``[start, stop)`` as a float32 ``(n, d)`` tensor.
        size: buffer rows in all.
        k: the neighbour taken (B-Pref's ``topK`` = 5).
        chunk: buffer rows per block.

    Returns:
        ``(B,)`` distances.
    """
    if size < 1:
        raise ValueError("the replay buffer is empty")
    keep = min(int(k) + 1, size)
    best: torch.Tensor | None = None
    for start in range(0, size, chunk):
        dist = torch.cdist(states, buffer_rows(start, min(start + chunk, size)))
        if best is not None:
            dist = torch.cat([best, dist], dim=1)
        best = dist.topk(min(keep, dist.shape[1]), dim=1, largest=False, sorted=True).values
    assert best is not None
    return best[:, keep - 1]


class BPrefRunningMeanStd(RunningStd):
    """B-Pref's ``utils.TorchRunningMeanStd`` (shape ``[1]``, epsilon 1e-4), as written.

    Its ``update_mean_var_count_from_moments`` sets ``new_mean = mean + delta + n / total``
    (``+`` where Chan et al.'s update has ``*``), so the mean tracks the last batch's mean
    plus a drift and the variance grows by ``delta² · count · n / total`` with that
    larger delta. PEBBLE's bonus is divided by this std, so it is reproduced here; the
    batch variance is torch's unbiased one, as there, and the std has no epsilon added.
    """

    @staticmethod
    def batch_var(x: np.ndarray) -> float:
        return float(x.var(ddof=1)) if x.size > 1 else float("nan")

    def next_mean(self, delta: float, n: float, total: float) -> float:
        return self.mean + delta + n / total  # sic (B-Pref)

    @property
    def std(self) -> float:
        return math.sqrt(self.var)


class BonusReplayBuffer(ReplayBuffer):
    """SB3's replay buffer whose samples pass through ``reward_hook(samples, env)``: PEBBLE
    swaps in the state-entropy bonus during unsupervised pre-training (passed to SAC as its
    ``replay_buffer_class``; sampling itself is SB3's, the same draws)."""

    def __init__(self, *args, reward_hook: Callable[[ReplayBufferSamples, Any], ReplayBufferSamples], **kwargs):
        super().__init__(*args, **kwargs)
        self.reward_hook = reward_hook

    def sample(self, batch_size: int, env=None) -> ReplayBufferSamples:
        return self.reward_hook(super().sample(batch_size, env=env), env)


class PEBBLEAgent(PreferenceAgent, SACAgent):
    """SAC trained on a reward learned online from a teacher's preferences (arguments:
    :class:`~.base.PreferenceAgent`)."""

    def __init__(self, task: str, hyperparams: Mapping[str, Any], preference: Mapping[str, Any], *args: Any, **kwargs: Any):
        self.knn_k = int(preference["knn_k"])
        self.state_entropy = str(preference["state_entropy"])
        self.reset_critic_after_pretraining = bool(preference["reset_critic"])
        self.reset_update = int(preference["reset_update"])
        self.entropy_stats = BPrefRunningMeanStd() if self.state_entropy == "buffer" else RunningStd()
        self.intrinsic = int(preference["unsup_steps"]) > 0
        super().__init__(task, hyperparams, preference, *args, **kwargs)

    def replay_buffer(self) -> tuple[type, dict[str, Any]]:
        return BonusReplayBuffer, {"reward_hook": self._entropy_bonus}

    # -- unsupervised pre-training ---------------------------------------------------

    def _entropy_bonus(self, data: ReplayBufferSamples, env=None) -> ReplayBufferSamples:
        """Until the first reward model: the sampled rewards replaced by the state-entropy bonus."""
        if not self.intrinsic or self.preference_loop.model_ready:
            return data
        with torch.no_grad():
            if self.state_entropy == "buffer":
                entropy = self.buffer_state_entropy(data.observations.float(), env)
            else:
                entropy = knn_state_entropy(data.next_observations.float(), self.knn_k)
            self.entropy_stats.update(entropy.cpu().numpy())
            bonus = (entropy / self.entropy_stats.std).reshape(data.rewards.shape).to(data.rewards.dtype)
        return data._replace(rewards=bonus)

    def buffer_state_entropy(self, states: torch.Tensor, env=None) -> torch.Tensor:
        """B-Pref's state entropy of ``states`` (already sampled, normalised as the sample is)
        against every observation in the replay buffer: :func:`buffer_knn_distance`."""
        rb = self.model.replay_buffer
        flat = rb.observations[: self.replay_size()].reshape(-1, rb.observations.shape[-1])
        device = states.device

        def rows(start: int, stop: int) -> torch.Tensor:
            block = flat[start:stop]
            if env is not None:  # VecNormalize: the sampled states are normalised
                block = env.normalize_obs(block)
            return torch.as_tensor(block, device=device).float()

        return buffer_knn_distance(states, rows, flat.shape[0], self.knn_k)

    # -- after each reward-model update ----------------------------------------------

    def on_reward_update(self, source: RewardSource, first: bool) -> None:
        """Relabel the replay buffer with the new reward; after pre-training, reset the critics
        and run ``reset_update`` gradient steps at once (B-Pref's ``update_after_reset``)."""
        self.relabel_with_model()
        if first and self.reset_critic_after_pretraining:
            self.reset_critic()
            self.update_after_reset()

    def update_after_reset(self) -> int:
        """``reset_update`` SAC gradient steps (critic, actor, temperature) on the relabelled
        buffer; returns how many ran."""
        model = self.model
        if self.reset_update < 1 or self.replay_size() == 0:
            return 0
        model.train(gradient_steps=self.reset_update, batch_size=model.batch_size)
        model.policy.set_training_mode(False)  # collection goes on (SB3 collects in eval mode)
        return self.reset_update

    def relabel_with_model(self) -> int:
        """Recompute every stored reward with the reward model: one batched call; returns transitions."""
        loop = self.preference_loop
        rb = self.model.replay_buffer
        size = self.replay_size()
        if size == 0:
            return 0
        obs = rb.observations[:size].reshape(size * rb.n_envs, -1)
        # SB3 stores actions scaled to [-1, 1]; the reward model saw them as sent to the env
        act = self.model.policy.unscale_action(rb.actions[:size].reshape(size * rb.n_envs, -1))
        rewards = loop.reward_model.reward(obs, act, aggregate=loop.opt["aggregate"], k=float(loop.opt["aggregate_k"]))
        rb.rewards[:size] = rewards.reshape(size, rb.n_envs)
        return size * rb.n_envs

    def reset_critic(self) -> None:
        """Re-initialise both critics and their targets, and restart the critic optimiser."""
        policy = self.model.policy
        for module in policy.critic.modules():
            if hasattr(module, "reset_parameters") and module is not policy.critic:
                module.reset_parameters()
        policy.critic_target.load_state_dict(policy.critic.state_dict())
        policy.critic.optimizer.state.clear()

    # -- checkpoints: the loop's state (PreferenceAgent) plus the bonus' statistics ----------

    def checkpoint_extra(self) -> dict[str, Any]:
        return {**super().checkpoint_extra(), "entropy_stats": self.entropy_stats.state_dict()}

    def load_checkpoint_extra(self, extra: Mapping[str, Any]) -> None:
        super().load_checkpoint_extra(extra)
        if "entropy_stats" in extra:
            self.entropy_stats.load_state_dict(extra["entropy_stats"])
