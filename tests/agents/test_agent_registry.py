"""The one agent registry (agents/registry.py): every name resolves to its family's class,
and the tables that still key on agent names (online hyperparameters) agree with it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pbrl.agents import registry
from pbrl.agents.online.base import OnlineAgent
from pbrl.agents.online.hyperparams import HYPERPARAMS
from pbrl.agents.offline import OfflineAgent
from pbrl.agents.preference.base import PreferenceAgent


def test_every_agent_loads_the_class_of_its_family():
    assert set(registry.AGENTS) == {"ppo", "sac", "bc", "iql", "piql", "cpl", "oppo", "ipl"}
    for name, spec in registry.AGENTS.items():
        cls = spec.load()
        if spec.family == "online":
            assert issubclass(cls, OnlineAgent) and cls.algo == name
            pref = spec.load_preference()
            assert issubclass(pref, PreferenceAgent) and issubclass(pref, cls)
        else:
            assert spec.family == "offline" and issubclass(cls, OfflineAgent)
            assert registry.offline_agent_class(name) is cls and registry.is_offline_agent(name)
            with pytest.raises(registry.UnknownAgentError, match="no preference-learning version"):
                spec.load_preference()


def test_online_hyperparameter_tables_match_the_registry():
    assert tuple(HYPERPARAMS) == registry.ONLINE_AGENTS == ("ppo", "sac")
    assert registry.OFFLINE_AGENTS == ("bc", "iql", "piql", "cpl", "oppo", "ipl")


def test_unknown_names_are_refused_with_the_closest_one():
    with pytest.raises(registry.UnknownAgentError, match=r"unknown offline agent 'iq1' \(did you mean 'iql'\?\); offline agents: bc, iql"):
        registry.offline_agent_class("iq1")
    with pytest.raises(ValueError, match=r"unknown agent 'sca' \(did you mean 'sac'\?\); online agents: ppo, sac"):
        registry.agent_class("sca")


def test_the_registry_and_the_agent_packages_import_without_torch():
    code = ("import sys, pbrl.agents, pbrl.agents.registry, pbrl.agents.offline, pbrl.agents.online, pbrl.agents.preference; "
            "print('torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
