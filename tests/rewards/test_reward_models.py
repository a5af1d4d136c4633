"""Learned reward models: Bradley–Terry loss, batched ensemble, Preference Transformer,
metrics (accuracy, correlation, EPIC), safe persistence and bad input."""

from __future__ import annotations

import json
import math
import os

import gymnasium as gym
import numpy as np
import pytest
import torch

import pbrl  # noqa: F401  (registers the pbrl/* envs)
from pbrl.rewards.bradley_terry import bradley_terry_loss, segment_score
from pbrl.rewards.model import LearnedRewardSource
from pbrl.rewards.ensemble import RewardEnsemble
from pbrl.rewards.metrics import (
    epic_distance,
    pearson_distance,
    preference_accuracy,
    reward_correlation,
)
from pbrl.rewards.persist import CheckpointError, load_reward_model
from pbrl.rewards.source import RewardSource
from pbrl.rewards.transformer import PreferenceTransformer
from repo_support import load_benchmark

H = 25  # segment length used in these tests
OBS_DIM, ACT_DIM = 17, 6


# ----------------------------------------------------------------------- data


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small models on 2 busy cores run 3-4x faster on one thread (see BENCHMARKS.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cheetah():
    """Random-action HalfCheetah transitions and 600 segment pairs labelled by true return."""
    env = gym.make_vec("pbrl/HalfCheetah-v5", num_envs=8)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    steps = 400
    o = np.zeros((steps, 8, OBS_DIM), np.float32)
    a = np.zeros((steps, 8, ACT_DIM), np.float32)
    o2 = np.zeros((steps, 8, OBS_DIM), np.float32)
    r = np.zeros((steps, 8))
    for t in range(steps):  # < 1000 steps: no episode ends, no autoreset inside the data
        act = env.action_space.sample()
        nxt, rew, _, _, _ = env.step(act)
        o[t], a[t], o2[t], r[t] = obs, act, nxt, rew
        obs = nxt
    env.close()
    rng = np.random.default_rng(0)
    n = 600
    env_idx = rng.integers(0, 8, (n, 2))[..., None]
    start = rng.integers(0, steps - H, (n, 2))[..., None] + np.arange(H)
    pair_obs, pair_act = o[start, env_idx], a[start, env_idx]  # (n, 2, H, dim)
    returns = r[start, env_idx].sum(-1)
    labels = (returns[:, 1] > returns[:, 0]).astype(np.float32)  # 1 = second preferred
    return {
        "obs": o.reshape(-1, OBS_DIM),
        "actions": a.reshape(-1, ACT_DIM),
        "next_obs": o2.reshape(-1, OBS_DIM),
        "rewards": r.reshape(-1),
        "pair_obs": pair_obs,
        "pair_act": pair_act,
        "labels": labels,
    }


def small_ensemble(**kw) -> RewardEnsemble:
    kw.setdefault("hidden_sizes", (32, 32))
    kw.setdefault("seed", 0)
    return RewardEnsemble(OBS_DIM, ACT_DIM, **kw)


def small_pt(**kw) -> PreferenceTransformer:
    args = dict(embed_dim=32, pref_attn_dim=32, n_heads=2, max_len=H, dropout=0.0, seed=0)
    args.update(kw)
    return PreferenceTransformer(OBS_DIM, ACT_DIM, **args)


def random_pairs(b=6, h=5, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(b, 2, h, OBS_DIM)).astype(np.float32),
        rng.uniform(-1, 1, (b, 2, h, ACT_DIM)).astype(np.float32),
    )


# ------------------------------------------------------------ Bradley–Terry loss


def test_bradley_terry_loss_hand_computed():
    # per-step rewards of one pair: σ¹ = (0.5, 0.5), σ² = (0, −1)
    r1 = torch.tensor([[0.5, 0.5]])
    r2 = torch.tensor([[0.0, -1.0]])
    # sum: s¹ = 1, s² = −1; P(σ² ≻ σ¹) = e^−1 / (e^1 + e^−1) = 1 / (1 + e²)
    s1, s2 = segment_score(r1, "sum"), segment_score(r2, "sum")
    loss = lambda y: float(bradley_terry_loss(s1, s2, torch.tensor([y])))  # noqa: E731
    assert loss(1.0) == pytest.approx(2.1269280110429727, abs=1e-6)  # log(1 + e²)
    assert loss(0.0) == pytest.approx(0.1269280110429725, abs=1e-6)  # log(1 + e⁻²)
    assert loss(0.5) == pytest.approx(1.1269280110429727, abs=1e-6)  # ½·(2.1269 + 0.1269)
    # mean over time: s¹ = 0.5, s² = −0.5
    m1, m2 = segment_score(r1, "mean"), segment_score(r2, "mean")
    assert float(bradley_terry_loss(m1, m2, torch.tensor([1.0]))) == pytest.approx(1.3132616875182228, abs=1e-6)
    assert float(bradley_terry_loss(m1, m2, torch.tensor([0.0]))) == pytest.approx(0.3132616875182228, abs=1e-6)
    assert float(bradley_terry_loss(m1, m2, torch.tensor([0.5]))) == pytest.approx(0.8132616875182228, abs=1e-6)
    # batched over members, unreduced
    both = bradley_terry_loss(torch.stack([s1, m1]), torch.stack([s2, m2]), torch.tensor([1.0]), reduction="none")
    np.testing.assert_allclose(both.numpy().ravel(), [2.1269280, 1.3132617], atol=1e-6)


