"""The ``pbrl/dmc-*`` tasks: seeding, options, unknown ids, cards and Gymnasium's checker."""

import gymnasium as gym
import numpy as np
import mujoco
import pytest
from gymnasium.utils.env_checker import check_env

import pbrl  # noqa: F401
from pbrl.envs import cards, make_task

pytest.importorskip("dm_control")

IDS = sorted(t for t in cards() if t.startswith("pbrl/dmc-"))
EXPECTED = {
    "pbrl/dmc-walker-stand-v0", "pbrl/dmc-walker-walk-v0", "pbrl/dmc-walker-run-v0", "pbrl/dmc-cheetah-run-v0",
    "pbrl/dmc-hopper-stand-v0", "pbrl/dmc-hopper-hop-v0", "pbrl/dmc-cartpole-swingup-v0", "pbrl/dmc-finger-spin-v0",
    "pbrl/dmc-reacher-easy-v0", "pbrl/dmc-reacher-hard-v0", "pbrl/dmc-quadruped-walk-v0", "pbrl/dmc-quadruped-run-v0",
    "pbrl/dmc-humanoid-stand-v0", "pbrl/dmc-humanoid-walk-v0",
}


def test_the_issue_tasks_are_registered():
    assert EXPECTED <= set(IDS)
    assert all(gym.spec(t).max_episode_steps == 1000 for t in IDS)


def initial_states(task_id, seeds):
    env = gym.make_vec(task_id, num_envs=len(seeds))
    env.reset(seed=list(seeds))
    return np.concatenate([env.engine.sim.qpos, env.engine.sim.qvel], axis=1).copy()


@pytest.mark.parametrize("task_id", sorted(EXPECTED))
def test_same_seed_same_start_different_seeds_differ(task_id):
    first = initial_states(task_id, [5, 6, 5])
    again = initial_states(task_id, [5, 6, 5])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[0], first[2])  # sub-env i's start depends only on its seed
    assert not np.array_equal(first[0], first[1])


def test_single_env_seeding_matches_the_vector_env():
    single = gym.make("pbrl/dmc-reacher-easy-v0")
    obs, _ = single.reset(seed=11)
    vec = gym.make_vec("pbrl/dmc-reacher-easy-v0", num_envs=1)
    vobs, _ = vec.reset(seed=11)
    np.testing.assert_array_equal(obs, vobs[0])


@pytest.mark.parametrize("task_id", sorted(EXPECTED))
def test_card_matches_the_env_and_rewards_lie_in_0_1(task_id):
    card = cards()[task_id]
    env = gym.make_vec(task_id, num_envs=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, card.obs_dim)
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        assert ((0 <= reward) & (reward <= 1)).all() and not terminated.any()
        assert set(info["reward_terms"]) == set(card.term_names)
        assert set(card.quantities) <= set(info)
        assert ("success" in info) == (card.success is not None)


def test_gymnasium_env_checker_passes():
    for task_id in sorted(EXPECTED):
        check_env(gym.make(task_id).unwrapped, skip_render_check=True)


def episode_length(env, limit=2000) -> int:
    env.reset(seed=0)
    for step in range(1, limit + 1):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        if np.any(terminated) or np.any(truncated):
            return step
    return limit


def test_action_repeat_shortens_the_episode_and_the_card_says_so():
    task = make_task("pbrl/dmc-cartpole-swingup-v0", action_repeat=4)
    assert task.card.max_episode_steps == 250 and task.frame_skip == 1
    assert gym.spec("pbrl/dmc-cartpole-swingup-v0").max_episode_steps == 1000  # the id's limit is action repeat 1's
    vec = gym.make_vec("pbrl/dmc-cartpole-swingup-v0", num_envs=2, action_repeat=4)
    assert vec.max_episode_steps == 250 and episode_length(vec) == 250
    assert episode_length(gym.make("pbrl/dmc-cartpole-swingup-v0", action_repeat=4)) == 250
    assert episode_length(gym.make("pbrl/dmc-cartpole-swingup-v0", action_repeat=10)) == 100
    # a shorter limit still shortens it; a longer one, or none, cannot outlast 1,000 control steps
    assert episode_length(gym.make("pbrl/dmc-cartpole-swingup-v0", action_repeat=4, max_episode_steps=30)) == 30
    assert gym.make_vec("pbrl/dmc-cartpole-swingup-v0", action_repeat=4, max_episode_steps=30).max_episode_steps == 30
    for limit in (1000, -1):
        assert gym.make_vec("pbrl/dmc-cartpole-swingup-v0", action_repeat=4, max_episode_steps=limit).max_episode_steps == 250
    assert episode_length(gym.make("pbrl/dmc-cartpole-swingup-v0", action_repeat=4, max_episode_steps=-1)) == 250
    # action repeat 1: Gymnasium's limit and wrappers, untouched
    assert gym.make_vec("pbrl/dmc-cartpole-swingup-v0", num_envs=1).max_episode_steps == 1000
    assert gym.make("pbrl/dmc-cartpole-swingup-v0", max_episode_steps=-1).spec.max_episode_steps is None


