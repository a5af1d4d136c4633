"""``pbrl run``: the main job — a short, real training run with a summary table.

Today it trains PPO on the task's true reward (in a run folder, with TensorBoard
logs) and measures a random policy on the same evaluation seeds, so the table shows
that learning happened. The preference-learning comparison (PrefPPO from a scripted
teacher next to PPO) joins it when the online preference loop lands.
"""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def run(
    env: str = typer.Option("pbrl/HalfCheetah-v5", "--env", help="pbrl task id."),
    steps: int = typer.Option(100_000, "--steps", min=1000, help="Env steps of PPO training."),
    seed: int = typer.Option(0, "--seed", help="Run seed."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Root folder of the run folders."),
    name: str = typer.Option(None, "--name", help="Run name (default: the start time)."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", min=1, help="Evaluation episodes."),
) -> None:
    """Train PPO on a batched task for a few minutes and report how far it got."""
    import numpy as np

    from pbrl.evaluation.evaluate import evaluate_policy
    from pbrl.runs.config import ConfigError, TrainConfig
    from pbrl.runs.folder import RunExistsError
    from pbrl.runs.train import train

    console = Console(width=max(Console().width, 110))
    config = TrainConfig(env=env, agent="ppo", steps=steps, seed=seed, runs_dir=runs_dir, name=name, eval_episodes=eval_episodes)
    try:
        config.resolve()
    except (ConfigError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None

    console.print(f"[bold]pbrl run[/bold]: PPO on {env} for {steps:,} env steps (true reward), seed {seed}")
    start = time.time()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("PPO", total=steps)

        def progress(step: int, latest: dict) -> None:
            ret = latest.get("eval/return")
            desc = "PPO" if ret is None else f"PPO (eval return {ret:,.0f})"
            bar.update(task, completed=min(step, steps), description=desc)

        try:
            result = train(config, progress=progress)
        except (ConfigError, RunExistsError) as exc:
            raise typer.BadParameter(str(exc)) from None
    wall = time.time() - start

    import gymnasium as gym

    space = gym.make(env).action_space
    low, high = space.low, space.high
    rng = np.random.default_rng(seed)
    random = evaluate_policy(
        lambda obs: rng.uniform(low, high, size=(obs.shape[0], low.size)), env, episodes=eval_episodes, seed=10_000 + seed
    )
    final = result.final
    table = Table(title=f"pbrl run — {env}")
    for col in ("agent", "reward", "env steps", "eval return", "normalized score", "wall-clock"):
        table.add_column(col, justify="right" if col != "agent" else "left")
    table.add_row(
        "PPO", "true", f"{result.num_timesteps:,}", f"{final['return_mean']:,.1f} ± {final['return_std']:,.1f}",
        f"{final['normalized_score']:.1f}", f"{wall:,.0f} s",
    )
    table.add_row("random policy", "-", "0", f"{random.return_mean:,.1f} ± {random.return_std:,.1f}", f"{random.normalized_score:.1f}", "-")
    console.print(table)
    console.print(f"run folder: {result.run_dir}")
    console.print(f"TensorBoard: [bold]tensorboard --logdir {runs_dir}[/bold]")
