"""Gymnasium's vector-env tests, ported to pbrl's batched envs.

Ported from Gymnasium v1.4.0's ``tests/vector/`` (Farama Foundation, MIT licence):
``test_vector_env.py``, ``test_sync_vector_env.py``, ``test_autoreset_mode.py``,
``test_vector_env_info.py`` and ``test_vector_wrapper.py``, the parts that make vector
envs and check reset, step, autoreset, seeding, masks and attributes. Each test names
the one it ports. The envs are ``gym.make_vec("pbrl/<task>", ...)`` (the batched env)
for two tasks: HalfCheetah (time limits end all episodes together) and
InvertedPendulum (random actions end episodes at different steps).

Where Gymnasium's test builds toy envs (counting envs, custom spaces), the port keeps
its assertions and takes the expected values from Gymnasium's ``SyncVectorEnv`` over
Gymnasium's own task (``gym.make_vec("<task>", vectorization_mode="sync")``), so that
``data_equivalence`` — exact equality, dtypes included — checks the batched env against
what a Gymnasium user gets. Two differences by design, applied the same way everywhere:

* pbrl's info is a superset of Gymnasium's (``reward_terms``, ``diverged``, the task
  card's quantities): it is compared on Gymnasium's keys (:func:`on_keys_of`).
* against ``SyncVectorEnv`` over pbrl's own single env (the whole info compared),
  ``reward_terms`` holds term -> array with one mask ``_reward_terms``, where
  ``SyncVectorEnv`` nests a mask per term inside the dict (:func:`without_term_masks`).

Tests that cannot apply to a batched env are skipped with the reason.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorWrapper

import pbrl  # noqa: F401  (registers the tasks)

TASKS = ["HalfCheetah-v5", "InvertedPendulum-v5"]
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


def make_pbrl(task: str, num_envs: int, **kwargs):
    """The batched env (``vector_entry_point``)."""
    return gym.make_vec(f"pbrl/{task}", num_envs=num_envs, **kwargs)


def make_gymnasium(task: str, num_envs: int, autoreset_mode=AutoresetMode.NEXT_STEP, **kwargs):
    """Gymnasium's SyncVectorEnv over Gymnasium's own task: the reference."""
    return gym.make_vec(
        task, num_envs=num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": autoreset_mode}, **kwargs
    )


def make_pbrl_sync(task: str, num_envs: int, autoreset_mode=AutoresetMode.NEXT_STEP, **kwargs):
    """Gymnasium's SyncVectorEnv over pbrl's single env."""
    return gym.make_vec(
        f"pbrl/{task}", num_envs=num_envs, vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": autoreset_mode}, **kwargs,
    )


def on_keys_of(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """``ours`` restricted to the keys ``theirs`` has (nested dicts too): a key of theirs
    that ours lacks stays missing, so data_equivalence still fails on it."""
    out = {}
    for key, value in theirs.items():
        if key in ours:
            out[key] = on_keys_of(ours[key], value) if isinstance(value, dict) and isinstance(ours[key], dict) else ours[key]
    return out


def without_term_masks(info: dict[str, Any]) -> dict[str, Any]:
    """SyncVectorEnv's info with the per-term masks nested in ``reward_terms`` removed."""
    out = {}
    for key, value in info.items():
        if key == "reward_terms":
            value = {k: v for k, v in value.items() if not k.startswith("_")}
        elif isinstance(value, dict):
            value = without_term_masks(value)
        out[key] = value
    return out


REFERENCES = {
    "gymnasium": (make_gymnasium, lambda ours, theirs: (on_keys_of(ours, theirs), theirs)),
    "sync-over-pbrl": (make_pbrl_sync, lambda ours, theirs: (ours, without_term_masks(theirs))),
}


# -- test_vector_env.py ---------------------------------------------------------------


