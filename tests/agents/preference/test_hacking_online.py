"""The reward-hacking check in the online preference loop (PEBBLE / PrefPPO).

After each reward-model update the loop scores the model against held-out true-reward labels
(``hacking/*`` tags); the first model's score and one on the final policy's own episodes go to the
run summary and to ``pbrl train``'s end-of-run table. ``heldout_pairs=0`` turns it off.
"""

from __future__ import annotations

import json
import os

import numpy as np
from typer.testing import CliRunner

from console_support import printed
from pbrl.cli.main import app
from pbrl.runs.metrics import read_metrics

WALKER = "pbrl/Walker2d-v5"
PENDULUM = "pbrl/InvertedPendulum-v5"
TINY_PEBBLE = ["--agent", "sac", "--reward", "learned", "--teacher", "oracle", "--feedback", "20", "--steps", "1600",
               "--num-envs", "4", "--hp", "learning_starts=200", "--hp", "batch_size=64", "--hp", "net_arch=[32, 32]",
               "--pref", "unsup_steps=600", "--pref", "interval=400", "--pref", "queries_per_round=10",
               "--pref", "reward_hidden=[32, 32]", "--pref", "reward_epochs=10", "--pref", "segment_length=10",
               "--eval-episodes", "2", "--eval-freq", "0", "--checkpoint-freq", "0"]  # fmt: skip


def test_pebble_logs_the_hacking_check_and_reports_before_and_after(tmp_path):
    runs = str(tmp_path / "runs")
    result = CliRunner().invoke(app, ["train", "--env", WALKER, *TINY_PEBBLE, "--pref", "heldout_pairs=64",
                                      "--pref", "hacking_min_agreement=0.99", "--runs-dir", runs, "--name", "hack"],
                                env={"COLUMNS": "10000"})  # fmt: skip
    assert result.exit_code == 0, result.output
    run = os.path.join(runs, "pbrl_Walker2d-v5", "sac", "hack-s0")
    rows = read_metrics(run)
    updates = [r for r in rows if "reward_model/train_accuracy" in r]
    assert len(updates) >= 2
    for r in updates:  # every reward-model update is checked
        assert 0.0 <= r["hacking/agreement"] <= 1.0 and r["hacking/flagged"] in (0.0, 1.0)
        assert -1.0 <= r["hacking/rank_correlation"] <= 1.0
        np.testing.assert_allclose(r["hacking/rank_distance"], np.sqrt((1 - r["hacking/rank_correlation"]) / 2), atol=1e-9)
        assert r["hacking/flagged"] == float(r["hacking/agreement"] < 0.99)
    after = [r for r in rows if "hacking/agreement_after" in r]
    assert len(after) == 1 and after[0]["step"] >= updates[-1]["step"]

    hacking = json.load(open(os.path.join(run, "summary.json")))["final_eval"]["feedback"]["hacking"]
    first = updates[0]
    assert hacking["before"]["agreement"] == first["hacking/agreement"]  # the first model, before the agent trained on it
    assert hacking["after"]["agreement"] == after[0]["hacking/agreement_after"]
    assert hacking["before"]["decisive"] > 0 and hacking["after"]["pairs"] == 2 * 64  # 64 pairs chained into a cycle of 128
    assert hacking["min_agreement"] == 0.99
    # a threshold of 0.99 flags a 20-label model: said in the summary and the end-of-run table
    assert hacking["flagged"] == (hacking["before"]["flagged"] or hacking["after"]["flagged"]) and hacking["flagged"]
    assert printed("reward-hacking check", result.output) and printed("(FLAGGED)", result.output)


def test_the_check_orders_segments_as_the_true_return_and_flags_a_reversed_reward(tmp_path):
    """The loop's scoring on its own segments: the true reward agrees, its negation is flagged; and
    ``heldout_pairs=0`` turns the check off (no tags, no summary entry)."""
    from pbrl.agents import make_preference_agent, resolve
    from pbrl.agents.preference.options import resolve_preference_options

    hp = resolve("ppo", PENDULUM, {"n_envs": 4, "n_steps": 128, "n_epochs": 1, "net_arch": [16, 16]})
    pref = resolve_preference_options("ppo", {"heldout_pairs": 0, "reward_hidden": [16, 16], "reward_epochs": 5,
                                              "segment_length": 10, "interval": 512, "queries_per_round": 10}, 20)  # fmt: skip
    agent = make_preference_agent("ppo", PENDULUM, hp, preference=pref, teacher="oracle", feedback=20,
                                  store_path=str(tmp_path / "prefs.sqlite"), seed=2)  # fmt: skip
    loop = agent.preference_loop
    try:
        agent.learn(1536)
        assert loop.model_ready and loop.rounds >= 1
        assert not any(k.startswith("hacking/") for k in loop.last_metrics)
        assert loop.summary()["hacking"] is None and loop.hacking == {"before": None, "after": None}

        segments = loop.heldout_sampler.sample(64)
        true_steps = segments.rewards.reshape(-1)[segments.mask.reshape(-1)]
        good = loop.hacking_score(segments, true_steps)
        bad = loop.hacking_score(segments, -true_steps)
        assert good.decisive > 0 and good.agreement == 1.0 and not good.flagged and good.rank_correlation > 0.5
        assert bad.agreement == 0.0 and bad.flagged and bad.rank_correlation < -0.5 and bad.rank_distance > 0.85
    finally:
        agent.close()
