"""Rankings built by insertion with binary search (LiRE, Choi et al. 2024).

A ranking is a list of *groups* ordered worst → best; a group holds items (segment ids)
judged equal. A new item is placed by binary search over the groups: each probe
compares it with one member of the middle group — worse: search the lower half,
better: the upper half, equal: join that group — and, when no group was equal, it
becomes a new group where the search ended. With G groups that is at most
``ceil(log2(G + 1))`` comparisons per insertion.

:class:`RankingBuilder` is that procedure as a small state machine whose whole state
is JSON (so the labeling page keeps a person's half-built list in the store between
requests): :meth:`~RankingBuilder.probe` says which comparison is needed next,
:meth:`~RankingBuilder.answer` takes it. :func:`build_ranking` runs it against a
comparison function (a scripted teacher, see :func:`pbrl.teachers.rank_segments`).

Comparison answers use the pair-label convention with the probe as σ¹ and the new
item as σ²: 1 = the new item is better, 0 = worse, 0.5 = equal (None: skipped — the
item is left out of the list). The probed member of a group is the one at position
``comparisons % len(group)`` (LiRE draws one at random; a deterministic choice keeps
the state replayable).

A finished ranking implies a label for every pair of its items
(:func:`implied_pairs`): 1 across groups (σ² in the better group), 0.5 inside a
group; that is how pair-based reward models train on rankings unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = ["RankingBuilder", "RankingError", "build_ranking", "check_groups", "implied_pairs", "max_comparisons"]


class RankingError(ValueError):
    """A malformed ranking (not a list of non-empty groups of distinct ids) or answer."""


def max_comparisons(n_groups: int) -> int:
    """The most comparisons binary insertion into ``n_groups`` groups needs: ceil(log2(G + 1))."""
    return int(math.ceil(math.log2(int(n_groups) + 1)))


def check_groups(groups: Any) -> list[list[int]]:
    """``groups`` as a list of non-empty lists of distinct positive ints, or :class:`RankingError`."""
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
        raise RankingError(f"a ranking must be a list of groups (lists of segment ids), worst first; got {groups!r}")
    out: list[list[int]] = []
    seen: set[int] = set()
    for g, group in enumerate(groups):
        if isinstance(group, (int, np.integer)) and not isinstance(group, bool):
            group = [group]
        if isinstance(group, (str, bytes)) or not isinstance(group, Iterable):
            raise RankingError(f"group {g} of the ranking is {group!r}, not a list of segment ids")
        members = []
        for item in group:
            if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < 1:
                raise RankingError(f"group {g} of the ranking holds {item!r}; segment ids are positive integers")
            if int(item) in seen:
                raise RankingError(f"segment {int(item)} appears twice in the ranking")
            seen.add(int(item))
            members.append(int(item))
        if not members:
            raise RankingError(f"group {g} of the ranking is empty")
        out.append(members)
    return out


def implied_pairs(groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of a ranking's items with its label: ``(first, second, labels)``.

    ``first`` is always the item from the lower (or the same) group: label 1 (σ² better)
    across groups, 0.5 within a group. n items give n(n−1)/2 pairs.
    """
    groups = check_groups(groups)
    first, second, labels = [], [], []
    for i, gi in enumerate(groups):
        for a_pos, a in enumerate(gi):
            for b in gi[a_pos + 1 :]:
                first.append(a), second.append(b), labels.append(0.5)
            for gj in groups[i + 1 :]:
                for b in gj:
                    first.append(a), second.append(b), labels.append(1.0)
    return np.asarray(first, np.int64), np.asarray(second, np.int64), np.asarray(labels, np.float64)


