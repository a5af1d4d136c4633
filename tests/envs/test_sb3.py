"""The Stable-Baselines3 VecEnv adapter: what DummyVecEnv over Monitor-wrapped single
envs gives (per-step infos, same-step autoreset, episode statistics), seeding, PPO."""

import time
import warnings

import gymnasium as gym
import numpy as np
import pytest
from pbrl.envs import RewardTerm, TaskCard, register_task
from pbrl.envs.sb3 import SB3VecEnv
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

RAIL_ID = "pbrltest/Rail-v0"
RAIL_XML = """
<mujoco model="rail">
  <option timestep="0.01"/>
  <worldbody>
    <body name="cart">
      <joint name="slide" type="slide" axis="1 0 0" damping="0.5"/>
      <geom type="sphere" size="0.05" mass="1"/>
    </body>
  </worldbody>
  <actuator><motor joint="slide" gear="5" ctrlrange="-1 1" ctrllimited="true"/></actuator>
</mujoco>
"""


@pytest.fixture(scope="module")
def rail():
    """A cart on a rail that terminates when it leaves |x| < 1.5; success when x > 1."""
    card = TaskCard(
        id=RAIL_ID,
        goal="Push the cart to x > 1.",
        observation_labels=("x", "v"),
        quantities={},
        reward_terms=(RewardTerm("x", 1.0, "the cart's x"),),
        termination="|x| >= 1.5",
        success="x > 1",
        max_episode_steps=20,
        ref_min_return=0.0,
        ref_max_return=20.0,
    )
    register_task(
        card=card,
        model=RAIL_XML,
        observe=lambda sim: np.concatenate([sim.qpos, sim.qvel], axis=1),
        reward_terms=lambda sim, before, action: {"x": sim.qpos[:, 0].copy()},
        terminated=lambda sim: np.abs(sim.qpos[:, 0]) >= 1.5,
        success=lambda sim: sim.qpos[:, 0] > 1.0,
        frame_skip=5,
        override=True,
    )
    return RAIL_ID


def test_protocol(rail):
    venv = SB3VecEnv(rail, num_envs=3)
    assert isinstance(venv, VecEnv)
    assert venv.num_envs == 3
    assert venv.observation_space.shape == (2,) and venv.action_space.shape == (1,)
    obs = venv.reset()
    assert obs.shape == (3, 2) and obs.dtype == np.float64
    assert len(venv.reset_infos) == 3
    obs, rewards, dones, infos = venv.step(np.zeros((3, 1), dtype=np.float32))
    assert obs.shape == (3, 2)
    assert rewards.shape == (3,) and rewards.dtype == np.float32
    assert dones.shape == (3,) and dones.dtype == np.bool_ and not dones.any()
    assert isinstance(infos, list) and len(infos) == 3
    for i, info in enumerate(infos):  # every step's info, as DummyVecEnv gives it
        assert set(info) == {"reward_terms", "success", "diverged", "TimeLimit.truncated"}
        assert info["reward_terms"] == {"x": venv.last_info["reward_terms"]["x"][i]}
        assert info["TimeLimit.truncated"] is False and info["diverged"] is False
    assert set(venv.last_info["reward_terms"]) == {"x"}
    assert venv.last_info["reward_terms"]["x"].shape == (3,)
    assert venv.get_attr("max_episode_steps") == [20, 20, 20]
    assert venv.get_attr("num_envs", indices=[1]) == [3]
    venv.set_attr("render_env", 2)
    assert venv.get_attr("render_env") == [2, 2, 2]
    # the adapter does Monitor's and TimeLimit's work: SB3 sees them as wrappers
    assert venv.env_is_wrapped(Monitor) == [True, True, True]
    assert venv.env_is_wrapped(gym.wrappers.TimeLimit) == [True, True, True]
    assert venv.env_is_wrapped(gym.Wrapper) == [True, True, True]
    assert venv.env_is_wrapped(gym.wrappers.ClipAction) == [False, False, False]
    assert SB3VecEnv(rail, num_envs=3, monitor=False).env_is_wrapped(Monitor) == [False, False, False]
    assert venv.env_method("get_attr", "dt", indices=[0]) == [(0.05, 0.05, 0.05)]
    assert venv.get_images() == [None, None, None]
    with pytest.raises(RuntimeError, match="step_async"):
        venv.step_wait()
    venv.close()


