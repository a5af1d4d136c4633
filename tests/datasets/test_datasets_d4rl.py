"""pbrl.datasets.d4rl: D4RL's API without d4rl, and importing D4RL hdf5 files."""

from __future__ import annotations

import os

import gymnasium as gym
import h5py
import minari
import numpy as np
import pytest

import pbrl  # noqa: F401
from pbrl.datasets import DatasetError, DownloadError, RandomPolicy, collect, d4rl, download, import_d4rl, write_dataset
from pbrl.datasets.storage import read_metadata

TASK = "pbrl/Hopper-v5"


@pytest.fixture(scope="module")
def rollout():
    env = gym.make_vec(TASK, num_envs=1)
    space = env.single_action_space
    env.close()
    # 40-step time limit: plenty of both terminated and timed-out episodes
    traj = collect(TASK, RandomPolicy(space.low * 0.3, space.high * 0.3, seed=1), 1500, num_envs=6, seed=3, env_kwargs={"max_episode_steps": 40})
    # the tests compare with D4RL's loops, whose files never flag one step both terminal and timeout
    # (a termination on the limit's last step); this seed's data has no such step
    assert not (traj.terminations & traj.truncations).any()
    return traj


@pytest.fixture
def stored(rollout):
    write_dataset(rollout, "pbrl/hopper/unit-v0", TASK)
    return "pbrl/hopper/unit-v0"


def d4rl_reference_qlearning(dataset, terminate_on_end=False, max_episode_steps=None):
    """D4RL's qlearning_dataset loop (d4rl/__init__.py), verbatim but for the env argument."""
    N = dataset["rewards"].shape[0]
    obs_, next_obs_, action_, reward_, done_ = [], [], [], [], []
    use_timeouts = "timeouts" in dataset
    episode_step = 0
    for i in range(N - 1):
        obs = dataset["observations"][i].astype(np.float32)
        new_obs = dataset["observations"][i + 1].astype(np.float32)
        action = dataset["actions"][i].astype(np.float32)
        reward = dataset["rewards"][i].astype(np.float32)
        done_bool = bool(dataset["terminals"][i])
        if use_timeouts:
            final_timestep = dataset["timeouts"][i]
        else:
            final_timestep = episode_step == max_episode_steps - 1
        if (not terminate_on_end) and final_timestep:
            episode_step = 0
            continue
        if done_bool or final_timestep:
            episode_step = 0
        obs_.append(obs)
        next_obs_.append(new_obs)
        action_.append(action)
        reward_.append(reward)
        done_.append(done_bool)
        episode_step += 1
    return {
        "observations": np.array(obs_),
        "actions": np.array(action_),
        "next_observations": np.array(next_obs_),
        "rewards": np.array(reward_),
        "terminals": np.array(done_),
    }


def test_get_dataset_has_d4rl_keys_and_meaning(rollout, stored):
    data = d4rl.get_dataset(stored)
    n = rollout.num_steps
    for key in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations", "infos/qpos", "infos/qvel"):
        assert data[key].shape[0] == n, key
    assert data["observations"].dtype == np.float32 and data["terminals"].dtype == bool
    # infos/qpos is the state of observations[i] (Hopper observes qpos[1:])
    np.testing.assert_allclose(data["observations"][:, :5], data["infos/qpos"][:, 1:].astype(np.float32))
    # within an episode the next observation is the following row; at episode ends it is the true final one
    inside = ~(data["terminals"] | data["timeouts"])
    np.testing.assert_array_equal(data["next_observations"][:-1][inside[:-1]], data["observations"][1:][inside[:-1]])
    assert data["timeouts"].sum() > 0 and data["terminals"].sum() > 0
    assert data["terminals"].sum() + data["timeouts"].sum() == rollout.num_episodes


