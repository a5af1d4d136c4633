"""QPA's parts on their own: queries only from the recent episodes, hybrid replay batches, its defaults."""

from __future__ import annotations

import numpy as np

from pbrl.agents.preference.options import resolve_preference_options
from pbrl.agents.preference.qpa import RecentEpisodeSampler, hybrid_rows
from pbrl.preferences import SegmentSampler, TrajectoryBuffer


def _buffer(episodes: int, length: int = 12) -> TrajectoryBuffer:
    """One episode after another; each step's observation is its episode's number."""
    buf = TrajectoryBuffer(capacity=10_000)
    obs = np.repeat(np.arange(episodes, dtype=np.float32), length)[:, None].repeat(2, 1)
    buf.add_episodes(obs, np.zeros((len(obs), 1), np.float32), np.zeros(len(obs)), episode_lengths=[length] * episodes)
    return buf


def test_queries_come_only_from_the_last_n_episodes():
    buf = _buffer(30)
    recent = RecentEpisodeSampler(buf, horizon=5, seed=0, recent=10).sample(2000)
    assert set(np.unique(recent.obs[..., 0])) == set(range(20, 30))  # the last ten, each of them
    everything = SegmentSampler(buf, horizon=5, seed=0).sample(2000)
    assert np.unique(everything.obs[..., 0]).size == 30
    assert RecentEpisodeSampler(_buffer(4), horizon=5, seed=0, recent=10).sample(100).obs.shape[0] == 100  # fewer held


def test_hybrid_batches_take_the_ratio_from_the_recent_rows():
    rng = np.random.default_rng(0)
    rows = hybrid_rows(size=1000, pos=1000, buffer_size=5000, batch=256, recent_rows=100, ratio=0.5, rng=rng)
    old, new = rows[:128], rows[128:]
    assert rows.size == 256 and np.all((new >= 900) & (new < 1000))
    assert np.all((old >= 0) & (old < 1000)) and (old < 900).mean() > 0.8  # the other half: uniform over the buffer
    # a full ring: the recent rows are the ones written just before pos, wrapping around
    rows = hybrid_rows(size=500, pos=30, buffer_size=500, batch=1000, recent_rows=50, ratio=0.25, rng=rng)
    new = rows[750:]
    assert set(np.unique(new)) == set(range(0, 30)) | set(range(480, 500))
    assert hybrid_rows(1000, 1000, 5000, 64, 100, 0.0, rng).max() < 1000 and hybrid_rows(1000, 1000, 5000, 64, 0, 0.5, rng).size == 64


def test_qpa_defaults_and_its_options_apply_to_qpa_only():
    opt = resolve_preference_options("sac", {"method": "qpa"}, 100)
    assert opt["ensemble_size"] == 1 and opt["selection"] == "uniform" and opt["target_accuracy"] == 0.98
    assert opt["qpa_recent_episodes"] == 10 and opt["qpa_hybrid_ratio"] == 0.5 and opt["qpa_aug_ratio"] == 20
    # the user's own values win over the method's defaults
    assert resolve_preference_options("sac", {"method": "qpa", "ensemble_size": 3}, 100)["ensemble_size"] == 3
    assert resolve_preference_options("sac", {}, 100)["ensemble_size"] == 3  # PEBBLE's unchanged


def test_qpa_crops_leave_out_5_to_15_steps():
    import torch

    from pbrl.rewards.qpa import QPAEnsemble

    model = QPAEnsemble(3, 1, n_members=1, hidden_sizes=(8,), seed=0)
    lengths = model._batch_mask(None, (1, 4000, 2, 50)).sum(-1)
    assert int(lengths.min()) == 35 and int(lengths.max()) == 45
    pad = torch.zeros(1, 10, 2, 50, dtype=torch.bool)
    pad[..., :20] = True  # a short episode: only the first 20 steps are real
    assert int(model._batch_mask(pad, (1, 10, 2, 50)).sum(-1).max()) <= 20
