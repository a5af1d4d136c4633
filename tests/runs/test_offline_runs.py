"""``pbrl train --agent bc|iql|piql|cpl|oppo|ipl --dataset ID [--preferences STORE]``: the run
folder, metrics with pbrl's tags (x = gradient steps), resume, ``pbrl evaluate``, clear errors."""

from __future__ import annotations

import glob
import json
import os

import pytest
from typer.testing import CliRunner

from console_support import printed
from offline_support import datasets_root, label, make_hopper_dataset
from pbrl.cli.main import app

runner = CliRunner()
DATASET = "pbrl/hopper/cli-v0"


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    with datasets_root(root / "minari"):
        make_hopper_dataset(DATASET, steps=2000, seed=4)
        store = label(DATASET, str(root / "prefs.sqlite"), pairs=60, segment=10)
        yield DATASET, store, root


def _run(*args):
    # COLUMNS for the end-of-run table (a Rich console made at the call): a narrow table wraps
    # and truncates its cells (`dataset-normali…`), which no normalising of the text undoes
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "10000"})
    return result.exit_code, result.output


def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_train_resume_and_evaluate_an_offline_run(hopper, tmp_path):
    dataset, _, root = hopper
    runs = tmp_path / "runs"
    with datasets_root(root / "minari"):
        code, out = _run("train", "--agent", "bc", "--dataset", dataset, "--steps", 60, "--eval-freq", 30, "--eval-episodes", 2,
                         "--checkpoint-freq", 30, "--hp", "hidden_sizes=[32, 32]", "--name", "t", "--runs-dir", runs, "--quiet")  # fmt: skip
        assert code == 0, out
        run_dir = str(runs / "pbrl_Hopper-v5" / "bc" / "t-s0")
        assert printed(f"run folder: {run_dir}", out) and printed("gradient steps", out) and printed("dataset-normalized score", out)
        config = json.load(open(os.path.join(run_dir, "config.json")))
        assert config["format"] == "pbrl.run" and config["kind"] == "offline"
        assert config["config"]["dataset"] == dataset and config["dataset"]["task"] == "pbrl/Hopper-v5"
        assert config["hyperparams"]["hidden_sizes"] == [32, 32] and config["hyperparams"]["steps"] == 60
        assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
        rows = _rows(run_dir)
        assert sorted({r["step"] for r in rows if "eval/return" in r}) == [30, 60]
        assert all("eval/normalized_score" in r and "eval/dataset_normalized_score" in r for r in rows if "eval/return" in r)
        assert any("train/bc_loss" in r and "time/fps" in r for r in rows)
        summary = json.load(open(os.path.join(run_dir, "summary.json")))
        assert summary["status"] == "complete" and summary["gradient_steps"] == 60

        code, out = _run("train", "--resume", run_dir, "--steps", 90, "--quiet")
        assert code == 0, out
        rows = _rows(run_dir)
        assert max(r["step"] for r in rows) == 90
        assert sorted({r["step"] for r in rows if "eval/return" in r}) == [30, 60, 90]
        assert json.load(open(os.path.join(run_dir, "checkpoints", "latest.json")))["num_timesteps"] == 90

        evaluated = runner.invoke(app, ["evaluate", run_dir, "--episodes", "2", "--json"])
        assert evaluated.exit_code == 0, evaluated.output
        result = json.loads(evaluated.stdout)  # the JSON alone; the "evaluating ..." line is on stderr
        assert result["gradient_steps"] == 90 and result["episodes"] == 2 and "dataset_normalized_score" in result

        # a finished run resumed: says so, trains nothing, changes nothing
        before = _rows(run_dir)
        for extra in ([], ["--steps", 90], ["--steps", 40]):
            code, out = _run("train", "--resume", run_dir, "--quiet", *extra)
            assert code == 0 and printed(f"{run_dir} is finished: it ran 90 of its", out), out
            assert "Traceback" not in out and _rows(run_dir) == before


