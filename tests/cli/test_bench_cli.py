"""``pbrl bench``: lists the scripts in benchmarks/ and runs any of them by name."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from console_support import printed
from pbrl.cli.bench_cmd import available
from pbrl.cli.main import app
from repo_support import ROOT

runner = CliRunner()


def test_bench_lists_every_script():
    scripts = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "benchmarks")) if f.endswith(".py") and not f.startswith("_"))
    assert available() == scripts
    for args in ([], ["--list"]):
        result = runner.invoke(app, ["bench", *args])
        assert result.exit_code == 0, result.output
        for name in scripts:
            assert name in result.output
    assert "Env-steps per second" in result.output  # each with its docstring's first line


def test_bench_runs_a_script_by_name_and_names_unknown_ones():
    result = runner.invoke(app, ["bench", "reward_model", "--", "--help"])  # the script's own argparse help
    assert result.exit_code == 0 and "usage: reward_model" in result.output
    result = runner.invoke(app, ["bench", "nope"])
    assert result.exit_code == 2 and printed("unknown benchmark 'nope'; available:", result.output)  # in typer's boxed error
    assert printed("datasets", result.output) and printed("throughput", result.output)
