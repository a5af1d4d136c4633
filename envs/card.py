"""Task cards: everything pbrl knows about a task, in one readable record.

Teachers, LLM prompts, the labeling page and evaluation read the card; nothing
else hard-codes per-task knowledge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping


@dataclass(frozen=True)
class RewardTerm:
    """One term of a task's reward, as reported in ``info["reward_terms"]``.

    Args:
        name: key in ``info["reward_terms"]``.
        weight: the task's weight of the term (the reported value already includes it),
            at the task's default options.
        description: what the term pays for, in plain words.
        option: the task keyword argument that sets the weight's size (e.g.
            ``ctrl_cost_weight``), if one does; the weight keeps its default's sign.
    """

    name: str
    weight: float
    description: str
    option: str | None = None


@dataclass(frozen=True)
class TaskCard:
    """The task card of ../shared/design.md.

    Args:
        id: the Gymnasium id, e.g. ``"pbrl/HalfCheetah-v5"``.
        goal: the goal in plain language.
        observation_labels: a name for each observation index.
        quantities: named physical quantities in ``info`` (name -> description)
            that reward code may use; each is an (N,) array every step.
        reward_terms: the terms whose sum is the reward, most important first
            (the order a hierarchical teacher compares them in).
        termination: when an episode terminates, in plain words.
        success: when an episode counts as a success, or ``None`` if the task
            defines no success.
        max_episode_steps: the time limit (truncation).
        ref_min_return: reference return of a random policy (normalized score 0).
        ref_max_return: reference return of an expert (normalized score 100).
    """

    id: str
    goal: str
    observation_labels: tuple[str, ...]
    quantities: Mapping[str, str]
    reward_terms: tuple[RewardTerm, ...]
    termination: str
    success: str | None
    max_episode_steps: int
    ref_min_return: float
    ref_max_return: float
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def obs_dim(self) -> int:
        return len(self.observation_labels)

    @property
    def term_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.reward_terms)

    def normalized_score(self, episode_return):
        """D4RL-style normalized score: 100 * (R - min) / (max - min)."""
        span = self.ref_max_return - self.ref_min_return
        return 100.0 * (episode_return - self.ref_min_return) / span

    def for_options(self, options: Mapping[str, float]) -> "TaskCard":
        """This card with the weights that ``options`` (a task's keyword arguments as it uses
        them) set: a term with an ``option`` weighs ``± options[option]``, the sign of its
        default weight (a cost stays a cost); the card itself if nothing changes."""
        terms = tuple(
            replace(t, weight=math.copysign(1.0, t.weight) * float(options[t.option]))
            if t.option is not None and t.option in options else t
            for t in self.reward_terms
        )
        return self if terms == self.reward_terms else replace(self, reward_terms=terms)

    def to_dict(self) -> dict:
        """A JSON-ready dict (for prompts, the labeling page and run folders)."""
        return {
            "id": self.id,
            "goal": self.goal,
            "observation_labels": list(self.observation_labels),
            "quantities": dict(self.quantities),
            "reward_terms": [
                {"name": t.name, "weight": t.weight, "description": t.description}
                for t in self.reward_terms
            ],
            "termination": self.termination,
            "success": self.success,
            "max_episode_steps": self.max_episode_steps,
            "ref_min_return": self.ref_min_return,
            "ref_max_return": self.ref_max_return,
        }
