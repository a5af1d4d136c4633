"""Smoke runs of benchmarks/offline_speed.py and the statistics of benchmarks/offline_pbrl.py."""

from __future__ import annotations

import json
import os

import numpy as np
from repo_support import load_benchmark



def test_offline_speed_quick(tmp_path, capsys):
    bench = load_benchmark("offline_speed")
    out = tmp_path / "speed.json"
    assert bench.main(["--quick", "--only", "iql,bc", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["numerics"]["max_abs_difference_after"] < 1e-4
    names = list(report["results"])
    assert any(n.startswith("reference IQL") for n in names) and "pbrl iql (1 thread)" in names and "pbrl bc (1 thread)" in names
    assert all(r["median"] > 0 for r in report["results"].values())
    assert len(report["load"]["before"]) == 3 and "| pbrl iql (1 thread) |" in capsys.readouterr().out


def test_offline_pbrl_statistics_and_estimate():
    bench = load_benchmark("offline_pbrl")
    rng = np.random.default_rng(0)
    results = []
    for label, level_mean in (("bc", 40.0), ("iql", 60.0), ("piql-50", 55.0), ("piql-200", 58.0), ("cpl", 50.0), ("oppo", 45.0)):
        for seed in range(3):
            for task in ("HalfCheetah", "Hopper"):
                for level in ("medium-replay", "medium-expert"):
                    results.append({"label": label, "seed": seed, "task_name": task, "level": level,
                                    "normalized_score": level_mean + rng.normal()})  # fmt: skip
    results.append({"label": "oppo", "seed": 9, "task_name": "Hopper", "level": "medium-replay", "error": "boom"})
    stats, table = bench.statistics_table(results, (50, 200), reps=200)
    assert stats["seeds"] == [0, 1, 2] and len(stats["datasets"]) == 4
    iqm, low, high = stats["aggregate"]["iql"]["iqm"]
    assert low <= iqm <= high and abs(iqm - 60) < 2
    assert stats["probability_of_improvement"]["P(iql > bc)"] == [1.0, 1.0, 1.0]  # (P, low, high)
    assert "| iql |" in table and "P(cpl > bc)" in table
    assert "95% independent stratified bootstrap" in table and "95% stratified bootstrap" in stats["interval_method"]
    assert stats["claims"]["iql vs bc"].startswith("iql > bc")  # every seed of IQL above every one of BC
    est = bench.estimate_hours("full", seeds=3, workers=2)
    assert est["total_cpu_hours"] > est["wall_clock_hours"] > 0 and est["cpl"] > est["bc"]
    # the CPU-sized profile: three tasks, CPL at 32 pairs through a 256×256 actor, hours not days
    assert list(bench.profile_tasks("small")) == ["HalfCheetah", "Hopper", "Walker2d"]
    assert bench.PROFILES["small"]["agents"]["cpl"][2]["hidden_sizes"] == [256, 256]
    small = bench.estimate_hours("small", seeds=3, workers=1)
    assert 1 < small["wall_clock_hours"] < 12 and small["wall_clock_hours"] < bench.estimate_hours("medium", seeds=3, workers=1)["wall_clock_hours"] / 5


def test_offline_pbrl_reuse_reads_finished_runs(tmp_path):
    bench = load_benchmark("offline_pbrl")
    job = {"label": "cpl-regret", "agent": "cpl", "steps": 300, "hp": {"bc_steps": 150}, "seed": 1, "task": "pbrl/Hopper-v5",
           "level": "medium-replay", "dataset": "pbrl/hopper/medium-replay-v0", "preferences": "x-regret.sqlite", "eval_episodes": 5}  # fmt: skip
    done = {**job, "normalized_score": 12.5, "seconds": 3.0}
    other_seed = {**job, "seed": 2, "normalized_score": 1.0}
    (tmp_path / "results-0.jsonl").write_text(json.dumps(done) + "\n" + '{"label": "half-writ')  # a killed worker's last line
    (tmp_path / "results-archive.jsonl").write_text(json.dumps(other_seed) + "\n")
    previous = bench.previous_results(str(tmp_path))
    assert [r["seed"] for r in previous] == [1, 2]  # the torn line is ignored, the archive is read
    keys = {bench.job_key(r) for r in previous}
    assert bench.job_key(job) in keys
    assert bench.job_key({**job, "steps": 301}) not in keys  # another budget is another run
    assert bench.job_key({**job, "preferences": "x.sqlite"}) not in keys  # and other labels too
    assert bench.job_key({**job, "preferences": "/elsewhere/x-regret.sqlite"}) in keys  # a store is known by its name
    assert "cpl-regret" in bench.REGRET_ROWS and ("cpl-regret", "cpl") in bench.COMPARISONS


def test_offline_pbrl_reuse_sets_aside_only_the_unfinished_runs_folder(tmp_path):
    """A restart moves an unfinished run's folder aside; the same label's finished runs of other tasks stay."""
    bench = load_benchmark("offline_pbrl")
    runs = tmp_path / "runs"
    job = {"label": "bc", "agent": "bc", "seed": 0, "task": "pbrl/Walker2d-v5", "level": "medium-replay"}
    finished = {**job, "task": "pbrl/Hopper-v5"}
    for j in (job, finished):
        path = bench.job_run_dir(j, str(runs))
        os.makedirs(path)
        open(os.path.join(path, "events"), "w").write(j["task"])
    moved = bench.set_aside_unfinished([job], str(runs), str(tmp_path))
    assert len(moved) == 1 and open(os.path.join(moved[0], "events")).read() == "pbrl/Walker2d-v5"
    assert not os.path.exists(bench.job_run_dir(job, str(runs)))
    assert open(os.path.join(bench.job_run_dir(finished, str(runs)), "events")).read() == "pbrl/Hopper-v5"


def test_offline_pbrl_quick_profile_end_to_end_and_reuse(tmp_path, monkeypatch):
    """The quick profile on one task and seed: datasets, labels, two agents through pbrl train, the
    table; a --reuse restart runs nothing again and keeps the run folders."""
    bench = load_benchmark("offline_pbrl")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "unused"))  # main() points it at the root; restored after
    root, out = tmp_path / "root", tmp_path / "quick.json"
    args = ["--quick", "--tasks", "Hopper", "--seeds", "1", "--agents", "bc,piql-50", "--workers", "1", "--reps", "50",
            "--root", str(root), "--json", str(out)]  # fmt: skip
    assert bench.main(args) == 0
    report = json.loads(out.read_text())
    runs = {(r["label"], r["level"]): r for r in report["results"]}
    assert set(runs) == {(a, lv) for a in ("bc", "piql-50") for lv in ("medium-replay", "medium-expert")}
    assert all(np.isfinite(r["normalized_score"]) and os.path.isdir(r["run_dir"]) for r in runs.values())
    assert all(r["reward_model_accuracy"] is not None for (a, _), r in runs.items() if a == "piql-50")
    assert "| bc |" in (tmp_path / "quick.md").read_text()

    def no_runs(*_args, **_kw):
        raise AssertionError("a --reuse restart with every run finished started runs")

    monkeypatch.setattr(bench, "run_all", no_runs)
    assert bench.main(args + ["--reuse"]) == 0
    again = json.loads(out.read_text())
    assert len(again["results"]) == 4
    assert sorted(r["normalized_score"] for r in again["results"]) == sorted(r["normalized_score"] for r in runs.values())
    assert all(os.path.isdir(r["run_dir"]) for r in again["results"])
