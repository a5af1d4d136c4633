"""The segment sampler: short episodes, seeding, window and episode weighting."""

import numpy as np
import pytest

from pbrl.preferences import SegmentSampler, TrajectoryBuffer


def test_short_episodes_are_padded_with_an_absorbing_state():
    buffer = TrajectoryBuffer(obs_dtype=np.float64)
    obs = np.arange(13, dtype=np.float64)[:, None] * np.ones((1, 2))
    act = np.ones((13, 1))
    rew = np.arange(1.0, 14.0)
    buffer.add_episodes(obs, act, rew, episode_lengths=[3, 10], reward_terms={"r": rew})
    sampler = SegmentSampler(buffer, horizon=5, seed=0)
    seg = sampler.sample(400)
    short = seg[seg.episode == 0]
    assert len(short) > 0
    assert (short.start == 0).all()
    np.testing.assert_array_equal(short.mask[0], [True, True, True, False, False])
    np.testing.assert_array_equal(short.obs[0, :, 0], [0, 1, 2, 2, 2])  # last state repeated
    np.testing.assert_array_equal(short.actions[0, :, 0], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(short.rewards[0], [1, 2, 3, 0, 0])
    np.testing.assert_array_equal(short.terms["r"][0], [1, 2, 3, 0, 0])
    assert short.returns[0] == 6.0
    # windows of the 10-step episode: 6 starts; the short one: 1 -> window weighting 1/7
    frac = np.mean(seg.episode == 0)
    assert abs(frac - 1 / 7) < 4.5 * np.sqrt((1 / 7) * (6 / 7) / 400)
    # skip mode: the short episode is never sampled
    skip = SegmentSampler(buffer, horizon=5, short_episodes="skip", seed=0).sample(200)
    assert (skip.episode == 1).all() and skip.mask.all()


def test_skip_mode_with_only_short_episodes_is_a_clear_error():
    buffer = TrajectoryBuffer()
    buffer.add_episodes(np.zeros((6, 2)), np.zeros((6, 1)), np.zeros(6), episode_lengths=[2, 4])
    with pytest.raises(ValueError, match="no episode has 5 steps.*longest has 4"):
        SegmentSampler(buffer, horizon=5, short_episodes="skip").sample(3)
    with pytest.raises(ValueError, match="no finished episode"):
        SegmentSampler(TrajectoryBuffer(), horizon=5).sample(3)


def test_sampling_is_seeded_and_uniform_over_windows():
    buffer = TrajectoryBuffer()
    buffer.add_episodes(np.arange(12.0)[:, None], np.zeros((12, 1)), np.zeros(12))
    a = SegmentSampler(buffer, horizon=10, seed=3).sample(3000)
    b = SegmentSampler(buffer, horizon=10, seed=3).sample(3000)
    np.testing.assert_array_equal(a.start, b.start)
    counts = np.bincount(a.start, minlength=3)
    assert counts.size == 3  # starts 0, 1, 2 only
    sd = np.sqrt(3000 * (1 / 3) * (2 / 3))
    assert (np.abs(counts - 1000) < 4.5 * sd).all()
    # "episode" weighting: episodes picked uniformly regardless of length
    buffer.add_episodes(np.zeros((100, 1)), np.zeros((100, 1)), np.zeros(100))
    eps = SegmentSampler(buffer, horizon=10, weighting="episode", seed=0).sample(2000).episode
    assert abs(np.mean(eps == 0) - 0.5) < 4.5 * np.sqrt(0.25 / 2000)
    win = SegmentSampler(buffer, horizon=10, weighting="window", seed=0).sample(2000).episode
    assert abs(np.mean(win == 0) - 3 / 94) < 4.5 * np.sqrt((3 / 94) * (91 / 94) / 2000)
