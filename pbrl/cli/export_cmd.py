"""``pbrl export RUN --format sb3``: a run's policy as a plain Stable-Baselines3 model."""

from __future__ import annotations

from typing import Optional

import typer

from .common import err, fail

FORMATS = ("sb3",)


def export(
    run: str = typer.Argument(..., help="A run folder (runs/<task>/<agent>/<name>-s<seed>)."),
    format: str = typer.Option("sb3", "--format", help="Output format: sb3 (a zip for stable_baselines3.PPO.load / SAC.load)."),
    out: Optional[str] = typer.Option(None, "--out", help="The model zip to write (default: <run>/sb3/<algo>.zip); normalisation statistics go beside it as <name>_vecnormalize.pkl."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
) -> None:
    """Export a run's latest checkpoint for use without pbrl (PPO, SAC, PrefPPO and PEBBLE runs)."""
    if format not in FORMATS:
        fail(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
    from pbrl.runs.export import export_sb3

    err.print(f"exporting {run}'s latest checkpoint for Stable-Baselines3 ...", markup=False, soft_wrap=True)
    try:
        result = export_sb3(run, out=out, force=force)
    except (FileNotFoundError, ValueError) as exc:  # not a run, offline, output exists, no checkpoint
        fail(str(exc))
    algo = result["algo"].upper()
    err.print(f"exported the {algo} policy at {result['num_timesteps']:,} env steps: stable_baselines3.{algo}.load({result['model']!r})")
    if result["vecnormalize"]:
        err.print(f"observation normalisation: VecNormalize.load({result['vecnormalize']!r}, venv), or unpickle it and call .normalize_obs(obs)")
    print(result["model"])
