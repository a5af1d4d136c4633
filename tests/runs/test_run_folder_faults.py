"""Run folders that cannot be made or read: ``--runs-dir`` a file or read-only, a damaged
``config.json`` on ``--resume``. Each fails with a clear error naming the path and the
problem, exit code 2, no traceback, and nothing on disk changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from console_support import printed
from offline_support import datasets_root, make_pendulum_dataset
from pbrl.cli.main import app
from repo_support import repo_path

runner = CliRunner()
PENDULUM = "pbrl/InvertedPendulum-v5"


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output  # stdout and stderr


def _says(out: str, *parts) -> bool:
    """Every part is in the output, however the console wrapped it."""
    return all(printed(str(p), out) for p in parts)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may create entries in — root included (``chattr +i``), else skipped."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
    elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("root ignores folder permissions and this file system has no immutable flag (chattr +i)")
    try:
        try:  # the test is only honest if the folder really refuses writes
            (path / "probe").mkdir()
        except OSError:
            pass
        else:
            pytest.skip(f"{path} still accepts new folders")
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o755)


# -- --runs-dir -----------------------------------------------------------------------


@pytest.mark.parametrize("below", ["", "sub/deeper"])
def test_train_with_runs_dir_a_regular_file(tmp_path, below):
    runs = tmp_path / "runs"
    runs.write_text("not a folder")
    code, out = _run("train", "--env", PENDULUM, "--steps", 1000, "--runs-dir", runs / below if below else runs, "--quiet")
    assert code == 2, out
    assert _says(out, "error:", runs, "is a regular file, not a folder") and "Traceback" not in out, out
    assert runs.read_text() == "not a folder"


def test_train_with_a_read_only_runs_dir(read_only_dir):
    code, out = _run("train", "--env", PENDULUM, "--steps", 1000, "--runs-dir", read_only_dir, "--quiet")
    assert code == 2, out
    assert _says(out, "error:", read_only_dir, "is read-only") and "Traceback" not in out, out
    assert os.listdir(read_only_dir) == []


def test_a_read_only_runs_dir_as_a_real_process(read_only_dir):
    """The same through the installed entry point: a clean exit 2, no traceback."""
    out = subprocess.run([sys.executable, "-m", "pbrl.cli.main", "train", "--env", PENDULUM, "--steps", "1000", "--runs-dir",
                          str(read_only_dir / "runs"), "--quiet"], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, MUJOCO_GL="egl", COLUMNS="1000"))  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and _says(out.stderr, read_only_dir, "is read-only"), out.stderr


def test_pbrl_run_with_runs_dir_a_regular_file(tmp_path):
    runs = tmp_path / "runs"
    runs.write_text("")
    code, out = _run("run", "--env", PENDULUM, "--steps", 1000, "--runs-dir", runs)
    assert code == 2, out
    assert _says(out, runs, "is a regular file, not a folder") and "Traceback" not in out, out


@pytest.mark.parametrize("dry_run", [False, True], ids=["sweep", "dry-run"])
def test_sweep_with_out_a_regular_file(tmp_path, dry_run):
    out = tmp_path / "sweep"
    out.write_text("keep me")
    config = repo_path("pbrl", "configs", "ppo.toml")
    code, text = _run("sweep", config, "--out", out, "--steps", 1000, "--seeds", 1, "--workers", 1, *(["--dry-run"] if dry_run else []))
    assert code == 2, text
    assert _says(text, "error:", "cannot create sweep folder", out, "is a regular file, not a folder") and "Traceback" not in text, text
    assert out.read_text() == "keep me"


def test_sweep_into_a_read_only_folder(read_only_dir):
    from pbrl.runs.folder import RunsDirError
    from pbrl.runs.sweep import run_sweep

    with pytest.raises(RunsDirError, match="cannot create sweep folder .* is read-only"):
        run_sweep([], str(read_only_dir / "sweep"))
    assert os.listdir(read_only_dir) == []


def test_a_run_folder_the_file_system_refuses_is_reported_when_it_is_created(tmp_path):
    """A failure only mkdir finds (here: a name longer than the file system allows) is reported the same way."""
    code, out = _run("train", "--env", PENDULUM, "--steps", 1000, "--runs-dir", tmp_path / "runs", "--name", "n" * 300, "--quiet")
    assert code == 2, out
    assert _says(out, "error:", "cannot create run folder", "File name too long") and "Traceback" not in out, out


def test_offline_train_with_runs_dir_a_regular_file(tmp_path):
    runs = tmp_path / "runs"
    runs.write_text("")
    with datasets_root(tmp_path / "minari"):
        make_pendulum_dataset("pbrl/pendulum/runs-dir-v0", steps=600)
        code, out = _run("train", "--agent", "bc", "--dataset", "pbrl/pendulum/runs-dir-v0", "--steps", 10, "--runs-dir", runs, "--quiet")
    assert code == 2, out
    assert _says(out, "error:", runs, "is a regular file, not a folder") and "Traceback" not in out, out


# -- --resume of a damaged config.json -------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    code, out = _run("train", "--env", PENDULUM, "--steps", 256, "--num-envs", 2, "--hp", "n_steps=64", "--hp", "net_arch=[8]",
                     "--eval-episodes", 1, "--runs-dir", runs, "--name", "ok", "--quiet")  # fmt: skip
    assert code == 0, out
    return runs / "pbrl_InvertedPendulum-v5" / "ppo" / "ok-s0"


def _truncated(text):
    return text[: len(text) // 2]


def _edit(**changes):
    def edit(text):
        data = json.loads(text)
        for key, value in changes.items():
            where = data
            *parents, last = key.split("__")
            for p in parents:
                where = where[p]
            if value is KeyError:
                del where[last]
            else:
                where[last] = value
        return json.dumps(data)

    return edit


DAMAGE = [
    ("not JSON", lambda text: "{garbage", "not valid JSON"),
    ("truncated", _truncated, "not valid JSON"),
    ("not UTF-8", lambda text: "\udcff", "not valid JSON"),
    ("empty", lambda text: "", "not valid JSON"),
    ("a list", lambda text: "[1, 2]", "is not a pbrl run config"),
    ("config a list", _edit(config=[1]), "'config' is list, not a table"),
    ("steps a string", _edit(config__steps="many"), "'config.steps' must be an integer, got 'many'"),
    ("seed missing", _edit(config__seed=KeyError), "'config.seed' is missing"),
    ("env a number", _edit(config__env=3), "'config.env' must be a string, got 3"),
    ("hyperparams a string", _edit(hyperparams="fast"), "'hyperparams' is str, not a table"),
    ("a hyperparameter of the wrong type", _edit(hyperparams__batch_size="big"), "'batch_size' for ppo must be an integer"),
    ("unknown config key", _edit(config__colour="red"), "unknown config key 'colour'"),
]


@pytest.mark.parametrize("damage, message", [(d[1], d[2]) for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_resume_of_a_damaged_config_names_the_file(finished_run, tmp_path, damage, message):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    config = run / "config.json"
    damaged = damage(config.read_text()).encode("utf-8", "surrogateescape")
    config.write_bytes(damaged)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, out = _run("train", "--resume", run, "--quiet")
    assert code == 2, out
    assert _says(out, "error:", config, message) and "Traceback" not in out, out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing rewritten


@pytest.mark.parametrize(
    "damage, message",
    [
        (_edit(config__steps="many"), "'config.steps' must be an integer, got 'many'"),
        (_edit(config__dataset=KeyError), "'config.dataset' is missing"),
        (_edit(hyperparams=[1, 2]), "'hyperparams' is list, not a table"),
        (_edit(hyperparams__hidden_sizes="big"), "hidden_sizes"),
        (_truncated, "not valid JSON"),
    ],
    ids=["steps a string", "dataset missing", "hyperparams a list", "a hyperparameter of the wrong type", "truncated"],
)
def test_resume_of_an_offline_run_with_a_damaged_config_names_the_file(tmp_path, damage, message):
    with datasets_root(tmp_path / "minari"):
        make_pendulum_dataset("pbrl/pendulum/damaged-v0", steps=600)
        code, out = _run("train", "--agent", "bc", "--dataset", "pbrl/pendulum/damaged-v0", "--steps", 4, "--eval-episodes", 1,
                         "--hp", "hidden_sizes=[8]", "--runs-dir", tmp_path / "runs", "--name", "off", "--quiet")  # fmt: skip
        assert code == 0, out
        run = tmp_path / "runs" / "pbrl_InvertedPendulum-v5" / "bc" / "off-s0"
        config = run / "config.json"
        config.write_text(damage(config.read_text()))
        before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
        code, out = _run("train", "--resume", run, "--quiet")
    assert code == 2, out
    assert _says(out, "error:", config, message) and "Traceback" not in out, out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
