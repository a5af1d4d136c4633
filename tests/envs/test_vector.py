"""Semantics of the batched vector env: seeding, resets, autoreset modes, time limit,
info, spaces, divergence and rendering (pbrl/HalfCheetah-v5 against Gymnasium's own)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import pbrl  # noqa: F401  (registers the tasks)

ID = "pbrl/HalfCheetah-v5"
OBS_DIM, ACT_DIM = 17, 6


def make(num_envs=3, **kwargs):
    return gym.make_vec(ID, num_envs=num_envs, **kwargs)


def actions(rng, num_envs):
    return rng.uniform(-1, 1, size=(num_envs, ACT_DIM)).astype(np.float32)


# -- seeding ------------------------------------------------------------------------


def test_same_seed_gives_identical_trajectories_across_resets():
    a, b = make(3, max_episode_steps=60), make(3, max_episode_steps=60)
    oa, _ = a.reset(seed=123)
    ob, _ = b.reset(seed=123)
    np.testing.assert_array_equal(oa, ob)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(200):
        act = actions(rng, 3)
        ra = a.step(act)
        rb = b.step(act)
        for x, y in zip(ra[:4], rb[:4]):
            np.testing.assert_array_equal(x, y)
        assert ra[4].keys() == rb[4].keys()
        for name in ra[4].get("reward_terms", {}):  # absent on steps where every sub-env resets
            np.testing.assert_array_equal(ra[4]["reward_terms"][name], rb[4]["reward_terms"][name])
        ends += int((ra[2] | ra[3]).sum())
    assert ends == 9  # three episodes of 60 steps per sub-env: the autoresets were seeded too
    a.close()
    b.close()


def test_different_seeds_and_sub_envs_differ():
    env = make(4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, OBS_DIM)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(obs[i], obs[j]), f"sub-envs {i} and {j} start in the same state"
    other, _ = make(4).reset(seed=1)
    assert not np.allclose(obs, other)
    # seed=None draws fresh entropy: two unseeded envs start differently
    u1, _ = make(2).reset()
    u2, _ = make(2).reset()
    assert not np.allclose(u1, u2)


def test_int_seed_matches_gymnasium_sync_vector_env():
    ours, _ = make(3).reset(seed=42)
    theirs, _ = gym.make_vec("HalfCheetah-v5", num_envs=3, vectorization_mode="sync").reset(seed=42)
    np.testing.assert_allclose(ours, theirs, atol=1e-12, rtol=0)


def test_seed_list():
    env = make(3)
    from_int, _ = env.reset(seed=5)
    from_list, _ = env.reset(seed=[5, 6, 7])
    np.testing.assert_array_equal(from_int, from_list)
    repeated, _ = env.reset(seed=[9, 4, 9])
    np.testing.assert_array_equal(repeated[0], repeated[2])
    assert not np.allclose(repeated[0], repeated[1])
    mixed, _ = env.reset(seed=[9, None, 9])
    np.testing.assert_array_equal(mixed[0], repeated[0])


def test_reseeding_restarts_the_generators():
    env = make(2)
    first, _ = env.reset(seed=11)
    env.step(np.zeros((2, ACT_DIM)))
    unseeded, _ = env.reset()  # continues the generators: a new state
    assert not np.allclose(first, unseeded)
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first, again)


# -- reset_mask -----------------------------------------------------------------------


def test_reset_mask_resets_only_masked_sub_envs():
    env = make(3, max_episode_steps=10)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(6):
        before, *_ = env.step(actions(rng, 3))
    qpos_before = env.unwrapped.engine.sim.qpos.copy()
    mask = np.array([True, False, True])
    obs, info = env.reset(seed=100, options={"reset_mask": mask})
    # untouched sub-env: same state and observation as before the reset
    np.testing.assert_array_equal(obs[1], before[1])
    np.testing.assert_array_equal(env.unwrapped.engine.sim.qpos[1], qpos_before[1])
    # reset sub-envs: seeded as a full reset with that seed (seed + index)
    fresh, _ = make(3).reset(seed=100)
    np.testing.assert_array_equal(obs[0], fresh[0])
    np.testing.assert_array_equal(obs[2], fresh[2])
    assert not np.allclose(obs[0], before[0])
    np.testing.assert_array_equal(info["_x_position"], mask)
    # the unmasked sub-env keeps its episode clock: it hits the limit 4 steps later
    for t in range(4):
        _, _, _, trunc, _ = env.step(actions(rng, 3))
    np.testing.assert_array_equal(trunc, [False, True, False])
    # the reset ones need 6 more (the next step is the reset step of sub-env 1)
    for t in range(6):
        _, _, _, trunc, _ = env.step(actions(rng, 3))
        expected = [t == 5, False, t == 5]
        np.testing.assert_array_equal(trunc, expected, err_msg=f"step {t}")


def test_reset_mask_all_false_raises_as_gymnasium():
    env = make(2)
    env.reset(seed=3)
    with pytest.raises(ValueError, match="at least one True value"):
        env.reset(options={"reset_mask": np.zeros(2, dtype=bool)})
    np.testing.assert_array_equal(env.step(np.zeros((2, ACT_DIM)))[0], make_stepped(3))  # the env is untouched


def make_stepped(seed):
    env = make(2)
    env.reset(seed=seed)
    return env.step(np.zeros((2, ACT_DIM)))[0]


@pytest.mark.parametrize(
    "mask,exc,match",
    [
        ([True, False], TypeError, "must be a numpy array"),
        (np.array([1, 0]), TypeError, "dtype=np.bool_`, got int64"),
        (np.array([1.0, 0.0]), TypeError, "dtype=np.bool_`, got float64"),
        (np.array([True]), ValueError, r"must have shape `\(2,\)`, got \(1,\)"),
        (np.array([[True, True]]), ValueError, r"must have shape `\(2,\)`, got \(1, 2\)"),
    ],
)
def test_bad_reset_masks_raise_as_gymnasium(mask, exc, match):
    env = make(2)
    env.reset(seed=0)
    ref = gym.make_vec("HalfCheetah-v5", num_envs=2, vectorization_mode="sync")
    ref.reset(seed=0)
    with pytest.raises(exc, match=match):
        env.reset(options={"reset_mask": mask})
    with pytest.raises(exc, match=match):
        ref.reset(options={"reset_mask": mask})


def test_scalar_and_miscounted_actions_raise_as_gymnasium():
    env = make(2)
    env.reset(seed=0)
    ref = gym.make_vec("HalfCheetah-v5", num_envs=2, vectorization_mode="sync")
    ref.reset(seed=0)
    for e in (env, ref):
        with pytest.raises(TypeError):
            e.step(0)
        with pytest.raises(TypeError):
            e.step(np.float32(0.5))
        with pytest.raises(ValueError):
            e.step(np.zeros((1, ACT_DIM), dtype=np.float32))
        with pytest.raises(ValueError):
            e.step(np.zeros((3, ACT_DIM), dtype=np.float32))


# -- NEXT_STEP ------------------------------------------------------------------------


def test_next_step_is_the_default_and_matches_gymnasium():
    ours = make(3, max_episode_steps=5)
    assert ours.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    theirs = gym.make_vec("HalfCheetah-v5", num_envs=3, vectorization_mode="sync", max_episode_steps=5)
    o1, _ = ours.reset(seed=7)
    o2, _ = theirs.reset(seed=7)
    rng = np.random.default_rng(7)
    reset_steps = 0
    for t in range(20):
        act = actions(rng, 3)
        o1, r1, te1, tr1, i1 = ours.step(act)
        o2, r2, te2, tr2, i2 = theirs.step(act)
        np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0, err_msg=f"step {t}")
        np.testing.assert_allclose(r1, r2, atol=1e-6, rtol=0, err_msg=f"step {t}")
        np.testing.assert_array_equal(te1, te2)
        np.testing.assert_array_equal(tr1, tr2)
        if t % 6 == 4:  # the 5th step of each episode ends it
            assert tr1.all() and not te1.any()
        elif t % 6 == 5:  # the step after: reset obs, reward 0, both flags False
            reset_steps += 1
            assert (r1 == 0).all() and not (te1 | tr1).any()
            # every sub-env resets: the info is the reset info only, as Gymnasium's
            assert set(i1) == set(i2) == {"x_position", "_x_position"}
            np.testing.assert_array_equal(i1["_x_position"], i2["_x_position"])
            np.testing.assert_allclose(i1["x_position"], i2["x_position"], atol=1e-6, rtol=0)
        else:
            assert not (te1 | tr1).any()
            np.testing.assert_allclose(i1["x_velocity"], i2["x_velocity"], atol=1e-6, rtol=0)
            np.testing.assert_allclose(i1["reward_terms"]["forward"], i2["reward_forward"], atol=1e-6, rtol=0)
            np.testing.assert_allclose(i1["reward_terms"]["ctrl"], i2["reward_ctrl"], atol=1e-6, rtol=0)
    assert reset_steps == 3


def assert_infos_match(ours, theirs, where):
    """Every entry Gymnasium's SyncVectorEnv reports, ours reports with the same mask."""
    for key, value in theirs.items():
        if key.startswith("_"):
            continue
        mask = theirs["_" + key]
        np.testing.assert_array_equal(ours["_" + key], mask, err_msg=f"mask of {key} at {where}")
        if isinstance(value, dict):  # reward_terms: Gymnasium nests masks per term
            for name in ours[key]:
                np.testing.assert_array_equal(ours[key][name][mask], value[name][mask], err_msg=f"{key}/{name} at {where}")
        else:
            np.testing.assert_array_equal(ours[key][mask], value[mask], err_msg=f"{key} at {where}")
    for key in ours:
        if key.startswith("_") and key[1:] not in theirs:
            assert not ours[key].any(), f"{key[1:]} reported at {where}, Gymnasium has none"


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_vector_entry_point_matches_sync_vectorization_of_the_single_env(mode):
    """gym.make_vec(id) and gym.make_vec(id, vectorization_mode="sync") agree bit for bit."""
    ours = make(3, max_episode_steps=6, autoreset_mode=mode)
    theirs = gym.make_vec(
        ID, num_envs=3, vectorization_mode="sync", max_episode_steps=6,
        vector_kwargs={"autoreset_mode": AutoresetMode(mode)},
    )
    assert isinstance(theirs, gym.vector.SyncVectorEnv)
    o1, i1 = ours.reset(seed=21)
    o2, i2 = theirs.reset(seed=21)
    np.testing.assert_array_equal(o1, o2)
    assert_infos_match(i1, i2, "reset")
    m = {"reset_mask": np.array([False, True, False])}
    rng = np.random.default_rng(21)
    for t in range(20):
        if t == 2:  # desynchronise sub-env 1
            o1, i1 = ours.reset(options=m)
            o2, i2 = theirs.reset(options=m)
            np.testing.assert_array_equal(o1, o2)
        act = actions(rng, 3)
        r1, r2 = ours.step(act), theirs.step(act)
        for x, y in zip(r1[:4], r2[:4]):
            np.testing.assert_array_equal(x, y, err_msg=f"step {t}")
        i1, i2 = r1[4], r2[4]
        if mode == "SameStep" and "final_obs" in i2:
            np.testing.assert_array_equal(i1["_final_obs"], i2["_final_obs"])
            done = i2["_final_obs"]
            np.testing.assert_array_equal(np.stack(list(i1["final_obs"][done])), np.stack(list(i2["final_obs"][done])))
            assert_infos_match(i1["final_info"], i2["final_info"], f"final_info {t}")
        else:
            assert_infos_match(i1, i2, f"step {t}")


