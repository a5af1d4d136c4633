"""Offline agents: BC, IQL, P-IQL, CPL, OPPO and IPL (installed as ``pbrl.agents.offline``).

One algorithm per module (``bc.py``, ``iql.py``, ``piql.py``, ``cpl.py``, ``oppo.py``,
``ipl.py``), each readable top to bottom with its loss written as in its paper. What they
share lives in private modules, one concern each:

* ``_config``      — hyperparameter dataclasses: defaults, overrides, type checks;
* ``_nets``        — MLPs, the batched twin Q, Gaussian / deterministic policies;
* ``_data``        — datasets as resident torch tensors, batch and segment sampling,
  state normalisation, reward scaling;
* ``_preferences`` — preference pairs from a store, checked against the dataset;
* ``_base``        — :class:`OfflineAgent`: build, fit, act, save, load, resume;
* ``_loop``        — the training loop: evaluation every K steps, logging, checkpoints;
* ``_compiled``    — IQL's optional compiled update step.

A new agent subclasses :class:`OfflineAgent` with a ``Config`` dataclass of :func:`hp`
fields (both importable from here) and is listed in :mod:`pbrl.agents.registry`.
Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..registry import OFFLINE_AGENTS, UnknownAgentError, is_offline_agent, offline_agent_class

#: the shared plumbing a new offline agent builds on: name -> private module
_PLUMBING = {
    "OfflineAgent": "_base", "OfflineConfig": "_config", "hp": "_config", "ConfigError": "_config",
    "OfflineData": "_data", "TransitionBatches": "_data", "SegmentIndex": "_data", "PreferencePairs": "_preferences",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _PLUMBING:
        return getattr(importlib.import_module(f"{__name__}.{_PLUMBING[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OFFLINE_AGENTS", "UnknownAgentError", "is_offline_agent", "offline_agent_class", *_PLUMBING]
