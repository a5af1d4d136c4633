"""The rating and ranking views' side of the labeling app: what a labeler gets next and their answers.

**Rating** (``/rate``): one clip; the labeler presses ``1`` … ``n`` (n = the rating
query's scale; 1 = worst) or ``s`` to skip. The API takes the level as shown, 1..n,
and stores class ``level − 1``. A labeler gets the rating queries they have not
answered, oldest first.

**Ranking** (``/rank``): a labeler builds one open ranking of the store
(:meth:`~pbrl.preferences.PreferenceStore.start_ranking`) by binary insertion: the
left clip is a segment already in the list (the probe), the right clip the segment
being inserted; ``←`` left is better, ``→`` right is better, ``=`` equal, ``s`` leave
the new clip out. Every answer carries the ``step`` the page saw, so a repeated or
stale submission is refused instead of applied twice. When the list is complete its
implied pairs are stored as the labeler's pair labels.
"""

from __future__ import annotations

from typing import Any

from ..preferences.labels import Provenance
from ..preferences.ranking import max_comparisons
from ..teachers.human import HUMAN_KIND

__all__ = ["RANKING_CHOICES", "FeedbackDesk"]

#: page choice -> comparison answer about the new clip (right) against the probe (left)
RANKING_CHOICES: dict[str, float | None] = {"left": 0.0, "right": 1.0, "equal": 0.5, "skip": None}


class FeedbackDesk:
    """Serves rating queries and rankings to human labelers, over a store."""

    def __init__(self, store: Any):
        self.store = store

    @staticmethod
    def provenance(labeler: str) -> Provenance:
        return Provenance(HUMAN_KIND, {}, labeler)

    # -- ratings --------------------------------------------------------------------

    def next_rating(self, labeler: str) -> int | None:
        """The rating query ``labeler`` should answer next, or None."""
        ids = self.store.open_rating_queries(labeler, limit=1)
        return int(ids[0]) if ids.size else None

    def rating_answer(self, labeler: str, rating_query_id: int) -> int | None:
        """The labeler's active answer as a level 1..n (0 = skipped), or None."""
        rows = self.store.ratings(labeler=labeler)
        mine = rows["rating_query_id"] == int(rating_query_id)
        if not mine.any():
            return None
        return 0 if rows["skipped"][mine][0] else int(rows["rating"][mine][0]) + 1

    def rating_progress(self, labeler: str) -> dict[str, int]:
        mine = self.store.ratings(labeler=labeler)
        total = int(self.store.rating_queries()["id"].size)
        return {"labelled": int(mine["id"].size), "skipped": int(mine["skipped"].sum()),
                "queued": int(self.store.open_rating_queries(labeler).size), "total": total}  # fmt: skip

    def submit_rating(self, labeler: str, rating_query_id: int, level: int | None) -> dict[str, Any]:
        """Store a level 1..n (None = skip). Raises KeyError (unknown query), RatingError (level outside
        the scale) or RatingConflictError (a different earlier answer: undo first)."""
        before = self.rating_answer(labeler, rating_query_id)
        rating = None if level is None else int(level) - 1
        rid = self.store.add_rating(int(rating_query_id), rating, self.provenance(labeler))
        return {"rating_id": rid, "duplicate": before is not None and before == (0 if level is None else int(level))}

    def render_plan(self, ahead: int) -> list[int]:
        """Segments of the oldest open rating queries and of the open rankings' next probes."""
        out = [self.store.rating_query(int(q))[0] for q in self.store.open_rating_queries(limit=ahead)]
        for ranking in self.store.rankings("open")[:ahead]:
            step = ranking["builder"].probe()
            if step is not None:
                out.extend(step)
        return out

    # -- rankings -------------------------------------------------------------------

    def ranking_view(self, labeler: str, ranking_id: int | None = None) -> dict[str, Any] | None:
        """The labeler's current ranking (or ``ranking_id``): id, step, the comparison to make, and where
        the list stands; None when no open ranking is left."""
        rid = self.store.open_ranking(labeler) if ranking_id is None else int(ranking_id)
        if rid is None:
            return None
        r = self.store.ranking(rid)
        builder = r["builder"]
        probe = builder.probe()
        placed = len(builder.items())
        return {
            "id": rid,
            "status": r["status"],
            "step": builder.steps,
            "reference": None if probe is None else probe[0],
            "candidate": None if probe is None else probe[1],
            "placed": placed,
            "pending": len(builder.pending),
            "dropped": len(builder.dropped),
            "groups": len(builder.groups),
            "comparisons": builder.comparisons,
            "most_comparisons_left": 0 if probe is None else max_comparisons(builder.hi - builder.lo),
        }

    def answer_ranking(self, labeler: str, ranking_id: int, step: int, choice: str) -> dict[str, Any]:
        if choice not in RANKING_CHOICES:
            raise ValueError(f"choice must be one of {sorted(RANKING_CHOICES)}, got {choice!r}")
        return self.store.answer_ranking(int(ranking_id), int(step), RANKING_CHOICES[choice], self.provenance(labeler))
