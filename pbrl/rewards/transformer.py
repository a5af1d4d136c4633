"""Preference Transformer (Kim et al., ICLR 2023) in PyTorch.

Architecture, following the paper and its code (``JaxPref/PrefTransformer``,
``flaxmodels/gpt2/trajectory_gpt2.py``'s ``TransRewardModel``):

1. each step's observation and action are embedded (linear) and a learned embedding
   of the step's position in the segment (1…H; 0 = padding) is added to both;
2. the tokens ``s_1, a_1, s_2, a_2, …`` go through a causal GPT-2-style transformer
   (pre-LayerNorm blocks, GELU MLP, final LayerNorm); the output at each *action*
   token, ``x_t``, depends on ``s_1, a_1, …, s_t, a_t``;
3. the head maps each ``x_t`` to the per-step reward ``r̂_t``, in one of two ways
   (``preference_attention``, the PT code's ``use_weighted_sum``):

   * ``False`` (**the default**, as in every command the PT README publishes: its
     config's ``use_weighted_sum = False`` is never overridden): an MLP
     ``Linear(embed_dim → embed_dim/2) → ReLU → Linear(→ 1)`` (PT's ``activations="relu"``,
     ``activation_final="none"``), and ``z_t = r̂_t``;
   * ``True`` (the paper's *preference attention layer*, Fig. 1): a linear map to a query
     ``q_t``, a key ``k_t`` and a scalar value ``r̂_t``, and non-causal attention
     ``z_t = Σ_k softmax_k(q_t·k_k / √d) r̂_k``;
4. the segment's score is the mean over time of ``z_t`` (PT's ``train_type="mean"``;
   with the attention layer, the paper's weighted sum ``Σ_k w_k r̂_k`` with importance
   weights ``w_k = mean_t softmax_k(q_t·k_k)``); ``segment_score="sum"`` sums instead.

Remaining deviations from the PT code: tokens are ordered ``s_t, a_t`` and the action
token is read (PT orders ``a_t, s_t`` and reads the state token: both see
``s_1, a_1, …, s_t, a_t``); positions are 1…H within the segment, not the episode
time step (PT's relabelling does the same); AdamW at a constant learning rate, not PT's
warm-up + cosine schedule (see :class:`PreferenceTransformer`).

Per-step rewards — the choice made here, as documented:

* :meth:`PreferenceTransformer.reward` (what an online agent and
  :class:`~pbrl.rewards.model.LearnedRewardSource` see) is the **single-step
  approximation**: the transition ``(s_t, a_t)`` alone, as a segment of length 1 at
  position 1. Attention over one step has weight 1, so the reward is ``z = r̂``. It
  needs no history, so it works on any batch of transitions. It is exactly what the
  PT code's relabelling (``label_mode="last"``) gives the first step of an episode.
* :meth:`PreferenceTransformer.trajectory_rewards` is the **PT code's relabelling** for
  offline datasets: for each step ``t`` of an episode, the window of the last
  ``window`` steps ending at ``t`` (left-padded and masked at the episode start) is
  fed through the model and the output ``z`` at its last position is the reward of
  step ``t``. Use it to relabel a dataset when the history is available.
* :meth:`PreferenceTransformer.segment_outputs` returns, for whole segments, ``z_t``,
  ``r̂_t`` and the attention weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .bradley_terry import bradley_terry_loss, segment_score
from .model import ArrayLike, PreferenceRewardModel, as_transitions


def _positions(valid: torch.Tensor | None) -> torch.Tensor | None:
    """Positions 1, 2, … of the real steps of each row, 0 at padding (``None`` -> ``None``)."""
    if valid is None:
        return None
    return torch.where(valid, valid.long().cumsum(-1), torch.zeros((), dtype=torch.long, device=valid.device))


class _Block(nn.Module):
    """A pre-LayerNorm GPT-2 block: masked multi-head self-attention and a GELU MLP."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"embed_dim ({dim}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        if mask is None:
            a = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class PreferenceTransformerNet(nn.Module):
    """The network of the Preference Transformer (its defaults are :class:`PreferenceTransformer`'s).

    :param obs_dim: observation dimension.
    :param act_dim: action dimension.
    :param max_len: longest segment (positions 1…max_len are embedded).
    :param embed_dim: token width (PT: 256).
    :param n_layers: causal transformer blocks (PT: 1).
    :param n_heads: attention heads (PT: 4).
    :param pref_attn_dim: query/key width of the preference attention layer (PT: 256).
    :param dropout: dropout of embeddings, attention and residuals (PT: 0.1).
    :param preference_attention: the preference attention layer (PT's ``use_weighted_sum``,
        False in PT's published commands) or, when False, PT's MLP reward head.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        max_len: int,
        embed_dim: int,
        n_layers: int,
        n_heads: int,
        pref_attn_dim: int,
        dropout: float,
        preference_attention: bool,
    ):
        super().__init__()
        self.obs_dim, self.act_dim, self.max_len = obs_dim, act_dim, max_len
        self.pref_attn_dim = pref_attn_dim
        self.preference_attention = bool(preference_attention)
        self.embed_obs = nn.Linear(obs_dim, embed_dim)
        self.embed_act = nn.Linear(act_dim, embed_dim)
        self.embed_pos = nn.Embedding(max_len + 1, embed_dim)
        self.ln_in = nn.LayerNorm(embed_dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(embed_dim, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(embed_dim)
        if self.preference_attention:
            self.pref = nn.Linear(embed_dim, 2 * pref_attn_dim + 1)
        else:  # PT's head without the weighted sum: Dense(n_embd // 2), relu, Dense(1)
            self.head = nn.Sequential(nn.Linear(embed_dim, embed_dim // 2), nn.ReLU(), nn.Linear(embed_dim // 2, 1))

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, positions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run segments through the model.

        :param x: ``(B, T, obs_dim + act_dim)`` normalised inputs.
        :param valid: optional ``(B, T)`` bool, False at padding steps.
        :param positions: optional ``(B, T)`` long positions (0 = padding); default 1…T.
        :return: ``(z, r, w)``: the preference-attention outputs ``(B, T)``, the per-step
            values ``(B, T)`` and the attention weights ``(B, T, T)``; without the
            preference attention layer ``z = r`` and ``w`` is the identity.
        """
        b, t, _ = x.shape
        if t > self.max_len:
            raise ValueError(f"segment length {t} exceeds the model's max_len {self.max_len}")
        if positions is None:
            positions = torch.arange(1, t + 1, device=x.device).expand(b, t)
        pos = self.embed_pos(positions)
        tok_s = self.embed_obs(x[..., : self.obs_dim]) + pos
        tok_a = self.embed_act(x[..., self.obs_dim :]) + pos
        h = torch.stack([tok_s, tok_a], dim=2).reshape(b, 2 * t, -1)
        h = self.drop(self.ln_in(h))
        mask = None
        if valid is not None:
            tok_valid = valid.repeat_interleave(2, dim=1)  # (B, 2T)
            causal = torch.ones(2 * t, 2 * t, dtype=torch.bool, device=x.device).tril()
            eye = torch.eye(2 * t, dtype=torch.bool, device=x.device)
            # attend causally to real tokens; a padding token attends to itself (no empty rows)
            mask = ((causal & tok_valid[:, None, :]) | eye)[:, None]
        for blk in self.blocks:
            h = blk(h, mask)
        h = self.ln_f(h)[:, 1::2]  # the action tokens
        if not self.preference_attention:
            r = self.head(h).squeeze(-1)
            return r, r, torch.eye(t, dtype=r.dtype, device=r.device).expand(b, t, t)
        q, k, r = torch.split(self.pref(h), [self.pref_attn_dim, self.pref_attn_dim, 1], dim=-1)
        logits = q @ k.transpose(1, 2) / math.sqrt(self.pref_attn_dim)
        if valid is not None:
            logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
        w = torch.softmax(logits, dim=-1)
        r = r.squeeze(-1)
        z = (w @ r.unsqueeze(-1)).squeeze(-1)
        return z, r, w


class PreferenceTransformer(PreferenceRewardModel):
    """Preference Transformer reward model, with the same training API as the ensemble.

    A single model (``n_members == 1``): :meth:`predict_proba` returns ``(1, B)``.
    Training uses AdamW (PT: lr 1e-4, weight decay 1e-4) without the paper's cosine
    schedule, since :meth:`fit` stops at a train-accuracy threshold rather than after a
    fixed number of steps. Segments use positions 1…H within the segment (the PT code's
    relabelling does the same), so the model needs no episode time step.

    :param obs_dim: observation dimension.
    :param act_dim: action dimension.
    :param max_len: longest segment the model accepts (100).
    :param embed_dim: token width (256).
    :param n_layers: causal transformer blocks (1).
    :param n_heads: attention heads (4).
    :param pref_attn_dim: query/key width of the preference attention (256).
    :param dropout: dropout rate (0.1).
    :param preference_attention: use the paper's preference attention layer (PT code's
        ``use_weighted_sum``). Default False, as in the PT README's published commands
        (its config's default, never overridden there); True is the paper's Fig. 1.
        Models saved before this option existed had the layer and load with it.
    :param segment_score: ``"mean"`` over time of the attention outputs (PT) or ``"sum"``.
    :param lr: AdamW learning rate (1e-4).
    :param weight_decay: AdamW weight decay (1e-4).
    :param batch_size: pairs per gradient step (256, as PT).
    :param max_epochs: default epoch cap of :meth:`fit` (200).
    :param target_accuracy: default train-accuracy threshold of :meth:`fit` (0.97).
    :param normalize_inputs: standardise ``(obs, action)`` with statistics of the
        training pairs, refreshed at every :meth:`fit`.
    :param device: torch device.
    :param seed: seed of the initialisation, dropout and sampling.
    """

    kind = "transformer"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        max_len: int = 100,
        embed_dim: int = 256,
        n_layers: int = 1,
        n_heads: int = 4,
        pref_attn_dim: int = 256,
        dropout: float = 0.1,
        preference_attention: bool = False,
        segment_score: str = "mean",
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        max_epochs: int = 200,
        target_accuracy: float = 0.97,
        normalize_inputs: bool = False,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ):
        super().__init__(
            obs_dim, act_dim, segment_score=segment_score, normalize_inputs=normalize_inputs, device=device, seed=seed
        )
        if batch_size < 1 or max_epochs < 1 or max_len < 1:
            raise ValueError(f"batch_size, max_epochs and max_len must be >= 1, got {batch_size}, {max_epochs}, {max_len}")
        self.arch = dict(
            max_len=int(max_len),
            embed_dim=int(embed_dim),
            n_layers=int(n_layers),
            n_heads=int(n_heads),
            pref_attn_dim=int(pref_attn_dim),
            dropout=float(dropout),
            preference_attention=bool(preference_attention),
        )
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.batch_size = int(batch_size)
        self.max_epochs = int(max_epochs)
        self.target_accuracy = float(target_accuracy)
        with self._seeded_torch():
            self.net = PreferenceTransformerNet(self.obs_dim, self.act_dim, **self.arch).to(self.device)
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        """A saved :meth:`config` with the defaults of models saved before an option existed."""
        return {"preference_attention": True, **config}

    @property
    def n_members(self) -> int:
        """1: a single model."""
        return 1

    @property
    def max_len(self) -> int:
        """The longest segment the model accepts."""
        return self.arch["max_len"]

    def _net_config(self) -> dict:
        return dict(self.arch)

    def _check_segment_length(self, h: int) -> None:
        if h > self.max_len:
            raise ValueError(f"segments of {h} steps exceed the model's max_len {self.max_len}")

    # ----------------------------------------------------------------- forward

    def _pair_scores(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, _, h, d = x.shape
        valid = None if mask is None else mask.reshape(b * 2, h)
        z, _, _ = self.net(x.reshape(b * 2, h, d), valid, _positions(valid))
        return segment_score(z, self.segment_score, None if valid is None else valid.to(z.dtype)).reshape(1, b, 2)

    def _step_rewards(self, x: torch.Tensor) -> torch.Tensor:
        z, _, _ = self.net(x[:, None, :])  # single-step approximation (see the module docstring)
        return z.reshape(1, -1)

    @torch.no_grad()
    def segment_outputs(self, obs: ArrayLike, actions: ArrayLike) -> dict[str, np.ndarray]:
        """Outputs for whole segments.

        :param obs: ``(B, H, obs_dim)`` observation segments.
        :param actions: ``(B, H, act_dim)`` action segments.
        :return: ``{"z": (B, H), "reward": (B, H), "attention": (B, H, H), "importance": (B, H)}``
            — the preference-attention outputs (their mean is the segment score), the
            per-step values ``r̂_t``, the attention weights and the importance weights
            (attention averaged over queries). Without the preference attention layer
            ``z`` is ``reward`` and the attention is the identity.
        """
        o = np.asarray(obs, dtype=np.float32)
        a = np.asarray(actions, dtype=np.float32)
        if o.ndim != 3 or a.ndim != 3 or o.shape[:2] != a.shape[:2]:
            raise ValueError(f"expected obs (B, H, obs_dim) and actions (B, H, act_dim); got {o.shape}, {a.shape}")
        b, h = o.shape[:2]
        ox = as_transitions(o.reshape(b * h, -1), "obs", self.obs_dim, "obs_dim")
        ax = as_transitions(a.reshape(b * h, -1), "actions", self.act_dim, "act_dim")
        x = self._normalize(torch.from_numpy(np.concatenate([ox, ax], -1)).to(self.device)).reshape(b, h, -1)
        self.net.eval()
        z, r, w = self.net(x)
        self._check_output(z, "segment outputs")
        return {
            "z": z.cpu().numpy(),
            "reward": r.cpu().numpy(),
            "attention": w.cpu().numpy(),
            "importance": w.mean(1).cpu().numpy(),
        }

    @torch.no_grad()
    def trajectory_rewards(
        self, obs: ArrayLike, actions: ArrayLike, window: int | None = None, *, batch_size: int = 1024
    ) -> np.ndarray:
        """Per-step rewards of one episode, as the PT code relabels datasets.

        The reward of step ``t`` is the preference-attention output at the last
        position of the window of the ``window`` steps ending at ``t`` (zero-padded and
        masked before the episode start, positions 1…min(t+1, window)).

        :param obs: ``(T, obs_dim)`` the episode's observations.
        :param actions: ``(T, act_dim)`` its actions.
        :param window: context length (default and maximum: ``max_len``; use the
            training segment length).
        :param batch_size: windows per forward pass.
        :return: ``(T,)`` float32 rewards.
        """
        window = self.max_len if window is None else int(window)
        if not 1 <= window <= self.max_len:
            raise ValueError(f"window must be in [1, max_len={self.max_len}], got {window}")
        o = as_transitions(obs, "obs", self.obs_dim, "obs_dim")
        a = as_transitions(actions, "actions", self.act_dim, "act_dim")
        if o.shape[0] != a.shape[0]:
            raise ValueError(f"obs has {o.shape[0]} steps but actions has {a.shape[0]}")
        t = o.shape[0]
        x = self._normalize(torch.from_numpy(np.concatenate([o, a], -1)).to(self.device))
        pad = torch.zeros(window - 1, x.shape[1], device=self.device)
        xp = torch.cat([pad, x], 0)
        windows = xp.unfold(0, window, 1).permute(0, 2, 1)  # (T, window, in_dim)
        steps = torch.arange(t, device=self.device)[:, None]
        slot = torch.arange(window, device=self.device)[None, :]
        n_pad = (window - 1 - steps).clamp_min(0)  # padded slots at the front of each window
        valid = slot >= n_pad
        positions = torch.where(valid, slot - n_pad + 1, torch.zeros_like(slot))
        self.net.eval()
        out = []
        for i in range(0, t, batch_size):
            z, _, _ = self.net(windows[i : i + batch_size], valid[i : i + batch_size], positions[i : i + batch_size])
            out.append(z[:, -1])
        r = torch.cat(out) if out else torch.zeros(0, device=self.device)
        return self._check_output(r, "rewards").cpu().numpy()

    # ----------------------------------------------------------------- training

    def _fit_randomness(self):
        return self._seeded_torch()  # seeds the dropout masks

    def _train_epoch(
        self, x: torch.Tensor, mask: torch.Tensor | None, y: torch.Tensor, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch: a fresh shuffle of the pairs in batches of ``batch_size``; padding is
        masked out of attention and of the segment scores."""
        n, _, h, d = x.shape
        order = torch.from_numpy(self._rng.permutation(n)).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        counted = torch.zeros((), device=self.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx], y[idx]
            b = idx.shape[0]
            valid = None if mask is None else mask[idx].reshape(b * 2, h)
            z, _, _ = self.net(xb.reshape(b * 2, h, d), valid, _positions(valid))
            scores = segment_score(z, self.segment_score, None if valid is None else valid.to(z.dtype))
            scores = scores.reshape(b, 2)
            losses = bradley_terry_loss(scores[:, 0], scores[:, 1], yb, reduction="none")
            self.optimizer.zero_grad(set_to_none=True)
            losses.mean().backward()
            self.optimizer.step()
            with torch.no_grad():
                dec = yb != 0.5
                correct += (((scores[:, 1] > scores[:, 0]) == (yb > 0.5)) & dec).sum()
                counted += dec.sum()
                loss_sum += losses.sum()
        acc = float(correct / counted) if float(counted) > 0 else math.nan
        return torch.tensor([acc], dtype=torch.float64), torch.tensor([float(loss_sum) / n], dtype=torch.float64)
