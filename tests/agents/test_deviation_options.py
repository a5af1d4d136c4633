"""Options that match the reference implementations pbrl's agents cite (issue 17, "deviations").

* IQL: CORL's per-dataset reward scaling and configs, and its deterministic actor;
* Preference Transformer: with and without the preference attention layer (``use_weighted_sum``);
* PEBBLE: B-Pref's buffer-wide k-NN state entropy, its running std, and the burst of
  ``reset_update`` gradient steps after the critic reset.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pbrl.agents.offline.iql import (
    CORL_PRESETS,
    IQL,
    IQLConfig,
    corl_dataset_key,
    corl_reward_transform,
)
from pbrl.settings import ConfigError
from pbrl.agents.offline._data import OfflineData
from pbrl.agents.offline._nets import DeterministicPolicy, GaussianPolicy

# ------------------------------------------------------------------------------------ IQL


def _data(source: str, lengths=(2, 3), rewards=(1.0, 1.0, 2.0, 2.0, 2.0), obs_dim=3, act_dim=2) -> OfflineData:
    n = int(sum(lengths))
    rng = np.random.default_rng(0)
    return OfflineData.from_transitions(
        {"observations": rng.normal(size=(n, obs_dim)), "actions": rng.uniform(-1, 1, (n, act_dim)),
         "rewards": np.asarray(rewards, float), "next_observations": rng.normal(size=(n, obs_dim)),
         "terminals": np.zeros(n, bool), "timeouts": np.zeros(n, bool), "episode": np.repeat(np.arange(len(lengths)), lengths)},
        source=source,
    )  # fmt: skip


SCALED = 1000 / 4  # episode returns 2 and 6: CORL's r * 1000 / (max - min)


@pytest.mark.parametrize(
    "source, corl, locomotion",
    [
        # CORL's yaml sets normalize_reward: true for these two only ...
        ("d4rl/hopper/medium-v2", SCALED, SCALED),
        ("hopper-medium-replay-v2", SCALED, SCALED),
        ("pbrl/hopper/medium-replay-v0", SCALED, SCALED),  # pbrl's generated data, matched by family and level
        # ... and false for every other locomotion dataset, which modify_reward would scale
        ("d4rl/hopper/medium-expert-v2", 1.0, SCALED),
        ("pbrl/halfcheetah/medium-v0", 1.0, SCALED),
        ("walker2d-medium-replay-v2", 1.0, SCALED),
        ("d4rl/hopper/random-v2", 1.0, SCALED),
        # modify_reward touches halfcheetah/hopper/walker2d only (CORL has no IQL config for Ant)
        ("pbrl/ant/medium-v0", 1.0, 1.0),
        ("pbrl/swimmer/medium-v0", 1.0, 1.0),
        ("hand", 1.0, 1.0),
    ],
)
def test_corl_reward_scaling_only_where_corl_scales(source, corl, locomotion):
    data = _data(source)
    assert corl_reward_transform(data, data.rewards, "corl", 1000) == (pytest.approx(corl), 0.0)
    assert corl_reward_transform(data, data.rewards, "locomotion", 1000) == (pytest.approx(locomotion), 0.0)
    # "always": every dataset, by the task's horizon (pbrl's earlier behaviour); "none": nothing
    assert corl_reward_transform(data, data.rewards, "always", 500) == (pytest.approx(500 / 4), 0.0)
    assert corl_reward_transform(data, data.rewards, "none", 1000) == (1.0, 0.0)


def test_corl_antmaze_reward_is_shifted_not_scaled():
    data = _data("antmaze-umaze-diverse-v2")
    assert corl_reward_transform(data, data.rewards, "corl", 1000) == (1.0, -1.0)
    assert corl_reward_transform(data, data.rewards, "locomotion", 1000) == (1.0, -1.0)


def test_corl_dataset_names():
    assert corl_dataset_key("pbrl/hopper/medium-replay-v0") == "hopper-medium-replay"
    assert corl_dataset_key("halfcheetah_medium_expert_v2") == "halfcheetah-medium-expert"
    assert corl_dataset_key("pbrl/Hopper-v5") is None  # a task, not a dataset
    assert corl_dataset_key("pbrl/ant/medium-v0") is None


# CORL configs/offline/iql/*.yaml at eeeeef2 (reference addendum §6): the values that differ from TrainConfig
CORL_TABLE = {
    "halfcheetah-medium-v2": (3.0, 0.7, 0.005, False),
    "hopper-medium-v2": (3.0, 0.7, 0.001, True),
    "hopper-medium-replay-v2": (3.0, 0.7, 0.001, True),
    "hopper-medium-expert-v2": (6.0, 0.5, 0.005, False),
    "walker2d-medium-expert-v2": (3.0, 0.7, 0.005, False),
}


@pytest.mark.parametrize("name", sorted(CORL_TABLE))
def test_corl_preset_takes_the_datasets_config(name):
    beta, expectile, tau, deterministic = CORL_TABLE[name]
    c = IQLConfig.from_dict({"corl_preset": name})
    assert (c.beta, c.expectile, c.tau, c.deterministic_actor) == (beta, expectile, tau, deterministic)
    assert c.reward_scaling == "corl" and c.actor_dropout == 0.0
    # values given explicitly win over the preset
    assert IQLConfig.from_dict({"corl_preset": name, "tau": 0.02}).tau == 0.02


def test_corl_presets_cover_the_locomotion_datasets_and_nothing_else():
    assert len(CORL_PRESETS) == 18
    with pytest.raises(ConfigError, match="corl_preset"):
        IQLConfig.from_dict({"corl_preset": "ant-medium-v2"})
    defaults = IQLConfig.from_dict({})
    assert (defaults.reward_scaling, defaults.deterministic_actor, defaults.corl_preset) == ("corl", False, "none")


def _iql(source: str, **hp) -> IQL:
    data = _data(source, lengths=(40, 60), rewards=np.linspace(0, 2, 100), obs_dim=4, act_dim=2)
    agent = IQL({"hidden_sizes": [16, 16], "batch_size": 32, "compile": "off", "steps": 100, **hp},
                task="pbrl/Hopper-v5", obs_dim=4, act_dim=2, seed=0)  # fmt: skip
    agent.setup(data)
    return agent


def test_iql_trains_on_the_rewards_corl_would():
    scaled, raw = _iql("pbrl/hopper/medium-v0"), _iql("pbrl/halfcheetah/medium-v0")
    assert scaled.reward_factor > 1.0 and raw.reward_factor == 1.0
    np.testing.assert_allclose(raw.batches.split(raw.batches.table)["rewards"].numpy(), raw.data.rewards)
    np.testing.assert_allclose(
        scaled.batches.split(scaled.batches.table)["rewards"].numpy(), scaled.data.rewards * scaled.reward_factor, rtol=1e-6
    )
    with pytest.warns(UserWarning, match="another dataset"):
        _iql("pbrl/halfcheetah/medium-v0", corl_preset="hopper-medium-v2")


def test_deterministic_actor_acts_deterministically_and_clones_by_squared_error():
    det, gauss = _iql("pbrl/hopper/medium-v0", deterministic_actor=True), _iql("pbrl/hopper/medium-v0")
    assert isinstance(det.actor, DeterministicPolicy) and not hasattr(det.actor, "log_std")
    assert isinstance(gauss.actor, GaussianPolicy)
    obs = det.data.observations[:7]
    np.testing.assert_array_equal(det.act(obs), det.act(obs))
    b = det.batches.split(det.batches.table)
    s, a = b["obs"][:32], b["actions"][:32]
    with torch.no_grad():
        np.testing.assert_allclose(det.bc_loss(s, a).numpy(), ((det.actor(s) - a) ** 2).sum(-1).numpy(), rtol=1e-6)
        np.testing.assert_allclose(gauss.bc_loss(s, a).numpy(), (-gauss.actor.log_prob(s, a)).numpy(), rtol=1e-6)
        # the Gaussian's -log π is not the squared error (it has the log-std and 1/σ² terms)
        assert not np.allclose(gauss.bc_loss(s, a).numpy(), ((gauss.actor(s) - a) ** 2).sum(-1).numpy())
        before = float(det.bc_loss(s, a).mean())
    for _ in range(30):
        det.step_on({k: v[:32] for k, v in b.items()})
        det.step += 1
    with torch.no_grad():
        assert float(det.bc_loss(s, a).mean()) < before  # the AWR step clones the data's actions


# ------------------------------------------------------------------- Preference Transformer

OBS, ACT, H = 3, 2, 6


def _pt(attention: bool, **kw):
    from pbrl.rewards.transformer import PreferenceTransformer

    args = {"embed_dim": 32, "pref_attn_dim": 16, "n_heads": 2, "max_len": H, "dropout": 0.0, "seed": 0, "lr": 1e-3, "batch_size": 16}
    return PreferenceTransformer(OBS, ACT, preference_attention=attention, **{**args, **kw})


def test_preference_transformer_default_is_the_published_commands():
    from pbrl.rewards.transformer import PreferenceTransformer

    model = PreferenceTransformer(OBS, ACT, max_len=H)
    assert model.config()["preference_attention"] is False
    assert not hasattr(model.net, "pref") and isinstance(model.net.head[0], torch.nn.Linear)
    assert model.net.head[0].out_features == 128  # PT: Dense(n_embd // 2), relu, Dense(1)


@pytest.mark.parametrize("attention", [False, True])
def test_preference_transformer_shapes(attention):
    model = _pt(attention)
    x = torch.randn(5, H, OBS + ACT)
    z, r, w = model.net(x)
    assert z.shape == r.shape == (5, H) and w.shape == (5, H, H)
    torch.testing.assert_close(w.sum(-1), torch.ones(5, H))
    if attention:
        assert hasattr(model.net, "pref") and not torch.allclose(z, r)
    else:
        torch.testing.assert_close(z, r)
        torch.testing.assert_close(w, torch.eye(H).expand(5, H, H))
    rng = np.random.default_rng(0)
    o, a = rng.normal(size=(4, 2, H, OBS)), rng.uniform(-1, 1, (4, 2, H, ACT))
    assert model.predict_proba(o, a).shape == (1, 4)
    assert model.reward(o[:, 0, 0], a[:, 0, 0]).shape == (4,)
    assert model.trajectory_rewards(o[0, 0], a[0, 0], window=3).shape == (H,)
    out = model.segment_outputs(o[:, 0], a[:, 0])
    np.testing.assert_allclose(model.pair_scores(o, a)[0, :, 0], out["z"].mean(-1), atol=1e-5)


@pytest.mark.parametrize("attention", [False, True])
def test_preference_transformer_training_lowers_the_loss(attention):
    rng = np.random.default_rng(1)
    o = rng.normal(size=(64, 2, H, OBS)).astype(np.float32)
    a = rng.uniform(-1, 1, (64, 2, H, ACT)).astype(np.float32)
    labels = (o[:, 1, :, 0].sum(-1) > o[:, 0, :, 0].sum(-1)).astype(np.float32)  # prefer the larger obs[0]
    model = _pt(attention)
    before = model.fit(o, a, labels, max_epochs=1, target_accuracy=2.0).loss
    after = model.fit(o, a, labels, max_epochs=15, target_accuracy=2.0).loss
    assert after < 0.8 * before, (before, after)


def test_preference_transformer_saved_before_the_option_loads_with_the_layer(tmp_path):
    import json
    import os

    from pbrl.rewards import load_reward_model

    model = _pt(True)
    path = model.save(str(tmp_path / "pt"))
    with open(os.path.join(path, "config.json")) as fh:
        meta = json.load(fh)
    meta["config"].pop("preference_attention")  # as written before the option existed
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump(meta, fh)
    loaded = load_reward_model(path)
    assert loaded.config()["preference_attention"] is True
    o = np.random.default_rng(0).normal(size=(3, 2, H, OBS))
    a = np.zeros((3, 2, H, ACT))
    np.testing.assert_array_equal(loaded.predict_proba(o, a), model.predict_proba(o, a))
    plain = _pt(False)
    plain.save(str(tmp_path / "plain"))
    assert load_reward_model(str(tmp_path / "plain")).config()["preference_attention"] is False


# ------------------------------------------------------------------------------------ PEBBLE


def _brute_force_knn(states: np.ndarray, buffer: np.ndarray, k: int) -> np.ndarray:
    d = np.sqrt(((states[:, None, :].astype(np.float64) - buffer[None].astype(np.float64)) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, k]  # kthvalue(k + 1): the (k+1)-th smallest, the state itself first


@pytest.mark.parametrize("chunk", [7, 64, 5000])
def test_buffer_wide_entropy_equals_brute_force(chunk):
    from pbrl.agents.preference.pebble import buffer_knn_distance

    rng = np.random.default_rng(0)
    buffer = rng.normal(size=(1000, 5)).astype(np.float32)
    idx = rng.integers(0, 1000, 32)
    buf = torch.from_numpy(buffer)
    got = buffer_knn_distance(buf[idx], lambda a, b: buf[a:b], 1000, 5, chunk=chunk).numpy()
    np.testing.assert_allclose(got, _brute_force_knn(buffer[idx], buffer, 5), rtol=1e-4, atol=1e-5)
    # it is not the within-batch estimate
    from pbrl.agents.preference.loop import knn_state_entropy

    assert not np.allclose(got, knn_state_entropy(buf[idx], 5).numpy())


def test_bpref_running_std_is_bprefs_update_as_written():
    from pbrl.agents.preference.pebble import BPrefRunningMeanStd

    # B-Pref utils.TorchRunningMeanStd / update_mean_var_count_from_moments, transcribed
    mean, var, count = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64), 1e-4
    ours = BPrefRunningMeanStd()
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = torch.from_numpy(rng.gamma(2.0, 1.5, size=(256, 1)))
        bm, bv, n = x.mean(0), x.var(0), x.shape[0]
        delta, tot = bm - mean, count + n
        mean = mean + delta + n / tot
        var = (var * count + bv * n + delta**2 * count * n / tot) / tot
        count = tot
        ours.update(x.numpy())
    assert ours.mean == pytest.approx(float(mean), rel=1e-12)
    assert ours.std == pytest.approx(float(torch.sqrt(var)), rel=1e-12)


def test_preference_options_default_to_bpref():
    from pbrl.agents.preference.options import PreferenceOptionError, resolve_preference_options

    sac = resolve_preference_options("sac")
    assert (sac["state_entropy"], sac["reset_update"]) == ("buffer", 100)
    assert resolve_preference_options("sac", {"state_entropy": "batch", "reset_update": 0})["state_entropy"] == "batch"
    with pytest.raises(PreferenceOptionError, match="reset_update"):
        resolve_preference_options("ppo", {"reset_update": 5})
    with pytest.raises(PreferenceOptionError, match="state_entropy"):
        resolve_preference_options("sac", {"state_entropy": "global"})


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    from pbrl.agents import make_preference_agent, resolve
    from pbrl.agents.preference.options import resolve_preference_options

    task = "pbrl/InvertedPendulum-v5"
    hp = resolve("sac", task, {"learning_starts": 200, "batch_size": 32, "net_arch": [16, 16], "n_envs": 2})
    pref = resolve_preference_options("sac", {"reward_hidden": [16], "unsup_steps": 5000, "segment_length": 10,
                                              "reset_update": 7}, 60)  # fmt: skip
    agent = make_preference_agent("sac", task, hp, preference=pref, teacher="oracle", feedback=60,
                                  store_path=str(tmp_path_factory.mktemp("pebble") / "prefs.sqlite"), seed=0)  # fmt: skip
    agent.learn(300)  # random steps, then a few updates on the bonus; no feedback round yet
    yield agent
    agent.close()


def test_pebble_bonus_is_the_buffer_wide_knn_distance_over_bprefs_std(pebble):
    rb = pebble.model.replay_buffer
    assert pebble.state_entropy == "buffer" and not pebble.preference_loop.model_ready
    data = rb.sample(32)
    size = pebble.replay_size()
    everything = rb.observations[:size].reshape(size * rb.n_envs, -1)
    expected = _brute_force_knn(data.observations.numpy(), everything, pebble.knn_k) / pebble.entropy_stats.std
    np.testing.assert_allclose(data.rewards.numpy().reshape(-1), expected, rtol=1e-4, atol=1e-5)


def test_pebble_runs_reset_update_gradient_steps_after_the_first_reset_only(pebble, monkeypatch):
    monkeypatch.setattr(pebble, "relabel_with_model", lambda: 0)  # no reward model in this test
    model = pebble.model
    critic = [p.detach().clone() for p in model.policy.critic.parameters()]
    start = model._n_updates
    pebble.on_reward_update(None, first=True)
    assert model._n_updates - start == 7  # reset_update
    assert not model.policy.training  # back in collection mode
    # the critics were reset and then trained by the burst
    assert any(not torch.equal(a, b) for a, b in zip(critic, model.policy.critic.parameters()))
    pebble.on_reward_update(None, first=False)  # later reward updates: relabel only
    assert model._n_updates - start == 7
    monkeypatch.setattr(pebble, "reset_update", 0)
    pebble.on_reward_update(None, first=True)
    assert model._n_updates - start == 7
