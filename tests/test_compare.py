"""``pbrl compare``: rliable's statistics against hand-computed cases, run discovery, grouping, tables, plots."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from console_support import printed
from pbrl.cli.main import app
from pbrl.evaluation import aggregate as agg
from pbrl.runs.compare import CompareError, compare, find_runs

runner = CliRunner()


# -- the statistics, by hand -------------------------------------------------------------


def test_iqm_by_hand():
    assert agg.iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # drops 2 from each end: mean(3, 4, 5, 6)
    assert agg.iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # int(0.25 * 5) = 1 from each end
    assert agg.iqm([[1, 8], [2, 7], [3, 6], [4, 5]]) == pytest.approx(4.5)  # runs x tasks, flattened
    assert agg.iqm([7.0]) == 7.0


def test_optimality_gap_by_hand():
    assert agg.optimality_gap([0.5, 1.2, 0.8], gamma=1.0) == pytest.approx(1 - (0.5 + 1.0 + 0.8) / 3)
    assert agg.optimality_gap([2.0, 3.0], gamma=1.0) == 0.0  # scores above the threshold count as the threshold
    assert agg.optimality_gap([50.0, 150.0]) == pytest.approx(25.0)  # gamma = 100 for x100 scores


def test_probability_of_improvement_by_hand():
    assert agg.probability_of_improvement([1, 2], [1, 2]) == 0.5  # identical: ties count 1/2
    assert agg.probability_of_improvement([3, 3], [3, 3]) == 0.5
    # (2>1) 1, (2=2) 1/2, (3>1) 1, (3>2) 1  ->  3.5 / 4
    assert agg.probability_of_improvement([2, 3], [1, 2]) == pytest.approx(0.875)
    assert agg.probability_of_improvement([1, 2], [2, 3]) == pytest.approx(0.125)
    # two tasks: 1 on the first, 0 on the second -> averaged over tasks
    assert agg.probability_of_improvement([[5, 0], [6, 1]], [[1, 4], [2, 3]]) == pytest.approx(0.5)
    # ragged: different run counts per algorithm and task
    # task a: 2 vs (1, 2, 2) -> 1 + 1/2 + 1/2, 3 vs (1, 2, 2) -> 3; task b: 1 vs (1, 0) -> 1/2 + 1
    assert agg.probability_of_improvement({"a": [2, 3], "b": [1]}, {"a": [1, 2, 2], "b": [1, 0]}) == pytest.approx((5 / 6 + 1.5 / 2) / 2)
    point, low, high = agg.probability_of_improvement_interval([3, 3, 3], [3, 3, 3], reps=50)
    assert (point, low, high) == (0.5, 0.5, 0.5)


def test_stratified_bootstrap_never_mixes_tasks():
    scores = np.column_stack([np.zeros(5), np.full(5, 100.0)])  # task A all 0, task B all 100
    samples = agg.stratified_bootstrap(scores, agg.mean, reps=200)
    assert np.all(samples == 50.0)  # every resample keeps 5 runs of each task
    point, low, high = agg.interval_estimate({"a": [0.0, 0.0], "b": [100.0, 100.0, 100.0]}, agg.mean, reps=200)
    assert point == pytest.approx(60.0) and low == high == pytest.approx(60.0)  # 2 of A and 3 of B, always


def test_ragged_equals_matrix_for_equal_run_counts():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 3))
    ragged = {f"t{j}": m[:, j] for j in range(3)}
    assert agg.interval_estimate(ragged, agg.iqm, reps=100)[0] == pytest.approx(agg.interval_estimate(m, agg.iqm, reps=100)[0])
    p, low, high = agg.probability_of_improvement_interval(m + 0.5, m, reps=300)
    assert low <= p <= high and p == pytest.approx(agg.probability_of_improvement(m + 0.5, m))


# -- run folders, made by hand -------------------------------------------------------------


def _make_run(root, task, agent, name, seed, score, ret=None, status="complete", kind=None, curve=((0, 0.0),), reward=None):
    path = os.path.join(root, task.replace("/", "_"), agent, f"{name}-s{seed}")
    os.makedirs(path)
    config = {"format": "pbrl.run", "version": 1, "config": {"env": task, "agent": agent, "name": name, "seed": seed}}
    if kind:
        config["kind"] = kind
    if reward:
        config["reward"] = reward
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    ret = score * 10 if ret is None else ret
    summary = {"status": status, "latest": {"eval/return": ret, "eval/normalized_score": score}}
    summary["gradient_steps" if kind == "offline" else "num_timesteps"] = 1000
    if status == "complete":
        summary["final_eval"] = {"return_mean": ret, "return_std": 1.0, "normalized_score": score, "episodes": 3}
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for step, value in list(curve) + [(1000, score)]:
            f.write(json.dumps({"step": step, "time": 0.0, "eval/normalized_score": value, "eval/return": value * 10}) + "\n")
    return path


@pytest.fixture
def runs(tmp_path):
    root = str(tmp_path / "runs")
    for seed, s in enumerate([10.0, 20.0, 30.0, 40.0]):
        _make_run(root, "pbrl/Hopper-v5", "ppo", "a", seed, s)
    for seed, s in enumerate([50.0, 60.0, 70.0, 80.0]):
        _make_run(root, "pbrl/Hopper-v5", "sac", "b", seed, s, curve=((0, 0.0), (500, s / 2)))
    for seed, s in enumerate([5.0, 15.0]):
        _make_run(root, "pbrl/Walker2d-v5", "ppo", "a", seed, s)
    _make_run(root, "pbrl/Walker2d-v5", "iql", "c", 0, 120.0, kind="offline")
    _make_run(root, "pbrl/Walker2d-v5", "ppo", "a", 7, 99.0, status="running")
    os.makedirs(os.path.join(root, "notes"))
    with open(os.path.join(root, "notes", "config.json"), "w") as f:
        json.dump({"something": "else"}, f)  # not a run: ignored while searching
    return root


def test_compare_groups_seeds_and_computes_rliable_statistics(runs):
    result = compare([runs], reps=300)
    groups = {(g.task, g.label): g for g in result.groups}
    assert set(groups) == {("pbrl/Hopper-v5", "ppo"), ("pbrl/Hopper-v5", "sac"), ("pbrl/Walker2d-v5", "ppo"), ("pbrl/Walker2d-v5", "iql")}
    ppo = groups["pbrl/Hopper-v5", "ppo"]
    assert [r.seed for r in ppo.runs] == [0, 1, 2, 3]
    assert ppo.iqm[0] == pytest.approx(25.0)  # mean(20, 30)
    assert ppo.optimality_gap[0] == pytest.approx(75.0)
    assert groups["pbrl/Walker2d-v5", "iql"].optimality_gap[0] == 0.0  # 120 counts as 100
    assert ppo.returns.mean() == pytest.approx(250.0)
    # the running run is reported and skipped
    assert len(result.skipped) == 1 and "status 'running'" in result.skipped[0][1]
    # ppo over both tasks (ragged: 4 + 2 runs): IQM of [5, 10, 15, 20, 30, 40] drops 1 each end
    assert result.overall["ppo"]["iqm"][0] == pytest.approx(np.mean([10, 15, 20, 30]))
    poi = {(p["x"], p["y"]): p for p in result.improvement}
    assert poi["ppo", "sac"]["probability"][0] == 0.0 and poi["ppo", "sac"]["tasks"] == ["pbrl/Hopper-v5"]
    assert poi["iql", "ppo"]["probability"][0] == 1.0
    assert ("iql", "sac") not in poi  # no common task
    md = result.to_markdown()
    assert "| pbrl/Hopper-v5 | ppo | 4 (0,1,2,3) | 1,000 env |" in md
    assert "| pbrl/Walker2d-v5 | iql | 1 (0) | 1,000 gradient |" in md
    assert "Probability of improvement" in md and "skipped" in md


def test_incomplete_runs_can_be_included_and_are_marked(runs):
    result = compare([runs], reps=50, include_incomplete=True)
    walker = next(g for g in result.groups if g.task == "pbrl/Walker2d-v5" and g.label == "ppo")
    assert sorted(walker.scores.tolist()) == [5.0, 15.0, 99.0] and walker.incomplete == 1
    assert "1 incomplete*" in result.to_markdown()


def test_auto_labels_split_an_agent_run_under_several_names(tmp_path):
    root = str(tmp_path)
    _make_run(root, "pbrl/Hopper-v5", "ppo", "true", 0, 10.0)
    _make_run(root, "pbrl/Hopper-v5", "ppo", "program", 0, 20.0)
    assert {g.label for g in compare([root], reps=10).groups} == {"ppo/true", "ppo/program"}
    assert {g.label for g in compare([root], reps=10, group_by="agent").groups} == {"ppo"}


def test_labels_name_the_algorithm_behind_the_reward(tmp_path):
    root = str(tmp_path)
    _make_run(root, "pbrl/Hopper-v5", "ppo", "x", 0, 10.0, reward={"kind": "true"})
    _make_run(root, "pbrl/Hopper-v5", "ppo", "y", 0, 20.0, reward={"kind": "learned", "algorithm": "prefppo", "teacher": "oracle"})
    _make_run(root, "pbrl/Hopper-v5", "sac", "z", 0, 30.0, reward={"kind": "learned", "algorithm": "pebble", "teacher": "oracle"})
    _make_run(root, "pbrl/Hopper-v5", "sac", "w", 0, 40.0, reward={"kind": "program", "path": "/r.py"})
    assert {g.label for g in compare([root], reps=10).groups} == {"ppo", "prefppo", "pebble", "sac+program"}


def test_clear_errors(tmp_path, runs):
    with pytest.raises(CompareError, match="no such file or folder"):
        find_runs([str(tmp_path / "nope")])
    os.makedirs(tmp_path / "empty")
    with pytest.raises(CompareError, match="no pbrl runs under"):
        find_runs([str(tmp_path / "empty")])
    with pytest.raises(CompareError, match="is not a pbrl run folder"):
        find_runs([os.path.join(runs, "notes")])
    with pytest.raises(CompareError, match="no run to compare"):
        compare([os.path.join(runs, "pbrl_Walker2d-v5", "ppo", "a-s7")])
    with pytest.raises(CompareError, match="unknown metric"):
        compare([runs], metric="elo")
    # a run given twice (itself and its parent) counts once
    assert len(find_runs([runs, os.path.join(runs, "pbrl_Hopper-v5")])) == len(find_runs([runs]))


def test_compare_cli_prints_and_writes_tables_and_plots(runs, tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", runs, "--out", str(out), "--reps", "100"])
    assert result.exit_code == 0, result.output
    assert "| pbrl/Hopper-v5 | sac | 4 (0,1,2,3) |" in result.output
    assert "skipped" in result.output
    for name in ("compare.md", "compare.json", "learning_curves.png", "intervals.png"):
        assert (out / name).exists(), name
    for name in ("learning_curves.png", "intervals.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "compare.json").read_text())
    assert data["metric"] == "normalized_score" and data["gamma"] == 100.0 and len(data["groups"]) == 4
    bad = runner.invoke(app, ["compare", str(tmp_path / "nothing")])
    # the message follows the (temporary, any length) path: the console may break it anywhere
    assert bad.exit_code == 2 and printed(f"{tmp_path / 'nothing'}: no such file or folder", bad.output) and "Traceback" not in bad.output
