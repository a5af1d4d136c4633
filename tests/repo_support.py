"""Where the repository's files are, for tests anywhere under tests/, and loading a benchmark
script (benchmarks/NAME.py is a script, not a package) as a module."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

#: the repository's root folder
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def repo_path(*parts: str) -> str:
    """A path under the repository's root."""
    return os.path.join(ROOT, *parts)


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a fresh module (registered in ``sys.modules`` before it runs,
    so its dataclasses and pickling resolve it)."""
    module_name = f"pbrl_benchmark_{name}"
    spec = importlib.util.spec_from_file_location(module_name, repo_path("benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