def test_next_step_with_desynchronised_episodes():
    env = make(2, max_episode_steps=4)
    env.reset(seed=0)
    env.step(np.zeros((2, ACT_DIM)))
    env.reset(options={"reset_mask": np.array([False, True])})
    flags = []
    for _ in range(6):
        _, r, te, tr, _ = env.step(np.zeros((2, ACT_DIM)))
        flags.append((tr.tolist(), r.tolist()))
    # sub-env 0 ends at its 4th step (call 3), resets on call 4; sub-env 1 one call later
    assert [f[0] for f in flags] == [
        [False, False], [False, False], [True, False], [False, True], [False, False], [False, False]
    ]
    assert flags[3][1][0] == 0.0 and flags[4][1][1] == 0.0
    assert flags[3][1][1] != 0.0 and flags[4][1][0] != 0.0


# -- SAME_STEP ------------------------------------------------------------------------


def test_same_step_final_obs_and_final_info():
    """Gymnasium's layout: an ended sub-env's top-level info is its reset info, its
    last step's info is in ``final_info`` and its last observation in ``final_obs``
    (an object array, None for the others)."""
    same = make(3, max_episode_steps=5, autoreset_mode="SameStep")
    nxt = make(3, max_episode_steps=5)
    assert same.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    same.reset(seed=1)
    nxt.reset(seed=1)
    # desynchronise: sub-env 0 restarts after 2 steps in both envs
    rng = np.random.default_rng(1)
    for _ in range(2):
        act = actions(rng, 3)
        same.step(act)
        nxt.step(act)
    m = {"reset_mask": np.array([True, False, False])}
    np.testing.assert_array_equal(same.reset(seed=50, options=m)[0], nxt.reset(seed=50, options=m)[0])
    seen_partial = False
    for t in range(12):
        act = actions(rng, 3)
        os_, rs, tes, trs, infs = same.step(act)
        on, rn, ten, trn, infn = nxt.step(act)
        done = ten | trn
        np.testing.assert_array_equal(tes | trs, done)
        np.testing.assert_array_equal(rs, rn)
        np.testing.assert_array_equal(os_[~done], on[~done])
        if not done.any():
            assert "final_obs" not in infs and "final_info" not in infs
            continue
        np.testing.assert_array_equal(infs["_final_obs"], done)
        np.testing.assert_array_equal(infs["_final_info"], done)
        assert infs["final_obs"].dtype == object and infs["final_obs"].shape == (3,)
        assert all(infs["final_obs"][i] is None for i in np.flatnonzero(~done))
        np.testing.assert_array_equal(np.stack(list(infs["final_obs"][done])), on[done])
        fi = infs["final_info"]
        for name in ("forward", "ctrl"):
            np.testing.assert_array_equal(fi["reward_terms"][name][done], infn["reward_terms"][name][done])
            assert (fi["reward_terms"][name][~done] == 0).all()
            np.testing.assert_array_equal(infs["reward_terms"][name][~done], infn["reward_terms"][name][~done])
            assert (infs["reward_terms"][name][done] == 0).all()
        np.testing.assert_array_equal(fi["_reward_terms"], done)
        np.testing.assert_array_equal(infs["_reward_terms"], ~done)
        np.testing.assert_array_equal(fi["x_velocity"][done], infn["x_velocity"][done])
        np.testing.assert_array_equal(fi["_x_velocity"], done)
        np.testing.assert_array_equal(infs["_x_velocity"], ~done)
        # x_position is in both the step and the reset info: every row reports it
        assert infs["_x_position"].all()
        np.testing.assert_array_equal(fi["x_position"][done], infn["x_position"][done])
        seen_partial |= 0 < done.sum() < 3
        # the returned obs is already the reset obs: the next-step env shows it one call later
        on2, rn2, _, _, infn2 = nxt.step(act)
        np.testing.assert_array_equal(os_[done], on2[done])
        np.testing.assert_array_equal(infs["x_position"][done], infn2["x_position"][done])
        assert (rn2[done] == 0).all()
        break
    assert seen_partial


