"""Fitness: the task metric a synthesized reward is judged by, measured by trusted code.

Eureka scores each candidate reward by the task's own metric, not by the reward it
was trained on. :func:`task_metric` reads the metric off the task card:

* ``success`` — tasks whose card defines success (Reacher): the fraction of an
  episode's steps on which ``info["success"]`` holds (time at the goal), in [0, 1];
* ``progress`` — tasks with an ``x_velocity`` quantity (HalfCheetah, Hopper, Ant,
  Walker2d, Swimmer): metres moved in +x over the episode, ``Σ x_velocity · dt``;
* ``return`` — otherwise (InvertedPendulum): the task's own episode return.

:func:`evaluate_fitness` runs a policy on fresh-seeded episodes, all in one batch,
and measures the metric, the true return and the normalized score. It only runs a
policy (weights loaded by ``weights.py``), never reward-program code, so it is run
by trusted processes (``evaluator.py``). :class:`EpisodeScores` accumulates the
metric step by step; the sandboxed worker uses it too, for the training curves
that the reflection feeds back (those figures are reported by the worker, so they
are never used as fitness).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["EpisodeScores", "FitnessResult", "TaskMetric", "evaluate_fitness", "task_metric"]


@dataclass(frozen=True)
class TaskMetric:
    """How a task's fitness is measured.

    Args:
        name: ``"success"``, ``"progress"`` or ``"return"``.
        description: one line for prompts, reports and BENCHMARKS.md.
        unit: unit of one episode's score.
    """

    name: str
    description: str
    unit: str


def task_metric(card: Any) -> TaskMetric:
    """The fitness metric of a task card (see the module docstring)."""
    if card.success is not None:
        return TaskMetric("success", f"fraction of steps on which {card.success}", "fraction of steps")
    if "x_velocity" in card.quantities:
        return TaskMetric("progress", "distance moved forward (+x) over the episode", "m")
    return TaskMetric("return", "the task's own episode return", "return")


class EpisodeScores:
    """Per-sub-env accumulators of the task metric, the true return and the length.

    Args:
        metric: the task metric.
        num_envs: N, the batch size.
        dt: the env's control time step (s), for ``progress``.
    """

    def __init__(self, metric: TaskMetric, num_envs: int, dt: float):
        self.metric = metric
        self.dt = float(dt)
        self.value = np.zeros(num_envs)
        self.ret = np.zeros(num_envs)
        self.length = np.zeros(num_envs, dtype=np.int64)
        self.success = np.zeros(num_envs, dtype=bool)

    def step(self, info: Mapping[str, Any], reward: np.ndarray, active: np.ndarray | None = None) -> None:
        """Add one vector step (``active``: rows that belong to a running episode)."""
        n = self.value.shape[0]
        active = np.ones(n, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        reward = np.asarray(reward, dtype=np.float64)
        self.ret += np.where(active, reward, 0.0)
        self.length += active
        if self.metric.name == "success":
            ok = np.asarray(info.get("success", np.zeros(n, dtype=bool)), dtype=bool)
            self.value += np.where(active, ok, 0.0)
            self.success = np.where(active, ok, self.success)
        elif self.metric.name == "progress":
            self.value += np.where(active, np.asarray(info["x_velocity"], dtype=np.float64) * self.dt, 0.0)
        else:
            self.value += np.where(active, reward, 0.0)

    def scores(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The metric of the episodes in rows ``ids`` (all rows by default)."""
        ids = slice(None) if ids is None else ids
        if self.metric.name == "success":
            return self.value[ids] / np.maximum(self.length[ids], 1)
        return self.value[ids].copy()

    def reset(self, ids: np.ndarray) -> None:
        """Start new episodes in rows ``ids``."""
        self.value[ids] = 0.0
        self.ret[ids] = 0.0
        self.length[ids] = 0
        self.success[ids] = False


@dataclass
class FitnessResult:
    """A trusted evaluation: the task metric (the fitness) and the task's own return."""

    task: str
    metric: str
    fitness: float
    fitness_std: float
    scores: list[float]
    returns: list[float]
    lengths: list[int]
    return_mean: float
    normalized_score: float
    success_rate: float | None
    episodes: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_fitness(
    predict: Callable[[np.ndarray], np.ndarray],
    task: str,
    episodes: int,
    seed: int,
    env_kwargs: Mapping[str, Any] | None = None,
    record: list | None = None,
) -> FitnessResult:
    """Run ``episodes`` episodes of ``predict`` at once and measure the task metric.

    Args:
        predict: raw observations (N, obs_dim) -> actions (N, act_dim), deterministic.
        task: pbrl task id.
        episodes: episodes, one sub-env each.
        seed: sub-env i resets with ``seed + i`` (draw it fresh: ``pbrl.evaluation.fresh_seed``).
        env_kwargs: task keyword arguments.
        record: a list to append the episodes' :class:`~pbrl.synthesis.rollouts.Rollouts` to
            (ICPL's comparisons and the reward-hacking check use them); None records nothing.
    """
    import gymnasium as gym

    import pbrl.envs  # noqa: F401  (registers the tasks)
    from pbrl.datasets.collect import qpos_qvel
    from pbrl.rewards.source import transition_info

    from .rollouts import EpisodeRecorder

    env = gym.make_vec(task, num_envs=int(episodes), vectorization_mode="vector_entry_point", **dict(env_kwargs or {}))
    try:
        base = env.unwrapped
        card = base.card
        metric = task_metric(card)
        n = env.num_envs
        scores = EpisodeScores(metric, n, base.engine.dt)
        obs, _ = env.reset(seed=int(seed))
        alive = np.ones(n, dtype=bool)
        limit = base.max_episode_steps or card.max_episode_steps
        recorder = EpisodeRecorder(n, list(card.quantities), int(limit)) if record is not None else None
        for _ in range(int(limit)):
            actions = np.asarray(predict(obs))
            state = qpos_qvel(env) if recorder is not None else None
            prev = obs
            obs, reward, terminated, truncated, info = env.step(actions)
            scores.step(info, reward, alive)
            if recorder is not None:
                step_info = transition_info(getattr(base, "last_step_info", None) or info)
                recorder.step(prev, actions, obs, reward, step_info, alive, state)
            alive &= ~(terminated | truncated)
            if not alive.any():
                break
        if recorder is not None:
            record.append(recorder.rollouts())
    finally:
        env.close()
    values = scores.scores()
    returns = scores.ret
    return FitnessResult(
        task=task,
        metric=metric.name,
        fitness=float(values.mean()),
        fitness_std=float(values.std()),
        scores=values.tolist(),
        returns=returns.tolist(),
        lengths=scores.length.tolist(),
        return_mean=float(returns.mean()),
        normalized_score=float(np.mean(card.normalized_score(returns))),
        success_rate=float(scores.success.mean()) if metric.name == "success" else None,
        episodes=n,
        seed=int(seed),
    )
