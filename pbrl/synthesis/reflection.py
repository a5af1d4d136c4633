"""Reward reflection (Eureka): training statistics of a candidate, as text and as numbers.

For the best candidate of an iteration, :func:`reflect` takes the curves its
sandboxed worker recorded — one value per PPO rollout of every reward term the
program returned (mean per step), the task score of the episodes that finished,
episode lengths — subsamples them to ``points`` values along training and
adds max / mean / min, as Eureka's policy feedback does; the fitness line is the
trusted evaluation's. It also flags what Eureka's tips talk about:

* a task score near zero (advice: rewrite the reward);
* a *flat* term, whose values hardly change during training (rescale, rewrite or drop it);
* a *dominant* term, whose magnitude exceeds the others' by more than ten times (rescale it).

The text goes into the next prompt (``templates/reflection.txt``); the numbers
(:class:`Reflection`) drive the offline proposer's mutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Reflection", "TermStats", "reflect", "subsample"]

#: a term is flat if its range along training is below this fraction of its mean magnitude
FLAT_FRACTION = 0.05
#: a term dominates if its mean magnitude exceeds the median of the others' by this factor
DOMINANT_FACTOR = 10.0


@dataclass
class TermStats:
    """One series along training, subsampled, with its max / mean / min."""

    name: str
    values: list[float]
    max: float
    mean: float
    min: float
    flat: bool = False
    dominant: bool = False

    def line(self) -> str:
        shown = ", ".join(f"'{v:.3g}'" for v in self.values)
        return f"{self.name}: [{shown}], Max: {self.max:.3g}, Mean: {self.mean:.3g}, Min: {self.min:.3g}"


@dataclass
class Reflection:
    """The reflection of one trained candidate."""

    terms: dict[str, TermStats]
    task_score: TermStats | None
    episode_length: TermStats | None
    fitness: float | None
    points: int
    observations: list[str] = field(default_factory=list)

    def stats_text(self) -> str:
        lines = [t.line() for t in self.terms.values()]
        if self.task_score is not None:
            lines.append(self.task_score.line())
        if self.episode_length is not None:
            lines.append(self.episode_length.line())
        return "\n".join(lines) if lines else "(no statistics were recorded)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": {k: vars(v) for k, v in self.terms.items()},
            "task_score": vars(self.task_score) if self.task_score else None,
            "episode_length": vars(self.episode_length) if self.episode_length else None,
            "fitness": self.fitness,
            "points": self.points,
            "observations": list(self.observations),
        }


def subsample(values: Sequence[float | None], points: int) -> list[float]:
    """At most ``points`` evenly spaced values (None entries dropped first)."""
    clean = [float(v) for v in values if v is not None]
    if len(clean) <= points:
        return clean
    idx = np.linspace(0, len(clean) - 1, points).round().astype(int)
    return [clean[i] for i in idx]


def _stats(name: str, values: Sequence[float | None], points: int) -> TermStats | None:
    clean = [float(v) for v in values if v is not None]
    if not clean:
        return None
    arr = np.asarray(clean)
    return TermStats(name, subsample(clean, points), float(arr.max()), float(arr.mean()), float(arr.min()))


def _near_zero(metric: Any, fitness: float | None, score: TermStats | None) -> bool:
    if metric.name == "success":
        best = max([fitness or 0.0] + ([score.max] if score else []))
        return best < 0.01
    if metric.name == "progress":
        best = max([abs(fitness or 0.0)] + ([max(abs(score.max), abs(score.min))] if score else []))
        return best < 0.5
    return False


def reflect(curves: Mapping[str, Any], fitness: float | None, metric: Any, points: int = 10) -> Reflection:
    """Build the reflection of a candidate from its validated training curves."""
    terms: dict[str, TermStats] = {}
    program_terms = dict(curves.get("program_terms") or {})
    if not program_terms and curves.get("program_reward"):
        program_terms = {"reward": curves["program_reward"]}
    for name, values in program_terms.items():
        stats = _stats(name, values, points)
        if stats is not None:
            terms[name] = stats
    score = _stats("task_score", curves.get("task_score") or [], points)
    length = _stats("episode_length", curves.get("episode_length") or [], points)
    notes: list[str] = []
    magnitudes = {k: abs(v.mean) for k, v in terms.items()}
    for name, stats in terms.items():
        spread = stats.max - stats.min
        if spread <= FLAT_FRACTION * max(abs(stats.mean), 1e-8) or spread < 1e-9:
            stats.flat = True
            notes.append(f"the values of '{name}' are nearly identical throughout training")
        others = [m for k, m in magnitudes.items() if k != name]
        if others and magnitudes[name] > DOMINANT_FACTOR * max(float(np.median(others)), 1e-12):
            stats.dominant = True
            notes.append(f"'{name}' is more than {DOMINANT_FACTOR:g} times larger in magnitude than the other components")
    if _near_zero(metric, fitness, score):
        notes.append("the task score is near zero")
    shown = max([len(t.values) for t in terms.values()] + [len(s.values) for s in (score, length) if s is not None] + [0])
    return Reflection(terms, score, length, fitness, shown, notes)
