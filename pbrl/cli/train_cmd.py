"""``pbrl train`` and ``pbrl evaluate``: online agents in run folders."""

from __future__ import annotations

import os
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from pbrl import phases
from pbrl.agents.registry import OFFLINE_AGENTS
from pbrl.runs.config import ConfigError, TrainConfig
from pbrl.runs.offline import OfflineTrainConfig

from .common import TrainingBar, declared, err, fail, phase_printer, print_evaluation, report_run, resume_run_folder, runs_root_of, say_plan

_REPEATABLE = "Given as key=value, repeatable."


def _list_hp(agent: str, env: str | None) -> None:
    """``--list-hp``: an agent's declared settings, with ``--env`` the values an online agent uses on that task."""
    from pbrl.agents.online.hyperparams import resolve
    from pbrl.agents.registry import AGENTS, UnknownAgentError, settings_class

    try:
        rows = settings_class(agent).describe()
        values = resolve(agent, env) if env and AGENTS[agent].family == "online" else None
    except ConfigError as exc:
        fail(str(exc))
    except UnknownAgentError as exc:
        fail(str(exc))
    offline = AGENTS[agent].family == "offline"
    table = Table(title=f"{agent} hyperparameters" + (" (offline)" if offline else "") + (f" for {env}" if values else ""))
    for col in ("key", "type", "value" if values else "default", "meaning"):
        table.add_column(col)
    for key, kind, default, meaning in rows:
        table.add_row(key, kind, str(values[key] if values else default), meaning)
    Console(width=180).print(table)


def _progress(total: int) -> TrainingBar:
    """The bar of an online run: the latest training and evaluation returns."""
    return TrainingBar(total, {"rollout/true_return": "train return {:.1f}", "eval/return": "eval return {:.1f}"}, every=256)


def _report(result, runs_root: str) -> None:
    report_run(result.run_dir, runs_root, ("env steps", result.num_timesteps), result.wall_clock, result.final)


