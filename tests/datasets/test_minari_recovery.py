"""Minari's own calls on pbrl's datasets: environment recovery and per-episode seeds.

Real Minari throughout: ``minari.load_dataset`` from a temporary
``MINARI_DATASETS_PATH``, ``recover_environment()``, ``gym.make(spec.id, **spec.kwargs)``,
Minari's ``DataCollector`` and ``create_dataset_from_buffers`` on a pbrl env.
"""

from __future__ import annotations

import json

import gymnasium as gym
import h5py
import minari
import numpy as np
import pytest

import pbrl  # noqa: F401  (registers the tasks)
from pbrl.datasets import load_trajectories
from pbrl.datasets.collect import RandomPolicy, collect
from pbrl.datasets.storage import dataset_path, write_dataset

TASK = "pbrl/Hopper-v5"  # random actions end its episodes within ~10-60 steps: many resets
KWARGS = {"ctrl_cost_weight": 2e-3}  # a non-default kwarg travels with the spec


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    return tmp_path


@pytest.fixture()
def dataset(root):
    space = gym.make(TASK).action_space
    traj = collect(TASK, RandomPolicy(space.low, space.high, seed=3), 600, num_envs=4, seed=11, env_kwargs=KWARGS)
    write_dataset(traj, "pbrl/hopper/seeded-v0", TASK, env_kwargs=KWARGS)
    return "pbrl/hopper/seeded-v0", traj


def test_stored_spec_makes_the_env_again(dataset):
    dataset_id, _ = dataset
    ds = minari.load_dataset(dataset_id)
    spec = ds.env_spec
    assert spec.id == TASK and spec.kwargs == KWARGS  # nothing internal in the kwargs
    env = gym.make(spec.id, **spec.kwargs)
    assert env.unwrapped.task.ctrl_cost_weight == KWARGS["ctrl_cost_weight"]
    recovered = ds.recover_environment()
    assert recovered.spec.id == TASK and recovered.spec.kwargs == KWARGS
    assert recovered.unwrapped.task.ctrl_cost_weight == KWARGS["ctrl_cost_weight"]
    assert ds.recover_environment(eval_env=True).spec.id == TASK
    vec = gym.make_vec(spec.id, num_envs=2, **spec.kwargs)
    assert vec.num_envs == 2
    for e in (env, recovered, vec):
        e.close()


def test_every_episode_replays_from_its_seed(dataset):
    dataset_id, traj = dataset
    assert traj.seeds is not None and (traj.seeds >= 0).all()
    assert len(set(traj.seeds.tolist())) == traj.num_episodes
    ds = minari.load_dataset(dataset_id)
    seeds = [m.get("seed") for m in ds.storage.get_episode_metadata(range(ds.total_episodes))]
    assert seeds == traj.seeds.tolist()
    env = ds.recover_environment()
    # the first episode of sub-env 1 (seed 11 + 1) and later ones (drawn seeds)
    picks = [e for e in range(ds.total_episodes) if seeds[e] == 12][:1] + list(range(ds.total_episodes - 5, ds.total_episodes))
    for e in picks:
        episode = ds[e]
        obs, _ = env.reset(seed=seeds[e])
        assert np.array_equal(obs, episode.observations[0])
        for t, action in enumerate(episode.actions):
            obs, reward, terminated, _, _ = env.step(action)
            assert np.array_equal(obs, episode.observations[t + 1]), (e, t)
            assert reward == episode.rewards[t] and terminated == episode.terminations[t]
        assert episode.terminations[-1] or episode.truncations[-1]
    env.close()


def test_seeds_survive_loading_both_ways(dataset):
    dataset_id, traj = dataset
    fast = load_trajectories(dataset_id)
    slow = load_trajectories(dataset_id, use_cache=False)
    assert np.array_equal(fast.seeds, traj.seeds) and np.array_equal(slow.seeds, traj.seeds)
    assert fast.episode(2)["seed"] == int(traj.seeds[2])
    sub = traj.select([3, 1])
    assert sub.seeds.tolist() == [traj.seeds[3], traj.seeds[1]]


