"""``pbrl run``: the main job — preference learning next to the true reward, in minutes.

It trains two agents on the same task, one after the other, each in its own run
folder with TensorBoard logs:

* **PPO** on the task's true reward;
* **PrefPPO**: the same PPO, but on a reward model learned online from a scripted
  teacher's preferences over pairs of 50-step segments (B-Pref's loop).

Then it measures a random policy on fresh seeds and prints one table — true
return of each, labels used, held-out reward-model accuracy, wall-clock — and
the ``tensorboard --logdir ...`` command that shows both runs side by side.
"""

from __future__ import annotations

import os
import time

import typer
from rich.console import Console
from rich.table import Table

from pbrl.runs.config import TrainConfig

from .common import TrainingBar, declared


def _train_with_bar(console: Console, label: str, config, steps: int):
    from pbrl.runs.train import train

    shown = {"eval/return": "eval return {:,.0f}", "feedback/labels": "{:,.0f} labels"}
    start = time.time()
    with TrainingBar(steps, shown, every=256, label=label) as bar:
        result = train(config, progress=bar)
    return result, time.time() - start


def run(
    env: str = declared(TrainConfig, "env"),
    steps: int = typer.Option(150_000, "--steps", min=1000, help="Env steps of each agent."),
    agent: str = typer.Option("ppo", "--agent", help="ppo (PrefPPO next to PPO) or sac (PEBBLE next to SAC)."),
    teacher: str = typer.Option("oracle", "--teacher", help="Scripted teacher preset: oracle, noisy, mistake, skip, myopic, equal."),
    feedback: int = typer.Option(300, "--feedback", min=1, help="Label budget of the preference-learning agent."),
    seed: int = declared(TrainConfig, "seed", more="Both agents'."),
    runs_dir: str = declared(TrainConfig, "runs_dir"),
    name: str = declared(TrainConfig, "name", more="Here the runs are <name>-true and <name>-<teacher>."),
    eval_episodes: int = declared(TrainConfig, "eval_episodes", min=1),
    skip_true: bool = typer.Option(False, "--skip-true", help="Train only the preference-learning agent."),
) -> None:
    """Train PrefPPO from a scripted teacher next to PPO on the true reward, and compare them."""
    import gymnasium as gym
    import numpy as np

    from pbrl.evaluation.evaluate import evaluate_policy
    from pbrl.runs.config import ConfigError, TrainConfig
    from pbrl.runs.folder import RunExistsError, RunsDirError

    console = Console(width=max(Console().width, 110))
    pref_name = {"ppo": "PrefPPO", "sac": "PEBBLE"}.get(agent, agent)
    common = dict(env=env, agent=agent, steps=steps, seed=seed, runs_dir=runs_dir, eval_episodes=eval_episodes)
    configs = []
    if not skip_true:
        configs.append((agent.upper(), "true", TrainConfig(**common, name=name and f"{name}-true")))
    configs.append(
        (pref_name, f"learned ({teacher})", TrainConfig(
            **common, name=name and f"{name}-{teacher}", reward="learned", teacher=teacher, feedback=feedback,
            pref={"interval": max(steps // 11, 1)},  # ten feedback rounds (budget / 10 each) before the end
        ))
    )
    try:  # every check before any work
        for _, _, config in configs:
            from pbrl.runs.train import prepare

            prepare(config)
    except (ConfigError, RunExistsError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None

    what = f"{pref_name} from the '{teacher}' teacher ({feedback:,} labels)"
    if not skip_true:
        what += f" next to {agent.upper()} on the true reward"
    console.print(f"[bold]pbrl run[/bold]: {what} — {env}, {steps:,} env steps each, seed {seed}")
    rows = []
    for label, reward, config in configs:
        try:
            result, wall = _train_with_bar(console, label, config, steps)
        except (ConfigError, RunExistsError, RunsDirError) as exc:
            raise typer.BadParameter(str(exc)) from None
        rows.append((label, reward, result, wall))

    space = gym.make(env).action_space
    low, high = space.low, space.high
    rng = np.random.default_rng(seed)
    random = evaluate_policy(
        lambda obs: rng.uniform(low, high, size=(obs.shape[0], low.size)), env, episodes=eval_episodes, seed=10_000 + seed
    )

    table = Table(title=f"pbrl run — {env}, {steps:,} env steps")
    for col in ("agent", "reward", "true return (eval)", "normalized score", "labels", "reward-model accuracy", "wall-clock"):
        table.add_column(col, justify="left" if col in ("agent", "reward") else "right")
    for label, reward, result, wall in rows:
        final = result.final
        fb = final.get("feedback") or {}
        acc = fb.get("reward_model_accuracy")
        table.add_row(
            label,
            reward,
            f"{final['return_mean']:,.1f} ± {final['return_std']:,.1f}",
            f"{final['normalized_score']:.1f}",
            f"{fb['labels']:,}" if fb else "-",
            "-" if not fb else ("n/a" if acc is None else f"{acc:.3f}"),
            f"{wall:,.0f} s",
        )
    table.add_row("random policy", "-", f"{random.return_mean:,.1f} ± {random.return_std:,.1f}", f"{random.normalized_score:.1f}", "-", "-", "-")
    console.print(table)
    console.print("Reward-model accuracy: held-out pairs judged by the true reward, never trained on.")
    for label, _, result, _ in rows:
        console.print(f"{label} run folder: {result.run_dir}")
    logdir = os.path.dirname(os.path.dirname(rows[0][2].run_dir))  # runs/<task>/: both agents' runs
    console.print(f"TensorBoard: [bold]tensorboard --logdir {logdir}[/bold]")
    console.print(f"Compare: [bold]pbrl compare {' '.join(row[2].run_dir for row in rows)}[/bold]")