@pytest.mark.parametrize("terminate_on_end", [False, True])
def test_qlearning_dataset_matches_d4rl_loop(stored, terminate_on_end):
    data = d4rl.get_dataset(stored)
    ours = d4rl.qlearning_dataset(dataset=data, terminate_on_end=terminate_on_end)
    ref = d4rl_reference_qlearning(data, terminate_on_end)
    assert set(ours) == set(ref)
    for key in ref:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    if not terminate_on_end:
        assert len(ours["rewards"]) == len(data["rewards"]) - 1 - data["timeouts"][:-1].sum()
    # without timeouts D4RL counts steps; the legacy path matches its loop too
    legacy = {k: v for k, v in data.items() if k != "timeouts"}
    ours = d4rl.qlearning_dataset(dataset=legacy, terminate_on_end=terminate_on_end, max_episode_steps=25)
    ref = d4rl_reference_qlearning(legacy, terminate_on_end, max_episode_steps=25)
    for key in ref:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def test_normalized_scores_use_d4rl_references():
    assert d4rl.get_normalized_score("halfcheetah-medium-v2", 12135.0) == pytest.approx(1.0)
    assert d4rl.get_normalized_score("hopper-medium-replay-v2", -20.272305) == pytest.approx(0.0)
    assert d4rl.get_normalized_score("pbrl/Walker2d-v5", (1.629008 + 4592.3) / 2) == pytest.approx(0.5)
    np.testing.assert_allclose(d4rl.get_normalized_score("pbrl/ant/medium-v0", np.array([-325.6, 3879.7])), [0.0, 1.0])
    with pytest.raises(KeyError, match="no reference scores"):
        d4rl.get_normalized_score("pbrl/Swimmer-v5", 1.0)
    for name in ("antmaze-umaze-v0", "antmaze-large-diverse-v2", "hopperfoo-medium-v2", "kitchen-mixed-v0"):
        with pytest.raises(KeyError, match="no reference scores"):       # not Ant's (or Hopper's) scale
            d4rl.get_normalized_score(name, 1.0)


def test_d4rl_env_object(stored):
    env = d4rl.make(stored)
    data = env.get_dataset()
    np.testing.assert_array_equal(data["actions"], d4rl.get_dataset(stored)["actions"])
    assert env.get_normalized_score(3234.3) == pytest.approx(1.0)  # the card's references are D4RL's
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape == (11,)
    q = d4rl.qlearning_dataset(env)
    assert q["observations"].shape[1] == 11
    episodes = list(d4rl.sequence_dataset(env))
    assert sum(len(e["rewards"]) for e in episodes) == len(data["rewards"])
    env.close()


def write_d4rl_file(path, data, *, drop=(), extra=None):
    with h5py.File(path, "w") as fh:
        for key, value in data.items():
            if key in drop:
                continue
            fh.create_dataset(key, data=value)
        fh.create_dataset("metadata/algorithm", data="SAC")
        fh.create_dataset("metadata/policy/fc0/weight", data=np.zeros((64, 11)))  # not provenance: dropped
        for key, value in (extra or {}).items():
            fh.create_dataset(key, data=value)


def test_import_d4rl_file_round_trip(rollout, stored, tmp_path):
    data = d4rl.get_dataset(stored, dtype=np.float64)
    path = tmp_path / "hopper-medium-v2.hdf5"
    write_d4rl_file(path, {k: v for k, v in data.items() if k.startswith("infos/qp") or "/" not in k})
    dsid = import_d4rl(path)
    assert dsid == "d4rl/hopper/medium-v2"
    ds = minari.load_dataset(dsid)  # Minari opens the import
    assert ds.spec.env_spec.id == TASK and ds.total_steps == rollout.num_steps
    meta = read_metadata(dsid)
    assert (meta["ref_min_score"], meta["ref_max_score"]) == d4rl.D4RL_REF_SCORES["hopper"]
    assert meta["pbrl"]["d4rl_metadata"] == {"algorithm": "SAC"}
    assert len(meta["pbrl"]["imported_from"]["sha256"]) == 64
    back = d4rl.get_dataset(dsid, dtype=np.float64)
    for key in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations", "infos/qpos"):
        np.testing.assert_allclose(back[key], data[key], err_msg=key, rtol=0, atol=1e-6)


