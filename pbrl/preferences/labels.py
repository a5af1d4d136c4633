"""Preference labels and their provenance.

Label semantics (as B-Pref): for a pair (σ¹, σ²)

* ``1.0`` — the **second** segment σ² is preferred,
* ``0.0`` — the first segment σ¹ is preferred,
* ``0.5`` — both are equally preferable,
* skipped — the teacher declined to answer (stored, never trained on).

As a training target, label ``y`` is the probability that σ² is preferred:
``(1 - y, y)`` over (σ¹, σ²) gives B-Pref's targets (1, 0), (0, 1), (0.5, 0.5).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = [
    "EQUAL",
    "FIRST_PREFERRED",
    "LABEL_VALUES",
    "LabelError",
    "Labels",
    "Provenance",
    "SECOND_PREFERRED",
    "check_label_values",
]

FIRST_PREFERRED = 0.0
SECOND_PREFERRED = 1.0
EQUAL = 0.5
#: The allowed label values.
LABEL_VALUES = (FIRST_PREFERRED, EQUAL, SECOND_PREFERRED)


class LabelError(ValueError):
    """A label outside {0, 1, 0.5}, or labels that do not fit their pairs."""


def check_label_values(values: Any, skipped: Any = None, *, what: str = "labels") -> np.ndarray:
    """Validate labels and return them as float64.

    Args:
        values: (n,) labels; NaN is allowed only where ``skipped`` is True.
        skipped: (n,) bool, or None (no label skipped).
        what: name used in error messages.

    Raises:
        LabelError: naming the offending values and their positions.
    """
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise LabelError(f"{what} must be numbers in {{0, 1, 0.5}}, got {values!r}") from None
    skip = np.zeros(arr.shape, bool) if skipped is None else np.asarray(skipped, dtype=bool).reshape(-1)
    if skip.shape != arr.shape:
        raise LabelError(f"{what}: {arr.size} values but {skip.size} skip flags")
    ok = np.isin(arr, LABEL_VALUES) | skip
    if not ok.all():
        bad = np.flatnonzero(~ok)
        shown = ", ".join(f"[{i}]={float(arr[i])!r}" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise LabelError(
            f"{what} must be 0 (first preferred), 1 (second preferred) or 0.5 (equal); got {shown}{more}"
        )
    out = arr.copy()
    out[skip] = np.nan
    return out


def _canonical_json(params: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"teacher params must be JSON-serialisable (no NaN/inf): {exc}") from None


@dataclass(frozen=True)
class Provenance:
    """Who gave a label.

    Args:
        kind: the teacher kind: ``"scripted"``, ``"boltzmann"``, ``"hierarchical"``,
            ``"llm"``, ``"human"``, ...
        params: the teacher's parameters, JSON-serialisable (for a scripted teacher
            β, γ, ε…; for an LLM its model and prompt version; for a human, empty).
        labeler: a stable id of the labeler. Humans: their labeler name. Default: the
            kind and a short hash of the params (``"scripted:1a2b3c4d"``), so that
            two differently-parameterised teachers count as different labelers.
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    labeler: str | None = None

    def __post_init__(self):
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"provenance kind must be a non-empty string, got {self.kind!r}")
        text = _canonical_json(self.params)
        object.__setattr__(self, "params", json.loads(text))
        if self.labeler is None:
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            object.__setattr__(self, "labeler", f"{self.kind}:{digest}")
        elif not isinstance(self.labeler, str) or not self.labeler:
            raise ValueError(f"labeler must be a non-empty string, got {self.labeler!r}")

    @property
    def params_json(self) -> str:
        """The params as canonical JSON (sorted keys)."""
        return _canonical_json(self.params)


@dataclass(frozen=True, eq=False)
class Labels:
    """A teacher's answers for a batch of pairs.

    Args:
        values: (n,) float64 in {0, 0.5, 1}; NaN where skipped or pending.
        skipped: (n,) bool, the teacher declined to answer.
        provenance: who answered.
        times: (n,) float64 Unix time of each answer (NaN while pending).
        pending: (n,) bool, no answer yet (asynchronous teachers, e.g. a human
            whose answers arrive later through the preference store).
    """

    values: np.ndarray
    skipped: np.ndarray
    provenance: Provenance
    times: np.ndarray
    pending: np.ndarray

    def __post_init__(self):
        skipped = np.asarray(self.skipped, dtype=bool).reshape(-1)
        pending = np.asarray(self.pending, dtype=bool).reshape(-1)
        n = skipped.size
        if pending.shape != (n,):
            raise LabelError(f"pending has {pending.size} entries, skipped has {n}")
        if (skipped & pending).any():
            raise LabelError("a label cannot be both skipped and pending")
        values = check_label_values(self.values, skipped | pending)
        times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        if times.shape != (n,) or values.shape != (n,):
            raise LabelError(f"values ({values.size}), skipped ({n}) and times ({times.size}) must have the same length")
        if not isinstance(self.provenance, Provenance):
            raise TypeError(f"provenance must be a Provenance, got {type(self.provenance).__name__}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "skipped", skipped)
        object.__setattr__(self, "pending", pending)
        object.__setattr__(self, "times", times)

    @classmethod
    def make(
        cls,
        values: Any,
        provenance: Provenance,
        *,
        skipped: Any = None,
        pending: Any = None,
        timestamp: float | np.ndarray | None = None,
    ) -> "Labels":
        """Labels with defaults: nothing skipped or pending, all answered now.

        Args:
            values: (n,) labels in {0, 0.5, 1} (anything where skipped/pending).
            provenance: who answered.
            skipped: (n,) bool or None.
            pending: (n,) bool or None.
            timestamp: one Unix time for all, (n,) times, or None (now).
        """
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        n = vals.size
        skipped = np.zeros(n, bool) if skipped is None else skipped
        pending = np.zeros(n, bool) if pending is None else np.asarray(pending, dtype=bool).reshape(-1)
        t = time.time() if timestamp is None else timestamp
        times = np.broadcast_to(np.asarray(t, dtype=np.float64), (n,)).copy()
        times[pending] = np.nan
        return cls(values=vals, skipped=skipped, provenance=provenance, times=times, pending=pending)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def answered(self) -> np.ndarray:
        """(n,) bool: a usable label (0, 0.5 or 1) was given."""
        return ~(self.skipped | self.pending)

    def __getitem__(self, index) -> "Labels":
        return Labels(
            values=self.values[index],
            skipped=self.skipped[index],
            provenance=self.provenance,
            times=self.times[index],
            pending=self.pending[index],
        )

    def __repr__(self) -> str:
        v = self.values[self.answered]
        return (
            f"Labels(n={len(self)}, first={int(np.sum(v == 0))}, second={int(np.sum(v == 1))}, "
            f"equal={int(np.sum(v == 0.5))}, skipped={int(self.skipped.sum())}, pending={int(self.pending.sum())}, "
            f"labeler={self.provenance.labeler!r})"
        )

