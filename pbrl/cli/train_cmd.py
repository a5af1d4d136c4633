"""``pbrl train`` and ``pbrl evaluate``: online agents in run folders."""

from __future__ import annotations

import os
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .common import TrainingBar, err, fail, print_evaluation, report_run


def _list_hp(agent: str, env: str | None) -> None:
    from pbrl.agents.online.hyperparams import HyperparameterError, describe, resolve

    try:
        rows = describe(agent)
        values = resolve(agent, env) if env else {}
    except HyperparameterError as exc:
        fail(str(exc))
    table = Table(title=f"{agent} hyperparameters" + (f" for {env}" if env else ""))
    for col in ("key", "type", "value", "meaning"):
        table.add_column(col)
    for key, kind, help_text in rows:
        table.add_row(key, kind, str(values.get(key, "")), help_text)
    Console(width=160).print(table)


def _progress(total: int) -> TrainingBar:
    """The bar of an online run: the latest training and evaluation returns."""

    def status(latest: dict) -> str:
        parts = []
        if "rollout/true_return" in latest:
            parts.append(f"train return {latest['rollout/true_return']:.1f}")
        if "eval/return" in latest:
            parts.append(f"eval return {latest['eval/return']:.1f}")
        return "  ".join(parts)

    return TrainingBar(total, status, every=256)


def _report(result, runs_root: str) -> None:
    report_run(result.run_dir, runs_root, ("env steps", result.num_timesteps), result.wall_clock, result.final)


