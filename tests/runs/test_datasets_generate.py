"""pbrl.runs.generate and the `pbrl dataset` CLI: every level from one tiny PPO run."""

from __future__ import annotations

import json

import minari
import numpy as np
import pytest
from typer.testing import CliRunner

import pbrl  # noqa: F401
from console_support import printed
from pbrl.cli.main import app
from pbrl.datasets import load_trajectories, read_metadata
from pbrl.runs.generate import GenerationConfig, generate
from pbrl.datasets.errors import DatasetError
from pbrl.runs.generate import Checkpoint, select_checkpoints

TASK = "pbrl/Hopper-v5"


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    root = tmp_path_factory.mktemp("minari")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        cfg = GenerationConfig(
            task=TASK,
            levels=["all"],
            size=2000,
            seed=1,  # this seed's tiny run improves clearly on its initial policy (8 -> ~95)
            algorithm="ppo",
            train_steps=6144,
            eval_every=2048,
            eval_episodes=4,
            ref_episodes=4,
            num_envs=16,
            hyperparams={"n_envs": 8, "n_steps": 64, "batch_size": 128, "net_arch": [32, 32]},
            command="test",
            allow_weak=True,  # so tiny a run is no expert (tests/runs/test_dataset_levels.py checks the checks)
        )
        written = generate(cfg)
        yield written, root


@pytest.fixture
def env_root(levels, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(levels[1]))
    return levels[0]


def test_every_level_is_a_minari_dataset(env_root):
    assert set(env_root) == {"random", "medium", "expert", "medium-replay", "medium-expert"}
    assert env_root["medium"] == "pbrl/hopper/medium-v0"
    for level, dsid in env_root.items():
        ds = minari.load_dataset(dsid)
        meta = read_metadata(dsid)
        prov = meta["pbrl"]
        assert prov["level"] == level and prov["algorithm"] == "ppo" and prov["seed"] == 1 and prov["command"] == "test"
        assert prov["train_steps"] == 6144 and "stable-baselines3" in prov["versions"]
        assert ds.spec.env_spec.id == TASK
        assert meta["ref_min_score"] < meta["ref_max_score"]
        expected = {"random": 2000, "medium": 2000, "expert": 2000, "medium-expert": 4000}.get(level)
        if expected:
            assert ds.total_steps == expected


def test_medium_is_the_checkpoint_closest_to_the_target(env_root):
    prov = read_metadata(env_root["medium"])["pbrl"]
    ck = prov["checkpoints"]
    assert ck["random"]["step"] == 0
    assert ck["random"]["eval_return"] < prov["medium_target_return"] < ck["expert"]["eval_return"]
    evals = prov["evaluations"]
    assert [e["step"] for e in evals] == [0, 2048, 4096, 6144]
    assert ck["expert"]["eval_return"] == max(e["eval_return"] for e in evals)
    early = (e for e in evals if 0 < e["step"] <= ck["expert"]["step"])
    closest = min(early, key=lambda e: abs(e["eval_return"] - prov["medium_target_return"]))
    assert closest["step"] == ck["medium"]["step"]
    r, m, x = (ck[k]["eval_return"] for k in ("random", "medium", "expert"))
    assert prov["medium_fraction_reached"] == pytest.approx((m - r) / (x - r))


def test_medium_replay_is_the_training_run_until_medium(env_root):
    prov = read_metadata(env_root["medium-replay"])["pbrl"]
    tr = load_trajectories(env_root["medium-replay"])
    assert tr.num_steps == prov["checkpoints"]["medium"]["step"]
    # recorded from the env: every row's observation is its state (Hopper observes qpos[1:], clipped qvel)
    np.testing.assert_array_equal(tr.observations[:, :5], tr.infos["qpos"][:, 1:])
    np.testing.assert_array_equal(tr.observations[:, 5:], np.clip(tr.infos["qvel"], -10, 10))
    np.testing.assert_allclose(sum(tr.reward_terms().values()), tr.rewards, atol=1e-9)
    assert (tr.terminations | tr.truncations).sum() == tr.num_episodes


def test_medium_expert_is_medium_then_expert(env_root):
    me, m, e = (load_trajectories(env_root[k]) for k in ("medium-expert", "medium", "expert"))
    np.testing.assert_array_equal(me.observations, np.concatenate([m.observations, e.observations]))
    np.testing.assert_array_equal(me.lengths, np.concatenate([m.lengths, e.lengths]))


def test_existing_levels_refuse_regeneration_before_training(env_root):
    with pytest.raises(DatasetError, match="already exists.*--force"):
        generate(GenerationConfig(task=TASK, levels=["medium"], algorithm="ppo", train_steps=10**9))


def test_stopping_rule_refuses_a_run_that_never_improved():
    cks = [Checkpoint(0, 50.0, [50.0]), Checkpoint(10, 40.0, [40.0]), Checkpoint(20, 50.0, [50.0])]
    with pytest.raises(DatasetError, match="never beat the initial policy"):
        select_checkpoints(cks, 1 / 3)
    cks.append(Checkpoint(30, 80.0, [80.0]))
    cks.append(Checkpoint(40, 62.0, [62.0]))
    chosen = select_checkpoints(cks, 1 / 3)
    assert chosen.expert.step == 30 and chosen.medium.step == 20  # 50 is closest to 50 + 30/3 = 60 (62 is after the expert)
    cks.insert(3, Checkpoint(25, 61.0, [61.0]))
    assert select_checkpoints(cks, 1 / 3).medium.step == 25  # 61 is closer still