def test_same_step_keeps_episode_clocks():
    env = make(2, max_episode_steps=3, autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=0)
    ends = [env.step(np.zeros((2, ACT_DIM)))[3].tolist() for _ in range(9)]
    assert ends == [[False, False], [False, False], [True, True]] * 3


# -- DISABLED -------------------------------------------------------------------------


def test_disabled_requires_explicit_reset():
    env = make(3, max_episode_steps=3, autoreset_mode="Disabled")
    assert env.metadata["autoreset_mode"] is AutoresetMode.DISABLED
    env.reset(seed=0)
    env.step(np.zeros((3, ACT_DIM)))
    env.reset(options={"reset_mask": np.array([False, False, True])})
    for _ in range(2):
        obs, _, _, trunc, _ = env.step(np.zeros((3, ACT_DIM)))
    np.testing.assert_array_equal(trunc, [True, True, False])
    state = env.unwrapped.engine.sim.qpos.copy()
    with pytest.raises(RuntimeError, match=r"sub-env\(s\) \[0, 1\] ended.*reset_mask"):
        env.step(np.zeros((3, ACT_DIM)))
    np.testing.assert_array_equal(env.unwrapped.engine.sim.qpos, state)  # the rejected step did nothing
    # resetting only one of the ended sub-envs is not enough
    env.reset(options={"reset_mask": np.array([True, False, False])})
    with pytest.raises(RuntimeError, match=r"sub-env\(s\) \[1\] ended"):
        env.step(np.zeros((3, ACT_DIM)))
    obs2, _ = env.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs2[2], obs[2])  # the running sub-env was left alone
    _, r, te, tr, _ = env.step(np.zeros((3, ACT_DIM)))
    assert (r != 0).all()  # no reset step in DISABLED mode
    np.testing.assert_array_equal(tr, [False, False, True])


