"""BC — behaviour cloning: regress the dataset's actions.

``L = E_(s,a)~D [ ‖π(s) - a‖² ]`` with a deterministic ``π(s) = tanh(f(s))``, as the
BC baseline of the offline-RL literature (CORL's ``any_percent_bc``: 2×256 ReLU,
Adam 3e-4, batch 256, states normalised). ``top_fraction < 1`` is %BC: clone only the
best episodes (by return) holding that fraction of the transitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._base import OfflineAgent
from ._config import OfflineConfig, hp
from ._data import OfflineData, TransitionBatches
from ._nets import DeterministicPolicy


def bc_loss(predicted: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the policy's and the dataset's actions (mean over batch and dimensions)."""
    return torch.mean((predicted - actions).square())


@dataclass
class BCConfig(OfflineConfig):
    agent = "bc"

    lr: float = hp(3e-4, "Adam learning rate", min=0.0)
    dropout: float = hp(0.0, "dropout in the hidden layers", min=0.0, max=1.0)
    top_fraction: float = hp(1.0, "%BC: clone only the best episodes holding this fraction of the data", min=0.0, max=1.0)

    def check(self) -> None:
        if self.top_fraction <= 0:
            from ._config import ConfigError

            raise ConfigError("hyperparameter 'top_fraction' of bc must be > 0")


def top_episodes(data: OfflineData, fraction: float) -> np.ndarray:
    """Transition indices of the best episodes (by return) covering ``fraction`` of the data (at least one episode)."""
    if fraction >= 1.0:
        return np.arange(len(data))
    order = np.argsort(-data.episode_returns())
    covered = np.cumsum(data.lengths[order])
    keep = order[: max(1, int(np.searchsorted(covered, fraction * len(data))) + 1)]
    return np.flatnonzero(np.isin(data.episode, keep))


class BC(OfflineAgent):
    name = "bc"
    Config = BCConfig
    loss_names = ("bc_loss",)

    def build(self) -> None:
        c = self.config
        self.actor = DeterministicPolicy(self.obs_dim, self.act_dim, c.hidden_sizes, dropout=c.dropout).to(self.device)
        self.optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.lr, fused=self.device.type == "cpu" or None)

    def prepare(self, data: OfflineData, preferences) -> None:
        rows = top_episodes(data, self.config.top_fraction)
        obs = data.observations[rows]
        self.batches = TransitionBatches(
            {"obs": self.normalizer.numpy(obs) if self.config.normalize_states else obs, "actions": data.actions[rows]},
            self.device,
            self.generator,
        )

    def update(self) -> None:
        b = self.batches.sample(self.config.batch_size)
        loss = bc_loss(self.actor(b["obs"]), b["actions"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.record(loss)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)


__all__ = ["BC", "BCConfig", "bc_loss", "top_episodes"]
