"""Each offline loss against a hand-computed case, and the batched twin Q against two separate MLPs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pbrl.agents.offline.bc import bc_loss, top_episodes
from pbrl.agents.offline.cpl import biased_bce_with_logits, biased_bce_with_scores
from pbrl.agents.offline.ipl import preference_bce
from pbrl.agents.offline.iql import awr_weights, expectile_loss
from pbrl.agents.offline._data import OfflineData, SegmentIndex, reward_scale
from pbrl.agents.offline._nets import Dropout, EnsembleMLP, GaussianPolicy, TwinQ, mlp
from pbrl.agents.offline.oppo import norm_loss, reconstruction_loss, triplet_loss


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def test_expectile_loss_by_hand():
    # u = -1 weighs |0.7 - 1| = 0.3, u = 2 weighs 0.7: mean(0.3 * 1, 0.7 * 4) = 1.55
    assert expectile_loss(t(-1.0, 2.0), 0.7).item() == pytest.approx(1.55)
    # τ = 0.5 is half the squared error
    assert expectile_loss(t(-2.0, 2.0), 0.5).item() == pytest.approx(2.0)


def test_awr_weights_are_capped_and_carry_no_gradient():
    adv = torch.tensor([0.0, 1.0, 10.0], requires_grad=True)
    w = awr_weights(adv, beta=3.0, max_weight=100.0)
    assert w.tolist() == pytest.approx([1.0, math.exp(3.0), 100.0], rel=1e-6)  # exp(30) capped at 100
    assert not w.requires_grad


def test_gaussian_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    pi = GaussianPolicy(5, 3, [16])
    with torch.no_grad():
        pi.log_std.copy_(t(-0.5, 0.0, 30.0))  # 30 is clamped to 2
    s, a = torch.randn(7, 5), torch.rand(7, 3) * 2 - 1
    expected = torch.distributions.Normal(pi(s), torch.exp(pi.log_std.clamp(-20, 2))).log_prob(a).sum(-1)
    assert torch.allclose(pi.log_prob(s, a), expected, atol=1e-5)


def test_bc_loss_by_hand():
    assert bc_loss(t(0.5, -0.5)[None], t(0.0, 0.0)[None]).item() == pytest.approx(0.25)


def test_cpl_loss_with_bias_by_hand():
    a1, a2 = t(1.0), t(2.0)
    loss, acc = biased_bce_with_logits(a1, a2, t(1.0), bias=0.5)  # σ² preferred: -log σ(2 - 0.5·1)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.5)), rel=1e-6)
    assert acc.item() == 1.0
    loss, acc = biased_bce_with_logits(a1, a2, t(0.0), bias=0.5)  # σ¹ preferred: -log σ(1 - 0.5·2) = log 2
    assert loss.item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert acc.item() == 0.0
    # a tie is half of each direction: (softplus(-1.5) + log 2) / 2, and is left out of the accuracy
    loss, acc = biased_bce_with_logits(torch.cat([a1, a1]), torch.cat([a2, a2]), t(0.5, 1.0), bias=0.5)
    assert loss.item() == pytest.approx(((math.log1p(math.exp(-1.5)) + math.log(2)) / 2 + math.log1p(math.exp(-1.5))) / 2, rel=1e-6)
    assert acc.item() == 1.0


def test_cpl_accuracy_uses_the_unbiased_advantages():
    # A¹ = 2, A² = 1.5, λ = 0.5: the biased logit A² - λA¹ = 0.5 > 0 favours σ², the
    # unbiased comparison (A² < A¹) favours σ¹ — the accuracy follows the latter
    loss, acc = biased_bce_with_logits(t(2.0), t(1.5), t(1.0), bias=0.5)
    assert acc.item() == 0.0
    assert loss.item() == pytest.approx(math.log1p(math.exp(-0.5)), rel=1e-6)


def test_cpl_loss_is_stable_for_large_advantages():
    loss, _ = biased_bce_with_logits(t(-5000.0), t(5000.0), t(0.0), bias=1.0)
    assert loss.item() == pytest.approx(10000.0)  # -log σ(-10000), no overflow
    loss, _ = biased_bce_with_logits(t(-5000.0), t(5000.0), t(1.0), bias=1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_cpl_dense_loss_ranks_every_pair_by_score():
    adv, scores = t(0.3, -0.2, 1.0), t(3.0, 1.0, 2.0)
    # by score: segment 1 < segment 2 < segment 0; pairs (i < j): (1, 2), (1, 0), (2, 0)
    a = {0: 0.3, 1: -0.2, 2: 1.0}
    pairs = [(1, 2), (1, 0), (2, 0)]
    lam = 0.5
    expected = sum(math.log1p(math.exp(-(a[j] - lam * a[i]))) for i, j in pairs) / 3
    loss, acc = biased_bce_with_scores(adv, scores, bias=lam)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert acc.item() == pytest.approx(2 / 3)  # A₂ > A₁ and A₀ > A₁ right; A₀ > A₂ wrong


def test_oppo_triplet_and_norm_terms_by_hand():
    anchor = t(0.0, 0.0).expand(2, 2)
    positive = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    negative = torch.tensor([[3.0, 0.0], [1.0, 0.0]])
    # max(‖a-p‖ - ‖a-n‖ + 1, 0): max(1 - 3 + 1, 0) = 0 and max(2 - 1 + 1, 0) = 2
    assert triplet_loss(anchor, positive, negative, t(1.0, 1.0)).item() == pytest.approx(1.0, abs=1e-5)
    assert triplet_loss(anchor, positive, negative, t(0.0, 1.0)).item() == pytest.approx(2.0, abs=1e-5)
    assert triplet_loss(anchor, positive, negative, t(0.0, 0.0)).item() == 0.0  # only ties: nothing
    assert norm_loss(torch.tensor([[3.0, 4.0], [0.6, 0.8]])).item() == pytest.approx(8.0)  # ((5-1)² + 0) / 2
    pred = torch.tensor([[[1.0, 1.0], [5.0, 5.0]]])
    act = torch.zeros(1, 2, 2)
    assert reconstruction_loss(pred, act, t(1.0, 0.0)[None]).item() == pytest.approx(1.0)  # the masked step is ignored


def test_ipl_preference_loss_by_hand():
    # σ(s² - s¹) = σ(log 3) = 0.75; label 1 -> -log 0.75
    assert preference_bce(t(0.0), t(math.log(3.0)), t(1.0)).item() == pytest.approx(-math.log(0.75), rel=1e-6)


def test_batched_twin_q_equals_two_separate_mlps():
    torch.manual_seed(1)
    heads = [mlp(9, [32, 32], 1), mlp(9, [32, 32], 1)]
    twin = EnsembleMLP(2, 9, [32, 32], 1)
    twin.load_from_sequentials(heads)
    x = torch.randn(13, 9)
    out = twin(x)
    assert out.shape == (2, 13, 1)
    for i in range(2):
        assert torch.allclose(out[i], heads[i](x), atol=1e-5)
    q = TwinQ(5, 4, [32, 32])
    assert q(torch.randn(6, 5), torch.randn(6, 4)).shape == (2, 6)


def test_twin_heads_start_different_and_like_nn_linear():
    torch.manual_seed(0)
    ens = EnsembleMLP(2, 10, [64], 1)
    w = ens.weights[0]
    assert not torch.allclose(w[0], w[1])
    assert w.abs().max() <= 1 / math.sqrt(10) + 1e-6  # nn.Linear's U(-1/√fan_in, 1/√fan_in)


def _data(lengths, rewards=None, obs_dim=3):
    n = int(sum(lengths))
    rng = np.random.default_rng(0)
    return OfflineData.from_transitions(
        {"observations": rng.normal(size=(n, obs_dim)), "actions": rng.uniform(-1, 1, (n, 2)),
         "rewards": np.ones(n) if rewards is None else rewards, "next_observations": rng.normal(size=(n, obs_dim)),
         "terminals": np.zeros(n, bool), "timeouts": np.zeros(n, bool), "episode": np.repeat(np.arange(len(lengths)), lengths)},
        source="hand",
    )  # fmt: skip


@pytest.mark.parametrize("p", [0.25, 0.1, 0.5])
def test_dropout_keeps_1_minus_p_scales_and_routes_gradients_through_the_kept_units(p):
    torch.manual_seed(0)
    drop = Dropout(p)
    x = torch.ones(1000, 513, requires_grad=True)  # an element count not divisible by 4
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x·m/(1-p))/dx = m/(1-p)
    # a fresh mask every call, drawn from torch's global generator (seeded, checkpointed)
    assert not torch.equal(drop(x) != 0, kept)
    torch.manual_seed(0)
    assert torch.equal(drop(x) != 0, kept)
    drop.eval()
    assert drop(x) is x
    assert isinstance(mlp(3, [8], 2, dropout=p)[2], Dropout)


def test_reward_scaling_by_hand():
    data = _data([2, 3], rewards=np.array([1.0, 1.0, 2.0, 2.0, 2.0]))  # returns 2 and 6
    assert reward_scale(data, data.rewards, "locomotion", 1000) == pytest.approx(1000 / 4)
    assert reward_scale(data, data.rewards, "none", 1000) == 1.0


def test_top_fraction_keeps_the_best_episodes():
    data = _data([2, 2, 2], rewards=np.array([0.0, 0, 5, 5, 1, 1]))
    assert top_episodes(data, 0.3).tolist() == [2, 3]  # episode 1 has the best return
    assert top_episodes(data, 1.0).tolist() == list(range(6))


def test_segment_windows_pad_short_episodes_with_their_last_step():
    seg = SegmentIndex(np.array([3, 6]), horizon=4)
    index, mask = seg.windows(np.array([0, 1]), np.array([0, 2]))
    assert index.tolist() == [[0, 1, 2, 2], [5, 6, 7, 8]]
    assert mask.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert seg.num_windows == 1 + 3  # the short episode gives one (padded) window
    gen = torch.Generator().manual_seed(0)
    idx, m = seg.resident("cpu").sample(50, gen)
    assert idx.shape == (50, 4) and bool(((idx <= 2) | (idx >= 3)).all())
    assert bool((m.sum(1) >= 3).all())
