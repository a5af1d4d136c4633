"""The online agents' hyperparameters are declared once, as typed fields (pbrl.settings):
defaults that pass their own checks, help rows and per-task tables that resolve."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from pbrl.agents.registry import AGENTS, OFFLINE_AGENTS, settings_class
from pbrl.agents.online.hyperparams import HYPERPARAMS, HYPERPARAMS_FILE, HyperparameterError, describe, resolve
from pbrl.agents.preference.options import OPTIONS, PreferenceOptionError, resolve_preference_options
from pbrl.settings import ConfigError


@pytest.mark.parametrize("cls", [*HYPERPARAMS.values(), *OPTIONS.values()])
def test_every_default_passes_its_own_check(cls):
    for f in dataclasses.fields(cls):
        value = getattr(cls(), f.name)
        assert f.metadata["help"] and f.metadata["check"](value) == value, f.name


def test_help_rows_and_the_registry_come_from_the_declarations():
    for agent, cls in HYPERPARAMS.items():
        names = [f.name for f in dataclasses.fields(cls)]
        assert sorted(names) == [row[0] for row in describe(agent)]
        assert settings_class(agent) is cls
    for agent in OFFLINE_AGENTS:
        assert settings_class(agent) is AGENTS[agent].load().Config
    assert HYPERPARAMS["sac"]().n_envs == 4 and HYPERPARAMS["ppo"]().n_envs == 16  # SAC's own default, PPO's help


def test_every_task_table_resolves_and_errors_are_config_errors():
    with open(HYPERPARAMS_FILE, "rb") as f:
        tables = tomllib.load(f)
    assert "defaults" not in tables.get("ppo", {}) and "defaults" not in tables.get("sac", {})  # declared in code
    for agent, per_task in tables.items():
        for task in per_task:
            hp = resolve(agent, task)
            assert set(hp) == {f.name for f in dataclasses.fields(HYPERPARAMS[agent])}
    with pytest.raises(HyperparameterError, match=r"unknown hyperparameter 'bach_size' for ppo \(did you mean 'batch_size'\?\)") as info:
        resolve("ppo", "pbrl/Hopper-v5", {"bach_size": 3})
    assert isinstance(info.value, ConfigError)
    with pytest.raises(PreferenceOptionError, match=r"unknown preference option 'segmnt_length' \(did you mean 'segment_length'\?\); valid options:") as info:
        resolve_preference_options("sac", {"segmnt_length": 3})
    assert isinstance(info.value, ConfigError)
