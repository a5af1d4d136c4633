"""Ratings: one segment judged on a discrete scale of ``n`` classes (RbRL, Uni-RLHF's evaluative feedback).

A rating is a class index ``0 .. n-1`` (0 = worst, ``n-1`` = best); the page shows it as
``1 .. n``. The scale ``n`` is part of every rating query, so ratings on different scales
are never mixed by accident. Skipped ratings are stored (as pair labels are) and never
trained on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .labels import Provenance

__all__ = ["MAX_CLASSES", "RatingError", "Ratings", "check_ratings", "check_scale"]

#: the largest scale accepted (a 1–10 scale is the most any interface uses)
MAX_CLASSES = 10


class RatingError(ValueError):
    """A rating outside its scale, or a scale that is not 2..MAX_CLASSES."""


def check_scale(n_classes: Any) -> int:
    """``n_classes`` as an int in 2..:data:`MAX_CLASSES`, or :class:`RatingError`."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or not 2 <= n_classes <= MAX_CLASSES:
        raise RatingError(f"a rating scale must have 2 to {MAX_CLASSES} classes, got {n_classes!r}")
    return int(n_classes)


def check_ratings(values: Any, n_classes: int, skipped: Any = None, *, what: str = "ratings") -> np.ndarray:
    """Validate class indices ``0..n_classes-1`` (NaN only where skipped); float64 with NaN for skips.

    Raises:
        RatingError: naming the offending values and their positions.
    """
    n = check_scale(n_classes)
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise RatingError(f"{what} must be class indices 0..{n - 1}, got {values!r}") from None
    skip = np.zeros(arr.shape, bool) if skipped is None else np.asarray(skipped, dtype=bool).reshape(-1)
    if skip.shape != arr.shape:
        raise RatingError(f"{what}: {arr.size} values but {skip.size} skip flags")
    ok = skip | (np.isfinite(arr) & (arr == np.round(arr)) & (arr >= 0) & (arr <= n - 1))
    if not ok.all():
        bad = np.flatnonzero(~ok)
        shown = ", ".join(f"[{i}]={float(arr[i])!r}" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise RatingError(f"{what} must be whole class indices 0..{n - 1} on a {n}-class scale; got {shown}{more}")
    out = arr.copy()
    out[skip] = np.nan
    return out


@dataclass(frozen=True, eq=False)
class Ratings:
    """A teacher's ratings of a batch of segments.

    Args:
        values: (n,) float64 class indices 0..n_classes-1; NaN where skipped.
        skipped: (n,) bool, the teacher declined to rate.
        n_classes: the scale.
        provenance: who rated.
        times: (n,) Unix time of each answer.
    """

    values: np.ndarray
    skipped: np.ndarray
    n_classes: int
    provenance: Provenance
    times: np.ndarray

    def __post_init__(self):
        skipped = np.asarray(self.skipped, dtype=bool).reshape(-1)
        values = check_ratings(self.values, self.n_classes, skipped)
        times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        if times.shape != values.shape:
            raise RatingError(f"{values.size} ratings but {times.size} times")
        if not isinstance(self.provenance, Provenance):
            raise TypeError(f"provenance must be a Provenance, got {type(self.provenance).__name__}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "skipped", skipped)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "n_classes", int(self.n_classes))

    @classmethod
    def make(cls, values: Any, n_classes: int, provenance: Provenance, *, skipped: Any = None, timestamp: float | None = None) -> "Ratings":
        """Ratings answered now (or at ``timestamp``), none skipped unless ``skipped`` says so."""
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        skip = np.zeros(vals.size, bool) if skipped is None else skipped
        t = time.time() if timestamp is None else float(timestamp)
        return cls(vals, skip, n_classes, provenance, np.full(vals.size, t))

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def answered(self) -> np.ndarray:
        return ~self.skipped

    def __repr__(self) -> str:
        counts = np.bincount(self.values[self.answered].astype(int), minlength=self.n_classes).tolist()
        return f"Ratings(n={len(self)}, n_classes={self.n_classes}, counts={counts}, skipped={int(self.skipped.sum())}, labeler={self.provenance.labeler!r})"
