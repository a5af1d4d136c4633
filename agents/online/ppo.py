"""PPO: Stable-Baselines3's PPO on a pbrl batched task.

A thin layer: the hyperparameters of ``hyperparams.toml`` become SB3 arguments,
and a checkpoint holds the policy and its optimizer as plain state dicts.
Observation and reward normalisation (VecNormalize) are on by default, as in
rl-zoo's MuJoCo settings.
"""

from __future__ import annotations

from typing import Any, Mapping

from stable_baselines3 import PPO

from .hyperparams import parse_schedule
from .base import ACTIVATIONS, OnlineAgent, linear_schedule


class PPOAgent(OnlineAgent):
    """PPO from a hyperparameter dict (declared by ``PPOHyperparams`` in ``hyperparams.py``)."""

    algo = "ppo"

    def build_model(self, env) -> PPO:
        hp = self.hp
        clip_kind, clip = parse_schedule(hp["clip_range"])  # a number or "lin_<initial>"
        rollout = hp["n_steps"] * hp["n_envs"]
        if hp["batch_size"] > rollout:
            raise ValueError(
                f"batch_size ({hp['batch_size']}) is larger than a rollout (n_steps * n_envs = {rollout}); "
                "lower batch_size or raise n_steps / n_envs"
            )
        arch = list(hp["net_arch"])
        return PPO(
            "MlpPolicy",
            env,
            clip_range=clip if clip_kind == "constant" else linear_schedule(clip),
            target_kl=None if hp["target_kl"] == "off" else hp["target_kl"],
            policy_kwargs=dict(
                net_arch=dict(pi=arch, vf=arch),
                activation_fn=ACTIVATIONS[hp["activation"]],
                log_std_init=hp["log_std_init"],
                ortho_init=hp["ortho_init"],
            ),
            **self.sb3_kwargs("n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm"),
        )

    def learn_kwargs(self) -> dict[str, Any]:
        return {"log_interval": 1}

    def torch_state(self) -> dict[str, Any]:
        return {"policy": self.model.policy.state_dict(), "optim/policy": self.model.policy.optimizer.state_dict()}

    def load_torch_state(self, state: Mapping[str, Any]) -> None:
        self.model.policy.load_state_dict(state["policy"])
        self.model.policy.optimizer.load_state_dict(state["optim/policy"])