@pytest.mark.parametrize("reference", list(REFERENCES))
@pytest.mark.parametrize("autoreset_mode", MODES, ids=[m.name for m in MODES])
@pytest.mark.parametrize("task", TASKS)
def test_vector_env_equal(task, autoreset_mode, reference):
    """Port of ``test_vector_env_equal`` (async vs sync): the batched env vs a reference
    ``SyncVectorEnv``, step for step (DISABLED: ended sub-envs reset with a mask, as
    ``test_autoreset_disabled``)."""
    make_ref, compare = REFERENCES[reference]
    num_steps = 100
    batched = make_pbrl(task, 4, autoreset_mode=autoreset_mode, max_episode_steps=30)
    sync_env = make_ref(task, 4, autoreset_mode=autoreset_mode, max_episode_steps=30)

    assert batched.num_envs == sync_env.num_envs
    assert batched.observation_space == sync_env.observation_space
    assert batched.single_observation_space == sync_env.single_observation_space
    assert batched.action_space == sync_env.action_space
    assert batched.single_action_space == sync_env.single_action_space
    assert batched.metadata["autoreset_mode"] == sync_env.metadata["autoreset_mode"] == autoreset_mode

    batched_observations, batched_infos = batched.reset(seed=0)
    sync_observations, sync_infos = sync_env.reset(seed=0)
    assert np.all(batched_observations == sync_observations)
    assert data_equivalence(*compare(batched_infos, sync_infos))

    batched.action_space.seed(0)
    ends = 0
    for _ in range(num_steps):
        actions = batched.action_space.sample()
        assert actions in sync_env.action_space

        (
            batched_observations,
            batched_rewards,
            batched_terminations,
            batched_truncations,
            batched_infos,
        ) = batched.step(actions)
        (
            sync_observations,
            sync_rewards,
            sync_terminations,
            sync_truncations,
            sync_infos,
        ) = sync_env.step(actions)

        assert np.all(batched_observations == sync_observations)
        assert np.all(batched_rewards == sync_rewards)
        assert np.all(batched_terminations == sync_terminations)
        assert np.all(batched_truncations == sync_truncations)
        assert data_equivalence(*compare(batched_infos, sync_infos))

        done = batched_terminations | batched_truncations
        ends += int(done.sum())
        if autoreset_mode == AutoresetMode.DISABLED and done.any():
            batched_observations, batched_infos = batched.reset(options={"reset_mask": done})
            sync_observations, sync_infos = sync_env.reset(options={"reset_mask": done})
            assert np.all(batched_observations == sync_observations)
            assert data_equivalence(*compare(batched_infos, sync_infos))
    assert ends >= 4  # autoresets were exercised

    batched.close()
    sync_env.close()


@pytest.mark.parametrize("task", TASKS)
def test_vector_obs_action_spaces(task, num_envs=3):
    """Port of ``test_vector_obs_action_spaces`` (the generic spaces do not apply: a
    pbrl task has Box observations and actions; the batched spaces hold what it returns)."""
    envs = make_pbrl(task, num_envs)
    obs, _ = envs.reset()
    assert obs in envs.observation_space
    obs, _, _, _, _ = envs.step(envs.action_space.sample())
    assert obs in envs.observation_space
    envs.close()


def test_final_obs_info():
    """Port of ``test_final_obs_info`` (NEXT_STEP): the step that ends an episode reports
    the step's info, the step after reports the reset observation and info. The
    counting env's values come from Gymnasium's InvertedPendulum here."""
    env = make_pbrl("InvertedPendulum-v5", 1)
    ref = make_gymnasium("InvertedPendulum-v5", 1)
    obs, info = env.reset(seed=4)
    ref_obs, ref_info = ref.reset(seed=4)
    assert np.all(obs == ref_obs) and data_equivalence(on_keys_of(info, ref_info), ref_info)
    push = np.ones((1, 1), dtype=np.float32) * 3
    for _ in range(100):
        obs, _, termination, _, info = env.step(push)
        ref_obs, _, ref_termination, _, ref_info = ref.step(push)
        assert np.all(obs == ref_obs) and termination == ref_termination
        assert data_equivalence(on_keys_of(info, ref_info), ref_info)
        if termination[0]:
            break
    assert termination == np.array([True]) and "reward_survive" in info
    obs, reward, terminated, _, info = env.step(push)
    ref_obs, _, _, _, ref_info = ref.step(push)
    fresh, _ = make_pbrl("InvertedPendulum-v5", 1).reset(seed=4)
    assert obs.shape == fresh.shape and np.all(obs == ref_obs)
    assert reward == np.array([0.0]) and terminated == np.array([False])
    assert data_equivalence(on_keys_of(info, ref_info), ref_info)
    assert ref_info == {} and set(info) == set()  # InvertedPendulum's reset info is empty
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_random_seeding_basics(task):
    """Port of ``test_random_seeding_basics``."""
    seed = 42
    vector_env = make_pbrl(task, 4)
    vector_env.reset(seed=seed)
    assert vector_env.np_random_seed == tuple(seed + i for i in range(vector_env.num_envs))
    # resetting with seed=None means seed remains the same
    vector_env.reset(seed=None)
    assert vector_env.np_random_seed == tuple(seed + i for i in range(vector_env.num_envs))


