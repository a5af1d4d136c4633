"""``pbrl train --agent iql|piql|cpl|oppo|bc|ipl --dataset ID [--preferences STORE]`` and
``pbrl evaluate RUN`` for offline runs.

``pbrl train`` and ``pbrl evaluate`` (``train_cmd``) hand over to these functions when
the agent is an offline one, a dataset is given, or the run folder is an offline run.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

import typer

from pbrl import phases

from .common import TrainingBar, err, fail, phase_printer, print_evaluation, report_run, resume_run_folder, runs_root_of, say_plan


def _progress(total: int) -> TrainingBar:
    """The bar of an offline run: gradient steps per second and the latest evaluation."""
    shown = {"time/fps": "{:.0f} steps/s", "eval/return": "eval return {:.1f}", "eval/normalized_score": "(score {:.1f})"}
    return TrainingBar(total, shown)


def _report(result, runs_root: str) -> None:
    report_run(result.run_dir, runs_root, ("gradient steps", result.steps), result.wall_clock, result.final)


def train_offline(
    *,
    agent: str,
    dataset: Optional[str],
    preferences: Optional[str],
    env: Optional[str],
    steps: Optional[int],
    seed: int,
    hp: Optional[List[str]],
    env_kwargs: Optional[List[str]],
    runs_dir: str,
    name: Optional[str],
    resume: Optional[str],
    device: str,
    eval_freq: Optional[int],
    eval_episodes: int,
    checkpoint_freq: Optional[int],
    quiet: bool = False,
) -> None:
    """Train (or resume) an offline agent in a run folder; see ``pbrl train --help``."""
    from pbrl.agents.online.hyperparams import parse_overrides
    from pbrl.runs.offline import OfflineTrainConfig, resume as resume_run

    errors = _errors()
    if resume is not None:
        given = [flag for flag, value in (("--dataset", dataset), ("--preferences", preferences), ("--env", env), ("--hp", hp), ("--env-kwargs", env_kwargs), ("--name", name)) if value]
        if given:
            fail(f"--resume continues a run with its saved config; drop {', '.join(given)} (only --steps may change)")
        result = resume_run_folder(resume, steps, quiet, resume_run, _progress, errors)
        _report(result, runs_root_of(resume))
        return
    try:
        config = OfflineTrainConfig(
            agent=agent, dataset=dataset or "", preferences=preferences, env=env, steps=steps, seed=seed,
            hp=parse_overrides(hp or []), env_kwargs=parse_overrides(env_kwargs or []), runs_dir=runs_dir, name=name, device=device, eval_freq=eval_freq,
            eval_episodes=eval_episodes, checkpoint_freq=checkpoint_freq,
        )  # fmt: skip
    except errors as exc:
        fail(str(exc))
    train_offline_config(config, quiet=quiet)


#: phases a training run does not print: its periodic evaluations (the bar shows their results)
TRAINING_QUIET = ("evaluation steps",)


def _errors() -> tuple[type[BaseException], ...]:
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.agents.online.hyperparams import HyperparameterError
    from pbrl.agents.offline._errors import OfflineDataError, PreferenceReferenceError
    from pbrl.datasets import DatasetError
    from pbrl.preferences import EmptyPreferencesError, NotAPbrlStoreError
    from pbrl.runs.config import ConfigError
    from pbrl.runs.folder import RunExistsError, RunLockedError

    return (
        ConfigError, HyperparameterError, RunExistsError, RunLockedError, CheckpointError, FileNotFoundError, DatasetError,
        OfflineDataError, PreferenceReferenceError, EmptyPreferencesError, NotAPbrlStoreError, FloatingPointError,
    )  # fmt: skip


def train_offline_config(config, quiet: bool = False) -> None:
    """Train a new offline run from an :class:`~pbrl.runs.offline.OfflineTrainConfig` (``pbrl train`` and ``pbrl train CONFIG``)."""
    from pbrl.runs.config import algorithm_of
    from pbrl.runs.offline import prepare, train as train_run

    errors = _errors()
    runs_dir = config.runs_dir
    path = None
    # its settings are checked against the agent's hyperparameters, which import torch (seconds): say something first
    err.print(f"preparing {algorithm_of(config.agent)} on {config.dataset or 'a dataset'} ...", markup=False, soft_wrap=True)
    try:
        resolved, path = prepare(config)
        cfg = resolved["config"]
        config.name, total = cfg["name"], cfg["steps"]
        labels = f" and the preferences in {cfg['preferences']}" if cfg.get("preferences") else ""
        say_plan(f"{algorithm_of(cfg['agent'])} on {cfg['dataset']}{labels}, seed {cfg['seed']}", cfg["agent"], total, path, "gradient steps")
        if quiet:
            with phases.listening(phase_printer(ignore=TRAINING_QUIET)):
                result = train_run(config, on_start=lambda p: err.print(f"run folder: {p}"))
        else:
            with _progress(total) as bar, phases.listening(phase_printer(bar.progress.console, ignore=TRAINING_QUIET)):
                result = train_run(config, progress=bar, on_start=lambda p: bar.progress.console.print(f"run folder: {p}"))
    except errors as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print(f"interrupted; continue with: pbrl train --resume {path}" if path and os.path.isdir(path) else "interrupted")
        raise typer.Exit(130)
    _report(result, runs_dir)


def evaluate_offline(run: str, episodes: int, seed: Optional[int], video: Optional[str], as_json: bool) -> None:
    """``pbrl evaluate RUN`` for an offline run."""
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.runs.offline import evaluate_run

    try:
        with phases.listening(phase_printer(every=5.0)):
            result: dict[str, Any] = evaluate_run(run, episodes=episodes, seed=seed, video=video)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(f"video: {exc}")
    print_evaluation(run, result, f"{result['gradient_steps']:,} gradient steps", as_json)
