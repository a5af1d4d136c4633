"""PrefPPO and PEBBLE: they learn from a teacher's labels, relabel, log, resume after a kill.

Small budgets on InvertedPendulum (short random episodes, so segments exist from the
first rollout); every claim is measured against a baseline or the store itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

import pbrl  # noqa: F401
from console_support import printed
from pbrl.cli.main import app
from pbrl.evaluation import evaluate_policy
from pbrl.preferences import PreferenceStore
from pbrl.runs.config import ConfigError, TrainConfig
from pbrl.runs.metrics import read_metrics
from pbrl.runs.train import resume, train
from repo_support import load_benchmark

PENDULUM = "pbrl/InvertedPendulum-v5"
SMALL_MODEL = {"reward_hidden": [64, 64], "reward_epochs": 50, "segment_length": 25, "heldout_pairs": 128}


def _random_return(seed: int = 3) -> float:
    rng = np.random.default_rng(seed)
    return evaluate_policy(lambda o: rng.uniform(-3, 3, (len(o), 1)), PENDULUM, episodes=10, seed=seed).return_mean


def test_prefppo_with_the_oracle_learns_the_pendulum(tmp_path):
    config = TrainConfig(
        env=PENDULUM, agent="ppo", steps=24_000, reward="learned", teacher="oracle", feedback=160,
        pref={**SMALL_MODEL, "interval": 4096, "queries_per_round": 40},
        runs_dir=str(tmp_path / "runs"), name="pp", eval_freq=0, checkpoint_freq=0, eval_episodes=10,
    )  # fmt: skip
    result = train(config)
    random = _random_return()
    fb = result.final["feedback"]
    # the budget was spent in rounds of 40, every label is in the run's store
    assert fb["labels"] == fb["queries"] == 160 and fb["feedback_rounds"] == 4, fb
    with PreferenceStore(os.path.join(result.run_dir, "preferences.sqlite"), create=False) as store:
        assert store.summary()["labels"] == 160
        first, second = store.get_pairs([1])
    # segments carry the pre-action physical state (a person's clip): here obs = (qpos, qvel)
    np.testing.assert_allclose(first.obs[0, :, :2], first.extras["qpos"][0], atol=1e-5)
    np.testing.assert_allclose(first.obs[0, :, 2:], first.extras["qvel"][0], atol=1e-5)
    # the reward model agrees with held-out true-reward preferences well above chance
    assert fb["reward_model_accuracy"] > 0.75, fb
    # and PPO, trained only on the learned reward, balances far longer than a random policy (~7 steps)
    assert result.final["return_mean"] > max(300.0, 20 * random), (result.final["return_mean"], random)
    rows = read_metrics(result.run_dir)
    tags = set().union(*rows)
    for tag in ("feedback/labels", "feedback/queries", "reward_model/accuracy", "reward_model/train_accuracy",
                "rollout/true_return", "rollout/learned_return"):
        assert tag in tags, tag
    labels_curve = [r["feedback/labels"] for r in rows if "feedback/labels" in r]
    assert labels_curve == sorted(labels_curve) and labels_curve[-1] == 160
    assert os.path.isfile(os.path.join(result.run_dir, "reward_model", "config.json"))


def test_pebble_pretrains_on_state_entropy_then_relabels_its_buffer_with_the_model(tmp_path):
    from pbrl.agents import make_preference_agent, resolve
    from pbrl.agents.preference.options import resolve_preference_options

    hp = resolve("sac", PENDULUM, {"learning_starts": 500, "batch_size": 64, "net_arch": [32, 32], "n_envs": 4})
    pref = resolve_preference_options("sac", {**SMALL_MODEL, "unsup_steps": 1500, "interval": 1000, "queries_per_round": 20}, 60)
    agent = make_preference_agent("sac", PENDULUM, hp, preference=pref, teacher="oracle", feedback=60,
                                  store_path=str(tmp_path / "prefs.sqlite"), seed=1)  # fmt: skip
    loop = agent.preference_loop
    rb = agent.model.replay_buffer
    try:
        agent.learn(1200)  # random steps, then state-entropy pre-training: no reward model yet
        assert not loop.model_ready and loop.queries_asked() == 0
        size = agent.replay_size()
        assert np.all(rb.rewards[:size] == 0.0)  # the env's reward during pre-training is zero ...
        bonus = rb.sample(64).rewards.numpy().reshape(-1)  # ... SAC's minibatches get the k-NN bonus
        assert np.all(bonus > 0) and bonus.std() > 0

        agent.learn(3200)  # feedback rounds at 1500, 2500 (and the buffer relabelled after each)
        assert loop.model_ready and loop.rounds >= 2 and loop.queries_asked() == 20 * loop.rounds
        size = agent.replay_size()
        obs = rb.observations[:size].reshape(size * rb.n_envs, -1)
        act = agent.model.policy.unscale_action(rb.actions[:size].reshape(size * rb.n_envs, -1))
        model_rewards = loop.reward_model.reward(obs, act)
        stored = rb.rewards[:size].reshape(-1)
        # every stored reward -- from before the first model (relabelled) and after it (the env's
        # reward source) -- is the current model's reward, not zero and not the true reward (1)
        np.testing.assert_allclose(stored, model_rewards, rtol=1e-4, atol=1e-5)
        assert np.abs(stored).max() > 0 and not np.allclose(stored, 1.0)
        assert "reward_model/accuracy" in loop.last_metrics
    finally:
        agent.close()


def _latest_state(run: str) -> dict | None:
    pointer = os.path.join(run, "checkpoints", "latest.json")
    if not os.path.isfile(pointer):
        return None
    try:
        name = json.load(open(pointer))["dir"]
        return json.load(open(os.path.join(run, "checkpoints", name, "state.json")))
    except (OSError, ValueError, KeyError):
        return None


def test_resume_after_sigkill_uses_every_label_in_the_store(tmp_path):
    runs = str(tmp_path / "runs")
    run = os.path.join(runs, "pbrl_InvertedPendulum-v5", "ppo", "kill-s0")
    cmd = [sys.executable, "-m", "pbrl.cli.main", "train", "--env", PENDULUM, "--agent", "ppo", "--steps", "400000",
           "--reward", "learned", "--teacher", "oracle", "--feedback", "400", "--runs-dir", runs, "--name", "kill",
           "--checkpoint-freq", "5000", "--eval-freq", "0", "--eval-episodes", "2", "--quiet",
           "--pref", "interval=1024", "--pref", "queries_per_round=20", "--pref", "reward_hidden=[32, 32]",
           "--pref", "reward_epochs=20", "--pref", "segment_length=25", "--pref", "heldout_pairs=0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    store_path = os.path.join(run, "preferences.sqlite")
    killed_at = None
    try:
        deadline = time.time() + 150
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            state = _latest_state(run)
            if state is None or not os.path.isfile(store_path):
                continue
            with PreferenceStore(store_path, create=False) as store:
                labels = store.summary()["labels"]
            fitted = state["extra"]["preference_loop"]["labels_fitted"]
            if labels > fitted:  # labels committed after the last checkpoint: kill now
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                killed_at = state["num_timesteps"]
                break
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert killed_at is not None, proc.stderr.read().decode()[-3000:]
    with PreferenceStore(store_path, create=False) as store:
        before = store.summary()["labels"]
        # a query stored but never answered (as a kill between storing and labelling leaves it)
        first, second = store.get_pairs([1, 2])
        store.add_pairs(first, second)
        assert store.summary()["open"] == 2
    assert before > _latest_state(run)["extra"]["preference_loop"]["labels_fitted"]

    result = resume(run, steps=killed_at + 1024)
    assert result.resumed_from == killed_at
    with PreferenceStore(store_path, create=False) as store:
        after = store.summary()
    assert after["open"] == 0 and after["labels"] >= before + 2  # nothing lost, the open queries answered
    final = _latest_state(run)["extra"]["preference_loop"]
    assert final["labels_fitted"] == after["labels"]  # the resumed model was trained on every stored label
    assert result.final["feedback"]["labels"] == after["labels"] <= 400 + 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(reward="learned"), "reward 'learned' needs a teacher"),
        (dict(reward="learned", teacher="oracel"), "unknown teacher 'oracel' (did you mean 'oracle'?)"),
        (dict(reward="learned", teacher="oracle", feedback=0), "feedback (the label budget) must be an integer >= 1, got 0"),
        (dict(reward="learned", teacher="noisy", feedback=10, pref={"queries_per_round": 20}), "exceeds the feedback budget (10)"),
        (dict(reward="learned", teacher="noisy", pref={"segment_lenght": 20}), "did you mean 'segment_length'?"),
        (dict(reward="learned", teacher="noisy", pref={"selection": "best"}), "'selection' must be one of 'uniform'"),
        (dict(reward="learned", teacher="noisy", pref={"unsup_steps": 1000}), "implemented for sac (PEBBLE) only"),
        (dict(reward="true", teacher="noisy"), "teacher only apply to reward 'learned'"),
    ],
)
def test_bad_preference_configs_fail_before_any_work(tmp_path, kwargs, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig(env=PENDULUM, agent="ppo", runs_dir=str(tmp_path / "runs"), **kwargs).resolve()
    assert message in str(info.value)
    assert not os.path.exists(tmp_path / "runs")


def test_cli_pebble_smoke_and_bad_teacher(tmp_path):
    runner = CliRunner()
    runs = str(tmp_path / "runs")
    bad = runner.invoke(app, ["train", "--env", "pbrl/Walker2d-v5", "--agent", "sac", "--reward", "learned",
                              "--teacher", "noisyy", "--runs-dir", runs, "--quiet"])  # fmt: skip
    assert bad.exit_code == 2 and printed("unknown teacher 'noisyy'", bad.output) and not os.path.exists(runs)
    bad = runner.invoke(app, ["train", "--env", "pbrl/Walker2d-v5", "--agent", "sac", "--reward", "learned",
                              "--teacher", "noisy", "--feedback", "0", "--runs-dir", runs, "--quiet"])  # fmt: skip
    assert bad.exit_code == 2 and "feedback" in bad.output and not os.path.exists(runs)

    # COLUMNS: the end-of-run table (labels, reward-model accuracy) uncut at any path length
    result = runner.invoke(app, ["train", "--env", "pbrl/Walker2d-v5", "--agent", "sac", "--reward", "learned",
                                 "--teacher", "noisy", "--feedback", "20", "--steps", "1600", "--num-envs", "4",
                                 "--hp", "learning_starts=200", "--hp", "batch_size=64", "--hp", "net_arch=[32, 32]",
                                 "--pref", "unsup_steps=600", "--pref", "interval=400", "--pref", "queries_per_round=10",
                                 "--pref", "reward_hidden=[32, 32]", "--pref", "reward_epochs=10", "--pref", "segment_length=10",
                                 "--eval-episodes", "2", "--runs-dir", runs, "--name", "cli"],
                           env={"COLUMNS": "10000"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert printed("labels / queries", result.output) and printed("reward-model accuracy", result.output)
    run = os.path.join(runs, "pbrl_Walker2d-v5", "sac", "cli-s0")
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert summary["final_eval"]["feedback"]["queries"] == 20 and summary["final_eval"]["feedback"]["teacher"] == "noisy"
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["reward"] == {"kind": "learned", "algorithm": "pebble", "teacher": "noisy", "feedback": 20}
    assert config["preference"]["segment_length"] == 10 and config["preference"]["ensemble_size"] == 3
    assert os.path.isfile(os.path.join(run, "preferences.sqlite"))


def test_benchmark_quick_profile_smoke(tmp_path):
    """benchmarks/pbrl_online.py --quick, reduced to PrefPPO and one seed (the whole quick profile takes ~3 min)."""

    bench = load_benchmark("pbrl_online")
    out = tmp_path / "online.json"
    code = bench.main(["--quick", "--agents", "ppo", "--seeds", "1", "--workers", "1", "--reps", "200",
                       "--root", str(tmp_path / "root"), "--json", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert not report["failed"] and len(report["results"]) == 5  # true reward + 2 teachers x 2 budgets
    stats = report["statistics"]
    assert stats["PPO (true reward)"]["iqm"][0] == pytest.approx(100.0)
    assert stats["PrefPPO oracle/60"]["labels_mean"] == 60 and stats["PrefPPO noisy/20"]["labels_mean"] == 20
    assert "IQM normalised return" in (tmp_path / "online.md").read_text()
    assert report["estimate_full_profile"]["runs"] == 90 and report["estimate_full_profile"]["wall_clock_hours"] > 10


def test_benchmark_methods_quick_profile_smoke(tmp_path):
    """The methods' smoke profile with one teacher: every method and feedback kind trains and lands in
    the table, each compared with PEBBLE on the same labels; a second call with the same --root
    reuses the finished runs instead of training again."""
    bench = load_benchmark("pbrl_online")
    out, root = tmp_path / "methods.json", tmp_path / "root"
    argv = ["--profile", "methods-quick", "--teachers", "mistake", "--workers", "1", "--reps", "200", "--root", str(root), "--json", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    learned = {"PEBBLE", "SURF", "RUNE", "QPA", "RIME", "MRN", "PEBBLE (ratings)", "PEBBLE (rankings)"}
    assert set(report["statistics"]) == {"SAC (true reward)"} | {f"{name} mistake/20" for name in learned}
    assert not report["failed"]
    for name in learned:
        assert report["statistics"][f"{name} mistake/20"]["labels_mean"] == 20  # answers: pairs, ratings or comparisons
    pairs = {(c["x"], c["y"]) for c in report["comparisons"]}
    assert {(f"{name} mistake/20", "PEBBLE mistake/20") for name in learned - {"PEBBLE"}} <= pairs
    assert ("RIME mistake/20", "SAC (true reward)") in pairs
    folders = sorted(os.listdir(root / "runs"))
    assert bench.main(argv) == 0  # everything reused from root/results.jsonl
    assert sorted(os.listdir(root / "runs")) == folders
    assert json.loads(out.read_text())["statistics"] == report["statistics"]


def test_benchmark_methods_profile_validates_and_fits_two_hours(tmp_path, capsys):
    """Issue 21's claims profile: >= 5 seeds, both teachers, every run's config resolves (methods and
    feedback kinds included), and --estimate says about two hours on 2 cores (no runs)."""
    bench = _online_benchmark()
    spec = bench.PROFILES["methods"]
    assert spec["seeds"] >= 5 and set(spec["teachers"]) == {"oracle", "mistake"}
    jobs = bench.make_jobs(spec, 1, spec["agents"], str(tmp_path / "runs"))
    assert len(jobs) == 1 + 2 * (len(spec["methods"]) + len(spec["kinds"]) - 1)
    for job in jobs:
        bench.job_config(job).resolve()
    assert bench.main(["--profile", "methods", "--estimate", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    estimate = json.loads(out[out.index("{") :])
    assert estimate["runs"] == len(jobs) * spec["seeds"] and 0 < estimate["wall_clock_hours"] <= 2.5


def _online_benchmark():

    bench = load_benchmark("pbrl_online")
    return bench


@pytest.mark.parametrize("profile", ["claims-prefppo", "claims-pebble"])
def test_benchmark_claims_profiles_validate_and_fit_two_hours(profile, tmp_path, capsys):
    """Issue 17's claims profiles: ≥ 5 seeds, every run's config resolves, and --estimate
    prints a figure within about two hours on 2 cores (no runs)."""
    bench = _online_benchmark()
    spec = bench.PROFILES[profile]
    assert spec["seeds"] >= 5 and len(spec["agents"]) == 1
    jobs = bench.make_jobs(spec, 1, spec["agents"], str(tmp_path / "runs"))
    assert len(jobs) == 1 + len(spec["teachers"]) * len(spec["budgets"])
    for job in jobs:
        bench.job_config(job).resolve()  # raises ConfigError on a bad setting
    assert bench.main(["--profile", profile, "--estimate", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    estimate = json.loads(out[out.index("{") :])
    assert 0 < estimate["wall_clock_hours"] <= 2.0
    assert estimate["runs"] == len(jobs) * spec["seeds"]


def test_benchmark_estimate_follows_the_selected_agents_and_budgets():
    bench = _online_benchmark()
    both = bench.estimate_hours("medium", 3, 2, agents=["ppo", "sac"])
    ppo = bench.estimate_hours("medium", 3, 2)  # the medium profile runs PrefPPO only
    assert set(ppo["per_run_hours"]) == {"ppo/true", "ppo/oracle/200", "ppo/oracle/1000", "ppo/noisy/200", "ppo/noisy/1000"}
    assert ppo["wall_clock_hours"] < both["wall_clock_hours"] and ppo["runs"] == 15
    spec = {**bench.PROFILES["medium"], "budgets": [1000], "teachers": ["oracle"]}
    assert bench.estimate_hours("medium", 3, 2, spec, ["sac"])["runs"] == 6


def test_benchmark_statistics_compare_with_intervals_and_claim_wording():
    """The summary's comparisons: learned vs true reward, oracle vs noisy, 1000 vs 200 labels;
    P(X > Y) with its interval, the methods named and compare.claim's wording (no training)."""
    bench = _online_benchmark()
    rng = np.random.default_rng(0)
    results = []
    for seed in range(5):
        base = dict(task_name="HalfCheetah", agent="ppo", seed=seed, steps=1)
        results.append({**base, "reward": "true", "teacher": None, "feedback": None, "return_mean": 4000 + 100 * rng.normal()})
        for teacher in ("oracle", "noisy"):
            for budget in (200, 1000):
                ret = 1500 + 2 * budget - (300 if teacher == "noisy" else 0) + 100 * rng.normal()
                results.append({**base, "reward": "learned", "teacher": teacher, "feedback": budget, "return_mean": ret, "labels": budget, "accuracy": 0.9})
    stats, table, comparisons = bench.statistics_table(results, {"HalfCheetah": -300.0}, ["HalfCheetah"], 5, 500)
    pairs = {(c["x"], c["y"]) for c in comparisons}
    assert ("PrefPPO oracle/1000", "PPO (true reward)") in pairs and ("PrefPPO noisy/200", "PPO (true reward)") in pairs
    assert ("PrefPPO oracle/1000", "PrefPPO noisy/1000") in pairs and ("PrefPPO oracle/1000", "PrefPPO oracle/200") in pairs
    worse = next(c for c in comparisons if c["x"] == "PrefPPO noisy/200" and c["y"] == "PPO (true reward)")
    assert worse["probability"][2] < 0.5 and worse["claim"].startswith("PPO (true reward) > PrefPPO noisy/200")
    assert "95% stratified bootstrap, 500 reps" in table and "95% independent stratified bootstrap, 500 reps" in table
