"""`pbrl run`: the main job trains PrefPPO next to PPO and reports both (tiny budget)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PBRL = [sys.executable, "-m", "pbrl.cli.main"]


def _run(args, tmp_path):
    env = dict(os.environ, MUJOCO_GL="egl", COLUMNS="160")
    return subprocess.run(PBRL + ["run", *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)


def test_run_trains_prefppo_next_to_ppo(tmp_path):
    runs = tmp_path / "runs"
    out = _run(["--env", "pbrl/InvertedPendulum-v5", "--steps", "8192", "--feedback", "40",
                "--runs-dir", str(runs), "--eval-episodes", "5", "--name", "demo"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for word in ("PPO", "PrefPPO", "random policy", "reward-model", "tensorboard --logdir"):
        assert word in text
    base = runs / "pbrl_InvertedPendulum-v5" / "ppo"
    true_summary = json.loads((base / "demo-true-s0" / "summary.json").read_text())
    pref_summary = json.loads((base / "demo-oracle-s0" / "summary.json").read_text())
    assert true_summary["status"] == pref_summary["status"] == "complete"
    assert "feedback" not in true_summary["final_eval"]
    fb = pref_summary["final_eval"]["feedback"]
    assert 0 < fb["labels"] <= 40 and fb["teacher"] == "oracle"
    assert (base / "demo-oracle-s0" / "preferences.sqlite").exists()
    # PPO learns InvertedPendulum at this budget: far above a random policy (~5)
    assert true_summary["final_eval"]["return_mean"] > 100


@pytest.mark.parametrize(
    "args, message",
    [
        (["--teacher", "nosuch"], "nosuch"),
        (["--env", "pbrl/NoSuch-v5"], "unknown env"),
        (["--agent", "dqn"], "dqn"),
    ],
)
def test_run_bad_input_fails_before_any_work(tmp_path, args, message):
    runs = tmp_path / "runs"
    out = _run(["--steps", "2000", "--runs-dir", str(runs), *args], tmp_path)
    assert out.returncode == 2
    assert message in out.stdout + out.stderr
    assert not runs.exists() or not any(runs.rglob("config.json"))
