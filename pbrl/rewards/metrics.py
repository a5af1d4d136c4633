"""How good is a learned reward? Label accuracy, correlation and EPIC distance.

Numpy only (no torch), vectorised; reward functions are any callables
``fn(obs, action, next_obs) -> (N,)`` over a batch, or
:class:`~pbrl.rewards.source.RewardSource` objects, which get an empty ``info``
(the synthetic transitions EPIC evaluates have none) — so a source that reads
``info`` (like ``TrueReward``) must be replaced by a function of
``(obs, action, next_obs)`` for EPIC.

* :func:`preference_accuracy` — held-out label accuracy from predicted probabilities.
* :func:`pearson_correlation` / :func:`reward_correlation` — Pearson correlation of the
  learned and the true reward over transitions.
* :func:`epic_distance` — EPIC (Gleave et al., 2021, "Quantifying Differences in
  Reward Functions"): canonicalise each reward so that potential shaping cancels,

  ``C(R)(s, a, s') = R(s, a, s') + E[γ R(s', A, S') − R(s, A, S') − γ R(S, A, S')]``

  with ``S, S' ~ D_S`` and ``A ~ D_A`` independent (the sample-based estimator: the
  expectations are means over ``n_samples`` draws, the same draws for every
  transition), then take the Pearson distance ``√((1 − ρ) / 2)`` of the canonicalised
  rewards over the transitions. It is 0 for rewards equal up to potential shaping
  and positive rescaling, ≤ 1 always, and ≈ 0.71 for unrelated rewards.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .source import RewardSource

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]

__all__ = [
    "RewardFn",
    "canonicalize_rewards",
    "epic_distance",
    "pearson_correlation",
    "pearson_distance",
    "preference_accuracy",
    "reward_correlation",
]


def preference_accuracy(probs: Any, labels: Any) -> float:
    """Accuracy of predicted preferences against labels.

    :param probs: predicted probability that the *second* segment is preferred,
        ``(B,)`` or ``(n_members, B)`` (averaged over members first), e.g. from
        ``model.predict_proba``.
    :param labels: ``(B,)`` labels in {0, 1, 0.5} (1 = second preferred); ties (0.5)
        and skipped pairs (NaN) are not counted.
    :return: the fraction of decisive labels predicted correctly; NaN when there is no
        decisive label.
    :raises ValueError: on mismatched shapes or an empty set.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 2:
        p = p.mean(0)
    y = np.asarray(labels, dtype=np.float64)
    if p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"probs (B,) or (M, B) and labels (B,) must agree; got {np.shape(probs)} and {y.shape}")
    if y.size == 0:
        raise ValueError("no pairs to score (empty set)")
    decisive = (y == 0.0) | (y == 1.0)
    if not decisive.any():
        return float("nan")
    return float(((p[decisive] > 0.5) == (y[decisive] > 0.5)).mean())


def pearson_correlation(x: Any, y: Any) -> float:
    """Pearson correlation of two samples.

    :param x: ``(N,)`` values.
    :param y: ``(N,)`` values.
    :return: ρ in [−1, 1]; NaN when either sample is constant.
    :raises ValueError: on mismatched shapes, fewer than 2 values, or NaN/inf.
    """
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"pearson_correlation: samples of different sizes {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError("pearson_correlation: needs at least 2 values")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("pearson_correlation: the values contain NaN or inf")
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    if denom == 0.0:
        return float("nan")
    return float(np.clip((a * b).sum() / denom, -1.0, 1.0))


def pearson_distance(x: Any, y: Any) -> float:
    """``√((1 − ρ) / 2)``, the Pearson distance of two samples (in [0, 1]).

    :param x: ``(N,)`` values.
    :param y: ``(N,)`` values.
    :return: the distance; NaN when either sample is constant.
    """
    rho = pearson_correlation(x, y)
    return float(np.sqrt(max(0.0, (1.0 - rho) / 2.0))) if np.isfinite(rho) else float("nan")


def _call(fn: RewardFn, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray, name: str) -> np.ndarray:
    if isinstance(fn, RewardSource):
        r = fn(obs, actions, next_obs, {})  # synthetic transitions have no info
    else:
        r = fn(obs, actions, next_obs)
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (obs.shape[0],):
        r = r.reshape(-1) if r.size == obs.shape[0] else r
        if r.shape != (obs.shape[0],):
            raise ValueError(f"{name} returned shape {np.shape(r)} for {obs.shape[0]} transitions; expected (N,)")
    if not np.isfinite(r).all():
        raise FloatingPointError(f"{name} returned NaN or inf rewards for {int((~np.isfinite(r)).sum())} transitions")
    return r


