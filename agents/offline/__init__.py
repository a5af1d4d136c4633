"""Offline agents: BC, IQL, P-IQL, CPL, OPPO and IPL (installed as ``pbrl.agents.offline``).

The algorithms live one per module in ``agents/`` (``bc.py``, ``iql.py``,
``piql.py``, ``cpl.py``, ``oppo.py``, ``ipl.py``), each readable top to bottom with
its loss written as in its paper. What they share lives here, one concern per module:

* :mod:`.config`   — hyperparameter dataclasses: defaults, overrides, type checks;
* :mod:`.nets`     — MLPs, the batched twin Q, Gaussian / deterministic policies;
* :mod:`.data`     — datasets as resident torch tensors, batch and segment sampling,
  state normalisation, reward scaling;
* :mod:`.preferences` — preference pairs from a store, checked against the dataset;
* :mod:`.base`     — :class:`~.base.OfflineAgent`: build, fit, act, save, load, resume;
* :mod:`.loop`     — the training loop: evaluation every K steps, logging, checkpoints.

Importing this package does not import torch (the CLI checks agent names with it).
"""

from __future__ import annotations

import importlib

#: agent name -> (module under pbrl.agents, class name)
OFFLINE_AGENTS: dict[str, tuple[str, str]] = {
    "bc": ("bc", "BC"),
    "iql": ("iql", "IQL"),
    "piql": ("piql", "PIQL"),
    "cpl": ("cpl", "CPL"),
    "oppo": ("oppo", "OPPO"),
    "ipl": ("ipl", "IPL"),
}


class UnknownAgentError(ValueError):
    """An agent name that is not one of :data:`OFFLINE_AGENTS`."""


def is_offline_agent(name: str) -> bool:
    return name in OFFLINE_AGENTS


def offline_agent_class(name: str):
    """The class of offline agent ``name`` (imports torch)."""
    if name not in OFFLINE_AGENTS:
        import difflib

        close = difflib.get_close_matches(str(name), list(OFFLINE_AGENTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownAgentError(f"unknown offline agent {name!r}{hint}; offline agents: {', '.join(OFFLINE_AGENTS)}")
    module, cls = OFFLINE_AGENTS[name]
    return getattr(importlib.import_module(f"pbrl.agents.{module}"), cls)


__all__ = ["OFFLINE_AGENTS", "UnknownAgentError", "is_offline_agent", "offline_agent_class"]
