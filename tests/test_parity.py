"""pbrl's batched tasks against Gymnasium's own v5 envs: same seeds, same actions."""

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401

PAIRS = [
    ("pbrl/HalfCheetah-v5", "HalfCheetah-v5"),
]


def run_pair(pbrl_id, gym_id, num_envs=3, steps=300, limit=120, seed=7, kwargs=None):
    kwargs = kwargs or {}
    ours = gym.make_vec(pbrl_id, num_envs=num_envs, max_episode_steps=limit, **kwargs)
    theirs = gym.make_vec(gym_id, num_envs=num_envs, vectorization_mode="sync", max_episode_steps=limit, **kwargs)
    o1, _ = ours.reset(seed=seed)
    o2, _ = theirs.reset(seed=seed)
    np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0)
    rng = np.random.default_rng(seed)
    low, high = ours.single_action_space.low, ours.single_action_space.high
    ends = 0
    for t in range(steps):
        a = rng.uniform(low, high, size=(num_envs, low.size)).astype(np.float32)
        o1, r1, te1, tr1, _ = ours.step(a)
        o2, r2, te2, tr2, _ = theirs.step(a)
        np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0, err_msg=f"obs at step {t}")
        np.testing.assert_allclose(r1, r2, atol=1e-6, rtol=0, err_msg=f"reward at step {t}")
        np.testing.assert_array_equal(te1, te2, err_msg=f"terminated at step {t}")
        np.testing.assert_array_equal(tr1, tr2, err_msg=f"truncated at step {t}")
        ends += int((te1 | tr1).sum())
    ours.close()
    theirs.close()
    return ends


@pytest.mark.parametrize("pbrl_id,gym_id", PAIRS)
def test_matches_gymnasium_v5(pbrl_id, gym_id):
    ends = run_pair(pbrl_id, gym_id)
    assert ends >= 3, "the comparison should cross episode resets"