def reward_correlation(
    reward_fn: RewardFn, obs: Any, actions: Any, next_obs: Any, true_rewards: Any
) -> float:
    """Pearson correlation of a (learned) reward with the true reward over transitions.

    :param reward_fn: ``fn(obs, action, next_obs) -> (N,)``.
    :param obs: ``(N, obs_dim)`` observations.
    :param actions: ``(N, act_dim)`` actions.
    :param next_obs: ``(N, obs_dim)`` next observations.
    :param true_rewards: ``(N,)`` the true rewards of these transitions.
    :return: ρ; NaN when either reward is constant.
    """
    o, a, o2 = _transitions(obs, actions, next_obs)
    return pearson_correlation(_call(reward_fn, o, a, o2, "reward_fn"), true_rewards)


def _transitions(obs: Any, actions: Any, next_obs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = np.asarray(obs, dtype=np.float32)
    a = np.asarray(actions, dtype=np.float32)
    o2 = np.asarray(next_obs, dtype=np.float32)
    if o.ndim != 2 or a.ndim != 2 or o2.shape != o.shape or a.shape[0] != o.shape[0]:
        raise ValueError(
            f"transitions must be obs (N, obs_dim), actions (N, act_dim), next_obs (N, obs_dim); "
            f"got {o.shape}, {a.shape}, {o2.shape}"
        )
    if o.shape[0] < 2:
        raise ValueError(f"need at least 2 transitions, got {o.shape[0]}")
    for name, arr in (("obs", o), ("actions", a), ("next_obs", o2)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
    return o, a, o2


def _coverage_samples(
    obs: np.ndarray,
    actions: np.ndarray,
    next_obs: np.ndarray,
    n_samples: int,
    seed: int | np.random.Generator | None,
    state_samples: Any | None,
    action_samples: Any | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_samples`` independent draws ``(S, A, S')`` from the coverage distributions."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    states = np.concatenate([obs, next_obs]) if state_samples is None else np.asarray(state_samples, np.float32)
    acts = actions if action_samples is None else np.asarray(action_samples, np.float32)
    if states.ndim != 2 or states.shape[1] != obs.shape[1] or len(states) == 0:
        raise ValueError(f"state_samples must be (K, obs_dim={obs.shape[1]}), got {states.shape}")
    if acts.ndim != 2 or acts.shape[1] != actions.shape[1] or len(acts) == 0:
        raise ValueError(f"action_samples must be (K, act_dim={actions.shape[1]}), got {acts.shape}")
    s = states[rng.integers(0, len(states), n_samples)]
    a = acts[rng.integers(0, len(acts), n_samples)]
    s2 = states[rng.integers(0, len(states), n_samples)]
    return s, a, s2


def _mean_over_samples(
    fn: RewardFn, first: np.ndarray, a_s: np.ndarray, s2_s: np.ndarray, chunk: int, name: str
) -> np.ndarray:
    """For each row x of ``first``: mean_j R(x, A_j, S'_j)."""
    n, m = first.shape[0], a_s.shape[0]
    rows = max(1, chunk // m)
    out = np.empty(n)
    for i in range(0, n, rows):
        blk = first[i : i + rows]
        k = blk.shape[0]
        r = _call(fn, np.repeat(blk, m, axis=0), np.tile(a_s, (k, 1)), np.tile(s2_s, (k, 1)), name)
        out[i : i + k] = r.reshape(k, m).mean(1)
    return out


def canonicalize_rewards(
    reward_fn: RewardFn,
    obs: Any,
    actions: Any,
    next_obs: Any,
    *,
    gamma: float = 0.99,
    n_samples: int = 256,
    state_samples: Any | None = None,
    action_samples: Any | None = None,
    seed: int | np.random.Generator | None = 0,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """EPIC's canonically shaped reward of each transition (sample-based estimator).

    ``C(R)(s, a, s') = R(s, a, s') + γ·mean_j R(s', A_j, S'_j) − mean_j R(s, A_j, S'_j)
    − γ·mean_j R(S_j, A_j, S'_j)``, with ``(S_j, A_j, S'_j)`` drawn independently from the
    coverage distributions. Potential shaping ``γΦ(s') − Φ(s)`` added to ``R`` changes
    ``C(R)`` only by a constant (the same draws are used for every transition), which
    the Pearson distance ignores.

    :param reward_fn: ``fn(obs, action, next_obs) -> (N,)``, called on batches of up to
        ``chunk`` transitions.
    :param obs: ``(N, obs_dim)`` observations of the transitions to score.
    :param actions: ``(N, act_dim)`` their actions.
    :param next_obs: ``(N, obs_dim)`` their next observations.
    :param gamma: the discount of the shaping to remove.
    :param n_samples: draws per expectation.
    :param state_samples: ``(K, obs_dim)`` the state coverage distribution ``D_S``
        (default: the transitions' ``obs`` and ``next_obs``).
    :param action_samples: ``(K, act_dim)`` the action coverage distribution ``D_A``
        (default: the transitions' actions).
    :param seed: seed or generator of the draws.
    :param chunk: most transitions per call of ``reward_fn``.
    :return: ``(N,)`` canonicalised rewards.
    """
    o, a, o2 = _transitions(obs, actions, next_obs)
    s_s, a_s, s2_s = _coverage_samples(o, a, o2, int(n_samples), seed, state_samples, action_samples)
    return _canonicalize(reward_fn, o, a, o2, s_s, a_s, s2_s, float(gamma), int(chunk), "reward_fn")


def _canonicalize(fn, o, a, o2, s_s, a_s, s2_s, gamma, chunk, name) -> np.ndarray:
    r = np.concatenate([_call(fn, o[i : i + chunk], a[i : i + chunk], o2[i : i + chunk], name) for i in range(0, len(o), chunk)])
    next_term = _mean_over_samples(fn, o2, a_s, s2_s, chunk, name)
    cur_term = _mean_over_samples(fn, o, a_s, s2_s, chunk, name)
    const = np.concatenate(
        [_call(fn, s_s[i : i + chunk], a_s[i : i + chunk], s2_s[i : i + chunk], name) for i in range(0, len(s_s), chunk)]
    ).mean()
    return r + gamma * next_term - cur_term - gamma * const


def epic_distance(
    reward_a: RewardFn,
    reward_b: RewardFn,
    obs: Any,
    actions: Any,
    next_obs: Any,
    *,
    gamma: float = 0.99,
    n_samples: int = 256,
    state_samples: Any | None = None,
    action_samples: Any | None = None,
    seed: int | np.random.Generator | None = 0,
    chunk: int = 1 << 16,
) -> float:
    """EPIC distance between two rewards over sampled transitions.

    Both rewards are canonicalised with the same coverage draws, then compared with
    the Pearson distance ``√((1 − ρ)/2)`` over the transitions. Cost: about
    ``2·N·n_samples`` calls' worth of transitions per reward.

    :param reward_a: ``fn(obs, action, next_obs) -> (N,)``, e.g. the learned reward.
    :param reward_b: the same for the other reward, e.g. the true reward.
    :param obs: ``(N, obs_dim)`` observations of the transitions (the Pearson
        distribution ``D``).
    :param actions: ``(N, act_dim)`` their actions.
    :param next_obs: ``(N, obs_dim)`` their next observations.
    :param gamma: the discount of the shaping to remove.
    :param n_samples: draws per expectation of the canonicalisation.
    :param state_samples: ``(K, obs_dim)`` states of the coverage distribution
        (default: the transitions' ``obs`` and ``next_obs``).
    :param action_samples: ``(K, act_dim)`` actions of the coverage distribution
        (default: the transitions' actions).
    :param seed: seed or generator of the draws.
    :param chunk: most transitions per reward-function call.
    :return: the distance in [0, 1]; NaN if a canonicalised reward is constant.
    """
    o, a, o2 = _transitions(obs, actions, next_obs)
    s_s, a_s, s2_s = _coverage_samples(o, a, o2, int(n_samples), seed, state_samples, action_samples)
    ca = _canonicalize(reward_a, o, a, o2, s_s, a_s, s2_s, float(gamma), int(chunk), "reward_a")
    cb = _canonicalize(reward_b, o, a, o2, s_s, a_s, s2_s, float(gamma), int(chunk), "reward_b")
    return pearson_distance(ca, cb)
