"""Regret-scored preference labels (CPL's rl_sum): returns-to-go, shaping, the value fit,
``label_dataset(score="regret")`` and its bad input."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from console_support import printed
from offline_support import datasets_root, make_hopper_dataset

from pbrl.cli.main import app
from pbrl.datasets import Trajectories, label_dataset, load_trajectories
from pbrl.datasets.value import behaviour_value, discounted_returns_to_go, regret_rewards
from pbrl.preferences import PreferenceStore


def two_episodes() -> Trajectories:
    # episode 0: 3 steps, terminated; episode 1: 2 steps, truncated
    obs = np.arange(7, dtype=np.float64)[:, None]
    return Trajectories(
        observations=obs,
        actions=np.zeros((5, 1)),
        rewards=np.array([1.0, 2.0, 4.0, 10.0, 20.0]),
        terminations=np.array([False, False, True, False, False]),
        truncations=np.array([False, False, False, False, True]),
        lengths=np.array([3, 2]),
    )


def test_returns_to_go_by_hand():
    got = discounted_returns_to_go(two_episodes(), gamma=0.5)
    # ep 0: 1 + .5*2 + .25*4 = 3, 2 + .5*4 = 4, 4; ep 1: 10 + .5*20 = 20, 20
    np.testing.assert_allclose(got, [3.0, 4.0, 4.0, 20.0, 20.0])


def test_regret_rewards_telescope_with_terminal_zero():
    traj = two_episodes()
    value = np.array([5.0, 6.0, 7.0, 100.0, 8.0, 9.0, 30.0])  # one per observation row
    shaped = regret_rewards(traj, value)
    # ep 0 (terminated): V after its last step counts 0 — the row-3 value 100 is never used
    assert shaped[:3].sum() == pytest.approx(1 + 2 + 4 + 0.0 - 5.0)
    # ep 1 (truncated): its final observation keeps its value
    assert shaped[3:].sum() == pytest.approx(10 + 20 + 30.0 - 8.0)
    # a window inside an episode: Σ r + V(s_H) − V(s_0)
    assert shaped[1:3].sum() == pytest.approx(2 + 4 - 6.0)
    with pytest.raises(ValueError, match="one entry per observation row"):
        regret_rewards(traj, value[:-1])


def test_behaviour_value_tracks_returns_to_go(tmp_path):
    with datasets_root(tmp_path):
        ds = make_hopper_dataset("pbrl/hopper/regret-rand-v0", steps=3000)
        traj = load_trajectories(ds)
    value = behaviour_value(traj, steps=1500, seed=0)
    assert value.shape == (traj.observations.shape[0],)
    rtg = discounted_returns_to_go(traj, 0.99)
    corr = np.corrcoef(value[traj.step_rows()], rtg)[0, 1]
    assert corr > 0.6, corr  # a random Hopper's value is readable from its state (height, lean)
    np.testing.assert_array_equal(value, behaviour_value(traj, steps=1500, seed=0))  # deterministic for a seed
    with pytest.raises(ValueError, match="gamma"):
        behaviour_value(traj, gamma=0.0)


def test_label_dataset_by_regret(tmp_path):
    with datasets_root(tmp_path):
        ds = make_hopper_dataset("pbrl/hopper/regret-lab-v0", steps=3000)
        store_path = str(tmp_path / "regret.sqlite")
        summary = label_dataset(ds, store_path, teacher="oracle", pairs=150, segment=10, seed=3, score="regret")
        assert summary["labels"] == 150
        traj = load_trajectories(ds)
        shaped = regret_rewards(traj, behaviour_value(traj, seed=3))  # what the teacher compared
        with PreferenceStore(store_path) as store:
            pairs = store.labelled_pairs()
        first, second, labels = pairs.first, pairs.second, pairs.labels
        for batch in (first, second):  # the store keeps the dataset's true rewards
            steps = traj.starts[batch.episode][:, None] + batch.start[:, None] + np.arange(batch.horizon)
            true = np.where(batch.mask, traj.rewards[np.where(batch.mask, steps, 0)], 0.0)
            np.testing.assert_allclose(np.where(batch.mask, batch.rewards, 0.0), true, atol=1e-5)

        def regret(batch):
            steps = traj.starts[batch.episode][:, None] + batch.start[:, None] + np.arange(batch.horizon)
            return np.where(batch.mask, shaped[np.where(batch.mask, steps, 0)], 0.0).sum(1)

        expected = (regret(second) > regret(first)).astype(float)
        np.testing.assert_array_equal(np.asarray(labels, dtype=float), expected)
        partial = (second.returns > first.returns).astype(float)
        assert (expected != partial).any()  # the two scores really differ on this data


def test_regret_bad_input(tmp_path):
    with datasets_root(tmp_path):
        ds = make_hopper_dataset("pbrl/hopper/regret-bad-v0", steps=600)
        path = tmp_path / "bad.sqlite"
        with pytest.raises(ValueError, match="score must be one of return, regret"):
            label_dataset(ds, path, teacher="oracle", pairs=5, segment=5, score="advantage")
        with pytest.raises(ValueError, match="regret.*hierarchical"):
            label_dataset(ds, path, teacher="hierarchical", pairs=5, segment=5, score="regret")
        assert not path.exists()  # refused before any store was made

        from pbrl.cli.main import app

        result = CliRunner().invoke(app, ["dataset", "label", ds, "--teacher", "oracle", "--pairs", "5", "--segment", "5",
                                          "--score", "nope", "--store", str(path)])  # fmt: skip
        assert result.exit_code != 0
        assert printed("score must be one of return, regret", result.output)
        assert not path.exists()


def test_labelling_reports_its_phases_as_it_goes(tmp_path):
    store = str(tmp_path / "prefs.sqlite")
    with datasets_root(tmp_path / "minari"):
        ds = make_hopper_dataset("pbrl/hopper/regret-progress-v0", steps=800)
        result = CliRunner().invoke(app, ["dataset", "label", ds, "--teacher", "oracle", "--pairs", "30", "--segment", "5",
                                          "--batch-size", "10", "--score", "regret", "--store", store])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    value = [line for line in lines if line.startswith("fitting the behaviour value: ")]
    labelled = [line for line in lines if line.startswith("labelling pairs: ")]
    assert value and value[-1].startswith("fitting the behaviour value: 3,000/3,000")
    assert labelled and labelled[-1].startswith("labelling pairs: 30/30") and "labelled" in labelled[-1]
    assert lines.index(value[-1]) < lines.index(labelled[-1])  # the value is fitted before any pair is scored
