"""The reward-hacking check's scores on constructed cases: the true reward agrees, an inverted one is flagged,
a noisy one lies in between; the labels' implied ordering is recovered."""

import numpy as np

from pbrl.preferences.segments import SegmentBatch
from pbrl.rewards.hacking import agreement, implied_scores, rank_correlation, score_returns, score_reward, spearman
from pbrl.teachers import make_teacher


def segments(n=40, h=10, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(n, h)) + rng.normal(size=(n, 1))  # segments differ in their mean reward
    obs = np.concatenate([rewards[..., None], rng.normal(size=(n, h, 2))], axis=2)  # obs[..., 0] is the reward
    return SegmentBatch(obs, rng.normal(size=(n, h, 1)), rewards)


def pairs(batch, m=120, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(batch), m)
    b = (a + rng.integers(1, len(batch), m)) % len(batch)
    labels = make_teacher("oracle").label(batch[a], batch[b]).values
    return a, b, labels


def test_the_true_reward_agrees_an_inverted_one_is_flagged_and_noise_lies_between():
    batch = segments()
    a, b, y = pairs(batch)
    first, second = batch[a], batch[b]
    rng = np.random.default_rng(2)
    true = score_reward(lambda o, act, o2, info: o[:, 0], first, second, y, first_ids=a, second_ids=b)
    inverted = score_reward(lambda o, act, o2, info: -o[:, 0], first, second, y, first_ids=a, second_ids=b)
    noisy = score_reward(lambda o, act, o2, info: o[:, 0] + rng.normal(scale=3.0, size=o.shape[0]), first, second, y,
                         first_ids=a, second_ids=b)
    assert true.agreement == 1.0 and true.rank_correlation > 0.8 and true.rank_distance < 0.35 and not true.flagged
    assert inverted.agreement == 0.0 and inverted.rank_correlation < -0.8 and inverted.flagged
    assert 0.55 < noisy.agreement < 0.97 and 0.0 < noisy.rank_correlation < true.rank_correlation
    assert true.pairs == true.decisive == len(a)


def test_ties_and_skips_and_the_threshold():
    # a predicted tie counts one half; ties and skipped labels are not decisive
    assert agreement([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]) == 0.5
    assert np.isnan(agreement([0.0], [1.0], [0.5]))
    score = score_returns([0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, np.nan, 1.0], min_agreement=0.7)
    assert score.pairs == 3 and score.decisive == 3 and abs(score.agreement - 2 / 3) < 1e-12 and score.flagged
    assert not score_returns([0.0, 0.0], [1.0, 1.0], [1.0, 1.0]).flagged


def test_labels_imply_the_ordering_of_shared_segments():
    rng = np.random.default_rng(3)
    quality = rng.normal(size=12)
    a = rng.integers(0, 12, 300)
    b = (a + rng.integers(1, 12, 300)) % 12
    y = (quality[b] > quality[a]).astype(float)
    assert spearman(implied_scores(a, b, y, n_items=12), quality) > 0.95
    # without shared ids each pair is its own two items: a weaker, pairwise ordering, with the sign of agreement
    assert rank_correlation(quality[a], quality[b], y) > 0.4 > -0.4 > rank_correlation(-quality[a], -quality[b], y)
