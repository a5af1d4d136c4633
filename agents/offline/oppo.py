"""OPPO — Offline Preference-guided Policy Optimization (Kang et al., ICML 2023; bkkgbkjb/OPPO).

One step, no reward: an encoder embeds a trajectory segment, ``z = E(τ)``, a
contextual policy ``π(a | s, z)`` reconstructs the segment's actions from its own
embedding, and a free vector ``z*`` — the embedding of the "optimal" behaviour —
is learned from the preferences. Acting uses ``π(a | s, z*)``.

Encoder and policy minimise, on labelled pairs ``(τ⁺ ≻ τ⁻)``::

    ‖π(s, E(τ)) - a‖²                                       (reconstruction, both segments)
  + λ_p · Triplet(z*, E(τ⁺), E(τ⁻); margin 1)                (z* detached)
  + λ_n · ((‖E(τ¹)‖ - 1)² + (‖E(τ²)‖ - 1)²)                 (embedding norms near 1)

with gradient norms clipped to 0.25; then ``z*`` alone takes a step on the same
triplet loss with the (updated) encoder's embeddings detached (AdamW 1e-3, weight
decay 1e-4). Triplet(a, p, n) = max(‖a - p‖ - ‖a - n‖ + 1, 0).

Where ``z*`` lives. OPPO starts ``z*`` at N(0, 2²), a norm of about 8 in 16
dimensions, while the norm loss keeps every embedding the policy is trained on near
the unit sphere. Far from the embeddings the triplet gradient on ``z*`` is nearly
perpendicular to it, so ``z*`` stays far, and ``π(s, z*)`` acts on a context it has
never seen. On Hopper medium-replay (2000 oracle labels, 8k steps) the encoder had
ordered the segments well: nearness to ``z*`` correlated 0.94 with segment return.
Yet ``π(s, z*)`` at ‖z*‖ = 9.0 fell after 97 steps (return 185). With the same
networks and ``z*/‖z*‖``, it lasted 230 steps (return 637). So pbrl starts ``z*``
on the embeddings' scale (``z_init_std = 0.25``, i.e. ‖z*‖ ≈ 1 at ``z_dim`` 16).
``z*``'s update also adds the norm loss ``λ_n (‖z*‖ - 1)²`` (``z_star_norm``).
``z_init_std=2 z_star_norm=false`` is OPPO's original.

As the reference suggests for a first version, the encoder and the policy are MLPs
instead of OPPO's transformers: the encoder embeds each step's ``(s, a)``, averages
over the segment's real steps and maps the average to ``z`` (OPPO's encoder sums its
tokens; the average is the same up to the scale the linear head absorbs); the policy
is an MLP over ``(s, z)``. The reconstruction needs no labels, so by default it also
runs on ``batch_size`` unlabelled windows of the dataset per step
(``recon_data = "pairs+dataset"``); ``"pairs"`` is OPPO's original. Tied labels count
in the reconstruction, not in the triplet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._base import OfflineAgent
from ._config import OfflineConfig, hp
from ._data import OfflineData, SegmentIndex, TransitionBatches
from ._nets import mlp
from ._preferences import PreferencePairs


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, weight: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """``max(‖a - p‖ - ‖a - n‖ + margin, 0)`` (as ``nn.TripletMarginLoss``, p = 2), weighted mean over pairs."""
    per_pair = F.triplet_margin_loss(anchor, positive, negative, margin=margin, p=2, reduction="none")
    return (per_pair * weight).sum() / weight.sum().clamp(min=1.0)


def norm_loss(z: torch.Tensor) -> torch.Tensor:
    """``mean((‖z‖ - 1)²)``: keeps embeddings near the unit sphere."""
    return (torch.linalg.vector_norm(z, dim=-1) - 1.0).square().mean()


def reconstruction_loss(predicted: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared action error over the real (unmasked) steps and action dimensions."""
    err = (predicted - actions).square().mean(-1) * mask
    return err.sum() / mask.sum().clamp(min=1.0)


