"""Every offline agent trains on a tiny dataset (+ preferences), acts, and survives a
save/load/resume round trip; pbrl's IQL update equals the single-file reference IQL's."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from offline_support import datasets_root, label, make_hopper_dataset
from repo_support import load_benchmark

DATASET = "pbrl/hopper/tiny-random-v0"

#: small networks and batches: these tests check the machinery, not the scores
SMALL = {
    "bc": {"hidden_sizes": [32, 32]},
    "iql": {"hidden_sizes": [32, 32], "batch_size": 64, "compile": "off"},
    "piql": {"hidden_sizes": [32, 32], "batch_size": 64, "rm_max_epochs": 3, "rm_hidden_sizes": [32, 32], "compile": "off"},
    "cpl": {"hidden_sizes": [32, 32], "batch_size": 8, "bc_steps": 10, "warmup_steps": 5},
    "oppo": {"hidden_sizes": [32, 32], "encoder_hidden_sizes": [32, 32], "batch_size": 8, "z_dim": 4},
    "ipl": {"hidden_sizes": [32, 32], "batch_size": 64, "pref_batch_size": 4},
}


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    with datasets_root(root / "minari"):
        make_hopper_dataset(DATASET, steps=3000)
        store = label(DATASET, str(root / "prefs.sqlite"), pairs=120, segment=20)
        yield DATASET, store


def _build(name, dataset, store, **hp):
    from pbrl.agents.offline import offline_agent_class

    cls = offline_agent_class(name)
    prefs = store if cls.uses_preferences != "none" else None
    return cls.for_dataset(dataset, {**SMALL[name], **hp}, preferences=prefs, seed=3)


@pytest.mark.parametrize(
    "name, hp",
    [
        ("bc", {}),
        ("iql", {}),
        ("piql", {}),
        ("cpl", {}),
        ("cpl", {"mode": "dense", "variant": "kl"}),
        ("oppo", {}),
        ("ipl", {}),
    ],
)
def test_agent_trains_acts_and_reloads(hopper, tmp_path, name, hp):
    from pbrl.agents.offline._base import OfflineAgent

    dataset, store = hopper
    agent = _build(name, dataset, store, **hp)
    seen = []
    out = agent.fit(30, log_every=10, sink=lambda step, m: seen.append((step, m)))
    assert agent.step == 30
    assert [s for s, m in seen if "time/fps" in m] == [10, 20, 30]
    for key in agent.loss_names:
        assert np.isfinite(out[f"train/{key}"]), key
    obs = np.random.default_rng(0).normal(size=(5, agent.obs_dim)).astype(np.float32)
    actions = agent.act(obs)
    assert actions.shape == (5, agent.act_dim) and np.all(np.abs(actions) <= 1.0)
    assert agent.act(obs[0]).shape == (agent.act_dim,)
    agent.save(str(tmp_path / "ckpt"))
    again = OfflineAgent.from_checkpoint(str(tmp_path / "ckpt"))
    assert type(again) is type(agent) and again.step == 30
    assert np.array_equal(again.act(obs), actions)


def test_piql_reports_reward_model_accuracy_and_keeps_its_model(hopper, tmp_path):
    dataset, store = hopper
    agent = _build("piql", dataset, store, rm_max_epochs=20)
    metrics = agent.fit(10, log_every=10)
    assert metrics["feedback/labels"] == 120
    assert 0.0 <= metrics["reward_model/accuracy"] <= 1.0 and metrics["reward_model/correlation"] > 0.3
    # EPIC to the true reward: below the ~0.71 of an unrelated reward, and what the info says
    assert 0.0 <= metrics["reward_model/epic_distance"] < 0.65
    assert agent.reward_model_info["epic_distance"] == metrics["reward_model/epic_distance"]
    assert agent.reward_model_info["epic_reference_r2"] > 0.75
    agent.save(str(tmp_path / "ckpt"))
    path = agent.save_reward_model(str(tmp_path / "rm"))
    from pbrl.rewards import load_reward_model

    model = load_reward_model(path)
    x = agent.data.observations[:50], agent.data.actions[:50]
    assert np.allclose(model.reward(*x), agent.reward_model.reward(*x))
    resumed = type(agent).for_dataset(dataset, agent.config, preferences=store, seed=3, checkpoint=str(tmp_path / "ckpt"))
    assert np.allclose(resumed.reward_model.reward(*x), agent.reward_model.reward(*x))  # the saved model, not a refit
    assert torch.equal(resumed.batches.column("rewards"), agent.batches.column("rewards"))


def test_piql_unit_reward_range(hopper):
    """rm_reward_range=unit (the default): IQL trains on the learned reward rescaled to [0, 1] (an affine map of it)."""
    dataset, store = hopper
    raw = _build("piql", dataset, store, rm_epic_transitions=0, reward_scaling="none", rm_reward_range="none")
    unit = _build("piql", dataset, store, rm_epic_transitions=0, reward_scaling="none")
    assert unit.config.rm_reward_range == "unit"
    r_raw, r_unit = raw.batches.column("rewards").double().numpy(), unit.batches.column("rewards").double().numpy()
    assert r_unit.min() == pytest.approx(0.0, abs=1e-6) and r_unit.max() == pytest.approx(1.0, abs=1e-6)
    # same seed, same reward model: the unit reward is the raw one, shifted and scaled
    expected = (r_raw - r_raw.min()) / (r_raw.max() - r_raw.min())
    np.testing.assert_allclose(r_unit, expected, atol=1e-5)
    from pbrl.settings import ConfigError

    with pytest.raises(ConfigError, match="rm_reward_range"):
        _build("piql", dataset, store, rm_reward_range="minmax")


def test_true_reward_extension_and_epic_of_piql():
    """The least-squares extension recovers a reward in its feature span exactly, and
    P-IQL's EPIC distance is 0 for a reward model equal to it up to shaping and scale."""
    from pbrl.agents.offline._data import OfflineData
    from pbrl.agents.offline.piql import PIQL, true_reward_extension

    rng = np.random.default_rng(0)
    n, gamma = 400, 0.99
    o, a, o2 = rng.normal(size=(n, 3)), rng.uniform(-1, 1, size=(n, 2)), rng.normal(size=(n, 3))
    true = lambda s, act, s2: 0.5 * (s[:, 0] + s2[:, 0]) - 0.1 * (act**2).sum(1) + 1.0  # noqa: E731
    raw = {"observations": o, "actions": a, "next_observations": o2, "rewards": true(o, a, o2), "terminals": np.zeros(n, bool),
           "timeouts": np.arange(n) % 100 == 99, "episode": np.repeat(np.arange(4), 100)}  # fmt: skip
    data = OfflineData.from_transitions({k: np.asarray(v, np.float32) if v.dtype.kind == "f" else v for k, v in raw.items()})
    fn, r2 = true_reward_extension(data)
    assert r2 > 1 - 1e-6
    np.testing.assert_allclose(fn(o[:5], a[:5], o2[:5]), true(o[:5], a[:5], o2[:5]), atol=1e-4)

    class Shaped:  # 3 × (the reward + γΦ(s') − Φ(s)) with Φ(s) = −0.5 s₀ / γ, minus a constant: a function of (s, a)
        kind = "ensemble"

        def reward(self, s, act, aggregate="mean"):
            return 3.0 * (s[:, 0] * (0.5 + 0.5 / gamma) - 0.1 * (act**2).sum(1))

    agent = PIQL({"gamma": gamma, "rm_epic_samples": 64, "compile": "off"}, task="pbrl/HalfCheetah-v5", obs_dim=3, act_dim=2, seed=0)
    agent.reward_model = Shaped()
    assert agent.epic(data) < 0.05


