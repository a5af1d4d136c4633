"""An ensemble of MLP reward models ``r̂(s, a)`` trained on preferences (B-Pref / PEBBLE).

The members' weights are stacked — one ``(M, in, out)`` tensor per layer — so the
whole ensemble is evaluated as one batched matrix product per layer
(``torch.baddbmm``), never a Python loop over members. Each member is trained on its
own shuffle (B-Pref) or bootstrap resample of the labelled pairs, all members in the
same backward pass: their parameters are disjoint and Adam is element-wise, so this
is exactly M independent trainings.

Example::

    from pbrl.rewards.ensemble import RewardEnsemble

    model = RewardEnsemble(obs_dim=17, act_dim=6)          # 3 × (256, 256, 256)
    result = model.fit(obs, actions, labels)                # obs (B, 2, H, 17), labels (B,)
    r = model.reward(obs_batch, act_batch, aggregate="mean_minus_std", k=1.0)
    source = model.as_reward_source("min")                  # (obs, action, next_obs, info) -> (N,)
    p2 = model.predict_proba(cand_obs, cand_actions)        # (3, B): P(σ² ≻ σ¹) per member
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .bradley_terry import bradley_terry_loss, segment_score
from .model import PreferenceRewardModel

ACTIVATIONS = {
    "leaky_relu": F.leaky_relu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "elu": F.elu,
    "gelu": F.gelu,
    "silu": F.silu,
}
OUTPUT_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda x: x}
_MODULES = {
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


class EnsembleMLP(nn.Module):
    """``M`` MLPs with stacked weights, evaluated in one batched computation.

    Layer ``l`` holds ``weight{l}`` of shape ``(M, in_l, out_l)`` and ``bias{l}`` of shape
    ``(M, 1, out_l)``, initialised like ``nn.Linear`` (U(±1/√in)) independently per
    member. :attr:`weights` and :attr:`biases` list them in layer order.

    :param n_members: number of members ``M``.
    :param in_dim: input dimension.
    :param hidden_sizes: hidden layer widths.
    :param activation: hidden activation (``"leaky_relu"``, ``"relu"``, ``"tanh"``,
        ``"elu"``, ``"gelu"``, ``"silu"``).
    :param output_activation: ``"tanh"`` (B-Pref), ``"sigmoid"`` or ``"identity"``.
    :param generator: torch random generator for the initialisation.
    """

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        hidden_sizes: Sequence[int] = (256, 256, 256),
        activation: str = "leaky_relu",
        output_activation: str = "tanh",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {sorted(OUTPUT_ACTIVATIONS)}, got {output_activation!r}")
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        self.n_members = int(n_members)
        self.sizes = [int(in_dim), *(int(h) for h in hidden_sizes), 1]
        self.activation = activation
        self.output_activation = output_activation
        self._act = ACTIVATIONS[activation]
        self._out = OUTPUT_ACTIVATIONS[output_activation]
        self.n_layers = len(self.sizes) - 1
        for l, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            bound = 1.0 / math.sqrt(fan_in)
            w = torch.empty(self.n_members, fan_in, fan_out).uniform_(-bound, bound, generator=generator)
            b = torch.empty(self.n_members, 1, fan_out).uniform_(-bound, bound, generator=generator)
            self.register_parameter(f"weight{l}", nn.Parameter(w))
            self.register_parameter(f"bias{l}", nn.Parameter(b))

    @property
    def weights(self) -> tuple[nn.Parameter, ...]:
        """The stacked weights ``(M, in_l, out_l)`` of each layer."""
        p = self._parameters
        return tuple(p[f"weight{l}"] for l in range(self.n_layers))

    @property
    def biases(self) -> tuple[nn.Parameter, ...]:
        """The stacked biases ``(M, 1, out_l)`` of each layer."""
        p = self._parameters
        return tuple(p[f"bias{l}"] for l in range(self.n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate every member.

        :param x: ``(N, in_dim)`` inputs shared by all members, or ``(M, N, in_dim)``
            one batch per member.
        :return: ``(M, N)`` outputs.
        """
        ws, bs = self.weights, self.biases
        if x.dim() == 2:
            x = x.expand(self.n_members, *x.shape)  # shared input: a stride-0 view, no copy
        h = torch.baddbmm(bs[0], x, ws[0])
        for w, b in zip(ws[1:], bs[1:]):
            h = torch.baddbmm(b, self._act(h), w)
        return self._out(h).squeeze(-1)

    def member(self, i: int) -> nn.Sequential:
        """Member ``i`` as an ordinary ``nn.Sequential`` of ``nn.Linear`` (a copy).

        Used to check the batched computation against a loop and in benchmarks.

        :param i: the member's index.
        :return: the member's MLP with copied weights.
        """
        layers: list[nn.Module] = []
        n_layers = self.n_layers
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[i].T)
                lin.bias.copy_(b[i, 0])
            layers.append(lin)
            if l < n_layers - 1:
                layers.append(_MODULES[self.activation]())
        layers.append(_MODULES[self.output_activation]())
        return nn.Sequential(*layers).to(self.weights[0].device)


