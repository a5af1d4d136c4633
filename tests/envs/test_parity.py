"""pbrl's batched tasks against Gymnasium's own v5 envs: same seeds, same actions.

Everything is compared exactly (observations, rewards, flags, every key of
Gymnasium's info with its dtype): pbrl computes each quantity with Gymnasium's
operations in Gymnasium's order and dtypes, only batched.
"""

import itertools

import gymnasium as gym
import numpy as np
import pytest
from pbrl.envs.task import row_norms, sum_of_squares

import pbrl  # noqa: F401

PAIRS = [
    ("pbrl/HalfCheetah-v5", "HalfCheetah-v5"),
    ("pbrl/Hopper-v5", "Hopper-v5"),
    ("pbrl/Walker2d-v5", "Walker2d-v5"),
    ("pbrl/Swimmer-v5", "Swimmer-v5"),
    ("pbrl/Reacher-v5", "Reacher-v5"),
    ("pbrl/InvertedPendulum-v5", "InvertedPendulum-v5"),
    ("pbrl/Ant-v5", "Ant-v5"),
    ("pbrl/Pusher-v5", "Pusher-v5"),
    ("pbrl/InvertedDoublePendulum-v5", "InvertedDoublePendulum-v5"),
    ("pbrl/Humanoid-v5", "Humanoid-v5"),
    ("pbrl/HumanoidStandup-v5", "HumanoidStandup-v5"),
]

#: time limits for the comparisons (Reacher's episodes are 50 steps long, Pusher's 100)
LIMITS = {"pbrl/Reacher-v5": 50, "pbrl/Pusher-v5": 100}

#: tasks whose episodes must end by termination (not only by the time limit)
TERMINATING = {
    "pbrl/Hopper-v5", "pbrl/Walker2d-v5", "pbrl/InvertedPendulum-v5", "pbrl/InvertedDoublePendulum-v5",
    "pbrl/Humanoid-v5", "pbrl/Ant-v5",
}

#: pbrl reward term -> Gymnasium's info key for it
TERM_KEYS = {
    "forward": "reward_forward",
    "ctrl": "reward_ctrl",
    "healthy": "reward_survive",
    "survive": "reward_survive",
    "contact": "reward_contact",
    "dist": "reward_dist",
    "near": "reward_near",
    "distance_penalty": "distance_penalty",
    "velocity_penalty": "velocity_penalty",
    "linup": "reward_linup",
    "impact": "reward_impact",
}


def _compare_info(i1, i2, where, pbrl_id=""):
    """Every key of Gymnasium's vector info, in pbrl's with the same mask, dtype and bits.

    pbrl's reward terms (``info["reward_terms"]``, float64) equal Gymnasium's terms
    exactly too (float32 terms widen to float64 without rounding).
    """
    where = f"{pbrl_id} {where}".strip()
    terms = i1.get("reward_terms", {})
    for ours, theirs in TERM_KEYS.items():
        if ours in terms and theirs in i2:
            m = i2["_" + theirs]
            np.testing.assert_array_equal(
                terms[ours][m], i2[theirs][m], err_msg=f"reward term {ours!r} {where}", strict=False
            )
    for key, value in i2.items():
        if key.startswith("_"):
            continue
        assert key in i1, f"Gymnasium's info[{key!r}] is missing from pbrl's {where}"
        np.testing.assert_array_equal(i1["_" + key], i2["_" + key], err_msg=f"info['_{key}'] {where}")
        m = i2["_" + key]
        assert i1[key].dtype == value.dtype, f"info[{key!r}] {where}: dtype {i1[key].dtype}, Gymnasium's {value.dtype}"
        np.testing.assert_array_equal(i1[key][m], value[m], err_msg=f"info[{key!r}] {where}")


