"""Batched MuJoCo tasks (installed as ``pbrl.envs``).

Importing this module registers every built-in task with Gymnasium::

    import gymnasium as gym
    import pbrl.envs  # noqa: F401  (``import pbrl`` does it too)

    envs = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=64)
    env = gym.make("pbrl/HalfCheetah-v5")
"""

from . import mujoco_log as _mujoco_log

_mujoco_log.install()

from .card import RewardTerm, TaskCard  # noqa: E402
from .engine import TaskEngine
from .registry import TASKS, cards, make_task, register_task, uniform_reset
from .single import SingleTaskEnv
from .task import Sim, StepOutcome, Task
from .vector import BatchedMujocoEnv
from . import tasks  # noqa: F401  (registers the built-in tasks)

__all__ = [
    "BatchedMujocoEnv",
    "RewardTerm",
    "Sim",
    "SingleTaskEnv",
    "StepOutcome",
    "TASKS",
    "Task",
    "TaskCard",
    "TaskEngine",
    "cards",
    "make_task",
    "register_task",
    "uniform_reset",
]
