"""ICPL: preferences over the candidates' behaviour as the feedback of reward synthesis.

In-Context Preference Learning (ICPL) runs Eureka's loop but, instead of ranking the
candidates by a task metric, shows a teacher the behaviour of each candidate's trained
policy and asks which is preferred; the preferred candidate's program is the base of the
next iteration and the comparison outcomes go into the prompt.

Each iteration, :func:`run_tournament` compares every pair of the trained candidates (and
the preferred candidate of the earlier iterations, the *incumbent*, so that preference
carries across iterations): for each pair it cuts ``comparisons`` segments of each
candidate's rollouts (the trusted evaluation's episodes; windows of ``horizon`` steps, or
whole episodes), at random sides (first/second), stores the pairs in the run's preference
store (``preferences.sqlite``; ``meta``: iteration and candidates) and asks the teacher —
any :class:`~pbrl.teachers.Teacher`: a scripted preset, the LLM teacher, or people on the
labeling page (the human teacher). A candidate's *win rate* is the share of its answered
comparisons it won (a tie counts one half); the preferred candidate has the highest, the
rejected one (ICPL's "bad example") the lowest; ties go to the higher fitness. When no
answer arrived the fitness decides, and the outcome says so.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from pbrl.preferences.segments import SegmentBatch

from .rollouts import Rollouts, cut_segments

__all__ = ["Comparison", "Tournament", "run_tournament"]


@dataclass
class Comparison:
    """The answers for one pair of candidates: wins of each (ties count one half each), and counts."""

    first: str
    second: str
    query_ids: list[int]
    first_wins: float = 0.0
    second_wins: float = 0.0
    ties: int = 0
    unanswered: int = 0


@dataclass
class Tournament:
    """One iteration's comparisons and their outcome (JSON-ready through :meth:`to_dict`)."""

    iteration: int
    teacher: dict[str, Any]
    candidates: list[str]
    comparisons: list[Comparison] = field(default_factory=list)
    win_rate: dict[str, float | None] = field(default_factory=dict)
    preferred: str | None = None
    rejected: str | None = None
    decided_by: str = "preferences"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """The outcomes as text lines, for a prompt or a report."""
        lines = [f"- {c.first} vs {c.second}: {c.first} preferred {c.first_wins:g} times, {c.second} "
                 f"{c.second_wins:g} times, {c.ties} equal, {c.unanswered} unanswered" for c in self.comparisons]
        rates = ", ".join(f"{k} {v:.0%}" if v is not None else f"{k} -" for k, v in self.win_rate.items())
        return "\n".join(lines + [f"win rates: {rates}"])


def run_tournament(iteration: int, rollouts: Mapping[str, Rollouts], fitness: Mapping[str, float], teacher: Any,
                   store: Any, *, comparisons: int, horizon: int, seed: int) -> Tournament:
    """Compare the candidates' behaviour pairwise with ``teacher`` (see the module docstring).

    Args:
        iteration: the loop's iteration (recorded with each query).
        rollouts: candidate id -> its recorded episodes.
        fitness: candidate id -> fitness (breaks ties of the win rate).
        teacher: the teacher asked.
        store: the run's :class:`~pbrl.preferences.PreferenceStore`.
        comparisons: segment pairs per pair of candidates.
        horizon: segment length in steps; 0 = whole episodes.
        seed: seeds the segments drawn and the sides.
    """
    ids = list(rollouts)
    out = Tournament(iteration, {"kind": teacher.provenance.kind, "labeler": teacher.provenance.labeler,
                                 "params": dict(teacher.provenance.params)}, ids)
    if len(ids) < 2:
        out.preferred = ids[0] if ids else None
        out.decided_by = "only candidate" if ids else "no candidate"
        return out
    rng = np.random.default_rng([int(seed), int(iteration), 17])
    whole = int(horizon) == 0
    h = int(max(r.lengths.max() for r in rollouts.values())) if whole else int(horizon)
    h = min(h, min(r.obs.shape[1] for r in rollouts.values()))
    firsts: list[SegmentBatch] = []
    seconds: list[SegmentBatch] = []
    swapped: list[np.ndarray] = []
    for a, b in itertools.combinations(ids, 2):
        sa = cut_segments(rollouts[a], h, comparisons, rng, f"icpl/{a}", whole=whole)
        sb = cut_segments(rollouts[b], h, comparisons, rng, f"icpl/{b}", whole=whole)
        swap = rng.random(comparisons) < 0.5  # which candidate is shown first
        first = SegmentBatch.concatenate([sa[~swap], sb[swap]]) if swap.any() else sa
        second = SegmentBatch.concatenate([sb[~swap], sa[swap]]) if swap.any() else sb
        order = np.concatenate([np.flatnonzero(~swap), np.flatnonzero(swap)])
        qids = store.add_pairs(first, second, meta={"purpose": "icpl", "iteration": int(iteration),
                                                   "candidates": [a, b]})
        out.comparisons.append(Comparison(a, b, [int(q) for q in qids]))
        firsts.append(first)
        seconds.append(second)
        swapped.append(swap[order])
    first_all, second_all = SegmentBatch.concatenate(firsts), SegmentBatch.concatenate(seconds)
    qids_all = np.concatenate([c.query_ids for c in out.comparisons])
    teacher.set_recent_returns(np.concatenate([r.rewards.sum(axis=1) for r in rollouts.values()]))
    labels = teacher.label(first_all, second_all, query_ids=qids_all)
    store.add_labels(qids_all, labels)
    k = 0
    wins = {i: 0.0 for i in ids}
    answered = {i: 0 for i in ids}
    for comp, swap in zip(out.comparisons, swapped):
        for j in range(len(comp.query_ids)):
            if not labels.answered[k + j]:
                comp.unanswered += 1
                continue
            y = float(labels.values[k + j])  # 1: the second segment preferred
            b_share = (1.0 - y) if swap[j] else y  # swapped: candidate b was shown first
            comp.second_wins += b_share if y != 0.5 else 0.0
            comp.first_wins += (1.0 - b_share) if y != 0.5 else 0.0
            comp.ties += int(y == 0.5)
            wins[comp.first] += 1.0 - b_share
            wins[comp.second] += b_share
            answered[comp.first] += 1
            answered[comp.second] += 1
        k += len(comp.query_ids)
    out.win_rate = {i: (wins[i] / answered[i] if answered[i] else None) for i in ids}
    rated = [i for i in ids if out.win_rate[i] is not None]
    if not rated:
        out.decided_by = "fitness (no answers arrived)"
        rated, key = ids, (lambda i: (fitness.get(i, float("-inf")),))
    else:
        key = lambda i: (out.win_rate[i], fitness.get(i, float("-inf")))  # noqa: E731
    out.preferred = max(rated, key=key)
    out.rejected = min(rated, key=key)
    return out