def run_pair(
    pbrl_id, gym_id, num_envs=3, steps=300, limit=120, seed=7, kwargs=None, *,
    check_info=True, stats=None, action_dtype=np.float32,
):
    """Step pbrl's and Gymnasium's vector envs side by side; returns episode ends.

    Observations, rewards (float64, as SyncVectorEnv's), flags and, with
    ``check_info``, every key of Gymnasium's reset and step info must be equal bit
    for bit. ``action_dtype``: the dtype of the actions given to both (Gymnasium
    computes control costs in it). ``stats`` (a dict) receives the counts of
    terminations, truncations and unhealthy steps.
    """
    kwargs = kwargs or {}
    ours = gym.make_vec(pbrl_id, num_envs=num_envs, max_episode_steps=limit, **kwargs)
    theirs = gym.make_vec(gym_id, num_envs=num_envs, vectorization_mode="sync", max_episode_steps=limit, **kwargs)
    o1, i1 = ours.reset(seed=seed)
    o2, i2 = theirs.reset(seed=seed)
    np.testing.assert_array_equal(o1, o2)
    if check_info:
        _compare_info(i1, i2, "at reset", pbrl_id)
    rng = np.random.default_rng(seed)
    low, high = ours.single_action_space.low, ours.single_action_space.high
    ends = terminated = truncated = unhealthy = 0
    for t in range(steps):
        a = rng.uniform(low, high, size=(num_envs, low.size)).astype(action_dtype)
        o1, r1, te1, tr1, i1 = ours.step(a)
        o2, r2, te2, tr2, i2 = theirs.step(a)
        np.testing.assert_array_equal(o1, o2, err_msg=f"obs at step {t}")
        np.testing.assert_array_equal(r1, r2, err_msg=f"reward at step {t}", strict=True)
        np.testing.assert_array_equal(te1, te2, err_msg=f"terminated at step {t}")
        np.testing.assert_array_equal(tr1, tr2, err_msg=f"truncated at step {t}")
        if check_info:
            _compare_info(i1, i2, f"at step {t}", pbrl_id)
        ends += int((te1 | tr1).sum())
        terminated += int(te1.sum())
        truncated += int(tr1.sum())
        if "healthy" in i1:
            unhealthy += int((~i1["healthy"] & i1["_healthy"]).sum())
    ours.close()
    theirs.close()
    if stats is not None:
        stats.update(terminated=terminated, truncated=truncated, unhealthy=unhealthy)
    return ends


@pytest.mark.parametrize("pbrl_id,gym_id", PAIRS)
def test_matches_gymnasium_v5(pbrl_id, gym_id):
    stats = {}
    ends = run_pair(pbrl_id, gym_id, limit=LIMITS.get(pbrl_id, 120), stats=stats)
    assert ends >= 3, "the comparison should cross episode resets"
    if pbrl_id in TERMINATING:
        assert stats["terminated"] >= 3, f"{pbrl_id}: the comparison should include terminations, got {stats}"


KWARG_CASES = [
    pytest.param(
        "pbrl/Hopper-v5", "Hopper-v5",
        dict(
            forward_reward_weight=2.0, ctrl_cost_weight=0.05, healthy_reward=0.5,
            healthy_z_range=(0.9, 3.0), terminate_when_unhealthy=False, reset_noise_scale=0.05,
            exclude_current_positions_from_observation=False,
        ),
        "never", id="hopper-no-termination",
    ),
    pytest.param(
        "pbrl/Hopper-v5", "Hopper-v5",
        dict(healthy_state_range=(-5.0, 5.0), healthy_z_range=(1.0, 1.5), healthy_angle_range=(-0.1, 0.3), frame_skip=2),
        "some", id="hopper-tight-ranges",
    ),
    pytest.param(
        "pbrl/Walker2d-v5", "Walker2d-v5",
        dict(xml_file="walker2d.xml", healthy_z_range=(1.0, 1.5), healthy_angle_range=(-0.5, 0.5), ctrl_cost_weight=0.01),
        "some", id="walker2d-old-xml-ranges",
    ),
    pytest.param(
        "pbrl/Swimmer-v5", "Swimmer-v5",
        dict(exclude_current_positions_from_observation=False, ctrl_cost_weight=0.01, reset_noise_scale=0.3),
        "never", id="swimmer",
    ),
    pytest.param(
        "pbrl/Reacher-v5", "Reacher-v5",
        dict(reward_dist_weight=0.5, reward_control_weight=0.2, frame_skip=3),
        "never", id="reacher",
    ),
    pytest.param(
        "pbrl/InvertedPendulum-v5", "InvertedPendulum-v5", dict(reset_noise_scale=0.1, frame_skip=3),
        "some", id="inverted-pendulum",
    ),
    pytest.param(
        "pbrl/Pusher-v5", "Pusher-v5",
        dict(reward_near_weight=0.2, reward_dist_weight=2.0, reward_control_weight=0.05, frame_skip=3),
        "never", id="pusher",
    ),
    pytest.param(
        "pbrl/InvertedDoublePendulum-v5", "InvertedDoublePendulum-v5",
        dict(healthy_reward=5.0, reset_noise_scale=0.3, frame_skip=3, default_camera_config={"distance": 3.0}),
        "some", id="inverted-double-pendulum",
    ),
    # The options' types take part in Gymnasium's arithmetic: an int healthy_reward
    # makes reward_survive an int, a float64 weight a float64 control cost.
    pytest.param(
        "pbrl/Hopper-v5", "Hopper-v5",
        {"healthy_reward": 2, "ctrl_cost_weight": np.float64(0.01), "forward_reward_weight": np.float32(1.5)},
        "some", id="hopper-int-and-numpy-weights",
    ),
    pytest.param(
        "pbrl/InvertedDoublePendulum-v5", "InvertedDoublePendulum-v5", {"healthy_reward": 7},
        "some", id="inverted-double-pendulum-int-reward",
    ),
    pytest.param(
        "pbrl/Ant-v5", "Ant-v5",
        {
            "ctrl_cost_weight": 0.1, "contact_cost_weight": np.float32(1e-2), "healthy_reward": 1,
            "forward_reward_weight": 2.0, "healthy_z_range": (0.3, 0.9), "frame_skip": 4,
        },
        "some", id="ant",
    ),
]