def test_preference_agents_from_the_command_line(hopper, tmp_path):
    dataset, store, root = hopper
    runs = tmp_path / "runs"
    with datasets_root(root / "minari"):
        code, out = _run("train", "--agent", "piql", "--dataset", dataset, "--preferences", store, "--steps", 20, "--eval-episodes", 2,
                         "--hp", "rm_max_epochs=3", "--hp", "hidden_sizes=[32, 32]", "--name", "p", "--runs-dir", runs, "--quiet")  # fmt: skip
        assert code == 0, out
        run_dir = str(runs / "pbrl_Hopper-v5" / "piql" / "p-s0")
        lines = out.splitlines()
        # the folder is shown first, then the reward model's fit as it goes (not minutes of silence)
        shown = next(i for i, line in enumerate(lines) if line.startswith("run folder:"))
        fitting = [i for i, line in enumerate(lines) if line.startswith("fitting the reward model: ")]
        assert fitting and shown < fitting[0] and any(lines[i].startswith("fitting the reward model: 3/3") for i in fitting), out
        # the plan comes before anything (before torch loads); the run's evaluations are not printed step by step
        assert lines[0] == f"preparing P-IQL on {dataset} ..." and lines[1].startswith(f"P-IQL on {dataset} and the preferences in")
        assert not any(line.startswith("evaluation steps") for line in lines), out
        rows = _rows(run_dir)
        first = next(r for r in rows if "reward_model/accuracy" in r)
        assert first["feedback/labels"] == 60 and 0.0 <= first["reward_model/epic_distance"] <= 1.0  # design.md's tags
        code, out = _run("train", "--agent", "cpl", "--dataset", dataset, "--preferences", store, "--steps", 20, "--eval-episodes", 2,
                         "--hp", "bc_steps=10", "--hp", "batch_size=8", "--hp", "hidden_sizes=[32, 32]", "--name", "c",
                         "--runs-dir", runs, "--quiet")  # fmt: skip
        assert code == 0, out
        assert any("train/cpl_loss" in r for r in _rows(str(runs / "pbrl_Hopper-v5" / "cpl" / "c-s0")))


def test_the_wall_clock_counts_the_preparation(hopper, tmp_path, monkeypatch):
    """Building the agent (a reward model's fit, for P-IQL) is part of the run's wall-clock. The
    clock is made to jump 1000 s while the agent is built, so nothing here depends on real time."""
    import time
    import types

    from pbrl.runs import lifecycle, offline

    jump = [0.0]
    monkeypatch.setattr(lifecycle, "time", types.SimpleNamespace(time=lambda: time.time() + jump[0], strftime=time.strftime))
    make_agent = offline._make_agent

    def slow_make_agent(*args, **kwargs):
        agent = make_agent(*args, **kwargs)
        jump[0] += 1000.0
        return agent

    monkeypatch.setattr(offline, "_make_agent", slow_make_agent)
    dataset, _, root = hopper
    with datasets_root(root / "minari"):
        code, out = _run("train", "--agent", "bc", "--dataset", dataset, "--steps", 4, "--eval-episodes", 1,
                         "--hp", "hidden_sizes=[8]", "--name", "w", "--runs-dir", tmp_path / "runs", "--quiet")  # fmt: skip
    assert code == 0, out
    with open(tmp_path / "runs" / "pbrl_Hopper-v5" / "bc" / "w-s0" / "summary.json") as f:
        assert json.load(f)["wall_clock_s"] >= 1000.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent", "iqll"], "unknown offline agent 'iqll' (did you mean 'iql'?)"),
        (["--agent", "iql"], "no dataset 'pbrl/hopper/none-v0'"),
        (["--agent", "iql", "--hp", "expectle=0.9"], "unknown hyperparameter 'expectle' for iql (did you mean 'expectile'?)"),
        (["--agent", "oppo"], "oppo learns from preferences: give --preferences STORE"),
        (["--agent", "bc", "--preferences", "x.sqlite"], "bc does not learn from preferences"),
        (["--agent", "cpl", "--preferences", "/no/such.sqlite"], "preference store '/no/such.sqlite' does not exist"),
        (["--agent", "iql", "--env", "pbrl/HalfCheetah-v5"], "observes (17,): the dataset was made for another task"),
        (["--agent", "iql", "--steps", "0"], "steps must be an integer >= 1"),
    ],
)
def test_clear_errors_and_no_run_folder(hopper, tmp_path, args, message):
    dataset, _, root = hopper
    if "--agent" in args and args[1] == "iql" and "--env" not in args and "--hp" not in args and "--steps" not in args:
        dataset = "pbrl/hopper/none-v0"
    runs = tmp_path / "runs"
    with datasets_root(root / "minari"):
        code, out = _run("train", "--dataset", dataset, "--runs-dir", runs, "--quiet", *args)
    assert code == 2, out
    assert printed(message, out), out
    assert not runs.exists() or not glob.glob(str(runs / "*" / "*" / "*"))


def test_list_offline_hyperparameters():
    code, out = _run("train", "--agent", "iql", "--list-hp")
    assert code == 0 and "expectile" in out and "offline" in out
