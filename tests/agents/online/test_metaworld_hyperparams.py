"""B-Pref's Meta-World SAC settings as per-task hyperparameter entries (agents/online/hyperparams.toml):
every Meta-World task resolves to sac_metaworld.yaml with the learning rate of B-Pref's Meta-World scripts,
--hp still wins, and the Gymnasium tasks and PPO keep what they had."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pbrl.agents.online.hyperparams import PPOHyperparams, SACHyperparams, load_table, resolve
from pbrl.cli.main import app
from pbrl.envs import TASKS

METAWORLD = sorted(t for t in TASKS if t.startswith("pbrl/metaworld-"))
#: sac_metaworld.yaml and scripts/{button_press,sweep_into}/run_sac.sh, in pbrl's names
BPREF_METAWORLD_SAC = {
    "n_timesteps": 1_000_000, "n_envs": 1, "train_freq": 1, "gradient_steps": 1, "learning_rate": 3e-4, "lr_schedule": "constant",
    "batch_size": 512, "buffer_size": 1_000_000, "learning_starts": 1000, "net_arch": [256, 256, 256], "activation": "relu",
    "gamma": 0.99, "tau": 0.005, "ent_coef": "auto_0.1", "target_entropy": "auto", "normalize_obs": False, "normalize_reward": False,
}  # fmt: skip


def test_every_meta_world_task_has_an_entry_and_every_entry_a_task():
    entries = sorted(t for t in load_table()["sac"] if "metaworld" in t)
    assert len(METAWORLD) == 11 and entries == METAWORLD


@pytest.mark.parametrize("task", ["pbrl/metaworld-button-press-v3", "pbrl/metaworld-sweep-into-v3", "pbrl/metaworld-bin-picking-v3"])
def test_meta_world_tasks_resolve_to_bprefs_sac(task):
    hp = resolve("sac", task)
    assert {k: hp[k] for k in BPREF_METAWORLD_SAC} == BPREF_METAWORLD_SAC


def test_overrides_still_win():
    hp = resolve("sac", "pbrl/metaworld-door-open-v3", {"batch_size": 64, "net_arch": [32], "learning_rate": "lin_1e-3"})
    assert hp["batch_size"] == 64 and hp["net_arch"] == [32] and (hp["learning_rate"], hp["lr_schedule"]) == (1e-3, "linear")
    assert hp["gamma"] == 0.99 and hp["learning_starts"] == 1000  # the rest stays the task's


def test_gymnasium_tasks_and_ppo_are_unchanged():
    assert resolve("sac", "pbrl/HalfCheetah-v5") == SACHyperparams().to_dict()  # no SAC table for Gymnasium tasks
    assert resolve("ppo", "pbrl/metaworld-door-open-v3") == PPOHyperparams().to_dict()  # no Meta-World PPO tables
    assert resolve("ppo", "pbrl/Walker2d-v5")["learning_rate"] == 5e-4


def test_list_hp_shows_the_task_values():
    out = CliRunner().invoke(app, ["train", "--agent", "sac", "--list-hp", "--env", "pbrl/metaworld-button-press-v3"])
    assert out.exit_code == 0, out.output
    row = next(line for line in out.output.splitlines() if " batch_size " in line)
    assert "512" in row
