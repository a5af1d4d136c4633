"""Evaluation: batched evaluation on fresh seeds, normalized scores.

Numpy only: a policy is any ``(N, obs_dim) -> (N, act_dim)`` callable, so online
and offline agents (and scripted policies) are evaluated the same way.
"""

from .evaluate import EvalResult, eval_seed, evaluate_policy, fresh_seed, record_video

__all__ = ["EvalResult", "eval_seed", "evaluate_policy", "fresh_seed", "record_video"]
