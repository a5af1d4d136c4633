"""The time-to-score benchmark's quick profile runs end to end (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_time_to_score_quick_profile(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("time_to_score", os.path.join(ROOT, "benchmarks", "time_to_score.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
    assert "| task | algo | target |" in printed and "speed-up" in printed