def test_datasets_without_seeds_still_load(dataset):
    """An older pbrl dataset: no seed attributes, no seeds in the cache, and the spec it
    stored then (``make_env`` with ``task_id`` in its kwargs)."""
    dataset_id, traj = dataset
    folder = dataset_path(dataset_id)
    with h5py.File(folder / "data" / "main_data.hdf5", "a") as fh:
        for name in fh:
            if "seed" in fh[name].attrs:
                del fh[name].attrs["seed"]
    (folder / "pbrl_arrays.hdf5").unlink()  # the slow path
    meta_path = folder / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    spec = json.loads(meta["env_spec"])
    spec.update(entry_point="pbrl.envs.registry:make_env", vector_entry_point="pbrl.envs.registry:make_vec_env")
    spec["kwargs"] = {"task_id": TASK, **KWARGS}
    meta["env_spec"] = json.dumps(spec)
    meta_path.write_text(json.dumps(meta))
    loaded = load_trajectories(dataset_id)
    assert loaded.seeds is None and loaded.episode(0)["seed"] is None
    assert np.array_equal(loaded.observations, traj.observations.astype(np.float64))
    ds = minari.load_dataset(dataset_id)
    assert ds.recover_environment().spec.id == TASK
    old = ds.env_spec
    assert old.kwargs["task_id"] == TASK
    assert gym.make(old.id, **old.kwargs).unwrapped.task.ctrl_cost_weight == KWARGS["ctrl_cost_weight"]
    with pytest.raises(TypeError, match="task_id"):
        gym.make(old.id, task_id="pbrl/Walker2d-v5")
    assert [m.get("seed") for m in ds.storage.get_episode_metadata([0, 1])] == [None, None]


def test_minaris_create_dataset_from_buffers_on_a_pbrl_env(dataset):
    """Minari's own writer stores ``env.spec`` as JSON and keeps the buffers' seeds."""
    from minari.data_collector import EpisodeBuffer

    _, traj = dataset
    buffers = []
    for e in range(3):
        ep = traj.episode(e)
        buffers.append(
            EpisodeBuffer(
                seed=ep["seed"],
                observations=ep["observations"],
                actions=ep["actions"].astype(np.float32),
                rewards=ep["rewards"],
                terminations=ep["terminations"],
                truncations=ep["truncations"],
                infos={},
            )
        )
    ds = minari.create_dataset_from_buffers("pbrl/hopper/buffers-v0", buffers, env=gym.make(TASK, **KWARGS), algorithm_name="random")
    assert ds.env_spec.id == TASK and ds.env_spec.kwargs == KWARGS
    again = minari.load_dataset("pbrl/hopper/buffers-v0")
    assert [m["seed"] for m in again.storage.get_episode_metadata(range(3))] == traj.seeds[:3].tolist()
    env = again.recover_environment()
    obs, _ = env.reset(seed=int(traj.seeds[0]))
    assert np.array_equal(obs, again[0].observations[0])
    env.close()


def test_minaris_own_collector_on_a_pbrl_env(root):
    """Minari's DataCollector stores ``env.spec`` and the reset seeds."""
    pytest.importorskip("jax", reason="Minari's DataCollector needs minari[create] (jax)")
    from minari import DataCollector

    env = DataCollector(gym.make(TASK, **KWARGS))
    env.reset(seed=5)
    for _ in range(30):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    ds = env.create_dataset("pbrl/hopper/collector-v0", algorithm_name="random")
    assert ds.env_spec.id == TASK and ds.env_spec.kwargs == KWARGS
    ds.recover_environment().close()
    again = minari.load_dataset("pbrl/hopper/collector-v0")
    assert next(iter(again.storage.get_episode_metadata([0])))["seed"] == 5
    env.close()