def test_terminal_observation_and_timelimit_flags(rail):
    """Side by side with a SAME_STEP vector env from the same seed."""
    venv = SB3VecEnv(rail, num_envs=3)
    ref = gym.make_vec(rail, num_envs=3, autoreset_mode="SameStep")
    assert venv.seed(5) == [5, 6, 7]
    obs = venv.reset()
    robs, _ = ref.reset(seed=5)
    np.testing.assert_array_equal(obs, robs)
    # cart 0 is pushed right (terminates, success), 1 rests (time limit), 2 pushed left
    act = np.array([[1.0], [0.0], [-1.0]], dtype=np.float32)
    ends = {0: [], 1: [], 2: []}
    for t in range(45):
        obs, rewards, dones, infos = venv.step(act)
        robs, rrew, rte, rtr, rinfo = ref.step(act)
        np.testing.assert_array_equal(obs, robs)
        np.testing.assert_array_equal(rewards, rrew.astype(np.float32))
        np.testing.assert_array_equal(dones, rte | rtr)
        for i in range(3):
            if not dones[i]:
                assert "terminal_observation" not in infos[i]
                continue
            term_obs = infos[i]["terminal_observation"]
            np.testing.assert_array_equal(term_obs, rinfo["final_obs"][i])
            assert not np.array_equal(term_obs, obs[i])  # obs is already the next episode's
            assert abs(obs[i, 0]) <= 0.1
            assert infos[i]["TimeLimit.truncated"] == bool(rtr[i] and not rte[i])
            ends[i].append((t, infos[i]["TimeLimit.truncated"], infos[i]["is_success"], term_obs[0]))
    # terminations: not time-limit ends; cart 0 succeeded, cart 2 did not
    assert len(ends[0]) >= 2 and all(not trunc and succ and x >= 1.5 for _, trunc, succ, x in ends[0])
    assert len(ends[2]) >= 2 and all(not trunc and not succ and x <= -1.5 for _, trunc, succ, x in ends[2])
    # the resting cart is cut by the time limit every 20 steps
    assert [(t, trunc) for t, trunc, *_ in ends[1]] == [(19, True), (39, True)]
    venv.close()


def test_diverged_episode_is_a_time_limit_style_end():
    venv = SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=2)
    venv.seed(0)
    venv.reset()
    last, *_ = venv.step(np.zeros((2, 6)))
    venv.env.engine.sim.qvel[0] = 1e12
    obs, rewards, dones, infos = venv.step(np.zeros((2, 6)))
    np.testing.assert_array_equal(dones, [True, False])
    assert infos[0]["TimeLimit.truncated"] is True
    np.testing.assert_array_equal(infos[0]["terminal_observation"], last[0])
    assert np.isfinite(obs).all() and np.isfinite(rewards).all()
    assert venv.last_info["diverged"][0]


def test_seed_reproducibility():
    def rollout(seed):
        venv = SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=2, max_episode_steps=10)
        venv.seed(seed)
        out = [venv.reset()]
        rng = np.random.default_rng(0)
        for _ in range(25):
            obs, rewards, dones, infos = venv.step(rng.uniform(-1, 1, (2, 6)))
            out += [obs, rewards[:, None]]
            out += [infos[i]["terminal_observation"][None] for i in np.flatnonzero(dones)]
        second_reset = venv.reset()  # the seed is used once, as in SB3
        venv.close()
        return np.concatenate([o.reshape(-1) for o in out]), out[0], second_reset

    a, first_a, again_a = rollout(3)
    b, first_b, _ = rollout(3)
    c, first_c, _ = rollout(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(first_a, first_c)
    assert not np.allclose(first_a, again_a)
    ref, _ = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=2).reset(seed=3)
    np.testing.assert_array_equal(first_a, ref)  # sub-env i gets seed + i
    np.testing.assert_array_equal(first_c[0], ref[1])


def test_rejects_envs_without_sb3_semantics():
    with pytest.raises(ValueError, match="autoreset_mode='SameStep'"):
        SB3VecEnv(gym.make_vec("pbrl/HalfCheetah-v5", num_envs=2))
    with pytest.raises(TypeError, match="needs a pbrl BatchedMujocoEnv.*SyncVectorEnv"):
        SB3VecEnv(gym.make_vec("HalfCheetah-v5", num_envs=2, vectorization_mode="sync"))


