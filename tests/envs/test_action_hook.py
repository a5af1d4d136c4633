"""Task.action_bounds: a task whose action is not its controls (size, bounds, checks, Gymnasium's
entry points and env checker), bad bounds, and the default (the actuators' ctrlrange)."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pbrl.envs  # noqa: F401
from pbrl.envs import TASKS, RewardTerm, TaskCard
from pbrl.envs.engine import TaskEngine
from pbrl.envs.registry import make_task, register_builtin
from pbrl.envs.task import StepOutcome, Task

#: two carts on rails, one motor each (nu = 2, ctrlrange [-1, 1])
CARTS_XML = """
<mujoco model="carts">
  <option timestep="0.01"/>
  <worldbody>
    <body name="a"><joint name="a" type="slide" axis="1 0 0" damping="1"/><geom type="sphere" size="0.05" mass="1"/></body>
    <body name="b" pos="0 1 0"><joint name="b" type="slide" axis="1 0 0" damping="1"/><geom type="sphere" size="0.05" mass="1"/></body>
  </worldbody>
  <actuator>
    <motor joint="a" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="b" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""

MIXED_ID = "pbrltest/MixedCarts-v0"
LOW = np.array([-1.0, -1.0, 0.0])
HIGH = np.array([1.0, 1.0, 0.5])


class MixedCarts(Task):
    """Three action entries for two controls: cart a gets ``a0 + a1`` (clipped), cart b ``2 a2``."""

    card = TaskCard(
        id=MIXED_ID,
        goal="Move both carts to +x.",
        observation_labels=("a_x", "b_x", "a_v", "b_v"),
        quantities={"a_ctrl": "the control of cart a"},
        reward_terms=(RewardTerm("progress", 1.0, "sum of the carts' x velocities (m/s)"),),
        termination="never",
        success=None,
        max_episode_steps=20,
        ref_min_return=0.0,
        ref_max_return=1.0,
    )
    frame_skip = 2
    bounds_calls = 0

    def build_model(self):
        return mujoco.MjModel.from_xml_string(CARTS_XML)

    def action_bounds(self, model):
        type(self).bounds_calls += 1
        return LOW.copy(), HIGH.copy()

    def apply_action(self, sim, action):
        sim.ctrl[:, 0] = np.clip(action[:, 0] + action[:, 1], -1.0, 1.0)
        sim.ctrl[:, 1] = 2.0 * action[:, 2]

    def reset_state(self, rng, init_qpos, init_qvel):
        return init_qpos + rng.uniform(-0.1, 0.1, size=init_qpos.shape), init_qvel.copy()

    def observe(self, sim):
        return np.concatenate([sim.qpos, sim.qvel], axis=1)

    def evaluate(self, sim, before, action):
        return StepOutcome(
            reward_terms={"progress": sim.qvel.sum(axis=1)},
            terminated=np.zeros(sim.num_envs, dtype=bool),
            quantities={"a_ctrl": sim.ctrl[:, 0].copy()},
        )


@pytest.fixture(scope="module")
def mixed():
    register_builtin(MixedCarts)
    yield MIXED_ID
    del TASKS[MIXED_ID]
    del gym.registry[MIXED_ID]


