"""Dataset levels that mean what D4RL's mean: medium is the checkpoint closest to a third
of the way from random to expert, and a run whose levels would not mean that stops
with the numbers (or, with --allow-weak, is written and marked weak)."""

from __future__ import annotations

import json

import gymnasium as gym
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
from pbrl.runs.generate import Checkpoint, level_problems, select_checkpoints

TASK = "pbrl/Hopper-v5"
HOPPER_RANGE = 3234.3 - (-20.272305)  # D4RL's hopper references (the task card's)


def run(returns: dict[int, float], spread: float = 1.0) -> list[Checkpoint]:
    """Checkpoints with these mean evaluation returns (each over three episodes)."""
    return [Checkpoint(step, r, [r - spread, r, r + spread]) for step, r in returns.items()]


# -- the selection rule, on synthetic runs -----------------------------------------


def test_medium_is_the_checkpoint_closest_to_a_third_not_the_first_to_reach_it():
    # the Hopper run: 1086 -> 950 -> 2270 against a target of 20 + 3280 / 3 = 1113.3
    cks = run({0: 20.0, 10: 1086.0, 20: 950.0, 30: 2270.0, 40: 3300.0})
    sel = select_checkpoints(cks, 1 / 3)
    assert sel.random.step == 0 and sel.expert.step == 40
    assert sel.target == pytest.approx(20 + 3280 / 3)
    assert sel.medium.step == 10  # 1086, 27 below the target; the first to reach it (2270) is 0.686 of the way
    assert sel.fraction_reached == pytest.approx(1066 / 3280)
    assert level_problems(sel, tolerance=0.1, min_expert_gain=0.1, reference_range=HOPPER_RANGE) == []
    # another fraction, another medium: 20 + 0.65 * 3280 = 2152 is closest to 2270
    assert select_checkpoints(cks, 0.65).medium.step == 30


def test_equally_close_checkpoints_go_to_the_earlier_and_step_zero_is_never_medium():
    cks = run({0: 0.0, 10: 90.0, 20: 110.0, 30: 300.0})  # target 100: 90 and 110 are equally close
    assert select_checkpoints(cks, 1 / 3).medium.step == 10
    cks = run({0: 0.0, 10: 290.0, 20: 300.0})  # the initial policy is closest to 100, but it is random
    assert select_checkpoints(cks, 1 / 3).medium.step == 10


def test_medium_is_never_a_checkpoint_after_the_expert():
    # training peaked at step 10 and fell to 60, nearest the target 20 + 150 / 3 = 70: not early stopping
    sel = select_checkpoints(run({0: 20.0, 10: 170.0, 20: 60.0, 30: 120.0}), 1 / 3)
    assert sel.expert.step == 10 and sel.medium.step == 10 and sel.fraction_reached == 1.0
    sel = select_checkpoints(run({0: 20.0, 10: 80.0, 20: 170.0, 30: 70.0}), 1 / 3)
    assert sel.medium.step == 10


def test_a_medium_outside_the_tolerance_is_a_problem_that_names_the_numbers():
    sel = select_checkpoints(run({0: 20.0, 10: 2270.0, 20: 3300.0}), 1 / 3)
    assert sel.medium.step == 10 and sel.fraction_reached == pytest.approx(2250 / 3280)
    problems = level_problems(sel, tolerance=0.1, min_expert_gain=0.1, reference_range=HOPPER_RANGE)
    assert len(problems) == 1
    for number in ("1113.3", "0.333", "20.0", "3300.0", "step 10", "2270.0", "0.686", "tolerance 0.1", "--medium-tolerance"):
        assert number in problems[0], number
    # a wider tolerance accepts it; None (no level made from medium asked for) does not check it
    assert level_problems(sel, tolerance=0.36, min_expert_gain=0.1, reference_range=HOPPER_RANGE) == []
    assert level_problems(sel, tolerance=None, min_expert_gain=0.1, reference_range=HOPPER_RANGE) == []


