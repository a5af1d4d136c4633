"""Scripted teachers that answer from the true reward: B-Pref's and imitation's.

B-Pref's simulated teacher (Lee et al. 2021, ``rll-research/BPref``), for a pair of
segments σ¹, σ² of H steps with true rewards r¹, r² (applied in this order):

1. **skip** (ε_skip > 0): the query is skipped unless max(Σr¹, Σr²) > θ_skip;
2. **equal** (ε_equal > 0): if |Σr¹ − Σr²| < θ_equal the label is 0.5 (final: no
   mistake is applied to it);
3. **myopia** γ: R = Σ_{t=1..H} γ^(H−t) r_t — the last step has weight 1, earlier
   steps less;
4. **rationality** β: with β = ∞, y = 1[R¹ < R²] (1 = σ² preferred; an exact tie
   gives 0); with finite β, y ~ Bernoulli(σ(β(R² − R¹)));
5. **mistake** ε_mistake: y is flipped with probability ε_mistake.

The thresholds are relative to recent performance: θ = ε·m with m = mean of the
last 10 training-episode returns × H / max_episode_steps (the teacher gets them
through :meth:`~pbrl.teachers.Teacher.set_recent_returns`). B-Pref's training
script multiplies by ε a second time in later rounds (ε²·m); that is a bug and
is not reproduced here.

Presets (everything else as the oracle): ``oracle`` (β=∞, γ=1, all ε=0),
``noisy`` (β=1), ``mistake`` (ε_mistake=0.1), ``skip`` (ε_skip=0.1), ``myopic``
(γ=0.9), ``equal`` (ε_equal=0.1).

imitation's synthetic gatherer is :class:`BoltzmannTeacher`:
P(σ² ≻ σ¹) = σ((R² − R¹)/τ) with R the discounted sum Σ_t γ^t r_t (imitation's
``discount_factor``, weighting the *first* steps most); τ = 0 is deterministic
with 0.5 on exact ties.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..preferences.labels import Labels
from ..preferences.segments import SegmentBatch
from .base import Teacher, check_pairs

__all__ = ["PRESETS", "BoltzmannTeacher", "ScriptedTeacher", "myopic_weights", "sigmoid"]

#: B-Pref's teacher presets (reference §4); unspecified knobs as the oracle.
PRESETS: dict[str, dict[str, float]] = {
    "oracle": dict(beta=math.inf, gamma=1.0, eps_mistake=0.0, eps_skip=0.0, eps_equal=0.0),
    "noisy": dict(beta=1.0),
    "mistake": dict(eps_mistake=0.1),
    "skip": dict(eps_skip=0.1),
    "myopic": dict(gamma=0.9),
    "equal": dict(eps_equal=0.1),
}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def myopic_weights(horizon: int, gamma: float) -> np.ndarray:
    """(H,) B-Pref's myopic weights γ^(H−t), t = 1..H (the last step weighs 1)."""
    return gamma ** np.arange(horizon - 1, -1, -1, dtype=np.float64)


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _unit(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


class ScriptedTeacher(Teacher):
    """B-Pref's simulated teacher with all its knobs.

    Args:
        beta: rationality β > 0; ``math.inf`` (default) is perfectly rational.
        gamma: myopia γ in (0, 1]; R = Σ γ^(H−t) r_t.
        eps_mistake: probability of flipping a label.
        eps_skip: skip threshold factor; θ_skip = eps_skip · m.
        eps_equal: equal threshold factor; θ_equal = eps_equal · m.
        max_episode_steps: the task's episode limit, for m (needed when
            eps_skip or eps_equal > 0). Taken from ``card`` if given.
        card: the task card (alternative to ``max_episode_steps``).
        seed: seed or generator for the stochastic knobs (β finite, ε_mistake).
        preset: name recorded in the provenance (set by :meth:`from_preset`).
        return_window: how many recent returns m averages (B-Pref: 10).
    """

    kind = "scripted"

    def __init__(
        self,
        beta: float = math.inf,
        gamma: float = 1.0,
        eps_mistake: float = 0.0,
        eps_skip: float = 0.0,
        eps_equal: float = 0.0,
        *,
        max_episode_steps: int | None = None,
        card: Any = None,
        seed: int | np.random.Generator | None = None,
        preset: str | None = None,
        return_window: int = 10,
    ):
        beta = float(beta)
        if not beta > 0:
            raise ValueError(f"beta must be > 0 (math.inf for a perfectly rational teacher), got {beta}")
        gamma = float(gamma)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.beta = beta
        self.gamma = gamma
        self.eps_mistake = _unit("eps_mistake", eps_mistake)
        self.eps_skip = _unit("eps_skip", eps_skip)
        self.eps_equal = _unit("eps_equal", eps_equal)
        if max_episode_steps is None and card is not None:
            max_episode_steps = card.max_episode_steps
        if max_episode_steps is not None and (int(max_episode_steps) != max_episode_steps or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be a positive int, got {max_episode_steps!r}")
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        if (self.eps_skip > 0 or self.eps_equal > 0) and self.max_episode_steps is None:
            raise ValueError("eps_skip/eps_equal thresholds need max_episode_steps (or the task card)")
        self.seed = seed if isinstance(seed, (int, type(None))) else None
        self.rng = _rng(seed)
        self.preset = preset
        self.return_window = int(return_window)
        self._recent: np.ndarray = np.zeros(0)

    @classmethod
    def from_preset(cls, name: str, **kwargs: Any) -> "ScriptedTeacher":
        """One of :data:`PRESETS` (``oracle``, ``noisy``, ...); ``kwargs`` override
        knobs or give ``max_episode_steps`` / ``card`` / ``seed``."""
        if name not in PRESETS:
            raise ValueError(f"unknown scripted-teacher preset {name!r}; presets: {', '.join(PRESETS)}")
        knobs = dict(PRESETS["oracle"])
        knobs.update(PRESETS[name])
        knobs.update(kwargs)
        knobs.setdefault("preset", name)
        return cls(**knobs)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "beta": "inf" if math.isinf(self.beta) else self.beta,
            "gamma": self.gamma,
            "eps_mistake": self.eps_mistake,
            "eps_skip": self.eps_skip,
            "eps_equal": self.eps_equal,
            "max_episode_steps": self.max_episode_steps,
            "return_window": self.return_window,
            "seed": self.seed,
        }

    # -- thresholds ---------------------------------------------------------

    def set_recent_returns(self, returns: Sequence[float] | np.ndarray) -> None:
        """Keep the last ``return_window`` training-episode returns (replacing
        earlier ones); the skip and equal thresholds are relative to their mean."""
        arr = np.asarray(returns, dtype=np.float64).reshape(-1)
        if not np.isfinite(arr).all():
            raise ValueError("recent returns must be finite")
        self._recent = arr[-self.return_window :].copy()

    def scale(self, horizon: int) -> float:
        """m = mean of the recent returns × H / max_episode_steps."""
        if self._recent.size == 0:
            raise ValueError(
                f"{type(self).__name__} with eps_skip={self.eps_skip}, eps_equal={self.eps_equal} needs recent "
                "training-episode returns: call set_recent_returns(buffer.recent_returns(10)) first"
            )
        return float(self._recent.mean()) * horizon / self.max_episode_steps  # type: ignore[operator]

    def thresholds(self, horizon: int) -> tuple[float, float]:
        """(θ_skip, θ_equal) for segments of ``horizon`` steps."""
        if self.eps_skip == 0 and self.eps_equal == 0:
            return 0.0, 0.0
        m = self.scale(horizon)
        return self.eps_skip * m, self.eps_equal * m

    # -- labelling ----------------------------------------------------------

    def label(self, first: SegmentBatch, second: SegmentBatch, *, query_ids=None) -> Labels:
        n = check_pairs(first, second)
        h = first.horizon
        r1 = np.where(first.mask, first.rewards, 0.0)
        r2 = np.where(second.mask, second.rewards, 0.0)
        s1, s2 = r1.sum(axis=1), r2.sum(axis=1)
        theta_skip, theta_equal = self.thresholds(h)
        skipped = np.zeros(n, dtype=bool)
        if self.eps_skip > 0:
            skipped = ~(np.maximum(s1, s2) > theta_skip)
        equal = np.zeros(n, dtype=bool)
        if self.eps_equal > 0:
            equal = np.abs(s1 - s2) < theta_equal
        if self.gamma != 1.0:
            w = myopic_weights(h, self.gamma)
            big1, big2 = r1 @ w, r2 @ w
        else:
            big1, big2 = s1, s2
        if math.isinf(self.beta):
            y = (big1 < big2).astype(np.float64)
        else:
            p = sigmoid(self.beta * (big2 - big1))
            y = (self.rng.random(n) < p).astype(np.float64)
        if self.eps_mistake > 0:
            flip = self.rng.random(n) < self.eps_mistake
            y[flip] = 1.0 - y[flip]
        y[equal] = 0.5
        y[skipped] = np.nan
        return Labels.make(y, self.provenance, skipped=skipped)


class BoltzmannTeacher(Teacher):
    """imitation's synthetic preference gatherer: a Boltzmann-rational teacher.

    Args:
        temperature: τ ≥ 0; P(σ² ≻ σ¹) = σ((R² − R¹)/τ). τ = 0: deterministic,
            1 if R² > R¹, 0 if R² < R¹, 0.5 on an exact tie.
        discount: γ in (0, 1]; R = Σ_{t=0..H−1} γ^t r_t (imitation's
            ``discount_factor``: the first steps weigh most).
        seed: seed or generator for the Bernoulli draws.
    """

    kind = "boltzmann"

    def __init__(self, temperature: float = 1.0, discount: float = 1.0, *, seed: int | np.random.Generator | None = None):
        temperature = float(temperature)
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        discount = float(discount)
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.temperature = temperature
        self.discount = discount
        self.seed = seed if isinstance(seed, (int, type(None))) else None
        self.rng = _rng(seed)

    @property
    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "discount": self.discount, "seed": self.seed}

    def probabilities(self, first: SegmentBatch, second: SegmentBatch) -> np.ndarray:
        """(n,) P(σ² ≻ σ¹) under this teacher."""
        check_pairs(first, second)
        w = self.discount ** np.arange(first.horizon, dtype=np.float64)
        big1 = np.where(first.mask, first.rewards, 0.0) @ w
        big2 = np.where(second.mask, second.rewards, 0.0) @ w
        if self.temperature == 0:
            return (np.sign(big2 - big1) + 1.0) / 2.0
        return sigmoid((big2 - big1) / self.temperature)

    def label(self, first: SegmentBatch, second: SegmentBatch, *, query_ids=None) -> Labels:
        p = self.probabilities(first, second)
        if self.temperature == 0:
            y = p
        else:
            y = (self.rng.random(p.size) < p).astype(np.float64)
        return Labels.make(y, self.provenance)
