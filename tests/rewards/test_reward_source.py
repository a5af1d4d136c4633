"""Reward sources and the SB3 wrapper that plugs them into training (no training here)."""

from __future__ import annotations

import numpy as np
import pytest

import pbrl  # noqa: F401  (registers the tasks)
from pbrl.agents.online.reward_wrapper import RewardSourceWrapper
from pbrl.envs.sb3 import SB3VecEnv
from pbrl.rewards.source import CallableReward, RewardProgram, RewardProgramError, TrueReward, make_reward_source


def _wrapped(source, num_envs=3, task="pbrl/HalfCheetah-v5", **kwargs):
    return RewardSourceWrapper(SB3VecEnv(task, num_envs=num_envs, **kwargs), source)


def test_true_reward_passes_the_env_reward_and_sums_terms():
    env = _wrapped(TrueReward())
    env.seed(0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step_async(rng.uniform(-1, 1, (3, 6)))
        obs, reward, dones, infos = env.step_wait()
        info = env.venv.last_info
        terms = sum(info["reward_terms"].values())
        np.testing.assert_allclose(reward, terms, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(TrueReward()(obs, None, obs, info), terms)
    env.close()


def test_source_sees_raw_transitions_with_final_obs_at_episode_end():
    """next_obs of an ended episode is its last observation, not the reset one."""
    seen = []

    def record(obs, action, next_obs, info):
        seen.append((obs.copy(), action.copy(), next_obs.copy(), dict(info)))
        return -info["x_velocity"]

    env = _wrapped(CallableReward(record), num_envs=2, max_episode_steps=4)
    env.seed(1)
    first = env.reset()
    prev_obs = first
    actions = np.full((2, 6), 0.5)
    for t in range(5):
        env.step_async(actions)
        obs, reward, dones, infos = env.step_wait()
        o, a, nxt, info = seen[-1]
        np.testing.assert_allclose(reward, -info["x_velocity"], rtol=1e-6)
        np.testing.assert_allclose(a, actions)
        if t == 0:
            np.testing.assert_allclose(o, first)
        if t == 3:
            assert dones.all()
            for i in range(2):
                np.testing.assert_allclose(nxt[i], infos[i]["terminal_observation"])
            assert not np.allclose(nxt, obs)  # obs is already the reset observation
            assert "final_obs" not in info and not any(k.startswith("_") for k in info)
        elif t < 3:
            np.testing.assert_allclose(nxt, obs)
        if t == 4:
            np.testing.assert_allclose(o, prev_obs)  # after a reset: the reset observation
        prev_obs = obs
    env.close()


def test_episode_stats_keep_true_and_learned_returns_and_terms():
    env = _wrapped(CallableReward(lambda o, a, n, info: np.ones(len(o)), name="one"), num_envs=2, max_episode_steps=10)
    env.seed(2)
    env.reset()
    true_total = np.zeros(2)
    forward = np.zeros(2)
    for _ in range(10):
        env.step_async(np.zeros((2, 6)))
        _, reward, dones, infos = env.step_wait()
        np.testing.assert_allclose(reward, 1.0)
        info = env.venv.last_info
        true_total += sum(info["reward_terms"].values())
        forward += info["reward_terms"]["forward"]
    assert dones.all()
    assert infos[0]["episode"]["l"] == 10
    np.testing.assert_allclose(infos[0]["episode"]["r"], true_total[0], rtol=1e-6)
    assert infos[0]["episode"]["learned_r"] == pytest.approx(10.0)
    stats = env.rollout_stats()
    assert stats["rollout/learned_return"] == pytest.approx(10.0)
    assert stats["rollout/true_return"] == pytest.approx(true_total.mean(), rel=1e-6)
    assert stats["reward_terms/forward"] == pytest.approx(forward.mean(), rel=1e-6)
    assert set(k for k in stats if k.startswith("reward_terms/")) == {"reward_terms/forward", "reward_terms/ctrl"}
    env.close()


def test_swapping_the_source_takes_effect_next_step_and_hooks_see_transitions():
    env = _wrapped(None, num_envs=2)
    batches = []
    env.add_transition_hook(batches.append)
    env.seed(3)
    env.reset()
    env.step_async(np.zeros((2, 6)))
    _, r1, _, _ = env.step_wait()
    env.reward_source = CallableReward(lambda o, a, n, i: np.full(len(o), 7.0))
    env.step_async(np.zeros((2, 6)))
    _, r2, _, _ = env.step_wait()
    np.testing.assert_allclose(r2, 7.0)
    assert not np.allclose(r1, 7.0)
    assert len(batches) == 2 and batches[1].reward.tolist() == [7.0, 7.0]
    np.testing.assert_allclose(batches[1].true_reward, sum(env.venv.last_info["reward_terms"].values()))
    env.close()


def test_reward_program_file(tmp_path):
    path = tmp_path / "backwards.py"
    path.write_text(
        "import numpy as np\n"
        "def compute_reward(obs, action, next_obs, info):\n"
        "    run = -info['x_velocity']\n"
        "    effort = -0.1 * np.sum(action ** 2, axis=1)\n"
        "    return run + effort, {'run': run, 'effort': effort}\n"
    )
    source = make_reward_source(f"program:{path}")
    try:
        assert isinstance(source, RewardProgram)
        assert source.describe()["sha256"] and source.describe()["kind"] == "program" and source.describe()["checked"]
        assert source.describe()["sandboxed"] and source.worker.alive    # it runs in its own worker process
        info = {"x_velocity": np.array([1.0, -2.0])}
        r = source(np.zeros((2, 17)), np.zeros((2, 6)), np.zeros((2, 17)), info)
        np.testing.assert_allclose(r, [-1.0, 2.0])
        np.testing.assert_allclose(source.last_terms["run"], [-1.0, 2.0])
        # batches larger than one request are sent in parts and put back together
        big = np.arange(300_000.0)
        r = source(np.zeros((len(big), 17)), np.zeros((len(big), 6)), np.zeros((len(big), 17)), {"x_velocity": big})
        np.testing.assert_array_equal(r, -big)
    finally:
        source.close()
    assert not source.worker.alive


@pytest.mark.parametrize(
    "text, message",
    [
        ("def reward(obs, action, next_obs, info):\n    return 0\n", "must define compute_reward"),
        ("import numpy as np\ndef compute_reward(o, a, n, i):\n    return np.zeros(len(o)) + undefined, {}\n", "NameError"),
        ("def compute_reward(obs, action, next_obs, info)\n    return 0\n", "does not parse"),
        ("import numpy as np\ndef compute_reward(o, a, n, i):\n    return np.zeros(5), {}\n", r"shape \(5,\)"),
        ("import numpy as np\ndef compute_reward(o, a, n, i):\n    return np.full(len(o), np.nan), {}\n", "NaN or infinite"),
        ("import numpy as np\ndef compute_reward(o, a, n, i):\n    return np.zeros(len(o)), {'t': np.zeros(3)}\n", "term 't'"),
    ],
)
def test_bad_reward_programs_fail_clearly(tmp_path, text, message):
    path = tmp_path / "prog.py"
    path.write_text(text)
    with pytest.raises(RewardProgramError, match=message) as failure:
        source = RewardProgram(path)
        try:
            source(np.zeros((2, 17)), np.zeros((2, 6)), np.zeros((2, 17)), {})
        finally:
            source.close()
    assert "prog.py" in str(failure.value)           # the message names the program


def test_reward_programs_are_statically_checked_unless_trusted(tmp_path, monkeypatch):
    # pbrl's design: a reward program is untrusted (it may come from `pbrl synthesize`)
    path = tmp_path / "hostile.py"
    marker = tmp_path / "PWNED"
    path.write_text(f"import os\nos.system('touch {marker}')\n"
                    "def compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'], {}\n")
    with pytest.raises(ValueError, match=r"refused by the static check.*import 'os'"):
        make_reward_source(f"program:{path}")
    assert not marker.exists()
    sneaky = tmp_path / "sneaky.py"     # passes no check: dunders reach os through object graphs
    sneaky.write_text("def compute_reward(obs, action, next_obs, info):\n"
                      "    return ().__class__.__base__.__subclasses__(), {}\n")
    with pytest.raises(ValueError, match="attributes starting with '_'"):
        RewardProgram(sneaky)
    own = tmp_path / "own.py"           # your own code needing more than numpy: declare it trusted
    own.write_text("import statistics\n\ndef compute_reward(obs, action, next_obs, info):\n"
                   "    return info['x_velocity'] * statistics.mean([1, 1]), {}\n")
    with pytest.raises(ValueError, match="trusted-program:"):
        make_reward_source(f"program:{own}")
    source = make_reward_source(f"trusted-program:{own}")
    assert source.describe()["checked"] is False
    np.testing.assert_allclose(source(np.zeros((1, 17)), np.zeros((1, 6)), np.zeros((1, 17)), {"x_velocity": np.ones(1)}), [1.0])


def test_bad_reward_specs():
    with pytest.raises(ValueError, match="unknown reward 'learnt'"):
        make_reward_source("learnt")
    with pytest.raises(ValueError, match="no such file"):
        make_reward_source("program:/nonexistent/reward.py")
    with pytest.raises(ValueError, match="needs a path"):
        make_reward_source("program:")


def test_a_sandboxed_program_trains_exactly_as_the_same_file_in_process(tmp_path):
    # Where the program runs changes nothing the agent sees: the same PPO run on program: and on
    # trusted-program: ends with identical weights.
    import torch

    from pbrl.agents import make_agent, resolve

    path = tmp_path / "run.py"
    path.write_text("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n"
                    "    run = info['x_velocity']\n    effort = -0.1 * np.sum(action ** 2, axis=1)\n"
                    "    return run + effort, {'run': run, 'effort': effort}\n")
    hp = resolve("ppo", "pbrl/HalfCheetah-v5", {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 2, "net_arch": [16, 16]})
    weights = {}
    for spec in (f"program:{path}", f"trusted-program:{path}"):
        agent = make_agent("ppo", "pbrl/HalfCheetah-v5", hp, seed=3, reward_source=make_reward_source(spec))
        try:
            agent.learn(512)
            weights[spec] = {k: v.clone() for k, v in agent.model.policy.state_dict().items()}
            assert set(agent.reward_env.reward_source.last_terms) == {"run", "effort"}
        finally:
            agent.close()
    sandboxed, trusted = weights.values()
    assert all(torch.equal(sandboxed[k], trusted[k]) for k in trusted)
