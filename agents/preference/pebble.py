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

The methods of ``--pref method=`` (``methods.py``) change SAC through the replay buffer's
sample hook (:class:`BonusReplayBuffer`): RUNE adds its bonus to each minibatch, QPA draws
hybrid batches, and MRN runs its bi-level reward update (``mrn.py``) on the first minibatch
after each multiple of ``mrn_meta_steps`` env steps while feedback is collected, then hands
SAC that minibatch with the updated model's reward for the update of that step.

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
from .mrn import MetaBatch, MetaSchedule, PreferenceProbe, last_labelled, meta_update, soft_value
from .qpa import hybrid_rows
from .rune import rune_bonus
from ..online.callbacks import log_row
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


class EntropyRange(RunningStd):
    """A running mean and std that also keep the min and max seen (RIME's warm-start target scale)."""

    def __init__(self):
        super().__init__()
        self.lo, self.hi = math.inf, -math.inf

    def update(self, x: np.ndarray) -> None:
        super().update(x)
        x = np.asarray(x, dtype=np.float64)
        if x.size:
            self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))


class BonusReplayBuffer(ReplayBuffer):
    """SB3's replay buffer whose samples pass through ``reward_hook(samples, env)``: PEBBLE
    swaps in the state-entropy bonus during unsupervised pre-training (passed to SAC as its
    ``replay_buffer_class``; sampling itself is SB3's, the same draws). ``rows_hook(buffer,
    batch_size)`` may choose the rows instead (QPA's hybrid replay; None: SB3's uniform draw)."""

    def __init__(
        self, *args, reward_hook: Callable[[ReplayBufferSamples, Any], ReplayBufferSamples],
        rows_hook: Callable[["BonusReplayBuffer", int], np.ndarray | None] | None = None, **kwargs,
    ):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.reward_hook = reward_hook
        self.rows_hook = rows_hook

    def sample(self, batch_size: int, env=None) -> ReplayBufferSamples:
        rows = None if self.rows_hook is None else self.rows_hook(self, batch_size)
        data = super().sample(batch_size, env=env) if rows is None else self._get_samples(rows, env=env)
        return self.reward_hook(data, env)


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
        self.method = str(preference.get("method", "none"))
        self.method_opt = dict(preference)
        self.warm_stats = EntropyRange()  # RIME's warm start: the entropy's running mean, std, min and max
        self.mrn = MetaSchedule(int(preference["mrn_meta_steps"])) if self.method == "mrn" else None
        super().__init__(task, hyperparams, preference, *args, **kwargs)
        self._rows_rng = np.random.default_rng([int(self.seed), 0x0A9A])  # QPA's hybrid batches

    #: RUNE's bonus is added to sampled minibatches (with the β of the update), not in the env
    bonus_in_env = False

    def replay_buffer(self) -> tuple[type, dict[str, Any]]:
        rows = self._hybrid_rows if self.method == "qpa" and float(self.method_opt["qpa_hybrid_ratio"]) > 0 else None
        return BonusReplayBuffer, {"reward_hook": self._sample_rewards, "rows_hook": rows}

    def _sample_rewards(self, data: ReplayBufferSamples, env=None) -> ReplayBufferSamples:
        """A minibatch's rewards: the entropy bonus before the first reward model; then the
        stored learned reward, plus RUNE's bonus with method rune; with method mrn, at a meta
        step, the reward after MRN's bi-level update (:meth:`meta_reward_update`)."""
        loop = self.preference_loop
        if self.mrn is not None and self.mrn.due(self.model.num_timesteps, loop.model_ready and loop.collecting):
            return self.meta_reward_update(data, env)
        if not loop.model_ready:
            return self._entropy_bonus(data, env)
        if self.method != "rune":
            return data
        obs, act = self._reward_inputs(data, env)
        r = loop.reward_model.member_rewards(obs, act)
        bonus = rune_bonus(r, self.preference_loop.rune_beta_now())
        return data._replace(rewards=data.rewards + torch.as_tensor(bonus, dtype=data.rewards.dtype, device=data.rewards.device).reshape(data.rewards.shape))

    def _reward_inputs(self, data: ReplayBufferSamples, env=None) -> tuple[np.ndarray, np.ndarray]:
        """A minibatch's (observations, actions) as the reward model sees them: raw, and as sent to the env."""
        obs = data.observations.cpu().numpy()
        if env is not None:  # VecNormalize: the sampled states are normalised
            obs = env.unnormalize_obs(obs)
        return obs, self.model.policy.unscale_action(data.actions.cpu().numpy())

    def meta_reward_update(self, data: ReplayBufferSamples, env=None) -> ReplayBufferSamples:
        """MRN (``mrn.py``): the bi-level reward update on this minibatch (steps 1-4), the replay buffer
        relabelled (6); returns the minibatch with the updated model's reward, for SAC's update of this
        step (5). Logs ``method/mrn_outer_loss``: the updated critic's preference loss, both heads summed."""
        loop, sac = self.preference_loop, self.model
        probe = self._meta_probe(env)
        if probe is None:  # no answered label to learn from
            return data
        obs, act = self._reward_inputs(data, env)
        alpha = torch.exp(sac.log_ent_coef.detach()) if sac.ent_coef_optimizer is not None else sac.ent_coef_tensor
        gamma = sac.gamma if data.discounts is None else data.discounts
        as_tensor = lambda x: torch.as_tensor(x, dtype=torch.float32, device=sac.device)  # noqa: E731
        batch = MetaBatch(
            obs=data.observations.float(), actions=data.actions.float(), reward_obs=as_tensor(obs), reward_actions=as_tensor(act),
            discount=(1.0 - data.dones.float()) * gamma, next_value=soft_value(sac.actor, sac.critic_target, data.next_observations, alpha),
        )  # fmt: skip
        lr = float(sac.critic.optimizer.param_groups[0]["lr"])
        loss = meta_update(loop.reward_model, sac.critic, batch, probe, lr, float(self.method_opt["mrn_outer_weight"]))
        self.mrn.steps.append(int(sac.num_timesteps))
        self.mrn.last_loss = loss
        self.relabel_with_model()
        rewards = loop.reward_model.reward(obs, act, aggregate=loop.opt["aggregate"], k=float(loop.opt["aggregate_k"]))
        if env is not None:  # as SB3 samples them
            rewards = env.normalize_reward(rewards)
        log_row(sac.logger, {"method/mrn_outer_loss": loss}, sac.num_timesteps)
        return data._replace(rewards=torch.as_tensor(rewards, dtype=data.rewards.dtype, device=data.rewards.device).reshape(data.rewards.shape))

    def _meta_probe(self, env=None) -> PreferenceProbe | None:
        """MRN's outer-loss pairs: the last ``queries_per_round`` labelled queries, as their segments' first
        state-action in the critic's terms (normalised observations, actions scaled to [-1, 1])."""
        found = last_labelled(self.preference_loop.store, int(self.method_opt["queries_per_round"]))
        if found is None:
            return None
        first, second, labels = found
        device = self.model.device

        def critic_inputs(seg) -> tuple[torch.Tensor, torch.Tensor]:
            obs = seg.obs[:, 0].astype(np.float32)
            if env is not None:
                obs = env.normalize_obs(obs)
            act = self.model.policy.scale_action(seg.actions[:, 0])
            return torch.as_tensor(obs, dtype=torch.float32, device=device), torch.as_tensor(act, dtype=torch.float32, device=device)

        (obs1, act1), (obs2, act2) = critic_inputs(first), critic_inputs(second)
        return PreferenceProbe(obs1, act1, obs2, act2, torch.as_tensor(labels, dtype=torch.float32, device=device))

    def _hybrid_rows(self, rb: ReplayBuffer, batch_size: int) -> np.ndarray | None:
        """QPA's hybrid replay while feedback is collected (:func:`~.qpa.hybrid_rows`); else None (uniform)."""
        loop = self.preference_loop
        if not loop.model_ready or not loop.collecting:
            return None
        episodes = min(int(self.method_opt["qpa_recent_episodes"]), loop.buffer.num_episodes - 1)
        if episodes < 1:
            return None
        recent = -(-episodes * int(self.card.max_episode_steps) // rb.n_envs)
        return hybrid_rows(self.replay_size(), rb.pos, rb.buffer_size, batch_size, recent, float(self.method_opt["qpa_hybrid_ratio"]), self._rows_rng)

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
        if self.method == "rime" and int(self.method_opt["rime_warm_start"]) > 0:
            self.warm_start(data, entropy, env)
        return data._replace(rewards=bonus)

    def warm_start(self, data: ReplayBufferSamples, entropy: torch.Tensor, env=None) -> None:
        """RIME: the reward model regresses this minibatch's normalised entropy (``RIMEEnsemble.warm_start``)."""
        stats = self.warm_stats
        stats.update(entropy.cpu().numpy())
        obs, act = self._reward_inputs(data, env)
        self.preference_loop.reward_model.warm_start(
            obs, act, entropy, stats.lo, stats.hi, stats.mean, stats.std, iters=int(self.method_opt["rime_warm_start"])
        )

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

    # -- checkpoints: the loop's state (PreferenceAgent), the bonus' statistics, MRN's mark ---

    def checkpoint_extra(self) -> dict[str, Any]:
        extra = {**super().checkpoint_extra(), "entropy_stats": self.entropy_stats.state_dict()}
        if self.mrn is not None:
            extra["mrn_mark"] = self.mrn.mark  # so a resumed run's next meta step falls where it would have
        return extra

    def load_checkpoint_extra(self, extra: Mapping[str, Any]) -> None:
        super().load_checkpoint_extra(extra)
        if "entropy_stats" in extra:
            self.entropy_stats.load_state_dict(extra["entropy_stats"])
        if self.mrn is not None and extra.get("mrn_mark") is not None:
            self.mrn.mark = int(extra["mrn_mark"])