@pytest.mark.parametrize("task", TASKS)
def test_random_seeds_set_at_retrieval(task):
    """Port of ``test_random_seeds_set_at_retrieval``: there the sub-envs were made and
    reset with seeds 0..n-1; a batched env is made once, then reset with seed=0."""
    vector_env = make_pbrl(task, 4)
    assert len(set(vector_env.np_random_seed)) == vector_env.num_envs
    vector_env.reset(seed=0)
    assert vector_env.np_random_seed == tuple(range(vector_env.num_envs))


@pytest.mark.parametrize("task", TASKS)
def test_partial_reset(task):
    """Port of ``test_partial_reset``."""
    envs = make_pbrl(task, 3, autoreset_mode=AutoresetMode.DISABLED)
    reset_obs, _ = envs.reset(seed=[0, 1, 2])

    envs.action_space.seed(123)
    envs.step(envs.action_space.sample())
    envs.step(envs.action_space.sample())
    step_obs, *_ = envs.step(envs.action_space.sample())

    reset_mask_obs, _ = envs.reset(seed=[0, 1, 0], options={"reset_mask": np.array([True, True, False])})
    assert np.all(reset_mask_obs[:2] == reset_obs[:2])
    assert np.all(reset_mask_obs[2] == step_obs[2])

    envs.close()


@pytest.mark.parametrize("task", TASKS)
def test_partial_reset_failure(task):
    """Port of ``test_partial_reset_failure`` (same exceptions, same messages)."""
    envs = make_pbrl(task, 3, autoreset_mode=AutoresetMode.DISABLED)

    # Reset with all trues
    envs.reset(options={"reset_mask": np.array([True, True, True])})

    # Reset with mask of an incorrect shape
    with pytest.raises(ValueError, match=re.escape("`options['reset_mask']` must have shape `(3,)`, got (1,)")):
        envs.reset(options={"reset_mask": np.array([True])})

    with pytest.raises(ValueError, match=re.escape("`options['reset_mask']` must have shape `(3,)`, got (4,)")):
        envs.reset(options={"reset_mask": np.array([True, True, False, False])})

    with pytest.raises(ValueError, match=re.escape("`options['reset_mask']` must have shape `(3,)`, got (1, 3)")):
        envs.reset(options={"reset_mask": np.array([[True, True, True]])})

    with pytest.raises(
        ValueError,
        match=re.escape(
            "`options['reset_mask']` must contain a boolean array with at least one True value, got reset_mask=[False False False]"
        ),
    ):
        envs.reset(options={"reset_mask": np.array([False, False, False])})

    with pytest.raises(TypeError, match=re.escape("`options['reset_mask']` must have `dtype=np.bool_`, got int64")):
        envs.reset(options={"reset_mask": np.array([1, 1, 0])})

    with pytest.raises(TypeError, match=re.escape("`options['reset_mask']` must have `dtype=np.bool_`, got float64")):
        envs.reset(options={"reset_mask": np.array([1.0, 1.0, 0.0])})


