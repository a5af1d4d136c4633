"""Reward sources: where an agent's training reward comes from.

``source.py`` holds the contract (numpy only, no torch). Learned reward models
(torch) and the sandbox for untrusted reward programs live in their own modules.

Learned reward models need torch and are imported lazily, on first use of their
names here (``from pbrl.rewards import RewardEnsemble``) or directly from
``pbrl.rewards.ensemble`` / ``pbrl.rewards.transformer`` / ``pbrl.rewards.persist``;
``import pbrl.rewards`` alone does not import torch. ``pbrl.rewards.metrics`` (label
accuracy, correlation, EPIC distance) is numpy only.
"""

import importlib as _importlib

from .source import (
    CallableReward,
    RewardProgram,
    RewardProgramError,
    RewardSource,
    TrueReward,
    TrustedProgram,
    describe_reward_spec,
    make_reward_source,
    reward_spec_help,
)
from .metrics import (
    canonicalize_rewards,
    epic_distance,
    pearson_correlation,
    preference_accuracy,
    reward_correlation,
)

#: torch-needing names, imported on first access
_LAZY = {
    "RewardEnsemble": "ensemble",
    "EnsembleMLP": "ensemble",
    "PreferenceTransformer": "transformer",
    "PreferenceRewardModel": "model",
    "LearnedRewardSource": "model",
    "FitResult": "model",
    "bradley_terry_loss": "bradley_terry",
    "load_reward_model": "persist",
    "CheckpointError": "persist",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CallableReward",
    "RewardProgram",
    "RewardProgramError",
    "TrustedProgram",
    "describe_reward_spec",
    "RewardSource",
    "TrueReward",
    "make_reward_source",
    "reward_spec_help",
    "canonicalize_rewards",
    "epic_distance",
    "pearson_correlation",
    "preference_accuracy",
    "reward_correlation",
    *_LAZY,
]
