"""pbrl's agents (installed as ``pbrl.agents``), one folder per family.

* ``online/`` — PPO and SAC on Stable-Baselines3 over pbrl's batched tasks: the shared
  base (:class:`~pbrl.agents.online.OnlineAgent`), the reward wrapper, callbacks and
  per-task hyperparameters (``hyperparams.toml``).
* ``preference/`` — PrefPPO and PEBBLE (``--reward learned``): the preference loop both
  share and its options (``README.md`` there).
* ``offline/`` — BC, IQL, P-IQL, CPL, OPPO and IPL on datasets, with their shared
  plumbing in private modules (``README.md`` there).
* :mod:`.registry` — the one table from agent name to family and class;
  :mod:`.checkpoint` — the checkpoint format both families write.

Importing this package does not import torch; :func:`make_agent` imports the agent's module.
"""

from __future__ import annotations

from .online.hyperparams import HyperparameterError, check_agent, resolve
from .registry import AGENTS, OFFLINE_AGENTS, ONLINE_AGENTS, agent_class, make_agent, make_preference_agent

__all__ = [
    "AGENTS", "HyperparameterError", "OFFLINE_AGENTS", "ONLINE_AGENTS", "agent_class", "check_agent", "make_agent",
    "make_preference_agent", "resolve",
]  # fmt: skip
