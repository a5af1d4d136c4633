"""Rough durations said up front by long commands (dataset generation, sweeps, synthesis), from
speeds recorded on 2 cores in BENCHMARKS.md: an estimate, never a promise.

Recorded speeds, env steps per second: SAC ~160 (time-to-score.sac-faster at ba6cebb: HalfCheetah
35k steps in 221 s, Hopper 170k in 1 063 s, evaluations included); PPO ~2 000 (ppo-1m.hopper: a
1M-step Hopper run in ~8 min on a quiet machine). Collection: 27 700 (datasets.collect-batched-faster:
a random policy on HalfCheetah, N = 64); a policy network is slower, so that time is a floor.
Offline agents and learned rewards have no recorded rate here: :func:`training_seconds` gives None.
"""

from __future__ import annotations

TRAIN_STEPS_PER_S = {"sac": 160.0, "ppo": 2000.0}
COLLECT_STEPS_PER_S = 27_700.0
PREFIX = "estimate (rough, from speeds recorded on 2 cores in BENCHMARKS.md; this machine's may differ): "

__all__ = ["COLLECT_STEPS_PER_S", "PREFIX", "TRAIN_STEPS_PER_S", "duration", "training_seconds"]


def duration(seconds: float) -> str:
    """``"under a minute"``, ``"~7 min"``, ``"~2.5 h"``."""
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"~{round(seconds / 60)} min"
    return f"~{seconds / 3600:.1f} h"


def training_seconds(algorithm: str, steps: int) -> float | None:
    """Seconds to train ``algorithm`` (``ppo``/``sac``) for ``steps`` env steps on one core pair; None when no
    speed is recorded for it (offline agents; PrefPPO/PEBBLE, whose reward-model updates add time)."""
    rate = TRAIN_STEPS_PER_S.get(algorithm.lower())
    return None if rate is None else steps / rate
