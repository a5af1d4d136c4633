"""The Teacher interface: pairs of segments in, labels with provenance out.

Every teacher — scripted (B-Pref), Boltzmann (imitation), hierarchical (HERON),
LLM and human — implements :class:`Teacher`, so any training loop can use any of
them. A loop does, each feedback round::

    first, second = selector.select(sampler, ensemble=..., labelled=...)
    query_ids = store.add_pairs(first, second)         # durable before asking
    teacher.set_recent_returns(buffer.recent_returns(10))
    labels = teacher.label(first, second, query_ids=query_ids)
    store.add_labels(query_ids, labels)                 # skipped/pending are handled
    data = store.labelled_pairs()                       # train the reward model on this

Synchronous teachers (scripted, hierarchical, LLM) answer every pair in
:meth:`Teacher.label`: each label is 0, 1, 0.5 or skipped. An *asynchronous*
teacher (``asynchronous = True``, e.g. a person in the labeling web app) may
return some labels as *pending*; their answers are written to the preference
store when they arrive (by the web app), so the loop sees them the next time it
reads :meth:`~pbrl.preferences.PreferenceStore.labelled_pairs`. Such a teacher
needs the store ids of the pairs, passed as ``query_ids``.

Feedback beyond pairs goes through the same interface: :meth:`Teacher.rate` rates
single segments on a discrete scale (teachers that can: :class:`pbrl.teachers.RatingTeacher`;
the others refuse with a clear error), and rankings are built from any teacher's
pairwise answers by binary insertion (:func:`pbrl.teachers.rank_segments`)::

    qids = store.add_rating_queries(segments, teacher.n_classes)
    store.add_ratings(qids, teacher.rate(segments))
    for ranking in rank_segments(teacher, segments, budget=100):
        store.add_ranked_segments(segments, ranking.groups, ranking.provenance, comparisons=ranking.comparisons)

Writing a teacher: subclass :class:`Teacher`, set ``kind``, implement
:attr:`params` (JSON-ready) and :meth:`label`; override :attr:`labeler` for a
stable id (a human's name), and :meth:`set_recent_returns` if the teacher's
thresholds depend on recent training returns. Register it with
:func:`pbrl.teachers.register_teacher` to make it available by name.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Sequence

import numpy as np

from ..preferences.labels import Labels, Provenance
from ..preferences.ratings import Ratings
from ..preferences.segments import SegmentBatch, check_pair_batches

__all__ = ["Teacher", "check_pairs"]


def check_pairs(first: SegmentBatch, second: SegmentBatch) -> int:
    """Check that two batches form pairs; return the number of pairs.

    Raises:
        pbrl.preferences.SegmentShapeError: different lengths or segment shapes.
    """
    check_pair_batches(first, second)
    return len(first)


class Teacher(abc.ABC):
    """Answers preference queries over pairs of segments.

    Class attributes:
        kind: the teacher kind recorded with every label (``"scripted"``, ...).
        asynchronous: True if :meth:`label` may leave labels pending.
    """

    kind: ClassVar[str] = "teacher"
    asynchronous: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """The teacher's parameters, JSON-serialisable (recorded with every label)."""

    @property
    def labeler(self) -> str | None:
        """A stable labeler id; None derives one from ``kind`` and ``params``."""
        return None

    @property
    def provenance(self) -> Provenance:
        """Who answers: kind, parameters and labeler id."""
        return Provenance(self.kind, self.params, self.labeler)

    @abc.abstractmethod
    def label(
        self,
        first: SegmentBatch,
        second: SegmentBatch,
        *,
        query_ids: Sequence[int] | np.ndarray | None = None,
    ) -> Labels:
        """Label the pairs ``(first[i], second[i])``.

        Args:
            first: (n,) first segments σ¹.
            second: (n,) second segments σ², same shape as ``first``.
            query_ids: the store ids of the pairs, when the loop stored them first
                (asynchronous teachers need them; others may ignore them).

        Returns:
            :class:`~pbrl.preferences.Labels`: 1 = σ² preferred, 0 = σ¹ preferred,
            0.5 = equal, or skipped / pending; with this teacher's provenance.
        """

    def rate(self, segments: SegmentBatch, *, query_ids: Sequence[int] | np.ndarray | None = None) -> Ratings:
        """Rate each segment on this teacher's scale (``n_classes``): class 0 = worst.

        Teachers that only compare pairs do not override it and raise ``TypeError``.
        """
        raise TypeError(
            f"{type(self).__name__} answers pairwise queries only; ratings need a rating teacher "
            "(make_teacher('rating', n_classes=5, ...))"
        )

    def set_recent_returns(self, returns: Sequence[float] | np.ndarray) -> None:
        """Tell the teacher the true returns of the latest training episodes.

        Scripted teachers set their skip/equal thresholds from them (B-Pref); the
        default ignores them. Loops call it before every :meth:`label`.
        """

    def __call__(self, first: SegmentBatch, second: SegmentBatch, **kwargs: Any) -> Labels:
        return self.label(first, second, **kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"
