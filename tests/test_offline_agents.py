"""Every offline agent trains on a tiny dataset (+ preferences), acts, and survives a
save/load/resume round trip; pbrl's IQL update equals the single-file reference IQL's."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

from offline_support import datasets_root, label, make_hopper_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    from pbrl.agents.offline.base import OfflineAgent

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
    agent.save(str(tmp_path / "ckpt"))
    path = agent.save_reward_model(str(tmp_path / "rm"))
    from pbrl.rewards import load_reward_model

    model = load_reward_model(path)
    x = agent.data.observations[:50], agent.data.actions[:50]
    assert np.allclose(model.reward(*x), agent.reward_model.reward(*x))
    resumed = type(agent).for_dataset(dataset, agent.config, preferences=store, seed=3, checkpoint=str(tmp_path / "ckpt"))
    assert np.allclose(resumed.reward_model.reward(*x), agent.reward_model.reward(*x))  # the saved model, not a refit
    assert torch.equal(resumed.batches.column("rewards"), agent.batches.column("rewards"))


def test_max_pairs_uses_the_first_labels(hopper):
    dataset, store = hopper
    agent = _build("oppo", dataset, store, max_pairs=50)
    assert len(agent.preferences) == 50 and agent.pair_labels.numel() == 50
    with pytest.raises(ValueError, match="fewer than max_pairs=500"):
        _build("oppo", dataset, store, max_pairs=500)


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
    from pbrl.agents.iql import IQL

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


def _load_reference():
    path = os.path.join(ROOT, "benchmarks", "offline_speed.py")
    spec = importlib.util.spec_from_file_location("pbrl_benchmark_offline_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_iql_update_equals_the_single_file_reference():
    """Same weights, same batches: pbrl's fused update (one backward, one Adam with three
    groups, batched twin Q) stays within float rounding of CORL-style separate updates."""
    bench = _load_reference()
    torch.set_num_threads(1)
    report = bench.check_numerics(bench.synthetic_data(episodes=2), steps=5)
    assert report["max_abs_difference_before"] == 0.0
    assert report["max_abs_difference_after"] < 1e-4, report


def test_compiled_step_matches_the_eager_step(hopper):
    """compile=on traces losses, gradients, Adam and the target update as one function:
    from the same state and rows it gives the eager step's parameters and losses."""
    dataset, store = hopper
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
