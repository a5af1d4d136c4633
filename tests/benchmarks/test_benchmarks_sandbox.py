"""Smoke run of benchmarks/sandbox_overhead.py's quick profile: it runs, prints its tables and
writes well-formed JSON (no timing assertions: the figures depend on the machine's load)."""

from __future__ import annotations

import json
from repo_support import load_benchmark



def test_sandbox_overhead_quick(tmp_path, capsys):
    bench = load_benchmark("sandbox_overhead")
    out = tmp_path / "sandbox_overhead.json"
    assert bench.main(["--quick", "--sizes", "1,64", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| sandboxed / trusted, per pair | min | median | max |" in printed
    assert "| wall-clock |" in printed and "| CPU time (training process + worker) |" in printed
    assert "| batch size | sandboxed | trusted |" in printed
    assert "program: (sandboxed worker)" in printed and "trusted-program: (in process)" in printed

    report = json.loads(out.read_text())
    assert report["profile"] == "quick" and report["task"] == "pbrl/HalfCheetah-v5" and report["n_envs"] == 64
    assert report["table"] in printed
    (pair,) = report["ppo"]
    assert {"sandboxed", "trusted"} <= set(pair["order"]) and pair["ratio"] > 0
    for side in ("sandboxed", "trusted"):
        assert pair[side]["seconds"] > 0 and pair[side]["timed_steps"] >= 4096 and pair[side]["cpu_seconds"] > 0
    assert pair["trusted"]["worker_cpu_seconds"] is None  # no worker in process
    for side in ("sandboxed", "trusted"):
        assert pair[side]["reward_calls"] == pair[side]["timed_steps"] // 64 and pair[side]["reward_seconds"] > 0
    assert "| 1 + (extra time in reward calls) / trusted wall-clock |" in printed
    assert pair["sandboxed"]["worker_cpu_seconds"] is None or pair["sandboxed"]["worker_cpu_seconds"] >= 0
    # both sides compute the same float64 rewards, so they train the same policy
    assert pair["same_training"], pair
    for key in ("ratio", "cpu_ratio"):
        assert report[key]["min"] <= report[key]["median"] <= report[key]["max"]
    assert set(report["calls"]) >= {"1", "64", "layers"}
    for n in ("1", "64"):
        for side in ("sandboxed", "trusted"):
            assert report["calls"][n][side]["median_us"] > 0
