"""pbrl's Meta-World tasks without Meta-World: seeding, options, bad input, the Sawyer base."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import pbrl.envs  # noqa: F401
from pbrl.envs.registry import cards, make_task
from pbrl.envs.tasks.metaworld.base import HAND_SPACE, SawyerTask
from pbrl.envs.tasks.metaworld.reward_utils import hamacher_product, tolerance

IDS = [
    "pbrl/metaworld-button-press-v3", "pbrl/metaworld-button-press-topdown-v3", "pbrl/metaworld-door-open-v3",
    "pbrl/metaworld-drawer-open-v3", "pbrl/metaworld-drawer-close-v3", "pbrl/metaworld-door-unlock-v3",
    "pbrl/metaworld-window-open-v3", "pbrl/metaworld-sweep-into-v3", "pbrl/metaworld-plate-slide-v3",
    "pbrl/metaworld-hammer-v3", "pbrl/metaworld-bin-picking-v3",
]


def test_registered_with_cards():
    known = cards()
    for task_id in IDS:
        card = known[task_id]
        assert card.obs_dim == 39 and card.max_episode_steps == 500 and card.success
        assert gym.spec(task_id).max_episode_steps == 500


def test_spaces():
    env = gym.make(IDS[0])
    assert env.action_space == gym.spaces.Box(-1, 1, (4,), np.float32)
    assert env.observation_space.shape == (39,)
    # the action (SawyerTask.action_bounds) is not the controls: those are the two fingers only
    model = env.unwrapped.model
    assert model.nu == 2 and [model.actuator(i).trnid[0] for i in range(2)] == [model.joint("r_close").id, model.joint("l_close").id]
    env.reset(seed=0)
    env.step(np.array([0.0, 0.0, 0.0, 0.5], dtype=np.float32))
    np.testing.assert_array_equal(env.unwrapped.data.ctrl, [0.5, -0.5])


@pytest.mark.parametrize("task_id", [IDS[2], IDS[3], IDS[5], IDS[6]])
def test_same_seed_same_objects_and_goals(task_id):
    envs = gym.make_vec(task_id, num_envs=4)
    a, _ = envs.reset(seed=[0, 1, 2, 0])
    b, _ = envs.reset(seed=[0, 1, 2, 0])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], a[3])  # same seed, same object and goal
    assert not np.array_equal(a[0, 4:7], a[1, 4:7])  # other seeds, other places
    assert not np.array_equal(a[0, 36:], a[1, 36:])
    c, _ = envs.reset()  # the next episodes draw anew
    assert not np.array_equal(a[:, 36:], c[:, 36:])


@pytest.mark.parametrize("task_id", IDS[5:])
def test_same_seed_same_reset_other_seed_other_objects_or_goal(task_id):
    envs = gym.make_vec(task_id, num_envs=3)
    a, _ = envs.reset(seed=[7, 8, 7])
    np.testing.assert_array_equal(a[0], a[2])
    moved = np.concatenate([a[:, 4:7], a[:, 36:]], axis=1)
    assert not np.array_equal(moved[0], moved[1])
    b, _ = envs.reset(seed=[7, 8, 7])
    np.testing.assert_array_equal(a, b)


def test_sweep_into_redraws_near_the_hole():
    task = make_task("pbrl/metaworld-sweep-into-v3")
    rng = np.random.default_rng(0)
    for _ in range(50):
        vec = task.draw_vector(rng)
        assert np.linalg.norm(vec[:2] - [0.0, 0.84]) >= 0.15
    with pytest.raises(ValueError, match="redraws at reset.*0.15 m from the hole"):
        make_task("pbrl/metaworld-sweep-into-v3", rand_vec=[0.0, 0.7, 0.02, 0.0, 0.84, 0.02])


def test_fixed_vector_fixes_object_and_goal():
    vec = [0.05, 0.9, 0.15]
    envs = gym.make_vec(IDS[2], num_envs=2, rand_vec=vec)
    a, _ = envs.reset(seed=[0, 1])
    b, _ = envs.reset()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[:, 36:], [[-0.25, 0.45, 0.15]] * 2)


def test_partially_observable_hides_goal():
    env = gym.make(IDS[0], partially_observable=True)
    obs, _ = env.reset(seed=0)
    assert np.all(obs[36:] == 0)
    obs, *_ = env.step(env.action_space.sample())
    assert np.all(obs[36:] == 0)


def test_frame_stacking_and_clipping():
    env = gym.make(IDS[3])
    obs, _ = env.reset(seed=3)
    np.testing.assert_array_equal(obs[:18], obs[18:36])  # at reset the previous frame is the current
    prev = obs
    for _ in range(3):
        obs, *_ = env.step(np.array([0.0, 0.0, 1.0, -1.0], np.float32))
        np.testing.assert_allclose(obs[18:21], np.clip(prev[:3], *HAND_SPACE))
        prev = obs
    assert obs[2] > prev[18 + 2] - 1e-9  # moving up


def test_mocap_moves_each_sub_env_by_its_own_action():
    envs = gym.make_vec(IDS[0], num_envs=3, rand_vec=[0.0, 0.9, 0.115])
    obs, _ = envs.reset(seed=0)
    action = np.zeros((3, 4), np.float32)
    action[0, 0], action[1, 0] = 1.0, -1.0
    for _ in range(20):
        obs, *_ = envs.step(action)
    assert obs[0, 0] > obs[2, 0] + 0.05 and obs[1, 0] < obs[2, 0] - 0.05


def test_reward_terms_and_info():
    env = gym.make(IDS[4])
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert set(info["reward_terms"]) == set(env.unwrapped.card.term_names)
    assert sum(info["reward_terms"].values()) == pytest.approx(reward, abs=1e-12)
    for key in ("success", "near_object", "grasp_success", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward"):
        assert key in info
    assert not terminated and not truncated and 0.0 <= reward <= 10.0


def test_truncates_after_500_steps():
    env = gym.make(IDS[1])
    env.reset(seed=0)
    zero = np.zeros(4, np.float32)
    for _ in range(499):
        assert not env.step(zero)[3]
    assert env.step(zero)[3]


def test_bad_options_named():
    with pytest.raises(TypeError, match="unknown keyword argument.*frame_skp"):
        make_task(IDS[0], frame_skp=3)
    with pytest.raises(ValueError, match="rand_vec must be None or 3"):
        make_task(IDS[0], rand_vec=[0.0, 0.9])
    with pytest.raises(ValueError, match="outside the task's reset space"):
        make_task(IDS[2], rand_vec=[0.5, 0.9, 0.15])
    with pytest.raises(ValueError, match="rand_vec must be None or a sequence"):
        make_task(IDS[2], rand_vec="abc")
    with pytest.raises(ValueError, match="partially_observable must be True or False"):
        make_task(IDS[0], partially_observable="yes")


def test_unknown_task_named():
    with pytest.raises(gym.error.NameNotFound, match="metaworld-door-clos"):
        make_task("pbrl/metaworld-door-clos-v3")
    with pytest.raises(gym.error.Error):
        gym.make("pbrl/metaworld-door-clos-v3")


def test_reward_utils():
    np.testing.assert_array_equal(tolerance(np.array([0.0, 0.005, 0.02]), (0, 0.01), 0.0), [1.0, 1.0, 0.0])
    assert tolerance(np.array([0.11]), (0, 0.01), 0.1, "long_tail")[0] == pytest.approx(0.1)
    assert tolerance(np.array([0.11]), (0, 0.01), 0.1, "gaussian")[0] == pytest.approx(0.1)
    np.testing.assert_allclose(hamacher_product([0.5, 0.0, 1.0], [0.5, 0.0, 0.3]), [1 / 3, 0.0, 0.3])
    with pytest.raises(ValueError, match="must range between 0 and 1"):
        hamacher_product([1.5], [0.5])
    with pytest.raises(ValueError, match="margin must be non-negative"):
        tolerance(np.array([0.5]), (0, 0.1), -1.0)
    with pytest.raises(ValueError, match="unknown sigmoid"):
        tolerance(np.array([0.5]), (0, 0.1), 1.0, "cubic")


def test_every_task_subclasses_the_base():
    for task_id in IDS:
        assert isinstance(make_task(task_id), SawyerTask)


@pytest.mark.parametrize("task_id", IDS)
def test_gymnasium_env_checker(task_id):
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(task_id).unwrapped, skip_render_check=True)


def test_vector_env_checks_and_autoreset():
    envs = gym.make_vec(IDS[4], num_envs=2, max_episode_steps=3)
    envs.reset(seed=0)
    for _ in range(4):  # the fourth step autoresets both (NextStep)
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert np.all(reward == 0.0) and np.array_equal(obs[:, :18], obs[:, 18:36])