def test_an_expert_not_clearly_better_than_random_is_a_problem():
    # a gain of 40 is 1.2 normalized points on Hopper: below 10 (min_expert_gain 0.1)
    sel = select_checkpoints(run({0: 20.0, 10: 33.0, 20: 60.0}), 1 / 3)
    problems = level_problems(sel, tolerance=0.1, min_expert_gain=0.1, reference_range=HOPPER_RANGE)
    assert len(problems) == 1
    assert "not clearly better" in problems[0] and "gain 40.0" in problems[0] and "325.5" in problems[0]
    assert level_problems(sel, tolerance=0.1, min_expert_gain=0.01, reference_range=HOPPER_RANGE) == []
    # within evaluation noise: a gain of 40 with episodes spread over +-300 (2 standard errors ~ 490)
    noisy = select_checkpoints(run({0: 20.0, 10: 33.0, 20: 60.0}, spread=300.0), 1 / 3)
    problems = level_problems(noisy, tolerance=0.1, min_expert_gain=0.0, reference_range=HOPPER_RANGE)
    assert len(problems) == 1 and "two standard errors" in problems[0]
    # training that never beat the initial policy has no levels at all
    with pytest.raises(DatasetError, match=r"never beat the initial policy \(eval return 50.0, best 50.0\).*not even with --allow-weak"):
        select_checkpoints(run({0: 50.0, 10: 40.0, 20: 50.0}), 1 / 3)


def test_datasets_made_before_the_checks_show_the_fraction_from_their_checkpoints():
    from pbrl.datasets.summary import level_summary

    old = {"medium_fraction": 1 / 3, "checkpoints": {"random": {"eval_return": 20.0}, "medium": {"eval_return": 2270.0},
                                                     "expert": {"eval_return": 3300.0}}}  # fmt: skip
    summary = level_summary(old)
    assert summary["medium_fraction_reached"] == pytest.approx(2250 / 3280) and summary["weak"] is None
    assert level_summary({"level": "random"}) is None  # not made by `pbrl dataset generate`


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("medium_fraction", 1.0, r"medium_fraction \(--medium-fraction\) must be a number in \(0, 1\)"),
        ("medium_fraction", 0.0, r"medium_fraction \(--medium-fraction\) must be a number in \(0, 1\)"),
        ("medium_fraction", float("nan"), r"medium_fraction \(--medium-fraction\)"),
        ("medium_tolerance", -0.01, r"medium_tolerance \(--medium-tolerance\) must be a finite number >= 0, got -0.01"),
        ("min_expert_gain", float("inf"), r"min_expert_gain \(--min-expert-gain\) must be a finite number >= 0"),
        ("replay_size", 0, r"replay_size \(--replay-size\) must be an integer >= 1, got 0"),
    ],
)
def test_bad_level_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        GenerationConfig(task=TASK, **{field: value})


@pytest.mark.parametrize(
    "args, message",
    [
        (["--medium-fraction", "1.5"], "medium_fraction (--medium-fraction) must be a number in (0, 1)"),
        (["--medium-fraction", "-0.2"], "got -0.2"),
        (["--medium-tolerance", "-0.1"], "medium_tolerance (--medium-tolerance) must be a finite number >= 0, got -0.1"),
    ],
)
def test_cli_refuses_bad_level_settings_before_training(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["dataset", "generate", "--env", TASK, "--train-steps", "10000000", *args])
    assert result.exit_code == 2, result.output
    assert printed(message, result.output)
    assert not (tmp_path / ".pbrl-policies").exists()  # refused before any training


# -- generation end to end: one tiny PPO run, kept and reused -------------------------

SETTINGS = dict(
    task=TASK, levels=["all"], size=1000, seed=1, algorithm="ppo", train_steps=6144, eval_every=2048, eval_episodes=4,
    ref_episodes=4, num_envs=16, hyperparams={"n_envs": 8, "n_steps": 64, "batch_size": 128, "net_arch": [32, 32]},
    command="test",
)  # fmt: skip
CLI = [
    "dataset", "generate", "--env", TASK, "--level", "all", "--size", "1000", "--seed", "1", "--algo", "ppo",
    "--train-steps", "6144", "--eval-every", "2048", "--eval-episodes", "4", "--ref-episodes", "4", "--num-envs", "16",
    "--hp", "n_envs=8", "--hp", "n_steps=64", "--hp", "batch_size=128", "--hp", "net_arch=[32, 32]",
]  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("levels")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(path))
        # trains once; the checks stop it (an impossible tolerance), nothing is written, the policies are kept
        with pytest.raises(DatasetError) as info:
            generate(GenerationConfig(**SETTINGS, medium_tolerance=0.0))
        yield path, str(info.value)


