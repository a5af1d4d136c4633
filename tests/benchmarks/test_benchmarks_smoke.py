"""Smoke runs of benchmarks/throughput.py, finite_check.py and sac_step.py: they run, print, and write well-formed JSON."""

import json
from repo_support import load_benchmark



def load_throughput():
    return load_benchmark("throughput")


def test_throughput_quick(tmp_path, capsys):
    throughput = load_throughput()
    out = tmp_path / "throughput.json"
    code = throughput.main(
        ["--quick", "--tasks", "HalfCheetah", "--sizes", "1,4", "--async-max", "2", "--memory-n", "8", "--json", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "pbrl/sync" in printed and "HalfCheetah" in printed
    assert "raw Batch.step" in printed and "pbrl/raw" in printed  # the raw mujoco.batch column and ratio
    assert "pbrl KB/env" in printed and "raw Batch KB/env" in printed  # the memory table

    report = json.loads(out.read_text())
    assert {"machine", "load", "config", "notes", "physics", "results", "table"} <= set(report)
    assert report["machine"]["nproc"] >= 1 and report["machine"]["mujoco"]
    assert len(report["load"]["before"]) == 3 and len(report["load"]["after"]) == 3

    physics = report["physics"]["HalfCheetah"]
    assert physics["mj_step_per_s_1core"] > 0 and physics["frame_skip"] == 5
    assert physics["limit_env_steps_per_s"] > 0

    backends = report["config"]["backends"]
    assert {"pbrl", "raw", "sync", "async"} <= set(backends)
    rows = report["results"]["HalfCheetah"]
    assert set(rows) == {"1", "4"}
    for n, row in rows.items():
        for kind in ("pbrl", "raw", "sync"):
            assert row[kind] > 0, (n, kind)
        assert row["pbrl_over_sync"] > 0 and row["pbrl_over_limit"] > 0 and row["pbrl_over_raw"] > 0
        if "envpool" in backends:
            assert row["envpool"] > 0 and row["pbrl_over_envpool"] > 0
    # the raw batch is built as pbrl's engine builds it
    raw = report["raw_batch"]["HalfCheetah"]
    assert raw["1"] == {"nthread": 1, "persistent": False, "frame_skip": 5}
    assert raw["4"]["nthread"] >= 1 and raw["4"]["frame_skip"] == 5

    # resident memory per sub-env, each measured in its own subprocess (values not asserted)
    assert report["config"]["memory_n"] == 8
    memory = report["memory"]["HalfCheetah"]
    assert memory["num_envs"] == 8
    assert {"pbrl_kb_per_env", "raw_kb_per_env", "pbrl_over_raw", "pbrl_over_raw_live"} <= set(memory)
    for kind in ("pbrl", "raw", "pbrl_live", "raw_live"):
        assert "error" not in memory[kind], memory[kind]
        assert memory[kind]["num_envs"] == 8 and memory[kind]["rss_after_kb"] > 0
        assert memory[kind]["trimmed"] is kind.endswith("_live")  # glibc here
        assert memory[f"{kind}_kb_per_env"] is not None
    assert "memory_table" in report and "HalfCheetah" in report["memory_table"]
    assert rows["1"]["async"] > 0
    assert rows["4"]["async"] is None  # beyond --async-max
    assert any("AsyncVectorEnv" in note for note in report["notes"])


def test_finite_check_quick(capsys):
    module = load_benchmark("finite_check")
    from pbrl.envs import engine

    before = engine.zero_dot
    assert module.main(["--quick"]) == 0
    assert engine.zero_dot is before                       # the benchmark puts the check back
    printed = capsys.readouterr().out
    assert "| HalfCheetah | 16 |" in printed


def test_sac_step_quick(tmp_path, capsys):
    module = load_benchmark("sac_step")
    out = tmp_path / "sac_step.json"
    assert module.main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["batch_size"] == 64 and row["net"] == [64, 64]
    assert row["sb3_ms"] > 0 and row["pbrl_ms"] > 0 and row["ratio_min"] <= row["ratio_median"] <= row["ratio_max"]
    assert "| 64×64 | 64 |" in capsys.readouterr().out
