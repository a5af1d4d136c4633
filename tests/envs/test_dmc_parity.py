"""The ``pbrl/dmc-*`` tasks step as ``dm_control.suite.load(domain, task)``: from the same
physics state and the same actions, the same observations and rewards (to 1e-6; they
agree to the bit on MuJoCo 4.0.1, dm_control 1.0.52)."""

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import pbrl  # noqa: F401

pytestmark = pytest.mark.skipif(importlib.util.find_spec("dm_control") is None, reason="dm_control is not installed")


def _suite():
    """dm_control.suite, imported when a test needs it, not at collection: importing it binds a logging stream to
    the capture of that moment, which later tests' servers then wrote to after it closed ('lost sys.stderr')."""
    import dm_control.suite

    return dm_control.suite

TASKS = [
    ("walker", "stand"), ("walker", "walk"), ("walker", "run"), ("cheetah", "run"),
    ("hopper", "stand"), ("hopper", "hop"), ("cartpole", "swingup"), ("finger", "spin"),
    ("reacher", "easy"), ("reacher", "hard"), ("quadruped", "walk"), ("quadruped", "run"),
    ("humanoid", "stand"), ("humanoid", "walk"),
]
N, STEPS, TOL = 2, 40, 1e-6


def flat(observation) -> np.ndarray:
    """dm_control's OrderedDict flattened in key order (as dmc2gym does)."""
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in observation.values()])


def dm_twin(domain, task, qpos, qvel):
    """dm_control's env of the task, put in pbrl's sub-env state (reacher: the target
    pbrl keeps in qpos[2:4] is dm_control's target geom position)."""
    env = _suite().load(domain, task, task_kwargs={"random": 0})
    env.reset()
    physics = env.physics
    nq, nv = physics.model.nq, physics.model.nv
    with physics.reset_context():
        physics.data.qpos[:] = qpos[:nq]
        physics.data.qvel[:] = qvel[:nv]
        if domain == "reacher":
            physics.named.model.geom_pos["target", :2] = qpos[2:4]
    return env


def run_both(domain, task, action_repeat, steps, seed=3):
    env = gym.make_vec(f"pbrl/dmc-{domain}-{task}-v0", num_envs=N, action_repeat=action_repeat)
    obs, _ = env.reset(seed=seed)
    sim = env.engine.sim
    twins = [dm_twin(domain, task, sim.qpos[i].copy(), sim.qvel[i].copy()) for i in range(N)]
    for i, twin in enumerate(twins):
        np.testing.assert_allclose(obs[i], flat(twin.task.get_observation(twin.physics)), rtol=0, atol=TOL)
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(steps):
        action = rng.uniform(-1, 1, size=(N, env.single_action_space.shape[0]))
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated.any() and not truncated.any()
        for i, twin in enumerate(twins):
            total = 0.0
            for _ in range(action_repeat):
                step = twin.step(action[i])
                total += step.reward
            np.testing.assert_allclose(obs[i], flat(step.observation), rtol=0, atol=TOL)
            assert abs(reward[i] - total) <= TOL
        seen.append(obs.copy())
        np.testing.assert_array_equal(sum(info["reward_terms"].values()), reward)
    env.close()
    return np.array(seen)


@pytest.mark.parametrize("domain,task", TASKS, ids=[f"{d}-{t}" for d, t in TASKS])
def test_steps_match_dm_control(domain, task):
    seen = run_both(domain, task, action_repeat=1, steps=STEPS)
    assert np.ptp(seen, axis=0).max() > 0  # the states moved


def test_touch_sensors_match_while_touching():
    """Hopper's touch (an acceleration-stage sensor that dm_control reads from the last
    physics step) agrees while the foot is on the ground, not only when it is zero."""
    seen = run_both("hopper", "hop", action_repeat=1, steps=60)
    assert (seen[..., 13:15] > 0).any()


@pytest.mark.parametrize("domain,task", [("walker", "walk"), ("finger", "spin")])
def test_action_repeat_sums_dm_control_rewards(domain, task):
    run_both(domain, task, action_repeat=2, steps=10)


def test_default_action_repeat_is_b_prefs():
    """B-Pref steps dm_control with action repeat 1: one agent step is one control step."""
    env = gym.make_vec("pbrl/dmc-walker-walk-v0", num_envs=1)
    assert env.engine.task.action_repeat == 1
    assert env.engine.dt == pytest.approx(_suite().load("walker", "walk").control_timestep())
