"""Train, resume and re-evaluate online runs in their run folders.

``train(config)`` checks the config, creates ``runs/<task>/<agent>/<name>-s<seed>/``
exclusively, saves the resolved config, trains with periodic evaluation and
checkpoints, and ends with a final evaluation, a checkpoint, the HPARAMS summary
and ``summary.json``. ``resume(run_dir)`` continues from the latest checkpoint.
``evaluate_run(run_dir)`` re-evaluates the saved agent on fresh seeds.

Imports the agents (torch).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable


from . import folder as F
from .config import ConfigError, TrainConfig, algorithm_of
from .lifecycle import WallClock, continue_run, new_run_path, resumed_steps, start_run, write_summary

Progress = Callable[[int, dict], None]
#: final metrics of a --reward learned run shown next to the hyperparameters
_PREFERENCE_METRICS = ("reward_model/accuracy", "reward_model/correlation", "feedback/labels", "feedback/queries")


@dataclass
class RunResult:
    """What a finished (or resumed and finished) run reports."""

    run_dir: str
    num_timesteps: int
    wall_clock: float
    final: dict[str, Any]
    resumed_from: int | None = None


def _make_agent(resolved: dict, run_dir: str):
    from pbrl.agents import make_agent
    from pbrl.rewards.source import make_reward_source

    cfg = resolved["config"]
    if cfg["reward"] == "learned":  # PrefPPO (ppo) / PEBBLE (sac): labels go to the run's preference store
        from pbrl.agents import make_preference_agent
        from pbrl.agents.preference.loop import STORE_NAME

        return make_preference_agent(
            cfg["agent"],
            cfg["env"],
            resolved["hyperparams"],
            preference=resolved["preference"],
            teacher=cfg["teacher"],
            feedback=resolved["reward"]["feedback"],
            store_path=os.path.join(run_dir, STORE_NAME),
            seed=cfg["seed"],
            device=cfg["device"],
            env_kwargs=cfg["env_kwargs"],
            run_id=os.path.basename(os.path.normpath(run_dir)),
        )
    return make_agent(
        cfg["agent"],
        cfg["env"],
        resolved["hyperparams"],
        seed=cfg["seed"],
        device=cfg["device"],
        reward_source=make_reward_source(cfg["reward"]),
        env_kwargs=cfg["env_kwargs"],
    )


def _write_summary(run_dir: str, status: str, agent, wall_clock: float, latest: dict, final: dict | None = None) -> None:
    write_summary(run_dir, status, {"num_timesteps": agent.num_timesteps}, wall_clock, latest, final)


def _run(agent, resolved: dict, run_dir: str, progress: Progress | None, purge_step: int | None, wall_before: float, resumed_from: int | None) -> RunResult:
    from pbrl.agents.online.callbacks import TrainingCallback

    from .tblog import flat_hparams, log_hparams, make_logger

    cfg = resolved["config"]
    logger = make_logger(run_dir, purge_step)
    agent.model.set_logger(logger)
    ckpt_root = os.path.join(run_dir, F.CHECKPOINTS)
    wall = WallClock(wall_before)

    def checkpoint() -> None:
        agent.save(ckpt_root, extra={"wall_clock_s": wall()})

    callback = TrainingCallback(
        agent,
        eval_freq=cfg["eval_freq"],
        eval_episodes=cfg["eval_episodes"],
        checkpoint_freq=cfg["checkpoint_freq"],
        checkpoint=checkpoint,
        log_freq=max(1000, cfg["steps"] // 200),
        progress=progress,
        on_eval=lambda result: _write_summary(run_dir, "running", agent, wall(), callback.latest),
    )
    loop = getattr(agent, "preference_loop", None)  # --reward learned: PrefPPO / PEBBLE run it in learn()
    try:
        try:
            agent.learn(cfg["steps"], callback=callback)
        except BaseException:
            _write_summary(run_dir, "interrupted", agent, wall(), callback.latest)
            raise
        if getattr(callback, "model", None) is None:  # learn() had nothing left to do
            callback.init_callback(agent.model)
        final = callback.evaluate()
        checkpoint()
        metrics = {k: v for k, v in callback.latest.items() if k.startswith(("eval/", "rollout/"))}
        hparams = flat_hparams(cfg, resolved["hyperparams"])
        hparams["agent"] = algorithm_of(cfg["agent"], resolved["reward"])  # PrefPPO / PEBBLE, not ppo / sac
        final_dict = final.to_dict()
        if loop is not None:
            loop.save_reward_model(run_dir)
            metrics.update({k: v for k, v in loop.last_metrics.items() if k in _PREFERENCE_METRICS})
            hparams.update({"teacher": cfg["teacher"], "feedback": resolved["reward"]["feedback"]})
            hparams.update({f"pref/{k}": v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in resolved["preference"].items()})
            final_dict["feedback"] = loop.summary()
        log_hparams(logger, agent.num_timesteps, hparams, metrics)
        _write_summary(run_dir, "complete", agent, wall(), callback.latest, final_dict)
    finally:
        logger.close()
        agent.close()
    return RunResult(run_dir, agent.num_timesteps, wall(), final_dict, resumed_from)


def prepare(config: TrainConfig) -> tuple[dict, str]:
    """Check ``config`` (no side effects) and return (resolved config, run folder path)."""
    resolved = config.resolve()
    return resolved, new_run_path(resolved["config"])


def train(config: TrainConfig, progress: Progress | None = None, on_start: Callable[[str], None] | None = None) -> RunResult:
    """Train a new run; raises :class:`ConfigError` / :class:`RunExistsError` before any work."""
    resolved, path = prepare(config)
    agent = _make_agent(resolved, path)  # builds env and model: fails before the folder exists
    try:
        resolved = start_run(path, resolved, agent.card.to_dict(), on_start=on_start)
    except BaseException:
        agent.close()
        raise
    with F.RunLock(path):
        return _run(agent, resolved, path, progress, None, 0.0, None)


def resume(run_dir: str, steps: int | None = None, progress: Progress | None = None, on_start: Callable[[str], None] | None = None) -> RunResult:
    """Continue a run from its latest checkpoint (or from scratch if it has none) up to ``steps`` (default: its config's)."""
    from pbrl.agents.online.base import checkpoint_folder
    from pbrl.agents.checkpoint import CheckpointError

    resolved = F.load_run_config(run_dir)
    cfg = resolved["config"]
    config_path = os.path.join(run_dir, F.CONFIG)
    resumed_steps(cfg, steps)
    # a damaged config.json is named, key by key, before anything reads it
    F.check_saved(cfg, run_dir, "config", ints=("seed", "steps", "eval_freq", "eval_episodes", "checkpoint_freq"),
                  strings=("env", "agent", "reward", "device", "name"), tables=("env_kwargs",))  # fmt: skip
    F.saved_table(resolved, run_dir, "hyperparams")
    if cfg["reward"] == "learned":
        F.check_saved(cfg, run_dir, "config", strings=("teacher",))
        F.saved_table(resolved, run_dir, "preference")
        F.check_saved(F.saved_table(resolved, run_dir, "reward"), run_dir, "reward", ints=("feedback",))
    from pbrl.agents.online.hyperparams import HyperparameterError, check_hyperparams

    # the saved config is re-checked: a hyperparameter file edited since must still agree
    try:
        TrainConfig.from_dict(cfg).resolve()
        check_hyperparams(cfg["agent"], resolved["hyperparams"], where="saved hyperparameter")
        if cfg["reward"] == "learned":
            from pbrl.agents.preference.options import resolve_preference_options

            resolve_preference_options(cfg["agent"], resolved["preference"], resolved["reward"]["feedback"])
    except (ConfigError, HyperparameterError) as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    with F.RunLock(run_dir):
        agent = _make_agent(resolved, run_dir)
        try:
            try:
                folder = checkpoint_folder(run_dir)
            except CheckpointError:
                folder = None
            step, wall_before = 0, 0.0
            if folder is not None:
                state = agent.load(folder)
                step = agent.num_timesteps
                wall_before = float(state.get("extra", {}).get("wall_clock_s", 0.0))
            continue_run(run_dir, resolved, step, steps, on_start)
        except BaseException:
            agent.close()
            raise
        return _run(agent, resolved, run_dir, progress, step, wall_before, step)


def load_agent(run_dir: str, device: str | None = None):
    """A run's online agent with its latest checkpoint loaded (without the replay buffer), to act,
    evaluate or export; returns ``(agent, checkpoint folder)``. PrefPPO / PEBBLE runs come back as
    the PPO / SAC agent their policy is. ``device``: the run's own unless given."""
    from pbrl.agents import make_agent
    from pbrl.agents.online.base import checkpoint_folder

    resolved = F.load_run_config(run_dir)
    cfg = resolved["config"]
    hp = dict(resolved["hyperparams"])
    agent = make_agent(cfg["agent"], cfg["env"], hp, seed=cfg["seed"], device=device or cfg["device"], env_kwargs=cfg["env_kwargs"])
    try:
        folder = checkpoint_folder(run_dir)
        agent.load(folder, load_arrays=False)
    except BaseException:
        agent.close()
        raise
    return agent, folder


def evaluate_run(
    run_dir: str,
    episodes: int = 10,
    seed: int | None = None,
    video: str | None = None,
) -> dict[str, Any]:
    """Re-evaluate a run's latest checkpoint on fresh seeds; optionally record one episode."""
    from pbrl.evaluation import fresh_seed, record_video

    cfg = F.load_run_config(run_dir)["config"]
    agent, folder = load_agent(run_dir)
    try:
        seed = fresh_seed() if seed is None else int(seed)
        result = agent.evaluate(episodes, seed=seed).to_dict()
        result["checkpoint"] = os.path.abspath(folder)
        result["num_timesteps"] = agent.num_timesteps
        if video:
            result["video"] = record_video(agent.predict, cfg["env"], video, seed=seed, env_kwargs=cfg["env_kwargs"])
    finally:
        agent.close()
    out_dir = os.path.join(run_dir, "evaluations")
    os.makedirs(out_dir, exist_ok=True)
    F.write_json(os.path.join(out_dir, f"eval-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}.json"), result)
    return result
