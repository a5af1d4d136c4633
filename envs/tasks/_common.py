"""Helpers shared by the built-in tasks (Gymnasium v5 ports)."""

from __future__ import annotations

import os

import gymnasium


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
    import numpy as np

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
