"""Prompts: system text + the task card, from template files a user can edit.

The templates are package data in ``pbrl/synthesis/templates/`` (``system.txt``,
``task.txt``, ``reflection.txt``, ``failure.txt``, ``critique.txt``, ``preference.txt``
(ICPL's comparison outcomes), the
``params_*.txt`` of the parametric mode, ``teacher_*.txt`` of the LLM teacher, and
few-shot examples in ``examples/``). They use ``$name`` placeholders
(:class:`string.Template`), so code with braces needs no escaping. A folder given
as ``templates_dir`` (``pbrl synthesize --prompts DIR``) overrides any of them by
file name; copy the package's folder to start.

What a prompt holds, read from the task card: the goal, the observation layout (a
name per index), the named quantities and their meaning, the termination and
success text, the action size and the function signature. Never the task's reward
code: in code mode not even the card's reward terms (Eureka's "no human reward in
the prompt"). The parametric mode lists the card's documented reward terms by
name and meaning, since those are the library whose weights it sets.
"""

from __future__ import annotations

import hashlib
import os
import string
from importlib import resources
from typing import Any, Iterable

from pbrl.llm import templates

__all__ = ["PromptBuilder", "load_template", "template_names"]

_PACKAGE = "pbrl.synthesis.templates"


def template_names() -> list[str]:
    """The template files shipped with pbrl."""
    root = resources.files(_PACKAGE)
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".txt"))


def load_template(name: str, templates_dir: str | None = None) -> str:
    """The text of template ``name`` (``templates_dir`` first, then pbrl's own)."""
    return templates.load_template(_PACKAGE, name, templates_dir)


def _examples(templates_dir: str | None) -> list[tuple[str, str]]:
    """(task id, code) of every few-shot example."""
    found: dict[str, str] = {}
    root = resources.files(_PACKAGE).joinpath("examples")
    for entry in root.iterdir():
        if entry.name.endswith(".txt"):
            found[entry.name] = entry.read_text(encoding="utf-8")
    user = os.path.join(templates_dir, "examples") if templates_dir else None
    if user and os.path.isdir(user):
        for name in os.listdir(user):
            if name.endswith(".txt"):
                with open(os.path.join(user, name), encoding="utf-8") as f:
                    found[name] = f.read()
    out = []
    for name in sorted(found):
        text = found[name]
        first, _, rest = text.partition("\n")
        task = first.split(":", 1)[1].strip() if first.startswith("# task:") else name[:-4]
        out.append((task, rest.strip("\n")))
    return out