# -- time limit -----------------------------------------------------------------------


def test_default_time_limit_is_the_cards():
    env = make(2)
    assert env.unwrapped.max_episode_steps == 1000 == env.unwrapped.card.max_episode_steps
    env.reset(seed=0)
    zeros = np.zeros((2, ACT_DIM))
    for t in range(1, 1002):
        _, _, te, tr, _ = env.step(zeros)
        assert not te.any()
        assert tr.all() == (t == 1000) and tr.any() == (t == 1000), f"step {t}"


def test_no_time_limit():
    env = make(1, max_episode_steps=-1)
    assert env.unwrapped.max_episode_steps is None
    env.reset(seed=0)
    for _ in range(1005):
        _, _, te, tr, _ = env.step(np.zeros((1, ACT_DIM)))
        assert not (te | tr).any()


# -- info and spaces ------------------------------------------------------------------


def test_info_contents():
    env = make(4)
    _, info = env.reset(seed=0)
    card = env.unwrapped.card
    assert info["x_position"].shape == (4,) and info["_x_position"].all()
    rng = np.random.default_rng(0)
    for _ in range(5):
        act = actions(rng, 4)
        _, reward, _, _, info = env.step(act)
        terms = info["reward_terms"]
        assert set(terms) == set(card.term_names) == {"forward", "ctrl"}
        for value in terms.values():
            assert value.shape == (4,) and value.dtype == np.float64
        np.testing.assert_allclose(sum(terms.values()), reward, rtol=0, atol=1e-12)
        np.testing.assert_allclose(terms["ctrl"], -0.1 * np.sum(act.astype(np.float64) ** 2, axis=1), rtol=1e-6)
        np.testing.assert_allclose(terms["forward"], info["x_velocity"], rtol=1e-12)
        for q in card.quantities:
            assert info[q].shape == (4,) and np.isfinite(info[q]).all()
            assert info["_" + q].dtype == np.bool_ and info["_" + q].all()
        assert info["_reward_terms"].all()
        assert info["diverged"].dtype == np.bool_ and not info["diverged"].any()
        assert "success" not in info  # HalfCheetah defines no success


