"""PEBBLE: SAC with unsupervised pre-training and a reward learned from preferences.

Lee, Smith & Abbeel (2021), "PEBBLE: Feedback-Efficient Interactive Reinforcement
Learning via Relabeling Experience and Unsupervised Pre-training". Read top to bottom:

1. **Random steps**: SAC's ``learning_starts`` env steps of uniform random actions.
2. **Unsupervised pre-training** until ``unsup_steps`` env steps (default 10k: PEBBLE's
   1k seed + 9k unsupervised steps): the env hands SAC a zero reward, and every
   minibatch SAC samples from its replay buffer gets the state-entropy bonus instead:
   the distance of each next-state to its k-th nearest neighbour (k = 5) among the
   minibatch's next-states, divided by a running std of those distances. This drives
   the policy to cover the state space, so the first queries show diverse behaviour.
3. **Feedback rounds** every ``interval`` env steps (the shared
   :class:`~agents.preference_loop.PreferenceLoop`): segments, queries, teacher labels
   into the run's preference store, reward-model ensemble retrained on all labels.
4. **After every reward-model update** the whole replay buffer is relabelled with the
   new model — one batched reward-model call over the buffer (the model chunks it to
   stay in cache), no per-transition Python loop — and SAC trains on the learned
   reward from then on. After the first update the critics (and their optimiser) are
   re-initialised, since they were fitted to the intrinsic reward (PEBBLE's
   ``reset_critic``).

A checkpoint holds SAC's state and replay buffer (``sac.py``) plus the reward model,
the loop's state and its trajectory buffer; labels live in the preference store.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from pbrl.rewards.source import RewardSource

from .preference_loop import PreferenceLoop, RunningStd, ZeroReward, knn_state_entropy, split_arrays
from .sac import SACAgent


class PEBBLEAgent(SACAgent):
    """SAC trained on a reward learned online from a teacher's preferences.

    Args:
        task: pbrl task id.
        hyperparams: resolved SAC hyperparameters.
        preference: resolved preference options (``prefconfig.resolve_preference_options("sac", ...)``).
        teacher: teacher name (``oracle``, ``noisy``, ``mistake``, ``skip``, ``myopic``,
            ``equal``, or any registered teacher).
        feedback: the label budget (queries asked in all).
        store_path: the preference store (SQLite) the labels go to; opened at training start.
        seed: seeds SAC, the env, the loop and the teacher.
        device: torch device.
        env_kwargs: task keyword arguments.
        run_id: source id of the recorded segments (e.g. the run folder's name).
        teacher_kwargs: extra teacher keyword arguments.
    """

    def __init__(
        self,
        task: str,
        hyperparams: Mapping[str, Any],
        preference: Mapping[str, Any],
        teacher: str,
        feedback: int,
        store_path: str,
        seed: int = 0,
        device: str = "cpu",
        env_kwargs: Mapping[str, Any] | None = None,
        run_id: str = "run",
        teacher_kwargs: Mapping[str, Any] | None = None,
    ):
        super().__init__(task, hyperparams, seed=seed, device=device, reward_source=ZeroReward(), env_kwargs=env_kwargs)
        self.preference_loop = PreferenceLoop(
            self, preference, teacher, feedback, store_path, seed=seed, run_id=run_id, teacher_kwargs=teacher_kwargs
        )
        self.knn_k = int(preference["knn_k"])
        self.reset_critic_after_pretraining = bool(preference["reset_critic"])
        self.entropy_stats = RunningStd()
        self.intrinsic = int(preference["unsup_steps"]) > 0
        buffer = self.model.replay_buffer
        self._sample = buffer.sample
        buffer.sample = self._sample_with_entropy_bonus  # type: ignore[method-assign]

    # -- unsupervised pre-training ---------------------------------------------------

    def _sample_with_entropy_bonus(self, batch_size: int, env=None):
        data = self._sample(batch_size, env=env)
        if not self.intrinsic or self.preference_loop.model_ready:
            return data
        with torch.no_grad():
            entropy = knn_state_entropy(data.next_observations.float(), self.knn_k)
            self.entropy_stats.update(entropy.cpu().numpy())
            bonus = (entropy / self.entropy_stats.std).reshape(data.rewards.shape).to(data.rewards.dtype)
        return data._replace(rewards=bonus)

    # -- after each reward-model update ----------------------------------------------

    def on_reward_update(self, source: RewardSource, first: bool) -> None:
        """Relabel the replay buffer with the new reward; reset the critics after pre-training."""
        self.relabel_with_model()
        if first and self.reset_critic_after_pretraining:
            self.reset_critic()

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

    def learn(self, total_timesteps: int, callback=None) -> None:
        """Train until ``total_timesteps`` env steps, with the preference loop running (before ``callback``)."""
        extra = [] if callback is None else list(callback) if isinstance(callback, list) else [callback]
        super().learn(total_timesteps, callback=[self.preference_loop, *extra])

    # -- checkpoints -------------------------------------------------------------------

    def torch_state(self) -> dict[str, Any]:
        return {**super().torch_state(), **self.preference_loop.torch_state()}

    def load_torch_state(self, state: Mapping[str, Any]) -> None:
        super().load_torch_state(state)
        self.preference_loop.load_torch_state(state)

    def array_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = super().array_state()
        return {**arrays, **self.preference_loop.array_state()}, meta

    def load_array_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        own, loop = split_arrays(arrays)
        super().load_array_state(own, meta)
        self.preference_loop.load_array_state(loop)

    def save(self, root: str, extra: Mapping[str, Any] | None = None, keep: int = 2) -> str:
        extra = dict(extra or {})
        extra["preference_loop"] = self.preference_loop.state_dict()
        extra["entropy_stats"] = self.entropy_stats.state_dict()
        return super().save(root, extra=extra, keep=keep)

    def load(self, folder: str, load_arrays: bool = True) -> dict[str, Any]:
        state = super().load(folder, load_arrays=load_arrays)
        extra = state.get("extra", {})
        if "preference_loop" in extra:
            self.preference_loop.load_state_dict(extra["preference_loop"])
        if "entropy_stats" in extra:
            self.entropy_stats.load_state_dict(extra["entropy_stats"])
        return state

    def close(self) -> None:
        self.preference_loop.close()
        super().close()
