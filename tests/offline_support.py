"""Tiny datasets and preference stores for the offline-agent tests (made on the fly)."""

from __future__ import annotations

import contextlib
import os

import numpy as np

PENDULUM = "pbrl/InvertedPendulum-v5"
HOPPER = "pbrl/Hopper-v5"
#: a linear controller that balances InvertedPendulum for 1000 steps (obs: x, θ, ẋ, θ̇)
PENDULUM_GAINS = np.array([0.5, 10.0, 0.5, 1.0])


def pendulum_controller(obs: np.ndarray) -> np.ndarray:
    """The scripted policy the learning tests recover: ``clip(K·s, -3, 3)``."""
    return np.clip(np.asarray(obs, dtype=np.float64) @ PENDULUM_GAINS, -3.0, 3.0)[:, None]


class NoisyController:
    def __init__(self, noise: float, seed: int):
        self.noise, self.rng = noise, np.random.default_rng(seed)

    def __call__(self, obs):
        a = pendulum_controller(obs)
        return np.clip(a + self.noise * self.rng.normal(size=a.shape), -3.0, 3.0)


@contextlib.contextmanager
def datasets_root(path):
    """Point MINARI_DATASETS_PATH at ``path`` for the duration."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield str(path)
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def make_pendulum_dataset(dataset_id: str, steps: int = 8000, noise: float = 0.3, seed: int = 0) -> str:
    from pbrl.datasets import collect, write_dataset

    traj = collect(PENDULUM, NoisyController(noise, seed), steps, num_envs=8, seed=seed)
    write_dataset(traj, dataset_id, PENDULUM, ref_min_score=5.0, ref_max_score=1000.0, force=True)
    return dataset_id


def make_hopper_dataset(dataset_id: str, steps: int = 3000, seed: int = 0) -> str:
    import gymnasium as gym

    from pbrl.datasets import RandomPolicy, collect, write_dataset

    env = gym.make_vec(HOPPER, num_envs=1)
    space = env.single_action_space
    env.close()
    traj = collect(HOPPER, RandomPolicy(space.low, space.high, seed=seed), steps, num_envs=16, seed=seed)
    write_dataset(traj, dataset_id, HOPPER, ref_min_score=0.0, ref_max_score=100.0, force=True)
    return dataset_id


def label(dataset_id: str, store: str, pairs: int = 120, segment: int = 20, seed: int = 0) -> str:
    from pbrl.datasets import label_dataset

    label_dataset(dataset_id, store, teacher="oracle", pairs=pairs, segment=segment, seed=seed)
    return store