@pytest.mark.parametrize("task", TASKS)
def test_action_count_compatibility(task):
    """Port of ``test_action_count_compatibility``."""
    num_envs = 4
    envs = make_pbrl(task, num_envs, autoreset_mode=AutoresetMode.DISABLED)

    # Reset the environment
    envs.reset()

    # Test correct number of actions (should work)
    correct_actions = envs.action_space.sample()
    assert len(correct_actions) == num_envs

    # Test with actions that match the number of environments
    obs, rewards, terminations, truncations, _infos = envs.step(correct_actions)
    assert len(obs) == num_envs
    assert len(rewards) == num_envs
    assert len(terminations) == num_envs
    assert len(truncations) == num_envs

    # Test with too few actions (should raise error)
    with pytest.raises(ValueError):
        envs.step(correct_actions[: num_envs - 1])

    # Test with too many actions (should raise error)
    with pytest.raises(ValueError):
        envs.step(np.concatenate([correct_actions, correct_actions[:1]]))

    # Test with scalar action (should raise error for vector env)
    with pytest.raises(TypeError):
        envs.step(0)

    envs.close()


@pytest.mark.skip(reason="test_vector_env.py's async tests: a batched env has no worker processes or shared memory to compare")
def test_async_vector_env():
    """``test_async_vector_env.py`` and the AsyncVectorEnv variants: not applicable."""


# -- test_sync_vector_env.py ----------------------------------------------------------


def test_create_sync_vector_env():
    """Port of ``test_create_sync_vector_env``."""
    env = make_pbrl("HalfCheetah-v5", 8)
    env.close()

    assert env.num_envs == 8


def test_metadata_sync_vector_env():
    """Port of ``test_metadata_sync_vector_env``: the batched env's metadata is its own;
    neither the single env's nor another batched env's changes with it."""
    envs_1 = make_pbrl("HalfCheetah-v5", 1, autoreset_mode=AutoresetMode.NEXT_STEP)
    envs_2 = make_pbrl("HalfCheetah-v5", 1, autoreset_mode=AutoresetMode.SAME_STEP)

    assert envs_1.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs_2.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert "autoreset_mode" not in gym.make("pbrl/HalfCheetah-v5").metadata

    envs_1.close()
    envs_2.close()


@pytest.mark.parametrize("task", TASKS)
def test_reset_sync_vector_env(task):
    """Port of ``test_reset_sync_vector_env``."""
    env = make_pbrl(task, 8)
    observations, _infos = env.reset()
    env.close()

    assert isinstance(env.observation_space, gym.spaces.Box)
    assert isinstance(observations, np.ndarray)
    assert observations.dtype == env.observation_space.dtype
    assert observations.shape == (8,) + env.single_observation_space.shape
    assert observations.shape == env.observation_space.shape


@pytest.mark.parametrize("use_single_action_space", [True, False])
@pytest.mark.parametrize("task", TASKS)
def test_step_sync_vector_env(task, use_single_action_space):
    """Port of ``test_step_sync_vector_env`` (Box spaces where FrozenLake's are discrete)."""
    env = make_pbrl(task, 8)
    env.reset()

    assert isinstance(env.single_action_space, gym.spaces.Box)
    assert isinstance(env.action_space, gym.spaces.Box)

    if use_single_action_space:
        actions = [env.single_action_space.sample() for _ in range(8)]
    else:
        actions = env.action_space.sample()
    observations, rewards, terminations, truncations, _ = env.step(actions)

    env.close()

    assert isinstance(env.observation_space, gym.spaces.Box)
    assert isinstance(observations, np.ndarray)
    assert observations.dtype == env.observation_space.dtype
    assert observations.shape == (8,) + env.single_observation_space.shape
    assert observations.shape == env.observation_space.shape

    assert isinstance(rewards, np.ndarray)
    assert isinstance(rewards[0], (float, np.floating))
    assert rewards.ndim == 1
    assert rewards.size == 8

    assert isinstance(terminations, np.ndarray)
    assert terminations.dtype == np.bool_
    assert terminations.ndim == 1
    assert terminations.size == 8

    assert isinstance(truncations, np.ndarray)
    assert truncations.dtype == np.bool_
    assert truncations.ndim == 1
    assert truncations.size == 8


