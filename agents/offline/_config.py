"""Hyperparameters of the offline agents: :class:`OfflineConfig`, what every one of them has.

Each algorithm module declares its config as a dataclass deriving from
:class:`OfflineConfig`, every field made with :func:`hp` (``pbrl.settings.setting``:
default, meaning, allowed values); :mod:`pbrl.settings` checks overrides and describes
them. ``presets`` let one field choose the defaults of others (CPL's ``variant = "kl"``
switches α and λ to CPL-KL's).

Needs only the standard library (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pbrl.settings import ConfigError, Settings
from pbrl.settings import setting as hp


@dataclass
class OfflineConfig(Settings):
    """What every offline agent has. Subclasses add their algorithm's fields."""

    #: the agent's name (``pbrl train --agent NAME``), set by subclasses
    agent: ClassVar[str] = ""
    what: ClassVar[str] = "hyperparameter"

    steps: int = hp(1_000_000, "default training budget in gradient steps", min=1)
    batch_size: int = hp(256, "minibatch size (transitions, or segment pairs for segment-based agents)", min=1)
    hidden_sizes: list = hp([256, 256], "hidden layer sizes of the networks")
    normalize_states: bool = hp(True, "standardise observations with the dataset's mean and std (+1e-3)")
    torch_threads: int = hp(1, "torch intra-op threads (1 is fastest for these MLPs on 2 shared cores)", min=1)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.owner = cls.agent  # messages name the agent ("unknown hyperparameter 'x' for iql")


__all__ = ["ConfigError", "OfflineConfig", "hp"]
