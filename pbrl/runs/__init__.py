"""Runs: configs, run folders, metrics, TensorBoard, the training loop of a run.

``folder``, ``config`` and ``metrics`` need no torch (``pbrl compare`` reads run
folders with them); ``tblog`` and ``train`` import the agents (torch) and are
imported on demand.
"""

from .config import ConfigError, TrainConfig
from .folder import RunExistsError, RunLockedError, create_run_dir, load_run_config, run_path, sanitize_task
from .metrics import read_metrics

__all__ = [
    "ConfigError",
    "RunExistsError",
    "RunLockedError",
    "TrainConfig",
    "create_run_dir",
    "load_run_config",
    "read_metrics",
    "run_path",
    "sanitize_task",
]