def test_render_sync_vector():
    """Port of ``test_render_sync_vector``. ``SyncVectorEnv.render()`` returns every
    sub-env's frame; pbrl's ``render()`` returns one (sub-env ``render_env``: what
    evaluation videos record), and ``call("render")`` is Gymnasium's tuple."""
    envs = make_pbrl("HalfCheetah-v5", 3, render_mode="rgb_array", width=32, height=24)
    assert envs.render_mode == "rgb_array"

    envs.reset()
    rendered_frames = envs.call("render")
    assert isinstance(rendered_frames, tuple)
    assert len(rendered_frames) == envs.num_envs
    assert all(isinstance(frame, np.ndarray) for frame in rendered_frames)
    envs.close()

    envs = make_pbrl("HalfCheetah-v5", 3)
    assert envs.render_mode is None


def test_call_sync_vector_env():
    """Port of ``test_call_sync_vector_env`` (``rgb_array_list`` is not a pbrl render
    mode: ``rgb_array``; CartPole's ``gravity`` becomes MuJoCo's ``dt``)."""
    env = make_pbrl("HalfCheetah-v5", 4, render_mode="rgb_array", width=32, height=24)
    _ = env.reset()
    images = env.call("render")
    dt = env.call("dt")

    env.close()

    assert isinstance(images, tuple)
    assert len(images) == 4
    for i in range(4):
        assert isinstance(images[i], np.ndarray)

    assert isinstance(dt, tuple)
    assert len(dt) == 4
    for i in range(4):
        assert isinstance(dt[i], float)
        assert dt[i] == gym.make("HalfCheetah-v5").unwrapped.dt


def test_set_attr_sync_vector_env():
    """Port of ``test_set_attr_sync_vector_env``, with one value for all sub-envs (they
    share their task in a batched env: differing values raise, see below)."""
    env = make_pbrl("HalfCheetah-v5", 4)
    env.set_attr("ctrl_cost_weight", [0.2, 0.2, 0.2, 0.2])
    ctrl_cost_weight = env.get_attr("ctrl_cost_weight")
    assert ctrl_cost_weight == (0.2, 0.2, 0.2, 0.2)

    env.close()


@pytest.mark.skip(reason="set_attr with a different value per sub-env: the sub-envs of a batched env share one task "
                  "and model (pbrl raises ValueError, tested in test_vector.py)")
def test_set_attr_sync_vector_env_per_env_values():
    """The differing gravities of ``test_set_attr_sync_vector_env``."""


@pytest.mark.skip(reason="test_check_spaces_sync_vector_env: a batched env simulates one task, so its sub-envs cannot "
                  "have different spaces")
def test_check_spaces_sync_vector_env():
    """Not applicable."""


@pytest.mark.skip(reason="test_custom_space_sync_vector_env and test_observation_mode.py: a pbrl task's spaces are "
                  "Boxes fixed by the task; there are no custom or differing spaces to batch")
def test_custom_space_sync_vector_env():
    """Not applicable."""


@pytest.mark.parametrize("task", TASKS)
def test_sync_vector_env_seed(task):
    """Port of ``test_sync_vector_env_seed``: the batched action space seeded as the
    reference's samples the same actions."""
    env = make_gymnasium(task, 3)
    batched = make_pbrl(task, 3)
    env.action_space.seed(123)
    batched.action_space.seed(123)

    assert env.action_space.np_random.bit_generator.state == batched.action_space.np_random.bit_generator.state
    for _ in range(100):
        env_action = env.action_space.sample()
        vector_action = batched.action_space.sample()
        assert np.all(env_action == vector_action)

    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_sync_vector_determinism(task, seed: int = 123, n: int = 3):
    """Port of ``test_sync_vector_determinism``."""
    env_1 = make_pbrl(task, n)
    env_2 = make_pbrl(task, n)
    env_1.action_space.seed(seed)
    env_2.action_space.seed(seed)
    assert env_1.action_space.np_random.bit_generator.state == env_2.action_space.np_random.bit_generator.state

    for _ in range(100):
        env_1_samples = env_1.action_space.sample()
        env_2_samples = env_2.action_space.sample()
        assert np.all(env_1_samples == env_2_samples)

    env_1.close()
    env_2.close()


# -- test_autoreset_mode.py -------------------------------------------------------------


