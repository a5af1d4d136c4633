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
from pbrl.runs.compare import CURVE_AXES, CURVE_BAND, CompareError, claim, compare, find_runs

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


def _make_run(root, task, agent, name, seed, score, ret=None, status="complete", kind=None, curve=((0, 0.0),), reward=None, steps=None, extra=()):
    path = os.path.join(root, task.replace("/", "_"), agent, f"{name}-s{seed}")
    os.makedirs(path)
    config = {"format": "pbrl.run", "version": 1, "config": {"env": task, "agent": agent, "name": name, "seed": seed}}
    if steps is not None:
        config["config"]["steps"] = steps
    if kind:
        config["kind"] = kind
    if reward:
        config["reward"] = reward
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    ret = score * 10 if ret is None else ret
    summary = {"status": status, "latest": {"eval/return": ret, "eval/normalized_score": score}}
    summary["gradient_steps" if kind == "offline" else "num_timesteps"] = 1000 if steps is None else steps
    if status == "complete":
        summary["final_eval"] = {"return_mean": ret, "return_std": 1.0, "normalized_score": score, "episodes": 3}
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for step, value in list(curve) + [(1000, score)]:
            f.write(json.dumps({"step": step, "time": 0.0, "eval/normalized_score": value, "eval/return": value * 10}) + "\n")
        for row in extra:  # more rows: wall-clock times, labels used
            f.write(json.dumps(row) + "\n")
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
    for name in ("learning_curves.png", "learning_curves_wallclock.png", "intervals.png", "performance_profile.png", "probability_of_improvement.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 5000, name
    assert not (out / "learning_curves_labels.png").exists()  # no preference runs here
    data = json.loads((out / "compare.json").read_text())
    assert data["metric"] == "normalized_score" and data["gamma"] == 100.0 and len(data["groups"]) == 4
    bad = runner.invoke(app, ["compare", str(tmp_path / "nothing")])
    # the message follows the (temporary, any length) path: the console may break it anywhere
    assert bad.exit_code == 2 and printed(f"{tmp_path / 'nothing'}: no such file or folder", bad.output) and "Traceback" not in bad.output


# -- honest statistics: warnings, the interval's method, claims ------------------------------------


def _groups(root, task="pbrl/Hopper-v5", **sides):
    """Runs of each side: ``name=(scores, make_run options)``."""
    for agent, (scores, options) in sides.items():
        for seed, score in enumerate(scores):
            _make_run(root, task, agent, "x", seed, score, **options)


def test_a_two_seed_group_is_warned_about_on_stderr_and_in_the_report(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0], {}), sac=([50.0, 60.0, 70.0, 80.0, 90.0], {}))
    result = compare([root], reps=200)
    assert any("pbrl/Hopper-v5 · ppo: 2 seeds, fewer than 3" in w for w in result.warnings)
    assert not any("sac" in w for w in result.warnings)
    assert "## Warnings" in result.to_markdown() and "2 seeds, fewer than 3" in result.to_markdown()
    assert result.to_dict()["warnings"] == result.warnings
    cli = runner.invoke(app, ["compare", root, "--reps", "200"])
    assert cli.exit_code == 0, cli.output
    assert printed("warning: pbrl/Hopper-v5 · ppo: 2 seeds, fewer than 3", cli.stderr)


def test_groups_with_different_budgets_are_warned_about(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0], {"steps": 100_000}), sac=([50.0, 60.0, 70.0], {"steps": 300_000}))
    result = compare([root], reps=200)
    [warning] = result.warnings
    assert "different budgets" in warning and "ppo: 100,000 env steps" in warning and "sac: 300,000 env steps" in warning
    assert "at different budgets" in result.claims()[0]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["warnings"] == [warning] and data["groups"][0]["budget"] == ["100,000 env steps"]
    cli = runner.invoke(app, ["compare", root, "--reps", "200"])
    assert printed("different budgets", cli.stderr)


