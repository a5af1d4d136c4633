"""Offline agents refuse bad input with clear messages: datasets that don't fit the env,
preferences that refer to missing episodes or another dataset, NaN data and batches,
diverged losses, unknown hyperparameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from offline_support import HOPPER, datasets_root, label, make_hopper_dataset

DATASET = "pbrl/hopper/bad-input-v0"
OTHER = "pbrl/hopper/other-v0"


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    with datasets_root(root / "minari"):
        make_hopper_dataset(DATASET, steps=2000, seed=1)
        make_hopper_dataset(OTHER, steps=600, seed=2)
        store = label(DATASET, str(root / "prefs.sqlite"), pairs=40, segment=10)
        yield DATASET, store, root


def test_dataset_spaces_that_do_not_match_the_env(hopper):
    from pbrl.agents.offline.iql import IQL
    from pbrl.agents.offline._data import OfflineDataError

    with pytest.raises(OfflineDataError, match=r"observations of shape \(11,\) but pbrl/HalfCheetah-v5 observes \(17,\)"):
        IQL.for_dataset(DATASET, task="pbrl/HalfCheetah-v5")
    agent = IQL(task=HOPPER, obs_dim=17, act_dim=6)
    from pbrl.agents.offline._data import OfflineData

    with pytest.raises(OfflineDataError, match="built for 17 and 6"):
        agent.setup(OfflineData.load(DATASET))


def test_preferences_that_refer_to_missing_episodes(hopper, tmp_path):
    from pbrl.agents.offline._preferences import PreferenceReferenceError
    from pbrl.agents.offline.oppo import OPPO

    dataset, store, root = hopper
    # the dataset is regenerated smaller under the same id: the store's episodes are gone
    with datasets_root(root / "minari"):
        make_hopper_dataset("pbrl/hopper/shrunk-v0", steps=2000, seed=1)
        shrunk_store = label("pbrl/hopper/shrunk-v0", str(tmp_path / "p.sqlite"), pairs=40, segment=10)
        make_hopper_dataset("pbrl/hopper/shrunk-v0", steps=200, seed=1)
        with pytest.raises(PreferenceReferenceError, match=r"refer to episode\(s\) .* of dataset 'pbrl/hopper/shrunk-v0', which has \d+ episodes"):
            OPPO.for_dataset("pbrl/hopper/shrunk-v0", preferences=shrunk_store)
        # same episode count, other data: the stored steps differ from the dataset's
        make_hopper_dataset("pbrl/hopper/shrunk-v0", steps=2000, seed=5)
        with pytest.raises(PreferenceReferenceError, match="start outside their episode|another version of the dataset|does not fit their episode"):
            OPPO.for_dataset("pbrl/hopper/shrunk-v0", preferences=shrunk_store)


def test_stored_segments_that_differ_from_the_dataset(hopper):
    from pbrl.agents.offline._data import OfflineData
    from pbrl.agents.offline._preferences import PreferenceReferenceError, pairs_from_segments
    from pbrl.preferences import PreferenceStore

    dataset, store, _ = hopper
    data = OfflineData.load(dataset)
    with PreferenceStore(store) as s:
        prefs = s.labelled_pairs()
    pairs = pairs_from_segments(prefs.first, prefs.second, prefs.labels, data)  # as stored: fine
    assert pairs.index.shape == (40, 2, 10) and np.array_equal(pairs.mask[:, 0], prefs.first.mask)
    assert np.allclose(data.observations[pairs.index[:, 1]][pairs.mask[:, 1]], prefs.second.obs[prefs.second.mask])
    prefs.second.obs[3, 0, 0] += 1.0  # one stored step that is not the dataset's
    with pytest.raises(PreferenceReferenceError, match="second segments' observations/actions differ from episodes of dataset"):
        pairs_from_segments(prefs.first, prefs.second, prefs.labels, data)


def test_preferences_for_another_dataset_or_none_at_all(hopper, tmp_path):
    from pbrl.agents.offline.cpl import CPL
    from pbrl.agents.offline.oppo import OPPO
    from pbrl.preferences import EmptyPreferencesError

    dataset, store, _ = hopper
    with pytest.raises(EmptyPreferencesError, match=f"the store's labels are for '{DATASET}', not for dataset '{OTHER}'"):
        OPPO.for_dataset(OTHER, preferences=store)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        OPPO.for_dataset(DATASET, preferences=str(tmp_path / "missing.sqlite"))
    with pytest.raises(ValueError, match="oppo learns from preferences"):
        OPPO.for_dataset(DATASET)
    with pytest.raises(ValueError, match="cpl in sparse mode learns from labelled pairs"):
        CPL.for_dataset(DATASET)
    from pbrl.agents.offline.bc import BC

    with pytest.raises(ValueError, match="bc does not learn from preferences"):
        BC.for_dataset(DATASET, preferences=store)


def _transitions(n=50, nan_at=None):
    rng = np.random.default_rng(0)
    t = {"observations": rng.normal(size=(n, 11)).astype(np.float32), "actions": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
         "rewards": np.ones(n, np.float32), "next_observations": rng.normal(size=(n, 11)).astype(np.float32),
         "terminals": np.zeros(n, bool), "timeouts": np.zeros(n, bool), "episode": np.repeat([0, 1], n // 2)}  # fmt: skip
    if nan_at is not None:
        t[nan_at[0]][nan_at[1]] = np.nan
    return t


def test_nan_in_the_data_is_named():
    from pbrl.agents.offline.iql import IQL
    from pbrl.agents.offline._data import OfflineData, OfflineDataError

    data = OfflineData.from_transitions(_transitions(nan_at=("rewards", 30)), source="mine", task=HOPPER)
    agent = IQL(task=HOPPER, obs_dim=11, act_dim=3)
    with pytest.raises(OfflineDataError, match=r"dataset 'mine': rewards holds 1 NaN/inf value\(s\), the first at index \(30,\) \(transition 30, episode 1\)"):
        agent.setup(data)


def test_nan_in_a_given_batch_and_a_diverged_loss():
    from pbrl.agents.offline.iql import IQL
    from pbrl.agents.offline._data import OfflineData

    agent = IQL({"hidden_sizes": [16], "compile": "off"}, task=HOPPER, obs_dim=11, act_dim=3)
    agent.setup(OfflineData.from_transitions(_transitions(), source="mine", task=HOPPER))
    batch = {"obs": torch.zeros(4, 11), "actions": torch.zeros(4, 3), "rewards": torch.tensor([0.0, 1.0, float("nan"), 0.0]),
             "next_obs": torch.zeros(4, 11), "terminals": torch.zeros(4)}  # fmt: skip
    with pytest.raises(ValueError, match=r"column 'rewards' holds 1 NaN/inf value\(s\), the first at index \(2,\)"):
        agent.update_on(batch)
    with torch.no_grad():
        agent.v.net[0].weight.fill_(float("inf"))  # training "diverged"
    agent.fit(3, log_every=0)
    with pytest.raises(FloatingPointError, match=r"value_loss.*became NaN/inf between gradient steps 0 and 3"):
        agent.pop_losses()


def test_unknown_or_badly_typed_hyperparameters():
    from pbrl.agents.offline.cpl import CPLConfig
    from pbrl.agents.offline.iql import IQL, IQLConfig
    from pbrl.settings import ConfigError

    with pytest.raises(ConfigError, match=r"unknown hyperparameter 'expectle' for iql \(did you mean 'expectile'\?\)"):
        IQLConfig.from_dict({"expectle": 0.8})
    with pytest.raises(ConfigError, match="'batch_size' for iql must be an integer, got 'big'"):
        IQLConfig.from_dict({"batch_size": "big"})
    with pytest.raises(ConfigError, match="'expectile' for iql must be <= 1"):
        IQLConfig.from_dict({"expectile": 1.5})
    with pytest.raises(ConfigError, match="'mode' for cpl must be one of 'sparse', 'dense'"):
        CPLConfig.from_dict({"mode": "rank"})
    assert CPLConfig.from_dict({"variant": "kl"}).alpha == 0.2  # CPL-KL's defaults
    assert CPLConfig.from_dict({"variant": "kl", "alpha": 0.3}).alpha == 0.3
    assert IQLConfig.from_dict({"compile": True}).compile == "on"  # --hp compile=true
    agent = IQL({"hidden_sizes": [8], "compile": "off"}, task=HOPPER, obs_dim=11, act_dim=3)
    with pytest.raises(ValueError, match=r"takes observations of shape \(N, 11\), got \(2, 5\)"):
        agent.act(np.zeros((2, 5)))
    with pytest.raises(RuntimeError, match="call setup"):
        agent.fit(1)
