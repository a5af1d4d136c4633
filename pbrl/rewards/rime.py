"""RIME's reward model: robust to noisy preference labels (Cheng et al., ICML 2024).

CJReinforce/RIME_ICML2024 (``reward_model_RIME.py``), as a :class:`RewardEnsemble` that,
at every epoch, first decides which stored labels to train on:

1. ``KL_i = -Σ y log p̄``: the cross-entropy of each label against the ensemble's mean
   prediction ``p̄`` (no gradient).
2. **Trusted** labels: ``KL_i < -ln(x_max + 1e-8) + α·x_max + min(β_t·var, 3)``, the KL-based
   lower bound plus a capped uncertainty term, where ``x_max`` and ``var`` are running
   statistics (:class:`KLStats`) of the trusted KLs and
   ``β_t = max(β_min, β_init - (β_init - β_min)·t / k)`` decays over the first ``k`` epochs
   trained (``t``: epochs so far).
3. **Flipped** labels: ``KL_i > -ln(τ_flip)`` (τ_flip = 0.001: KL > 6.91): the model is
   confident the label is wrong; they are trained on inverted, this epoch only.
4. One epoch of the usual cross-entropy on trusted ∪ flipped; the statistics take the
   trusted KLs. The learning rate warms up linearly over the first ``warmup`` epochs
   (``get_constant_schedule_with_warmup``), and a fit stops early only after
   ``min_epochs`` epochs (``least_reward_update``).

**Warm start** (:meth:`RIMEEnsemble.warm_start`): during PEBBLE's unsupervised phase each
member regresses the normalised state-entropy bonus, so the first queries already meet a
reward model that ranks novel states higher.

**Checkpoints.** :meth:`RIMEEnsemble.state_dicts` carries the selection state beside the
weights — the KL statistics, the epochs trained (which drive β_t and the warm-up) and the
knobs — so a resumed run, or a model saved with ``save`` and loaded with
``RIMEEnsemble.load``, goes on with the same thresholds.

Where a label is both above the bound and above the flip threshold it is flipped (early
on, when ``x_max = 0``, the bound is ≈ 18.4 and every label is trusted unless flipped).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .ensemble import RewardEnsemble


class KLStats:
    """RIME's ``RunningMeanStd(mode='fixed', lr=0.1)``: EMAs of the mean and the max, and the pooled
    variance of the mixture ``(1 - lr)·old + lr·batch``. Initially mean 0, var 1, max 0."""

    def __init__(self, lr: float = 0.1):
        self.lr, self.mean, self.var, self.max = float(lr), 0.0, 1.0, 0.0

    def update(self, x: torch.Tensor) -> None:
        if x.numel() == 0:
            return
        x = x.double()
        bm, bv, bmax, a = float(x.mean()), float(x.var(unbiased=False)), float(x.max()), self.lr
        delta = bm - self.mean
        self.var = (1 - a) * self.var + a * bv + a * (1 - a) * delta**2
        self.mean += a * delta
        self.max += a * (bmax - self.max)

    def state(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "max": self.max}

    def load(self, state) -> None:
        self.mean, self.var, self.max = (float(state[k]) for k in ("mean", "var", "max"))


def rime_beta(t: int, beta_init: float, beta_min: float, k: int) -> float:
    """β_t: linear decay from ``beta_init`` to ``beta_min`` over ``k`` epochs."""
    return max(beta_min, beta_init - (beta_init - beta_min) * t / max(k, 1))


def rime_select(
    kl: torch.Tensor, x_max: float, var: float, alpha: float, beta: float, flip_tau: float, cap: float = 3.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(trusted, flipped) bool masks of labels with per-sample losses ``kl``."""
    bound = -math.log(x_max + 1e-8) + alpha * x_max + min(beta * var, cap)
    flipped = kl > -math.log(flip_tau)
    return (kl < bound) & ~flipped, flipped