def test_label_budgets_differ_only_among_learned_rewards(tmp_path):
    root = str(tmp_path / "runs")
    learned = {"kind": "learned", "algorithm": "prefppo", "teacher": "oracle", "feedback": 200}
    _groups(root, ppo=([10.0, 20.0, 30.0], {"steps": 1000, "reward": {"kind": "true"}}), prefppo=([5.0, 6.0, 7.0], {"steps": 1000, "reward": learned}))
    assert compare([root], reps=100).warnings == []  # the true reward has no label budget to differ from
    _groups(root, sac=([5.0, 6.0, 7.0], {"steps": 1000, "reward": dict(learned, algorithm="pebble", feedback=1000)}))
    [warning] = compare([root], reps=100).warnings
    assert "different label budgets" in warning and "pebble: 1,000 labels" in warning and "prefppo: 200 labels" in warning


def test_equal_budgets_and_enough_seeds_raise_no_warning(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0], {"steps": 5000}), sac=([15.0, 25.0, 35.0], {"steps": 5000}))
    result = compare([root], reps=100)
    assert result.warnings == [] and "## Warnings" not in result.to_markdown()


def test_every_interval_names_its_method(runs):
    result = compare([runs], reps=1234)
    md = result.to_markdown()
    assert result.interval_method == "95% stratified bootstrap, 1,234 reps"
    # every table column of intervals says how they were made
    headers = [line for line in md.splitlines() if line.startswith(("| task", "| group", "| X"))]
    header_cells = [cell.strip() for line in headers for cell in line.strip("|").split("|")]
    interval_cells = [c for c in header_cells if "IQM" in c or "gap" in c or "P(X > Y)" in c]
    assert len(interval_cells) == 5
    assert all("stratified bootstrap, 1,234 reps" in c and "95%" in c for c in interval_cells)
    assert "P(X > Y) [95% independent stratified bootstrap, 1,234 reps]" in md
    assert result.to_dict()["interval_method"] == "95% stratified bootstrap, 1,234 reps"


def test_compare_defaults_to_rliables_repetitions(tmp_path):
    import inspect

    from pbrl.cli.compare_cmd import compare as compare_command

    assert inspect.signature(compare).parameters["reps"].default == agg.DEFAULT_REPS == 50_000
    assert inspect.signature(compare_command).parameters["reps"].default.default == agg.DEFAULT_REPS
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0], {}), sac=([15.0, 25.0, 35.0], {}))
    assert "50,000 reps" in compare([root]).to_markdown()


def test_probability_of_improvement_for_every_pair_or_against_a_baseline(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0], {}), sac=([40.0, 50.0, 60.0], {}), td3=([70.0, 80.0, 90.0], {}))
    pairs = {(p["x"], p["y"]) for p in compare([root], reps=200).improvement}
    assert pairs == {("ppo", "sac"), ("ppo", "td3"), ("sac", "td3")}
    result = compare([root], reps=200, baseline="ppo")
    assert [(p["x"], p["y"]) for p in result.improvement] == [("sac", "ppo"), ("td3", "ppo")]
    assert all(p["probability"][0] == 1.0 and len(p["probability"]) == 3 for p in result.improvement)
    assert "against the baseline ppo" in result.to_markdown()
    with pytest.raises(CompareError, match="baseline 'dqn' is no group here"):
        compare([root], reps=10, baseline="dqn")
    cli = runner.invoke(app, ["compare", root, "--reps", "200", "--baseline", "sac"])
    assert cli.exit_code == 0 and "| ppo | sac | 1 |" in cli.stdout and "| td3 | sac | 1 |" in cli.stdout