def _desynchronised_steps(autoreset_mode):
    """InvertedPendulum, 3 sub-envs pushed hard: episodes end at different steps.
    Yields (batched step, reference step) pairs."""
    envs = make_pbrl("InvertedPendulum-v5", 3, autoreset_mode=autoreset_mode)
    ref = make_gymnasium("InvertedPendulum-v5", 3, autoreset_mode=autoreset_mode)
    assert envs.metadata["autoreset_mode"] == autoreset_mode
    obs, info = envs.reset(seed=[0, 1, 2])
    ref_obs, ref_info = ref.reset(seed=[0, 1, 2])
    assert np.all(obs == ref_obs)
    assert info == {} and ref_info == {}
    push = np.array([[3.0], [2.0], [1.0]], dtype=np.float32)
    for _ in range(40):
        out, ref_out = envs.step(push), ref.step(push)
        yield out, ref_out
        if autoreset_mode == AutoresetMode.DISABLED and (out[2] | out[3]).any():
            mask = out[2] | out[3]
            obs, info = envs.reset(options={"reset_mask": mask})
            ref_obs, ref_info = ref.reset(options={"reset_mask": mask})
            assert np.all(obs == ref_obs)
            assert info == {} and ref_info == {}


@pytest.mark.parametrize("autoreset_mode", MODES, ids=[m.name for m in MODES])
def test_autoreset_modes(autoreset_mode):
    """Port of ``test_autoreset_next_step``, ``test_autoreset_within_step`` and
    ``test_autoreset_disabled``: the counting env's expected values come from the
    reference, with episodes ending at different steps; SAME_STEP's final_obs and
    final_info checked as the original checks them."""
    partial_ends = 0
    for out, ref_out in _desynchronised_steps(autoreset_mode):
        obs, rewards, terminations, truncations, info = out
        ref_obs, ref_rewards, ref_terminations, ref_truncations, ref_info = ref_out
        assert np.all(obs == ref_obs)
        assert np.all(rewards == ref_rewards)
        assert np.all(terminations == ref_terminations)
        assert np.all(truncations == ref_truncations)
        assert data_equivalence(on_keys_of(info, ref_info), ref_info)
        done = terminations | truncations
        partial_ends += int(0 < done.sum() < 3)
        if autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            assert info["final_obs"].dtype == object
            assert np.all(info["_final_obs"] == done) and np.all(info["_final_info"] == done)
            assert all((info["final_obs"][i] is None) != done[i] for i in range(3))
        else:
            assert "final_obs" not in info and "final_info" not in info
    assert partial_ends >= 2


@pytest.mark.parametrize("autoreset_mode", MODES, ids=[m.name for m in MODES])
def test_autoreset_metadata(autoreset_mode):
    """Port of ``test_autoreset_metadata``."""
    envs = make_pbrl("HalfCheetah-v5", 2, autoreset_mode=autoreset_mode)
    assert envs.metadata["autoreset_mode"] == autoreset_mode
    envs.close()

    envs = make_pbrl("HalfCheetah-v5", 2, autoreset_mode=autoreset_mode.value)
    assert envs.metadata["autoreset_mode"] == autoreset_mode
    envs.close()


@pytest.mark.parametrize("autoreset_mode", MODES, ids=[m.name for m in MODES])
def test_make_vec_autoreset(autoreset_mode):
    """Port of ``test_make_vec_autoreset``. Gymnasium's make_vec refuses ``vector_kwargs``
    for a ``vector_entry_point`` (only kwargs reach it): there ``autoreset_mode`` is a
    keyword argument; ``vector_kwargs`` works with ``vectorization_mode="sync"``."""
    envs = make_pbrl("HalfCheetah-v5", 1, autoreset_mode=autoreset_mode)
    assert envs.metadata["autoreset_mode"] == autoreset_mode
    envs.close()

    envs = make_pbrl_sync("HalfCheetah-v5", 1, autoreset_mode=autoreset_mode.value)
    assert envs.metadata["autoreset_mode"] == autoreset_mode
    envs.close()

    with pytest.raises(gym.error.Error, match="only through kwargs"):
        gym.make_vec("pbrl/HalfCheetah-v5", vector_kwargs={"autoreset_mode": autoreset_mode})