def test_model_loss_matches_formula_for_sum_and_mean():
    obs, act = random_pairs(b=4, h=3)
    labels = np.array([0, 1, 0.5, 1], np.float32)
    for mode in ("sum", "mean"):
        model = small_ensemble(segment_score=mode)
        r = model.member_rewards(obs.reshape(-1, OBS_DIM), act.reshape(-1, ACT_DIM)).reshape(3, 4, 2, 3)
        s = r.sum(-1) if mode == "sum" else r.mean(-1)
        p2 = np.exp(s[..., 1]) / (np.exp(s[..., 0]) + np.exp(s[..., 1]))
        expected = -((1 - labels) * np.log(1 - p2) + labels * np.log(p2)).mean(-1).mean()
        assert model.evaluate(obs, act, labels)["loss"] == pytest.approx(expected, abs=1e-5)
        np.testing.assert_allclose(model.predict_proba(obs, act), p2, atol=1e-6)


# ------------------------------------------------------------- batched ensemble


def test_batched_ensemble_equals_loop_over_members():
    model = RewardEnsemble(OBS_DIM, ACT_DIM, n_members=3, seed=1)  # B-Pref size: 3 × (256, 256, 256)
    net = model.net
    members = [net.member(i) for i in range(3)]
    x = torch.randn(257, OBS_DIM + ACT_DIM)
    with torch.no_grad():
        loop = torch.stack([members[i](x).squeeze(-1) for i in range(3)])
        torch.testing.assert_close(net(x), loop, atol=1e-6, rtol=0)
        xm = torch.randn(3, 64, OBS_DIM + ACT_DIM)  # one batch per member (training)
        loop_m = torch.stack([members[i](xm[i]).squeeze(-1) for i in range(3)])
        torch.testing.assert_close(net(xm), loop_m, atol=1e-6, rtol=0)
    # the public numpy path and aggregation
    o, a = x[:, :OBS_DIM].numpy(), x[:, OBS_DIM:].numpy()
    r = model.member_rewards(o, a)
    np.testing.assert_allclose(r, loop.numpy(), atol=1e-6)
    np.testing.assert_allclose(model.reward(o, a), loop.mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(model.reward(o, a, aggregate="min"), loop.min(0).values.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        model.reward(o, a, aggregate="mean_minus_std", k=2.0),
        (loop.mean(0) - 2.0 * loop.std(0, unbiased=False)).numpy(),
        atol=1e-6,
    )


def test_micro_batched_training_step_equals_one_pass():
    obs, act = random_pairs(b=24, h=6, seed=2)
    labels = np.array([0, 1, 0.5] * 8, np.float32)
    one, micro = small_ensemble(seed=5), small_ensemble(seed=5)
    one.train_chunk_rows = 10**9  # the whole batch in one pass
    micro.train_chunk_rows = 30  # ~3 pairs per pass
    r1 = one.fit(obs, act, labels, max_epochs=2, batch_size=16)
    r2 = micro.fit(obs, act, labels, max_epochs=2, batch_size=16)
    assert r1.member_loss == pytest.approx(r2.member_loss, abs=1e-6)
    for (name, p1), p2 in zip(one.net.named_parameters(), micro.net.parameters()):
        torch.testing.assert_close(p1, p2, atol=1e-6, rtol=0, msg=name)


def test_pair_forms_agree_and_probabilities_shape():
    model = small_ensemble(n_members=4)
    obs, act = random_pairs(b=5, h=4)
    p = model.predict_proba(obs, act)
    assert p.shape == (4, 5) and (p >= 0).all() and (p <= 1).all()
    p2 = model.predict_proba((obs[:, 0], obs[:, 1]), (act[:, 0], act[:, 1]))
    np.testing.assert_allclose(p, p2)
    swapped = model.predict_proba(obs[:, ::-1], act[:, ::-1])
    np.testing.assert_allclose(p + swapped, 1.0, atol=1e-6)


def test_padding_mask_leaves_scores_of_real_steps():
    obs, act = random_pairs(b=3, h=10)
    mask = np.ones((3, 2, 10), bool)
    mask[:, :, 7:] = False
    garbage_obs, garbage_act = obs.copy(), act.copy()
    garbage_obs[:, :, 7:] = 50.0
    garbage_act[:, :, 7:] = 0.0
    for model in (small_ensemble(segment_score="mean"), small_pt()):
        want = model.pair_scores(obs[:, :, :7], act[:, :, :7])
        got = model.pair_scores(garbage_obs, garbage_act, mask=mask)
        np.testing.assert_allclose(got, want, atol=1e-5)


# ------------------------------------------------------------------ learning


def test_ensemble_learns_halfcheetah_preferences(cheetah):
    d = cheetah
    model = small_ensemble(hidden_sizes=(64, 64, 64))
    result = model.fit(d["pair_obs"][:400], d["pair_act"][:400], d["labels"][:400], max_epochs=30)
    assert result.n_pairs == 400 and result.epochs >= 1 and len(result.member_accuracy) == 3
    held_out = model.evaluate(d["pair_obs"][400:], d["pair_act"][400:], d["labels"][400:])
    assert held_out["accuracy"] > 0.8, held_out
    probs = model.predict_proba(d["pair_obs"][400:], d["pair_act"][400:])
    assert preference_accuracy(probs, d["labels"][400:]) == pytest.approx(held_out["accuracy"])
    source = model.as_reward_source()
    rho = reward_correlation(source, d["obs"], d["actions"], d["next_obs"], d["rewards"])
    assert rho > 0.3, rho
    # the reward-source contract: (obs, action, next_obs, info) -> (N,) float64
    assert isinstance(source, RewardSource)
    r = source(d["obs"][:8], d["actions"][:8], d["next_obs"][:8], {"x_velocity": np.zeros(8)})
    assert r.shape == (8,) and r.dtype == np.float64
    mean, low, worst = (
        LearnedRewardSource(model, agg)(d["obs"][:64], d["actions"][:64]) for agg in ("mean", "mean_minus_std", "min")
    )
    assert (low <= mean + 1e-7).all() and (worst <= mean + 1e-7).all()


def test_transformer_learns_halfcheetah_preferences(cheetah):
    d = cheetah
    model = small_pt(embed_dim=64, pref_attn_dim=64, lr=3e-4, batch_size=64, normalize_inputs=True)
    result = model.fit(d["pair_obs"][:400], d["pair_act"][:400], d["labels"][:400], max_epochs=12)
    assert result.epochs >= 1
    held_out = model.evaluate(d["pair_obs"][400:], d["pair_act"][400:], d["labels"][400:])
    assert held_out["accuracy"] > 0.7, held_out
    assert model.predict_proba(d["pair_obs"][:5], d["pair_act"][:5]).shape == (1, 5)
    rho = reward_correlation(model.as_reward_source(), d["obs"], d["actions"], d["next_obs"], d["rewards"])
    assert rho > 0.0, rho


def test_fit_counts_ties_and_skips_and_bootstrap_runs():
    obs, act = random_pairs(b=8, h=4)
    labels = np.array([0, 1, 0.5, np.nan, 1, 0, 0.5, 1], np.float32)
    result = small_ensemble(sampling="bootstrap").fit(obs, act, labels, max_epochs=2)
    assert (result.n_pairs, result.n_ties, result.n_skipped) == (7, 2, 1)
    assert result.epochs <= 2 and math.isfinite(result.loss)
    result = small_pt().fit(obs, act, labels, max_epochs=1)
    assert (result.n_pairs, result.n_ties, result.n_skipped) == (7, 2, 1)


def test_transformer_per_step_rewards_are_consistent():
    model = small_pt(max_len=10)
    rng = np.random.default_rng(3)
    o = rng.normal(size=(30, OBS_DIM)).astype(np.float32)
    a = rng.uniform(-1, 1, (30, ACT_DIM)).astype(np.float32)
    traj = model.trajectory_rewards(o, a, window=10)
    assert traj.shape == (30,)
    # step 0 of an episode: the window holds that step only = the single-step reward
    assert traj[0] == pytest.approx(float(model.reward(o[:1], a[:1])[0]), abs=1e-5)
    # a full window: the last output of the segment ending at t
    out = model.segment_outputs(o[None, 11:21], a[None, 11:21])
    assert traj[20] == pytest.approx(float(out["z"][0, -1]), abs=1e-5)
    # a partial window at the episode start: the segment of steps 0..3
    out = model.segment_outputs(o[None, :4], a[None, :4])
    assert traj[3] == pytest.approx(float(out["z"][0, -1]), abs=1e-5)
    np.testing.assert_allclose(out["importance"].sum(-1), 1.0, atol=1e-5)
    # the segment score is the mean of the attention outputs
    score = model.pair_scores(np.stack([o[:4], o[4:8]])[None], np.stack([a[:4], a[4:8]])[None])
    assert score[0, 0, 0] == pytest.approx(float(out["z"].mean()), abs=1e-5)


# ----------------------------------------------------------------------- EPIC


def test_epic_distance_ignores_shaping_and_scale(cheetah):
    d = cheetah
    o, a, o2 = d["obs"][:600], d["actions"][:600], d["next_obs"][:600]
    gamma = 0.99

    def true_reward(s, act, s2):  # forward velocity minus control cost
        return s2[:, 8] - 0.1 * (act**2).sum(1)

    def potential(s):
        return 3.0 * np.sin(s[:, 0] * 5) + s[:, 9] ** 2 + 2.0 * s[:, 1]

    def shaped(s, act, s2):
        return 2.5 * true_reward(s, act, s2) + 0.7 + gamma * potential(s2) - potential(s)

    def unrelated(s, act, s2):
        return np.cos(s[:, 3] * 3) * s2[:, 5] + act[:, 0] * act[:, 2]

    same = epic_distance(true_reward, shaped, o, a, o2, gamma=gamma, n_samples=128)
    other = epic_distance(true_reward, unrelated, o, a, o2, gamma=gamma, n_samples=128)
    assert same < 1e-3, same
    assert other > 0.3, other
    assert epic_distance(true_reward, true_reward, o, a, o2, n_samples=16) < 1e-6
    # without canonicalisation the shaped reward looks different
    assert pearson_distance(true_reward(o, a, o2), shaped(o, a, o2)) > 0.05
    # a learned reward source plugs in directly
    model = small_ensemble()
    dist = epic_distance(model.as_reward_source(), true_reward, o[:100], a[:100], o2[:100], n_samples=16)
    assert 0.0 <= dist <= 1.0


# ---------------------------------------------------------------- persistence


class NotAllowed:
    """A class torch.load(weights_only=True) must refuse to unpickle."""

    def __init__(self):
        self.payload = "anything"


def test_save_load_round_trip(tmp_path):
    obs, act = random_pairs(b=16, h=5)
    labels = (np.arange(16) % 2).astype(np.float32)
    for model in (small_ensemble(normalize_inputs=True), small_pt(normalize_inputs=True)):
        model.fit(obs, act, labels, max_epochs=2)
        path = str(tmp_path / model.kind)
        model.save(path)
        model.save(path)  # overwrite: still one weights file
        files = sorted(os.listdir(path))
        assert files[0] == "config.json" and len(files) == 2 and files[1].startswith("weights-")
        loaded = load_reward_model(path)
        assert type(loaded) is type(model) and loaded.config() == model.config()
        np.testing.assert_array_equal(loaded.predict_proba(obs, act), model.predict_proba(obs, act))
        np.testing.assert_array_equal(
            loaded.reward(obs[:, 0, 0], act[:, 0, 0]), model.reward(obs[:, 0, 0], act[:, 0, 0])
        )
        assert loaded.optimizer.state_dict()["state"].keys() == model.optimizer.state_dict()["state"].keys()
        type(model).load(path).fit(obs, act, labels, max_epochs=1)  # resumes training
    with pytest.raises(CheckpointError, match="not 'transformer'"):
        PreferenceTransformer.load(str(tmp_path / "ensemble"))


def test_load_refuses_tampered_pickled_and_foreign_files(tmp_path):
    model = small_ensemble()
    path = str(tmp_path / "rm")
    model.save(path)
    meta = json.loads((tmp_path / "rm" / "config.json").read_text())
    weights = tmp_path / "rm" / meta["weights"]
    original = weights.read_bytes()

    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_reward_model(path)

    # a pickled object, with the hash forged to match: weights_only refuses it
    import hashlib
    import io

    buf = io.BytesIO()
    torch.save({"format": "pbrl.reward_model", "kind": "ensemble", "states": {"net": NotAllowed()}}, buf)
    weights.write_bytes(buf.getvalue())
    meta["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (tmp_path / "rm" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_reward_model(path)

    with pytest.raises(CheckpointError, match="no config.json"):
        load_reward_model(str(tmp_path))
    with pytest.raises(CheckpointError, match="is a file"):
        load_reward_model(str(weights))
    (tmp_path / "rm" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_reward_model(path)
    (tmp_path / "rm" / "config.json").write_text(json.dumps(dict(meta, weights="../../etc/passwd")))
    with pytest.raises(CheckpointError, match="weights file name"):
        load_reward_model(path)


# ------------------------------------------------------------------ bad input


def test_bad_shapes_are_refused():
    model = small_ensemble()
    obs, act = random_pairs(b=4, h=5)
    labels = np.array([0, 1, 1, 0], np.float32)
    with pytest.raises(ValueError, match="same shape"):
        model.fit((obs[:, 0], obs[:, 1, :, :4]), act, labels)
    with pytest.raises(ValueError, match="obs_dim is 17"):
        model.fit(obs[..., :16], act, labels)
    with pytest.raises(ValueError, match="act_dim is 6"):
        model.predict_proba(obs, act[..., :5])
    with pytest.raises(ValueError, match=r"\(B, 2, H, obs_dim\)"):
        model.fit(obs[:, 0], act, labels)
    with pytest.raises(ValueError, match="disagree on"):
        model.fit(obs, act[:, :, :4], labels)
    with pytest.raises(ValueError, match="3 labels for 4"):
        model.fit(obs, act, labels[:3])
    with pytest.raises(ValueError, match="NaN or inf"):
        bad = obs.copy()
        bad[1, 0, 2, 3] = np.nan
        model.fit(bad, act, labels)
    with pytest.raises(ValueError, match="no real step"):
        mask = np.ones((4, 2, 5), bool)
        mask[2, 1] = False
        model.fit(obs, act, labels, mask=mask)
    with pytest.raises(ValueError, match="max_len"):
        small_pt(max_len=4).fit(obs, act, labels)
    with pytest.raises(ValueError, match=r"expected shape \(N, obs_dim=17\)"):
        model.reward(obs[0, 0, :, :10], act[0, 0])
    with pytest.raises(ValueError, match="aggregate"):
        model.as_reward_source("median")


def test_bad_labels_and_empty_sets_are_refused():
    model = small_ensemble()
    obs, act = random_pairs(b=4, h=5)
    with pytest.raises(ValueError, match=r"labels\[1\] = 2.*labels\[3\] = -1"):
        model.fit(obs, act, np.array([0, 2, 1, -1], np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.fit(obs[:0], act[:0], np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="all 4 preference pairs are skipped"):
        model.fit(obs, act, np.full(4, np.nan, np.float32))
    with pytest.raises(ValueError, match="empty"):
        preference_accuracy(np.zeros(0), np.zeros(0))


def test_nan_from_the_model_is_reported_with_its_cause():
    obs, act = random_pairs(b=4, h=5)
    model = small_ensemble()
    with torch.no_grad():
        model.net.weights[1][2, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"weights are non-finite \(weight1\)"):
        model.reward(obs[0, 0], act[0, 0])
    with pytest.raises(FloatingPointError, match="non-finite"):
        model.predict_proba(obs, act)
    # finite inputs and weights that overflow: named as an overflow
    model = small_ensemble(output_activation="identity")
    with pytest.raises(FloatingPointError, match="overflowed"):
        model.reward(np.full((2, OBS_DIM), 3e38, np.float32), np.zeros((2, ACT_DIM), np.float32))
    # a diverging fit raises and restores the weights it started from
    model = small_ensemble(output_activation="identity", lr=1e37)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    labels = np.array([0, 1, 1, 0], np.float32)
    with pytest.raises(FloatingPointError, match="diverged.*restored"):
        model.fit(obs * 1e3, act, labels, max_epochs=50)
    for k, v in model.net.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)


# ------------------------------------------------------------------ benchmark


def test_benchmark_quick_smoke(tmp_path, capsys):

    bench = load_benchmark("reward_model")
    out = tmp_path / "reward_model.json"
    assert bench.main(["--quick", "--seconds", "0.02", "--threads", "1", "--json", str(out)]) == 0
    assert "ensemble train steps/s" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert {"machine", "load", "config", "results", "notes"} <= set(report)
    res = report["results"]["1"]
    assert res["training"]["batched_steps_per_s"] > 0 and res["training"]["loop_steps_per_s"] > 0
    assert set(res["reward"]) == {"8", "1024"} and all(r["batched_over_loop"] > 0 for r in res["reward"].values())
    assert res["transformer"]["train_steps_per_s"] > 0