def test_max_pairs_uses_the_first_labels(hopper):
    dataset, store = hopper
    agent = _build("oppo", dataset, store, max_pairs=50)
    assert len(agent.preferences) == 50 and agent.pairs.labels.numel() == 50
    with pytest.raises(ValueError, match="fewer than max_pairs=500"):
        _build("oppo", dataset, store, max_pairs=500)


def test_oppo_z_star_is_drawn_to_the_embeddings_sphere(hopper):
    """z_star_norm adds λ_n(‖z*‖ - 1)² to z*'s update; OPPO's original (off) leaves a far z* far."""
    dataset, store = hopper
    near = _build("oppo", dataset, store)
    assert near.config.z_init_std == 0.25 and near.config.z_star_norm
    pulled = _build("oppo", dataset, store, z_init_std=3.0, lambda_norm=10.0)
    free = _build("oppo", dataset, store, z_init_std=3.0, lambda_norm=10.0, z_star_norm=False)
    start = float(torch.linalg.vector_norm(pulled.z_star.z))
    assert start == pytest.approx(float(torch.linalg.vector_norm(free.z_star.z)))  # same seed, same start
    pulled.fit(200, log_every=100)
    free.fit(200, log_every=100)
    pulled_norm, free_norm = (float(torch.linalg.vector_norm(a.z_star.z)) for a in (pulled, free))
    assert abs(pulled_norm - 1.0) < abs(start - 1.0) - 0.1  # moved towards the unit sphere
    assert abs(pulled_norm - 1.0) < abs(free_norm - 1.0)