def test_claim_wording_is_no_stronger_than_the_interval():
    # the interval covers (or touches) 0.5: nothing is shown, whatever the point estimate
    assert claim("a", "b", (0.62, 0.41, 0.80)) == "a vs b: not shown at this budget (P(a > b) = 0.62 [0.41, 0.80] covers 0.5)"
    assert "not shown" in claim("a", "b", (0.70, 0.50, 0.90), seeds=10)
    assert "not shown" in claim("a", "b", (0.5, 0.5, 0.5))
    # above 0.5: a > b; below: said the other way round
    assert claim("a", "b", (0.8, 0.6, 0.95), seeds=5) == "a > b (P(a > b) = 0.80 [0.60, 0.95], interval above 0.5)"
    assert claim("a", "b", (0.2, 0.05, 0.4), seeds=5) == "b > a (P(b > a) = 0.80 [0.60, 0.95], interval above 0.5)"
    # what the IQM intervals add, and what too few seeds take away
    assert "IQM intervals overlap: how much better is not shown" in claim("a", "b", (0.8, 0.6, 0.9), (60, 50, 70), (50, 40, 60))
    assert "IQM intervals apart" in claim("a", "b", (0.8, 0.6, 0.9), (80, 71, 90), (50, 40, 70))
    assert "IQM intervals apart" in claim("a", "b", (0.2, 0.1, 0.4), (50, 40, 70), (80, 71, 90))  # b > a: b's IQM above
    assert "preliminary" in claim("a", "b", (0.8, 0.6, 0.9), seeds=4)
    assert "preliminary" not in claim("a", "b", (0.8, 0.6, 0.9), seeds=5)
    assert claim("a", "b", (1.0, 1.0, 1.0), seeds=2).startswith("a vs b: not shown: 2 seeds on one side, fewer than 3")


def test_claims_in_the_markdown_summary(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0, 40.0, 50.0], {}), sac=([60.0, 70.0, 80.0, 90.0, 95.0], {}), td3=([12.0, 22.0, 33.0, 41.0, 48.0], {}))
    result = compare([root], reps=2000)
    md = result.to_markdown()
    assert "## Claims" in md
    assert "- sac > ppo (P(sac > ppo) = 1.00 [1.00, 1.00], interval above 0.5; IQM intervals apart)" in md
    assert "- ppo vs td3: not shown at this budget" in md
    assert result.to_dict()["claims"] == result.claims()


# -- the figures and the data behind them ------------------------------------------------------


def _timed_run(root, agent, seed, scores, seconds, labels=None, reward=None):
    """A run evaluated at steps 0, 500, 1000 with ``scores``, logged ``seconds`` after its start;
    ``labels``: labels used at each of those steps (a preference run)."""
    path = _make_run(root, "pbrl/Hopper-v5", agent, "x", seed, scores[-1], reward=reward)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for i, (step, score, t) in enumerate(zip((0, 500, 1000), scores, seconds)):
            row = {"step": step, "time": 1000.0 + t, "eval/normalized_score": score}
            if labels is not None:
                row["feedback/labels"] = labels[i]
            f.write(json.dumps(row) + "\n")


