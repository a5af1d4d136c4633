"""pbrl: a gym suite for classic and preference-based RL on batched MuJoCo.

``pbrl.envs`` (batched tasks) and ``pbrl.agents`` live in the repository's
top-level ``envs/`` and ``agents/`` folders. Installed (regular or editable),
setuptools maps them into this package. When pbrl is imported straight from a
source checkout (e.g. ``python -m pytest`` from the repository root puts the
checkout first on ``sys.path``) a small finder below does the same mapping.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

__version__ = "0.1.0"

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MAPPED = {"pbrl.envs": "envs", "pbrl.agents": "agents"}


class _SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``pbrl.envs`` / ``pbrl.agents`` in a source checkout."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[:2]
        folder = _MAPPED.get(".".join(top))
        if folder is None:
            return None
        rel = fullname.split(".")[2:]
        base = os.path.join(_ROOT, folder, *rel)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            return importlib.util.spec_from_file_location(
                fullname, os.path.join(base, "__init__.py"), submodule_search_locations=[base]
            )
        if os.path.isfile(base + ".py"):
            return importlib.util.spec_from_file_location(fullname, base + ".py")
        return None


def _needs_source_finder() -> bool:
    here = os.path.dirname(os.path.abspath(__file__))
    return not os.path.isdir(os.path.join(here, "envs")) and os.path.isfile(
        os.path.join(_ROOT, "envs", "__init__.py")
    ) and os.path.isfile(os.path.join(_ROOT, "pyproject.toml"))


if _needs_source_finder():
    # Ahead of setuptools' editable finder, which maps to the same folders.
    sys.meta_path.insert(0, _SourceTreeFinder())

# MuJoCo picks its OpenGL backend when it is imported: on a machine without a display
# use headless EGL, so rendering (videos, the labeling page) works out of the box.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
    os.environ["MUJOCO_GL"] = "egl"

from . import envs as _envs  # noqa: E402,F401  (registers the pbrl/* Gymnasium ids)

#: public calls that live in higher layers, imported on first use (``import pbrl`` stays torch-free)
_LAZY = {"load_policy": "pbrl.runs.export"}


def __getattr__(name: str):
    """``pbrl.load_policy`` and the other names of :data:`_LAZY`, imported when first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pbrl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