def test_engine_takes_the_action_from_the_hook():
    engine = TaskEngine(MixedCarts(), 3, nthread=1)
    assert engine.model.nu == 2 and engine.act_dim == 3
    np.testing.assert_array_equal(engine.action_low, LOW)
    np.testing.assert_array_equal(engine.action_high, HIGH)
    assert not engine.action_low.flags.writeable
    engine.reset(np.arange(3))
    action = np.array([[0.5, 0.25, 0.1], [1.0, 1.0, 0.5], [-0.2, 0.0, 0.0]], dtype=np.float32)
    out = engine.step(engine.check_action(action))
    np.testing.assert_allclose(engine.sim.ctrl, [[0.75, 0.2], [1.0, 1.0], [-0.2, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(out.outcome.quantities["a_ctrl"], [0.75, 1.0, -0.2], rtol=1e-6)


def test_check_action_names_the_action_size_not_nu():
    engine = TaskEngine(MixedCarts(), 2, nthread=1)
    with pytest.raises(ValueError, match=r"action has shape \(2, 2\), expected \(2, 3\) \(num_envs, action_dim\)"):
        engine.check_action(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"NaN or infinite for sub-env\(s\) \[1\]"):
        engine.check_action(np.array([[0.0, 0.0, 0.0], [0.0, np.inf, 0.0]]))
    assert engine.check_action(np.zeros((2, 3), dtype=np.float32)).dtype == np.float32


def test_the_hook_is_read_once_not_per_step():
    MixedCarts.bounds_calls = 0
    engine = TaskEngine(MixedCarts(), 2, nthread=1)
    engine.reset(np.arange(2))
    for _ in range(5):
        engine.step(np.zeros((2, 3)))
    assert MixedCarts.bounds_calls == 1


def test_gym_make_single_env(mixed):
    env = gym.make(mixed)
    assert env.action_space == gym.spaces.Box(LOW.astype(np.float32), HIGH.astype(np.float32), (3,), np.float32)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([0.5, -0.25, 0.5], dtype=np.float32))
    assert info["a_ctrl"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"action has shape \(2,\), expected \(3,\)"):
        env.step(np.zeros(2))
    base = env.unwrapped
    base.do_simulation(np.zeros(2), 1)  # MuJoCo's controls: nu of them, as MujocoEnv
    with pytest.raises(ValueError, match=r"Action dimension mismatch. Expected \(2,\), found \(3,\)"):
        base.do_simulation(np.zeros(3), 1)


def test_make_vec(mixed):
    envs = gym.make_vec(mixed, num_envs=4)
    assert envs.single_action_space == gym.spaces.Box(LOW.astype(np.float32), HIGH.astype(np.float32), (3,), np.float32)
    assert envs.action_space.shape == (4, 3)
    envs.reset(seed=1)
    envs.action_space.seed(0)
    action = envs.action_space.sample()
    assert (action[:, 2] >= 0).all() and (action[:, 2] <= 0.5).all()
    _, reward, _, _, info = envs.step(action)
    assert reward.shape == (4,)
    np.testing.assert_allclose(info["a_ctrl"], np.clip(action[:, 0] + action[:, 1], -1, 1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected \(4, 3\)"):
        envs.step(np.zeros((4, 2)))
    with pytest.raises(TypeError, match=r"\(num_envs, action_dim\) = \(4, 3\)"):
        envs.step(0.0)


def test_gymnasium_env_checker(mixed):
    env = gym.make(mixed)
    check_env(env.unwrapped, skip_render_check=True)


def _with_bounds(bounds, apply=True):
    def action_bounds(self, model):
        return bounds

    attrs = {"action_bounds": action_bounds}
    if not apply:
        attrs["apply_action"] = Task.apply_action
    return type("BadBounds", (MixedCarts,), attrs)()


@pytest.mark.parametrize(
    "bounds, error, message",
    [
        ((np.zeros(3), np.ones(2)), ValueError, r"BadBounds.action_bounds must return two 1-D arrays of one size, got shapes \(3,\) and \(2,\)"),
        ((np.zeros((1, 3)), np.ones((1, 3))), ValueError, r"two 1-D arrays"),
        ((np.zeros(3), np.array([1.0, np.nan, 1.0])), ValueError, r"returned NaN bounds"),
        ((np.ones(3), np.array([2.0, 0.0, 2.0])), ValueError, r"low > high at entries \[1\]"),
        ((["a", "b"], [1, 2]), TypeError, r"must return \(low, high\), two arrays of numbers"),
        (None, TypeError, r"must return \(low, high\)"),
    ],
)
def test_bad_bounds_are_named(bounds, error, message):
    with pytest.raises(error, match=message):
        TaskEngine(_with_bounds(bounds), 2, nthread=1)


def test_an_action_of_another_size_needs_apply_action():
    with pytest.raises(ValueError, match=r"gives 3 action entries but the model has 2 controls \(nu\).*override apply_action"):
        TaskEngine(_with_bounds((LOW, HIGH), apply=False), 2, nthread=1)
    # the controls' own size with the default apply_action is fine: new bounds for the same controls
    engine = TaskEngine(_with_bounds((np.full(2, -0.5), np.full(2, 0.5)), apply=False), 2, nthread=1)
    assert engine.act_dim == 2 and engine._apply_action is None
    np.testing.assert_array_equal(engine.action_high, [0.5, 0.5])


@pytest.mark.parametrize("task_id", ["pbrl/Hopper-v5", "pbrl/dmc-cartpole-swingup-v0"])
def test_default_is_the_ctrlrange(task_id):
    task = make_task(task_id)
    assert type(task).action_bounds is Task.action_bounds and type(task).apply_action is Task.apply_action
    engine = TaskEngine(task, 2, nthread=1)
    assert engine.act_dim == engine.model.nu
    np.testing.assert_array_equal(np.stack([engine.action_low, engine.action_high], axis=1), engine.model.actuator_ctrlrange)
    assert engine._apply_action is None  # the default costs nothing per step: ctrl = action inline


def test_default_keeps_unlimited_actuators_as_compiled():
    xml = CARTS_XML.replace('ctrlrange="-1 1" ctrllimited="true"', 'ctrllimited="false"', 1)

    class Unlimited(MixedCarts):
        def build_model(self):
            return mujoco.MjModel.from_xml_string(xml)

        action_bounds = Task.action_bounds
        apply_action = Task.apply_action

    engine = TaskEngine(Unlimited(), 1, nthread=1)
    np.testing.assert_array_equal(engine.action_low, [0.0, -1.0])
    np.testing.assert_array_equal(engine.action_high, [0.0, 1.0])
