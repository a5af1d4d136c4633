"""Every command prints something before its slow work starts: before it first imports torch (seconds on a small
machine), so a user sees output within a few seconds of any command's start. Checked by stopping each command at
that import (no time is measured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from offline_support import PENDULUM, datasets_root, label, make_pendulum_dataset
from pbrl.cli.main import app

HOOK = os.path.join(os.path.dirname(__file__), "first_output_hook.py")
DATASET = "pbrl/pendulum/first-v0"
TINY_PPO = ["--hp", "n_envs=8", "--hp", "n_steps=128", "--hp", "n_epochs=1", "--hp", "net_arch=[16, 16]", "--eval-episodes", "1"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished PPO run, a dataset, a labelled preference store and a saved reward model."""
    from pbrl.rewards import RewardEnsemble

    root = tmp_path_factory.mktemp("first")
    RewardEnsemble(4, 1, n_members=1, hidden_sizes=(8,), seed=0).save(str(root / "reward_model"))  # InvertedPendulum's dims
    with datasets_root(root / "datasets"):
        make_pendulum_dataset(DATASET, steps=2000)
        store = label(DATASET, str(root / "prefs.sqlite"), pairs=20)
        result = CliRunner().invoke(app, ["train", "--env", PENDULUM, "--agent", "ppo", "--steps", "1024", "--runs-dir",
                                          str(root / "runs"), "--quiet", *TINY_PPO])
        assert result.exit_code == 0, result.output
        yield {"root": root, "run": result.output.strip().splitlines()[-1], "store": store}


def _commands(made):
    root, run, store = made["root"], made["run"], made["store"]
    runs = str(root / "runs-new")
    return {
        "train": ["train", "--env", PENDULUM, "--agent", "ppo", "--steps", "2048", "--runs-dir", runs, *TINY_PPO],
        "train learned": ["train", "--env", PENDULUM, "--agent", "ppo", "--reward", "learned", "--teacher", "oracle", "--feedback", "20",
                          "--steps", "2048", "--runs-dir", runs, *TINY_PPO],
        "train CONFIG": ["train", "ppo", "--steps", "2048", "--runs-dir", runs],
        "train --resume": ["train", "--resume", run, "--steps", "2048"],
        "train offline": ["train", "--agent", "iql", "--dataset", DATASET, "--steps", "100", "--runs-dir", runs],
        "train offline preferences": ["train", "--agent", "piql", "--dataset", DATASET, "--preferences", store,
                                      "--steps", "100", "--runs-dir", runs],
        "evaluate": ["evaluate", run, "--episodes", "2"],
        "export": ["export", run, "--format", "sb3", "--out", str(root / "exported" / "model.zip")],
        "compare": ["compare", str(root / "runs"), "--out", str(root / "compared")],
        "run": ["run", "--env", PENDULUM, "--steps", "2048", "--feedback", "20", "--runs-dir", runs],
        "dataset generate": ["dataset", "generate", "--env", PENDULUM, "--level", "random", "--size", "1000"],
        "dataset label": ["dataset", "label", DATASET, "--teacher", "oracle", "--pairs", "10", "--segment", "10",
                          "--store", str(root / "more.sqlite")],
        "dataset label --score regret": ["dataset", "label", DATASET, "--teacher", "oracle", "--score", "regret", "--pairs", "10",
                                         "--segment", "10", "--store", str(root / "regret.sqlite")],
        "dataset show": ["dataset", "show", DATASET],
        "dataset list": ["dataset", "list"],
        "label serve": ["label", "serve", "--store", store, "--port", "0"],
        "label stats": ["label", "stats", "--store", store],
        "sweep": ["sweep", "ppo", "--seeds", "1", "--steps", "2048", "--out", str(root / "sweep")],
        "reward-check": ["reward-check", str(root / "reward_model"), "--labels", store],
        "synthesize": ["synthesize", "--env", PENDULUM, "--backend", "offline", "--samples", "1", "--iterations", "1",
                       "--steps", "2048", "--runs-dir", runs],
        "bench": ["bench"],
        "envs": ["envs"],
        "configs list": ["configs", "list"],
    }


@pytest.mark.parametrize("name", ["train", "train learned", "train CONFIG", "train --resume", "train offline",
                                  "train offline preferences", "evaluate", "export", "compare", "run",
                                  "dataset generate", "dataset label", "dataset label --score regret", "dataset show", "dataset list", "label serve",
                                  "label stats", "sweep", "reward-check", "synthesize", "bench", "envs", "configs list"])
def test_a_command_prints_before_its_slow_imports(made, name, tmp_path):
    args = _commands(made)[name]
    report = tmp_path / "report.json"
    env = dict(os.environ, MINARI_DATASETS_PATH=str(made["root"] / "datasets"), MUJOCO_GL="egl")
    done = subprocess.run([sys.executable, HOOK, str(report), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    seen = json.loads(report.read_text())
    assert seen["printed"] > 0, f"pbrl {' '.join(args)} printed nothing before importing {seen['slow_import']}: {done.stderr[-2000:]}"
    assert "Traceback" not in seen["text"] and "error" not in seen["text"].lower(), seen["text"]
