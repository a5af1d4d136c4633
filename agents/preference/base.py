"""What PrefPPO and PEBBLE share: an online agent whose reward is learned online.

:class:`PreferenceAgent` is a mixin placed before the online agent's class
(``class PEBBLEAgent(PreferenceAgent, SACAgent)``). It builds the agent on a zero reward,
owns the :class:`~.loop.PreferenceLoop` (queries, teacher, store, reward model), runs it
as the first SB3 callback, and adds the loop's state to every checkpoint. A subclass
writes only what makes its algorithm: :meth:`on_reward_update`, called by the loop after
every reward-model update.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from pbrl.rewards.source import RewardSource

from .loop import PreferenceLoop, ZeroReward, split_arrays


class PreferenceAgent:
    """An online agent (PPO, SAC) trained on a reward learned online from a teacher's preferences.

    Args:
        task: pbrl task id.
        hyperparams: resolved hyperparameters of the online agent.
        preference: resolved preference options (``options.resolve_preference_options(agent, ...)``).
        teacher: teacher name (``oracle``, ``noisy``, ``mistake``, ``skip``, ``myopic``,
            ``equal``, or any registered teacher).
        feedback: the label budget (queries asked in all).
        store_path: the preference store (SQLite) the labels go to; opened at training start.
        seed: seeds the agent, the env, the loop and the teacher.
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
        super().__init__(task, hyperparams, seed=seed, device=device, reward_source=ZeroReward(), env_kwargs=env_kwargs)  # type: ignore[call-arg]
        self.preference_loop = PreferenceLoop(
            self, preference, teacher, feedback, store_path, run_id=run_id, teacher_kwargs=teacher_kwargs
        )

    #: RUNE's bonus is part of the env's reward (PrefPPO); PEBBLE adds it to sampled minibatches instead
    bonus_in_env = True

    def on_reward_update(self, source: RewardSource, first: bool) -> None:
        """Called by the loop after every reward-model update (``first``: the first one)."""

    def learn(self, total_timesteps: int, callback=None) -> None:
        """Train until ``total_timesteps`` env steps, with the preference loop running (before ``callback``)."""
        extra = [] if callback is None else list(callback) if isinstance(callback, list) else [callback]
        super().learn(total_timesteps, callback=[self.preference_loop, *extra])  # type: ignore[misc]

    # -- checkpoints: the online agent's state plus the loop's -------------------------

    def torch_state(self) -> dict[str, Any]:
        return {**super().torch_state(), **self.preference_loop.torch_state()}  # type: ignore[misc]

    def load_torch_state(self, state: Mapping[str, Any]) -> None:
        super().load_torch_state(state)  # type: ignore[misc]
        self.preference_loop.load_torch_state(state)

    def array_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = super().array_state()  # type: ignore[misc]
        return {**arrays, **self.preference_loop.array_state()}, meta

    def load_array_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        own, loop = split_arrays(arrays)
        super().load_array_state(own, meta)  # type: ignore[misc]
        self.preference_loop.load_array_state(loop)

    def checkpoint_extra(self) -> dict[str, Any]:
        """JSON state a checkpoint adds to the online agent's (subclasses extend it)."""
        return {"preference_loop": self.preference_loop.state_dict()}

    def load_checkpoint_extra(self, extra: Mapping[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_extra`."""
        if "preference_loop" in extra:
            self.preference_loop.load_state_dict(extra["preference_loop"])

    def save(self, root: str, extra: Mapping[str, Any] | None = None, keep: int = 2) -> str:
        return super().save(root, extra={**(extra or {}), **self.checkpoint_extra()}, keep=keep)  # type: ignore[misc]

    def load(self, folder: str, load_arrays: bool = True) -> dict[str, Any]:
        state = super().load(folder, load_arrays=load_arrays)  # type: ignore[misc]
        self.load_checkpoint_extra(state.get("extra", {}))
        return state

    def close(self) -> None:
        self.preference_loop.close()
        super().close()  # type: ignore[misc]
