"""pbrl.datasets: vectorised collection, Minari storage read by Minari itself, atomic
writes (a killed generation leaves nothing behind), overwrite protection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import minari
import numpy as np
import pytest

import pbrl  # noqa: F401
from pbrl.datasets import (
    DatasetError,
    DatasetExistsError,
    DatasetNotFoundError,
    RandomPolicy,
    Trajectories,
    collect,
    load_trajectories,
    make_provenance,
    read_metadata,
    write_dataset,
)
from pbrl.datasets.storage import datasets_root
from repo_support import ROOT

TASK = "pbrl/Hopper-v5"


@pytest.fixture(scope="module")
def rollout() -> Trajectories:
    env = gym.make_vec(TASK, num_envs=1)
    space = env.single_action_space
    env.close()
    return collect(TASK, RandomPolicy(space.low, space.high, seed=3), 1003, num_envs=8, seed=5)


def test_collect_splits_streams_into_consistent_episodes(rollout):
    tr = rollout
    assert tr.num_steps == 1003  # exactly the budget, although 1003 is not a multiple of 8
    assert tr.observations.shape == (tr.num_steps + tr.num_episodes, 11)
    ends = np.cumsum(tr.lengths) - 1
    flags = tr.terminations | tr.truncations
    assert flags[ends].all() and flags.sum() == tr.num_episodes  # one flag per episode, at its end
    assert tr.terminations.sum() > 0  # random Hopper falls
    # Hopper observes qpos[1:] and clipped qvel: every row (reset and final ones too) matches its state
    assert np.array_equal(tr.observations[:, :5], tr.infos["qpos"][:, 1:])
    assert np.array_equal(tr.observations[:, 5:], np.clip(tr.infos["qvel"], -10, 10))
    np.testing.assert_allclose(sum(tr.reward_terms().values()), tr.rewards, atol=1e-12)
    # the reset row of every episode has no step info, the rest do
    assert np.all(tr.infos["reward_terms/healthy"][tr.row_starts] == 0)


def test_first_episode_replays_in_a_single_env(rollout):
    ep = rollout.episode(0)  # episodes are ordered by start, then sub-env: episode 0 is sub-env 0's first
    env = gym.make(TASK)
    obs, _ = env.reset(seed=5)  # sub-env 0 was reset with seed + 0
    np.testing.assert_allclose(obs, ep["observations"][0], atol=1e-12)
    for t, action in enumerate(ep["actions"]):
        obs, reward, terminated, truncated, _ = env.step(action)
        np.testing.assert_allclose(obs, ep["observations"][t + 1], atol=1e-9)
        assert reward == pytest.approx(ep["rewards"][t], abs=1e-9)
    assert terminated == bool(ep["terminations"][-1])


def test_minari_reads_what_pbrl_wrote(rollout, datasets_dir):
    prov = make_provenance(command="test", level="random", seed=5)
    path = write_dataset(rollout, "pbrl/hopper/test-v0", TASK, ref_min_score=10.0, ref_max_score=110.0, provenance=prov)
    assert str(path).startswith(str(datasets_dir))  # MINARI_DATASETS_PATH respected
    ds = minari.load_dataset("pbrl/hopper/test-v0")
    assert ds.total_episodes == rollout.num_episodes and ds.total_steps == rollout.num_steps
    assert ds.spec.env_spec.id == TASK
    np.testing.assert_allclose(minari.get_normalized_score(ds, np.array([60.0])), [0.5])
    episodes = list(ds.iterate_episodes())
    for i in (0, len(episodes) // 2, len(episodes) - 1):
        mine, theirs = rollout.episode(i), episodes[i]
        np.testing.assert_array_equal(theirs.observations, mine["observations"])
        np.testing.assert_array_equal(theirs.actions, mine["actions"].astype(np.float32))
        np.testing.assert_array_equal(theirs.rewards, mine["rewards"])
        np.testing.assert_array_equal(theirs.terminations, mine["terminations"])
        np.testing.assert_array_equal(theirs.truncations, mine["truncations"])
        np.testing.assert_array_equal(theirs.infos["qpos"], mine["infos"]["qpos"])
        np.testing.assert_array_equal(theirs.infos["reward_terms"]["forward"], mine["infos"]["reward_terms/forward"])
    env = ds.recover_environment()
    assert env.unwrapped.spec.id == TASK or env.spec.id == TASK
    env.close()
    meta = read_metadata("pbrl/hopper/test-v0")
    assert meta["pbrl"]["seed"] == 5 and meta["pbrl"]["command"] == "test"
    assert {"pbrl", "numpy", "mujoco", "gymnasium", "minari"} <= set(meta["pbrl"]["versions"])
    assert "pbrl/hopper/test-v0" in minari.list_local_datasets()


def test_cache_and_episode_by_episode_reads_agree(rollout):
    write_dataset(rollout, "pbrl/hopper/test-v0", TASK)
    fast = load_trajectories("pbrl/hopper/test-v0")
    slow = load_trajectories("pbrl/hopper/test-v0", use_cache=False)
    for a, b in ((fast, slow), (fast, rollout)):
        np.testing.assert_array_equal(a.observations, b.observations)
        np.testing.assert_array_equal(a.lengths, b.lengths)
        np.testing.assert_array_equal(a.rewards, b.rewards)
        assert sorted(a.infos) == sorted(b.infos)
    # a cache that no longer matches main_data.hdf5 is ignored, not trusted
    main = datasets_root() / "pbrl/hopper/test-v0/data/main_data.hdf5"
    os.utime(main, ns=(time.time_ns(), time.time_ns() + 10**9))
    import pbrl.datasets.storage as storage

    assert storage._read_cache(main.parent.parent, read_metadata("pbrl/hopper/test-v0"), "x") is None
    again = load_trajectories("pbrl/hopper/test-v0")
    np.testing.assert_array_equal(again.actions, fast.actions)


def test_nothing_is_overwritten_without_force(rollout):
    write_dataset(rollout, "pbrl/hopper/test-v0", TASK, description="first")
    small = rollout.select(np.arange(3))
    with pytest.raises(DatasetExistsError, match="--force"):
        write_dataset(small, "pbrl/hopper/test-v0", TASK, description="second")
    assert read_metadata("pbrl/hopper/test-v0")["description"] == "first"
    write_dataset(small, "pbrl/hopper/test-v0", TASK, description="second", force=True)
    assert read_metadata("pbrl/hopper/test-v0")["description"] == "second"
    assert minari.load_dataset("pbrl/hopper/test-v0").total_episodes == 3


def test_a_failed_write_leaves_nothing(rollout):
    bad_obs = rollout.observations.copy()
    bad_obs[7, 2] = np.nan
    with pytest.raises(DatasetError, match=r"observations holds 1 NaN/inf value\(s\), the first at index \(7, 2\)"):
        write_dataset(rollout.replace(observations=bad_obs), "pbrl/hopper/bad-v0", TASK)
    wrong = rollout.replace(observations=rollout.observations[:, :9])
    with pytest.raises(DatasetError, match=r"shape \(9,\) per step but pbrl/Hopper-v5 observes \(11,\)"):
        write_dataset(wrong, "pbrl/hopper/bad-v0", TASK)
    assert not (datasets_root() / "pbrl/hopper/bad-v0").exists()
    tmp = datasets_root() / ".pbrl-tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


def test_unknown_or_malformed_ids_are_named():
    with pytest.raises(DatasetNotFoundError, match="no dataset 'pbrl/hopper/nothing-v0'.*MINARI_DATASETS_PATH"):
        load_trajectories("pbrl/hopper/nothing-v0")
    with pytest.raises(DatasetError, match="malformed dataset id"):
        read_metadata("../escape")


def test_inconsistent_trajectories_are_refused(rollout):
    with pytest.raises(DatasetError, match="one more per episode than steps"):
        rollout.replace(observations=rollout.observations[:-1])
    with pytest.raises(DatasetError, match="rewards has"):
        rollout.replace(rewards=rollout.rewards[:-1])


def test_killed_generation_leaves_no_half_written_dataset(datasets_dir):
    """SIGKILL a real `pbrl dataset generate` while it writes: no dataset, and the next
    write cleans the leftover temporary folder."""
    env = dict(os.environ, MINARI_DATASETS_PATH=str(datasets_dir), PYTHONPATH=ROOT)
    cmd = [
        sys.executable, "-m", "pbrl.cli.main", "dataset", "generate", "--env", "pbrl/InvertedPendulum-v5",
        "--level", "random", "--algo", "ppo", "--train-steps", "512", "--eval-every", "512", "--eval-episodes", "2",
        "--ref-episodes", "2", "--size", "40000", "--num-envs", "64", "--hp", "n_envs=4", "--hp", "n_steps=128",
        "--hp", "batch_size=128", "--seed", "1", "--allow-weak",  # so short a run beats its initial policy, weakly
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    tmp = datasets_dir / ".pbrl-tmp"
    deadline = time.time() + 120
    writing = False
    while time.time() < deadline and proc.poll() is None:
        if tmp.is_dir() and any((d / "data" / "main_data.hdf5").exists() for d in tmp.iterdir()):
            writing = True
            break
        time.sleep(0.005)
    assert writing, f"the generation never started writing: {proc.stderr.read().decode() if proc.poll() is not None else ''}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    final = datasets_dir / "pbrl/invertedpendulum/random-v0"
    assert not final.exists()
    assert "pbrl/invertedpendulum/random-v0" not in minari.list_local_datasets()
    with pytest.raises(FileNotFoundError):
        minari.load_dataset("pbrl/invertedpendulum/random-v0")
    assert any(tmp.iterdir())  # the killed writer's temporary folder is all that is left
    # the next write removes it (its process is dead) and succeeds
    policy = RandomPolicy(-np.ones(1) * 3, np.ones(1) * 3, seed=0)
    small = collect("pbrl/InvertedPendulum-v5", policy, 100, num_envs=4)
    write_dataset(small, "pbrl/invertedpendulum/random-v0", "pbrl/InvertedPendulum-v5")
    assert not any(tmp.iterdir())
    assert minari.load_dataset("pbrl/invertedpendulum/random-v0").total_steps == 100


GENERATE = [
    sys.executable, "-m", "pbrl.cli.main", "dataset", "generate", "--env", "pbrl/InvertedPendulum-v5",
    "--level", "random", "--algo", "ppo", "--train-steps", "512", "--eval-every", "512", "--eval-episodes", "2",
    "--ref-episodes", "2", "--size", "40000", "--num-envs", "64", "--hp", "n_envs=4", "--hp", "n_steps=128",
    "--hp", "batch_size=128", "--seed", "1", "--allow-weak",  # so short a run beats its initial policy, weakly
]  # fmt: skip


def _start_writing(datasets_dir, *args):
    """A real `pbrl dataset generate`, returned once its dataset's temporary folder exists."""
    env = dict(os.environ, MINARI_DATASETS_PATH=str(datasets_dir), PYTHONPATH=ROOT, COLUMNS="1000")
    # A shell ignores SIGINT in the background jobs it starts, and Python then keeps ignoring
    # it (no KeyboardInterrupt): give the child the default disposition, as a terminal would.
    proc = subprocess.Popen(
        [*GENERATE, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    tmp = datasets_dir / ".pbrl-tmp"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if tmp.is_dir() and any(d.name.startswith(f"{proc.pid}.") for d in tmp.iterdir()):
            return proc
        time.sleep(0.002)
    proc.kill()
    raise AssertionError(f"the generation never started writing: {proc.communicate()[1].decode()[-3000:]}")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_terminated_generation_removes_its_temporary_folder_as_it_exits(datasets_dir, sig, code):
    proc = _start_writing(datasets_dir)
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    stderr = stderr.decode()
    assert proc.returncode == code, stderr[-3000:]
    assert "Traceback" not in stderr and "temporary files removed" in stderr, stderr[-3000:]
    assert list((datasets_dir / ".pbrl-tmp").iterdir()) == []  # gone at exit, not at the next run
    assert not (datasets_dir / "pbrl/invertedpendulum/random-v0").exists()


def test_a_killed_generations_leftovers_go_when_the_next_generation_starts(datasets_dir, tmp_path):
    proc = _start_writing(datasets_dir)
    os.kill(proc.pid, signal.SIGKILL)  # cannot be caught: its temporary folder stays
    proc.communicate(timeout=60)
    tmp = datasets_dir / ".pbrl-tmp"
    (killed,) = list(tmp.iterdir())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    policy_left = datasets_dir / ".pbrl-policies" / "pbrl_InvertedPendulum-v5" / f".{dead}.abc"
    policy_left.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        time.sleep(2.5)  # the sleeper starts well before the folders below are made
        running = tmp / f"{sleeper.pid}.pbrl_invertedpendulum_random-v0.abc"  # a writer that still runs
        running.mkdir()
        reused = tmp / f"{sleeper.pid}.pbrl_invertedpendulum_random-v0.old"  # made long before that pid's process started
        reused.mkdir()
        os.utime(reused, (time.time() - 3600, time.time() - 3600))
        # the next generation (here one that then stops on a bad task id) cleans up first
        out = subprocess.run([*GENERATE[:6], "pbrl/NoSuchTask-v5"], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, MINARI_DATASETS_PATH=str(datasets_dir), PYTHONPATH=ROOT), cwd=ROOT)  # fmt: skip
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
        assert not killed.exists() and not policy_left.exists() and not reused.exists()
        assert running.is_dir()  # never the folder of a process still running
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.filterwarnings("ignore:.*(eval_env|env_spec is None).*:UserWarning")
def test_foreign_minari_dataset_loads(datasets_dir):
    """A dataset written by Minari itself (no pbrl cache, no infos) loads too."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    env = gym.make("pbrl/InvertedPendulum-v5")
    rng = np.random.default_rng(0)
    buffers = []
    for n in (5, 9):
        buffers.append(
            EpisodeBuffer(
                observations=rng.normal(size=(n + 1, 4)),
                actions=rng.uniform(-3, 3, size=(n, 1)).astype(np.float32),
                rewards=np.ones(n),
                terminations=np.r_[np.zeros(n - 1, bool), True],
                truncations=np.zeros(n, bool),
            )
        )
    minari.create_dataset_from_buffers(
        "other/pendulum-v0", buffers, observation_space=env.observation_space, action_space=env.action_space,
        algorithm_name="x", author="x", author_email="x", code_permalink="x", description="x",
    )  # fmt: skip
    env.close()
    tr = load_trajectories("other/pendulum-v0")
    assert tr.num_episodes == 2 and list(tr.lengths) == [5, 9] and tr.infos == {}
    np.testing.assert_array_equal(tr.episode(1)["observations"], buffers[1].observations)


def test_load_transitions_checks_the_task(rollout):
    from pbrl.datasets import load_transitions

    write_dataset(rollout, "pbrl/hopper/test-v0", TASK)
    data = load_transitions("pbrl/hopper/test-v0")
    assert data["observations"].dtype == np.float32 and data["observations"].shape == (rollout.num_steps, 11)
    last = np.cumsum(rollout.lengths) - 1
    np.testing.assert_allclose(data["next_observations"][last], rollout.observations[rollout.row_starts + rollout.lengths].astype(np.float32))
    assert np.array_equal(data["terminals"] | data["timeouts"], rollout.dones)
    # a dataset bound to a task whose spaces no longer match is refused with both shapes named
    import json

    meta_path = datasets_root() / "pbrl/hopper/test-v0/data/metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["pbrl"]["task"] = "pbrl/Walker2d-v5"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=r"shape \(11,\) per step but pbrl/Walker2d-v5 observes \(17,\)"):
        load_transitions("pbrl/hopper/test-v0")
