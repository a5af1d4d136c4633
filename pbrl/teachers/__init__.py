"""Teachers: they label pairs of segments (pure numpy; no torch).

Every teacher implements :class:`Teacher` (``label(first, second) -> Labels``):

* :class:`ScriptedTeacher` — B-Pref's simulated teacher (β, γ, ε_mistake, ε_skip,
  ε_equal) with presets ``oracle``, ``noisy``, ``mistake``, ``skip``, ``myopic``,
  ``equal``;
* :class:`BoltzmannTeacher` — imitation's Boltzmann-rational gatherer (τ);
* :class:`HierarchicalTeacher` — HERON's ranked reward terms with margins;
* :class:`HumanTeacher` (``human.py``) — people answering in the labeling web app
  (``pbrl.web``), read from the preference store;
* :class:`RatingTeacher` (``feedback.py``) — B-Pref's teacher that also rates single
  segments on an n-class scale (RbRL), registered as ``rating``; :func:`rank_segments`
  builds LiRE's ranked lists from any pairwise teacher by binary insertion;
* :class:`LLMTeacher` (``llm.py``) — a language model behind any OpenAI-compatible
  server (``pbrl.llm``; the ``openai`` package loads when one is made).

Every teacher is in one registry, :data:`TEACHERS`; your own register with
:func:`register_teacher`, and :func:`make_teacher` builds any of them by name::

    from pbrl.teachers import make_teacher
    teacher = make_teacher("noisy", card=env.card, seed=0)
"""

from __future__ import annotations

from typing import Any, Callable

from ..preferences.labels import EQUAL, FIRST_PREFERRED, LABEL_VALUES, SECOND_PREFERRED, Labels, Provenance
from .base import Teacher, check_pairs
from .feedback import Ranking, RatingTeacher, equal_width_bounds, quantile_bounds, rank_segments
from .hierarchical import HierarchicalTeacher
from .human import HumanTeacher, make_human_teacher
from .llm import LLMTeacher, make_llm_teacher
from .scripted import PRESETS, BoltzmannTeacher, ScriptedTeacher, myopic_weights, sigmoid

__all__ = [
    "EQUAL",
    "FIRST_PREFERRED",
    "LABEL_VALUES",
    "PRESETS",
    "SECOND_PREFERRED",
    "TEACHERS",
    "BoltzmannTeacher",
    "HierarchicalTeacher",
    "HumanTeacher",
    "LLMTeacher",
    "Labels",
    "Provenance",
    "Ranking",
    "RatingTeacher",
    "ScriptedTeacher",
    "Teacher",
    "check_pairs",
    "equal_width_bounds",
    "make_teacher",
    "myopic_weights",
    "quantile_bounds",
    "rank_segments",
    "register_teacher",
    "sigmoid",
]

#: name -> factory(card=..., seed=..., **kwargs) -> Teacher
TEACHERS: dict[str, Callable[..., Teacher]] = {}


def register_teacher(name: str, factory: Callable[..., Teacher], *, override: bool = False) -> None:
    """Make a teacher available to :func:`make_teacher` (and ``--teacher NAME``).

    Args:
        name: the name users pass.
        factory: called as ``factory(card=card, seed=seed, **kwargs)``; it must accept
            (and may ignore) ``card`` and ``seed``.
        override: replace an existing registration.
    """
    if name in TEACHERS and not override:
        raise ValueError(f"teacher {name!r} is already registered (pass override=True to replace it)")
    TEACHERS[name] = factory


def make_teacher(name: str, *, card: Any = None, seed: Any = None, **kwargs: Any) -> Teacher:
    """Build a registered teacher by name.

    Args:
        name: ``oracle``, ``noisy``, ``mistake``, ``skip``, ``myopic``, ``equal``,
            ``scripted`` (give the knobs), ``rating`` (``n_classes=5``, ``preset=``,
            knobs; it rates segments and labels pairs), ``boltzmann``, ``hierarchical`` (alias
            ``heron``), or a name registered by another module.
        card: the task card (episode limit for thresholds, term order for HERON).
        seed: seed for stochastic teachers.
        **kwargs: passed to the teacher (e.g. ``beta=0.5``, ``margins=1.0``).
    """
    try:
        factory = TEACHERS[name]
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; known: {', '.join(sorted(TEACHERS))}") from None
    return factory(card=card, seed=seed, **kwargs)


def _preset_factory(preset: str) -> Callable[..., Teacher]:
    def factory(card=None, seed=None, **kwargs):
        return ScriptedTeacher.from_preset(preset, card=card, seed=seed, **kwargs)

    factory.__doc__ = f"B-Pref's {preset!r} scripted teacher."
    return factory


for _name in PRESETS:
    register_teacher(_name, _preset_factory(_name))
register_teacher("scripted", lambda card=None, seed=None, **kw: ScriptedTeacher(card=card, seed=seed, **kw))
register_teacher("boltzmann", lambda card=None, seed=None, **kw: BoltzmannTeacher(seed=seed, **kw))
register_teacher("hierarchical", lambda card=None, seed=None, **kw: HierarchicalTeacher(card=card, **kw))
register_teacher("heron", TEACHERS["hierarchical"])


def _rating_factory(card=None, seed=None, preset: str = "oracle", **kwargs) -> RatingTeacher:
    """A rating teacher with one of B-Pref's presets (``oracle`` by default) and its own knobs."""
    return RatingTeacher.from_preset(preset, card=card, seed=seed, **kwargs)


register_teacher("rating", _rating_factory)  # ratings on an n-class scale (RbRL); pairs as B-Pref


register_teacher("human", make_human_teacher)  # people, in the labeling web app (pbrl.web)
register_teacher("llm", make_llm_teacher)  # a language model (the openai client loads when one is made)
