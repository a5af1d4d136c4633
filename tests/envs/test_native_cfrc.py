"""cfrc_ext read in place from the persistent batch (envs/_native.py) vs the portable copy.

The in-place path must be the one used on the MuJoCo version pbrl is tested with (else
Ant and Humanoid silently fall back to the slower copy), and both paths must give the
same bits: observations with contact forces, rewards and info over rollouts with resets.
Parity of either path with Gymnasium itself is in tests/envs/test_ant.py and tests/envs/test_humanoid.py.
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import pbrl.envs  # noqa: F401  (registers the ids)
from pbrl.envs._native import CHECKED_VERSIONS, PersistentData


def rollout(env_id: str, monkeypatch, portable: bool, steps: int = 60, num_envs: int = 5, **kwargs):
    if portable:
        monkeypatch.setenv("PBRL_PORTABLE_CFRC", "1")
    else:
        monkeypatch.delenv("PBRL_PORTABLE_CFRC", raising=False)
    env = gym.make_vec(env_id, num_envs=num_envs, **kwargs)
    native = env.unwrapped.engine.sim._native
    rng = np.random.default_rng(3)
    obs, _ = env.reset(seed=11)
    out = [obs]
    high = env.single_action_space.high
    for t in range(steps):
        # large actions so that the bodies hit the floor and episodes end (resets in the rollout)
        action = rng.uniform(-high, high, size=(num_envs, high.size)).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        out += [obs, reward, terminated, truncated, info["reward_contact"]]
        if t == 20:
            env.reset(options={"reset_mask": np.array([True, False, True, False, False])})
    env.close()
    return native, out


@pytest.mark.skipif(mujoco.__version__ not in CHECKED_VERSIONS, reason=f"in-place access is checked on MuJoCo {CHECKED_VERSIONS} only")
@pytest.mark.parametrize("env_id", ["pbrl/Ant-v5", "pbrl/Humanoid-v5"])
def test_in_place_path_is_used_and_matches_the_copy(env_id, monkeypatch):
    native, fast = rollout(env_id, monkeypatch, portable=False)
    assert isinstance(native, PersistentData)
    portable, slow = rollout(env_id, monkeypatch, portable=True)
    assert portable is None
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
    contact = np.concatenate([np.atleast_1d(x) for x in fast[5::5]])
    assert np.any(contact != 0.0)  # the contact cost moved: cfrc_ext was really read


def test_single_env_uses_it_and_tasks_without_contact_forces_do_not():
    single = gym.make("pbrl/Ant-v5").unwrapped
    expected = PersistentData if mujoco.__version__ in CHECKED_VERSIONS else type(None)
    assert isinstance(single.engine.sim._native, expected)
    lean = gym.make_vec("pbrl/Ant-v5", num_envs=2, include_cfrc_ext_in_observation=False, contact_cost_weight=0.0)
    assert lean.unwrapped.engine.sim._native is None
    cheetah = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=2)
    assert cheetah.unwrapped.engine.sim._native is None


def test_unchecked_version_falls_back(monkeypatch):
    monkeypatch.setattr(mujoco, "__version__", "0.0.0-not-checked")
    env = gym.make_vec("pbrl/Ant-v5", num_envs=2)
    assert env.unwrapped.engine.sim._native is None
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros((2, 8), np.float32))
    assert np.all(np.isfinite(info["reward_contact"]))