def test_iql_reward_range_diagnostic_trains_on_the_rescaled_true_reward(hopper, monkeypatch):
    """benchmarks/iql_reward_range.py: IQL on the true reward, as is or rescaled to [0, 1]."""
    module = load_benchmark("iql_reward_range")
    from pbrl.agents.offline.iql import IQL

    dataset, _ = hopper
    seen = {}
    original = IQL.prepare

    def spy(self, data, preferences):
        seen[type(self).__name__] = np.asarray(self.training_rewards(data))
        return original(self, data, preferences)

    monkeypatch.setattr(IQL, "prepare", spy)
    out = module.run(dataset, "unit", seed=0, steps=20, episodes=2)
    rewards = seen["RangedIQL"]
    assert rewards.min() == pytest.approx(0.0, abs=1e-6) and rewards.max() == pytest.approx(1.0, abs=1e-6)
    assert out["reward_range"] == "unit" and out["length"] >= 1 and np.isfinite(out["return"])
    assert module.main([dataset, "--ranges", "minmax"]) == 2


@pytest.mark.parametrize("name", ["iql", "cpl"])
def test_resume_continues_at_the_saved_step_with_identical_state(hopper, tmp_path, name):
    """Train, checkpoint, train on; a resumed agent continues exactly as the original did."""
    dataset, store = hopper
    hp = {"bc_steps": 15} if name == "cpl" else {}
    first = _build(name, dataset, store, **hp)
    first.fit(20, log_every=10)  # crosses CPL's switch from BC to CPL at step 15
    root = str(tmp_path / "ckpts")
    first.save(root)
    first.fit(10, log_every=10)
    # built afresh, then the checkpoint: for_dataset(checkpoint=...) loads before preparing the data
    resumed = type(first).for_dataset(dataset, first.config, preferences=store if name == "cpl" else None, seed=3, checkpoint=root)
    assert resumed.step == 20
    resumed.fit(10, log_every=10)
    assert torch.equal(resumed.normalizer.mean, first.normalizer.mean) and torch.equal(resumed.normalizer.std, first.normalizer.std)
    for key, module in first.modules().items():
        for (pname, p), q in zip(module.state_dict().items(), resumed.modules()[key].state_dict().values()):
            assert torch.equal(p, q), f"{key}.{pname} differs after resuming"


def test_a_tampered_checkpoint_is_refused(hopper, tmp_path):
    from pbrl.agents.checkpoint import CheckpointError
    from pbrl.agents.offline.iql import IQL

    dataset, store = hopper
    agent = _build("bc", dataset, store)
    folder = agent.save(str(tmp_path / "c"))
    with open(os.path.join(folder, "weights.pt"), "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        type(agent).from_checkpoint(str(tmp_path / "c"))
    good = _build("bc", dataset, store).save(str(tmp_path / "d"))
    with pytest.raises(CheckpointError, match="holds a 'bc' agent, not 'iql'"):
        IQL.from_checkpoint(good)


def test_iql_update_equals_the_single_file_reference():
    """Same weights, same batches: pbrl's fused update (one backward, one Adam with three
    groups, batched twin Q) stays within float rounding of CORL-style separate updates."""
    bench = load_benchmark("offline_speed")
    torch.set_num_threads(1)
    report = bench.check_numerics(bench.synthetic_data(episodes=2), steps=5)
    assert report["max_abs_difference_before"] == 0.0
    assert report["max_abs_difference_after"] < 1e-4, report


def test_compiled_step_matches_the_eager_step(hopper):
    """compile=on traces losses, gradients, Adam and the target update as one function:
    from the same state and rows it gives the eager step's parameters and losses. And it
    really compiles, also after another agent of other sizes compiled its step in this
    process (dynamo used to recompile the one shared step function with symbolic shapes for
    it, inductor failed on them, and the step ran eagerly: the same numbers, so only the
    fallback warning, an error here, shows it)."""
    from pbrl.agents.offline._compiled import CompileFallbackWarning, missing_requirements

    dataset, store = hopper
    with warnings.catch_warnings():
        if not missing_requirements():  # a C++ compiler and Python.h: it must compile
            warnings.simplefilter("error", CompileFallbackWarning)
        other = _build("iql", dataset, store, compile="on", hidden_sizes=[16, 16], batch_size=32)  # the same layers, other sizes
        other.compiled_update()
        eager = _build("iql", dataset, store, compile="off")
        compiled = _build("iql", dataset, store, compile="on")
        for key, module in eager.modules().items():
            compiled.modules()[key].load_state_dict(module.state_dict())
        rng = np.random.default_rng(0)
        for _ in range(3):
            index = torch.as_tensor(rng.integers(0, len(eager.data), 64))
            eager.step_on(eager.batches.split(eager.batches.table.index_select(0, index)))
            compiled.compiled_update(index)
            eager.step += 1
            compiled.step += 1
    for key, module in eager.modules().items():
        for (name, p), q in zip(module.state_dict().items(), compiled.modules()[key].state_dict().values()):
            assert torch.allclose(p, q, atol=1e-5), f"{key}.{name}"
    a, b = eager.pop_losses(), compiled.pop_losses()
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-4 * max(1.0, abs(a[k])) for k in a)
    assert compiled.optimizer.state_dict()["state"][0]["step"].item() == 3  # Adam's state lives in the optimiser
