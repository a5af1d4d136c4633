"""Task cards: everything pbrl knows about a task, in one readable record.

Teachers, LLM prompts, the labeling page and evaluation read the card; nothing
else hard-codes per-task knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class RewardTerm:
    """One term of a task's reward, as reported in ``info["reward_terms"]``.

    Args:
        name: key in ``info["reward_terms"]``.
        weight: the task's weight of the term (the reported value already includes it).
        description: what the term pays for, in plain words.
    """

    name: str
    weight: float
    description: str


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