class RewardEnsemble(PreferenceRewardModel):
    """An ensemble of MLP reward models trained with the Bradley–Terry loss (B-Pref).

    :param obs_dim: observation dimension.
    :param act_dim: action dimension.
    :param n_members: ensemble size (B-Pref: 3).
    :param hidden_sizes: hidden widths of each member (B-Pref: 3 × 256).
    :param activation: hidden activation (B-Pref: LeakyReLU).
    :param output_activation: per-step reward squashing (B-Pref: tanh).
    :param segment_score: ``"sum"`` of per-step rewards (B-Pref) or ``"mean"`` over time
        (Preference Transformer's code).
    :param lr: Adam learning rate (3e-4).
    :param weight_decay: Adam weight decay (0).
    :param batch_size: pairs per gradient step, per member (128).
    :param max_epochs: default epoch cap of :meth:`fit` (200).
    :param target_accuracy: default train-accuracy threshold of :meth:`fit` (0.97).
    :param sampling: each member's view of the labelled pairs per epoch:
        ``"shuffle"`` (B-Pref: its own permutation) or ``"bootstrap"`` (resampled
        with replacement).
    :param normalize_inputs: standardise ``(obs, action)`` with statistics of the
        training pairs, refreshed at every :meth:`fit`.
    :param device: torch device.
    :param seed: seed of the initialisation and the sampling.
    """

    kind = "ensemble"
    #: Rows per member in one forward/backward pass of training (micro-batching).
    train_chunk_rows: int = 4096

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        n_members: int = 3,
        hidden_sizes: Sequence[int] = (256, 256, 256),
        activation: str = "leaky_relu",
        output_activation: str = "tanh",
        segment_score: str = "sum",
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        batch_size: int = 128,
        max_epochs: int = 200,
        target_accuracy: float = 0.97,
        sampling: str = "shuffle",
        normalize_inputs: bool = False,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ):
        super().__init__(
            obs_dim, act_dim, segment_score=segment_score, normalize_inputs=normalize_inputs, device=device, seed=seed
        )
        if sampling not in ("shuffle", "bootstrap"):
            raise ValueError(f"sampling must be 'shuffle' or 'bootstrap', got {sampling!r}")
        if batch_size < 1 or max_epochs < 1:
            raise ValueError(f"batch_size and max_epochs must be >= 1, got {batch_size}, {max_epochs}")
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.batch_size = int(batch_size)
        self.max_epochs = int(max_epochs)
        self.target_accuracy = float(target_accuracy)
        self.sampling = sampling
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.net = EnsembleMLP(n_members, self.in_dim, self.hidden_sizes, activation, output_activation, gen).to(
            self.device
        )
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    @property
    def n_members(self) -> int:
        """Number of ensemble members."""
        return self.net.n_members

    def _net_config(self) -> dict:
        return {
            "n_members": self.n_members,
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "output_activation": self.output_activation,
        }

    def _training_config(self) -> dict:
        return {"sampling": self.sampling}

    # ----------------------------------------------------------------- forward

    def _chunk_rows(self) -> int:
        # Keep one layer's activations of all members near 4 MB: on a 2-core CPU a
        # (3, 16384, 256) batch runs ~3x slower than the same work in 1024-row chunks.
        rows = (1 << 20) // (self.n_members * max(self.hidden_sizes, default=1))
        return int(min(65536, max(256, 1 << max(0, rows.bit_length() - 1))))

    def _step_rewards(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _pair_scores(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, _, h, d = x.shape
        r = self.net(x.reshape(-1, d)).reshape(self.n_members, b, 2, h)
        return segment_score(r, self.segment_score, None if mask is None else mask.to(r.dtype))

    # ----------------------------------------------------------------- training

    def _train_epoch(
        self, x: torch.Tensor, mask: torch.Tensor | None, y: torch.Tensor, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch of every member: each visits its own shuffle (or bootstrap resample) of
        the pairs in batches of ``batch_size``; all members step together."""
        fmask = None if mask is None else mask.to(x.dtype)
        n, _, h, d = x.shape
        m = self.n_members
        if self.sampling == "shuffle":
            order = np.argsort(self._rng.random((m, n)), axis=1)
        else:
            order = self._rng.integers(0, n, size=(m, n))
        order_t = torch.from_numpy(order).to(self.device)
        loss_sum = torch.zeros(m, device=self.device)
        correct = torch.zeros(m, device=self.device)
        counted = torch.zeros(m, device=self.device)
        for start in range(0, n, batch_size):
            batch = order_t[:, start : start + batch_size]  # (M, b): each member's own pairs
            b = batch.shape[1]
            self.optimizer.zero_grad(set_to_none=True)
            # Gradient accumulation over micro-batches of ~train_chunk_rows rows per
            # member: the same gradient as one pass, with activations that stay in
            # cache (faster on a CPU than one (M, b·2H, width) pass).
            n_micro = max(1, min(b, -(-b * 2 * h // self.train_chunk_rows)))
            micro = -(-b // n_micro)
            for ms in range(0, b, micro):
                idx = batch[:, ms : ms + micro]
                xb = x[idx]  # (M, c, 2, H, d)
                yb = y[idx]  # (M, c)
                c = idx.shape[1]
                r = self.net(xb.reshape(m, c * 2 * h, d)).reshape(m, c, 2, h)
                mb = self._batch_mask(None if fmask is None else fmask[idx], (m, c, 2, h))
                scores = segment_score(r, self.segment_score, mb)
                losses = bradley_terry_loss(scores[..., 0], scores[..., 1], yb, reduction="none")  # (M, c)
                # each member's own mean loss over its batch; members' parameters are disjoint
                (losses.sum() / b).backward()
                with torch.no_grad():
                    dec = yb != 0.5
                    correct += (((scores[..., 1] > scores[..., 0]) == (yb > 0.5)) & dec).sum(-1)
                    counted += dec.sum(-1)
                    loss_sum += losses.sum(-1)
            extra = self._extra_loss(b)
            if extra is not None:
                extra.backward()
            self.optimizer.step()
        acc = (correct / counted).cpu() if bool((counted > 0).all()) else torch.full((m,), math.nan)
        return acc, (loss_sum / n).cpu()

    # ----------------------------------------------- hooks of the PEBBLE-family methods

    def _batch_mask(self, mask: torch.Tensor | None, shape: tuple[int, int, int, int]) -> torch.Tensor | None:
        """The ``(M, c, 2, H)`` float mask a training micro-batch is scored with (``mask``: its
        padding mask or None). B-Pref: the padding mask; temporal cropping (SURF, QPA) narrows it."""
        return mask

    def _extra_loss(self, batch_size: int) -> torch.Tensor | None:
        """A loss added to each gradient step of ``batch_size`` labelled pairs per member (None: none;
        SURF's pseudo-label loss on unlabelled pairs)."""
        return None
