"""What every run goes through, online or offline: its folder is checked before any work,
created with the resolved config, locked while it runs, summarised as it goes and at its
end; a resume truncates the metrics logged after its checkpoint.

``pbrl/runs/train.py`` (PPO, SAC, PrefPPO, PEBBLE) and ``pbrl/runs/offline.py`` (the
offline agents) differ only in how they build the agent and run its loop.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable, Mapping

from pbrl.provenance import package_versions

from . import folder as F
from .config import ConfigError
from .metrics import truncate_metrics


def new_run_path(cfg: Mapping[str, Any]) -> str:
    """The folder of a new run; raises if it exists or cannot be made (before any work)."""
    path = F.run_path(cfg["runs_dir"], cfg["env"], cfg["agent"], cfg["name"], cfg["seed"])
    if os.path.exists(path):
        raise F.RunExistsError(f"run folder {path} already exists; resume it with --resume {path}, or pick another --name or --seed")
    F.check_run_parent(path)  # a file in the way or a read-only folder fails here, before any work
    return path


def start_run(path: str, resolved: Mapping[str, Any], card: Mapping[str, Any] | None, kind: str | None = None,
              on_start: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Create the run folder and write its ``config.json``: the resolved config, the task card
    and where it ran; returns what was written."""
    F.create_run_dir(path)
    head: dict[str, Any] = {"format": "pbrl.run", "version": 1}
    if kind is not None:
        head["kind"] = kind
    written = {
        **head,
        **resolved,
        "task_card": card,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
    }
    F.write_json(os.path.join(path, F.CONFIG), written)
    if on_start is not None:
        on_start(path)
    return written


def resumed_steps(cfg: dict[str, Any], steps: int | None) -> None:
    """A resume's new step budget into ``cfg`` (None: keep the saved one)."""
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps must be a positive integer, got {steps!r}")
        cfg["steps"] = steps


class RunFinishedError(ConfigError):
    """A resume of a run that is complete and whose budget was not raised: nothing to do."""


def continue_run(run_dir: str, resolved: Mapping[str, Any], step: int, steps: int | None,
                 on_start: Callable[[str], None] | None = None) -> None:
    """Before a resumed run goes on from ``step``: refuse a finished run (:class:`RunFinishedError`),
    drop the metrics logged after ``step``, save a new step budget, announce the folder."""
    message = finished(run_dir, step, resolved["config"]["steps"], steps)
    if message:
        raise RunFinishedError(message)
    metrics_path = os.path.join(run_dir, F.METRICS)
    if os.path.exists(metrics_path):
        truncate_metrics(metrics_path, step)
    if steps is not None:
        F.write_json(os.path.join(run_dir, F.CONFIG), resolved)
    if on_start is not None:
        on_start(run_dir)


def write_summary(run_dir: str, status: str, counts: Mapping[str, Any], wall_clock: float, latest: dict,
                  final: dict | None = None) -> None:
    """``summary.json``: the status (running, interrupted, complete), the run's counts, its
    wall-clock, the latest metrics and, at the end, the final evaluation."""
    data = {"status": status, **counts, "wall_clock_s": round(wall_clock, 3), "latest": latest}
    if final is not None:
        data["final_eval"] = final
    F.write_json(os.path.join(run_dir, F.SUMMARY), data)


class WallClock:
    """Seconds a run has trained, across resumes (``before``: what its checkpoint recorded)."""

    def __init__(self, before: float = 0.0):
        self.before, self.start = float(before), time.time()

    def __call__(self) -> float:
        return self.before + time.time() - self.start


def finished(run_dir: str, step: int, budget: int, steps: int | None = None) -> str | None:
    """Why resuming ``run_dir`` from ``step`` has nothing to do (its summary says complete and
    ``step`` reached the ``budget``), or None; ``steps``: the ``--steps`` given, if any."""
    if step < budget:
        return None
    try:
        with open(os.path.join(run_dir, F.SUMMARY), encoding="utf-8") as f:
            if json.load(f).get("status") != "complete":
                return None
    except (OSError, ValueError, AttributeError):
        return None
    more = "a larger --steps" if steps is None else f"--steps above {step:,} (got {steps:,})"
    return f"{run_dir} is finished: it ran {step:,} of its {budget:,} steps. To train it further, give {more}"


__all__ = ["RunFinishedError", "WallClock", "continue_run", "finished", "new_run_path", "resumed_steps", "start_run", "write_summary"]
