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