class PromptBuilder:
    """Builds the messages of one task's reward synthesis.

    Args:
        card: the task card.
        mode: ``"code"`` (free code, Eureka / Text2Reward) or ``"params"``
            (Language to Rewards: JSON weights of the card's terms).
        templates_dir: a folder whose template files override pbrl's.
        few_shot: how many example programs of *other* tasks to include (code mode).
        act_dim: the action size (default: from the task's action space).
    """

    def __init__(self, card: Any, mode: str = "code", templates_dir: str | None = None, few_shot: int = 0,
                 act_dim: int | None = None):
        if mode not in ("code", "params"):
            raise ValueError(f"mode must be 'code' or 'params', got {mode!r}")
        self.card = card
        self.mode = mode
        self.templates_dir = templates_dir
        self.few_shot = int(few_shot)
        self.act_dim = act_dim if act_dim is not None else _action_dim(card.id)
        self._used: dict[str, str] = {}

    # -- templates -------------------------------------------------------------------

    def _render(self, name: str, **values: Any) -> str:
        text = load_template(name, self.templates_dir)
        self._used[name] = text
        return string.Template(text).safe_substitute({k: str(v) for k, v in values.items()})

    @property
    def version(self) -> str:
        """A short hash of every template used so far (recorded with the run)."""
        digest = hashlib.sha256()
        for name in sorted(self._used):
            digest.update(name.encode() + b"\0" + self._used[name].encode() + b"\0")
        return digest.hexdigest()[:12]

    # -- the card as text ----------------------------------------------------------------

    def observation_text(self) -> str:
        return "\n".join(f"{i}: {label}" for i, label in enumerate(self.card.observation_labels))

    def quantities_text(self) -> str:
        return "\n".join(f'info["{k}"]: {v}' for k, v in self.card.quantities.items())

    def terms_text(self) -> str:
        return "\n".join(f"{t.name}: {t.description}" for t in self.card.reward_terms)

    def success_text(self) -> str:
        return f"Success: {self.card.success}.\n" if self.card.success else ""

    def examples_text(self) -> str:
        if self.mode != "code" or self.few_shot <= 0:
            return ""
        chosen = [(task, code) for task, code in _examples(self.templates_dir) if task != self.card.id][: self.few_shot]
        return "\n".join(self._render("example.txt", example_task=task, example_code=code) for task, code in chosen)

    # -- messages ---------------------------------------------------------------------

    def system(self) -> str:
        if self.mode == "params":
            return self._render("params_system.txt")
        return self._render("system.txt", obs_dim=self.card.obs_dim, act_dim=self.act_dim)

    def task(self) -> str:
        common = dict(goal=self.card.goal, quantities=self.quantities_text(), termination=self.card.termination,
                      success=self.success_text())
        if self.mode == "params":
            return self._render("params_task.txt", terms=self.terms_text(), **common)
        return self._render("task.txt", observation=self.observation_text(), examples=self.examples_text(), **common)

    def initial_messages(self) -> list[dict[str, str]]:
        """``[system, user]`` of the first iteration."""
        return [{"role": "system", "content": self.system()}, {"role": "user", "content": self.task()}]

    def reflection(self, stats: str, metric: Any, fitness: float | None, points: int, observations: Iterable[str] = ()) -> str:
        """Eureka's reward reflection for the best candidate of an iteration."""
        obs = "\n".join(f"- {o}" for o in observations)
        name = "params_reflection.txt" if self.mode == "params" else "reflection.txt"
        return self._render(
            name, stats=stats, metric=metric.name, metric_description=metric.description,
            fitness="unavailable" if fitness is None else f"{fitness:.4g} {metric.unit}", points=points,
            observations=("Notes:\n" + obs + "\n") if obs else "",
        )

    def failure(self, kind: str, message: str, detail: str = "") -> str:
        """Feedback for an iteration in which no candidate trained."""
        name = "params_failure.txt" if self.mode == "params" else "failure.txt"
        return self._render(name, kind=kind, message=message, detail=detail)

    def failure_note(self, failures: Iterable[tuple[str, str]]) -> str:
        """A note on the other samples of a round that failed (kind, message), after a reflection."""
        lines = "\n".join(f"- {kind}: {message}" for kind, message in failures)
        return self._render("failure_note.txt", failures=lines) if lines else ""

    def preference(self, *, teacher: str, preferred: str, outcomes: str, rejected: str = "", rejected_code: str = "",
                   segment_length: int = 0) -> str:
        """ICPL's feedback: the teacher's comparisons of the candidates' behaviour, the preferred candidate
        (whose answer precedes this message) and the least preferred one's code as the bad example."""
        bad = (f"\nThe least preferred behaviour came from the reward function of {rejected}; avoid what it does:\n"
               f"{rejected_code.strip()}\n") if rejected and rejected_code else ""
        clips = f"{segment_length} steps each" if segment_length else "whole episodes"
        return self._render("preference.txt", teacher=teacher, preferred=preferred, outcomes=outcomes,
                            rejected_text=bad, segment_length=clips)

    def critique(self, text: str) -> str:
        return self._render("critique.txt", critique=text.strip())

    def next_messages(self, best_answer: str, feedback: str) -> list[dict[str, str]]:
        """Eureka's next prompt: ``[system, user, assistant (the best answer), user (its feedback)]``."""
        return self.initial_messages() + [
            {"role": "assistant", "content": best_answer},
            {"role": "user", "content": feedback},
        ]


def _action_dim(task: str) -> int:
    import gymnasium as gym

    import pbrl.envs  # noqa: F401

    env = gym.make_vec(task, num_envs=1, vectorization_mode="vector_entry_point")
    try:
        return int(env.single_action_space.shape[0])
    finally:
        env.close()
