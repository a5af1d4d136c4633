"""The LLM teacher: a language model answers preference queries (RL-VLM-F's protocol, as text).

For each pair of segments the teacher sends the task's goal and a text summary of
both segments, built from the task card's named quantities recorded with each
segment (``SegmentBatch.extras``): per quantity its mean, min, max, first and last
value over the segment's real steps (the fraction of steps for flags), and the
mean squared action. True rewards and the task's reward terms are never shown.
Without recorded quantities the observation labels of the card are summarised
instead. The model reasons, then answers on its last line ``1``, ``2`` or ``tie``
(``templates/teacher_*.txt``); :func:`parse_answer` reads that line:

* ``1`` -> the first segment is preferred (label 0),
* ``2`` -> the second (label 1),
* ``tie`` -> equal (label 0.5),
* anything else -> skipped (recorded, never trained on).

It implements :class:`pbrl.teachers.Teacher` and is registered as ``"llm"``::

    from pbrl.teachers import make_teacher
    teacher = make_teacher("llm", card=card, model="qwen2.5", base_url="http://localhost:8000/v1")

A backend that fails after its retries leaves that pair skipped; a refused
request (wrong key, model or URL) raises.
"""

from __future__ import annotations

import json
import re
import string
import time
from typing import Any, Sequence

import numpy as np

from pbrl.llm.errors import BackendRequestError, BackendRetriesExhausted
from pbrl.llm.templates import load_template
from pbrl.preferences.labels import EQUAL, FIRST_PREFERRED, SECOND_PREFERRED, Labels
from pbrl.preferences.segments import SegmentBatch

from .base import Teacher, check_pairs

_TEMPLATES = "pbrl.teachers.templates"

__all__ = ["LLMTeacher", "parse_answer", "summarize_segment"]

_ANSWER = re.compile(r"\b(1|2|tie|equal|same|neither)\b", re.IGNORECASE)


def parse_answer(text: str) -> float | None:
    """The label of an answer's last non-empty line: 0 (1), 1 (2), 0.5 (tie) or None (unreadable)."""
    if not isinstance(text, str):
        return None
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    last = lines[-1].strip("*`'\". ").lower()
    last = re.sub(r"^(final\s+)?answer\s*[:\-]\s*", "", last)
    found = _ANSWER.findall(last)
    if len(set(f.lower() for f in found)) != 1:
        return None
    word = found[0].lower()
    if word == "1":
        return FIRST_PREFERRED
    if word == "2":
        return SECOND_PREFERRED
    return EQUAL


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def summarize_segment(batch: SegmentBatch, i: int, card: Any) -> str:
    """Text summary of segment ``i`` of ``batch`` from the card's quantities (see the module docstring)."""
    mask = batch.mask[i]
    steps = int(mask.sum())
    lines = [f"({steps} steps)"]
    described = 0
    for name, meaning in card.quantities.items():
        if name not in batch.extras:
            continue
        values = np.asarray(batch.extras[name][i])[mask]
        if values.ndim != 1 or values.size == 0:
            continue
        described += 1
        if values.dtype == np.bool_:
            lines.append(f"- {name} ({meaning}): true on {values.mean():.0%} of the steps")
            continue
        v = values.astype(np.float64)
        lines.append(
            f"- {name} ({meaning}): mean {_fmt(v.mean())}, min {_fmt(v.min())}, max {_fmt(v.max())}, "
            f"first {_fmt(v[0])}, last {_fmt(v[-1])}"
        )
    if not described:
        obs = batch.obs[i][mask].astype(np.float64)
        labels = list(card.observation_labels)[: min(obs.shape[1], 30)]
        for j, label in enumerate(labels):
            lines.append(f"- observation {label}: mean {_fmt(obs[:, j].mean())}, first {_fmt(obs[0, j])}, last {_fmt(obs[-1, j])}")
    effort = np.square(batch.actions[i][mask].astype(np.float64)).sum(axis=-1)
    lines.append(f"- action effort (sum of squared actions per step): mean {_fmt(effort.mean()) if effort.size else 'n/a'}")
    return "\n".join(lines)


