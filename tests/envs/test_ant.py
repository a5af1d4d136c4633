"""pbrl/Ant-v5 against Gymnasium's Ant-v5, contact forces included."""

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401
from pbrl.envs.registry import make_task
from test_parity import run_pair

N, STEPS, LIMIT, SEED = 4, 400, 150, 3


def own_run(kwargs=None, num_envs=N, steps=STEPS, limit=LIMIT, seed=SEED):
    """pbrl alone, with run_pair's seeds and actions: what the comparison went through."""
    env = gym.make_vec("pbrl/Ant-v5", num_envs=num_envs, max_episode_steps=limit, **(kwargs or {}))
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = env.single_action_space.low, env.single_action_space.high
    terminated = contact_steps = 0
    for _ in range(steps):
        a = rng.uniform(low, high, size=(num_envs, low.size)).astype(np.float32)
        obs, reward, te, tr, info = env.step(a)
        terminated += int(te.sum())
        contact_steps += int((info["reward_terms"]["contact"] != 0).any())
        total = sum(info["reward_terms"].values())
        np.testing.assert_allclose(total, reward, atol=1e-9)
    env.close()
    return terminated, contact_steps, obs


def test_parity_default():
    stats = {}
    ends = run_pair("pbrl/Ant-v5", "Ant-v5", num_envs=N, steps=STEPS, limit=LIMIT, seed=SEED, check_info=True, stats=stats)
    assert ends >= N, "the comparison should cross episode resets"
    assert stats["terminated"] >= 3, f"some episodes should terminate (unhealthy), not only truncate: {stats}"
    terminated, contact_steps, _ = own_run()
    assert terminated == stats["terminated"]
    assert contact_steps >= STEPS // 4, "contact forces should be non-zero for much of the run"


def test_single_env_parity_with_reward_terms():
    ours, theirs = gym.make("pbrl/Ant-v5"), gym.make("Ant-v5")
    o1, _ = ours.reset(seed=4)
    o2, _ = theirs.reset(seed=4)
    np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0)
    rng = np.random.default_rng(0)
    ends = contact = 0
    pairs = {"forward": "reward_forward", "healthy": "reward_survive", "ctrl": "reward_ctrl", "contact": "reward_contact"}
    for t in range(400):
        a = rng.uniform(-1, 1, 8).astype(np.float32)
        o1, r1, te1, tr1, i1 = ours.step(a)
        o2, r2, te2, tr2, i2 = theirs.step(a)
        np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0, err_msg=f"obs at step {t}")
        assert abs(r1 - r2) <= 1e-6 and te1 == te2 and tr1 == tr2, f"step {t}"
        for ours_key, theirs_key in pairs.items():
            assert abs(i1["reward_terms"][ours_key] - i2[theirs_key]) <= 1e-6, (t, ours_key)
        for key in ("x_position", "y_position", "distance_from_origin", "x_velocity", "y_velocity"):
            assert abs(i1[key] - i2[key]) <= 1e-6, (t, key)
        contact += i2["reward_contact"] != 0
        if te1 or tr1:
            ends += 1
            o1, _ = ours.reset(seed=t)
            o2, _ = theirs.reset(seed=t)
            np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0, err_msg=f"reset after step {t}")
    assert ends >= 2 and contact > 100
    ours.close()
    theirs.close()


def test_contact_forces_in_observation_are_nonzero():
    # The 78 cfrc_ext values are what makes Ant's parity meaningful: check they move.
    env = gym.make_vec("pbrl/Ant-v5", num_envs=N)
    env.reset(seed=SEED)
    rng = np.random.default_rng(0)
    seen = np.zeros(78, dtype=bool)
    for _ in range(50):
        obs, *_ = env.step(rng.uniform(-1, 1, size=(N, 8)).astype(np.float32))
        assert obs.shape == (N, 105)
        cfrc = obs[:, 27:]
        assert np.all(np.abs(cfrc) <= 1.0)  # clipped to contact_force_range
        seen |= (cfrc != 0).any(axis=0)
    assert seen.sum() >= 6, "several contact-force entries should become non-zero"
    env.close()