#: Cases stepped with float64 actions: Gymnasium then computes control costs in float64.
FLOAT64_ACTIONS = {"swimmer", "reacher", "pusher", "ant"}


@pytest.mark.parametrize("pbrl_id,gym_id,kwargs,terminations", KWARG_CASES)
def test_matches_gymnasium_v5_with_kwargs(request, pbrl_id, gym_id, kwargs, terminations):
    stats = {}
    limit = 50 if "Reacher" in pbrl_id else 100
    dtype = np.float64 if request.node.callspec.id in FLOAT64_ACTIONS else np.float32
    ends = run_pair(pbrl_id, gym_id, steps=250, limit=limit, kwargs=kwargs, stats=stats, action_dtype=dtype)
    assert ends >= 3, "the comparison should cross episode resets"
    if terminations == "never":
        assert stats["terminated"] == 0
    else:
        assert stats["terminated"] >= 1, f"{pbrl_id}: expected terminations, got {stats}"
    if kwargs.get("terminate_when_unhealthy") is False:
        assert stats["unhealthy"] > 0, "the hopper should have been unhealthy without terminating"


def _same_scalar(ours, theirs, where):
    """Equal value and the same type (Python int/float or numpy scalar, numpy dtype)."""
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__}, Gymnasium's {type(theirs).__name__}"
    if isinstance(theirs, np.ndarray):
        np.testing.assert_array_equal(ours, theirs, err_msg=where, strict=True)
    else:
        assert ours == theirs, f"{where}: {ours!r} != Gymnasium's {theirs!r}"


def _compare_single_info(i1, i2, where, pbrl_id=""):
    """Every key of Gymnasium's single-env info, in pbrl's with the same type and value."""
    where = f"{pbrl_id} {where}".strip()
    for key, value in i2.items():
        assert key in i1, f"Gymnasium's info[{key!r}] is missing from pbrl's {where}"
        _same_scalar(i1[key], value, f"info[{key!r}] {where}")


SINGLE_CASES = [pytest.param(*pair, {}, id=pair[1]) for pair in PAIRS] + [
    pytest.param("pbrl/Hopper-v5", "Hopper-v5", {"healthy_reward": 2}, id="Hopper-int-reward"),
    pytest.param(
        "pbrl/InvertedDoublePendulum-v5", "InvertedDoublePendulum-v5", {"healthy_reward": 7}, id="IDP-int-reward"
    ),
]


@pytest.mark.parametrize("pbrl_id,gym_id,kwargs", SINGLE_CASES)
def test_single_env_matches_gymnasium_v5(pbrl_id, gym_id, kwargs):
    """gym.make: same observations, rewards and info, each of the type Gymnasium's env returns."""
    ours, theirs = gym.make(pbrl_id, **kwargs), gym.make(gym_id, **kwargs)
    o1, i1 = ours.reset(seed=3)
    o2, i2 = theirs.reset(seed=3)
    np.testing.assert_array_equal(o1, o2)
    _compare_single_info(i1, i2, "at reset", pbrl_id)
    ours.action_space.seed(3)
    ends = 0
    for t in range(120):
        a = ours.action_space.sample()
        if t % 2:  # float64 actions too: Gymnasium's control cost is then float64
            a = a.astype(np.float64)
        o1, r1, te1, tr1, i1 = ours.step(a)
        o2, r2, te2, tr2, i2 = theirs.step(a)
        np.testing.assert_array_equal(o1, o2, err_msg=f"obs at step {t}")
        _same_scalar(r1, r2, f"reward at step {t}")
        assert te1 == te2 and tr1 == tr2, f"step {t}"
        _compare_single_info(i1, i2, f"at step {t}", pbrl_id)
        if te1 or tr1:
            ends += 1
            o1, i1 = ours.reset()
            o2, i2 = theirs.reset()
            np.testing.assert_array_equal(o1, o2, err_msg=f"reset after step {t}")
            _compare_single_info(i1, i2, f"at reset after step {t}", pbrl_id)
    ours.close()
    theirs.close()