@pytest.fixture
def datasets(root, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root[0]))
    return root[0]


def nothing_written(path) -> bool:
    tmp = path / ".pbrl-tmp"
    return minari.list_local_datasets() == {} and not (path / "pbrl").exists() and (not tmp.exists() or not any(tmp.iterdir()))


def test_a_medium_outside_the_tolerance_stops_generation_and_writes_nothing(root, datasets):
    message = root[1]
    assert "nothing was written" in message and "no checkpoint lands near medium" in message
    assert "more than the tolerance 0 from 0.333" in message and "--allow-weak" in message
    assert nothing_written(datasets)
    assert any((datasets / ".pbrl-policies").rglob("bundle.json"))  # kept: a rerun does not train again


def test_an_expert_not_clearly_better_stops_generation(datasets):
    logs: list[str] = []
    with pytest.raises(DatasetError, match="not clearly better than the random policy") as info:
        generate(GenerationConfig(**SETTINGS, medium_tolerance=1.0, min_expert_gain=100.0), log=logs.append)
    assert "100 (--min-expert-gain)" in str(info.value) and "no checkpoint lands near medium" not in str(info.value)
    assert any(line.startswith("reusing the policies") for line in logs)
    assert nothing_written(datasets)


def test_fewer_steps_than_asked_stops_generation(datasets):
    with pytest.raises(DatasetError) as info:
        generate(GenerationConfig(**SETTINGS, medium_tolerance=1.0, min_expert_gain=0.0, replay_size=1_000_000))
    message = str(info.value)
    assert "medium-replay would hold" in message and "fewer than the 1000000 asked (--replay-size" in message
    held = int(message.split("medium-replay would hold ")[1].split(" ")[0])
    assert 0 < held <= 6144  # the training run up to medium
    assert nothing_written(datasets)


def test_the_cli_stops_with_the_numbers_and_writes_nothing(datasets):
    args = [a if a != "all" else "medium" for a in CLI]
    result = CliRunner().invoke(app, [*args, "--id", "pbrl/hopper/cli-medium-v0", "--medium-tolerance", "0"], env={"COLUMNS": "1000"})
    assert result.exit_code == 2, result.output
    assert printed("error: the levels would not mean what D4RL's mean, so nothing was written:", result.output)
    assert printed("more than the tolerance 0 from 0.333", result.output) and printed("--allow-weak", result.output)
    assert "pbrl/hopper/cli-medium-v0" not in minari.list_local_datasets()
    assert not (datasets / "pbrl" / "hopper" / "cli-medium-v0").exists()


