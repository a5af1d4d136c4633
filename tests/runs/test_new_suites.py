"""The whole pipeline on the DeepMind Control and Meta-World tasks: a learned reward (PrefPPO, PEBBLE) from a
scripted teacher, dataset generation and an offline agent on the dataset. Tiny budgets: this checks that the
pieces fit together on these tasks (cards, quantities, episode ends, success), not that they learn."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from offline_support import datasets_root
from pbrl.cli.main import app
from pbrl.envs import cards

runner = CliRunner()
DMC = "pbrl/dmc-cartpole-swingup-v0"
METAWORLD = "pbrl/metaworld-door-open-v3"
#: 2 sub-envs: queries are cut from two finished episodes at least (as B-Pref's), which take 1,000 steps here
TINY_PPO = ["--hp", "n_envs=2", "--hp", "n_steps=512", "--hp", "batch_size=128", "--hp", "n_epochs=1", "--hp", "net_arch=[16, 16]"]
#: a feedback round every 400 steps, of short segments (the episodes here are 500 and 1,000 steps long)
PREF = ["--pref", "interval=400", "--pref", "queries_per_round=10", "--pref", "segment_length=10", "--pref", "reward_hidden=[16]",
        "--pref", "reward_epochs=5", "--pref", "heldout_pairs=0"]
TINY_SAC = ["--hp", "n_envs=2", "--hp", "learning_starts=100", "--hp", "net_arch=[16, 16]", "--hp", "batch_size=32",
            "--hp", "buffer_size=2000"]


def _summary(out: str) -> dict:
    run = out.strip().splitlines()[-1]
    return json.load(open(os.path.join(run, "summary.json")))


@pytest.mark.parametrize("task, agent, hp", [(DMC, "ppo", TINY_PPO), (METAWORLD, "sac", TINY_SAC)])
def test_a_learned_reward_trains_on_the_new_suites(tmp_path, task, agent, hp):
    steps = 2560 if agent == "ppo" else 1100
    if agent == "sac":  # PEBBLE: the first feedback round after the unsupervised steps, once two episodes (500 steps) ended
        hp = [*hp, "--pref", "unsup_steps=1010"]
    result = runner.invoke(app, ["train", "--env", task, "--agent", agent, "--reward", "learned", "--teacher", "noisy",
                                 "--feedback", "20", "--steps", str(steps), "--eval-episodes", "2", "--runs-dir",
                                 str(tmp_path / "runs"), "--quiet", *hp, *PREF])
    assert result.exit_code == 0, result.output
    summary = _summary(result.output)
    assert summary["status"] == "complete" and summary["num_timesteps"] >= steps
    rows = [json.loads(line) for line in open(os.path.join(result.output.strip().splitlines()[-1], "metrics.jsonl"))]
    assert any("feedback/labels" in r and r["feedback/labels"] > 0 for r in rows)  # the teacher labelled queries
    config = json.load(open(os.path.join(result.output.strip().splitlines()[-1], "config.json")))
    assert config["task_card"]["id"] == task


@pytest.mark.parametrize("task", [DMC, METAWORLD])
def test_a_dataset_and_an_offline_agent_on_the_new_suites(tmp_path, task):
    if task not in cards():
        pytest.skip(f"{task} is not registered")
    with datasets_root(tmp_path / "datasets"):
        dataset = "test/" + task.split("/")[1].split("-v")[0] + "/random-v0"
        made = runner.invoke(app, ["dataset", "generate", "--env", task, "--level", "random", "--size", "2000",
                                   "--id", dataset, "--num-envs", "8"])
        assert made.exit_code == 0, made.output
        shown = runner.invoke(app, ["dataset", "show", dataset, "--json"])
        assert shown.exit_code == 0, shown.output
        info = json.loads(shown.stdout)
        assert info["task"] == task and info["steps"] == 2000 and info["provenance"]["ref_scores_source"]
        trained = runner.invoke(app, ["train", "--agent", "iql", "--dataset", dataset, "--steps", "50", "--eval-freq", "25",
                                      "--eval-episodes", "2", "--hp", "hidden_sizes=[16, 16]", "--hp", "batch_size=32",
                                      "--runs-dir", str(tmp_path / "runs"), "--quiet"])
        assert trained.exit_code == 0, trained.output
        summary = _summary(trained.output)
        assert summary["status"] == "complete" and summary["gradient_steps"] == 50