def test_cli_list_show_corrupt_label(env_root, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["dataset", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert listed["pbrl/hopper/medium-v0"]["task"] == TASK and listed["pbrl/hopper/medium-v0"]["steps"] == 2000
    from pbrl.datasets.storage import PBRL_METADATA_KEY, read_metadata

    record = read_metadata("pbrl/hopper/medium-v0")[PBRL_METADATA_KEY]
    assert isinstance(record["weak"], bool) and listed["pbrl/hopper/medium-v0"]["weak"] is record["weak"]

    result = runner.invoke(app, ["dataset", "show", "pbrl/hopper/medium-v0", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    traj = load_trajectories("pbrl/hopper/medium-v0")
    assert shown["episodes"] == traj.num_episodes
    assert shown["returns"]["mean"] == pytest.approx(traj.returns().mean())
    assert sum(shown["returns"]["histogram"]["counts"]) == traj.num_episodes
    result = runner.invoke(app, ["dataset", "show", "pbrl/hopper/medium-v0"])
    assert result.exit_code == 0 and "ref_min_score" in result.output and "provenance" in result.output

    result = runner.invoke(app, ["dataset", "show", "pbrl/hopper/none-v0"])
    assert result.exit_code == 2 and printed("no dataset 'pbrl/hopper/none-v0'", result.output)

    result = runner.invoke(app, ["dataset", "corrupt", "pbrl/hopper/medium-v0", "--out", "pbrl/hopper/medium-noisy-v0",
                                 "--target", "rewards", "--fraction", "0.1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_trajectories("pbrl/hopper/medium-noisy-v0").infos["corrupted/rewards"].sum() == round(0.1 * 2000)

    store = tmp_path / "p.sqlite"
    result = runner.invoke(app, ["dataset", "label", "pbrl/hopper/medium-replay-v0", "--teacher", "noisy", "--pairs", "40",
                                 "--segment", "10", "--store", str(store)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert printed("40 pairs", result.output) and store.exists()


def test_a_later_level_reuses_the_kept_policies(env_root, levels):
    first = read_metadata(env_root["medium"])["pbrl"]
    assert first["reused_policies"] is False
    cfg = GenerationConfig(
        task=TASK, levels=["expert"], size=300, seed=1, algorithm="ppo", train_steps=6144, eval_every=2048, eval_episodes=4,
        ref_episodes=4, num_envs=16, hyperparams={"n_envs": 8, "n_steps": 64, "batch_size": 128, "net_arch": [32, 32]},
        dataset_ids={"expert": "pbrl/hopper/expert-again-v0"}, allow_weak=True,
    )  # fmt: skip
    written = generate(cfg)
    again = read_metadata(written["expert"])
    assert again["pbrl"]["reused_policies"] is True  # no second training run
    assert again["pbrl"]["evaluations"] == first["evaluations"] and again["pbrl"]["checkpoints"] == first["checkpoints"]
    assert again["ref_max_score"] == read_metadata(env_root["medium"])["ref_max_score"]
    assert load_trajectories(written["expert"]).num_steps == 300


def test_the_random_level_alone_trains_nothing_and_takes_the_card_references(tmp_path, monkeypatch):
    from pbrl.envs import cards

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["dataset", "generate", "--env", TASK, "--level", "random", "--size", "500"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / ".pbrl-policies").exists()  # no training run kept its policies: none was made
    assert "random: pbrl/hopper/random-v0" in result.output
    estimate_at = result.output.index("estimate (rough")
    assert "no training" in result.output[estimate_at:] and "500 steps" in result.output[estimate_at:]
    assert estimate_at < result.output.index("collecting 500 steps")  # said before any work
    meta = read_metadata("pbrl/hopper/random-v0")
    card = cards()[TASK]
    assert (meta["ref_min_score"], meta["ref_max_score"]) == (card.ref_min_return, card.ref_max_return)
    prov = meta["pbrl"]
    assert "task card" in prov["ref_scores_source"] and prov["train_steps"] == 0
    assert prov["policy"]["checkpoint"] == {"step": 0, "trained": False}
    assert load_trajectories("pbrl/hopper/random-v0").num_steps == 500


def test_a_card_without_references_leaves_the_scores_out_and_says_how_to_add_them():
    from pbrl.runs.generate import _card_references

    assert _card_references(None, "mylab/Slider-v0")[:2] == (None, None)
    message = _card_references(None, "mylab/Slider-v0")[2]
    assert "metadata.json" in message and "ref_min_return" in message


def test_the_estimate_names_the_training_budget():
    from pbrl.runs.generate import estimate

    line = estimate(GenerationConfig(task=TASK, levels=["all"], size=1000), train_steps=1_000_000)
    assert line.startswith("estimate (rough") and "SAC for 1,000,000 env steps (--train-steps)" in line
    assert "collecting 3,000 steps" in line  # random, medium, expert; medium-expert reuses two of them
    assert "h" in estimate(GenerationConfig(task=TASK, size=1000), train_steps=1_000_000).split("steps/s:")[1]
