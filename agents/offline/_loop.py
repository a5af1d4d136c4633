"""The offline training loop: gradient steps, with logging, evaluation and checkpoints every K steps.

``train(agent, total_steps, eval_every=..., log_every=..., checkpoint_every=...)`` runs
the agent's gradient steps in stretches between "boundaries" — the next multiple
of ``log_every``, ``eval_every`` or ``checkpoint_every`` — so the hot loop is nothing
but ``agent.train_step()``. At a log boundary the losses accumulated on the device
are read once (``train/<loss>``) with ``time/fps`` (gradient steps per second of
training, evaluation excluded); at an evaluation boundary the deterministic policy
runs ``eval_episodes`` fresh-seeded episodes in parallel on the batched env
(``eval/return``, ``eval/normalized_score``, ``eval/success_rate``); at a checkpoint
boundary ``checkpoint()`` is called. Metrics go to ``sink(step, metrics)`` with
x = gradient steps, as pbrl's design asks of offline agents.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

Sink = Callable[[int, Mapping[str, float]], None]
Progress = Callable[[int, Mapping[str, float]], None]


def _next_boundary(step: int, every: int) -> int | None:
    if not every or every <= 0:
        return None
    return (step // every + 1) * every


def train(
    agent: Any,
    total_steps: int,
    *,
    eval_every: int = 0,
    eval_episodes: int = 10,
    log_every: int = 1000,
    checkpoint_every: int = 0,
    checkpoint: Callable[[], Any] | None = None,
    sink: Sink | None = None,
    progress: Progress | None = None,
    final_eval: bool = False,
) -> dict[str, float]:
    """Train ``agent`` until ``agent.step == total_steps``; returns the latest metrics.

    Args:
        agent: an :class:`~.base.OfflineAgent` that has been set up on data.
        total_steps: the step to stop at (counting steps done before a resume).
        eval_every: gradient steps between evaluations (0: none).
        eval_episodes: episodes per evaluation, run as one batch.
        log_every: gradient steps between loss dumps.
        checkpoint_every: gradient steps between ``checkpoint()`` calls (0: none).
        checkpoint: writes a checkpoint (e.g. ``lambda: agent.save(root)``).
        sink: receives ``(step, metrics)`` at every dump.
        progress: called with ``(step, latest metrics)`` after every stretch.
        final_eval: evaluate once more at the end unless the last step just was.
    """
    latest: dict[str, float] = {}
    total_steps = int(total_steps)

    def emit(metrics: Mapping[str, float]) -> None:
        latest.update(metrics)
        if sink is not None and metrics:
            sink(agent.step, dict(metrics))

    def flush_pending() -> None:
        if agent.pending_metrics:
            emit(agent.pending_metrics)
            agent.pending_metrics = {}

    flush_pending()
    last_eval = None
    log_from, clock = agent.step, 0.0  # steps and training seconds since the last loss dump
    while agent.step < total_steps:
        marks = [_next_boundary(agent.step, every) for every in (log_every, eval_every, checkpoint_every)]
        stop = min([total_steps] + [m for m in marks if m is not None])
        t0 = time.perf_counter()
        for _ in range(stop - agent.step):
            agent.train_step()
        dump = bool(log_every) and (agent.step % log_every == 0 or agent.step == total_steps)
        losses = agent.pop_losses() if dump else {}  # the one host sync of the stretch
        clock += time.perf_counter() - t0
        if dump:
            losses["time/fps"] = (agent.step - log_from) / clock if clock > 0 else 0.0
            log_from, clock = agent.step, 0.0
            emit(losses)
        if eval_every and agent.step % eval_every == 0:
            emit(agent.evaluate(eval_episodes).metrics())
            last_eval = agent.step
        if checkpoint is not None and checkpoint_every and agent.step % checkpoint_every == 0:
            checkpoint()
        flush_pending()
        if progress is not None:
            progress(agent.step, latest)
    if final_eval and last_eval != agent.step:
        emit(agent.evaluate(eval_episodes).metrics())
    return latest


__all__ = ["train"]