def test_batched_arithmetic_matches_one_row():
    """sum_of_squares and row_norms give, row by row, the bits of numpy on one row."""
    rng = np.random.default_rng(0)
    # 64 and 2048 rows: sum_of_squares' two paths (one reduction below 128 rows, column sums).
    cases = itertools.product((np.float16, np.float32, np.float64), (64, 2048), (1, 2, 3, 6, 7, 8, 17))
    for dtype, rows, columns in cases:
        x = (rng.standard_normal((rows, columns)) * 3).astype(dtype)
        ours = sum_of_squares(x)
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours, [np.sum(np.square(row)) for row in x])
        np.testing.assert_array_equal(sum_of_squares(np.asfortranarray(x)), ours)
    forces = rng.standard_normal((64, 14, 6))  # Ant's cfrc_ext: one sum over (nbody, 6)
    np.testing.assert_array_equal(sum_of_squares(forces), [np.sum(np.square(f)) for f in forces])
    for columns in (2, 3):
        v = rng.standard_normal((4096, columns)) * rng.uniform(0, 5, (4096, 1))
        np.testing.assert_array_equal(row_norms(v), [np.linalg.norm(row) for row in v])


@pytest.mark.parametrize("pbrl_id,gym_id", PAIRS)
def test_card_matches_env(pbrl_id, gym_id):
    envs = gym.make_vec(pbrl_id, num_envs=2)
    card = envs.unwrapped.card if hasattr(envs, "unwrapped") else envs.card
    reference = gym.make(gym_id)
    assert card.max_episode_steps == reference.spec.max_episode_steps
    assert card.obs_dim == envs.single_observation_space.shape[0] == reference.observation_space.shape[0]
    assert envs.single_action_space.shape == reference.action_space.shape
    assert card.ref_min_return < card.ref_max_return
    envs.reset(seed=0)
    _, reward, _, _, info = envs.step(np.zeros(envs.action_space.shape, np.float32))
    assert set(info["reward_terms"]) == set(card.term_names)
    # The terms add up to the reward, but Python's sum adds them in another order than
    # Gymnasium's reward (and float32 terms): equal up to rounding, not bit for bit.
    np.testing.assert_allclose(sum(info["reward_terms"].values()), reward, atol=1e-12)
    assert set(card.quantities) <= set(info)
    assert ("success" in info) == (card.success is not None)
    envs.close()
    reference.close()


EXCLUDE = {"exclude_current_positions_from_observation": False}
HUMANOID_OBS_OFF = {
    "include_cinert_in_observation": False,
    "include_cvel_in_observation": False,
    "include_qfrc_actuator_in_observation": False,
    "include_cfrc_ext_in_observation": False,
}
STRUCTURE_CASES = [
    *[(p, g, {}) for p, g in PAIRS],
    ("pbrl/HalfCheetah-v5", "HalfCheetah-v5", EXCLUDE),
    ("pbrl/Hopper-v5", "Hopper-v5", EXCLUDE),
    ("pbrl/Walker2d-v5", "Walker2d-v5", EXCLUDE),
    ("pbrl/Walker2d-v5", "Walker2d-v5", {"xml_file": "walker2d.xml"}),
    ("pbrl/Swimmer-v5", "Swimmer-v5", EXCLUDE),
    ("pbrl/Ant-v5", "Ant-v5", EXCLUDE),
    ("pbrl/Ant-v5", "Ant-v5", {"include_cfrc_ext_in_observation": False}),
    ("pbrl/Ant-v5", "Ant-v5", {**EXCLUDE, "include_cfrc_ext_in_observation": False}),
    ("pbrl/Humanoid-v5", "Humanoid-v5", EXCLUDE),
    ("pbrl/Humanoid-v5", "Humanoid-v5", HUMANOID_OBS_OFF),
    ("pbrl/Humanoid-v5", "Humanoid-v5", {"include_cinert_in_observation": False, "include_cfrc_ext_in_observation": False}),
    ("pbrl/HumanoidStandup-v5", "HumanoidStandup-v5", {**EXCLUDE, **HUMANOID_OBS_OFF}),
    ("pbrl/HumanoidStandup-v5", "HumanoidStandup-v5", {"include_cvel_in_observation": False}),
]


