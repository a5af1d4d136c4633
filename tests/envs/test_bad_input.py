"""Bad input gets a clear exception naming the problem, and the env keeps working."""

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401

ID = "pbrl/HalfCheetah-v5"
N, ACT_DIM = 2, 6


def fresh(num_envs=N, **kwargs):
    env = gym.make_vec(ID, num_envs=num_envs, **kwargs)
    env.reset(seed=0)
    return env


def ragged():
    return [[0.0] * ACT_DIM, [0.0] * (ACT_DIM - 1)]


def with_nan():
    a = np.zeros((N, ACT_DIM))
    a[1, 2] = np.nan
    return a


def with_inf():
    a = np.zeros((N, ACT_DIM))
    a[0, 0] = -np.inf
    return a


BAD_ACTIONS = [
    (np.zeros(ACT_DIM), ValueError, r"shape \(6,\), expected \(2, 6\)"),
    (np.zeros((N, ACT_DIM + 1)), ValueError, r"shape \(2, 7\), expected \(2, 6\)"),
    (np.zeros((N + 1, ACT_DIM)), ValueError, r"shape \(3, 6\), expected \(2, 6\)"),
    (np.zeros((N, ACT_DIM, 1)), ValueError, r"shape \(2, 6, 1\)"),
    (0.5, TypeError, "actions must be batched"),  # as Gymnasium's SyncVectorEnv
    (np.full((N, ACT_DIM), "a"), TypeError, "real numbers.*<U1"),
    ("hello", TypeError, "real numbers"),
    (np.zeros((N, ACT_DIM), dtype=bool), TypeError, "real numbers.*bool"),
    (np.zeros((N, ACT_DIM), dtype=complex), TypeError, "real numbers.*complex"),
    (None, TypeError, "real numbers.*object"),
    ({"a": 1}, TypeError, "real numbers.*object"),
    (ragged(), ValueError, "could not be read as an array"),
    (with_nan(), ValueError, r"NaN or infinite for sub-env\(s\) \[1\]"),
    (with_inf(), ValueError, r"NaN or infinite for sub-env\(s\) \[0\]"),
    (np.full((N, ACT_DIM), np.nan), ValueError, r"NaN or infinite for sub-env\(s\) \[0, 1\]"),
]


@pytest.mark.parametrize("action,exc,match", BAD_ACTIONS, ids=range(len(BAD_ACTIONS)))
@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_bad_actions_are_rejected_and_leave_the_env_intact(action, exc, match, mode):
    env = fresh(autoreset_mode=mode)
    twin = fresh(autoreset_mode=mode)  # never sees bad input
    good = np.full((N, ACT_DIM), 0.3, dtype=np.float32)
    env.step(good)
    twin.step(good)
    qpos = env.unwrapped.engine.sim.qpos.copy()
    with pytest.raises(exc, match=match):
        env.step(action)
    np.testing.assert_array_equal(env.unwrapped.engine.sim.qpos, qpos)
    for _ in range(3):
        out = env.step(good)
        ref = twin.step(good)
        for x, y in zip(out[:4], ref[:4]):
            np.testing.assert_array_equal(x, y)


def test_acceptable_action_forms():
    env = fresh()
    ref = fresh()
    base = ref.step(np.zeros((N, ACT_DIM), dtype=np.float32))[0]
    for form in ([[0] * ACT_DIM] * N, np.zeros((N, ACT_DIM), dtype=np.int32)):
        e = fresh()
        np.testing.assert_array_equal(e.step(form)[0], base)
    env.step(np.zeros((N, ACT_DIM), dtype=np.float64))


SINGLE_BAD_ACTIONS = [
    (np.zeros(ACT_DIM - 1), ValueError, r"shape \(5,\), expected \(6,\)"),
    (np.zeros((1, ACT_DIM)), ValueError, r"shape \(1, 6\), expected \(6,\)"),
    (np.full(ACT_DIM, "a"), TypeError, "real numbers"),
    ("abcdef", TypeError, "real numbers"),
    (None, TypeError, "real numbers"),
    (np.zeros(ACT_DIM, dtype=bool), TypeError, "real numbers.*bool"),
    ([0.0, [1.0, 2.0]], ValueError, "could not be read as an array"),
    (np.full(ACT_DIM, np.nan), ValueError, "NaN or infinite"),
]


