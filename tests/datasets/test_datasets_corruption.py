"""pbrl.datasets.corruption and labelling: corrupt into new datasets/stores, never in place;
preference pairs reference dataset episodes."""

from __future__ import annotations

import gymnasium as gym
import minari
import numpy as np
import pytest

import pbrl  # noqa: F401
from pbrl.datasets import (
    Corruption,
    DatasetError,
    RandomPolicy,
    collect,
    corrupt_dataset,
    corrupt_trajectories,
    corrupt_transitions,
    flip_labels,
    label_dataset,
    load_trajectories,
    read_metadata,
    write_dataset,
)
from pbrl.datasets.corruption import LinearValueAdversary, discounted_returns_to_go

TASK = "pbrl/Hopper-v5"
SRC = "pbrl/hopper/clean-v0"


@pytest.fixture(scope="module")
def clean():
    env = gym.make_vec(TASK, num_envs=1)
    space = env.single_action_space
    env.close()
    return collect(TASK, RandomPolicy(space.low, space.high, seed=0), 2000, num_envs=8, seed=0)


@pytest.fixture
def source(clean):
    write_dataset(clean, SRC, TASK, ref_min_score=1.0, ref_max_score=2.0)
    return SRC


def test_random_corruption_of_each_target(clean, source):
    specs = [Corruption(t, 0.25, 0.5, "random") for t in ("observations", "actions", "rewards", "next_observations")]
    new = corrupt_dataset(source, "pbrl/hopper/noisy-v0", specs, seed=1)
    out = load_trajectories(new)
    orig = load_trajectories(source)
    np.testing.assert_array_equal(orig.observations, clean.observations)  # the source is untouched
    np.testing.assert_array_equal(orig.rewards, clean.rewards)
    t = clean.num_steps
    k = round(0.25 * t)
    rows = clean.step_rows()
    obs_std, act_std = clean.observations.std(axis=0), clean.actions.std(axis=0)
    for target in ("observations", "next_observations"):
        mask = out.infos[f"corrupted/{target}"]
        assert mask.sum() == k
        hit = rows[mask[rows if target == "observations" else rows + 1]]
        assert hit.size == k
    changed_rows = np.flatnonzero(np.any(out.observations != clean.observations, axis=1))
    corrupted_rows = np.flatnonzero(out.infos["corrupted/observations"] | out.infos["corrupted/next_observations"])
    np.testing.assert_array_equal(changed_rows, corrupted_rows)
    assert np.all(np.abs(out.observations - clean.observations) <= 2 * 0.5 * obs_std + 1e-9)  # at most two ε-boxes
    act_mask = out.infos["corrupted/actions"][rows + 1]
    assert act_mask.sum() == k
    assert np.all(np.abs(out.actions - clean.actions) <= 0.5 * act_std + 1e-6)
    assert np.all(np.abs(out.actions) <= 1.0)  # clipped to Hopper's action box
    rew_mask = out.infos["corrupted/rewards"][rows + 1]
    assert np.array_equal(out.rewards[~rew_mask], clean.rewards[~rew_mask])
    assert np.all(np.abs(out.rewards[rew_mask]) <= 15.0) and not np.array_equal(out.rewards[rew_mask], clean.rewards[rew_mask])
    meta = read_metadata(new)
    assert meta["pbrl"]["parent"] == source and len(meta["pbrl"]["corruption"]["corruptions"]) == 4
    assert (meta["ref_min_score"], meta["ref_max_score"]) == (1.0, 2.0)
    assert minari.load_dataset(new).total_steps == t


def test_adversarial_rewards_and_linear_adversary(clean):
    out, report = corrupt_trajectories(clean, [Corruption("rewards", 0.5, 2.0, "adversarial")], seed=3)
    mask = out.infos["corrupted/rewards"][clean.step_rows() + 1]
    np.testing.assert_allclose(out.rewards[mask], -2.0 * clean.rewards[mask])
    assert report["corruptions"][0]["steps"] == round(0.5 * clean.num_steps)
    # observations: the linear Monte-Carlo Q of the clean data goes down on every corrupted row
    adv = LinearValueAdversary(clean)
    out, _ = corrupt_trajectories(clean, [Corruption("observations", 0.3, 0.2, "adversarial")], seed=3)
    rows = np.flatnonzero(out.infos["corrupted/observations"])
    delta = out.observations[rows] - clean.observations[rows]
    assert np.all(delta @ adv.w_obs < 0)
    np.testing.assert_allclose(np.abs(delta), 0.2 * np.broadcast_to(clean.observations.std(axis=0), delta.shape)
                               * (adv.w_obs != 0), rtol=1e-9)  # fmt: skip


