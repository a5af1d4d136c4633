"""Meta-World's scripted experts, batched (pbrl.envs.tasks.metaworld.policies): the same actions as
Meta-World's own policies on the same observations, and success in pbrl's envs."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import pbrl.envs  # noqa: F401
from pbrl.envs.tasks.metaworld import expert_policy
from pbrl.envs.tasks.metaworld.policies import EXPERTS

TASKS = sorted(EXPERTS)


def _rollout(task_id, policy, seeds, steps):
    """Observations seen and whether each sub-env succeeded at some step."""
    envs = gym.make_vec(task_id, num_envs=len(seeds))
    obs, _ = envs.reset(seed=list(seeds))
    seen, ever = [obs], np.zeros(len(seeds), dtype=bool)
    for _ in range(steps):
        obs, _, _, _, info = envs.step(policy(obs))
        seen.append(obs)
        ever |= np.asarray(info["success"], dtype=bool)
    envs.close()
    return np.concatenate(seen), ever


@pytest.mark.parametrize("task_id", TASKS)
def test_expert_succeeds_where_random_does_not(task_id):
    expert = expert_policy(task_id)
    _, succeeded = _rollout(task_id, expert, range(6), 200)
    rng = np.random.default_rng(0)
    _, lucky = _rollout(task_id, lambda obs: rng.uniform(-1, 1, (len(obs), 4)).astype(np.float32), range(6), 200)
    assert succeeded.mean() >= 0.8, succeeded
    assert succeeded.mean() >= lucky.mean() + 0.5, (succeeded, lucky)


def test_policy_shapes_and_errors():
    policy = expert_policy("pbrl/metaworld-door-open-v3")
    obs = np.zeros((3, 39))
    assert policy(obs).shape == (3, 4) and policy(obs).dtype == np.float32
    assert policy(obs[0]).shape == (4,)
    np.testing.assert_array_equal(obs, 0.0)  # the observation is not changed (Meta-World's door policy does)
    with pytest.raises(ValueError, match=r"shape \(N, 39\)"):
        policy(np.zeros((3, 18)))
    with pytest.raises(KeyError, match="no scripted expert policy for 'pbrl/metaworld-door-clos-v3'"):
        expert_policy("pbrl/metaworld-door-clos-v3")


metaworld_policies = pytest.importorskip("metaworld.policies", reason="metaworld is not installed: no policy parity check")

#: pbrl task id -> Meta-World's policy class name
MW_NAMES = {
    task_id: "Sawyer" + "".join(p.capitalize() for p in task_id.split("metaworld-")[1][: -len("-v3")].split("-")) + "V3Policy"
    for task_id in TASKS
}


@pytest.mark.parametrize("task_id", TASKS)
def test_actions_match_metaworld_policy(task_id):
    """On observations of expert rollouts, and on copies with the hand moved (other branches)."""
    ours = expert_policy(task_id)
    theirs = getattr(metaworld_policies, MW_NAMES[task_id])()
    seen, _ = _rollout(task_id, ours, range(3), 120)
    rng = np.random.default_rng(1)
    moved = seen.copy()
    moved[:, :3] += rng.uniform(-0.08, 0.08, (len(seen), 3))
    obs = np.concatenate([seen, moved])
    actions = ours(obs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Meta-World's "Constant(s) may be too high"
        expected = np.stack([theirs.get_action(row.copy()) for row in obs])
    np.testing.assert_allclose(actions, expected, atol=1e-6, rtol=0)
