"""LiRE's binary-insertion rankings: comparison counts, order, implied pairs, malformed input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pbrl.preferences.ranking import RankingBuilder, RankingError, build_ranking, implied_pairs, max_comparisons


def _true_compare(value, asked):
    def compare(reference, candidate):
        asked.append((reference, candidate))
        a, b = value[reference], value[candidate]
        return 0.5 if a == b else float(b > a)

    return compare


@pytest.mark.parametrize("seed", range(5))
def test_noiseless_insertion_sorts_with_log_comparisons(seed):
    rng = np.random.default_rng(seed)
    n = 40
    value = dict(zip(range(1, n + 1), rng.permutation(n).tolist()))  # distinct true values
    builder = RankingBuilder()
    for item in range(1, n + 1):
        groups_before = len(builder.groups)
        asked = []
        builder.add(item)
        compare = _true_compare(value, asked)
        while (step := builder.probe()) is not None:
            builder.answer(compare(*step))
        assert len(asked) <= math.ceil(math.log2(groups_before + 1)), (item, len(asked))
        assert len(asked) <= max_comparisons(groups_before)
    order = builder.items()
    assert order == sorted(value, key=value.get)  # worst first
    assert all(len(g) == 1 for g in builder.groups)


def test_equal_items_share_a_group():
    value = {1: 0, 2: 1, 3: 1, 4: 2, 5: 0}
    builder = build_ranking([1, 2, 3, 4, 5], _true_compare(value, []))
    assert builder.groups == [[1, 5], [2, 3], [4]]
    first, second, labels = implied_pairs(builder.groups)
    assert len(labels) == 10  # n(n-1)/2
    pairs = dict(zip(zip(first.tolist(), second.tolist()), labels.tolist()))
    assert pairs[(1, 5)] == 0.5 and pairs[(2, 3)] == 0.5
    assert pairs[(1, 4)] == 1.0 and pairs[(5, 2)] == 1.0 and pairs[(3, 4)] == 1.0
    for (a, b), y in pairs.items():  # every implied label agrees with the true values
        assert y == (0.5 if value[a] == value[b] else 1.0) and value[b] >= value[a]


def test_skip_drops_the_candidate_and_undo_goes_back():
    builder = RankingBuilder([1, 2, 3])
    assert builder.probe() == (1, 2)
    builder.answer(1.0)  # 2 better than 1
    assert builder.groups == [[1], [2]]
    state = builder.to_json()
    ref, cand = builder.probe()
    assert cand == 3
    builder.answer(None)  # skipped: 3 left out
    assert builder.done and builder.dropped == [3] and builder.items() == [1, 2]
    assert builder.undo() and builder.probe() == (ref, cand)
    restored = RankingBuilder.from_json(state)
    assert restored.probe() == (ref, cand) and restored.steps == 1
    with pytest.raises(RankingError, match="complete"):
        RankingBuilder([1]).answer(1.0)


@pytest.mark.parametrize(
    "groups, match",
    [
        ("12", "list of groups"),
        ([[1, 2], [2]], "appears twice"),
        ([[1], []], "empty"),
        ([[1], [0]], "positive integers"),
        ([[1.5]], "positive integers"),
        ([[True]], "positive integers"),
        ([["a"]], "positive integers"),
    ],
)
def test_malformed_rankings_are_refused(groups, match):
    with pytest.raises(RankingError, match=match):
        implied_pairs(groups)


def test_bad_answers_and_states_are_refused():
    builder = RankingBuilder([1, 2])
    with pytest.raises(RankingError, match="1 \\(better\\)"):
        builder.answer(0.7)
    assert builder.steps == 0  # nothing changed
    with pytest.raises(RankingError, match="not a saved ranking state"):
        RankingBuilder.from_json("{not json")
    with pytest.raises(RankingError, match="inconsistent"):
        RankingBuilder.from_json('{"core": {"groups": [[1]], "pending": [], "dropped": [], "comparisons": 0, "lo": 0, "hi": 5, "searching": false}, "history": []}')