@pytest.mark.parametrize("task", ["HalfCheetah-v5", "Hopper-v5"])
def test_infos_match_dummy_vec_env_over_monitored_single_envs(task):
    """Per env per step: the same keys and values as DummyVecEnv([Monitor(gym.make(id))]),
    terminal_observation, TimeLimit.truncated, episode (r, l) and reset_infos included."""
    n, limit = 3, 15
    ours = SB3VecEnv(f"pbrl/{task}", num_envs=n, max_episode_steps=limit)
    ref = DummyVecEnv([lambda: Monitor(gym.make(f"pbrl/{task}", max_episode_steps=limit)) for _ in range(n)])
    for venv in (ours, ref):
        venv.seed(3)
    np.testing.assert_array_equal(ours.reset(), ref.reset())
    assert ours.reset_infos == ref.reset_infos
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(40):
        act = rng.uniform(-1, 1, (n,) + ours.action_space.shape).astype(np.float32)
        o1, r1, d1, i1 = ours.step(act)
        o2, r2, d2, i2 = ref.step(act)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        for i in range(n):
            assert set(i1[i]) == set(i2[i]), f"step {t} env {i}"
            for key, value in i2[i].items():
                if key == "episode":
                    assert (i1[i][key]["r"], i1[i][key]["l"]) == (value["r"], value["l"])
                    assert abs(i1[i][key]["t"] - value["t"]) < 60
                else:
                    np.testing.assert_array_equal(i1[i][key], value, err_msg=f"{key} step {t} env {i}")
        if d1.any():
            ends += int(d1.sum())
            assert ours.reset_infos == ref.reset_infos
    assert ends >= n * 2


def test_evaluate_policy_sees_a_monitor_and_its_episodes():
    venv = SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=2, max_episode_steps=20)
    venv.seed(0)
    class Zeros:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.zeros((len(obs), 6)), None

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not wrapped with a Monitor" warning
        rewards, lengths = evaluate_policy(Zeros(), venv, n_eval_episodes=4, return_episode_rewards=True)
    assert lengths == [20, 20, 20, 20]
    # the same returns a bare step loop sums
    ref = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=2, max_episode_steps=20)
    ref.reset(seed=0)
    total = sum(ref.step(np.zeros((2, 6)))[1] for _ in range(20))
    np.testing.assert_allclose(sorted(rewards[:2]), sorted(total), rtol=0, atol=1e-5)


def test_episode_statistics_as_monitor_and_vec_monitor_on_top_does_not_double_count(rail):
    venv = SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=3, max_episode_steps=10)
    with pytest.warns(UserWarning, match="already wrapped with a `Monitor`"):
        vm = VecMonitor(SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=3, max_episode_steps=10))
    for v in (venv, vm):
        v.seed(1)
        v.reset()
    rng = np.random.default_rng(1)
    totals = np.zeros(3)
    episodes = []
    t0 = time.time()
    for _ in range(25):
        act = rng.uniform(-1, 1, (3, 6))
        _, _, dones, infos = venv.step(act)
        _, _, _, vinfos = vm.step(act)
        totals += venv.last_info["reward_terms"]["forward"] + venv.last_info["reward_terms"]["ctrl"]
        for i in range(3):
            assert ("episode" in infos[i]) == bool(dones[i])
        for i in np.flatnonzero(dones):
            ep = infos[i]["episode"]
            assert ep["l"] == 10 and isinstance(ep["l"], int)
            assert ep["r"] == pytest.approx(totals[i], abs=1e-5)
            assert 0 <= ep["t"] <= time.time() - t0 + 1
            assert vinfos[i]["episode"]["l"] == 10  # replaced, not added up
            assert vinfos[i]["episode"]["r"] == pytest.approx(ep["r"], abs=1e-3)
            episodes.append(ep["r"])
            totals[i] = 0
    assert len(episodes) == 6
    assert vm.episode_count == 6


def test_ppo_learns_through_the_adapter():
    venv = SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=4, max_episode_steps=128)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=2, seed=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))  # not SB3's default /tmp/SB3-<time> folder
    model.learn(total_timesteps=2048)
    assert model.num_timesteps == 2048
    episodes = list(model.ep_info_buffer)
    assert len(episodes) == 16  # 4 sub-envs x 512 steps / 128
    assert all(ep["l"] == 128 and np.isfinite(ep["r"]) for ep in episodes)
    actions, _ = model.predict(venv.reset(), deterministic=True)
    assert actions.shape == (4, 6) and np.all(np.abs(actions) <= 1)
    venv.close()


def test_get_images_with_rgb_array():
    venv = SB3VecEnv("pbrl/HalfCheetah-v5", num_envs=2, render_mode="rgb_array", width=32, height=24)
    venv.reset()
    frames = venv.get_images()
    assert len(frames) == 2 and all(f.shape == (24, 32, 3) and f.dtype == np.uint8 for f in frames)
    venv.close()