def test_returns_to_go_are_per_episode(clean):
    g = discounted_returns_to_go(clean, gamma=0.9)
    for e in (0, 5, clean.num_episodes - 1):
        r = clean.episode(e)["rewards"]
        expect = [sum(0.9**k * r[t + k] for k in range(len(r) - t)) for t in range(len(r))]
        s = clean.starts[e]
        np.testing.assert_allclose(g[s : s + len(r)], expect, rtol=1e-9)


def test_adversary_with_a_given_q_function(clean):
    def q(obs, actions):  # a value that prefers actions near +0.5
        return -np.sum((actions - 0.5) ** 2, axis=1)

    out, report = corrupt_trajectories(clean, [Corruption("actions", 0.2, 0.3, "adversarial")], seed=4, q_function=q,
                                       action_bounds=(-np.ones(3), np.ones(3)))  # fmt: skip
    mask = out.infos["corrupted/actions"][clean.step_rows() + 1]
    before, after = q(None, clean.actions[mask].astype(np.float64)), q(None, out.actions[mask].astype(np.float64))
    assert np.all(after <= before + 1e-6) and np.mean(after < before - 1e-3) > 0.9
    radius = 0.3 * clean.actions.std(axis=0)
    assert np.all(np.abs(out.actions[mask] - clean.actions[mask]) <= radius + 1e-6)
    assert report["adversary"] == "q"


def test_transition_dict_corrupts_s_and_next_s_independently(clean):
    data = clean.transitions(dtype=np.float64)
    out, _ = corrupt_transitions(data, [Corruption("next_observations", 0.5, 1.0)], seed=0)
    np.testing.assert_array_equal(out["observations"], data["observations"])
    assert out["corrupted/next_observations"].sum() == round(0.5 * len(data["rewards"]))
    assert not np.array_equal(out["next_observations"], data["next_observations"])
    with pytest.raises(DatasetError, match="needs a q_function"):
        corrupt_transitions(data, [Corruption("observations", 0.1, 1.0, "adversarial")])


def test_corruption_never_writes_in_place(source):
    with pytest.raises(DatasetError, match="new dataset"):
        corrupt_dataset(source, source, [Corruption("rewards")])
    corrupt_dataset(source, "pbrl/hopper/c-v0", [Corruption("rewards")])
    with pytest.raises(DatasetError, match="already exists"):
        corrupt_dataset(source, "pbrl/hopper/c-v0", [Corruption("actions")])
    with pytest.raises(ValueError, match="fraction"):
        Corruption("rewards", fraction=1.5)


def test_label_dataset_references_episodes_and_flip(source, clean, tmp_path):
    from pbrl.preferences import PreferenceStore

    store = tmp_path / "prefs.sqlite"
    summary = label_dataset(source, store, teacher="oracle", pairs=120, segment=10, seed=0, batch_size=50)
    assert summary["pairs"] == 120 and summary["labels"] == 120
    with PreferenceStore(store, create=False) as s:
        data = s.labelled_pairs()
        assert s.info()["datasets"] == [source]
    assert len(data) == 120
    for batch in (data.first, data.second):
        assert set(batch.source_id) == {source} and set(batch.origin_kind) == {"dataset"}
        for i in range(0, 120, 17):  # each segment is the window episode[start : start + H] of the dataset
            ep = clean.episode(int(batch.episode[i]))
            start = int(batch.start[i])
            real = int(batch.mask[i].sum())
            np.testing.assert_allclose(batch.obs[i][:real], ep["observations"][start : start + real], rtol=1e-6)
            np.testing.assert_allclose(batch.rewards[i][:real], ep["rewards"][start : start + real])
    # the oracle prefers the segment with the larger return
    diff = data.second.returns - data.first.returns
    decided = np.abs(diff) > 1e-9
    assert np.all(data.labels[decided] == (diff[decided] > 0))

    flipped = tmp_path / "flipped.sqlite"
    counts = flip_labels(store, flipped, 0.25, seed=1)
    assert counts["flipped"] == 30 and counts["labels"] == 120
    with PreferenceStore(store, create=False) as s:
        np.testing.assert_array_equal(s.labelled_pairs().labels, data.labels)  # the source is untouched
    with PreferenceStore(flipped, create=False) as s:
        new = s.labelled_pairs()
        info = s.info()["label_flip"]
    assert len(new) == 120 and info["flipped"] == 30
    changed = new.labels != data.labels
    assert changed.sum() == counts["changed"] == np.sum(data.labels[changed] != 0.5)
    np.testing.assert_array_equal(new.labels[changed], 1 - data.labels[changed])
    np.testing.assert_allclose(new.first.obs, data.first.obs)  # same pairs, same order
    with pytest.raises(DatasetError, match="already exists"):
        flip_labels(store, flipped, 0.1)
    with pytest.raises(DatasetError, match="new store"):
        flip_labels(store, store, 0.1)