def test_action_repeat_rewards_sum_control_steps():
    env = gym.make_vec("pbrl/dmc-cheetah-run-v0", num_envs=2, action_repeat=4)
    env.reset(seed=0)
    for _ in range(20):
        _, reward, _, _, _ = env.step(np.ones((2, 6)))
        assert ((0 <= reward) & (reward <= 4)).all()


@pytest.mark.parametrize("task_id", sorted(EXPECTED))
def test_reset_states_have_no_actuator_force(task_id):
    """The premise of the reset's single forward (envs/tasks/dmc/base.py): dm_control's reset
    forward, with actuation disabled, leaves what the engine's leaves only because the
    actuators push nothing at every reset state."""
    env = gym.make_vec(task_id, num_envs=3)
    env.reset(seed=1)
    engine = env.engine
    data = mujoco.MjData(engine.model)
    for i in range(3):
        engine.batch.get_data(i, data)
        assert not data.actuator_force.any() and not data.qfrc_actuator.any()


def contacts(model, qpos):
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    return data.ncon


@pytest.mark.parametrize("task_id", ["pbrl/dmc-quadruped-walk-v0", "pbrl/dmc-humanoid-stand-v0"])
def test_resets_touch_nothing_and_quadruped_starts_at_the_lowest_free_height(task_id):
    env = gym.make_vec(task_id, num_envs=4)
    env.reset(seed=2)
    model, qpos = env.engine.model, env.engine.sim.qpos.copy()
    for row in qpos:
        assert contacts(model, row) == 0
        assert np.linalg.norm(row[3:7]) == pytest.approx(1.0)
        if "quadruped" in task_id:
            assert row[0] == row[1] == 0 and round(row[2] / 0.01) * 0.01 == pytest.approx(row[2])
            np.testing.assert_array_equal(row[7:], model.qpos0[7:])  # joints at their defaults
            lower = row.copy()
            lower[2] -= 0.01
            assert row[2] == 0 or contacts(model, lower) > 0
    assert len({tuple(r[3:7]) for r in qpos}) == 4  # each sub-env its own orientation


def test_quadruped_model_is_dm_controls():
    suite = pytest.importorskip("dm_control.suite")
    for task, floor in (("walk", 10.0), ("run", 100.0)):
        ours = make_task(f"pbrl/dmc-quadruped-{task}-v0").build_model()
        theirs = suite.load("quadruped", task).physics.model
        for name in ("nq", "nv", "nu", "na", "nbody", "ngeom", "nsite", "nsensor", "nsensordata"):
            assert getattr(ours, name) == getattr(theirs, name), name
        for name in ("geom_size", "geom_pos", "body_mass", "sensor_type", "actuator_gainprm", "actuator_biasprm", "dof_damping"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
        assert ours.geom_size[ours.geom("floor").id, 0] == floor


@pytest.mark.parametrize(
    "kwargs,exc,words",
    [
        ({"action_repat": 2}, TypeError, ["action_repat", "action_repeat"]),
        ({"action_repeat": 0}, ValueError, ["action_repeat", "positive integer"]),
        ({"action_repeat": 2.0}, ValueError, ["action_repeat", "positive integer"]),
        ({"action_repeat": True}, ValueError, ["action_repeat"]),
        ({"action_repeat": 3}, ValueError, ["action_repeat", "divide", "1000"]),
        ({"xml_file": "walker.xml"}, TypeError, ["xml_file"]),
    ],
)
def test_bad_options_are_named(kwargs, exc, words):
    with pytest.raises(exc) as info:
        make_task("pbrl/dmc-walker-walk-v0", **kwargs)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize("task_id", ["pbrl/dmc-quadruped-run-v0", "pbrl/dmc-humanoid-walk-v0"])
def test_bad_options_of_the_new_domains_are_named(task_id):
    with pytest.raises(TypeError, match="move_speed"):
        make_task(task_id, move_speed=2.0)
    with pytest.raises(ValueError, match="divide"):
        make_task(task_id, action_repeat=7)


def test_unknown_task_names_are_named():
    with pytest.raises(gym.error.NameNotFound) as info:
        make_task("pbrl/dmc-walker-jump-v0")
    assert "pbrl/dmc-walker-jump-v0" in str(info.value) and "pbrl/dmc-walker-walk-v0" in str(info.value)
    with pytest.raises(gym.error.Error):
        gym.make("pbrl/dmc-walker-jump-v0")
    with pytest.raises(gym.error.NameNotFound) as info:
        make_task("pbrl/dmc-quadruped-fetch-v0")
    assert "pbrl/dmc-quadruped-walk-v0" in str(info.value)