def test_same_step_final_obs():
    """Port of ``test_same_step_final_obs``."""
    envs = make_pbrl("InvertedPendulum-v5", 3, autoreset_mode=AutoresetMode.SAME_STEP)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP

    envs.reset(seed=0)
    seen = set()
    for _ in range(40):
        _, _, terminations, truncations, info = envs.step(np.array([[3.0], [2.0], [1.0]], dtype=np.float32))
        for i in np.flatnonzero(terminations | truncations):
            assert info["final_obs"][i] in envs.single_observation_space
            seen.add(int(i))
    assert seen == {0, 1, 2}


# -- test_vector_env_info.py ------------------------------------------------------------


@pytest.mark.skip(reason="test_vector_add_info tests VectorEnv._add_info, Gymnasium's helper for SyncVectorEnv; the "
                  "batched env builds its info from arrays (its layout is checked against SyncVectorEnv's above)")
def test_vector_add_info():
    """Not applicable."""


@pytest.mark.parametrize("task", TASKS)
def test_vector_return_info(task):
    """Port of ``test_vector_return_info``: reset and step infos, key for key and mask
    for mask, as the reference's."""
    vec_env = make_pbrl(task, 2)
    ref = make_gymnasium(task, 2)

    _, reset_info = vec_env.reset(seed=3)
    _, reset_expected_infos = ref.reset(seed=3)
    assert data_equivalence(reset_info, reset_expected_infos)
    actions = vec_env.action_space.sample()
    _, _, _, _, step_info = vec_env.step(actions)
    _, _, _, _, step_expected_infos = ref.step(actions)
    assert data_equivalence(on_keys_of(step_info, step_expected_infos), step_expected_infos)


# -- test_vector_wrapper.py -------------------------------------------------------------


class DummyVectorWrapper(VectorWrapper):
    """Dummy Vector wrapper that contains a counter function to logging the number of times that reset is called."""

    def __init__(self, env):
        super().__init__(env)
        self.counter = 0

    def reset(self, *, seed=None, options=None):
        self.counter += 1
        return super().reset(seed=seed, options=options)


def test_vector_env_wrapper_inheritance():
    """Port of ``test_vector_env_wrapper_inheritance``."""
    env = make_pbrl("HalfCheetah-v5", 1)
    wrapped = DummyVectorWrapper(env)
    wrapped.reset()
    assert wrapped.counter == 1

    env.close()


def test_vector_env_wrapper_attributes():
    """Port of ``test_vector_env_wrapper_attributes`` (``dt`` and the time limit for
    CartPole's gravity)."""
    env = make_pbrl("HalfCheetah-v5", 3)
    wrapped = DummyVectorWrapper(make_pbrl("HalfCheetah-v5", 3))

    assert np.allclose(wrapped.env.call("dt"), env.call("dt"))
    env.set_attr("max_episode_steps", [20, 20, 20])
    wrapped.env.set_attr("max_episode_steps", [20, 20, 20])
    assert np.allclose(wrapped.env.get_attr("max_episode_steps"), env.get_attr("max_episode_steps"))
    assert wrapped.np_random_seed == wrapped.unwrapped.np_random_seed and wrapped.unwrapped is wrapped.env

    env.close()


def test_vector_env_metadata():
    """Port of ``test_vector_env_metadata``."""
    env = make_pbrl("HalfCheetah-v5", 3)
    wrapped = DummyVectorWrapper(make_pbrl("HalfCheetah-v5", 3))

    assert env.metadata == wrapped.metadata
    env.metadata = {"render_modes": ["rgb_array"]}
    assert env.metadata != wrapped.metadata

    env.close()


def test_sync_vector_env_over_pbrl_matches_gymnasium_sync():
    """``SyncVectorEnv`` made from pbrl's single env (``vectorization_mode="sync"``) is a
    SyncVectorEnv: the same class a Gymnasium user gets."""
    env = make_pbrl_sync("HalfCheetah-v5", 2)
    assert isinstance(env, SyncVectorEnv)
    env.close()
