"""HERON's hierarchical teacher ("Deep RL from Hierarchical Weak Preference Feedback").

The reward terms are ranked by importance — by default the task card's
``reward_terms`` order (most important first), or an order the user gives. A pair
is compared on the segment sums of the most important term; when the two sums
differ by no more than that term's margin, the comparison falls to the next term;
when every term is within its margin the label is 0.5 (equal).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..preferences.labels import Labels
from ..preferences.segments import SegmentBatch, SegmentShapeError
from .base import Teacher, check_pairs

__all__ = ["HierarchicalTeacher"]


class HierarchicalTeacher(Teacher):
    """Compare pairs term by term, in order of importance (HERON).

    Args:
        terms: term names, most important first. Default: the card's order.
        card: the task card (its ``reward_terms`` give the default order).
        margins: how close two term sums must be (``|Σ term² − Σ term¹| <= margin``)
            to fall through to the next term: one number for all terms, a sequence
            in ``terms`` order, or a mapping name -> margin (missing names: 0).
            Sums are of the weighted term values in ``info["reward_terms"]``, so
            "higher is better" holds for every term, costs included.
    """

    kind = "hierarchical"

    def __init__(
        self,
        terms: Sequence[str] | None = None,
        *,
        card: Any = None,
        margins: float | Sequence[float] | Mapping[str, float] = 0.0,
    ):
        if terms is None:
            if card is None:
                raise ValueError("HierarchicalTeacher needs the term order: pass terms=[...] or card=")
            terms = card.term_names
        order = [str(t) for t in terms]
        if not order:
            raise ValueError("HierarchicalTeacher needs at least one reward term")
        if len(set(order)) != len(order):
            raise ValueError(f"reward terms listed twice: {order}")
        if card is not None:
            unknown = [t for t in order if t not in card.term_names]
            if unknown:
                raise ValueError(f"terms {unknown} are not reward terms of {card.id} ({list(card.term_names)})")
        if isinstance(margins, Mapping):
            unknown = [k for k in margins if k not in order]
            if unknown:
                raise ValueError(f"margins given for terms {unknown} that are not ranked ({order})")
            values = [float(margins.get(t, 0.0)) for t in order]
        elif np.ndim(margins) == 0:
            values = [float(margins)] * len(order)  # type: ignore[arg-type]
        else:
            values = [float(m) for m in margins]  # type: ignore[union-attr]
            if len(values) != len(order):
                raise ValueError(f"{len(values)} margins for {len(order)} terms {order}")
        if any(not (m >= 0 and np.isfinite(m)) for m in values):
            raise ValueError(f"margins must be finite and >= 0, got {values}")
        self.terms = tuple(order)
        self.margins = np.asarray(values, dtype=np.float64)

    @property
    def params(self) -> dict[str, Any]:
        return {"terms": list(self.terms), "margins": self.margins.tolist()}

    def deciding_term(self, first: SegmentBatch, second: SegmentBatch) -> np.ndarray:
        """(n,) index into :attr:`terms` of the term that decided each pair (-1: equal)."""
        decisive, _ = self._compare(first, second)
        return np.where(decisive.any(axis=0), decisive.argmax(axis=0), -1)

    def _compare(self, first: SegmentBatch, second: SegmentBatch) -> tuple[np.ndarray, np.ndarray]:
        check_pairs(first, second)
        for name, batch in (("first", first), ("second", second)):
            missing = [t for t in self.terms if t not in batch.terms]
            if missing:
                raise SegmentShapeError(
                    f"{name} segments have no reward term(s) {missing}; they have {list(batch.terms)}"
                )
        t1, t2 = first.term_returns(), second.term_returns()
        diff = np.stack([t2[t] - t1[t] for t in self.terms])  # (K, n)
        decisive = np.abs(diff) > self.margins[:, None]
        return decisive, diff

    def label(self, first: SegmentBatch, second: SegmentBatch, *, query_ids=None) -> Labels:
        decisive, diff = self._compare(first, second)
        n = diff.shape[1]
        k = decisive.argmax(axis=0)
        deciding = diff[k, np.arange(n)]
        y = np.where(decisive.any(axis=0), (deciding > 0).astype(np.float64), 0.5)
        return Labels.make(y, self.provenance)