def test_import_without_next_observations_drops_timed_out_last_steps(rollout, stored, tmp_path):
    data = d4rl.get_dataset(stored, dtype=np.float64)
    path = tmp_path / "hopper-random-v2.hdf5"
    write_d4rl_file(path, data, drop=("next_observations",))
    dsid = import_d4rl(path, "mine/hopper-random-v0")
    back = d4rl.get_dataset(dsid, dtype=np.float64)
    timed_out = int(data["timeouts"].sum())
    assert len(back["rewards"]) == rollout.num_steps - timed_out  # what D4RL's qlearning_dataset drops too
    assert back["terminals"].sum() == data["terminals"].sum()
    # the kept transitions are D4RL's qlearning transitions (next obs = the following row)
    q = d4rl.qlearning_dataset(dataset=data)
    np.testing.assert_allclose(back["next_observations"][: len(q["rewards"])][~back["terminals"][: len(q["rewards"])]],
                               q["next_observations"][~q["terminals"]], atol=1e-6)  # fmt: skip


def good_file_data(stored):
    return d4rl.get_dataset(stored, dtype=np.float64)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("terminals"), r"missing required key\(s\) \['terminals'\]"),
        (lambda d: d.update(rewards=d["rewards"][:-5]), r"rewards has \d+ rows but observations has \d+"),
        (lambda d: d["observations"].__setitem__((3, 1), np.inf), r"observations holds NaN or inf \(first at index \(3, 1\)\)"),
        (lambda d: d.update(observations=np.zeros((len(d["rewards"]), 17)), next_observations=np.zeros((len(d["rewards"]), 17))),
         r"observations have shape \(17,\) per step but pbrl/Hopper-v5 observes \(11,\)"),  # fmt: skip
        (lambda d: d.update(actions=np.zeros((len(d["rewards"]), 6))), r"actions have shape \(6,\) per step but pbrl/Hopper-v5 takes \(3,\)"),
    ],
)
def test_bad_d4rl_files_are_named(stored, tmp_path, datasets_dir, mutate, message):
    data = good_file_data(stored)
    mutate(data)
    path = tmp_path / "hopper-medium-v2.hdf5"
    write_d4rl_file(path, data)
    with pytest.raises(DatasetError, match=message) as info:
        import_d4rl(path)
    assert str(path) in str(info.value)
    assert not (datasets_dir / "d4rl").exists() or not any((datasets_dir / "d4rl").rglob("metadata.json"))


def test_truncated_and_unknown_files(stored, tmp_path):
    path = tmp_path / "hopper-expert-v2.hdf5"
    write_d4rl_file(path, good_file_data(stored))
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(DatasetError, match="truncated or corrupt") as info:
        import_d4rl(path)
    assert str(path) in str(info.value)
    other = tmp_path / "mystery.hdf5"
    write_d4rl_file(other, good_file_data(stored))
    with pytest.raises(DatasetError, match="cannot tell which pbrl task.*--env"):
        import_d4rl(other)
    assert import_d4rl(other, "mine/mystery-v0", task=TASK) == "mine/mystery-v0"
    with pytest.raises(DatasetError, match="no such file"):
        import_d4rl(tmp_path / "hopper-none-v2.hdf5")


def test_import_refuses_to_overwrite(stored, tmp_path):
    path = tmp_path / "hopper-medium-v2.hdf5"
    write_d4rl_file(path, good_file_data(stored))
    import_d4rl(path)
    with pytest.raises(DatasetError, match="already exists.*--force"):
        import_d4rl(path)
    import_d4rl(path, force=True)


def test_download_without_network_fails_clearly(monkeypatch):
    # a closed port on the loopback stands in for a remote that cannot be reached
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(DownloadError, match="unreachable.*no network"):
        download("mujoco/hopper/medium-v0", timeout=2.0)