def test_info_arrays_are_not_live_views():
    env = make(2)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.ones((2, ACT_DIM)))
    x = info["x_position"].copy()
    env.step(np.ones((2, ACT_DIM)))
    np.testing.assert_array_equal(info["x_position"], x)


def test_spaces():
    env = make(5)
    ref = gym.make("HalfCheetah-v5")
    assert env.single_observation_space == ref.observation_space
    assert env.single_action_space == ref.action_space
    assert env.single_action_space.dtype == np.float32
    assert env.observation_space.shape == (5, OBS_DIM)
    assert env.action_space.shape == (5, ACT_DIM)
    np.testing.assert_array_equal(env.action_space.low, -np.ones((5, ACT_DIM)))
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float64 and env.observation_space.contains(obs)
    obs, reward, te, tr, _ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert reward.shape == te.shape == tr.shape == (5,)
    assert reward.dtype == np.float64 and te.dtype == tr.dtype == np.bool_


def test_reset_and_step_return_copies():
    env = make(2)
    obs, _ = env.reset(seed=0)
    kept = obs.copy()
    obs[:] = 1e9  # scribbling on a returned array must not reach the env
    out, *_ = env.step(np.zeros((2, ACT_DIM)))
    assert np.abs(out).max() < 1e3
    ref = make(2)
    ref.reset(seed=0)
    np.testing.assert_array_equal(ref.step(np.zeros((2, ACT_DIM)))[0], out)
    np.testing.assert_array_equal(make(2).reset(seed=0)[0], kept)


