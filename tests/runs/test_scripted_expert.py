"""``pbrl dataset generate --expert scripted``: Meta-World's expert level from its scripted policy, no training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from pbrl.cli.main import app
from pbrl.datasets import load_trajectories, read_metadata
from pbrl.datasets.errors import DatasetError
from pbrl.runs.generate import GenerationConfig, generate
from pbrl.settings import ConfigError

TASK = "pbrl/metaworld-drawer-close-v3"


def test_random_and_expert_levels_from_the_scripted_expert(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    lines = []
    cfg = GenerationConfig(task=TASK, levels=["random", "expert"], size=1500, expert="scripted", expert_noise=0.1,
                           ref_episodes=8, num_envs=8, command="test")  # fmt: skip
    written = generate(cfg, log=lines.append)
    assert written == {"random": "pbrl/metaworld-drawer-close/random-v0", "expert": "pbrl/metaworld-drawer-close/expert-v0"}
    assert not any("step " in line and "eval return" in line for line in lines)  # nothing was trained
    meta = read_metadata(written["expert"])
    prov = meta["pbrl"]  # the provenance
    assert prov["expert"] == "scripted" and prov["expert_noise"] == 0.1 and prov["train_steps"] == 0
    assert prov["ref_scores_source"].startswith("measured: the initial policy's returns (sampling) and the scripted expert's")
    assert "scripted expert policy" in prov["policy"]["scripted"] and "noise of std 0.1" in prov["policy"]["actions"]
    # the references are measured returns: the scripted expert far above the initial policy, and it succeeds
    assert meta["ref_max_score"] > meta["ref_min_score"] + 1000 and prov["expert_success_rate"] >= 0.75
    expert, random = load_trajectories(written["expert"]), load_trajectories(written["random"])
    assert expert.num_steps == random.num_steps == 1500
    # its data: the noisy scripted actions, within the action bounds, and far better per step than the random level's
    assert np.abs(expert.actions).max() <= 1.0
    assert expert.rewards.mean() > 3 * random.rewards.mean()


def test_bad_scripted_settings_fail_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="medium, medium-replay come from a training run"):
        GenerationConfig(task=TASK, levels=["medium", "expert", "medium-replay"], expert="scripted")
    with pytest.raises(ConfigError, match="expert_noise is the noise on a scripted expert's actions"):
        GenerationConfig(task=TASK, levels=["expert"], expert_noise=0.2)
    with pytest.raises(ConfigError, match="expert"):
        GenerationConfig(task=TASK, levels=["expert"], expert="oracle")
    with pytest.raises(DatasetError, match="pbrl/Hopper-v5 has no scripted expert policy"):
        generate(GenerationConfig(task="pbrl/Hopper-v5", levels=["expert"], expert="scripted", size=10))
    result = CliRunner().invoke(app, ["dataset", "generate", "--env", TASK, "--level", "medium", "--expert", "scripted"])
    assert result.exit_code == 2 and "come from a training run" in result.output and "Traceback" not in result.output
    assert json.loads(CliRunner().invoke(app, ["dataset", "list", "--json"]).stdout) in ([], {})  # nothing written