class RankingBuilder:
    """Binary-insertion ranking, one comparison at a time.

    Args:
        items: ids still to insert, in insertion order (the first one starts the list).
        groups: an existing ranking to insert into (worst group first).
    """

    def __init__(self, items: Iterable[int] = (), groups: Sequence[Sequence[int]] = ()):
        self.groups = check_groups(groups)
        self.pending: list[int] = []
        self.dropped: list[int] = []
        self.comparisons = 0
        self.lo = self.hi = 0
        self._searching = False
        self._history: list[str] = []
        for item in items:
            self.add(item)

    # -- state ---------------------------------------------------------------

    def add(self, item: int) -> None:
        """Queue one more id for insertion."""
        check_groups([[*self.items(), *self.pending, item]])  # a positive int, not already here
        self.pending.append(int(item))

    def items(self) -> list[int]:
        """The ids in the list, worst first."""
        return [i for g in self.groups for i in g]

    @property
    def steps(self) -> int:
        """Answers given so far (skips included; undo takes one back)."""
        return len(self._history)

    @property
    def done(self) -> bool:
        """Every queued item is placed (or dropped)."""
        self._start()
        return not self.pending

    @property
    def candidate(self) -> int | None:
        """The item being inserted now."""
        self._start()
        return self.pending[0] if self.pending else None

    def _start(self) -> None:
        """Place items that need no comparison (the first one) and open the next search."""
        while self.pending and not self.groups:
            self.groups.append([self.pending.pop(0)])
        if self.pending and not self._searching:
            self.lo, self.hi, self._searching = 0, len(self.groups), True

    def probe(self) -> tuple[int, int] | None:
        """``(reference, candidate)``: compare the candidate (σ²) with this member of the
        middle group (σ¹); None when everything is placed."""
        self._start()
        if not self.pending:
            return None
        group = self.groups[(self.lo + self.hi) // 2]
        return group[self.comparisons % len(group)], self.pending[0]

    def answer(self, label: float | None) -> bool:
        """Take the answer to :meth:`probe`'s comparison; True when the candidate was placed.

        Args:
            label: 1 = the candidate is better, 0 = worse, 0.5 = equal, None = skipped
                (the candidate is dropped from this list).
        """
        if self.probe() is None:
            raise RankingError("the ranking is complete: there is no comparison to answer")
        if label is not None and label not in (0, 0.5, 1):
            raise RankingError(f"a comparison answer is 1 (better), 0 (worse), 0.5 (equal) or None (skip), got {label!r}")
        self._history.append(self._core_json())
        candidate = self.pending[0]
        if label is None:
            self.dropped.append(self.pending.pop(0))
            self._searching = False
            return True
        self.comparisons += 1
        mid = (self.lo + self.hi) // 2
        if label == 0.5:
            self.groups[mid].append(candidate)
        elif label == 1:
            self.lo = mid + 1
        else:
            self.hi = mid
        if label != 0.5 and self.lo < self.hi:
            return False
        if label != 0.5:
            self.groups.insert(self.lo, [candidate])
        self.pending.pop(0)
        self._searching = False
        return True

    def undo(self) -> bool:
        """Go back one answer; False when there is none."""
        if not self._history:
            return False
        history = self._history[:-1]
        self._load_core(json.loads(self._history[-1]))
        self._history = history
        return True

    def _core_json(self) -> str:
        return json.dumps(
            {"groups": self.groups, "pending": self.pending, "dropped": self.dropped, "comparisons": self.comparisons,
             "lo": self.lo, "hi": self.hi, "searching": self._searching}  # fmt: skip
        )

    def _load_core(self, core: dict[str, Any]) -> None:
        self.groups = check_groups(core["groups"])
        self.pending = [int(i) for i in core["pending"]]
        self.dropped = [int(i) for i in core["dropped"]]
        self.comparisons, self.lo, self.hi = int(core["comparisons"]), int(core["lo"]), int(core["hi"])
        self._searching = bool(core["searching"])
        if not (0 <= self.lo <= self.hi <= len(self.groups)) or (self._searching and not self.pending):
            raise RankingError(f"inconsistent ranking state {core!r}")

    def to_json(self) -> str:
        """The whole state (including the undo history) as JSON."""
        return json.dumps({"core": json.loads(self._core_json()), "history": self._history})

    @classmethod
    def from_json(cls, text: str) -> "RankingBuilder":
        """The builder :meth:`to_json` saved."""
        try:
            state = json.loads(text)
            builder = cls()
            builder._load_core(state["core"])
            builder._history = [str(h) for h in state["history"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise RankingError(f"not a saved ranking state ({exc})") from None
        return builder

    def __repr__(self) -> str:
        return f"RankingBuilder(groups={self.groups}, pending={self.pending}, comparisons={self.comparisons})"


def build_ranking(
    items: Iterable[int], compare: Callable[[int, int], float | None], *, groups: Sequence[Sequence[int]] = ()
) -> RankingBuilder:
    """Insert ``items`` one by one, asking ``compare(reference, candidate)`` (1: candidate
    better, 0: worse, 0.5: equal, None: skip) at every probe; returns the finished builder."""
    builder = RankingBuilder(items, groups)
    while (step := builder.probe()) is not None:
        builder.answer(compare(*step))
    return builder