# -- the single env -------------------------------------------------------------------


def test_single_env_matches_gymnasium_with_time_limit():
    ours = gym.make(ID, max_episode_steps=30)
    theirs = gym.make("HalfCheetah-v5", max_episode_steps=30)
    assert gym.make(ID).spec.max_episode_steps == 1000
    assert ours.observation_space == theirs.observation_space
    assert ours.action_space == theirs.action_space
    o1, i1 = ours.reset(seed=3)
    o2, i2 = theirs.reset(seed=3)
    np.testing.assert_allclose(o1, o2, atol=1e-12, rtol=0)
    rng = np.random.default_rng(3)
    truncations = 0
    for t in range(100):
        a = rng.uniform(-1, 1, ACT_DIM).astype(np.float32)
        o1, r1, te1, tr1, i1 = ours.step(a)
        o2, r2, te2, tr2, i2 = theirs.step(a)
        np.testing.assert_allclose(o1, o2, atol=1e-6, rtol=0, err_msg=f"step {t}")
        assert abs(r1 - r2) <= 1e-6 and isinstance(r1, float)
        assert (te1, tr1) == (te2, tr2)
        assert abs(i1["reward_terms"]["forward"] - i2["reward_forward"]) <= 1e-6
        assert abs(i1["reward_terms"]["ctrl"] - i2["reward_ctrl"]) <= 1e-6
        assert abs(sum(i1["reward_terms"].values()) - r1) <= 1e-9
        assert abs(i1["x_velocity"] - i2["x_velocity"]) <= 1e-6
        if te1 or tr1:
            truncations += 1
            assert t % 30 == 29
            o1, _ = ours.reset()
            o2, _ = theirs.reset()
            np.testing.assert_allclose(o1, o2, atol=1e-12, rtol=0)
    assert truncations == 3


