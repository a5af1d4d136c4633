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
from pbrl.runs.sweep import plan, run_sweep

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


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='Ray is an optional extra: pip install "pbrl[ray]"')
def test_ray_sweep_on_a_local_instance(tmp_path):
    exp = load_experiment(_config(tmp_path), ["steps=1024"])
    sweep_dir = str(tmp_path / "ray-sweep")
    cells = plan(exp, sweep_dir, seeds=[3])
    result = run_sweep(cells, sweep_dir, executor="ray", cpus_per_run=1)
    assert result.ok, [c.error for c in result.cells]
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
