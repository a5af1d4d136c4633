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


def test_throughput_new_suites(tmp_path, capsys):
    """A Meta-World and a DeepMind Control task against their references (Meta-World's own env,
    dm_control through Shimmy), at tiny settings; a reference that is not installed is a note."""
    throughput = load_throughput()
    out = tmp_path / "throughput.json"
    code = throughput.main([
        "--tasks", "metaworld-door-open,dmc-walker-walk,dmc-no-such-v9", "--sizes", "2", "--backends", "pbrl,raw,sync",
        "--seconds", "0.02", "--repeat", "1", "--warmup", "1", "--no-memory", "--json", str(out),
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "metaworld-door-open" in printed and "dmc-walker-walk" in printed
    report = json.loads(out.read_text())
    assert "pbrl/dmc-no-such-v9-v0 is not registered: skipped" in report["notes"]
    assert set(report["results"]) == {"metaworld-door-open", "dmc-walker-walk"}

    door = report["physics"]["metaworld-door-open"]
    assert door["frame_skip"] == 5 and door["per_env_step"] == "mj_step(nstep=5) + mj_forward"
    assert 0 < door["limit_env_steps_per_s"] <= door["limit_without_forward_env_steps_per_s"]
    walker = report["physics"]["dmc-walker-walk"]
    assert walker["frame_skip"] == 10 and walker["per_env_step"] == "mj_step(nstep=10)"
    # the raw batch is built and stepped as pbrl's engine does it for each suite
    raw_door = dict(report["raw_batch"]["metaworld-door-open"]["2"])
    assert raw_door.pop("nthread") >= 1
    assert raw_door == {"persistent": True, "frame_skip": 5, "mocap": True, "stage": 3}  # mjSTAGE_ACC: Meta-World's mj_forward
    raw_walker = dict(report["raw_batch"]["dmc-walker-walk"]["2"])
    assert raw_walker.pop("nthread") >= 1
    assert raw_walker == {"persistent": True, "frame_skip": 10, "stage": 2}  # mjSTAGE_VEL, as dm_control's step

    for name, missing in (("metaworld-door-open", "Meta-World"), ("dmc-walker-walk", "Shimmy")):
        row = report["results"][name]["2"]
        assert row["pbrl"] > 0 and row["raw"] > 0 and row["pbrl_over_limit"] > 0
        if row["sync"] is None:  # the reference package is not installed here
            assert any(note.startswith(f"{name}: no sync/async reference ({missing}") for note in report["notes"])
        else:
            assert row["sync"] > 0 and row["pbrl_over_sync"] > 0
    assert "Meta-World's own door-open-v3" in report["references"]["metaworld-door-open"]
    try:  # the MuJoCo 4 shim of Meta-World's reset_mocap_welds is put back after building its envs
        from metaworld import sawyer_xyz_env
    except ImportError:
        pass
    else:
        assert sawyer_xyz_env.SawyerMocapBase.reset_mocap_welds.__module__ == "metaworld.sawyer_xyz_env"
    assert "FlattenObservation" in report["references"]["dmc-walker-walk"]


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
