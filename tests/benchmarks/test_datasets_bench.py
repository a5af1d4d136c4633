"""Smoke run of benchmarks/datasets.py: it runs on tiny sizes and writes well-formed JSON."""

import json
from repo_support import load_benchmark



def test_datasets_benchmark_quick(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    module = load_benchmark("datasets")
    out = tmp_path / "datasets.json"
    args = ["--quick", "--tasks", "Hopper", "--num-envs", "8", "--collect-steps", "256", "--single-steps", "64", "--load-steps", "600"]
    assert module.main(args + ["--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "batched (N=8)" in printed and "load 600 steps" in printed
    report = json.loads(out.read_text())
    assert len(report["load"]["before"]) == 3 and len(report["load"]["after"]) == 3
    row = report["collection"]["pbrl/Hopper-v5 mlp"]
    assert row["batched_steps_per_s"] > 0 and row["single_steps_per_s"] > 0
    load = report["loading"]["pbrl/HalfCheetah-v5"]
    assert load["steps"] == 600 and load["pbrl_load_transitions_s"] > 0 and load["minari_iterate_episodes_s"] > 0
