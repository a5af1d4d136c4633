"""B-Pref's SAC settings as per-task entries of the ``pbrl/dmc-*`` tasks, and a short ``pbrl train`` run on one."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from agents.online.hyperparams import load_table, resolve
from pbrl.envs import cards

pytest.importorskip("dm_control")

DMC_IDS = sorted(t for t in cards() if t.startswith("pbrl/dmc-"))


def test_every_dmc_task_has_b_prefs_sac_settings():
    table = load_table()["sac"]
    assert set(DMC_IDS) <= set(table), sorted(set(DMC_IDS) - set(table))
    for task_id in DMC_IDS:
        hp = resolve("sac", task_id)
        assert hp["batch_size"] == 1024 and hp["net_arch"] == [1024, 1024] and hp["gamma"] == 0.99
        assert hp["n_envs"] == 1 and hp["gradient_steps"] == 1 and hp["train_freq"] == 1
        assert hp["learning_starts"] == 1000 and hp["ent_coef"] == "auto_0.1" and hp["tau"] == 0.005
    # the learning rates of B-Pref's scripts where it has one, sac.yaml's elsewhere
    assert resolve("sac", "pbrl/dmc-walker-walk-v0")["learning_rate"] == 5e-4
    assert resolve("sac", "pbrl/dmc-quadruped-walk-v0")["learning_rate"] == 1e-4
    assert resolve("sac", "pbrl/dmc-cheetah-run-v0")["learning_rate"] == 1e-4
    # the Gymnasium tasks keep SAC's own defaults
    assert resolve("sac", "pbrl/Hopper-v5")["batch_size"] == 256


def test_a_few_hundred_sac_steps_train_on_walker_walk(tmp_path):
    from pbrl.cli.main import app

    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, [
        "train", "--env", "pbrl/dmc-walker-walk-v0", "--agent", "sac", "--steps", "300",
        "--hp", "learning_starts=100", "--hp", "net_arch=[32, 32]", "--hp", "batch_size=64",
        "--eval-freq", "0", "--eval-episodes", "1", "--checkpoint-freq", "0",
        "--runs-dir", runs, "--name", "dmc", "--seed", "1", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    run = os.path.join(runs, "pbrl_dmc-walker-walk-v0", "sac", "dmc-s1")
    config = json.load(open(os.path.join(run, "config.json")))
    hp = config["hyperparams"]
    # the task's entry (B-Pref's values) under the overrides given here
    assert hp["learning_rate"] == 5e-4 and hp["ent_coef"] == "auto_0.1" and hp["n_envs"] == 1
    assert hp["net_arch"] == [32, 32] and hp["batch_size"] == 64 and hp["learning_starts"] == 100
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert summary["status"] == "complete" and summary["num_timesteps"] == 300