def test_learning_curves_over_steps_wall_clock_and_labels(tmp_path):
    root = str(tmp_path / "runs")
    learned = {"kind": "learned", "algorithm": "prefppo", "teacher": "oracle", "feedback": 200}
    _timed_run(root, "ppo", 0, (0.0, 10.0, 20.0), (0.0, 5.0, 10.0))
    _timed_run(root, "ppo", 1, (0.0, 30.0, 40.0), (0.0, 5.0, 10.0))
    _timed_run(root, "ppo", 2, (0.0, 20.0, 60.0), (0.0, 5.0, 10.0))
    for seed in range(3):
        _timed_run(root, "ppo", 10 + seed, (0.0, 5.0, 10.0), (0.0, 20.0, 40.0), labels=(0, 100, 200), reward=learned)
    result = compare([root], reps=100)
    by_steps = {d["label"]: d for d in result.curve_data("steps")}
    ppo = by_steps["ppo"]
    assert ppo["x"].tolist() == [0, 500, 1000] and ppo["mean"].tolist() == pytest.approx([0.0, 20.0, 40.0])
    sem = np.std([20.0, 40.0, 60.0]) / np.sqrt(3)  # the band: ± 1 SEM over the runs
    assert ppo["high"][-1] == pytest.approx(40.0 + sem) and ppo["low"][-1] == pytest.approx(40.0 - sem)
    by_time = {d["label"]: d for d in result.curve_data("time")}
    assert by_time["ppo"]["x"].tolist() == [0.0, 5.0, 10.0] and by_time["prefppo"]["x"].tolist() == [0.0, 20.0, 40.0]
    by_labels = {d["label"]: d for d in result.curve_data("labels")}
    assert set(by_labels) == {"prefppo"}  # only preference runs count labels
    assert by_labels["prefppo"]["x"].tolist() == [0, 100, 200] and by_labels["prefppo"]["mean"].tolist() == pytest.approx([0.0, 5.0, 10.0])
    with pytest.raises(CompareError, match="unknown curve axis"):
        result.curve_data("episodes")
    files = result.write(str(tmp_path / "out"))
    for key, name in (("curves", "learning_curves.png"), ("curves_wallclock", "learning_curves_wallclock.png"), ("curves_labels", "learning_curves_labels.png")):
        assert os.path.basename(files[key]) == name == CURVE_AXES[{"curves": "steps", "curves_wallclock": "time", "curves_labels": "labels"}[key]][1]
        with open(files[key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(files[key]) > 5000


def test_learning_curve_legends_name_the_band(monkeypatch, runs):
    assert "mean over runs" in CURVE_BAND and "1 SEM" in CURVE_BAND
    import matplotlib.axes

    titles = []
    legend = matplotlib.axes.Axes.legend
    monkeypatch.setattr(matplotlib.axes.Axes, "legend", lambda self, *a, **k: titles.append(k.get("title")) or legend(self, *a, **k))
    result = compare([runs], reps=100)
    result.plot_curves(os.path.join(runs, "curves.png"))
    result.plot_profile(os.path.join(runs, "profile.png"))
    assert titles[:-1] == [CURVE_BAND] * len(result.tasks)
    assert titles[-1] == "band: 95% stratified bootstrap, 100 reps"


def test_performance_profile_by_hand(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0, 40.0], {}), sac=([50.0, 60.0, 70.0, 80.0], {}))
    _groups(root, task="pbrl/Walker2d-v5", ppo=([0.0, 100.0], {}))
    result = compare([root], reps=500)
    data = result.performance_profile(taus=[-1.0, 25.0, 65.0, 100.0])
    ppo, low, high = data["profiles"]["ppo"]
    # Hopper: 2 of 4 above 25, 0 of 4 above 65; Walker2d: 1 of 2 above both -> averaged over tasks
    assert ppo.tolist() == pytest.approx([1.0, (0.5 + 0.5) / 2, (0.0 + 0.5) / 2, 0.0])
    assert data["profiles"]["sac"][0].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0])
    assert np.all(low <= ppo) and np.all(ppo <= high) and low[0] == high[0] == 1.0 and low[-1] == high[-1] == 0.0
    assert 0.0 < low[1] < high[1] < 1.0  # resampling Hopper's runs moves the fraction above 25
    assert agg.performance_profile(np.array([[1.0, 5.0], [3.0, 7.0]]), [2.0]).tolist() == [0.75]  # (1/2 + 2/2) / 2
    default = result.performance_profile()
    assert default["taus"][0] == 0.0 and default["taus"][-1] == 100.0 and default["taus"].size == 101
    path = result.plot_profile(str(tmp_path / "profile.png"))
    assert os.path.getsize(path) > 5000


def test_probability_of_improvement_figure(tmp_path):
    root = str(tmp_path / "runs")
    _groups(root, ppo=([10.0, 20.0, 30.0], {}), sac=([40.0, 50.0, 60.0], {}))
    result = compare([root], reps=300)
    [pair] = result.improvement
    assert (pair["x"], pair["y"]) == ("ppo", "sac") and pair["probability"] == [0.0, 0.0, 0.0]  # fully separated
    assert compare([root], reps=300, baseline="ppo").improvement[0]["probability"] == [1.0, 1.0, 1.0]  # P(sac > ppo)
    files = result.write(str(tmp_path / "out"))
    assert os.path.basename(files["improvement"]) == "probability_of_improvement.png" and os.path.getsize(files["improvement"]) > 5000
    alone = str(tmp_path / "alone")
    _groups(alone, ppo=([10.0, 20.0, 30.0], {}))
    assert "improvement" not in compare([alone], reps=50).write(str(tmp_path / "out2"))  # no pair, no figure
