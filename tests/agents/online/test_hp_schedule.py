"""Schedules in the hyperparameter file: rl-zoo's ``"lin_<initial>"`` strings.

``learning_rate = "lin_3e-4"`` is shorthand for ``learning_rate = 3e-4`` with
``lr_schedule = "linear"``; ``clip_range`` takes a number or ``"lin_<initial>"``.
Bad strings fail before any work, naming the key and the expected form.
"""

from __future__ import annotations

import pytest

import pbrl  # noqa: F401
from pbrl.agents import make_agent, resolve
from pbrl.agents.online.hyperparams import HYPERPARAMS_FILE, HyperparameterError, parse_overrides, parse_schedule

CHEETAH = "pbrl/HalfCheetah-v5"
PENDULUM = "pbrl/InvertedPendulum-v5"


def test_parse_schedule_numbers_and_lin_strings():
    assert parse_schedule(3e-4) == ("constant", 3e-4)
    assert parse_schedule(1) == ("constant", 1.0)
    assert parse_schedule("lin_3e-4") == ("linear", 3e-4)
    assert parse_schedule("lin_0.2") == ("linear", 0.2)
    assert parse_schedule(" lin_1e-3 ") == ("linear", 1e-3)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("lin_", r"'' after 'lin_' is not a number"),
        ("lin_abc", r"'abc' after 'lin_' is not a number"),
        ("cos_3e-4", r"the only schedule prefix is 'lin_'"),
        ("3e-4x", r"the only schedule prefix is 'lin_'"),
        ("lin_-1e-4", r"with a value >= 0"),
        ("lin_nan", r"with a finite value"),
        (True, r"a number or a linear schedule 'lin_<initial value>'"),
        ([3e-4], r"a number or a linear schedule 'lin_<initial value>'"),
    ],
)
def test_parse_schedule_rejects_bad_values(bad, message):
    with pytest.raises(TypeError, match=message):
        parse_schedule(bad)


def test_lin_learning_rate_from_the_command_line():
    overrides = parse_overrides(["learning_rate=lin_5e-4", "clip_range=lin_0.2"])
    assert overrides == {"learning_rate": "lin_5e-4", "clip_range": "lin_0.2"}
    hp = resolve("ppo", CHEETAH, overrides)
    # one resolved form: the number in learning_rate, the schedule in lr_schedule
    assert hp["learning_rate"] == 5e-4 and hp["lr_schedule"] == "linear"
    assert hp["clip_range"] == "lin_0.2"
    assert resolve("ppo", CHEETAH, {"learning_rate": 1e-4})["lr_schedule"] == resolve("ppo", CHEETAH)["lr_schedule"]
    sac = resolve("sac", CHEETAH, parse_overrides(["learning_rate=lin_7.3e-4"]))
    assert sac["learning_rate"] == 7.3e-4 and sac["lr_schedule"] == "linear"


@pytest.mark.parametrize(
    "override, message",
    [
        ("learning_rate=lin_abc", r"hyperparameter 'learning_rate' for ppo must be .*'abc' after 'lin_' is not a number, got 'lin_abc'"),
        ("learning_rate=cos_3e-4", r"hyperparameter 'learning_rate' for ppo must be .*only schedule prefix is 'lin_'\), got 'cos_3e-4'"),
        ("learning_rate=lin_-3e-4", r"'learning_rate' for ppo must be .*>= 0, got 'lin_-3e-4'"),
        ("clip_range=lin_x", r"hyperparameter 'clip_range' for ppo must be .*'x' after 'lin_' is not a number"),
        ("clip_range=linear", r"hyperparameter 'clip_range' for ppo must be .*only schedule prefix is 'lin_'"),
    ],
)
def test_bad_schedules_are_rejected_naming_the_key(override, message):
    with pytest.raises(HyperparameterError, match=message):
        resolve("ppo", CHEETAH, parse_overrides([override]))


def test_lin_learning_rate_contradicting_lr_schedule_in_one_table():
    with pytest.raises(HyperparameterError, match=r"'learning_rate' for ppo is 'lin_3e-4' \(a linear schedule\) but 'lr_schedule' is 'constant'"):
        resolve("ppo", CHEETAH, {"learning_rate": "lin_3e-4", "lr_schedule": "constant"})
    # agreeing is fine
    assert resolve("ppo", CHEETAH, {"learning_rate": "lin_3e-4", "lr_schedule": "linear"})["lr_schedule"] == "linear"


def test_the_shipped_file_parses_its_schedule_strings():
    # hyperparams.toml writes Walker2d's learning rate as "lin_5e-4"
    hp = resolve("ppo", "pbrl/Walker2d-v5")
    assert hp["learning_rate"] == 5e-4 and hp["lr_schedule"] == "linear"


def _table(tmp_path, task_table: str) -> str:
    with open(HYPERPARAMS_FILE) as f:
        text = f.read()
    path = tmp_path / "hp.toml"
    path.write_text(text + f'\n[ppo."pbrl/Test-v0"]\n{task_table}\n')
    return str(path)


def test_lin_string_in_the_hyperparameter_file(tmp_path):
    path = _table(tmp_path, 'learning_rate = "lin_4e-4"\nclip_range = "lin_0.3"')
    hp = resolve("ppo", "pbrl/Test-v0", path=path)
    assert hp["learning_rate"] == 4e-4 and hp["lr_schedule"] == "linear" and hp["clip_range"] == "lin_0.3"
    # a later table still wins: --hp lr_schedule=constant turns the file's schedule off
    hp = resolve("ppo", "pbrl/Test-v0", {"lr_schedule": "constant", "clip_range": 0.1}, path=path)
    assert hp["learning_rate"] == 4e-4 and hp["lr_schedule"] == "constant" and hp["clip_range"] == 0.1
    bad = _table(tmp_path, 'learning_rate = "lin_fast"')
    with pytest.raises(HyperparameterError, match=r"\[ppo.'pbrl/Test-v0'\] key 'learning_rate' for ppo must be .*'fast' after 'lin_'"):
        resolve("ppo", "pbrl/Test-v0", path=bad)


def test_ppo_builds_linear_schedules():
    hp = resolve("ppo", PENDULUM, parse_overrides(["learning_rate=lin_1e-3", "clip_range=lin_0.2", "n_envs=2"]))
    agent = make_agent("ppo", PENDULUM, hp, seed=0)
    try:
        model = agent.model
        assert model.lr_schedule(1.0) == pytest.approx(1e-3) and model.lr_schedule(0.25) == pytest.approx(2.5e-4)
        assert model.clip_range(1.0) == pytest.approx(0.2) and model.clip_range(0.5) == pytest.approx(0.1)
    finally:
        agent.close()
    hp = resolve("ppo", PENDULUM, {"n_envs": 2})
    agent = make_agent("ppo", PENDULUM, hp, seed=0)
    try:
        assert agent.model.clip_range(0.5) == pytest.approx(hp["clip_range"])
        assert agent.model.lr_schedule(0.5) == pytest.approx(hp["learning_rate"])
    finally:
        agent.close()
