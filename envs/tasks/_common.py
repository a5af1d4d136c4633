"""What the built-in tasks (Gymnasium v5 ports) share: their base class and option checks."""

from __future__ import annotations

import os
from typing import ClassVar

import gymnasium
import numpy as np

from ..task import Task, number


class GymnasiumTask(Task):
    """Base of the built-in tasks, ports of Gymnasium's MuJoCo v5 envs.

    Like Gymnasium's ``MujocoEnv`` it takes the options every such env has (``xml_file``,
    ``frame_skip``, ``default_camera_config``), and it draws the noisy reset most of them
    use, with ``reset_noise_scale`` (each task validates that option itself).
    """

    #: The reset's noise on qvel, as the Gymnasium env draws it after qpos's U(±scale):
    #: ``"uniform"``, init + U(±scale), or ``"normal"``, init + scale·N(0, 1).
    velocity_noise: ClassVar[str] = "uniform"
    reset_noise_scale: float

    def __init__(self, xml_file: str, frame_skip: int, default_camera_config: dict | None):
        self.xml_file = gymnasium_asset(xml_file)
        self.frame_skip = int(number("frame_skip", frame_skip, positive=True))
        self.default_camera = camera_config(default_camera_config)

    def reset_state(self, rng, init_qpos, init_qvel):
        s = self.reset_noise_scale
        qpos = init_qpos + rng.uniform(low=-s, high=s, size=init_qpos.size)
        if self.velocity_noise == "normal":
            qvel = init_qvel + s * rng.standard_normal(init_qvel.size)
        else:
            qvel = init_qvel + rng.uniform(low=-s, high=s, size=init_qvel.size)
        return qpos, qvel


def gymnasium_asset(xml_file: str) -> str:
    """Resolve an MJCF file as Gymnasium's ``MujocoEnv`` does (its assets folder)."""
    if xml_file.startswith("/") or xml_file.startswith("."):
        path = os.path.abspath(os.path.expanduser(xml_file))
    else:
        path = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", xml_file)
    if not os.path.isfile(path):
        raise ValueError(f"xml_file {xml_file!r}: no such file ({path})")
    return path


def flag(name: str, value) -> bool:
    """Validate a boolean option (True/False, or 0/1)."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def camera_config(value) -> dict:
    """Validate Gymnasium's ``default_camera_config`` option."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"default_camera_config must be a dict or None, got {value!r}")
    return dict(value)


def model_sizes(task) -> tuple[int, int]:
    """``(nq, nv)`` of the task's compiled model, compiled once and kept on the task."""
    sizes = task.__dict__.get("_model_sizes")
    if sizes is None:
        model = task.build_model()
        sizes = task._model_sizes = (int(model.nq), int(model.nv))
    return sizes


def planar_structure(task, skipped: int, exclude: bool) -> dict[str, int]:
    """Gymnasium's ``observation_structure`` of a task observing ``qpos[skipped:]`` (when
    ``exclude``) and ``qvel``: HalfCheetah, Hopper, Walker2d, Swimmer."""
    nq, nv = model_sizes(task)
    return {"skipped_qpos": skipped * exclude, "qpos": nq - skipped * exclude, "qvel": nv}
