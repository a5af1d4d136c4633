"""The trajectory buffer: online and offline episodes, capacity, windows, save and load."""

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401  (registers pbrl/* ids)
from pbrl.preferences import SegmentSampler, SegmentShapeError, TrajectoryBuffer


def _rollout(mode: str, num_envs=3, limit=40, steps=90, seed=0):
    """Random-action rollout of the real batched HalfCheetah; returns the buffer and a
    per-env record of every real transition (obs before the action, action, reward)."""
    env = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=num_envs, max_episode_steps=limit, autoreset_mode=mode)
    buffer = TrajectoryBuffer.from_env(env)
    rng = np.random.default_rng(seed)
    record = [{"obs": [], "act": [], "rew": [], "ep_returns": []} for _ in range(num_envs)]
    running = np.zeros(num_envs)
    skip = np.zeros(num_envs, bool)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        act = rng.uniform(-1, 1, size=(num_envs, 6))
        nobs, rew, term, trunc, info = env.step(act)
        buffer.add(obs, act, rew, term, trunc, info)
        for i in range(num_envs):
            if skip[i]:
                continue  # NEXT_STEP reset step: not a transition
            record[i]["obs"].append(obs[i].copy())
            record[i]["act"].append(act[i].copy())
            record[i]["rew"].append(rew[i])
            running[i] += rew[i]
            if term[i] or trunc[i]:
                record[i]["ep_returns"].append(running[i])
                running[i] = 0.0
        done = term | trunc
        skip = done if mode == "NextStep" else np.zeros(num_envs, bool)
        obs = nobs
    env.close()
    return buffer, record


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_real_rollout_segments_are_windows_of_recorded_episodes(mode):
    buffer, record = _rollout(mode)
    # 90 steps with a 40-step limit: two full episodes per sub-env either way
    # (NEXT_STEP spends one step per reset, which must not be recorded).
    assert buffer.num_episodes == 6
    assert buffer.episode_lengths.tolist() == [40] * 6
    assert buffer.term_names == ("forward", "ctrl")
    # episodes finish in the same step for all sub-envs, flushed in env order
    expected_returns = [record[i]["ep_returns"][k] for k in range(2) for i in range(3)]
    np.testing.assert_allclose(buffer.recent_returns(10), expected_returns)
    np.testing.assert_allclose(buffer.recent_returns(2), expected_returns[-2:])

    sampler = SegmentSampler(buffer, horizon=15, seed=1)
    seg = sampler.sample(64)
    assert (seg.obs.shape, seg.actions.shape, seg.rewards.shape) == ((64, 15, 17), (64, 15, 6), (64, 15))
    assert seg.mask.all() and set(seg.origin_kind) == {"run"}
    assert set(seg.extras) == {"x_position", "x_velocity"}
    assert ((seg.start >= 0) & (seg.start <= 40 - 15)).all()
    for b in range(64):
        ep, start = int(seg.episode[b]), int(seg.start[b])
        env_i, k = ep % 3, ep // 3
        sl = slice(k * 40 + start, k * 40 + start + 15)
        np.testing.assert_allclose(seg.obs[b], np.array(record[env_i]["obs"][sl]), rtol=1e-6, atol=1e-6)  # float32 storage
        np.testing.assert_allclose(seg.actions[b], np.array(record[env_i]["act"][sl]), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(seg.rewards[b], np.array(record[env_i]["rew"][sl]))
    # the true reward is the sum of its terms, also on segments
    np.testing.assert_allclose(seg.rewards, seg.terms["forward"] + seg.terms["ctrl"], atol=1e-12)
    np.testing.assert_allclose(seg.returns, seg.rewards.sum(1))


def test_offline_episodes_windows_never_cross_boundaries():
    lengths = np.array([7, 30, 12, 50, 3])
    t = int(lengths.sum())
    step_in_ep = np.concatenate([np.arange(n) for n in lengths])
    ep_of_step = np.repeat(np.arange(lengths.size), lengths)
    obs = np.stack([ep_of_step, step_in_ep], axis=1).astype(np.float64)
    dones = np.zeros(t, bool)
    dones[np.cumsum(lengths) - 1] = True
    buffer = TrajectoryBuffer(obs_dtype=np.float64)
    assert buffer.add_episodes(obs, np.zeros((t, 1)), step_in_ep * 1.0, dones=dones, source_id="toy-v0") == 5
    np.testing.assert_array_equal(buffer.episode_lengths, lengths)
    np.testing.assert_allclose(buffer.episode_returns, [lengths[i] * (lengths[i] - 1) / 2 for i in range(5)])

    seg = SegmentSampler(buffer, horizon=10, short_episodes="skip", seed=0).sample(500)
    assert set(seg.episode.tolist()) <= {1, 2, 3}  # 7- and 3-step episodes are too short
    assert (seg.obs[:, :, 0] == seg.episode[:, None]).all()  # one episode per segment
    np.testing.assert_array_equal(seg.obs[:, :, 1], seg.start[:, None] + np.arange(10))
    assert set(seg.source_id) == {"toy-v0"} and set(seg.origin_kind) == {"dataset"}
    # same result with episode_lengths instead of dones
    other = TrajectoryBuffer(obs_dtype=np.float64)
    other.add_episodes(obs, np.zeros((t, 1)), step_in_ep * 1.0, episode_lengths=lengths, source_id="toy-v0")
    again = SegmentSampler(other, horizon=10, short_episodes="skip", seed=0).sample(500)
    np.testing.assert_array_equal(again.obs, seg.obs)


def test_capacity_drops_oldest_episodes_and_keeps_returns():
    buffer = TrajectoryBuffer(capacity=500, obs_dtype=np.float64)
    for k in range(200):
        n = 37
        obs = np.stack([np.full(n, k), np.arange(n)], axis=1).astype(np.float64)
        buffer.add_episodes(obs, np.zeros((n, 1)), np.full(n, float(k)), episode_ids=[k])
    assert buffer.num_steps <= 500 and buffer.num_episodes == 500 // 37
    held = list(range(200 - buffer.num_episodes, 200))
    for i, k in enumerate(held):
        ep = buffer.episode(i)
        assert (ep["obs"][:, 0] == k).all()
        np.testing.assert_array_equal(ep["obs"][:, 1], np.arange(37))
    seg = SegmentSampler(buffer, horizon=5, seed=0).sample(300)
    assert set(seg.episode.tolist()) <= set(held)
    assert (seg.obs[:, :, 0] == seg.episode[:, None]).all()
    # recent returns outlive eviction
    np.testing.assert_allclose(buffer.recent_returns(10), [37.0 * k for k in range(190, 200)])


def test_online_capacity_and_end_episodes():
    buffer = TrajectoryBuffer(capacity=10, autoreset_mode="same_step")
    for t in range(7):
        done = np.array([t % 3 == 2, False])
        buffer.add(np.full((2, 1), t), np.zeros((2, 1)), np.ones(2), done, None, reward_terms={"a": np.ones(2)})
    assert buffer.episode_lengths.tolist() == [3, 3]
    assert buffer.end_episodes() == 2  # env 0 has 1 step in progress, env 1 has 7
    assert buffer.num_steps <= 10 and buffer.episode_lengths[-1] == 7
    np.testing.assert_allclose(buffer.recent_returns(4), [3, 3, 1, 7])


def test_windows_cut_the_given_steps_and_pad_past_the_end():
    buffer = TrajectoryBuffer(obs_dtype=np.float64)
    buffer.add_episodes(np.arange(10.0)[:, None], np.ones((10, 1)), np.arange(10.0), episode_lengths=[4, 6], source_id="toy")
    seg = buffer.windows(np.array([1, 0]), np.array([2, 1]), 4)
    np.testing.assert_array_equal(seg.obs[:, :, 0], [[6, 7, 8, 9], [1, 2, 3, 3]])  # last state repeated
    np.testing.assert_array_equal(seg.mask, [[True, True, True, True], [True, True, True, False]])
    np.testing.assert_array_equal(seg.actions[:, :, 0], [[1, 1, 1, 1], [1, 1, 1, 0]])
    np.testing.assert_array_equal(seg.rewards, [[6, 7, 8, 9], [1, 2, 3, 0]])
    assert seg.episode.tolist() == [1, 0] and seg.start.tolist() == [2, 1] and set(seg.source_id) == {"toy"}


def test_buffer_shape_mismatches_name_the_problem():
    buffer = TrajectoryBuffer()
    buffer.add(np.zeros((2, 3)), np.zeros((2, 1)), np.zeros(2), np.zeros(2, bool))
    with pytest.raises(SegmentShapeError, match="obs_dim 3"):
        buffer.add(np.zeros((2, 4)), np.zeros((2, 1)), np.zeros(2), np.zeros(2, bool))
    with pytest.raises(SegmentShapeError, match="2 sub-envs"):
        buffer.add(np.zeros((3, 3)), np.zeros((3, 1)), np.zeros(3), np.zeros(3, bool))
    with pytest.raises(SegmentShapeError, match="episode_lengths sum to 5 but there are 6 steps"):
        TrajectoryBuffer().add_episodes(np.zeros((6, 2)), np.zeros((6, 1)), np.zeros(6), episode_lengths=[2, 3])
    with pytest.raises(SegmentShapeError, match="rewards must have shape"):
        TrajectoryBuffer().add_episodes(np.zeros((6, 2)), np.zeros((6, 1)), np.zeros(5))


def test_save_and_load_resume_exactly(tmp_path):
    def step_data(t):
        obs = np.stack([np.full(3, t), np.arange(3)], axis=1).astype(np.float64)
        done = np.array([t % 5 == 4, t % 7 == 6, False])
        return obs, np.ones((3, 1)) * t, np.full(3, float(t)), done

    a = TrajectoryBuffer(capacity=40, extras=("v",))
    for t in range(25):  # env 0 ends at t=24: its reset step is pending at the save
        obs, act, rew, done = step_data(t)
        a.add(obs, act, rew, done, None, {"reward_terms": {"f": rew}, "v": rew * 2})
    a.save(str(tmp_path / "buf.npz"))
    b = TrajectoryBuffer.load(str(tmp_path / "buf.npz"))
    for t in range(25, 60):
        obs, act, rew, done = step_data(t)
        for buf in (a, b):
            buf.add(obs, act, rew, done, None, {"reward_terms": {"f": rew}, "v": rew * 2})
    np.testing.assert_array_equal(a.episode_lengths, b.episode_lengths)
    np.testing.assert_array_equal(a.recent_returns(50), b.recent_returns(50))
    sa, sb = SegmentSampler(a, 3, seed=0), SegmentSampler(b, 3, seed=0)
    x, y = sa.sample(50), sb.sample(50)
    for name in ("obs", "actions", "rewards", "mask", "episode", "start"):
        np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
    np.testing.assert_array_equal(x.extras["v"], y.extras["v"])
    sb.load_state_dict(sa.state_dict())
    np.testing.assert_array_equal(sa.sample(5).start, sb.sample(5).start)