@pytest.mark.parametrize("action,exc,match", SINGLE_BAD_ACTIONS, ids=range(len(SINGLE_BAD_ACTIONS)))
def test_single_env_bad_actions(action, exc, match):
    env = gym.make(ID)
    twin = gym.make(ID)
    env.reset(seed=1)
    twin.reset(seed=1)
    with pytest.raises(exc, match=match):
        env.step(action)
    good = np.full(ACT_DIM, -0.2, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(env.step(good)[0], twin.step(good)[0])


# -- ordering -------------------------------------------------------------------------


def test_step_before_reset():
    env = gym.make_vec(ID, num_envs=N)
    with pytest.raises(RuntimeError, match=r"reset\(\) before step\(\)"):
        env.step(np.zeros((N, ACT_DIM)))
    env.reset(seed=0)
    obs, *_ = env.step(np.zeros((N, ACT_DIM)))
    assert obs.shape == (N, 17)
    single = gym.make(ID)
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        single.step(np.zeros(ACT_DIM))


# -- reset arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"options": {"reset_mask": np.array([True])}}, ValueError, r"reset_mask.*must have shape `\(2,\)`, got \(1,\)"),
        ({"options": {"reset_mask": np.array([1, 0])}}, TypeError, "reset_mask.*dtype=np.bool_"),
        ({"options": {"reset_maks": np.array([True, True])}}, ValueError, r"unknown reset option.*reset_maks"),
        ({"seed": [1, 2, 3]}, ValueError, "must match num_envs=2 but got length=3"),
        ({"seed": "abc"}, TypeError, "seed must be None, an int or a list"),
        ({"seed": 1.5}, TypeError, "seed must be None, an int or a list"),
        ({"seed": -3}, gym.error.Error, "Seed must be greater or equal to zero"),
        ({"seed": [1, "x"]}, gym.error.Error, "Seed must be a python integer"),
    ],
)
def test_bad_reset_arguments(kwargs, exc, match):
    env = fresh()
    with pytest.raises(exc, match=match):
        env.reset(**kwargs)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, fresh().reset(seed=0)[0])


# -- making envs ------------------------------------------------------------------------


@pytest.mark.parametrize("maker", ["make", "make_vec"])
@pytest.mark.parametrize(
    "env_id,exc,match",
    [
        ("pbrl/Nope-v5", gym.error.NameNotFound, "Nope"),
        ("pbrl/HalfCheetah-v9", gym.error.VersionNotFound, "v9"),
        ("nowhere/HalfCheetah-v5", gym.error.NamespaceNotFound, "nowhere"),
    ],
)
def test_unknown_ids(maker, env_id, exc, match):
    with pytest.raises(exc, match=match):
        if maker == "make":
            gym.make(env_id)
        else:
            gym.make_vec(env_id, num_envs=2)


def test_make_task_unknown_id():
    with pytest.raises(gym.error.NameNotFound, match="no pbrl task 'pbrl/Nope-v5'"):
        pbrl.envs.make_task("pbrl/Nope-v5")


@pytest.mark.parametrize("maker", ["make", "make_vec"])
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"foo": 1}, TypeError, r"unknown keyword argument\(s\) \['foo'\]"),
        ({"ctrl_cost_weight": "x"}, ValueError, "ctrl_cost_weight must be a number"),
        ({"forward_reward_weight": float("nan")}, ValueError, "forward_reward_weight must be finite"),
        ({"reset_noise_scale": -1}, ValueError, "reset_noise_scale must be >= 0"),
        ({"frame_skip": 0}, ValueError, "frame_skip must be > 0"),
        ({"xml_file": "nope.xml"}, ValueError, "xml_file 'nope.xml'"),
        ({"render_mode": "human"}, ValueError, "render_mode must be None or 'rgb_array'"),
        ({"width": -5, "render_mode": "rgb_array"}, ValueError, "width must be a positive integer"),
        ({"height": 0, "render_mode": "rgb_array"}, ValueError, "height must be a positive integer"),
    ],
)
def test_bad_kwargs(maker, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        if maker == "make":
            gym.make(ID, **kwargs)
        else:
            gym.make_vec(ID, num_envs=2, **kwargs)


@pytest.mark.parametrize("num_envs", [0, -1, 2.5, "4", True, None])
def test_bad_num_envs(num_envs):
    with pytest.raises(ValueError, match=f"num_envs must be a positive integer, got {num_envs!r}"):
        gym.make_vec(ID, num_envs=num_envs)


@pytest.mark.parametrize("steps", [0, -5, 2.5, "10", True])
def test_bad_max_episode_steps(steps):
    with pytest.raises(ValueError, match="max_episode_steps must be a positive integer, None or -1"):
        gym.make_vec(ID, num_envs=2, max_episode_steps=steps)


@pytest.mark.parametrize("steps", [0, -5, 2.5, "10"])
def test_bad_max_episode_steps_single(steps):
    with pytest.raises((ValueError, TypeError), match="max_episode_steps"):
        gym.make(ID, max_episode_steps=steps)


@pytest.mark.parametrize("mode", ["sometimes", 3, None])
def test_bad_autoreset_mode(mode):
    with pytest.raises(ValueError, match=f"autoreset_mode must be one of .*NEXT_STEP.*got {mode!r}"):
        gym.make_vec(ID, num_envs=2, autoreset_mode=mode)


def test_autoreset_mode_spellings():
    for spelling in ("NextStep", "NEXT_STEP", gym.vector.AutoresetMode.NEXT_STEP):
        env = gym.make_vec(ID, num_envs=1, autoreset_mode=spelling)
        assert env.metadata["autoreset_mode"] is gym.vector.AutoresetMode.NEXT_STEP


def test_bad_nthread():
    with pytest.raises(ValueError, match="nthread must be a positive integer or None"):
        gym.make_vec(ID, num_envs=2, nthread=0)


def test_bad_render_index():
    with pytest.raises(IndexError, match="render_env 7 out of range for 2 sub-envs"):
        gym.make_vec(ID, num_envs=2, render_env=7)
    env = fresh(render_mode="rgb_array", width=32, height=24)
    with pytest.raises(TypeError, match="env_index must be an int"):
        env.render("a")
    with pytest.raises(IndexError, match="out of range"):
        env.render(-1)
    assert env.render(1).shape == (24, 32, 3)
    env.close()
