"""PrefPPO: PPO trained on a reward learned online from preferences (B-Pref's baseline).

Lee et al. (2021), "B-Pref: Benchmarking Preference-Based Reinforcement Learning";
Christiano et al. (2017) with PPO. Read top to bottom:

1. Until the first feedback round PPO trains on a zero reward (no unsupervised
   pre-training here; B-Pref's optional ``--unsupervise`` phase is not implemented).
2. **Feedback rounds** every ``interval`` env steps, at the start of a rollout so a
   rollout never mixes two reward models (the shared
   :class:`~agents.preference_loop.PreferenceLoop`): segments, queries, teacher labels
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

from typing import Any, Mapping

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd

from pbrl.rewards.source import RewardSource

from ..online.ppo import PPOAgent
from .loop import PreferenceLoop, ZeroReward, split_arrays


class PrefPPOAgent(PPOAgent):
    """PPO trained on a reward learned online from a teacher's preferences.

    Args:
        task: pbrl task id.
        hyperparams: resolved PPO hyperparameters.
        preference: resolved preference options (``prefconfig.resolve_preference_options("ppo", ...)``).
        teacher: teacher name (``oracle``, ``noisy``, ``mistake``, ``skip``, ``myopic``,
            ``equal``, or any registered teacher).
        feedback: the label budget (queries asked in all).
        store_path: the preference store (SQLite) the labels go to; opened at training start.
        seed: seeds PPO, the env, the loop and the teacher.
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

    def on_reward_update(self, source: RewardSource, first: bool) -> None:
        """After the first reward model replaces the zero reward, restart the return normaliser."""
        vn = self.vecnormalize
        if first and vn is not None and vn.norm_reward:
            vn.ret_rms = RunningMeanStd(shape=())
            vn.returns = np.zeros(vn.num_envs)

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
        return self.preference_loop.array_state(), {}

    def load_array_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        _, loop = split_arrays(arrays)
        self.preference_loop.load_array_state(loop)

    def save(self, root: str, extra: Mapping[str, Any] | None = None, keep: int = 2) -> str:
        extra = dict(extra or {})
        extra["preference_loop"] = self.preference_loop.state_dict()
        return super().save(root, extra=extra, keep=keep)

    def load(self, folder: str, load_arrays: bool = True) -> dict[str, Any]:
        state = super().load(folder, load_arrays=load_arrays)
        if "preference_loop" in state.get("extra", {}):
            self.preference_loop.load_state_dict(state["extra"]["preference_loop"])
        return state

    def close(self) -> None:
        self.preference_loop.close()
        super().close()
