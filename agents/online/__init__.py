"""Online agents: PPO and SAC on Stable-Baselines3 over pbrl's batched tasks.

* :mod:`.base` — :class:`OnlineAgent`: env, SB3 model, reward source, learn, act, save, load;
* :mod:`.ppo`, :mod:`.sac` — the two algorithms (SAC's cheaper actor-loss step);
* :mod:`.reward_wrapper` — the learned / program / true reward as an SB3 VecEnv wrapper;
* :mod:`.callbacks` — evaluation, checkpoints and pbrl's TensorBoard tags;
* :mod:`.hyperparams` — per-task hyperparameters (``hyperparams.toml``), resolved and checked.

Importing this package does not import torch; :class:`OnlineAgent` loads on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "OnlineAgent":
        from .base import OnlineAgent

        return OnlineAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OnlineAgent"]