@pytest.fixture(scope="module")
def weak(root):
    """The same run written with --allow-weak through the CLI (reusing the kept policies)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root[0]))
        mp.setenv("COLUMNS", "1000")
        result = CliRunner().invoke(app, [*CLI, "--medium-tolerance", "0", "--replay-size", "1000000", "--allow-weak"])
        yield result


def test_allow_weak_warns_writes_and_records_the_weak_state(weak, datasets):
    assert weak.exit_code == 0, weak.output
    assert printed("reusing the policies", weak.output)
    assert printed("warning (--allow-weak): no checkpoint lands near medium", weak.output)
    assert printed("warning (--allow-weak): medium-replay would hold", weak.output)
    for level in ("random", "medium", "expert", "medium-replay", "medium-expert"):
        meta = read_metadata(f"pbrl/hopper/{level}-v0")
        prov = meta["pbrl"]
        assert prov["weak"] is True and prov["allow_weak"] is True
        assert any("no checkpoint lands near medium" in w for w in prov["warnings"])
        assert any("medium-replay would hold" in w for w in prov["warnings"])
        assert prov["medium_tolerance"] == 0.0 and "weak levels" in meta["description"]
    assert read_metadata("pbrl/hopper/medium-v0")["pbrl"]["asked_steps"] == 1000
    assert read_metadata("pbrl/hopper/medium-expert-v0")["pbrl"]["asked_steps"] == 2000
    assert read_metadata("pbrl/hopper/medium-replay-v0")["pbrl"]["asked_steps"] == 1_000_000


def test_the_fraction_reached_is_recorded_and_shown(weak, datasets):
    prov = read_metadata("pbrl/hopper/medium-v0")["pbrl"]
    ck = prov["checkpoints"]
    r, m, e = (ck[k]["eval_return"] for k in ("random", "medium", "expert"))
    assert prov["medium_fraction"] == pytest.approx(1 / 3)
    assert prov["medium_fraction_reached"] == pytest.approx((m - r) / (e - r))
    # medium is the trained checkpoint up to the expert's closest to the target
    trained = [c for c in prov["evaluations"] if 0 < c["step"] <= ck["expert"]["step"]]
    closest = min(trained, key=lambda c: (abs(c["eval_return"] - prov["medium_target_return"]), c["step"]))
    assert ck["medium"]["step"] == closest["step"]

    runner = CliRunner()
    result = runner.invoke(app, ["dataset", "show", "pbrl/hopper/medium-v0"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    assert printed(f"medium at {prov['medium_fraction_reached']:.3f} of the way from random to expert (asked 0.333 ± 0)", result.output)
    assert printed("weak levels (made with --allow-weak):", result.output)
    assert printed("no checkpoint lands near medium", result.output)
    shown = json.loads(runner.invoke(app, ["dataset", "show", "pbrl/hopper/medium-v0", "--json"]).output)
    assert shown["levels"]["medium_fraction_reached"] == pytest.approx(prov["medium_fraction_reached"])
    assert shown["levels"]["weak"] is True
    listed = runner.invoke(app, ["dataset", "list"], env={"COLUMNS": "1000"})
    assert listed.exit_code == 0 and printed("written with --allow-weak past a failed level check", listed.output)
    assert json.loads(runner.invoke(app, ["dataset", "list", "--json"]).output)["pbrl/hopper/medium-v0"]["weak"] is True


def test_medium_replay_episodes_replay_from_their_stored_seeds(weak, datasets):
    traj = load_trajectories("pbrl/hopper/medium-replay-v0")
    assert traj.seeds is not None and (traj.seeds >= 0).all()  # every episode of the training run has its seed
    assert len(set(traj.seeds.tolist())) == traj.num_episodes
    ds = minari.load_dataset("pbrl/hopper/medium-replay-v0")
    assert next(iter(ds.storage.get_episode_metadata([0])))["seed"] == traj.seeds[0]  # Minari's per-episode seed
    env = gym.make(TASK)
    try:
        for e in range(traj.num_episodes):
            obs, _ = env.reset(seed=int(traj.seeds[e]))
            np.testing.assert_array_equal(obs, traj.episode(e)["observations"][0])  # exactly: the same initial state
        # and one whole episode replays from its seed and its actions
        e = int(np.argmax(traj.lengths))
        episode = traj.episode(e)
        obs, _ = env.reset(seed=int(traj.seeds[e]))
        for t, action in enumerate(episode["actions"]):
            obs, reward, *_ = env.step(action)
            np.testing.assert_array_equal(obs, episode["observations"][t + 1])
            assert reward == episode["rewards"][t]
    finally:
        env.close()


def test_medium_is_not_checked_when_no_level_made_from_it_is_asked_for(weak, datasets):
    written = generate(
        GenerationConfig(**{**SETTINGS, "levels": ["expert"]}, medium_tolerance=0.0, allow_weak=True,
                         dataset_ids={"expert": "pbrl/hopper/expert-only-v0"})
    )  # fmt: skip
    prov = read_metadata(written["expert"])["pbrl"]
    assert prov["reused_policies"] is True and prov["medium_tolerance"] is None
    assert not any("lands near medium" in w for w in prov["warnings"])
    assert any("lands near medium" in w for w in read_metadata("pbrl/hopper/expert-v0")["pbrl"]["warnings"])