# -- divergence -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize("blowup", ["huge_qvel", "nan_qpos"])
def test_divergence_is_reported_truncated_and_reset(mode, blowup):
    env = make(3, autoreset_mode=mode)
    twin = make(3, autoreset_mode=mode)
    env.reset(seed=4)
    twin.reset(seed=4)
    rng = np.random.default_rng(4)
    for _ in range(3):
        act = actions(rng, 3)
        last, *_ = env.step(act)
        twin.step(act)
    sim = env.unwrapped.engine.sim
    if blowup == "huge_qvel":
        sim.qvel[1] = 1e12
    else:
        sim.qpos[1, 2] = np.nan
    act = actions(rng, 3)
    obs, reward, te, tr, info = env.step(act)
    tobs, treward, *_ = twin.step(act)
    # SAME_STEP: the diverged sub-env's step info is in final_info (its top-level row is its reset's)
    step_info = info["final_info"] if mode == "SameStep" else info
    np.testing.assert_array_equal(step_info["diverged"][1], True)
    np.testing.assert_array_equal(info["diverged"][[0, 2]], [False, False])
    np.testing.assert_array_equal(tr, [False, True, False])
    assert not te.any()
    assert np.isfinite(obs).all() and np.isfinite(reward).all()
    for key in info["reward_terms"]:
        assert np.isfinite(info["reward_terms"][key]).all()
    # the other sub-envs are unaffected
    np.testing.assert_array_equal(obs[[0, 2]], tobs[[0, 2]])
    np.testing.assert_array_equal(reward[[0, 2]], treward[[0, 2]])
    if mode == "SameStep":
        # the episode ends on its last finite observation and is reset at once
        np.testing.assert_array_equal(info["final_obs"][1], last[1])
        assert info["final_info"]["diverged"][1]
        assert not np.allclose(obs[1], last[1])
    else:
        np.testing.assert_array_equal(obs[1], last[1])
        obs, reward, te, tr, info = env.step(act)  # the reset step
        twin.step(act)
        assert reward[1] == 0 and not (te[1] or tr[1]) and not info["diverged"].any()
    # the reset sub-env runs normally from a fresh state
    assert np.abs(obs[1]).max() < 10
    for _ in range(20):
        act = actions(rng, 3)
        obs, reward, te, tr, info = env.step(act)
        tobs, *_ = twin.step(act)
        assert not info["diverged"].any() and not (te | tr).any()
        assert np.isfinite(obs).all()
        np.testing.assert_array_equal(obs[[0, 2]], tobs[[0, 2]])


def test_single_env_divergence():
    env = gym.make(ID)
    env.reset(seed=0)
    last, *_ = env.step(np.zeros(ACT_DIM, dtype=np.float32))
    env.unwrapped.engine.sim.qvel[0] = 1e12
    obs, reward, te, tr, info = env.step(np.zeros(ACT_DIM, dtype=np.float32))
    assert info["diverged"] is True and tr and not te
    np.testing.assert_array_equal(obs, last)
    assert np.isfinite(reward)
    obs, _ = env.reset()
    obs, _, _, _, info = env.step(np.zeros(ACT_DIM, dtype=np.float32))
    assert not info["diverged"] and np.abs(obs).max() < 10


# -- rendering ------------------------------------------------------------------------


def test_render_frames_of_chosen_sub_envs():
    env = make(2, render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(25):  # drive the two cheetahs into different poses
        env.step(np.stack([np.zeros(ACT_DIM), rng.uniform(-1, 1, ACT_DIM)]))
    default = env.render()
    f0, f1 = env.render(0), env.render(1)
    for frame in (default, f0, f1):
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert frame.std() > 0
    np.testing.assert_array_equal(default, f0)
    assert np.abs(f0.astype(int) - f1.astype(int)).mean() > 1.0
    with pytest.raises(IndexError, match="out of range"):
        env.render(2)
    env.close()


def test_single_env_render():
    env = gym.make(ID, render_mode="rgb_array", width=40, height=30)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (30, 40, 3) and frame.dtype == np.uint8 and frame.std() > 0
    env.close()


def test_render_without_render_mode_raises():
    env = make(2)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="render_mode"):
        env.render()
    single = gym.make(ID)
    single.reset(seed=0)
    with pytest.raises(RuntimeError, match="render_mode"):
        single.unwrapped.render()