class LLMTeacher(Teacher):
    """Preference labels from an LLM (see the module docstring).

    Args:
        backend: an :class:`~pbrl.llm.backends.LLMBackend`.
        card: the task card (goal, quantities).
        temperature: sampling temperature (0: as deterministic as the server allows).
        max_tokens: answer length cap.
        templates_dir: a folder overriding ``teacher_system.txt`` / ``teacher_query.txt``.
        log_path: a JSONL file for every prompt and answer (None: none).
    """

    kind = "llm"

    def __init__(self, backend: Any, card: Any, temperature: float = 0.0, max_tokens: int | None = 512,
                 templates_dir: str | None = None, log_path: str | None = None):
        if card is None:
            raise ValueError("the LLM teacher needs the task card (card=...)")
        self.backend = backend
        self.card = card
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_text = load_template(_TEMPLATES, "teacher_system.txt", templates_dir)
        self.query_text = load_template(_TEMPLATES, "teacher_query.txt", templates_dir)
        self.log_path = log_path
        self.last_answers: list[str | None] = []

    @property
    def prompt_version(self) -> str:
        import hashlib

        return hashlib.sha256((self.system_text + "\0" + self.query_text).encode()).hexdigest()[:12]

    @property
    def params(self) -> dict[str, Any]:
        info = self.backend.describe() if hasattr(self.backend, "describe") else {}
        return {
            "model": info.get("model"), "host": info.get("host"), "temperature": self.temperature,
            "prompt_version": self.prompt_version, "task": self.card.id,
        }

    def messages(self, first: SegmentBatch, second: SegmentBatch, i: int) -> list[dict[str, str]]:
        """The chat messages that ask about pair ``i``."""
        user = string.Template(self.query_text).safe_substitute(
            goal=self.card.goal, first=summarize_segment(first, i, self.card), second=summarize_segment(second, i, self.card)
        )
        return [{"role": "system", "content": self.system_text}, {"role": "user", "content": user}]

    def label(self, first: SegmentBatch, second: SegmentBatch, *, query_ids: Sequence[int] | None = None) -> Labels:
        n = check_pairs(first, second)
        values = np.full(n, np.nan)
        skipped = np.zeros(n, dtype=bool)
        self.last_answers = []
        for i in range(n):
            messages = self.messages(first, second, i)
            answer: str | None = None
            error = None
            try:
                answer = self.backend.complete(messages, 1, temperature=self.temperature, max_tokens=self.max_tokens,
                                               purpose="teacher")[0].text
            except BackendRequestError:
                raise
            except BackendRetriesExhausted as exc:
                error = str(exc)
            label = parse_answer(answer) if answer is not None else None
            if label is None:
                skipped[i] = True
            else:
                values[i] = label
            self.last_answers.append(answer)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"time": time.time(), "pair": i, "query_id": None if query_ids is None else int(query_ids[i]),
                                        "messages": messages, "answer": answer, "label": label, "error": error}) + "\n")
        return Labels.make(values, self.provenance, skipped=skipped)


def make_llm_teacher(card: Any = None, seed: Any = None, *, backend: Any = None, model: str | None = None,
                 base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 max_retries: int = 4, **kwargs: Any) -> LLMTeacher:
    """``make_teacher("llm", card=..., model=..., base_url=...)`` (or ``backend=`` an existing backend)."""
    if backend is None:
        from pbrl.llm.backends import OpenAIBackend

        if not model:
            raise ValueError("the llm teacher needs model=NAME (and base_url= for a local server), or backend=")
        backend = OpenAIBackend(model, base_url=base_url, api_key_env=api_key_env, timeout=timeout,
                                max_retries=max_retries, temperature=kwargs.get("temperature", 0.0), seed=seed)
    return LLMTeacher(backend, card, **kwargs)

