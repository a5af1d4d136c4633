"""SURF's parts on their own: pseudo-labels, temporal crops, long queries judged in the centre."""

from __future__ import annotations

import numpy as np
import torch

from pbrl.agents.preference.loop import central
from pbrl.agents.preference.methods import query_horizon
from pbrl.agents.preference.options import resolve_preference_options
from pbrl.preferences import SegmentBatch
from pbrl.rewards.crop import crop_mask
from pbrl.rewards.surf import SURFEnsemble, pseudo_labels


def test_pseudo_labels_only_where_the_model_is_at_least_tau_confident():
    p = torch.tensor([0.0, 0.005, 0.0101, 0.3, 0.5, 0.7, 0.989, 0.99, 0.999, 1.0])
    labels, confident = pseudo_labels(p, 0.99)
    assert confident.tolist() == [True, True, False, False, False, False, False, True, True, True]
    assert labels.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]  # the preferred side; only confident ones count


def test_crops_are_windows_inside_the_segment_with_lengths_in_range():
    rng = np.random.default_rng(0)
    m = crop_mask((4000, 2), 60, 45, 55, rng)
    lengths = m.sum(-1)
    assert lengths.min() == 45 and lengths.max() == 55 and set(np.unique(lengths)) == set(range(45, 56))
    # one contiguous run per segment: exactly one rising edge and one falling edge (or the segment's end)
    edges = np.diff(m.astype(int), axis=-1, prepend=0, append=0)
    assert np.all((edges == 1).sum(-1) == 1) and np.all((edges == -1).sum(-1) == 1)
    # the two segments of a pair are cropped independently
    assert (m[:, 0] != m[:, 1]).any(-1).mean() > 0.9
    # a range wider than the segment is clipped to it
    assert crop_mask((50,), 8, 5, 20, rng).sum(-1).max() == 8


def test_queries_are_cut_longer_and_the_teacher_judges_their_central_h_steps():
    opt = resolve_preference_options("sac", {"method": "surf", "segment_length": 50}, 100)
    assert query_horizon(opt) == 60 and query_horizon({**opt, "method": "none"}) == 50
    b, s = 3, 60
    rewards = np.tile(np.arange(s, dtype=float), (b, 1))
    batch = SegmentBatch(np.zeros((b, s, 2)), np.zeros((b, s, 1)), rewards, start=[0, 7, -1], extras={"qpos": np.zeros((b, s, 3))})
    mid = central(batch, 5)
    assert mid.horizon == 50 and mid.rewards[0, 0] == 5 and mid.rewards[0, -1] == 54
    assert mid.start.tolist() == [5, 12, -1] and mid.extras["qpos"].shape == (b, 50, 3)


def _pairs(n, h, rng):
    """Pairs whose true reward is the first feature; label 1 = the second segment has the larger sum."""
    obs = rng.normal(size=(n, 2, h, 3)).astype(np.float32)
    labels = (obs[:, 1, :, 0].sum(-1) > obs[:, 0, :, 0].sum(-1)).astype(np.float32)
    return obs, np.zeros((n, 2, h, 1), np.float32), labels


def test_the_pseudo_label_loss_counts_only_confident_pairs():
    rng = np.random.default_rng(1)
    pool_obs, pool_act, _ = _pairs(64, 20, rng)
    model = SURFEnsemble(3, 1, hidden_sizes=(32, 32), window=5, crop_range=3, threshold=1.0, seed=0)
    assert model._extra_loss(16) is None  # no pool yet
    model.set_unlabelled(pool_obs, pool_act)
    # an untrained model is never 100 % sure: no pair gets a pseudo-label, the added loss is exactly 0
    assert float(model._extra_loss(16).detach()) == 0.0 and model.last_confident == 0.0
    model.threshold = 0.5  # every pair is at least 50 % sure: all count
    assert float(model._extra_loss(16).detach()) > 0 and model.last_confident == 1.0
    model.lam = 0.0
    assert model._extra_loss(16) is None
