"""``pbrl sweep``: a grid on a local process pool (or Ray); failed cells are reported, not fatal; compare reads the result."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
from typer.testing import CliRunner

from console_support import printed, unwrapped
from pbrl.cli.main import app
from pbrl.cli.sweep_cmd import parse_seeds
from pbrl.runs.config import ConfigError
from pbrl.runs.configfile import build_experiment, load_experiment
from pbrl.runs.sweep import CellResult, SweepProgress, plan, run_sweep

runner = CliRunner()
PENDULUM = "pbrl/InvertedPendulum-v5"
#: a tiny PPO budget: two rollouts of 8 x 128 steps, 2 evaluation episodes
TINY = f"""
task = "{PENDULUM}"
agent = "ppo"
steps = 2048
eval_episodes = 2
[hp]
n_envs = 8
n_steps = 128
n_epochs = 2
net_arch = [16, 16]
"""


def _config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace('agent = "ppo"', 'agent = "ppo"\n' + extra))
    return str(path)


def test_local_sweep_reports_a_failing_cell_and_compare_reads_it(tmp_path):
    config = _config(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "tiny"
    # the second task does not exist: its cells fail their checks, the others train
    args = ["sweep", config, "--seeds", "2", "--tasks", f"{PENDULUM},pbrl/InvertedPendulum-v9", "--out", str(sweep_dir), "--workers", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert printed("2 of 4 run(s) failed", result.output) and printed("unknown env 'pbrl/InvertedPendulum-v9'", result.output)
    # progress said up front, once the cells are checked: what is about to train, and a rough time per run
    assert printed("sweep: 2/4 run(s) finished (2 failed); 2 to train, 2 at a time; estimate (rough", result.output)
    record = json.loads((sweep_dir / "sweep.json").read_text())
    statuses = [(c["task"], c["seed"], c["status"]) for c in record["cells"]]
    assert statuses == [(PENDULUM, 0, "ok"), (PENDULUM, 1, "ok"), ("pbrl/InvertedPendulum-v9", 0, "invalid"), ("pbrl/InvertedPendulum-v9", 1, "invalid")]
    runs = sorted(os.listdir(sweep_dir / "pbrl_InvertedPendulum-v5" / "ppo"))
    assert runs == ["tiny-s0", "tiny-s1"]  # the ordinary run layout, one folder per run
    for run in runs:
        summary = json.loads((sweep_dir / "pbrl_InvertedPendulum-v5" / "ppo" / run / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["num_timesteps"] == 2048

    compared = runner.invoke(app, ["compare", str(sweep_dir), "--reps", "50"])
    assert compared.exit_code == 0, compared.output
    assert f"| {PENDULUM} | ppo | 2 (0,1) | 2,048 env |" in compared.output

    # running the sweep again keeps the complete runs (no two runs in one folder) and trains nothing
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and unwrapped(again.output).count(unwrapped("complete run kept")) == 2
    assert sorted(os.listdir(sweep_dir / "pbrl_InvertedPendulum-v5" / "ppo")) == runs


def test_a_run_that_fails_while_training_does_not_stop_the_others(tmp_path):
    program = tmp_path / "boom.py"
    program.write_text("def compute_reward(obs, action, next_obs, info):\n    raise RuntimeError('boom from the reward program')\n")
    exp = load_experiment(_config(tmp_path), [f"reward=\"program:{program}\""])
    cells = plan(exp, str(tmp_path / "sweep"), seeds=[0])
    seen = []
    result = run_sweep(cells, str(tmp_path / "sweep"), workers=1, on_result=seen.append)
    (cell,) = result.cells
    assert cell.status == "failed" and "RuntimeError: boom from the reward program" in cell.error
    assert "Traceback" in cell.detail and seen == [cell] and not result.ok
    # the folder it started is left as an interrupted run, as a failed `pbrl train` leaves it
    assert json.loads(open(os.path.join(cell.run_dir, "summary.json")).read())["status"] == "interrupted"


def test_sweep_progress_reads_how_far_each_run_is_from_its_folder(tmp_path):
    cells = [CellResult(i, PENDULUM, "ppo", i, run_dir=str(tmp_path / f"run{i}")) for i in range(4)]
    cells[0].status = "ok"
    cells[3].status = "invalid"  # never trained: not in the budgets
    os.mkdir(cells[1].run_dir)
    with open(os.path.join(cells[1].run_dir, "metrics.jsonl"), "w") as f:  # run 1 is a quarter through; its last row half-written
        f.write('{"step": 1000, "time": 1}\n{"step": 2500, "time": 2}\n{"step": 30')
    budgets = {0: 10_000, 1: 10_000, 2: 10_000}  # run 2 has not written a row yet
    progress = SweepProgress.measure(cells, budgets, elapsed=125.0)
    assert (progress.total, progress.finished, progress.failed) == (4, 2, 1)
    assert [(c.index, step, budget) for c, step, budget in progress.running] == [(1, 2500, 10_000)]
    # 12,500 of 30,000 steps in 125 s: 17,500 left at 100 steps/s
    assert progress.left == pytest.approx(175.0)
    assert progress.line() == f"sweep: 2/4 run(s) finished (1 failed); 1 running ({PENDULUM} s1 2,500/10,000); 2:05 elapsed, ~3 min left"
    assert SweepProgress.measure(cells, budgets, elapsed=0.0).left is None  # nothing measured yet: no guess


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='Ray is an optional extra: pip install "pbrl[ray]"')
def test_ray_sweep_on_a_local_instance(tmp_path):
    exp = load_experiment(_config(tmp_path), ["steps=1024"])
    sweep_dir = str(tmp_path / "ray-sweep")
    cells = plan(exp, sweep_dir, seeds=[3])
    reports = []
    result = run_sweep(cells, sweep_dir, executor="ray", cpus_per_run=1, on_progress=reports.append, progress_every=0.2)
    assert result.ok, [c.error for c in result.cells]
    # progress while Ray starts and the run trains (not only Ray's own warnings): the start, then reports as it goes
    assert reports[0].elapsed == 0 and reports[0].line().startswith("sweep: 0/1 run(s) finished; 1 to train")
    assert all(step <= budget == 1024 for r in reports for _, step, budget in r.running)
    (cell,) = result.cells
    assert cell.run_dir.endswith(os.path.join("pbrl_InvertedPendulum-v5", "ppo", "ray-sweep-s3"))
    assert json.loads(open(os.path.join(cell.run_dir, "summary.json")).read())["status"] == "complete"


def test_grid_planning_and_bad_input(tmp_path):
    exp = build_experiment({"task": PENDULUM, "seeds": [0, 1], "tasks": [PENDULUM, "pbrl/Hopper-v5"]})
    cells = plan(exp, str(tmp_path / "s"), name="grid")
    assert [(c.env, c.seed) for c in cells] == [(PENDULUM, 0), (PENDULUM, 1), ("pbrl/Hopper-v5", 0), ("pbrl/Hopper-v5", 1)]
    assert {c.runs_dir for c in cells} == {str(tmp_path / "s")} and {c.name for c in cells} == {"grid"}
    with pytest.raises(ConfigError, match="repeat"):
        plan(exp, str(tmp_path / "s"), seeds=[1, 1])
    offline = build_experiment({"agent": "iql", "dataset": "pbrl/hopper/medium-v0"})
    with pytest.raises(ConfigError, match="sweep over datasets"):
        offline.cells(tasks=[PENDULUM])
    assert [c.dataset for c in offline.cells(datasets=["a", "b"], seeds=[0])] == ["a", "b"]
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,4,9") == [0, 4, 9] and parse_seeds("10-12") == [10, 11, 12]
    for bad in ("0", "x", "1,1"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="unknown executor"):
        run_sweep(cells, str(tmp_path / "s"), executor="slurm")
    config = _config(tmp_path)
    dry = runner.invoke(app, ["sweep", config, "--seeds", "2", "--tasks", f"{PENDULUM},pbrl/Nope-v5", "--out", str(tmp_path / "dry"), "--dry-run"])
    assert dry.exit_code == 1 and dry.output.count("ready") == 2 and dry.output.count("invalid") == 2
    assert not (tmp_path / "dry").exists()  # a dry run has no side effects
    result = runner.invoke(app, ["sweep", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and printed(f"{tmp_path / 'nope.toml'}: no such config file", result.output)