def train(
    ctx: typer.Context,
    config_file: Optional[str] = typer.Argument(
        None, metavar="[CONFIG]", help="An experiment config file (.toml/.yaml; see configs/README.md). Options given here win over it."
    ),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="With CONFIG: override a key, key=value or table.key=value (repeatable)."),
    env: Optional[str] = typer.Option(None, "--env", help="Task id, e.g. pbrl/Hopper-v5 (see `pbrl envs`)."),
    agent: str = typer.Option("ppo", "--agent", help="Online agent: ppo or sac."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Env steps in all (default: the task's n_timesteps)."),
    seed: int = typer.Option(0, "--seed", help="Run seed."),
    num_envs: Optional[int] = typer.Option(None, "--num-envs", help="Sub-envs simulated together (default: per task)."),
    hp: Optional[List[str]] = typer.Option(None, "--hp", help="Hyperparameter override key=value (repeatable); see --list-hp."),
    reward: str = typer.Option("true", "--reward", help="Training reward: 'true'; 'program:PATH' (a file defining compute_reward, untrusted: statically checked and run in a sandboxed worker process); 'trusted-program:PATH' (your own code, run unchecked in the training process); or 'learned' (PrefPPO with ppo, PEBBLE with sac; needs --teacher)."),
    runs_dir: str = typer.Option("runs", "--runs-dir", help="Root folder of the runs."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: the start time); folder <name>-s<seed>."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the run in this folder from its latest checkpoint."),
    device: str = typer.Option("cpu", "--device", help="Torch device."),
    eval_freq: Optional[int] = typer.Option(None, "--eval-freq", help="Env steps between evaluations (default: steps/20)."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", help="Episodes per evaluation, run as one batch."),
    checkpoint_freq: Optional[int] = typer.Option(None, "--checkpoint-freq", help="Env steps between checkpoints (default: steps/10)."),
    list_hp: bool = typer.Option(False, "--list-hp", help="List the agent's hyperparameters (with --env: their values) and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Offline agents (bc, iql, piql, cpl, oppo, ipl): the dataset id."),
    preferences: Optional[str] = typer.Option(None, "--preferences", help="Offline agents: a preference store labelled on the dataset."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="--reward learned: who labels the queries (oracle, noisy, mistake, skip, myopic, equal, ...; human: people in the labeling web app, options --pref human_*)."),
    feedback: Optional[int] = typer.Option(None, "--feedback", help="--reward learned: the label budget, queries asked in all (default 1000)."),
    pref: Optional[List[str]] = typer.Option(None, "--pref", help="--reward learned: a preference-loop option key=value (repeatable), e.g. segment_length=50; see agents/preference/README.md."),
) -> None:
    """Train PPO or SAC on a batched task, or an offline agent on a dataset; evaluates, checkpoints and logs to TensorBoard in a run folder."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pbrl.agents.registry import is_offline_agent
    from pbrl.runs.offline import is_offline_run

    if config_file is not None or set_:
        return _train_from_file(ctx, config_file, set_ or [], quiet)

    if is_offline_agent(agent) or dataset or preferences or (resume is not None and is_offline_run(resume)):
        from .offline_cmd import train_offline

        return train_offline(
            agent=agent, dataset=dataset, preferences=preferences, env=env, steps=steps, seed=seed, hp=hp, runs_dir=runs_dir,
            name=name, resume=resume, device=device, eval_freq=eval_freq, eval_episodes=eval_episodes,
            checkpoint_freq=checkpoint_freq, list_hyperparams=list_hp, quiet=quiet,
        )  # fmt: skip
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.agents.online.hyperparams import HyperparameterError, parse_overrides
    from pbrl.runs.config import ConfigError, TrainConfig
    from pbrl.runs.folder import RunExistsError, RunLockedError

    if list_hp:
        _list_hp(agent, env)
        return
    from pbrl.rewards.source import RewardProgramError

    errors = (ConfigError, HyperparameterError, RunExistsError, RunLockedError, CheckpointError, FileNotFoundError)
    if resume is not None:
        given = [flag for flag, value in (("--env", env), ("--hp", hp), ("--num-envs", num_envs), ("--name", name),
                                          ("--teacher", teacher), ("--feedback", feedback), ("--pref", pref)) if value]
        if given:
            fail(f"--resume continues a run with its saved config; drop {', '.join(given)} (only --steps may change)")
        from pbrl.runs.train import resume as resume_run

        try:
            from pbrl.runs.folder import load_run_config

            saved = load_run_config(resume)["config"].get("steps")
            total = steps or (saved if isinstance(saved, int) and not isinstance(saved, bool) else None)
            bar = _progress(total) if not quiet else None
            if bar is None:
                result = resume_run(resume, steps=steps)
            else:
                with bar:
                    result = resume_run(resume, steps=steps, progress=bar)
        except RewardProgramError as exc:
            fail(f"training stopped: {exc}")
        except errors as exc:
            fail(str(exc))
        except ValueError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            err.print(f"interrupted; continue with: pbrl train --resume {resume}")
            raise typer.Exit(130)
        _report(result, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(resume)))))
        return
    if env is None:
        fail("--env is required (e.g. --env pbrl/Hopper-v5; `pbrl envs` lists the tasks)")
    try:
        overrides = parse_overrides(hp or [])
        config = TrainConfig(
            env=env, agent=agent, steps=steps, seed=seed, num_envs=num_envs, hp=overrides, reward=reward,
            runs_dir=runs_dir, name=name, device=device, eval_freq=eval_freq, eval_episodes=eval_episodes,
            checkpoint_freq=checkpoint_freq, teacher=teacher, feedback=feedback, pref=parse_overrides(pref or []),
        )
    except errors as exc:
        fail(str(exc))
    _train_online(config, quiet)


def _train_online(config, quiet: bool) -> None:
    """Train a new online run from a ``TrainConfig`` (``pbrl train --env ...`` and ``pbrl train CONFIG``)."""
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.agents.online.hyperparams import HyperparameterError
    from pbrl.runs.config import ConfigError
    from pbrl.runs.folder import RunExistsError, RunLockedError, RunsDirError
    from pbrl.rewards.source import RewardProgramError
    from pbrl.runs.train import prepare, train as train_run

    errors = (ConfigError, HyperparameterError, RunExistsError, RunLockedError, RunsDirError, CheckpointError, FileNotFoundError)
    path = None
    try:
        resolved, path = prepare(config)  # every check, before any work
        config.name = resolved["config"]["name"]
        total = resolved["config"]["steps"]
        if quiet:
            result = train_run(config, on_start=lambda p: err.print(f"run folder: {p}"))
        else:
            with _progress(total) as bar:
                result = train_run(config, progress=bar, on_start=lambda p: bar.progress.console.print(f"run folder: {p}"))
    except RewardProgramError as exc:
        where = f"\nthe run folder keeps what was done until then: {path}" if path and os.path.isdir(path) else ""
        fail(f"training stopped: {exc}{where}")
    except errors as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print(f"interrupted; continue with: pbrl train --resume {path}" if path and os.path.isdir(path) else "interrupted")
        raise typer.Exit(130)
    _report(result, config.runs_dir)


#: ``pbrl train`` parameters that are not run-config keys
_CONTROL_PARAMS = {"ctx", "config_file", "set_", "resume", "list_hp", "quiet"}


def _given_options(ctx: typer.Context) -> dict:
    """The options typed on the command line (not their defaults), as config keys; ``--hp`` parsed."""
    from pbrl.agents.online.hyperparams import parse_overrides

    given = {}
    for name, value in ctx.params.items():
        if name in _CONTROL_PARAMS:
            continue
        source = ctx.get_parameter_source(name)  # typer may vendor click: compare by name
        if getattr(source, "name", None) not in ("COMMANDLINE", "ENVIRONMENT"):
            continue
        given[name] = parse_overrides(value or []) if name in ("hp", "pref") else value
    return given


def _train_from_file(ctx: typer.Context, config_file: Optional[str], sets: List[str], quiet: bool) -> None:
    """``pbrl train CONFIG [--set key=value ...] [options]``: the options win over ``--set``, which wins over the file."""
    from pbrl.agents.online.hyperparams import HyperparameterError
    from pbrl.runs.config import ConfigError
    from pbrl.runs.configfile import config_class, load_experiment

    if config_file is None:
        fail("--set overrides a config file's keys: give the file too (pbrl train CONFIG --set key=value)")
    if ctx.params.get("resume") is not None:
        fail("--resume continues a run with its saved config; drop CONFIG")
    if ctx.params.get("list_hp"):
        fail("--list-hp lists an agent's hyperparameters; drop CONFIG")
    try:
        import dataclasses

        from pbrl.runs.configfile import apply_sets, read_config_file

        given = _given_options(ctx)
        agent = given.get("agent", apply_sets(read_config_file(config_file), sets).get("agent", "ppo"))
        fields = {f.name for f in dataclasses.fields(config_class(agent))}
        unused = sorted(k for k in given if k not in fields)
        if unused:
            flags = ", ".join("--" + k.replace("_", "-") for k in unused)
            raise ConfigError(f"{flags}: not an option of a {agent} run; drop it (or set the key in {config_file} / with --set)")
        exp = load_experiment(config_file, sets, given)
        config = exp.run_config()
        exp.config = config
        exp.resolve()  # every check, with the file named in the message
    except (ConfigError, HyperparameterError) as exc:
        fail(str(exc))
    if exp.offline:
        from .offline_cmd import train_offline_config

        return train_offline_config(config, quiet=quiet)
    _train_online(config, quiet)


def evaluate(
    run: str = typer.Argument(..., help="A run folder (runs/<task>/<agent>/<name>-s<seed>)."),
    episodes: int = typer.Option(10, "--episodes", min=1, help="Episodes, run in parallel as one batch."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Evaluation seed (default: a fresh random one)."),
    video: Optional[str] = typer.Option(None, "--video", help="Record one episode to this .mp4 or .gif (MUJOCO_GL=egl)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Re-evaluate a run's latest checkpoint on fresh seeds (deterministic actions)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.runs.offline import is_offline_run
    from pbrl.runs.train import evaluate_run

    if not os.path.isdir(run):
        fail(f"{run}: no such run folder")
    if is_offline_run(run):
        from .offline_cmd import evaluate_offline

        return evaluate_offline(run, episodes, seed, video, as_json)
    try:
        result = evaluate_run(run, episodes=episodes, seed=seed, video=video)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except RuntimeError as exc:  # rendering unavailable
        fail(f"video: {exc}")
    print_evaluation(run, result, f"{result['num_timesteps']:,} env steps", as_json)
