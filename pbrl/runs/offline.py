"""Offline runs: train, resume and re-evaluate offline agents in run folders.

The same layout, files and TensorBoard tags as online runs
(``runs/<task>/<agent>/<name>-s<seed>/`` with ``config.json``, ``metrics.jsonl``,
TensorBoard events, ``checkpoints/`` and ``summary.json``); the x axis is gradient
steps. ``config.json`` has ``"kind": "offline"``, the dataset (id, size, reference
scores) and the preference store.

``train(OfflineTrainConfig(agent="iql", dataset="pbrl/hopper/medium-replay-v0"))``
checks everything before any work, loads the data (and fits P-IQL's reward model)
before creating the folder, trains with evaluation every ``eval_freq`` steps and
checkpoints every ``checkpoint_freq`` steps, and ends with a final evaluation, a
checkpoint, the HPARAMS summary and ``summary.json``. ``resume(run_dir)`` continues
from the latest checkpoint (metrics logged after it are dropped, TensorBoard purges
them). ``evaluate_run(run_dir)`` re-evaluates the saved agent on fresh seeds.

Imports torch (the agents) on demand.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from pbrl.settings import Settings, integer, optional, redeclared, setting, string, table


from . import folder as F
from .config import ConfigError, TrainConfig, algorithm_of, check_device, config_from_mapping
from .lifecycle import WallClock, continue_run, new_run_path, resumed_steps, start_run, write_summary

Progress = Callable[[int, dict], None]


@dataclass
class OfflineRunResult:
    """What a finished offline run reports."""

    run_dir: str
    steps: int
    wall_clock: float
    final: dict[str, Any]
    resumed_from: int | None = None


_INT = dict(whole_floats=False)


@dataclass
class OfflineTrainConfig(Settings):
    """One offline training run: every setting below, checked by :meth:`resolve`."""

    what: ClassVar[str] = ""  # messages name the key alone: "steps must be an integer >= 1, got 0"

    agent: str = setting("iql", "bc, iql, piql, cpl, oppo or ipl", check=string)
    dataset: str = setting("", "a local dataset id (pbrl dataset list)", check=string)
    preferences: str | None = setting(None, "a preference store labelled on the dataset (P-IQL, CPL, OPPO, IPL)", check=optional(string))
    env: str | None = setting(None, "the task to evaluate in (default: the dataset's; must have the same spaces)", check=optional(string))
    steps: int | None = setting(None, "gradient steps (default: the agent's steps hyperparameter)", check=optional(integer(1, **_INT)))
    seed: int = setting(0, "run seed", check=integer(0, **_INT))
    hp: dict = setting({}, "hyperparameter overrides (pbrl train --agent iql --list-hp)", check=table)
    runs_dir: str = setting("runs", "root of the run folders: <runs_dir>/<task>/<agent>/<name>-s<seed>", check=string)
    name: str | None = setting(
        None, "run name (default: <agent>-<dataset>, e.g. iql-medium-replay-v0, with -2, -3, ... if taken)", check=optional(string)
    )
    device: str = redeclared(TrainConfig, "device", "cpu")
    eval_freq: int | None = setting(None, "steps between evaluations (default steps / 20; 0: only at the end)", check=optional(integer(0, **_INT)))
    eval_episodes: int = setting(10, "episodes per evaluation, all in one batch", check=integer(1, **_INT))
    checkpoint_freq: int | None = setting(None, "steps between checkpoints (default steps / 10; 0: only at the end)", check=optional(integer(0, **_INT)))
    log_freq: int | None = setting(None, "steps between loss dumps (default min(1000, steps / 100), at least 1)", check=optional(integer(1, **_INT)))
    env_kwargs: dict = setting({}, "task keyword arguments for evaluation", check=table)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "OfflineTrainConfig":
        """Build from a mapping (a config file's table), naming any unknown key."""
        return config_from_mapping(cls, data)

    def resolve(self) -> dict[str, Any]:
        """Check everything (no side effects) and return the resolved config (what ``config.json`` saves).

        Raises:
            ConfigError: naming the offending key or value.
        """
        from pbrl.agents.registry import UnknownAgentError, offline_agent_class
        from pbrl.datasets import DatasetError, read_metadata, task_of

        self.check_fields()
        if self.name is not None:
            try:
                F.check_name(self.name)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        try:
            cls = offline_agent_class(self.agent)
        except UnknownAgentError as exc:
            raise ConfigError(str(exc)) from None
        if not self.dataset:
            raise ConfigError(f"{self.agent} is an offline agent: give a dataset (--dataset ID; `pbrl dataset list` shows them)")
        try:
            meta = read_metadata(self.dataset)
            dataset_task = task_of(self.dataset, meta)
        except DatasetError as exc:
            raise ConfigError(str(exc)) from None
        task = self.env or dataset_task
        from pbrl.envs import TASKS

        if task not in TASKS:
            raise ConfigError(f"env {task!r} is not a registered pbrl task ({', '.join(sorted(TASKS))})")
        hyperparams = cls.Config.from_dict(self.hp).to_dict()  # raises ConfigError naming the key
        needs = cls.uses_preferences
        if self.preferences is None and needs == "required":
            raise ConfigError(
                f"{self.agent} learns from preferences: give --preferences STORE (labels on {self.dataset!r}; "
                f"make them with `pbrl dataset label {self.dataset} --store STORE`)"
            )
        if self.preferences is not None:
            if needs == "none":
                raise ConfigError(f"{self.agent} does not learn from preferences; drop --preferences")
            if not os.path.isfile(self.preferences):
                raise ConfigError(f"preference store {self.preferences!r} does not exist")
        device = check_device(self.device)
        steps = int(self.steps if self.steps is not None else hyperparams["steps"])
        hyperparams["steps"] = steps  # the horizon of learning-rate schedules
        resolved = self.to_dict()
        resolved.update(
            env=task,
            device=device,
            steps=steps,
            name=self.name or F.descriptive_name([self.agent, self.dataset.rsplit("/", 1)[-1]], self.runs_dir, task, self.agent, self.seed),
            preferences=None if self.preferences is None else os.path.abspath(self.preferences),
            eval_freq=int(self.eval_freq if self.eval_freq is not None else max(steps // 20, 1)),
            checkpoint_freq=int(self.checkpoint_freq if self.checkpoint_freq is not None else max(steps // 10, 1)),
            log_freq=int(self.log_freq if self.log_freq is not None else max(1, min(1000, steps // 100))),
        )
        dataset = {
            "id": self.dataset,
            "task": dataset_task,
            "episodes": meta.get("total_episodes"),
            "steps": meta.get("total_steps"),
            "ref_min_score": meta.get("ref_min_score"),
            "ref_max_score": meta.get("ref_max_score"),
            "level": (meta.get("pbrl") or {}).get("level"),
        }
        return {"config": resolved, "hyperparams": hyperparams, "dataset": dataset}


def is_offline_run(run_dir: str) -> bool:
    """Whether ``run_dir`` holds an offline run (``config.json`` of kind ``offline``)."""
    try:
        return F.load_run_config(run_dir).get("kind") == "offline"
    except (FileNotFoundError, ValueError):
        return False


def _make_agent(resolved: dict, checkpoint: str | None = None):
    from pbrl.agents.registry import offline_agent_class

    cfg = resolved["config"]
    cls = offline_agent_class(cfg["agent"])
    # the saved hyperparameters: a resume with more --steps keeps the schedules' horizon
    return cls.for_dataset(
        cfg["dataset"], resolved["hyperparams"], preferences=cfg["preferences"], task=cfg["env"], seed=cfg["seed"], device=cfg["device"],
        env_kwargs=cfg["env_kwargs"], checkpoint=checkpoint,
    )  # fmt: skip


def _dataset_score(resolved: dict, returns) -> float | None:
    ds = resolved.get("dataset", {})
    low, high = ds.get("ref_min_score"), ds.get("ref_max_score")
    if low is None or high is None or high == low:
        return None
    import numpy as np

    return float(np.mean(100.0 * (np.asarray(returns) - low) / (high - low)))


def _run(agent, resolved: dict, run_dir: str, progress: Progress | None, purge_step: int | None, wall_before: float, resumed_from: int | None) -> OfflineRunResult:
    from pbrl.agents.offline._loop import train as train_loop

    from .tblog import flat_hparams, log_hparams, make_logger

    cfg = resolved["config"]
    logger = make_logger(run_dir, purge_step)
    ckpt_root = os.path.join(run_dir, F.CHECKPOINTS)
    wall = WallClock(wall_before)
    latest: dict[str, float] = {}

    def sink(step: int, metrics: Mapping[str, float]) -> None:
        metrics = dict(metrics)
        if "eval/return" in metrics and agent.last_eval is not None:
            score = _dataset_score(resolved, agent.last_eval[1].returns)
            if score is not None:
                metrics["eval/dataset_normalized_score"] = score
        latest.update(metrics)
        for key, value in metrics.items():
            logger.record(key, value)
        logger.dump(step=step)
        if "eval/return" in metrics:
            _write_summary(run_dir, "running", agent.step, wall(), latest)

    def checkpoint() -> None:
        agent.save(ckpt_root, extra={"wall_clock_s": wall()})

    try:
        try:
            train_loop(
                agent, cfg["steps"], eval_every=cfg["eval_freq"], eval_episodes=cfg["eval_episodes"], log_every=cfg["log_freq"],
                checkpoint_every=cfg["checkpoint_freq"], checkpoint=checkpoint, sink=sink, progress=progress,
            )  # fmt: skip
            if agent.last_eval is None or agent.last_eval[0] != agent.step:
                sink(agent.step, agent.evaluate(cfg["eval_episodes"]).metrics())
        except BaseException:
            _write_summary(run_dir, "interrupted", agent.step, wall(), latest)
            raise
        final = agent.last_eval[1].to_dict()
        score = _dataset_score(resolved, final["returns"])
        if score is not None:
            final["dataset_normalized_score"] = score
        checkpoint()
        hparams = flat_hparams({**cfg, "dataset": cfg["dataset"]}, resolved["hyperparams"])
        hparams["agent"] = algorithm_of(cfg["agent"])
        hparams["dataset"] = cfg["dataset"]
        metrics = {k: v for k, v in latest.items() if k.startswith(("eval/", "reward_model/"))}
        log_hparams(logger, agent.step, hparams, metrics)
        _write_summary(run_dir, "complete", agent.step, wall(), latest, final)
    finally:
        logger.close()
    return OfflineRunResult(run_dir, agent.step, wall(), final, resumed_from)


def _write_summary(run_dir: str, status: str, step: int, wall_clock: float, latest: dict, final: dict | None = None) -> None:
    write_summary(run_dir, status, {"kind": "offline", "gradient_steps": int(step)}, wall_clock, latest, final)


def prepare(config: OfflineTrainConfig) -> tuple[dict, str]:
    """Check ``config`` (no side effects) and return (resolved config, run folder path)."""
    resolved = config.resolve()
    return resolved, new_run_path(resolved["config"])


def train(config: OfflineTrainConfig, progress: Progress | None = None, on_start: Callable[[str], None] | None = None) -> OfflineRunResult:
    """Train a new offline run: every check before the folder is created; the folder is removed if
    the agent cannot be built (data, preferences, reward model)."""
    from pbrl.envs import cards

    resolved, path = prepare(config)
    card = cards().get(resolved["config"]["env"])
    wall = WallClock()
    # the folder first, so its path is shown before a long preparation (a reward model's fit)
    resolved = start_run(path, resolved, card.to_dict() if card is not None else None, kind="offline", on_start=on_start)
    try:
        agent = _make_agent(resolved)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # nothing was trained: no half-made run folder is left
        raise
    with F.RunLock(path):
        return _run(agent, resolved, path, progress, None, wall(), None)  # the wall-clock counts the preparation


def resume(run_dir: str, steps: int | None = None, progress: Progress | None = None, on_start: Callable[[str], None] | None = None) -> OfflineRunResult:
    """Continue an offline run from its latest checkpoint (or from scratch if it has none) up to ``steps``."""
    from pbrl.agents.checkpoint import latest_checkpoint

    resolved = F.load_run_config(run_dir)
    if resolved.get("kind") != "offline":
        raise ConfigError(f"{run_dir} is not an offline run")
    cfg = resolved["config"]
    resumed_steps(cfg, steps)
    # a damaged config.json is named, key by key, before anything reads it
    F.check_saved(cfg, run_dir, "config", ints=("seed", "steps", "eval_freq", "eval_episodes", "checkpoint_freq", "log_freq"),
                  strings=("env", "agent", "dataset", "device", "name"), tables=("env_kwargs",))  # fmt: skip
    F.saved_table(resolved, run_dir, "hyperparams")
    if cfg.get("preferences", "") is not None:
        F.check_saved(cfg, run_dir, "config", strings=("preferences",))
    # the saved config is re-checked (dataset still there, hyperparameters still valid)
    check = {k: v for k, v in cfg.items() if k in {f.name for f in dataclasses.fields(OfflineTrainConfig)}}
    try:
        OfflineTrainConfig.from_dict(dict(check, hp=resolved["hyperparams"])).resolve()
    except ConfigError as exc:
        raise ConfigError(f"{os.path.join(run_dir, F.CONFIG)}: {exc}") from None
    with F.RunLock(run_dir):
        folder = latest_checkpoint(os.path.join(run_dir, F.CHECKPOINTS))
        agent = _make_agent(resolved, checkpoint=folder)
        step = agent.step
        wall_before = 0.0
        if folder is not None:
            _, state = agent.read(folder)
            wall_before = float(state.get("run", {}).get("wall_clock_s", 0.0))
        continue_run(run_dir, resolved, step, steps, on_start)
        return _run(agent, resolved, run_dir, progress, step, wall_before, step)


def evaluate_run(run_dir: str, episodes: int = 10, seed: int | None = None, video: str | None = None) -> dict[str, Any]:
    """Re-evaluate an offline run's latest checkpoint on fresh seeds; optionally record one episode."""
    from pbrl.agents.registry import offline_agent_class
    from pbrl.evaluation import fresh_seed, record_video

    resolved = F.load_run_config(run_dir)
    cfg = resolved["config"]
    cls = offline_agent_class(cfg["agent"])
    agent = cls.from_checkpoint(os.path.join(run_dir, F.CHECKPOINTS), device=cfg["device"])
    seed = fresh_seed() if seed is None else int(seed)
    result = agent.evaluate(episodes, seed=seed).to_dict()
    score = _dataset_score(resolved, result["returns"])
    if score is not None:
        result["dataset_normalized_score"] = score
    result["gradient_steps"] = agent.step
    result["checkpoint"] = os.path.abspath(os.path.join(run_dir, F.CHECKPOINTS))
    if video:
        result["video"] = record_video(agent.act, cfg["env"], video, seed=seed, env_kwargs=cfg["env_kwargs"])
    out_dir = os.path.join(run_dir, "evaluations")
    os.makedirs(out_dir, exist_ok=True)
    F.write_json(os.path.join(out_dir, f"eval-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}.json"), result)
    return result


__all__ = ["OfflineRunResult", "OfflineTrainConfig", "evaluate_run", "is_offline_run", "prepare", "resume", "train"]