def label_kl(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``-Σ y log p̄`` of each pair: ``scores`` ``(M, B, 2)``, labels ``y`` ``(B,)`` (1: σ² preferred)."""
    p = F.softmax(scores, dim=-1).mean(0).clamp_min(1e-12)
    return -((1 - y) * p[:, 0].log() + y * p[:, 1].log())


class RIMEEnsemble(RewardEnsemble):
    """A reward ensemble trained as RIME does (keyword arguments of :class:`RewardEnsemble`, plus):

    Args:
        alpha: α of the lower bound (RIME's scripts: 0.5).
        beta_init, beta_min: the uncertainty weight's schedule (3.0 → 1.0).
        beta_k: epochs over which β decays (``k``: 60 on DMC, 600 on Meta-World).
        flip_tau: τ of the flip threshold ``-ln τ`` (0.001).
        min_epochs: epochs before a fit may stop early (``least_reward_update``: 15 DMC, 5 Meta-World).
        warmup: epochs of linear learning-rate warm-up (0: none).
    """

    def __init__(
        self, *args, alpha: float = 0.5, beta_init: float = 3.0, beta_min: float = 1.0, beta_k: int = 60,
        flip_tau: float = 0.001, min_epochs: int = 15, warmup: int = 0, **kwargs,
    ):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.alpha, self.beta_init, self.beta_min, self.beta_k = float(alpha), float(beta_init), float(beta_min), int(beta_k)
        self.flip_tau, self.min_epochs, self.warmup = float(flip_tau), int(min_epochs), int(warmup)
        self.kl_stats = KLStats()
        self.epochs_trained = 0
        #: (trusted, flipped) counts of the last epoch, and its masks over the pairs trained on
        self.last_selection = (0, 0)
        self.last_trusted: torch.Tensor | None = None
        self.last_flipped: torch.Tensor | None = None

    def _train_epoch(self, x, mask, y, batch_size):
        with torch.no_grad():
            kl = label_kl(self._scores_normalized(x, mask, None), y)
        beta = rime_beta(self.epochs_trained, self.beta_init, self.beta_min, self.beta_k)
        trusted, flipped = rime_select(kl, self.kl_stats.max, self.kl_stats.var, self.alpha, beta, self.flip_tau)
        self.kl_stats.update(kl[trusted])
        self.last_selection = (int(trusted.sum()), int(flipped.sum()))
        self.last_trusted, self.last_flipped = trusted.cpu(), flipped.cpu()
        scale = 1.0 if self.warmup <= 0 else min(1.0, self.epochs_trained / self.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * scale
        self.epochs_trained += 1
        self.net.train()
        keep = trusted | flipped
        if not bool(keep.any()):
            return torch.full((self.n_members,), math.nan), torch.zeros(self.n_members)
        y_used = torch.where(flipped, 1.0 - y, y)
        return super()._train_epoch(x[keep], None if mask is None else mask[keep], y_used[keep], batch_size)

    def warm_start(self, obs, actions, entropy: torch.Tensor, lo: float, hi: float, mean: float, std: float, iters: int = 5) -> float:
        """``iters`` steps of every member regressing ``r̂(s, a)`` onto the normalised entropy
        ``(H - mean)/std``, divided by ``max(|lo - mean|, |hi - mean|)/std`` so it lies in [-1, 1]
        (RIME's pre-training of the reward model); returns the last MSE."""
        x = self._normalize(torch.cat([torch.as_tensor(obs), torch.as_tensor(actions)], -1).float().to(self.device))
        std = max(std, 1e-8)
        scale = max(abs(lo - mean), abs(hi - mean)) / std
        target = ((entropy.to(self.device).float() - mean) / std) / max(scale, 1e-8)
        self.net.train()
        for _ in range(int(iters)):
            self.optimizer.zero_grad(set_to_none=True)
            loss = ((self.net(x) - target) ** 2).mean(-1).sum()
            loss.backward()
            self.optimizer.step()
        self.net.eval()
        return float(loss.detach()) / self.n_members

    def _rime_config(self) -> dict:
        """The RIME knobs, JSON-ready."""
        return {
            "alpha": self.alpha, "beta_init": self.beta_init, "beta_min": self.beta_min, "beta_k": self.beta_k,
            "flip_tau": self.flip_tau, "min_epochs": self.min_epochs, "warmup": self.warmup,
        }  # fmt: skip

    def state_dicts(self):
        """The ensemble's state dicts plus ``rime``: the selection state — the KL statistics of the trusted
        labels (running mean, variance, max), the epochs trained (the step of β_t's decay and of the
        learning-rate warm-up) and the knobs — so a resumed run (the loop's checkpoint) or a model saved
        with :meth:`save` and loaded with :meth:`RIMEEnsemble.load` selects with the same thresholds.
        (:func:`pbrl.rewards.load_reward_model` gives the plain ensemble: the same reward function.)"""
        state = {**self.kl_stats.state(), "epochs_trained": self.epochs_trained, "config": self._rime_config()}
        return {**super().state_dicts(), "rime": state}

    def load_state_dicts(self, states):
        """Load :meth:`state_dicts`; a checkpoint without ``rime`` (a plain ensemble's) starts the selection
        afresh, one without its knobs (saved before they were) keeps this model's."""
        rime = states.get("rime")
        if rime is not None:
            try:
                stats = {k: float(rime[k]) for k in ("mean", "var", "max")}
                epochs = rime["epochs_trained"]
                knobs = dict(rime.get("config") or {})
                unknown = set(knobs) - set(self._rime_config())
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"the checkpoint's RIME state is malformed ({type(exc).__name__}: {exc})") from None
            if not all(math.isfinite(v) for v in stats.values()) or stats["var"] < 0:
                raise ValueError(f"the checkpoint's RIME KL statistics are not finite or have a negative variance: {stats}")
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
                raise ValueError(f"the checkpoint's RIME epochs_trained must be an int >= 0, got {epochs!r}")
            if unknown:
                raise ValueError(f"the checkpoint's RIME state has unknown knobs {sorted(unknown)}")
        super().load_state_dicts(states)
        if rime is None:
            return
        self.kl_stats.load(stats)
        self.epochs_trained = int(epochs)
        for name, value in knobs.items():
            setattr(self, name, type(getattr(self, name))(value))  # float or int, as the constructor casts


__all__ = ["KLStats", "RIMEEnsemble", "label_kl", "rime_beta", "rime_select"]
