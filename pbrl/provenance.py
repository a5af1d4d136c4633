"""Versions of the packages a run or a dataset depends on (read from metadata, no imports)."""

from __future__ import annotations

import importlib.metadata
import platform

PACKAGES = ("pbrl", "numpy", "mujoco", "gymnasium", "minari", "h5py", "stable-baselines3", "torch")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (missing ones left out), plus Python's."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
