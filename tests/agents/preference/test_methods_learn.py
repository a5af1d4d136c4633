"""SURF, RUNE, QPA, RIME and MRN run end to end through ``pbrl train`` (PEBBLE's SAC, the oracle teacher,
InvertedPendulum, tiny budgets): their reward models learn and their policies beat a random one; bad
method options fail before any work."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

import pbrl  # noqa: F401
from pbrl.cli.main import app
from pbrl.runs.metrics import read_metrics

PENDULUM = "pbrl/InvertedPendulum-v5"
SMALL = ["--hp", "learning_starts=200", "--hp", "batch_size=64", "--hp", "net_arch=[32, 32]",
         "--pref", "unsup_steps=600", "--pref", "interval=500", "--pref", "queries_per_round=20",
         "--pref", "reward_hidden=[32, 32]", "--pref", "reward_epochs=30", "--pref", "segment_length=15",
         "--pref", "heldout_pairs=128"]  # fmt: skip
METHODS = {
    "surf": ["--pref", "surf_window=3", "--pref", "surf_crop_range=3", "--pref", "surf_mu=2"],
    "rune": [],
    "qpa": ["--pref", "qpa_crop_min=2", "--pref", "qpa_crop_max=5", "--pref", "qpa_aug_ratio=4"],
    "rime": ["--pref", "rime_min_epochs=5", "--pref", "rime_warm_start=2"],
    "mrn": ["--pref", "mrn_meta_steps=100"],
}
#: a tag each method logs that the others do not
TAGS = {"surf": "method/pseudo_label_fraction", "rime": "method/flipped_labels", "mrn": "method/mrn_outer_loss"}


@pytest.fixture(scope="module")
def random_return() -> float:
    """InvertedPendulum's mean return under uniform random actions (10 episodes)."""
    import gymnasium as gym
    import numpy as np

    from pbrl.evaluation import evaluate_policy

    space = gym.make(PENDULUM).action_space
    rng = np.random.default_rng(0)
    return float(evaluate_policy(lambda o: rng.uniform(space.low, space.high, (len(o), space.shape[0])), PENDULUM, episodes=10, seed=0).return_mean)


@pytest.mark.parametrize("method", list(METHODS))
def test_method_learns_through_pbrl_train(method, tmp_path, random_return):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, [
        "train", "--env", PENDULUM, "--agent", "sac", "--reward", "learned", "--teacher", "oracle", "--feedback", "60",
        "--steps", "2200", "--num-envs", "4", "--seed", "0", "--eval-episodes", "2", "--eval-freq", "0", "--checkpoint-freq", "0",
        "--pref", f"method={method}", *SMALL, *METHODS[method], "--runs-dir", runs, "--name", method, "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = os.path.join(runs, "pbrl_InvertedPendulum-v5", "sac", f"{method}-s0")
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["preference"]["method"] == method
    feedback = json.load(open(os.path.join(run, "summary.json")))["final_eval"]["feedback"]
    assert feedback["labels"] == 60 and feedback["feedback_rounds"] == 3, feedback
    # the reward model agrees with held-out true-reward preferences well above chance (0.5)
    assert feedback["reward_model_accuracy"] > 0.7, feedback
    final = json.load(open(os.path.join(run, "summary.json")))["final_eval"]
    print(method, final["return_mean"], random_return)
    assert final["return_mean"] > 2 * random_return, (final["return_mean"], random_return)
    tags = set().union(*read_metrics(run))
    for m, tag in TAGS.items():
        assert (tag in tags) == (m == method), (method, tag)


@pytest.mark.parametrize("args, message", [
    (["--pref", "method=surff"], "'method' must be one of 'none', 'surf', 'rune', 'qpa', 'rime'"),
    (["--pref", "rune_beta_init=0.1"], "'rune_beta_init' belongs to method 'rune', but the method here is 'none'"),
    (["--pref", "method=surf", "--pref", "rime_alpha=1"], "'rime_alpha' belongs to method 'rime'"),
    (["--pref", "method=rime", "--pref", "rime_flip_tau=2"], "'rime_flip_tau' must be a number in (0, 1)"),
    (["--pref", "method=surf", "--pref", "surf_threshold=0"], "'surf_threshold' must be a number in (0, 1]"),
    (["--pref", "method=rune", "--pref", "ensemble_size=1"], "rune needs ensemble_size >= 2"),
    (["--pref", "method=qpa", "--pref", "qpa_crop_max=60"], "'qpa_crop_max' (60) must be below segment_length (50)"),
    (["--pref", "method=rime", "--pref", "rime_beta_min=5"], "'rime_beta_min' (5) exceeds 'rime_beta_init' (3)"),
])  # fmt: skip
def test_bad_method_options_fail_before_any_work(args, message, tmp_path):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, ["train", "--env", PENDULUM, "--agent", "sac", "--reward", "learned", "--teacher", "oracle",
                                      *args, "--runs-dir", runs, "--quiet"], env={"COLUMNS": "10000"})  # fmt: skip
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not os.path.exists(runs)
