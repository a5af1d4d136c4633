"""The one table of pbrl's agents: name → family, class and settings.

``pbrl train``, run configs, sweeps and ``--list-hp`` look agents up here. Importing
this module does not import torch; :meth:`AgentSpec.load` imports the agent's module.

* **online** agents (PPO, SAC) train on a batched task through Stable-Baselines3; their
  settings are the per-task hyperparameters of ``agents/online/hyperparams.toml``. With
  ``--reward learned`` the same name trains its preference-learning version (PrefPPO,
  PEBBLE: :attr:`AgentSpec.preference_class`), whose extra options are
  ``agents/preference/options.py``'s.
* **offline** agents (BC, IQL, P-IQL, CPL, OPPO, IPL) train on a dataset; their
  settings are the typed dataclass ``<Agent>.Config``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class AgentSpec:
    """One agent: where its class lives and which family's plumbing runs it."""

    name: str
    family: str  # "online" or "offline"
    class_path: str  # "module:Class", module under pbrl.agents
    settings_path: str  # "module:Class", the agent's settings (a pbrl.settings.Settings)
    preference_class_path: str | None = None  # online agents: the --reward learned version

    def load(self) -> type:
        """The agent's class (imports its module, and torch)."""
        return _load(self.class_path)

    def settings(self) -> type:
        """The class declaring the agent's settings (online: no torch; offline: imports the agent)."""
        return _load(self.settings_path)

    def load_preference(self) -> type:
        """The preference-learning version's class (online agents with ``--reward learned``)."""
        if self.preference_class_path is None:
            raise UnknownAgentError(f"agent {self.name!r} has no preference-learning version")
        return _load(self.preference_class_path)


def _load(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(f"pbrl.agents.{module}"), name)


AGENTS: dict[str, AgentSpec] = {
    spec.name: spec
    for spec in (
        AgentSpec("ppo", "online", "online.ppo:PPOAgent", "online.hyperparams:PPOHyperparams", "preference.prefppo:PrefPPOAgent"),
        AgentSpec("sac", "online", "online.sac:SACAgent", "online.hyperparams:SACHyperparams", "preference.pebble:PEBBLEAgent"),
        AgentSpec("bc", "offline", "offline.bc:BC", "offline.bc:BCConfig"),
        AgentSpec("iql", "offline", "offline.iql:IQL", "offline.iql:IQLConfig"),
        AgentSpec("piql", "offline", "offline.piql:PIQL", "offline.piql:PIQLConfig"),
        AgentSpec("cpl", "offline", "offline.cpl:CPL", "offline.cpl:CPLConfig"),
        AgentSpec("oppo", "offline", "offline.oppo:OPPO", "offline.oppo:OPPOConfig"),
        AgentSpec("ipl", "offline", "offline.ipl:IPL", "offline.ipl:IPLConfig"),
    )
}
ONLINE_AGENTS: tuple[str, ...] = tuple(n for n, s in AGENTS.items() if s.family == "online")
OFFLINE_AGENTS: tuple[str, ...] = tuple(n for n, s in AGENTS.items() if s.family == "offline")


class UnknownAgentError(ValueError):
    """An agent name that is not in :data:`AGENTS` (or not of the family asked for)."""


def suggest(name: Any, names) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``names``, or ``""``."""
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_offline_agent(name: str) -> bool:
    """``name`` is an offline agent (trains on a dataset)."""
    return name in OFFLINE_AGENTS


def offline_agent_class(name: str) -> type:
    """The class of offline agent ``name`` (imports torch)."""
    if name not in OFFLINE_AGENTS:
        raise UnknownAgentError(f"unknown offline agent {name!r}{suggest(name, OFFLINE_AGENTS)}; offline agents: {', '.join(OFFLINE_AGENTS)}")
    return AGENTS[name].load()


def settings_class(agent: str) -> type:
    """The settings class of any agent (``--list-hp`` reads its declarations)."""
    if agent not in AGENTS:
        raise UnknownAgentError(f"unknown agent {agent!r}{suggest(agent, AGENTS)}; agents: {', '.join(AGENTS)}")
    return AGENTS[agent].settings()


def online_spec(agent: str) -> AgentSpec:
    """The spec of online agent ``agent`` ("ppo" or "sac")."""
    if agent not in ONLINE_AGENTS:
        raise UnknownAgentError(f"unknown agent {agent!r}{suggest(agent, ONLINE_AGENTS)}; online agents: {', '.join(ONLINE_AGENTS)}")
    return AGENTS[agent]


def agent_class(agent: str) -> type:
    """The class of online agent ``agent`` ("ppo" or "sac")."""
    return online_spec(agent).load()


def make_agent(agent: str, task: str, hyperparams: Mapping[str, Any], **kwargs: Any):
    """Build an online agent from resolved hyperparameters (see :class:`~pbrl.agents.online.OnlineAgent`)."""
    return agent_class(agent)(task, hyperparams, **kwargs)


def make_preference_agent(agent: str, task: str, hyperparams: Mapping[str, Any], **kwargs: Any):
    """PrefPPO (``agent="ppo"``) or PEBBLE (``agent="sac"``): see :class:`~pbrl.agents.preference.pebble.PEBBLEAgent`."""
    return online_spec(agent).load_preference()(task, hyperparams, **kwargs)


__all__ = [
    "AGENTS", "OFFLINE_AGENTS", "ONLINE_AGENTS", "AgentSpec", "UnknownAgentError", "agent_class", "is_offline_agent",
    "make_agent", "make_preference_agent", "offline_agent_class", "online_spec", "settings_class", "suggest",
]  # fmt: skip