class SegmentEncoder(nn.Module):
    """``E(τ)``: per-step MLP of ``(s, a)``, mean over the real steps, linear to ``z``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden, z_dim: int):
        super().__init__()
        self.steps = mlp(obs_dim + act_dim, hidden[:-1], hidden[-1])
        self.head = nn.Linear(hidden[-1], z_dim)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.steps(torch.cat([obs, actions], -1)))  # (K, H, hidden)
        pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(pooled)


class ContextualPolicy(nn.Module):
    """``π(a | s, z) = tanh(f(s, z))``."""

    def __init__(self, obs_dim: int, act_dim: int, z_dim: int, hidden, dropout: float = 0.0):
        super().__init__()
        self.net = mlp(obs_dim + z_dim, hidden, act_dim, output_activation=nn.Tanh, dropout=dropout)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, z.expand(*obs.shape[:-1], z.shape[-1])], -1))


class OptimalEmbedding(nn.Module):
    """``z*``: a free vector, initialised from N(0, init_std²)."""

    def __init__(self, z_dim: int, init_std: float):
        super().__init__()
        self.z = nn.Parameter(torch.randn(z_dim) * init_std)


@dataclass
class OPPOConfig(OfflineConfig):
    agent = "oppo"

    steps: int = hp(100_000, "default training budget in gradient steps", min=1)
    batch_size: int = hp(64, "labelled pairs per step", min=1)
    z_dim: int = hp(16, "embedding size (OPPO: 8-16)", min=1)
    encoder_hidden_sizes: list = hp([256, 256], "hidden sizes of the encoder's per-step MLP")
    dropout: float = hp(0.0, "dropout in the policy's hidden layers (OPPO's transformer used 0.1; dropout is costly on a CPU)", min=0.0, max=1.0)
    lr: float = hp(1e-4, "AdamW learning rate of the encoder and the policy", min=0.0)
    weight_decay: float = hp(1e-4, "AdamW weight decay (encoder, policy and z*)", min=0.0)
    warmup_steps: int = hp(10_000, "linear warm-up of the policy's learning rate", min=0)
    z_lr: float = hp(1e-3, "AdamW learning rate of z*", min=0.0)
    z_init_std: float = hp(0.25, "z* starts at N(0, z_init_std²) (OPPO: 2; 0.25 puts it near the unit sphere of the embeddings)", min=0.0)
    z_star_norm: bool = hp(True, "z*'s update adds the norm loss λ_n(‖z*‖ - 1)², keeping it where the embeddings are (OPPO: no)")
    lambda_pref: float = hp(0.1, "λ_p, weight of the triplet loss (OPPO: 0.1 scripted, 10 human labels)", min=0.0)
    lambda_norm: float = hp(0.1, "λ_n, weight of the embedding-norm loss", min=0.0)
    margin: float = hp(1.0, "triplet margin", min=0.0)
    grad_clip: float = hp(0.25, "gradient-norm clip of the encoder and of the policy", min=0.0)
    recon_data: str = hp("pairs+dataset", "reconstruction on the labelled pairs only, or also on unlabelled dataset windows", choices=("pairs", "pairs+dataset"))
    max_pairs: int = hp(0, "use the first N labelled pairs of the store (0: all)", min=0)


class OPPO(OfflineAgent):
    name = "oppo"
    Config = OPPOConfig
    uses_preferences = "required"
    loss_names = ("recon_loss", "triplet_loss", "norm_loss", "z_triplet_loss", "z_norm")

    def build(self) -> None:
        c = self.config
        self.encoder = SegmentEncoder(self.obs_dim, self.act_dim, c.encoder_hidden_sizes, c.z_dim).to(self.device)
        self.policy_net = ContextualPolicy(self.obs_dim, self.act_dim, c.z_dim, c.hidden_sizes, c.dropout).to(self.device)
        self.z_star = OptimalEmbedding(c.z_dim, c.z_init_std).to(self.device)
        fused = self.device.type == "cpu" or None
        self.optimizer = torch.optim.AdamW(
            [{"params": list(self.encoder.parameters())}, {"params": list(self.policy_net.parameters())}],
            lr=c.lr, weight_decay=c.weight_decay, fused=fused,
        )  # fmt: skip
        self.z_optimizer = torch.optim.AdamW(self.z_star.parameters(), lr=c.z_lr, weight_decay=c.weight_decay)

    def prepare(self, data: OfflineData, preferences: PreferencePairs) -> None:
        obs = self.normalizer.numpy(data.observations) if self.config.normalize_states else data.observations
        self.batches = TransitionBatches({"obs": obs, "actions": data.actions}, self.device, self.generator)
        self.pairs = preferences.resident(self.device)
        self.windows = SegmentIndex(data.lengths, preferences.horizon).resident(self.device)

    def update(self) -> None:
        c = self.config
        index, mask, label = self.pairs.sample(c.batch_size, self.generator)
        seg = self.batches.gather(index)  # (B, 2, H, ·)
        o1, o2, a1, a2 = seg["obs"][:, 0], seg["obs"][:, 1], seg["actions"][:, 0], seg["actions"][:, 1]
        m1, m2 = mask[:, 0], mask[:, 1]
        decisive = (label != 0.5).float()
        second = (label > 0.5).unsqueeze(-1)  # σ² preferred

        # encoder + contextual policy
        z1, z2 = self.encoder(o1, a1, m1), self.encoder(o2, a2, m2)
        positive, negative = torch.where(second, z2, z1), torch.where(second, z1, z2)
        anchor = self.z_star.z.detach().expand_as(positive)
        pref = triplet_loss(anchor, positive, negative, decisive, c.margin)
        norms = norm_loss(z1) + norm_loss(z2)
        recon = reconstruction_loss(self.policy_net(o1, z1.unsqueeze(1)), a1, m1) + reconstruction_loss(
            self.policy_net(o2, z2.unsqueeze(1)), a2, m2
        )
        if c.recon_data == "pairs+dataset":
            index, m3 = self.windows.sample(c.batch_size, self.generator)
            extra = self.batches.gather(index)
            z3 = self.encoder(extra["obs"], extra["actions"], m3.float())
            recon = recon + reconstruction_loss(self.policy_net(extra["obs"], z3.unsqueeze(1)), extra["actions"], m3.float())
        self.optimizer.param_groups[1]["lr"] = c.lr * min(1.0, (self.step + 1) / c.warmup_steps) if c.warmup_steps else c.lr
        self.optimizer.zero_grad(set_to_none=True)
        (recon + c.lambda_pref * pref + c.lambda_norm * norms).backward()
        if c.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.encoder.parameters(), c.grad_clip)
            torch.nn.utils.clip_grad_norm_(self.policy_net.parameters(), c.grad_clip)
        self.optimizer.step()

        # z*: the same triplet loss, embeddings of the updated encoder detached
        with torch.no_grad():
            z1, z2 = self.encoder(o1, a1, m1), self.encoder(o2, a2, m2)
            positive, negative = torch.where(second, z2, z1), torch.where(second, z1, z2)
        z_loss = triplet_loss(self.z_star.z.expand_as(positive), positive, negative, decisive, c.margin)
        self.z_optimizer.zero_grad(set_to_none=True)
        (z_loss + c.lambda_norm * norm_loss(self.z_star.z) if c.z_star_norm else z_loss).backward()
        self.z_optimizer.step()
        self.record(recon, pref, norms, z_loss, torch.linalg.vector_norm(self.z_star.z.detach()))

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy_net(obs, self.z_star.z)


__all__ = ["OPPO", "OPPOConfig", "norm_loss", "reconstruction_loss", "triplet_loss"]
