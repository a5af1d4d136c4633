"""``pbrl compare RUNS...``: final scores, IQM / optimality gap / probability of improvement, plots."""

from __future__ import annotations

from typing import List, Optional

import typer
from rich.markup import escape

from pbrl.evaluation.aggregate import DEFAULT_REPS

from .common import err, fail


def compare(
    runs: List[str] = typer.Argument(..., help="Run folders, or folders with runs under them (a runs root, a sweep folder)."),
    out: Optional[str] = typer.Option(None, "--out", help="Write compare.md, compare.json and the figures here: learning curves over steps, wall-clock and labels used (preference runs), intervals, performance profiles, probability of improvement."),
    metric: str = typer.Option("normalized_score", "--metric", help="normalized_score, return, dataset_normalized_score or success_rate."),
    group_by: str = typer.Option("auto", "--group-by", help="Group label: auto (the algorithm — agent, prefppo, pebble, <agent>+program — or algorithm/name where a task has several run names of it), agent, name, agent/name."),
    include_incomplete: bool = typer.Option(False, "--include-incomplete", help="Use unfinished runs at their latest evaluation (marked *) instead of skipping them."),
    reps: int = typer.Option(DEFAULT_REPS, "--reps", min=1, help="Bootstrap repetitions (rliable's 50000 by default: fewer leave the interval ends noisy)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the intervals."),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="Optimality-gap threshold (default: 100 for normalized scores)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    no_plots: bool = typer.Option(False, "--no-plots", help="With --out: skip the PNGs."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A group label: P(X > baseline) for every other group X, instead of every pair."),
) -> None:
    """Compare runs across seeds: final return and score per (task, agent), IQM and optimality gap with
    stratified-bootstrap CIs, probability of improvement (rliable's definitions), the claims its intervals
    allow, learning curves over steps, wall-clock and labels used, performance profiles. Warns when groups
    have different budgets or fewer than 3 seeds."""
    from pbrl.runs.compare import CompareError, compare as run_compare, plotting_available

    try:
        result = run_compare(
            runs, metric=metric, group_by=group_by, include_incomplete=include_incomplete, reps=reps, confidence=confidence,
            gamma=gamma, seed=seed, baseline=baseline,
        )  # fmt: skip
    except CompareError as exc:
        fail(str(exc))
    for path, why in result.skipped:
        err.print(f"[yellow]skipped[/] {path}: {why}")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    typer.echo(result.to_markdown())
    if out is None:
        err.print("(--out DIR writes this table, a JSON file and the plots)")
        return
    plots = not no_plots
    if plots and not plotting_available():
        err.print('[yellow]plots skipped:[/] they need matplotlib (pip install "pbrl[plot]")')
        plots = False
    files = result.write(out, plots=plots)
    for path in files.values():
        typer.echo(path)