@pytest.mark.parametrize("pbrl_id,gym_id,kwargs", STRUCTURE_CASES)
def test_observation_structure_matches_gymnasium_v5(pbrl_id, gym_id, kwargs):
    """``observation_structure`` exists where Gymnasium's class defines one, with its keys and values."""
    ours, theirs = gym.make(pbrl_id, **kwargs).unwrapped, gym.make(gym_id, **kwargs).unwrapped
    assert hasattr(ours, "observation_structure") == hasattr(theirs, "observation_structure")
    if hasattr(theirs, "observation_structure"):
        structure = ours.observation_structure
        assert structure == theirs.observation_structure
        assert list(structure) == list(theirs.observation_structure)
        assert all(type(v) is int for v in structure.values())
        size = sum(structure.values()) - structure.get("skipped_qpos", 0)
        assert size == ours.observation_space.shape[0] == theirs.observation_space.shape[0]
    ours.close()
    theirs.close()


def test_reacher_success_is_fingertip_within_5cm():
    envs = gym.make_vec("pbrl/Reacher-v5", num_envs=2)
    envs.reset(seed=0)
    sim = envs.unwrapped.engine.sim
    # Arm stretched along +x puts the fingertip at (0.21, 0); target 1 cm and 10 cm away.
    sim.qpos[:] = [[0.0, 0.0, 0.20, 0.0], [0.0, 0.0, 0.11, 0.0]]
    sim.qvel[:] = 0.0
    obs, reward, _, _, info = envs.step(np.zeros((2, 2), np.float32))
    np.testing.assert_allclose(info["distance"], [0.01, 0.10], atol=2e-3)
    np.testing.assert_allclose(info["distance"], np.linalg.norm(obs[:, 8:10], axis=1), atol=1e-12)
    np.testing.assert_allclose(info["reward_terms"]["dist"], -info["distance"], atol=1e-12)
    assert info["success"].tolist() == [True, False]
    card = envs.unwrapped.card
    assert card.success and "0.05" in card.success and card.extra["success_distance"] == 0.05
    envs.close()


def test_pusher_reset_draws_match_gymnasium_over_many_seeds():
    """Gymnasium's rejection sampling of the object, reproduced draw for draw."""
    ours = gym.make_vec("pbrl/Pusher-v5", num_envs=64)
    theirs = gym.make_vec("Pusher-v5", num_envs=64, vectorization_mode="sync")
    for seed in (0, 1000):
        o1, _ = ours.reset(seed=seed)
        o2, _ = theirs.reset(seed=seed)
        np.testing.assert_array_equal(o1, o2)
        # the object's offset from the goal is longer than 0.17 m in the plane
        assert (np.linalg.norm(o1[:, 17:19] - o1[:, 20:22], axis=1) > 0.17).all()
    # the generators were left in the same state: the next resets match too
    np.testing.assert_array_equal(ours.reset()[0], theirs.reset()[0])
    ours.close()
    theirs.close()


def test_pusher_success_is_object_over_goal_disc():
    envs = gym.make_vec("pbrl/Pusher-v5", num_envs=2)
    envs.reset(seed=0)
    sim = envs.unwrapped.engine.sim
    # Object 3 cm and 12 cm from the goal in the plane (qpos[7:9]: slide y, slide x).
    sim.qpos[:, 7:] = [[0.0, 0.03, 0.0, 0.0], [-0.12, 0.0, 0.0, 0.0]]
    sim.qvel[:] = 0.0
    obs, _, _, _, info = envs.step(np.zeros((2, 7), np.float32))
    np.testing.assert_allclose(info["object_goal_xy_distance"], [0.03, 0.12], atol=2e-3)
    np.testing.assert_allclose(info["object_goal_distance"], np.linalg.norm(obs[:, 17:20] - obs[:, 20:23], axis=1), atol=1e-12)
    np.testing.assert_allclose(info["reward_terms"]["dist"], -info["object_goal_distance"], atol=1e-12)
    assert info["success"].tolist() == [True, False]
    card = envs.unwrapped.card
    assert card.success and "0.08" in card.success and card.extra["success_distance"] == 0.08
    envs.close()