def train(
    ctx: typer.Context,
    config_file: Optional[str] = typer.Argument(
        None, metavar="[CONFIG]", help="An experiment config file (.toml/.yaml), or a packaged config's name (`pbrl configs list`). Options given here win over it."
    ),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="With CONFIG: override a key, key=value or table.key=value (repeatable)."),
    env: Optional[str] = declared(TrainConfig, "env", default=None),
    agent: str = declared(TrainConfig, "agent", more=f"Offline agents ({', '.join(OFFLINE_AGENTS)}) train on --dataset."),
    steps: Optional[int] = declared(TrainConfig, "steps", more=f"Offline agents: {OfflineTrainConfig.help_of('steps')}."),
    seed: int = declared(TrainConfig, "seed"),
    num_envs: Optional[int] = declared(TrainConfig, "num_envs"),
    hp: Optional[List[str]] = declared(TrainConfig, "hp", more=_REPEATABLE),
    hp_file: Optional[str] = typer.Option(
        None, "--hp-file", help="rl-baselines3-zoo's hyperparameter YAML (e.g. hyperparams/ppo.yml): the task's table (same name, any "
        "version; or FILE:KEY), its keys mapped onto pbrl's; --hp wins over it.",
    ),
    reward: str = declared(TrainConfig, "reward"),
    runs_dir: str = declared(TrainConfig, "runs_dir"),
    name: Optional[str] = declared(TrainConfig, "name"),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the run in this folder from its latest checkpoint."),
    device: str = declared(TrainConfig, "device"),
    eval_freq: Optional[int] = declared(TrainConfig, "eval_freq"),
    eval_episodes: int = declared(TrainConfig, "eval_episodes"),
    checkpoint_freq: Optional[int] = declared(TrainConfig, "checkpoint_freq"),
    list_hp: bool = typer.Option(False, "--list-hp", help="List the agent's hyperparameters (with --env: their values) and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    dataset: Optional[str] = declared(OfflineTrainConfig, "dataset", default=None, more="Offline agents only."),
    preferences: Optional[str] = declared(OfflineTrainConfig, "preferences"),
    teacher: Optional[str] = declared(TrainConfig, "teacher"),
    feedback: Optional[int] = declared(TrainConfig, "feedback"),
    pref: Optional[List[str]] = declared(TrainConfig, "pref", more=_REPEATABLE + " See agents/preference/README.md."),
    env_kwargs: Optional[List[str]] = declared(TrainConfig, "env_kwargs", more=_REPEATABLE),
) -> None:
    """Train PPO or SAC on a batched task, or an offline agent on a dataset; evaluates, checkpoints and logs to TensorBoard in a run folder."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pbrl.agents.registry import is_offline_agent
    from pbrl.runs.offline import is_offline_run

    if config_file is not None or set_:
        return _train_from_file(ctx, config_file, set_ or [], quiet)
    if list_hp:
        _list_hp(agent, env)
        return
    if is_offline_agent(agent) or dataset or preferences or (resume is not None and is_offline_run(resume)):
        if hp_file is not None:
            fail("--hp-file reads rl-zoo's hyperparameters of online agents (ppo, sac); offline agents take --hp")
        from .offline_cmd import train_offline

        return train_offline(
            agent=agent, dataset=dataset, preferences=preferences, env=env, steps=steps, seed=seed, hp=hp, env_kwargs=env_kwargs, runs_dir=runs_dir,
            name=name, resume=resume, device=device, eval_freq=eval_freq, eval_episodes=eval_episodes,
            checkpoint_freq=checkpoint_freq, quiet=quiet,
        )  # fmt: skip
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.agents.online.hyperparams import HyperparameterError, check_agent, parse_overrides
    from pbrl.runs.config import ConfigError, TrainConfig
    from pbrl.runs.folder import RunExistsError, RunLockedError
    from pbrl.rewards.source import RewardProgramError

    errors = (ConfigError, HyperparameterError, RunExistsError, RunLockedError, CheckpointError, FileNotFoundError)
    if resume is not None:
        given = [flag for flag, value in (("--env", env), ("--hp", hp), ("--num-envs", num_envs), ("--name", name),
                                          ("--teacher", teacher), ("--feedback", feedback), ("--pref", pref), ("--env-kwargs", env_kwargs), ("--hp-file", hp_file)) if value]
        if given:
            fail(f"--resume continues a run with its saved config; drop {', '.join(given)} (only --steps may change)")
        from pbrl.runs.train import resume as resume_run

        result = resume_run_folder(resume, steps, quiet, resume_run, _progress, errors, stopped=(RewardProgramError,))
        _report(result, runs_root_of(resume))
        return
    if env is None:
        fail("--env is required (e.g. --env pbrl/Hopper-v5; `pbrl envs` lists the tasks)")
    try:
        overrides = parse_overrides(hp or [])
        if hp_file is not None:
            from pbrl.agents.online.rlzoo import read_rlzoo

            check_agent(agent)
            overrides = {**read_rlzoo(hp_file, agent, env), **overrides}
        config = TrainConfig(
            env=env, agent=agent, steps=steps, seed=seed, num_envs=num_envs, hp=overrides, reward=reward,
            runs_dir=runs_dir, name=name, device=device, eval_freq=eval_freq, eval_episodes=eval_episodes,
            checkpoint_freq=checkpoint_freq, teacher=teacher, feedback=feedback, pref=parse_overrides(pref or []),
            env_kwargs=parse_overrides(env_kwargs or []),
        )
    except errors as exc:
        fail(str(exc))
    _train_online(config, quiet)


def _train_online(config, quiet: bool) -> None:
    """Train a new online run from a ``TrainConfig`` (``pbrl train --env ...`` and ``pbrl train CONFIG``)."""
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.agents.online.hyperparams import HyperparameterError
    from pbrl.runs.config import ConfigError, algorithm_of
    from pbrl.runs.folder import RunExistsError, RunLockedError, RunsDirError
    from pbrl.rewards.source import RewardProgramError
    from pbrl.runs.train import prepare, train as train_run

    errors = (ConfigError, HyperparameterError, RunExistsError, RunLockedError, RunsDirError, CheckpointError, FileNotFoundError)
    path = None
    try:
        resolved, path = prepare(config)  # every check, before any work
        cfg = resolved["config"]
        config.name, total = cfg["name"], cfg["steps"]
        algorithm = algorithm_of(cfg["agent"], resolved.get("reward"))
        reward = f"learned from {cfg['feedback']:,} labels of the {cfg['teacher']} teacher" if cfg["reward"] == "learned" else f"{cfg['reward']} reward"
        say_plan(f"{algorithm} on {cfg['env']} ({reward}), seed {cfg['seed']}", algorithm, total, path)
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
_CONTROL_PARAMS = {"ctx", "config_file", "set_", "resume", "list_hp", "quiet", "hp_file"}


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
        given[name] = parse_overrides(value or []) if name in ("hp", "pref", "env_kwargs") else value
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
    if ctx.params.get("hp_file"):
        fail("--hp-file goes with --env; with CONFIG, put the hyperparameters in the file's hp table (or --set hp.KEY=VALUE)")
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
    recording = f", then one recorded to {video}" if video else ""
    err.print(f"evaluating {run}: {episodes} episode(s) at once with deterministic actions{recording}", markup=False, soft_wrap=True)
    if is_offline_run(run):
        from .offline_cmd import evaluate_offline

        return evaluate_offline(run, episodes, seed, video, as_json)
    try:
        with phases.listening(phase_printer(every=5.0)):
            result = evaluate_run(run, episodes=episodes, seed=seed, video=video)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except RuntimeError as exc:  # rendering unavailable
        fail(f"video: {exc}")
    print_evaluation(run, result, f"{result['num_timesteps']:,} env steps", as_json)
