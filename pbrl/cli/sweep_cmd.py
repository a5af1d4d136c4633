"""``pbrl sweep CONFIG --seeds 5 --tasks A,B``: a config's grid of runs, on a local process pool or Ray."""

from __future__ import annotations

import os
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .common import err, fail


def parse_seeds(text: str) -> list[int]:
    """``"5"`` -> seeds 0..4; ``"0,3,7"`` -> those seeds; ``"10-14"`` -> 10..14."""
    text = text.strip()
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        elif "-" in text.strip("-"):
            low, high = (int(s) for s in text.split("-", 1))
            seeds = list(range(low, high + 1))
        else:
            n = int(text)
            if n < 1:
                raise ValueError
            seeds = list(range(n))
    except ValueError:
        raise ValueError(f"--seeds {text!r}: give a count (5 = seeds 0..4), a list (0,3,7) or a range (10-14)") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: seeds must be distinct integers >= 0")
    return seeds


def _split(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def _name_of(out: Optional[str]) -> Optional[str]:
    """The sweep folder's name as the runs' name (so re-running a sweep finds its runs), if it is a valid one."""
    from pbrl.runs.folder import check_name

    if not out:
        return None
    try:
        return check_name(os.path.basename(os.path.normpath(out)))
    except ValueError:
        return None


def sweep(
    config_file: str = typer.Argument(..., metavar="CONFIG", help="An experiment config file (.toml/.yaml), or a packaged config's name (`pbrl configs list`)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="A count (5 = seeds 0..4), a list (0,3,7) or a range (10-14); default: the file's seeds."),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Comma-separated task ids (online agents); default: the file's tasks or task."),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="Comma-separated dataset ids (offline agents)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a key of the file, key=value or table.key=value (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the budget of every run."),
    out: Optional[str] = typer.Option(None, "--out", help="The sweep folder (default: <runs_dir>/sweeps/<name>)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name of every cell (default: the file's name, else sweep-<time>)."),
    executor: str = typer.Option("local", "--executor", help="local (a process pool) or ray."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local runs at a time (default: the number of cores)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray instance)."),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="CPUs each Ray task asks for."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every cell and show the grid; train nothing."),
) -> None:
    """Train a config's grid (tasks or datasets × seeds) in parallel; failed runs are reported at the end, and the
    sweep folder has the ordinary run layout (`pbrl compare SWEEP_DIR`)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pbrl.agents.online.hyperparams import HyperparameterError
    from pbrl.runs.config import ConfigError
    from pbrl.runs.configfile import load_experiment
    from pbrl.runs.sweep import default_sweep_name, plan, run_sweep

    try:
        overrides = {} if steps is None else {"steps": steps}
        exp = load_experiment(config_file, set_ or [], overrides)
        seed_list = parse_seeds(seeds) if seeds is not None else None
        run_name = name or exp.config.name or _name_of(out) or default_sweep_name()
        sweep_dir = out or os.path.join(exp.config.runs_dir, "sweeps", run_name)
        from pbrl.runs.folder import check_creatable

        check_creatable(sweep_dir, f"sweep folder {sweep_dir}", "give another --out (or runs_dir)")  # before any work
        cells = plan(exp, sweep_dir, seeds=seed_list, tasks=_split(tasks), datasets=_split(datasets), name=run_name)
    except (ConfigError, HyperparameterError, ValueError) as exc:
        fail(str(exc))
    from pbrl.runs.executor import EXECUTORS

    if executor not in EXECUTORS:
        fail(f"unknown executor {executor!r}; use {' or '.join(EXECUTORS)}")
    err.print(f"sweep of {len(cells)} run(s) in {sweep_dir} ({executor} executor)")

    def on_result(cell) -> None:
        where = cell.run_dir or ""
        if cell.status == "ok":
            final = cell.final or {}
            err.print(f"[green]ok[/]      {cell.task} seed {cell.seed}: return {final.get('return_mean', float('nan')):.1f}, "
                      f"score {final.get('normalized_score', float('nan')):.1f} ({cell.wall_clock or 0:.0f} s) {where}")  # fmt: skip
        elif cell.status == "exists":
            err.print(f"[cyan]exists[/]  {cell.task} seed {cell.seed}: complete run kept, not trained again: {where}")
        else:
            err.print(f"[red]{cell.status:<7}[/] {cell.task} seed {cell.seed}: {cell.error}")

    if dry_run:
        from pbrl.runs.sweep import check_cell, task_of

        bad = 0
        for cell in cells:
            status, path, error = check_cell(cell)
            bad += status == "invalid"
            status = {"pending": "ready"}.get(status, status)
            err.print(f"{status:<8} {task_of(cell)} seed {cell.seed}: {error or path}")
        raise typer.Exit(1 if bad else 0)
    try:
        result = run_sweep(cells, sweep_dir, executor=executor, workers=workers, address=address, cpus_per_run=cpus_per_run,
                           on_result=on_result, source=os.path.abspath(exp.source),
                           on_progress=lambda p: err.print(p.line(), markup=False, soft_wrap=True), progress_every=30.0)  # fmt: skip
    except (ValueError, ImportError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print(f"interrupted; finished runs are in {sweep_dir} (re-run the same command to train the rest)")
        raise typer.Exit(130)
    table = Table(title=f"sweep {sweep_dir}")
    for col in ("task", "agent", "seed", "status", "return", "score", "run folder / error"):
        table.add_column(col, overflow="fold")
    for cell in result.cells:
        final = cell.final or {}
        ret = f"{final['return_mean']:.1f}" if "return_mean" in final else ""
        score = f"{final['normalized_score']:.1f}" if "normalized_score" in final else ""
        status = {"ok": "[green]ok[/]", "exists": "[cyan]exists[/]"}.get(cell.status, f"[red]{cell.status}[/]")
        table.add_row(cell.task, cell.agent, str(cell.seed), status, ret, score, cell.error if not cell.ok else (cell.run_dir or ""))
    Console(width=max(Console().width, 140)).print(table)
    failed = result.failed
    if failed:
        err.print(f"[red]{len(failed)} of {len(result.cells)} run(s) failed[/] (details in {os.path.join(sweep_dir, 'sweep.json')})")
    typer.echo(f"pbrl compare {sweep_dir}")
    raise typer.Exit(1 if failed else 0)