def test_parity_without_cfrc_in_observation():
    kwargs = {"include_cfrc_ext_in_observation": False}
    ends = run_pair("pbrl/Ant-v5", "Ant-v5", num_envs=N, steps=STEPS, limit=LIMIT, seed=SEED, kwargs=kwargs)
    assert ends >= N
    terminated, contact_steps, obs = own_run(kwargs)
    assert obs.shape == (N, 27)
    assert terminated >= 3
    assert contact_steps > 0, "the contact cost still counts when the forces are not observed"


def test_parity_contacts_at_reset():
    # Large reset noise starts some ants touching the floor: right after a reset
    # cfrc_ext must be 0 as in Gymnasium (mj_forward does not compute it).
    kwargs = {"reset_noise_scale": 0.5}
    ends = run_pair("pbrl/Ant-v5", "Ant-v5", num_envs=N, steps=300, limit=100, seed=5, kwargs=kwargs)
    assert ends >= N


def test_parity_other_options():
    kwargs = {
        "exclude_current_positions_from_observation": False,
        "main_body": "torso",
        "contact_force_range": (-0.5, 0.3),
        "contact_cost_weight": 1e-2,
        "healthy_z_range": (0.3, 0.9),
        "ctrl_cost_weight": 0.1,
        "forward_reward_weight": 2.0,
        "healthy_reward": 0.5,
        "frame_skip": 4,
    }
    ends = run_pair("pbrl/Ant-v5", "Ant-v5", num_envs=3, steps=200, limit=80, seed=11, kwargs=kwargs)
    assert ends >= 3


def test_parity_without_termination():
    kwargs = {"terminate_when_unhealthy": False, "healthy_z_range": (0.5, 1.0)}
    run_pair("pbrl/Ant-v5", "Ant-v5", num_envs=3, steps=150, limit=60, seed=2, kwargs=kwargs)


def test_card_and_info():
    task = make_task("pbrl/Ant-v5")
    card = task.card
    assert card.obs_dim == 105
    assert (card.ref_min_return, card.ref_max_return) == (-325.6, 3879.7)
    assert card.term_names == ("forward", "healthy", "ctrl", "contact")
    env = gym.make_vec("pbrl/Ant-v5", num_envs=2)
    _, info = env.reset(seed=0)
    assert {"x_position", "y_position", "distance_from_origin"} <= set(info)
    _, _, _, _, info = env.step(np.zeros((2, 8), np.float32))
    for key in card.quantities:
        assert info[key].shape == (2,)
    assert set(info["reward_terms"]) == set(card.term_names)
    env.close()


def test_contact_loop_only_when_needed():
    assert make_task("pbrl/Ant-v5").needs_cfrc_ext
    assert make_task("pbrl/Ant-v5", include_cfrc_ext_in_observation=False).needs_cfrc_ext
    lean = make_task("pbrl/Ant-v5", include_cfrc_ext_in_observation=False, contact_cost_weight=0.0)
    assert not lean.needs_cfrc_ext
    env = gym.make_vec("pbrl/Ant-v5", num_envs=2, include_cfrc_ext_in_observation=False, contact_cost_weight=0.0)
    assert not env.engine.batch.persistent
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros((2, 8), np.float32))
    assert (info["reward_terms"]["contact"] == 0).all()
    env.close()


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"nonsense": 1}, TypeError),
        ({"main_body": "no_such_body"}, ValueError),
        ({"main_body": 99}, ValueError),
        ({"healthy_z_range": (1.0, 0.2)}, ValueError),
        ({"contact_force_range": "wide"}, ValueError),
        ({"ctrl_cost_weight": float("nan")}, ValueError),
        ({"xml_file": "no_such_model.xml"}, ValueError),
    ],
)
def test_bad_kwargs(kwargs, error):
    with pytest.raises(error):
        gym.make_vec("pbrl/Ant-v5", num_envs=2, **kwargs)
