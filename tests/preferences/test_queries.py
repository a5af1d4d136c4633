"""Query selection: uniform, disagreement, entropy, k-center and the combinations."""

import numpy as np
import pytest

from pbrl.preferences import (
    METHODS,
    QuerySelector,
    SegmentBatch,
    SegmentSampler,
    TrajectoryBuffer,
    disagreement,
    ensemble_entropy,
    kcenter_greedy,
    pair_features,
    select_indices,
)


def pool_at(points_first, points_second=None, h=2):
    """Candidate pairs whose observations are constant vectors (so distances are known)."""
    p1 = np.asarray(points_first, dtype=np.float64)
    p2 = np.zeros_like(p1) if points_second is None else np.asarray(points_second, dtype=np.float64)

    def mk(p):
        b = len(p)
        return SegmentBatch(np.repeat(p[:, None, :], h, 1), np.zeros((b, h, 1)), np.zeros((b, h)))

    return mk(p1), mk(p2)


def fixed_ensemble(probs):
    probs = np.asarray(probs, dtype=np.float64)

    def ensemble(first, second):
        assert len(first) == probs.shape[1]
        return probs

    return ensemble


def test_disagreement_picks_the_pair_members_disagree_on():
    first, second = pool_at(np.zeros((4, 1)))
    probs = [[0.9, 0.5, 0.2, 0.6], [0.9, 0.5, 0.8, 0.6], [0.9, 0.5, 0.5, 0.6]]
    np.testing.assert_allclose(disagreement(probs), np.std(probs, axis=0))
    idx = select_indices("disagreement", 1, first, second, ensemble=fixed_ensemble(probs))
    assert idx.tolist() == [2]
    # entropy prefers the pair all members find a coin flip (pair 1), not the disputed one
    h = ensemble_entropy(probs)
    np.testing.assert_allclose(h[1], np.log(2))
    assert select_indices("entropy", 1, first, second, ensemble=fixed_ensemble(probs)).tolist() == [1]
    assert select_indices("entropy", 2, first, second, ensemble=fixed_ensemble(probs)).tolist() == [1, 3]


def test_kcenter_picks_the_far_pair_against_labelled_ones():
    points = np.array([[0.1], [0.2], [5.0], [-0.1], [2.0]])
    first, second = pool_at(points)
    labelled = pool_at(np.array([[0.0], [0.15]]))
    idx = select_indices("kcenter", 2, first, second, labelled=labelled)
    assert idx.tolist() == [2, 4]  # 5.0 is farthest from everything; then 2.0 (3 from 5.0, 1.85 from 0.15)
    # a labelled pair next to the far one changes the choice
    near = pool_at(np.array([[0.0], [5.1]]))
    assert select_indices("kcenter", 1, first, second, labelled=near).tolist() == [4]


def _bpref_kcenter(obs, full_obs, k):
    """B-Pref's KCenterGreedy, written plainly (recomputes all distances each step)."""
    selected, current = [], list(range(len(obs)))
    ref = full_obs
    for _ in range(k):
        d = np.min(np.linalg.norm(obs[current][:, None, :] - ref[None, :, :], axis=2), axis=1)
        j = int(np.argmax(d))
        selected.append(current[j])
        current = current[:j] + current[j + 1 :]
        ref = np.concatenate([full_obs, obs[selected]], axis=0)
    return selected


def test_kcenter_greedy_matches_bpref():
    rng = np.random.default_rng(0)
    cand, ref = rng.normal(size=(60, 7)), rng.normal(size=(25, 7))
    assert kcenter_greedy(cand, ref, 12).tolist() == _bpref_kcenter(cand, ref, 12)


def test_kcenter_combined_methods_take_the_top_half_first():
    points = np.array([[0.0], [0.1], [9.0], [0.2], [3.0], [0.3]])
    first, second = pool_at(points)
    labelled = pool_at(np.array([[0.0]]))
    # the far pair (9.0) has the lowest disagreement: it is not in the top half
    probs = np.array([[0.5, 0.5, 0.5, 0.1, 0.5, 0.2], [0.5, 0.5, 0.5, 0.9, 0.5, 0.8], [0.5, 0.5, 0.51, 0.5, 0.5, 0.5]])
    probs[:, 4] = [0.3, 0.7, 0.5]
    idx = select_indices("kcenter_disagreement", 1, first, second, ensemble=fixed_ensemble(probs), labelled=labelled)
    assert idx.tolist() == [4]  # top half = {3, 5, 4}; 3.0 is farthest from 0
    assert select_indices("kcenter", 1, first, second, labelled=labelled).tolist() == [2]
    # entropy: pairs 0, 1 and 4 are the most uncertain... top half {0, 1, 4}: k-center takes 4 then 1
    ent = np.array([[0.5, 0.5, 0.99, 0.99, 0.5, 0.99]] * 3)
    idx = select_indices("kcenter_entropy", 2, first, second, ensemble=fixed_ensemble(ent), labelled=labelled)
    assert idx.tolist() == [4, 1]


def _sampler():
    buffer = TrajectoryBuffer()
    rng = np.random.default_rng(0)
    buffer.add_episodes(rng.normal(size=(400, 3)), rng.normal(size=(400, 2)), rng.normal(size=400), episode_lengths=[100] * 4)
    return SegmentSampler(buffer, horizon=10, seed=0)


def test_selector_first_round_uniform_then_pool_of_batch_times_large_batch():
    sampler = _sampler()
    seen = []

    def ensemble(first, second):
        seen.append(len(first))
        return np.random.default_rng(len(seen)).uniform(size=(3, len(first)))

    sel = QuerySelector("disagreement", batch_size=4, large_batch=10, seed=0)
    first, second = sel.select(sampler, ensemble=ensemble)
    assert len(first) == 4 and seen == []  # round 1: uniform, the ensemble is not consulted
    first, second = sel.select(sampler, ensemble=ensemble)
    assert len(first) == 4 and seen == [40] and sel.rounds == 2
    state = sel.state_dict()
    sel2 = QuerySelector("disagreement", batch_size=4, seed=123)
    sel2.load_state_dict(state)
    assert sel2.rounds == 2
    for method in METHODS:
        s = QuerySelector(method, batch_size=3, large_batch=4, first_round_uniform=False, seed=1)
        a, b = s.select(sampler, ensemble=ensemble, labelled=(first, second))
        assert len(a) == len(b) == 3 and a.shape_key == (10, 3, 2)


def test_pair_features_are_concatenated_states():
    first, second = pool_at(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), h=2)
    np.testing.assert_array_equal(pair_features(first, second), [[1, 2, 1, 2, 3, 4, 3, 4]])


def test_bad_ensemble_and_arguments():
    first, second = pool_at(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        select_indices("disagreement", 1, first, second, ensemble=fixed_ensemble([[np.nan, 0.5, 0.5]]))
    with pytest.raises(ValueError, match="expected 3"):
        select_indices("entropy", 1, first, second, ensemble=lambda a, b: np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        select_indices("entropy", 1, first, second, ensemble=fixed_ensemble([[1.5, 0.5, 0.5]]))
    with pytest.raises(ValueError, match="needs the reward-model ensemble"):
        select_indices("entropy", 1, first, second)
    with pytest.raises(ValueError, match="unknown query-selection method"):
        QuerySelector("random")
    with pytest.raises(ValueError, match="cannot select 4"):
        select_indices("uniform", 4, first, second)
