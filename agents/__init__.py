"""pbrl's agents (installed as ``pbrl.agents``).

Online: PPO and SAC (Stable-Baselines3 on pbrl's batched tasks), and their
preference-learning versions PrefPPO and PEBBLE (``--reward learned``; see
``PREFERENCES.md``). Importing this
package does not import torch; :func:`make_agent` imports the agent's module.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from .hyperparams import AGENTS, HyperparameterError, check_agent, resolve

_ONLINE = {"ppo": ("ppo", "PPOAgent"), "sac": ("sac", "SACAgent")}
_PREFERENCE = {"ppo": ("prefppo", "PrefPPOAgent"), "sac": ("pebble", "PEBBLEAgent")}


def agent_class(agent: str):
    """The class of online agent ``agent`` ("ppo" or "sac")."""
    module, name = _ONLINE[check_agent(agent)]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def make_agent(agent: str, task: str, hyperparams: Mapping[str, Any], **kwargs: Any):
    """Build an online agent from resolved hyperparameters (see :class:`~pbrl.agents.online.OnlineAgent`)."""
    return agent_class(agent)(task, hyperparams, **kwargs)


def make_preference_agent(agent: str, task: str, hyperparams: Mapping[str, Any], **kwargs: Any):
    """PrefPPO (``agent="ppo"``) or PEBBLE (``agent="sac"``): see :class:`~pbrl.agents.pebble.PEBBLEAgent`."""
    module, name = _PREFERENCE[check_agent(agent)]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)(task, hyperparams, **kwargs)


__all__ = ["AGENTS", "HyperparameterError", "agent_class", "check_agent", "make_agent", "make_preference_agent", "resolve"]
