"""pbrl's frames are Gymnasium's: same camera, framing and pixels for the same state.

Both sides render with Gymnasium's ``MujocoRenderer`` on the same OpenGL backend
(``MUJOCO_GL``, egl here), so the frames are compared for exact equality, not
within a bound. pbrl's own tracking camera is an option (``tracking_camera=True``).
"""

from __future__ import annotations

import os

import gymnasium as gym
import mujoco
import numpy as np
import pbrl.envs  # noqa: F401  (registers the tasks)
import pytest
from pbrl.envs import TASKS

os.environ.setdefault("MUJOCO_GL", "egl")

# Every registered pbrl task that is one of Gymnasium's v5 tasks.
IDS = sorted(t for t in TASKS if t.startswith("pbrl/") and t.split("/", 1)[1] in gym.registry)
W, H = 96, 80  # small frames keep the test quick; the camera does not depend on the size


def pair(task_id: str, **kwargs):
    pbrl_env = gym.make(task_id, **kwargs)
    gym_env = gym.make(task_id.split("/", 1)[1], **kwargs)
    return pbrl_env, gym_env


@pytest.mark.parametrize("task_id", IDS)
def test_frames_match_gymnasium_after_reset_and_steps(task_id):
    ours, theirs = pair(task_id, render_mode="rgb_array", width=W, height=H)
    ours.reset(seed=7)
    theirs.reset(seed=7)
    a, b = ours.render(), theirs.render()
    assert a.shape == (H, W, 3) and a.dtype == np.uint8 and a.std() > 0
    np.testing.assert_array_equal(a, b)
    theirs.action_space.seed(1)
    for _ in range(3):
        action = theirs.action_space.sample()
        ours.step(action)
        theirs.step(action)
        np.testing.assert_array_equal(ours.render(), theirs.render())
    ours.close()
    theirs.close()


def test_default_size_is_gymnasiums():
    ours, theirs = pair("pbrl/Hopper-v5", render_mode="rgb_array")
    ours.reset(seed=0)
    theirs.reset(seed=0)
    frame = ours.render()
    assert frame.shape == (480, 480, 3)
    np.testing.assert_array_equal(frame, theirs.render())


@pytest.mark.parametrize("mode", ["depth_array", "rgbd_tuple"])
def test_depth_modes_match_gymnasium(mode):
    ours, theirs = pair("pbrl/Walker2d-v5", render_mode=mode, width=W, height=H)
    ours.reset(seed=2)
    theirs.reset(seed=2)
    a, b = ours.render(), theirs.render()
    if mode == "rgbd_tuple":
        assert len(a) == 2 and a[1].shape == (H, W)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    else:
        assert a.shape == (H, W) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "camera",
    [{"camera_name": "track"}, {"camera_id": 0}, {"camera_id": -1}],
    ids=["camera_name", "camera_id", "free_camera_id"],
)
def test_model_cameras_match_gymnasium(camera):
    ours, theirs = pair("pbrl/HalfCheetah-v5", render_mode="rgb_array", width=W, height=H, **camera)
    ours.reset(seed=3)
    theirs.reset(seed=3)
    np.testing.assert_array_equal(ours.render(), theirs.render())


def test_visual_options_and_camera_config_match_gymnasium():
    options = {mujoco.mjtVisFlag.mjVIS_JOINT: True, mujoco.mjtVisFlag.mjVIS_COM: True}
    config = {"distance": 2.5, "elevation": -30.0, "azimuth": 45.0, "lookat": np.array([0.0, 0.0, 0.5])}
    ours, theirs = pair(
        "pbrl/Ant-v5", render_mode="rgb_array", width=W, height=H,
        visual_options=options, default_camera_config=config,
    )
    ours.reset(seed=4)
    theirs.reset(seed=4)
    np.testing.assert_array_equal(ours.render(), theirs.render())


def test_camera_id_and_name_together_raise_as_gymnasium():
    with pytest.raises(ValueError, match="Both `camera_id` and `camera_name` cannot be specified"):
        gym.make("pbrl/HalfCheetah-v5", render_mode="rgb_array", camera_id=0, camera_name="track")


@pytest.mark.parametrize("task_id", ["pbrl/Swimmer-v5", "pbrl/Hopper-v5"])
def test_batched_env_frames_match_gymnasium_single_envs(task_id):
    """Each sub-env is drawn as Gymnasium's env of the same seed (its camera included:
    Swimmer's starts at the median of that sub-env's geoms, Hopper's has a look-at)."""
    envs = gym.make_vec(task_id, num_envs=2, render_mode="rgb_array", width=W, height=H)
    envs.reset(seed=10)
    theirs = []
    for i in range(2):
        theirs.append(gym.make(task_id.split("/")[1], render_mode="rgb_array", width=W, height=H))
        theirs[i].reset(seed=10 + i)  # SyncVectorEnv's seeding: seed + i
    for i in (1, 0, 1):
        np.testing.assert_array_equal(envs.unwrapped.render(i), theirs[i].render())
    envs.close()


def test_tracking_camera_is_an_option():
    """pbrl's tracking camera follows the cheetah; Gymnasium's free camera stays put."""
    tracked = gym.make("pbrl/HalfCheetah-v5", render_mode="rgb_array", width=W, height=H, tracking_camera=True)
    fixed = gym.make("pbrl/HalfCheetah-v5", render_mode="rgb_array", width=W, height=H)
    tracked.reset(seed=0)
    fixed.reset(seed=0)
    start = tracked.render()
    assert start.shape == (H, W, 3) and start.std() > 0
    assert not np.array_equal(start, fixed.render())  # another camera
    fixed_lookat = fixed.unwrapped._frames._renderer.viewer.cam.lookat.copy()
    for env in (tracked.unwrapped, fixed.unwrapped):  # 5 m forward
        env.set_state(env.init_qpos + np.eye(env.model.nq)[0] * 5.0, env.init_qvel)
        env.render()
    # the tracking camera looks at the root body where it is now; Gymnasium's where it began
    np.testing.assert_array_equal(tracked.unwrapped._frames._viewer.cam.lookat, tracked.unwrapped.data.xpos[1])
    np.testing.assert_array_equal(fixed.unwrapped._frames._renderer.viewer.cam.lookat, fixed_lookat)
    with pytest.raises(ValueError, match="tracking_camera"):
        gym.make("pbrl/HalfCheetah-v5", render_mode="rgb_array", tracking_camera=True, camera_id=0)


def test_batched_env_frames_after_steps():
    """A batch that keeps whole MjData (Ant: contact forces) draws Gymnasium's frames
    after steps too. (One without draws the state after the step, where Gymnasium's
    draws mj_step's kinematics from before its last substep: see its render.)"""
    envs = gym.make_vec("pbrl/Ant-v5", num_envs=2, render_mode="rgb_array", width=W, height=H)
    theirs = gym.make("Ant-v5", render_mode="rgb_array", width=W, height=H)
    envs.reset(seed=3)
    theirs.reset(seed=4)  # sub-env 1
    theirs.action_space.seed(0)
    for _ in range(3):
        action = theirs.action_space.sample()
        envs.step(np.stack([action, action]))
        theirs.step(action)
        np.testing.assert_array_equal(envs.unwrapped.render(1), theirs.render())
    envs.close()
    theirs.close()
