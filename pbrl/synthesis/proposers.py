"""Proposers: where candidate reward programs come from.

A :class:`Proposer` turns a :class:`ProposalRequest` (the iteration, how many
candidates, the chat messages of Eureka's loop, the structured feedback on the
previous iteration's best candidate, a person's critique) into
:class:`Proposal` texts. Each text then goes through the same path whatever
produced it: extraction (or, in parametric mode, JSON validation), the static
check, the sandboxed probe, sandboxed training and the trusted evaluation.

* :class:`LLMProposer` — asks an :class:`~pbrl.llm.backends.LLMBackend` for
  ``n`` completions of the messages (Eureka: K samples per iteration).
* :class:`~pbrl.synthesis.search.OfflineProposer` — no language model: a search
  procedure over compositions of terms built from the task card (``offline.py``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from pbrl.llm.backends import LLMBackend

__all__ = ["LLMProposer", "Proposal", "ProposalRequest", "Proposer"]


@dataclass
class ProposalRequest:
    """What a proposer is asked for.

    Args:
        iteration: 0-based iteration of the loop.
        round: 0 for the first sampling of the iteration, 1, 2, ... for regenerations
            that replace non-executable samples.
        n: how many proposals.
        messages: the chat messages (system, user[, assistant, user]).
        mode: ``"code"`` or ``"params"``.
        best: the best candidate so far (its record: ``params``/``genes``, fitness,
            reflection) or None.
        feedback: the previous iteration's reflection (``Reflection.to_dict()``) or None.
        critique: a person's critique for this iteration, or None.
        preferences: with ``feedback="preferences"`` (ICPL), the last comparison's outcome:
            ``preferred`` and ``rejected`` candidate ids, each one's ``win_rate`` and what
            ``decided_by``; ``best`` is then the preferred candidate. None otherwise.
    """

    iteration: int
    round: int
    n: int
    messages: list[dict[str, str]]
    mode: str = "code"
    best: dict[str, Any] | None = None
    feedback: dict[str, Any] | None = None
    critique: str | None = None
    preferences: dict[str, Any] | None = None


@dataclass
class Proposal:
    """One proposed answer.

    Args:
        text: the answer (an LLM's reply, or the offline proposer's fenced program / JSON).
        origin: ``"llm"`` or ``"offline-search"``.
        meta: model, tokens, finish reason (LLM); parent and mutations (offline).
    """

    text: str
    origin: str
    meta: dict[str, Any] = field(default_factory=dict)


class Proposer(abc.ABC):
    """Produces candidate answers; see the module docstring."""

    #: ``"llm"`` or ``"offline-search"``
    origin: str = "proposer"

    @abc.abstractmethod
    def propose(self, request: ProposalRequest) -> list[Proposal]:
        """``request.n`` proposals (fewer only if the source cannot produce more)."""

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin}

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to continue this proposer (JSON-ready)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""


class LLMProposer(Proposer):
    """K samples of a chat model per request.

    Args:
        backend: the LLM backend.
        temperature: sampling temperature (None: the backend's default).
        max_tokens: completion length cap (None: the backend's default).
    """

    origin = "llm"

    def __init__(self, backend: LLMBackend, temperature: float | None = None, max_tokens: int | None = None):
        self.backend = backend
        self.temperature = temperature
        self.max_tokens = max_tokens

    def propose(self, request: ProposalRequest) -> list[Proposal]:
        completions = self.backend.complete(
            request.messages, request.n, temperature=self.temperature, max_tokens=self.max_tokens,
            purpose=f"synthesis it{request.iteration} round{request.round}",
        )
        return [
            Proposal(c.text, self.origin, {"model": c.model, "finish_reason": c.finish_reason, "request": c.request, "usage": c.usage})
            for c in completions
        ]

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin, "backend": self.backend.describe(), "temperature": self.temperature}
