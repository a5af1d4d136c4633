"""Sweeps: a config's grid of (task or dataset) × seed runs, in parallel (``pbrl sweep``).

:func:`plan` turns an :class:`~pbrl.runs.configfile.Experiment` into one run config
per cell, all under one sweep folder (``<sweep>/<task>/<agent>/<name>-s<seed>/``,
the ordinary run layout, so ``pbrl compare <sweep>`` reads it). :func:`run_sweep`
checks every cell first (no side effects), then trains the valid ones:

* ``executor="local"`` (default): :class:`~pbrl.runs.executor.LocalExecutor` with
  ``processes=True``, one fresh *spawned* process per run, at most ``workers`` at a time;
* ``executor="ray"`` (``pip install "pbrl[ray]"``): each run is a Ray task
  (``cpus_per_run`` CPUs) on a local Ray instance or the cluster at ``address``
  (:class:`~pbrl.runs.executor.RayExecutor`). The workers write the run folders
  themselves, so on a multi-node cluster the sweep folder must be on storage every
  node sees.

A cell that fails — an invalid cell (its config does not check), an exception in
training, a worker that dies — never stops the others; each is reported with its
error in the :class:`SweepResult` and in ``<sweep>/sweep.json`` (rewritten as
results arrive). A cell whose folder already holds a complete run is not trained
again (re-running a sweep finishes the cells that failed, once their folders are
removed). Two runs never share a folder: cells differ in (task, agent, seed), and
each folder is created exclusively and locked while it trains
(:mod:`pbrl.runs.folder`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from pbrl.envs.engine import usable_cores

from . import estimate as E
from . import folder as F
from .config import ConfigError, TrainConfig, algorithm_of
from .configfile import Experiment
from .executor import JobFailed, check_executor, make_executor
from .metrics import last_step

__all__ = ["CellResult", "SweepProgress", "SweepResult", "check_cell", "plan", "run_cell", "run_sweep", "task_of"]

SWEEP_FILE = "sweep.json"


@dataclass
class CellResult:
    """What became of one cell of the grid.

    ``status`` is ``ok``, ``failed`` (training raised or its worker died),
    ``invalid`` (the config did not check; nothing was run) or ``exists`` (a
    complete run was already in its folder).
    """

    index: int
    task: str
    agent: str
    seed: int
    status: str = "pending"
    run_dir: str | None = None
    error: str | None = None
    final: dict[str, Any] | None = None
    wall_clock: float | None = None
    detail: str | None = field(default=None, repr=False)  # a traceback

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "exists")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SweepResult:
    sweep_dir: str
    cells: list[CellResult]

    @property
    def failed(self) -> list[CellResult]:
        return [c for c in self.cells if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failed


# -- planning -----------------------------------------------------------------------


@dataclass
class SweepProgress:
    """How far a sweep is (:func:`run_sweep`'s ``on_progress``): sent once the cells are checked, then every
    ``progress_every`` seconds while runs train.

    ``running`` holds (cell, env steps reached, budget) of the runs that have written metrics;
    ``left`` is the time left in seconds, from the steps done per second so far (None before any);
    ``per_run`` the up-front estimate of one run from recorded speeds (None where none is recorded).
    """

    total: int
    finished: int
    failed: int
    running: list[tuple[CellResult, int, int]]
    elapsed: float
    left: float | None = None
    per_run: float | None = None
    parallel: int | None = None

    @classmethod
    def measure(cls, cells: Sequence[CellResult], budgets: dict[int, int], elapsed: float) -> "SweepProgress":
        """Where ``cells`` stand: ``budgets`` maps the index of each cell being trained to its step budget;
        the steps a pending cell reached are read from its run folder's ``metrics.jsonl``."""
        finished = [c for c in cells if c.status != "pending"]
        running, reached = [], 0
        for i, budget in budgets.items():
            cell = cells[i]
            if cell.status != "pending":
                reached += budget  # finished or failed: nothing left to do
                continue
            step = last_step(cell.run_dir) if cell.run_dir else None
            if step is not None:
                running.append((cell, min(step, budget), budget))
                reached += min(step, budget)
        left = (sum(budgets.values()) - reached) * elapsed / reached if reached and elapsed else None
        return cls(total=len(cells), finished=len(finished), failed=sum(not c.ok for c in finished), running=running,
                   elapsed=elapsed, left=left)

    def line(self) -> str:
        """One line for a terminal or a log file."""
        head = f"sweep: {self.finished}/{self.total} run(s) finished" + (f" ({self.failed} failed)" if self.failed else "")
        if self.elapsed == 0:  # the start: what is about to run
            at_once = f", {self.parallel} at a time" if self.parallel else ""
            guess = f"; {E.PREFIX}{E.duration(self.per_run)} per run" if self.per_run else ""
            return f"{head}; {self.total - self.finished} to train{at_once}{guess}"
        parts = [head]
        if self.running:
            shown = ", ".join(f"{c.task} s{c.seed} {step:,}/{budget:,}" for c, step, budget in self.running[:4])
            more = f" and {len(self.running) - 4} more" if len(self.running) > 4 else ""
            parts.append(f"{len(self.running)} running ({shown}{more})")
        parts.append(f"{_clock(self.elapsed)} elapsed" + (f", {E.duration(self.left)} left" if self.left is not None else ""))
        return "; ".join(parts)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def default_sweep_name() -> str:
    return "sweep-" + F.default_name()


def plan(
    exp: Experiment,
    sweep_dir: str,
    seeds: Sequence[int] | None = None,
    tasks: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    name: str | None = None,
) -> list[Any]:
    """One run config per (task or dataset, seed), each with ``runs_dir=sweep_dir`` and one run name."""
    if seeds is not None and len(set(seeds)) != len(list(seeds)):
        raise ConfigError(f"seeds repeat a value: {list(seeds)}")
    cells = exp.cells(seeds=seeds, tasks=tasks, datasets=datasets)
    run_name = name or exp.config.name or os.path.basename(os.path.normpath(sweep_dir))
    try:
        F.check_name(run_name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for cell in cells:
        cell.runs_dir = sweep_dir
        cell.name = run_name
    keys = [(getattr(c, "dataset", None) or c.env, c.seed) for c in cells]
    if len(set(keys)) != len(keys):
        raise ConfigError("the grid lists a (task, seed) twice: check tasks/datasets and seeds for repeats")
    return cells


def _kind(config: Any) -> str:
    return "online" if isinstance(config, TrainConfig) else "offline"


def task_of(config: Any) -> str:
    """What a cell runs on: its task (online) or its dataset (offline)."""
    return config.env if isinstance(config, TrainConfig) else (config.dataset or str(config.env))


# -- the work of one cell (runs in a worker process or a Ray task) ------------------


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    """Train one cell; never raises for the run's own failure (it comes back as ``status: failed``).

    ``job``: ``{"kind": "online"|"offline", "config": <the config as a dict>}``.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    start = time.time()
    run_dir = None

    def on_start(path: str) -> None:
        nonlocal run_dir
        run_dir = path

    try:
        if job["kind"] == "offline":
            from .offline import OfflineTrainConfig, train

            result = train(OfflineTrainConfig.from_dict(job["config"]), on_start=on_start)
        else:
            from .train import train

            result = train(TrainConfig.from_dict(job["config"]), on_start=on_start)
        return {"status": "ok", "run_dir": result.run_dir, "final": result.final, "wall_clock": time.time() - start}
    except BaseException as exc:  # noqa: BLE001 - reported, not raised: one cell never stops a sweep
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {
            "status": "failed",
            "run_dir": run_dir,
            "error": f"{type(exc).__name__}: {exc}",
            "detail": traceback.format_exc(limit=20),
            "wall_clock": time.time() - start,
        }


# -- the sweep ----------------------------------------------------------------------


def check_cell(config: Any) -> tuple[str, str | None, str | None]:
    """(status, run folder, error) of a cell before any work: ``pending``, ``invalid`` or ``exists``."""
    return _check(config)[:3]


def _check(config: Any) -> tuple[str, str | None, str | None, dict[str, Any] | None]:
    """:func:`check_cell`, and the resolved config (``resolve()``'s whole answer)."""
    try:
        resolved = config.resolve()  # every check, no side effects
        cfg = resolved["config"]
        path = F.run_path(cfg["runs_dir"], cfg["env"], cfg["agent"], cfg["name"], cfg["seed"])
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        return "invalid", None, str(exc), None
    except Exception as exc:  # noqa: BLE001 - e.g. a dataset error: the cell is reported, the sweep goes on
        return "invalid", None, f"{type(exc).__name__}: {exc}", None
    if not os.path.exists(path):
        return "pending", path, None, resolved
    try:
        with open(os.path.join(path, F.SUMMARY), encoding="utf-8") as f:
            if json.load(f).get("status") == "complete":
                return "exists", path, None, resolved
    except (OSError, ValueError):
        pass
    return "invalid", path, f"run folder {path} already holds an unfinished run: resume it with `pbrl train --resume {path}`, or delete it", resolved


def run_sweep(
    cells: Sequence[Any],
    sweep_dir: str,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    on_result: Callable[[CellResult], None] | None = None,
    source: str | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    progress_every: float = 30.0,
) -> SweepResult:
    """Check every cell, then train the valid ones in parallel; see the module docstring.

    Args:
        cells: run configs (:func:`plan`), all with ``runs_dir == sweep_dir``.
        sweep_dir: the sweep folder (created if missing).
        executor: ``local`` or ``ray``.
        workers: local runs at a time (default: the number of cores).
        address: Ray cluster address (default: start a local Ray instance).
        cpus_per_run: CPUs a Ray task asks for.
        on_result: called with each cell as it finishes (or is found invalid / existing).
        source: the config file, recorded in ``sweep.json``.
        on_progress: called with a :class:`SweepProgress` once the cells are checked, then every
            ``progress_every`` seconds while runs train (from a thread of its own), read from the run
            folders' ``metrics.jsonl``.

    Raises:
        ValueError: an unknown executor, or ``workers`` < 1.
        ImportError: ``executor="ray"`` without Ray installed.
    """
    check_executor(executor)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    results = [
        CellResult(index=i, task=task_of(c), agent=c.agent, seed=c.seed) for i, c in enumerate(cells)
    ]
    F.check_creatable(sweep_dir, f"sweep folder {sweep_dir}", "give another --out (or runs_dir)")
    try:
        os.makedirs(sweep_dir, exist_ok=True)
    except OSError as exc:  # read-only file system, no space, ...
        raise F.RunsDirError(f"cannot create sweep folder {sweep_dir}: {exc.strerror or exc}") from None
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def save() -> None:
        F.write_json(
            os.path.join(sweep_dir, SWEEP_FILE),
            {
                "format": "pbrl.sweep",
                "version": 1,
                "source": source,
                "executor": executor,
                "started": started,
                "cells": [dict(r.to_dict(), config=dataclasses.asdict(c)) for r, c in zip(results, cells)],
            },
        )

    todo, jobs, budgets, guesses = [], [], {}, []  # the cells to train, their jobs, step budgets, estimates
    for i, config in enumerate(cells):
        status, path, error, resolved = _check(config)
        results[i].run_dir = path
        if status == "pending":
            budgets[i] = int(resolved["config"].get("steps") or 0)  # PrefPPO/PEBBLE (a reward table): no recorded speed
            guesses.append(E.training_seconds(algorithm_of(resolved["config"]["agent"], resolved.get("reward")), budgets[i]))
            job_config = dataclasses.asdict(config)
            if executor == "ray":  # a Ray worker may not share our working directory
                job_config["runs_dir"] = os.path.abspath(job_config["runs_dir"])
                reward = job_config.get("reward")
                if isinstance(reward, str) and reward.startswith("program:"):
                    job_config["reward"] = "program:" + os.path.abspath(reward[len("program:"):])
                if job_config.get("preferences"):
                    job_config["preferences"] = os.path.abspath(job_config["preferences"])
            todo.append(i)
            jobs.append({"kind": _kind(config), "config": job_config})
            continue
        results[i].status, results[i].error = status, error
        if on_result is not None:
            on_result(results[i])
    save()

    def done(index: int, outcome: dict | JobFailed) -> None:
        if isinstance(outcome, JobFailed):  # the worker process or Ray task died
            outcome = {"status": "failed", "error": outcome.error}
        cell = results[index]
        cell.status = outcome.get("status", "failed")
        cell.run_dir = outcome.get("run_dir") or cell.run_dir
        cell.error = outcome.get("error")
        cell.detail = outcome.get("detail")
        cell.final = outcome.get("final")
        cell.wall_clock = outcome.get("wall_clock")
        save()
        if on_result is not None:
            on_result(cell)

    began = time.monotonic()

    def progress(start: bool = False) -> None:
        report = SweepProgress.measure(results, budgets, 0.0 if start else time.monotonic() - began)
        known = guesses and all(g is not None for g in guesses)
        report.per_run = max(guesses) if known else None
        report.parallel = min(workers or usable_cores(), len(jobs)) if executor == "local" else None
        on_progress(report)

    if jobs:
        stop = threading.Event()
        if on_progress is not None:
            progress(start=True)

            def watch() -> None:
                while not stop.wait(progress_every):
                    progress()

            threading.Thread(target=watch, name="pbrl-sweep-progress", daemon=True).start()
        try:
            with make_executor(executor, workers, processes=True, address=address, num_cpus=cpus_per_run) as runner:
                for j, outcome in runner.as_completed(run_cell, jobs):  # a cell's failure never stops the others
                    done(todo[j], outcome)
        finally:
            stop.set()
    save()
    return SweepResult(sweep_dir, results)
