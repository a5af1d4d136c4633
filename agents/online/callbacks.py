"""The training callback: pbrl's tags, periodic evaluation, checkpoints, progress.

One SB3 callback for PPO and SAC. It logs through the model's SB3 logger (the
run layer points it at TensorBoard and ``metrics.jsonl``), with x = env steps:

* ``rollout/true_return``, ``rollout/learned_return``, ``reward_terms/<name>``
  (and ``reward_source/<name>`` for a source that reports terms): means over the
  most recent finished training episodes (per-episode totals);
* ``eval/return``, ``eval/normalized_score``, ``eval/success_rate`` every
  ``eval_freq`` env steps, on fresh seeds;
* SB3's own ``train/<loss>`` and ``time/fps``.

Evaluation and checkpoints happen at the start of a rollout, i.e. right after a
policy update, so a checkpoint never cuts a PPO rollout in half.

A callback writes its row with :func:`log_row`, which leaves what SB3 has recorded
(a PPO update's ``train/*``, ``rollout/*``) for SB3's own next dump: each tag is
written once per env step, and ``train/*`` always at the step SB3 dumps it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from .base import OnlineAgent


def log_row(logger: Logger, values: Mapping[str, Any], step: int) -> None:
    """Write ``values`` as one row at env step ``step``; what else is recorded waits for the next dump.

    ``logger.dump`` writes everything recorded since the last dump: from a callback that
    would put a PPO update's ``train/*`` at this step as well as at the step SB3's own
    dump writes the previous update's, i.e. the same tag twice at one step.
    """
    pending = (dict(logger.name_to_value), dict(logger.name_to_count), dict(logger.name_to_excluded))
    logger.name_to_value.clear()
    logger.name_to_count.clear()
    logger.name_to_excluded.clear()
    try:
        for key, value in values.items():
            logger.record(key, value)
        logger.dump(step=step)
    finally:
        logger.name_to_value.update(pending[0])
        logger.name_to_count.update(pending[1])
        logger.name_to_excluded.update(pending[2])


class TrainingCallback(BaseCallback):
    """Log pbrl's tags, evaluate and checkpoint on a schedule of env steps.

    Args:
        agent: the agent being trained.
        eval_freq: env steps between evaluations (0: none during training).
        eval_episodes: episodes per evaluation (run in one batch).
        checkpoint_freq: env steps between checkpoints (0: none during training).
        checkpoint: called to write a checkpoint.
        log_freq: env steps between log dumps (SAC; PPO dumps after each update).
        progress: called with (env steps, latest metrics) after every vector step.
        on_eval: called with each evaluation's :class:`~pbrl.evaluation.EvalResult`.
    """

    def __init__(
        self,
        agent: OnlineAgent,
        eval_freq: int = 0,
        eval_episodes: int = 10,
        checkpoint_freq: int = 0,
        checkpoint: Callable[[], object] | None = None,
        log_freq: int = 0,
        progress: Callable[[int, dict], None] | None = None,
        on_eval: Callable[[object], None] | None = None,
    ):
        super().__init__()
        self.agent = agent
        self.eval_freq = int(eval_freq)
        self.eval_episodes = int(eval_episodes)
        self.checkpoint_freq = int(checkpoint_freq)
        self.checkpoint_fn = checkpoint
        self.log_freq = int(log_freq)
        self.progress = progress
        self.on_eval = on_eval
        self.latest: dict[str, float] = {}
        self._seen_episodes = 0

    @staticmethod
    def _next(now: int, freq: int) -> int:
        return (now // freq + 1) * freq if freq > 0 else -1

    def _on_training_start(self) -> None:
        n = self.model.num_timesteps
        self._next_eval = self._next(n, self.eval_freq)
        self._next_ckpt = self._next(n, self.checkpoint_freq)
        self._next_log = self._next(n, self.log_freq)
        self._seen_episodes = self.agent.reward_env.episodes_finished
        self._window = max(10, self.agent.env.num_envs)

    def _on_step(self) -> bool:
        wrapper = self.agent.reward_env
        if wrapper.episodes_finished != self._seen_episodes:
            self._seen_episodes = wrapper.episodes_finished
            stats = wrapper.rollout_stats(last=self._window)
            for key, value in stats.items():
                self.logger.record(key, value)
            self.latest.update(stats)
        if self.log_freq > 0 and self.agent.algo == "sac" and self.model.num_timesteps >= self._next_log:
            self._next_log = self._next(self.model.num_timesteps, self.log_freq)
            self.model.dump_logs()
        if self.progress is not None:
            self.progress(self.model.num_timesteps, self.latest)
        return True

    def _on_rollout_start(self) -> None:
        n = self.model.num_timesteps
        if self.eval_freq > 0 and n >= self._next_eval:
            self._next_eval = self._next(n, self.eval_freq)
            self.evaluate()
        if self.checkpoint_freq > 0 and n >= self._next_ckpt and self.checkpoint_fn is not None:
            self._next_ckpt = self._next(n, self.checkpoint_freq)
            self.checkpoint_fn()

    def evaluate(self):
        """Evaluate now, log ``eval/*`` at the current env step, and return the result."""
        result = self.agent.evaluate(self.eval_episodes)
        metrics = result.metrics()
        self.latest.update(metrics)
        log_row(self.logger, metrics, self.model.num_timesteps)
        if self.on_eval is not None:
            self.on_eval(result)
        return result
