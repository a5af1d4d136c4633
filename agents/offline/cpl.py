"""CPL — Contrastive Preference Learning (Hejna et al., ICLR 2024; jhejna/cpl).

Preferences follow the *regret* (negated discounted sum of optimal advantages), and
for the maximum-entropy optimal policy ``A*(s, a) = α log π*(a|s)``. So a policy can
be fit to preferences directly, without a reward or RL:

    A(σ) = α Σ_t log π(a_t | s_t)                          (undiscounted, as the code)
    L_CPL = -log  exp A(σ⁺) / (exp A(σ⁺) + exp λ A(σ⁻))
          = -log σ(A(σ⁺) - λ A(σ⁻))

with the conservative bias ``λ ∈ (0, 1]`` (λ < 1 pushes up the likelihood of the
preferred segment more than it pushes down the other's). The actor is CPL's
deterministic MLP (512×512, dropout 0.25, tanh output, orthogonal init), for which
``log π(a|s) = -‖π(s) - a‖²`` (a unit-variance Gaussian, up to a constant).

* **BC pre-training**: the first ``bc_steps`` steps minimise ``E[-log π(a|s)]`` only —
  on the whole dataset (``bc_data = "dataset"``, pbrl's default: labelling is scarce,
  transitions are not) or on the labelled segments (``"segments"``, CPL's code) —
  then the optimiser is reset and the learning rate warms up linearly over
  ``warmup_steps``.
* **Sparse mode**: batches of labelled pairs from the preference store (label 1 = σ²
  preferred; ties count half each way).
* **Dense mode**: batches of segments with a score; every pair in the batch is
  compared, the higher-scored segment preferred (``biased_bce_with_scores``). The
  score is the segment's true return (an oracle ranking, as CPL's dense datasets
  score every segment with an oracle): of the store's segments if a store is given,
  else of ``dense_segments`` windows drawn from the dataset.
* **CPL-KL** (``variant = "kl"``; α 0.2, λ 0.75): ``A = α (log π - log π_ref)`` with
  π_ref the frozen BC policy at the end of pre-training.

Accuracy (``train/accuracy``) is measured on the unbiased advantages, over decisive
labels.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ._base import OfflineAgent
from ._config import ConfigError, OfflineConfig, hp
from ._data import OfflineData, SegmentIndex, TransitionBatches
from ._nets import DeterministicPolicy, orthogonal_init
from ._preferences import PreferencePairs


def biased_bce_with_logits(adv1: torch.Tensor, adv2: torch.Tensor, y: torch.Tensor, bias: float = 1.0):
    """CPL's loss on labelled pairs and its accuracy.

    ``y`` = 1 when σ² is preferred (0.5: equal). The loss is
    ``y · -log σ(A² - λA¹) + (1 - y) · -log σ(A¹ - λA²)``, computed stably
    (``softplus(-x) = -log σ(x)``, CPL's log-sum-exp), averaged over pairs. The
    accuracy compares the unbiased advantages ``A² > A¹`` with the label, over pairs
    whose label is not a tie.
    """
    logit21 = adv2 - bias * adv1
    logit12 = adv1 - bias * adv2
    loss = (y * F.softplus(-logit21) + (1 - y) * F.softplus(-logit12)).mean()
    with torch.no_grad():
        decisive = (y != 0.5).float()
        correct = ((adv2 > adv1) == (y > 0.5)).float() * decisive
        accuracy = correct.sum() / decisive.sum().clamp(min=1.0)
    return loss, accuracy


def biased_bce_with_scores(adv: torch.Tensor, scores: torch.Tensor, bias: float = 1.0):
    """CPL's dense loss: every pair of the batch, the higher-scored segment preferred.

    With segments sorted by score, for ``i < j`` (j scores higher):
    ``-log σ(A_j - λ A_i)``, averaged over the ``n(n-1)/2`` pairs; accuracy on ``A_j > A_i``.
    """
    order = torch.argsort(scores)
    a = adv[order]
    logits = a.unsqueeze(0) - bias * a.unsqueeze(1)  # [i, j] = A_j - λ A_i
    upper = torch.ones_like(logits, dtype=torch.bool).triu(diagonal=1)
    pairs = upper.sum().clamp(min=1)
    loss = (F.softplus(-logits) * upper).sum() / pairs
    with torch.no_grad():
        accuracy = (((a.unsqueeze(0) - a.unsqueeze(1)) > 0) & upper).sum() / pairs
    return loss, accuracy


@dataclass
class CPLConfig(OfflineConfig):
    agent = "cpl"
    presets = {"variant": {"kl": {"alpha": 0.2, "contrastive_bias": 0.75}}}

    steps: int = hp(500_000, "default training budget in gradient steps (BC pre-training included)", min=1)
    batch_size: int = hp(96, "labelled pairs (sparse) or scored segments (dense) per step", min=2)
    hidden_sizes: list = hp([512, 512], "hidden layer sizes of the actor")
    dropout: float = hp(0.25, "dropout in the actor's hidden layers", min=0.0, max=1.0)
    lr: float = hp(1e-4, "Adam learning rate", min=0.0)
    variant: str = hp("cpl", "cpl, or kl for CPL-KL (A = α(log π - log π_ref); α 0.2, λ 0.75)", choices=("cpl", "kl"))
    alpha: float = hp(0.1, "temperature α of A = α log π", min=0.0)
    contrastive_bias: float = hp(0.5, "conservative bias λ in (0, 1]", min=0.0, max=1.0)
    mode: str = hp("sparse", "sparse: labelled pairs; dense: rank every pair of a batch of scored segments", choices=("sparse", "dense"))
    bc_steps: int = hp(200_000, "BC-only pre-training steps", min=0)
    bc_data: str = hp("dataset", "BC pre-training on the whole dataset or on the labelled segments", choices=("dataset", "segments"))
    bc_batch_size: int = hp(256, "transitions per BC step when bc_data = dataset", min=1)
    bc_coeff: float = hp(0.0, "weight of a BC term added to the CPL loss", min=0.0)
    warmup_steps: int = hp(10_000, "linear learning-rate warm-up after pre-training", min=0)
    dense_segments: int = hp(2500, "dense mode without a store: windows drawn from the dataset", min=2)
    segment_length: int = hp(64, "dense mode without a store: steps per window", min=1)
    max_pairs: int = hp(0, "use the first N labelled pairs of the store (0: all)", min=0)
    ortho_init: bool = hp(True, "orthogonal initialisation of the actor")

    def check(self) -> None:
        if self.contrastive_bias <= 0:
            raise ConfigError("hyperparameter 'contrastive_bias' (λ) of cpl must be in (0, 1]")


class CPL(OfflineAgent):
    name = "cpl"
    Config = CPLConfig
    uses_preferences = "optional"  # required in sparse mode
    loss_names = ("cpl_loss", "bc_loss", "accuracy")

    def build(self) -> None:
        c = self.config
        self.actor = DeterministicPolicy(self.obs_dim, self.act_dim, c.hidden_sizes, dropout=c.dropout).to(self.device)
        if c.ortho_init:
            orthogonal_init(self.actor)
        self.reference = copy.deepcopy(self.actor).requires_grad_(False).eval() if c.variant == "kl" else None
        self.optimizer = self._new_optimizer()

    def _new_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.actor.parameters(), lr=self.config.lr, fused=self.device.type == "cpu" or None)

    def modules(self):
        out = {"actor": self.actor}
        if self.reference is not None:
            out["reference"] = self.reference
        return out

    # -- data -----------------------------------------------------------------------

    def setup(self, data: OfflineData, preferences: PreferencePairs | None = None) -> None:
        if self.config.mode == "sparse" and preferences is None:
            raise ValueError(
                f"cpl in sparse mode learns from labelled pairs: give a preference store labelled on {data.source!r} "
                f"(pbrl train --preferences STORE), or use --hp mode=dense"
            )
        super().setup(data, preferences)

    def prepare(self, data: OfflineData, preferences: PreferencePairs | None) -> None:
        c = self.config
        obs = self.normalizer.numpy(data.observations) if c.normalize_states else data.observations
        self.batches = TransitionBatches({"obs": obs, "actions": data.actions, "rewards": data.rewards}, self.device, self.generator)
        if c.mode == "sparse":
            self.pairs = preferences.resident(self.device)
        else:  # a pool of scored segments
            if preferences is not None:
                flat = preferences.index.reshape(-1, preferences.horizon)
                index, first = np.unique(flat, axis=0, return_index=True)
                mask = preferences.mask.reshape(-1, preferences.horizon)[first]
            else:
                _, _, index, mask = SegmentIndex(data.lengths, c.segment_length).sample(c.dense_segments, self.rng)
            self.pool_index = torch.as_tensor(index, device=self.device)
            self.pool_mask = torch.as_tensor(mask, device=self.device, dtype=torch.float32)
            self.pool_scores = (torch.as_tensor(data.rewards, device=self.device)[self.pool_index] * self.pool_mask).sum(-1)

    # -- the update -----------------------------------------------------------------

    def log_prob(self, actor, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``log π(a|s) = -‖π(s) - a‖²`` (summed over action dimensions)."""
        return -(actor(obs) - actions).square().sum(-1)

    def segments(self):
        """A batch of segments: ``(obs (K, H, d), actions, mask (K, H))`` and the labels (sparse) or scores (dense)."""
        c = self.config
        if c.mode == "sparse":
            index, mask, target = self.pairs.sample(c.batch_size, self.generator)  # (B, 2, H)
            index = index.transpose(0, 1).reshape(2 * c.batch_size, -1)  # σ¹ batch, then σ² batch
            mask = mask.transpose(0, 1).reshape(2 * c.batch_size, -1)
        else:
            rows = torch.randint(self.pool_scores.numel(), (c.batch_size,), generator=self.generator, device=self.device)
            index, mask, target = self.pool_index[rows], self.pool_mask[rows], self.pool_scores[rows]
        seg = self.batches.gather(index)
        return seg["obs"], seg["actions"], mask, target

    def bc_update(self) -> None:
        c = self.config
        if c.bc_data == "dataset":
            b = self.batches.sample(c.bc_batch_size)
            bc_loss = -self.log_prob(self.actor, b["obs"], b["actions"]).mean()
        else:
            obs, actions, mask, _ = self.segments()
            bc_loss = -(self.log_prob(self.actor, obs, actions) * mask).sum() / mask.sum()
        self.optimizer.zero_grad(set_to_none=True)
        bc_loss.backward()
        self.optimizer.step()
        zero = torch.zeros((), device=self.device)
        self.record(zero, bc_loss, zero)

    def cpl_update(self) -> None:
        c = self.config
        obs, actions, mask, target = self.segments()
        lp = self.log_prob(self.actor, obs, actions) * mask  # (K, H)
        if self.reference is not None:  # CPL-KL
            with torch.no_grad():
                lp_ref = self.log_prob(self.reference, obs, actions) * mask
            adv = c.alpha * (lp - lp_ref)
        else:
            adv = c.alpha * lp
        segment_adv = adv.sum(-1)  # A(σ) = Σ_t α log π(a_t|s_t)
        if c.mode == "sparse":
            adv1, adv2 = segment_adv.chunk(2)
            cpl_loss, accuracy = biased_bce_with_logits(adv1, adv2, target, bias=c.contrastive_bias)
        else:
            cpl_loss, accuracy = biased_bce_with_scores(segment_adv, target, bias=c.contrastive_bias)
        bc_loss = -lp.sum() / mask.sum()
        loss = cpl_loss + c.bc_coeff * bc_loss if c.bc_coeff else cpl_loss
        k = self.step - c.bc_steps
        for group in self.optimizer.param_groups:
            group["lr"] = c.lr * min(1.0, (k + 1) / c.warmup_steps) if c.warmup_steps else c.lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.record(cpl_loss, bc_loss, accuracy)

    def update(self) -> None:
        c = self.config
        if self.step < c.bc_steps:
            self.bc_update()
            if self.step == c.bc_steps - 1:  # pre-training ends: fresh optimiser (and π_ref for CPL-KL)
                self.optimizer = self._new_optimizer()
                if self.reference is not None:
                    self.reference.load_state_dict(self.actor.state_dict())
        else:
            self.cpl_update()

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)


__all__ = ["CPL", "CPLConfig", "biased_bce_with_logits", "biased_bce_with_scores"]
