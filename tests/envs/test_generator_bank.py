"""envs/generators.py: compact per-sub-env generators that draw exactly as Gymnasium's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding

import pbrl.envs  # noqa: F401
from pbrl.envs.generators import GeneratorBank


def draws(rng, k=3):
    # what a reset draws: uniform, then standard normal (odd counts leave a cached uint32 half)
    return np.concatenate([rng.uniform(-0.1, 0.1, size=k), rng.standard_normal(k), rng.integers(0, 2**31, size=1)])


def test_borrowed_draws_continue_the_seeded_stream():
    bank = GeneratorBank(3)
    assert bank.seed(1, 42) == 42
    reference = seeding.np_random(42)[0]
    for _ in range(4):  # four resets, the generator stored compactly between them
        rng = bank.borrow(1)
        got = draws(rng)
        bank.give_back(1, rng)
        np.testing.assert_array_equal(got, draws(reference))
    # the generator handed out afterwards continues the same stream
    np.testing.assert_array_equal(draws(bank[1]), draws(reference))


def test_a_handed_out_generator_is_the_sub_envs_own():
    bank = GeneratorBank(2)
    bank.seed(0, 7)
    mine = bank[0]
    assert bank[0] is mine
    mine.uniform(size=5)  # the user draws: the next reset continues after those draws
    reference = seeding.np_random(7)[0]
    reference.uniform(size=5)
    rng = bank.borrow(0)
    assert rng is mine
    np.testing.assert_array_equal(draws(rng), draws(reference))
    bank.give_back(0, rng)
    other = np.random.default_rng(3)
    bank[1] = other
    assert bank[1] is other
    with pytest.raises(TypeError, match="numpy Generator"):
        bank[1] = "not a generator"


def test_bad_seeds_raise_gymnasiums_error_and_none_draws_entropy():
    bank = GeneratorBank(2)
    for bad, message in ((-1, "greater or equal to zero"), (1.5, "python integer")):
        with pytest.raises(gym.error.Error, match=message):
            bank.seed(0, bad)
    a, b = bank.seed(0, None), bank.seed(1, None)
    assert a != b and a >= 0
    np.testing.assert_array_equal(draws(bank[0]), draws(seeding.np_random(a)[0]))
    with pytest.raises(IndexError):
        bank[2]


def test_vector_env_resets_match_seeded_generators_and_memory_stays_compact():
    env = gym.make_vec("pbrl/Hopper-v5", num_envs=64)
    env.reset(seed=5)
    bank = env.unwrapped.engine.rngs
    assert bank._live == {}  # no Generator object is kept per sub-env after resets
    rng = np.random.default_rng(0)
    for _ in range(200):  # random actions: Hopper falls, sub-envs reset and draw again
        env.step(rng.uniform(-1, 1, size=(64, 3)).astype(np.float32))
    assert bank._live == {}
    assert env.unwrapped.np_random_seed == tuple(range(5, 69))
    gens = env.unwrapped.np_random
    assert len(gens) == 64 and all(isinstance(g, np.random.Generator) for g in gens)
    assert len(bank._live) == 64  # asked for: made, then kept as the sub-envs' own
