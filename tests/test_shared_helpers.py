"""Helpers every layer shares, once each: the CLI's error exit, the usable-cores count and the
evaluation seeds (which must stay the seeds recorded runs were evaluated on)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import typer

from pbrl.cli.common import err, fail
from pbrl.envs.engine import default_threads, usable_cores
from pbrl.evaluation import eval_seed


def test_fail_prints_the_message_as_plain_text_and_exits_2(capsys):
    with pytest.raises(typer.Exit) as info:
        fail("no such key [bold]x[/bold] in [1, 2]")
    assert info.value.exit_code == 2
    out = capsys.readouterr().err
    assert "error: no such key [bold]x[/bold] in [1, 2]" in out  # markup-like text is not interpreted
    with pytest.raises(typer.Exit) as info:
        fail("busy", code=3)
    assert info.value.exit_code == 3 and err.soft_wrap


def test_usable_cores_follows_the_affinity_mask():
    n = usable_cores()
    assert n >= 1
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))
    assert default_threads(1) == 1 and default_threads(10_000) == n


def _seed(key):
    return int(np.random.SeedSequence(key).generate_state(1)[0] & 0x7FFFFFFF)


def test_evaluation_seeds_are_the_ones_recorded_runs_used():
    # online agents' evaluations, offline agents' evaluations and dataset generation's one evaluation
    assert eval_seed(3, 5, "online") == _seed([3, 5, 0xE7A1]) == eval_seed(3, 5)
    assert eval_seed(3, 5, "offline") == _seed([3, 5, 0x0FF1])
    assert eval_seed(3) == _seed([3, 0xE7A1])
    seeds = {eval_seed(0, i, s) for i in range(50) for s in ("online", "offline")}
    assert len(seeds) == 100 and all(0 <= s < 2**31 for s in seeds)
    with pytest.raises(KeyError):
        eval_seed(0, 0, "other")
