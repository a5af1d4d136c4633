"""``pbrl envs --verify``: the parity certificate, run through the CLI on a small setting."""

from __future__ import annotations

import re

import numpy as np
from typer.testing import CliRunner

import pbrl  # noqa: F401
from pbrl.cli import envs_cmd
from pbrl.cli.main import app

SMALL = ["envs", "--verify", "--task", "pbrl/Hopper-v5", "--task", "pbrl/Swimmer-v5", "--steps", "60", "--batch-sizes", "3", "--threads", "1,2"]


def test_certificate_structure_and_observations_match():
    result = CliRunner().invoke(app, SMALL)
    out = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    versions = next(line for line in out.splitlines() if line.startswith("versions:"))
    for package in ("pbrl", "mujoco", "gymnasium", "numpy"):
        assert f"{package} " in versions
    for task, gym_id in (("pbrl/Hopper-v5", "Hopper-v5"), ("pbrl/Swimmer-v5", "Swimmer-v5")):
        block = out.split(f"{task} vs {gym_id}\n", 1)[1].split("\n\n", 1)[0]
        ours = re.search(r"sha256 pbrl +([0-9a-f]{64})", block).group(1)
        theirs, verdict = re.search(r"sha256 gymnasium +([0-9a-f]{64}) +(MATCH|DIFFER)", block).groups()
        assert (verdict == "MATCH") == (ours == theirs)
        assert "perturbed kwargs: frame_skip=" in block
        assert "rollouts: 6, env-steps: 840" in block  # 2 kwargs sets x (2 thread counts x 3 x 60 + 1 single env x 60)
        assert re.search(r"^  observations +bit-identical$", block, re.MULTILINE), block
        for quantity in ("rewards", "flags", "info"):
            assert re.search(rf"^  {quantity} +(bit-identical|within 1e-6 \(max \|diff\| \S+\)|differs)", block, re.MULTILINE), block
    assert "Hopper-v5 vs" not in out or "terminated" in out
    all_match = "2 of 2 tasks bit-identical to Gymnasium" in out
    assert result.exit_code == (0 if all_match else 1), out


def test_a_task_that_differs_fails_the_certificate(monkeypatch):
    # compare pbrl's Walker2d with Gymnasium's Hopper: same action size, other dynamics and observations
    monkeypatch.setattr(envs_cmd, "gymnasium_counterpart", lambda task: "Hopper-v5")
    args = ["envs", "--verify", "--task", "pbrl/Walker2d-v5", "--steps", "5", "--batch-sizes", "2", "--threads", "1", "--defaults-only"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "DIFFER" in result.output and "0 of 1 tasks bit-identical" in result.output


def test_agreement_classes():
    a = envs_cmd.Agreement()
    a.add(np.ones(3), np.ones(3))
    assert a.verdict() == "bit-identical"
    a.add(np.ones(3) + 1e-7, np.ones(3))
    assert a.verdict() == "within 1e-6" and "max |diff| 1e-07" in a.describe()
    a.add(np.ones(3) + 1e-3, np.ones(3))
    assert a.verdict() == "differs"
    flags = envs_cmd.Agreement()
    flags.add(np.array([True, False, True]), np.array([True, True, False]))
    assert flags.describe() == "differs (2 flags differ)"
    assert envs_cmd.gymnasium_counterpart("pbrl/NoSuchTask-v5") is None
    assert envs_cmd.gymnasium_counterpart("pbrl/Hopper-v5") == "Hopper-v5"
