"""What a labeler sees next, their progress, and their answers — over the store.

The HTTP layer (:mod:`pbrl.web.app`) is a thin shell around :class:`LabelingDesk`.

Which queries a labeler gets: every query they have not answered (no active label
or skip of theirs), **fresh ones first** — queries nobody has answered yet, oldest
first — then the ones others have answered, oldest first (those measure agreement
between labelers). A live run's new queries are fresh, so they come first.

Answers, as the page names them, and the stored labels (:mod:`pbrl.preferences.labels`):
the left clip is the query's first segment σ¹ and the right clip its second σ².

=========  ======================  ============
choice     meaning                 stored label
=========  ======================  ============
``left``   the left clip is better  0 (σ¹ preferred)
``right``  the right clip is better 1 (σ² preferred)
``equal``  equally good             0.5
``skip``   cannot tell              skipped
=========  ======================  ============

A submission is idempotent (the same answer twice stores one label); a different
answer to a query the labeler already answered is refused (undo first). Labels
carry ``Provenance("human", {}, <labeler name>)``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..preferences.labels import Provenance
from ..preferences.store import LabelConflictError
from ..teachers.human import HUMAN_KIND

__all__ = ["CHOICES", "HUMAN_KIND", "LabelingDesk", "QueryNotFound", "Submission", "choice_of"]

#: page choice -> stored label value (None = skipped)
CHOICES: dict[str, float | None] = {"left": 0.0, "right": 1.0, "equal": 0.5, "skip": None}
#: the teacher kind of labels given in the web app


def choice_of(label: float, skipped: bool) -> str:
    """The page's name of a stored label."""
    if skipped:
        return "skip"
    return {0.0: "left", 1.0: "right", 0.5: "equal"}[float(label)]


class QueryNotFound(KeyError):
    """No query with that id in the store."""


@dataclass(frozen=True)
class Submission:
    """The result of a submitted answer."""

    query_id: int
    label_id: int
    choice: str
    duplicate: bool


class LabelingDesk:
    """Serves queries to human labelers and records their answers in a store.

    Args:
        store: an open :class:`~pbrl.preferences.PreferenceStore`.
        active_for: seconds a labeler counts as active after their last request
            (the clips of active labelers' next queries are rendered ahead).
    """

    def __init__(self, store: Any, *, active_for: float = 900.0):
        self.store = store
        self.active_for = float(active_for)
        self._pairs: dict[int, tuple[int, int]] = {}
        self._max_id = 0
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    # -- queries ----------------------------------------------------------------

    def segments_of(self, query_id: int) -> tuple[int, int]:
        """(first, second) segment ids of a query.

        Raises:
            QueryNotFound: no such query.
        """
        qid = int(query_id)
        pair = self._pairs.get(qid)
        if pair is None and qid > self._max_id:
            self._refresh()
            pair = self._pairs.get(qid)
        if pair is None:
            raise QueryNotFound(f"query {qid} is not in the store")
        return pair

    def _refresh(self) -> None:
        with self._lock:
            q = self.store.queries()
            for qid, a, b in zip(q["id"].tolist(), q["segment1"].tolist(), q["segment2"].tolist()):
                self._pairs[qid] = (a, b)
            if q["id"].size:
                self._max_id = max(self._max_id, int(q["id"].max()))

    def queue(self, labeler: str, limit: int | None = None) -> np.ndarray:
        """Ids of the queries ``labeler`` has still to answer, in serving order."""
        mine = self.store.open_queries(labeler)
        if mine.size == 0:
            return mine
        fresh = np.isin(mine, self.store.open_queries())
        order = np.concatenate([mine[fresh], mine[~fresh]])
        return order if limit is None else order[: int(limit)]

    def next_query(self, labeler: str) -> int | None:
        """The query ``labeler`` should answer next, or None when they are done."""
        self.touch(labeler)
        ids = self.queue(labeler, limit=1)
        return int(ids[0]) if ids.size else None

    def progress(self, labeler: str) -> dict[str, int]:
        """``labelled`` (answers incl. skips), ``skipped``, ``queued`` (still to answer)
        and ``total`` (queries in the store) for one labeler."""
        mine = self.store.labels(labeler=labeler)
        skipped = int(mine["skipped"].sum())
        total = int(self.store.summary()["queries"])
        queued = int(self.store.open_queries(labeler).size)
        return {"labelled": int(mine["id"].size), "skipped": skipped, "queued": queued, "total": total}

    def answer_of(self, labeler: str, query_id: int) -> str | None:
        """The labeler's active answer to a query, as a choice, or None."""
        rows = self.store.labels(query_ids=[int(query_id)], labeler=labeler)
        if rows["id"].size == 0:
            return None
        return choice_of(rows["label"][0], bool(rows["skipped"][0]))

    # -- answers ----------------------------------------------------------------

    def submit(self, labeler: str, query_id: int, choice: str) -> Submission:
        """Record ``labeler``'s answer to a query (one transaction).

        Raises:
            ValueError: ``choice`` is not one of :data:`CHOICES`.
            QueryNotFound: no such query.
            LabelConflictError: the labeler already gave a different answer.
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {sorted(CHOICES)}, got {choice!r}")
        self.touch(labeler)
        qid = int(query_id)
        self.segments_of(qid)
        before = self.answer_of(labeler, qid)
        if before is not None and before != choice:
            raise LabelConflictError(
                f"you already answered query {qid} with {before!r}; undo it first to change the answer"
            )
        try:
            label_id = self.store.add_label(qid, CHOICES[choice], Provenance(HUMAN_KIND, {}, labeler))
        except KeyError:
            raise QueryNotFound(f"query {qid} is not in the store") from None
        return Submission(query_id=qid, label_id=label_id, choice=choice, duplicate=before == choice)

    def undo(self, labeler: str) -> int | None:
        """Retract the labeler's most recent answer; its query id, or None."""
        self.touch(labeler)
        return self.store.undo_last(labeler)

    # -- activity (for rendering ahead) ---------------------------------------------

    def touch(self, labeler: str) -> None:
        self._seen[labeler] = time.monotonic()

    def active_labelers(self) -> list[str]:
        now = time.monotonic()
        return [name for name, t in sorted(self._seen.items(), key=lambda kv: -kv[1]) if now - t < self.active_for]

    def render_plan(self, ahead: int = 8) -> list[int]:
        """Segment ids whose clips should be ready next, most urgent first: the next
        ``ahead`` queries of each active labeler (interleaved), then the oldest fresh
        queries (for a labeler who has not opened the page yet)."""
        queues = [self.queue(name, limit=ahead).tolist() for name in self.active_labelers()]
        queues.append(self.store.open_queries(limit=ahead).tolist())
        out: list[int] = []
        seen: set[int] = set()
        for rank in range(ahead):
            for q in queues:
                if rank < len(q):
                    for sid in self.segments_of(q[rank]):
                        if sid not in seen:
                            seen.add(sid)
                            out.append(sid)
        return out
