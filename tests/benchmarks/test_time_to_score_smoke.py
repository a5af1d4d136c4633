"""The time-to-score benchmark's quick profile runs end to end (no timing assertions)."""

from __future__ import annotations

import json
from repo_support import load_benchmark



def test_time_to_score_quick_profile(tmp_path, capsys):
    module = load_benchmark("time_to_score")
    out = tmp_path / "tts.json"
    assert module.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["profile"] == "quick"
    runs = {(r["impl"], r["algo"]) for r in data["results"]}
    assert runs == {("pbrl", "ppo"), ("sb3", "ppo"), ("pbrl", "sac"), ("sb3", "sac")}
    for r in data["results"]:
        assert r["task"] == "HalfCheetah" and r["curve"], r
        assert all(c["steps"] > 0 and c["train_seconds"] >= 0 for c in r["curve"])
        if r["reached"]:
            assert r["seconds_to_target"] is not None and r["curve"][-1]["return"] >= r["target"]
    printed = capsys.readouterr().out
    assert "| task | algo | seed | target |" in printed and "speed-up" in printed
    assert data["seeds"] == [0] and set(data["speedups"]) == {"HalfCheetah/ppo", "HalfCheetah/sac"}


def test_speedups_over_seeds_mark_lower_bounds_and_missing_seeds():
    module = load_benchmark("time_to_score")

    def run(impl, seed, reached, seconds, algo="ppo"):
        return {"impl": impl, "algo": algo, "task": "Hopper", "seed": seed, "reached": reached,
                "seconds_to_target": seconds if reached else None, "train_seconds": seconds, "target": 1000.0,
                "steps_to_target": 1000 if reached else None, "curve": [{"return": 1.0}]}

    results = [
        run("pbrl", 0, True, 10.0), run("sb3", 0, True, 40.0),     # 4x
        run("pbrl", 1, True, 20.0), run("sb3", 1, False, 50.0),    # > 2.5x: SB3 never got there
        run("pbrl", 2, False, 30.0), run("sb3", 2, True, 60.0),    # pbrl never got there: no ratio
    ]
    sm = module.summary(results)["Hopper/ppo"]
    assert sm["per_seed"]["0"] == {"speedup": 4.0, "lower_bound": False}
    assert sm["per_seed"]["1"] == {"speedup": 2.5, "lower_bound": True}
    assert sm["per_seed"]["2"] is None and sm["missing"] == ["2"]
    assert sm["median"] == 3.25 and sm["min"] == 2.5 and sm["max"] == 4.0 and sm["seeds"] == 3
    table = module._table(results)
    assert "| Hopper | ppo | 1 | " in table and "> 2.5x" in table and "| 4.0x |" in table
