"""What PPO and SAC share: the env stack, acting, evaluation, checkpoints.

The env stack, bottom to top::

    SB3VecEnv (pbrl batched env, raw float64 obs, batched info)
    RewardSourceWrapper (the training reward; keeps the true one; episode stats)
    Float32Observations
    VecNormalize (optional: observations and/or rewards)

An :class:`OnlineAgent` owns that stack and a Stable-Baselines3 model built on
it. Subclasses (``ppo.py``, ``sac.py``) say how the model is built from the
hyperparameters and which torch state a checkpoint holds.
"""

from __future__ import annotations

import abc
import os
from typing import Any, Callable, Mapping

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from pbrl.envs.sb3 import SB3VecEnv
from pbrl.evaluation import EvalResult, eval_seed, evaluate_policy
from pbrl.rewards.source import RewardSource

from ..checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from .reward_wrapper import Float32Observations, RewardSourceWrapper

ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU, "leaky_relu": torch.nn.LeakyReLU}


def linear_schedule(initial: float) -> Callable[[float], float]:
    """SB3 learning-rate schedule: ``initial`` times the remaining progress (1 -> 0)."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial

    return schedule


class OnlineAgent(abc.ABC):
    """An SB3 algorithm on a pbrl batched task with a pluggable reward source.

    Args:
        task: pbrl task id.
        hyperparams: resolved hyperparameters (``pbrl.agents.online.hyperparams.resolve``).
        seed: seeds torch, the env (sub-env i: ``seed + i``) and SB3.
        device: torch device ("cpu" by default; nothing assumes a GPU).
        reward_source: what the agent trains on (default: the task's reward).
        env_kwargs: task keyword arguments.
    """

    algo: str = ""

    def __init__(
        self,
        task: str,
        hyperparams: Mapping[str, Any],
        seed: int = 0,
        device: str = "cpu",
        reward_source: RewardSource | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ):
        self.task = task
        self.hp = dict(hyperparams)
        self.seed = int(seed)
        self.device = device
        self.env_kwargs = dict(env_kwargs or {})
        torch.set_num_threads(int(self.hp["torch_threads"]))
        base = SB3VecEnv(task, num_envs=int(self.hp["n_envs"]), nthread=int(self.hp["env_threads"]), **self.env_kwargs)
        self.card = base.env.card
        self.reward_env = RewardSourceWrapper(base, reward_source)
        env = Float32Observations(self.reward_env)
        self.vecnormalize: VecNormalize | None = None
        if self.hp["normalize_obs"] or self.hp["normalize_reward"]:
            env = VecNormalize(
                env,
                norm_obs=bool(self.hp["normalize_obs"]),
                norm_reward=bool(self.hp["normalize_reward"]),
                clip_obs=float(self.hp["clip_obs"]),
                gamma=float(self.hp["gamma"]),
            )
            self.vecnormalize = env
        self.env = env
        self.model: BaseAlgorithm = self.build_model(env)
        self._evaluations = 0

    # -- what subclasses provide ------------------------------------------------

    @abc.abstractmethod
    def build_model(self, env) -> BaseAlgorithm:
        """The SB3 model on ``env`` from ``self.hp``."""

    @abc.abstractmethod
    def torch_state(self) -> dict[str, Any]:
        """State dicts (networks, optimizers, extra tensors) for a checkpoint."""

    @abc.abstractmethod
    def load_torch_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`torch_state`."""

    def array_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Numpy arrays (and their JSON metadata) for a checkpoint, e.g. a replay buffer."""
        return {}, {}

    def load_array_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Inverse of :meth:`array_state`."""

    def learn_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the SB3 ``learn`` call (e.g. ``log_interval``)."""
        return {}

    def sb3_kwargs(self, *names: str) -> dict[str, Any]:
        """SB3 constructor arguments every algorithm takes alike: the hyperparameters ``names`` as
        they are, the learning rate (constant or linear), the seed and the device."""
        hp = self.hp
        lr = hp["learning_rate"] if hp["lr_schedule"] == "constant" else linear_schedule(hp["learning_rate"])
        return {**{name: hp[name] for name in names}, "learning_rate": lr, "seed": self.seed, "device": self.device, "verbose": 0}

    # -- using the agent --------------------------------------------------------

    @property
    def num_timesteps(self) -> int:
        return int(self.model.num_timesteps)

    @property
    def reward_source(self) -> RewardSource:
        return self.reward_env.reward_source

    def set_reward_source(self, source: RewardSource) -> None:
        """Train on ``source`` from the next step on (PrefPPO / PEBBLE swap in new reward models)."""
        if not isinstance(source, RewardSource):
            raise TypeError(f"need a pbrl RewardSource, got {type(source).__name__}")
        self.reward_env.reward_source = source

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """Raw observations as the policy sees them (normaliser frozen: no statistics update)."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.vecnormalize is not None and self.vecnormalize.norm_obs:
            obs = self.vecnormalize.normalize_obs(obs)
        return obs

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions (N, act_dim) for raw observations (N, obs_dim)."""
        actions, _ = self.model.predict(self.normalize_obs(obs), deterministic=deterministic)
        return actions

    def evaluate(self, episodes: int = 10, seed: int | None = None) -> EvalResult:
        """Evaluate the deterministic policy on ``episodes`` fresh-seeded episodes, all in one batch."""
        if seed is None:
            seed = eval_seed(self.seed, self._evaluations, "online")
        self._evaluations += 1
        return evaluate_policy(
            self.predict, self.task, episodes=episodes, seed=seed, env_kwargs=self.env_kwargs, env_threads=int(self.hp["env_threads"])
        )

    def learn(self, total_timesteps: int, callback: BaseCallback | list[BaseCallback] | None = None) -> None:
        """Train until ``total_timesteps`` env steps in all (counting steps done before a resume)."""
        remaining = int(total_timesteps) - self.num_timesteps
        if remaining <= 0:
            return
        if not getattr(self.model, "_custom_logger", False):
            # SB3's default logger makes an empty /tmp/SB3-<time> folder per learn(); pbrl runs log through their own
            from stable_baselines3.common.logger import Logger

            self.model.set_logger(Logger(folder=None, output_formats=[]))
        self.model.learn(remaining, callback=callback, reset_num_timesteps=False, **self.learn_kwargs())

    # -- checkpoints ------------------------------------------------------------

    def normalizer_state(self) -> dict[str, Any] | None:
        vn = self.vecnormalize
        if vn is None:
            return None
        return {
            "norm_obs": bool(vn.norm_obs),
            "norm_reward": bool(vn.norm_reward),
            "obs_mean": vn.obs_rms.mean.tolist(),
            "obs_var": vn.obs_rms.var.tolist(),
            "obs_count": float(vn.obs_rms.count),
            "ret_mean": float(vn.ret_rms.mean),
            "ret_var": float(vn.ret_rms.var),
            "ret_count": float(vn.ret_rms.count),
            "clip_obs": float(vn.clip_obs),
            "clip_reward": float(vn.clip_reward),
            "gamma": float(vn.gamma),
            "epsilon": float(vn.epsilon),
        }

    def load_normalizer_state(self, state: Mapping[str, Any] | None) -> None:
        vn = self.vecnormalize
        if (vn is None) != (state is None):
            raise CheckpointError("the checkpoint's observation/reward normalisation does not match the hyperparameters")
        if vn is None:
            return
        mean = np.asarray(state["obs_mean"], dtype=np.float64)
        if mean.shape != vn.obs_rms.mean.shape:
            raise CheckpointError(f"normaliser statistics have shape {mean.shape}, the env's observations {vn.obs_rms.mean.shape}")
        vn.obs_rms.mean = mean
        vn.obs_rms.var = np.asarray(state["obs_var"], dtype=np.float64)
        vn.obs_rms.count = float(state["obs_count"])
        vn.ret_rms.mean = np.float64(state["ret_mean"])
        vn.ret_rms.var = np.float64(state["ret_var"])
        vn.ret_rms.count = float(state["ret_count"])

    def save(self, root: str, extra: Mapping[str, Any] | None = None, keep: int = 2) -> str:
        """Checkpoint to ``root`` (a run's ``checkpoints/`` folder); returns the checkpoint folder."""
        weights = dict(self.torch_state())
        weights["torch_rng"] = torch.get_rng_state()
        arrays, array_meta = self.array_state()
        state = {
            "algo": self.algo,
            "task": self.task,
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
            "n_updates": int(getattr(self.model, "_n_updates", 0)),
            "episode_num": int(getattr(self.model, "_episode_num", 0)),
            "evaluations": self._evaluations,
            "hyperparams": self.hp,
            "normalizer": self.normalizer_state(),
            "arrays": array_meta,
            "extra": dict(extra or {}),
        }
        return write_checkpoint(root, self.num_timesteps, weights, state, arrays, keep=keep)

    def load(self, folder: str, load_arrays: bool = True) -> dict[str, Any]:
        """Restore a checkpoint folder written by :meth:`save`; returns its state (JSON)."""
        weights, state, arrays = read_checkpoint(folder, load_arrays=load_arrays)
        if state.get("algo") != self.algo or state.get("task") != self.task:
            raise CheckpointError(f"{folder} holds a {state.get('algo')} agent on {state.get('task')}, not {self.algo} on {self.task}")
        try:
            self.load_torch_state(weights)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{folder}: the weights do not fit this agent ({exc})") from None
        self.load_normalizer_state(state.get("normalizer"))
        if load_arrays:
            self.load_array_state(arrays, state.get("arrays", {}))
        self.model.num_timesteps = int(state["num_timesteps"])
        self.model._n_updates = int(state.get("n_updates", 0))
        self.model._episode_num = int(state.get("episode_num", 0))
        self._evaluations = int(state.get("evaluations", 0))
        # Episodes in flight at checkpoint time are not restored: resumed training
        # starts fresh episodes, seeded apart from the first run's.
        self.model.set_random_seed(int((self.seed + 7919 * self.num_timesteps) % (2**31 - 1)))
        if "torch_rng" in weights:
            torch.set_rng_state(weights["torch_rng"])
        return state

    def close(self) -> None:
        self.env.close()


def checkpoint_folder(path: str) -> str:
    """``path`` if it is a checkpoint folder, else the latest checkpoint under it (a run or its checkpoints/)."""
    from ..checkpoint import latest_checkpoint

    if os.path.isfile(os.path.join(path, "manifest.json")):
        return path
    for root in (os.path.join(path, "checkpoints"), path):
        found = latest_checkpoint(root)
        if found:
            return found
    raise CheckpointError(f"no checkpoint in {path}")
