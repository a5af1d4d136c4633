"""Plug a reward source into a Stable-Baselines3 VecEnv, keeping the true reward.

:class:`RewardSourceWrapper` sits right on top of :class:`~pbrl.envs.sb3.SB3VecEnv`
(raw observations, batched ``last_info``). Each step it asks its reward source
for the rewards of the N transitions ``(obs, action, next_obs, info)`` — with
``next_obs`` the final observation of episodes that just ended, not the reset
one — and hands those to the agent instead of the env's. The true reward is
kept: per episode it sums the true return, the training ("learned") return and
each of the task's reward terms, which training logs as ``rollout/true_return``,
``rollout/learned_return`` and ``reward_terms/<name>``.

Swapping the source (PrefPPO / PEBBLE retrain a reward model every K steps) is
``wrapper.reward_source = new_source``. Code that needs the raw transitions
(segment collection for preference queries) registers a hook with
:meth:`RewardSourceWrapper.add_transition_hook`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper

from pbrl.envs.sb3 import SB3VecEnv
from pbrl.rewards.source import RewardSource, TrueReward, transition_info


@dataclass
class Transitions:
    """One vector step as seen by the reward source (all arrays have N rows)."""

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray  # final observation where ``done``
    true_reward: np.ndarray
    reward: np.ndarray  # what the agent trains on
    done: np.ndarray
    terminated: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpisodeStats:
    """Totals of one finished training episode."""

    true_return: float
    learned_return: float
    length: int
    terms: dict[str, float]
    source_terms: dict[str, float]


class RewardSourceWrapper(VecEnvWrapper):
    """Replace the env's reward by a :class:`~pbrl.rewards.RewardSource`'s.

    Args:
        venv: an :class:`SB3VecEnv` (the wrapper needs its raw observations and
            batched ``last_info``).
        source: the reward source; ``None`` or a :class:`TrueReward` passes the
            env's reward through unchanged.
        window: finished episodes kept for the rollout statistics.

    ``infos[i]["episode"]`` of an ended episode carries ``r`` (true return),
    ``l`` and ``t`` like SB3's ``Monitor``, plus ``learned_r``, so SB3's own
    ``rollout/ep_rew_mean`` shows the true return.
    """

    def __init__(self, venv: SB3VecEnv, source: RewardSource | None = None, window: int = 100):
        if not isinstance(venv, SB3VecEnv):
            raise TypeError(f"RewardSourceWrapper must wrap an SB3VecEnv directly, got {type(venv).__name__}")
        super().__init__(venv)
        self.reward_source: RewardSource = source if source is not None else TrueReward()
        self.episodes: deque[EpisodeStats] = deque(maxlen=window)
        self.episodes_finished = 0
        self._hooks: list[Callable[[Transitions], None]] = []
        n = self.num_envs
        self._obs = np.zeros((n,) + venv.observation_space.shape)
        self._actions: np.ndarray | None = None
        self._true = np.zeros(n)
        self._learned = np.zeros(n)
        self._length = np.zeros(n, dtype=np.int64)
        self._terms: dict[str, np.ndarray] = {}
        self._source_terms: dict[str, np.ndarray] = {}
        self._t0 = time.time()

    def add_transition_hook(self, hook: Callable[[Transitions], None]) -> None:
        """Call ``hook(transitions)`` after every vector step (e.g. to collect segments)."""
        self._hooks.append(hook)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self._obs = np.array(obs, dtype=np.float64, copy=True)
        self._true[:] = 0.0
        self._learned[:] = 0.0
        self._length[:] = 0
        self._terms = {}
        self._source_terms = {}
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        low, high = self.action_space.low, self.action_space.high
        self._actions = np.clip(np.asarray(actions, dtype=np.float64), low, high)
        self.venv.step_async(actions)

    def step_wait(self):
        obs, true_reward, dones, infos = self.venv.step_wait()
        raw_info = self.venv.last_info
        info = transition_info(raw_info)
        next_obs = np.array(obs, dtype=np.float64, copy=True)
        if dones.any():
            next_obs[dones] = raw_info["final_obs"][dones]
        true_reward = np.asarray(true_reward, dtype=np.float64)
        source = self.reward_source
        if source.is_true_reward:
            reward = true_reward
            source_terms: dict[str, np.ndarray] = {}
        else:
            reward = source(self._obs, self._actions, next_obs, info)
            source_terms = source.last_terms
        self._accumulate(true_reward, reward, info.get("reward_terms", {}), source_terms)
        if self._hooks:
            terminated = np.zeros(self.num_envs, dtype=bool)
            for i in np.flatnonzero(dones):
                terminated[i] = not infos[i].get("TimeLimit.truncated", False)
            batch = Transitions(self._obs, self._actions, next_obs, true_reward, reward, dones, terminated, info)
            for hook in self._hooks:
                hook(batch)
        if dones.any():
            self._finish(np.flatnonzero(dones), infos)
        self._obs = np.array(obs, dtype=np.float64, copy=True)
        return obs, reward.astype(np.float32), dones, infos

    # -- episode bookkeeping -------------------------------------------------------

    def close(self) -> None:
        """Close the reward source (a sandboxed program's worker process) and the env."""
        try:
            self.reward_source.close()
        finally:
            self.venv.close()

    def _accumulate(self, true_reward, reward, terms, source_terms) -> None:
        self._true += true_reward
        self._learned += reward
        self._length += 1
        for store, values in ((self._terms, terms), (self._source_terms, source_terms)):
            for key, value in values.items():
                if key not in store:
                    store[key] = np.zeros(self.num_envs)
                store[key] += value

    def _finish(self, ids: np.ndarray, infos: list[dict[str, Any]]) -> None:
        for i in ids:
            stats = EpisodeStats(
                true_return=float(self._true[i]),
                learned_return=float(self._learned[i]),
                length=int(self._length[i]),
                terms={k: float(v[i]) for k, v in self._terms.items()},
                source_terms={k: float(v[i]) for k, v in self._source_terms.items()},
            )
            self.episodes.append(stats)
            self.episodes_finished += 1
            infos[i]["episode"] = {
                "r": stats.true_return,
                "l": stats.length,
                "t": round(time.time() - self._t0, 6),
                "learned_r": stats.learned_return,
            }
        self._true[ids] = 0.0
        self._learned[ids] = 0.0
        self._length[ids] = 0
        for store in (self._terms, self._source_terms):
            for value in store.values():
                value[ids] = 0.0

    def rollout_stats(self, last: int | None = None) -> dict[str, float]:
        """Means over the last ``last`` finished episodes (all kept ones by default), by tag."""
        episodes = list(self.episodes)[-last:] if last else list(self.episodes)
        if not episodes:
            return {}
        out = {
            "rollout/true_return": float(np.mean([e.true_return for e in episodes])),
            "rollout/learned_return": float(np.mean([e.learned_return for e in episodes])),
        }
        for key in episodes[-1].terms:
            out[f"reward_terms/{key}"] = float(np.mean([e.terms.get(key, 0.0) for e in episodes]))
        for key in episodes[-1].source_terms:
            out[f"reward_source/{key}"] = float(np.mean([e.source_terms.get(key, 0.0) for e in episodes]))
        return out


class Float32Observations(VecEnvWrapper):
    """Hand observations (and terminal observations) to SB3 as float32.

    pbrl's envs report float64 like Gymnasium's MuJoCo envs; SB3's networks run in
    float32 and its replay buffer stores the observation space's dtype, so this
    halves the replay buffer and its checkpoints.
    """

    def __init__(self, venv):
        from gymnasium import spaces

        space = venv.observation_space
        super().__init__(venv, observation_space=spaces.Box(-np.inf, np.inf, shape=space.shape, dtype=np.float32))

    def reset(self):
        return np.asarray(self.venv.reset(), dtype=np.float32)

    def step_wait(self):
        obs, reward, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            if "terminal_observation" in infos[i]:
                infos[i]["terminal_observation"] = np.asarray(infos[i]["terminal_observation"], dtype=np.float32)
        return np.asarray(obs, dtype=np.float32), reward, dones, infos