# -- Gymnasium's vector attributes ------------------------------------------------------


def test_np_random_seed_is_per_env():
    env = make(3)
    unseeded = env.np_random_seed  # fresh entropy seeds, as unseeded Gymnasium envs
    assert isinstance(unseeded, tuple) and len(set(unseeded)) == 3
    env.reset(seed=7)
    assert env.np_random_seed == (7, 8, 9)
    env.reset()
    assert env.np_random_seed == (7, 8, 9)
    env.reset(seed=[None, 1, None])
    assert env.np_random_seed == (7, 1, 9)
    env.reset(seed=100, options={"reset_mask": np.array([False, False, True])})
    assert env.np_random_seed == (7, 1, 102)
    assert env.get_attr("np_random_seed") == env.call("np_random_seed") == (7, 1, 102)
    assert env.np_random == tuple(env.unwrapped.engine.rngs)
    rngs = [np.random.default_rng(i) for i in range(3)]
    env.set_attr("np_random", rngs)
    assert env.np_random_seed == (-1, -1, -1) and list(env.np_random) == rngs


def test_get_attr_call_and_set_attr_of_a_batched_env():
    env = make(3, max_episode_steps=50)
    env.reset(seed=0)
    dt = gym.make("HalfCheetah-v5").unwrapped.dt
    assert env.get_attr("dt") == (dt, dt, dt) and env.unwrapped.dt == dt
    assert env.call("max_episode_steps") == (50, 50, 50)
    assert env.get_attr("_max_episode_steps") == (50, 50, 50)
    env.step(np.zeros((3, ACT_DIM)))
    env.reset(options={"reset_mask": np.array([False, True, False])})
    assert env.get_attr("_elapsed_steps") == (1, 0, 1)
    env.set_attr("render_env", 2)
    assert env.get_attr("render_env") == (2, 2, 2)
    env.set_attr("render_env", [1, 1, 1])
    assert env.unwrapped.render_env == 1
    with pytest.raises(ValueError, match="shares 'render_env' across its 3 sub-envs"):
        env.set_attr("render_env", [0, 1, 2])
    with pytest.raises(ValueError, match="Got `2` values for 3 environments"):
        env.set_attr("render_env", [0, 1])
    for name in ("step", "reset", "close"):
        with pytest.raises(NotImplementedError, match=f"call\\('{name}'\\).*the batch itself"):
            env.call(name)
    with pytest.raises(AttributeError, match="no attribute 'gravity'"):
        env.get_attr("gravity")
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert env.unwrapped is env.unwrapped.unwrapped and env.render_mode is None


def test_call_render_gives_every_sub_envs_frame():
    env = make(2, render_mode="rgb_array", width=32, height=24)
    env.reset(seed=0)
    frames = env.call("render")
    assert isinstance(frames, tuple) and len(frames) == 2
    np.testing.assert_array_equal(frames[1], env.render(1))
    env.close()


def test_zero_dot_finds_a_non_finite_entry_anywhere():
    # The engine's finiteness check goes in pieces of DOT_CHUNK values (one BLAS call each, so
    # that OpenBLAS never starts its threads): a NaN or inf in any piece, the last one included.
    from pbrl.envs.engine import DOT_CHUNK, zero_dot

    for dtype in (np.float64, np.float32):
        for n in (1, DOT_CHUNK, DOT_CHUNK + 1, 3 * DOT_CHUNK + 5):
            x = np.random.default_rng(0).normal(size=n).astype(dtype)
            assert zero_dot(x) == 0.0
            for where in {0, n // 2, n - 1}:
                for bad in (np.nan, np.inf, -np.inf):
                    y = x.copy()
                    y[where] = bad
                    with np.errstate(invalid="ignore"):
                        assert np.isnan(zero_dot(y)), (dtype, n, where, bad)
