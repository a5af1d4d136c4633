"""What every preference-trained reward model shares.

Checking of preference data given as plain arrays, the base class :class:`PreferenceRewardModel` (prediction, aggregation over
an ensemble, evaluation, safe save/load) and :class:`LearnedRewardSource`, the
reward-source adapter that plugs a trained model into an agent.

Conventions (B-Pref's):

* a preference pair is two segments σ¹, σ² of ``H`` steps;
* ``label = 1`` means σ² is preferred, ``0`` means σ¹ is preferred, ``0.5`` means
  "equally good" (soft target ½, ½);
* a *skipped* pair (the teacher declined to answer) may be passed with label ``NaN``;
  it is dropped before training and counted in :class:`FitResult`.

Preference data are plain arrays so that this module does not depend on the
preference store's classes: ``obs`` of shape ``(B, 2, H, obs_dim)`` and ``actions``
of shape ``(B, 2, H, act_dim)`` — or each given as a tuple ``(seg1, seg2)`` of arrays of
shape ``(B, H, dim)`` — and ``labels`` of shape ``(B,)``.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from pbrl import phases

from .bradley_terry import SEGMENT_SCORES, bradley_terry_loss
from .source import RewardSource

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[float]]
PairArray = Union[np.ndarray, torch.Tensor, Sequence[np.ndarray]]

#: How an agent's reward is made from the members' rewards.
AGGREGATES = ("mean", "mean_minus_std", "min")


# ----------------------------------------------------------------- input checking


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be read as a numeric array ({exc})") from None


def as_pair_array(x: PairArray, name: str, dim: int, dim_name: str) -> np.ndarray:
    """Check a pair of segment arrays and return it as one ``(B, 2, H, dim)`` float32 array.

    :param x: ``(B, 2, H, dim)``, or a tuple ``(first, second)`` of ``(B, H, dim)`` arrays
        (only a tuple is read as a pair; a list is read as one array).
    :param name: the argument's name, for error messages (``"obs"``, ``"actions"``).
    :param dim: the expected last dimension (the model's obs or action dimension).
    :param dim_name: how to call ``dim`` in error messages (``"obs_dim"``).
    :return: the stacked float32 array.
    :raises ValueError: on a wrong rank, mismatched segments, a wrong last dimension or
        non-finite values.
    """
    if isinstance(x, tuple):
        if len(x) != 2:
            raise ValueError(f"{name}: a tuple must be a pair (first segments, second segments), got {len(x)} items")
        first, second = _to_numpy(x[0], f"{name}[0]"), _to_numpy(x[1], f"{name}[1]")
        if first.ndim != 3 or second.ndim != 3:
            raise ValueError(
                f"{name}: each segment array must have shape (B, H, {dim_name}); "
                f"got {first.shape} and {second.shape}"
            )
        if first.shape != second.shape:
            raise ValueError(
                f"{name}: the two segments of each pair must have the same shape (B, H, {dim_name}); "
                f"first segments {first.shape} vs second segments {second.shape}"
            )
        arr = np.stack([first, second], axis=1)
    else:
        arr = _to_numpy(x, name)
        if arr.ndim != 4 or arr.shape[1] != 2:
            raise ValueError(
                f"{name}: expected shape (B, 2, H, {dim_name}) — B pairs of two H-step segments — "
                f"or a tuple (first, second) of (B, H, {dim_name}) arrays; got shape {arr.shape}"
            )
    if arr.shape[-1] != dim:
        raise ValueError(f"{name}: last dimension is {arr.shape[-1]} but the model's {dim_name} is {dim}")
    if arr.shape[2] == 0:
        raise ValueError(f"{name}: segments have length H = 0")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}: contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    return arr


def as_pair_mask(mask: PairArray | None, shape: tuple[int, int, int]) -> np.ndarray | None:
    """Check a validity mask of segment pairs.

    :param mask: ``(B, 2, H)`` bool (True = real step, False = padding after the end of
        a short episode), a tuple ``(first, second)`` of ``(B, H)`` masks, or ``None``.
    :param shape: the pairs' ``(B, 2, H)``.
    :return: the bool mask, or ``None`` when every step is real.
    :raises ValueError: on a wrong shape or a segment without any real step.
    """
    if mask is None:
        return None
    if isinstance(mask, tuple):
        if len(mask) != 2:
            raise ValueError(f"mask: a tuple must be a pair (first, second), got {len(mask)} items")
        first, second = np.asarray(mask[0]), np.asarray(mask[1])
        if first.shape != second.shape:
            raise ValueError(f"mask: the two segments' masks differ in shape: {first.shape} vs {second.shape}")
        m = np.stack([first, second], axis=1)
    else:
        m = np.asarray(mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask)
    if m.shape != tuple(shape):
        raise ValueError(f"mask: expected shape (B, 2, H) = {tuple(shape)}, got {m.shape}")
    if m.dtype != np.bool_:
        if not np.isin(m, (0, 1)).all():
            raise ValueError("mask: must be boolean (True = real step, False = padding)")
        m = m.astype(bool)
    empty = ~m.any(-1)
    if empty.any():
        i, j = np.argwhere(empty)[0]
        raise ValueError(f"mask: segment {j} of pair {i} has no real step ({int(empty.sum())} such segments)")
    return None if m.all() else m


def validate_labels(labels: ArrayLike, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Check preference labels.

    :param labels: ``(B,)`` labels in {0, 1, 0.5}; ``NaN`` marks a skipped pair.
    :param n_pairs: the number of pairs ``B`` the labels must match.
    :return: ``(labels, keep)``: the float32 labels and a boolean mask of the
        answered (non-skipped) pairs.
    :raises ValueError: on a wrong shape, a label outside {0, 1, 0.5}, no pairs, or
        only skipped pairs.
    """
    y = _to_numpy(labels, "labels")
    if y.ndim != 1:
        raise ValueError(f"labels: expected shape (B,), got {y.shape}")
    if y.shape[0] != n_pairs:
        raise ValueError(f"labels: {y.shape[0]} labels for {n_pairs} segment pairs")
    if n_pairs == 0:
        raise ValueError("no preference pairs: the preference set is empty (B = 0)")
    keep = ~np.isnan(y)
    bad = keep & ~np.isin(y, (0.0, 0.5, 1.0))
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = ", ".join(f"labels[{i}] = {y[i]:g}" for i in idx[:5])
        raise ValueError(
            f"labels must be 0 (first segment preferred), 1 (second preferred) or 0.5 (equal), "
            f"with NaN for a skipped pair; got {bad.sum()} invalid: {shown}{' …' if len(idx) > 5 else ''}"
        )
    if not keep.any():
        raise ValueError(f"all {n_pairs} preference pairs are skipped (NaN labels): nothing to learn from")
    return y, keep


def as_transitions(x: ArrayLike, name: str, dim: int, dim_name: str) -> np.ndarray:
    """Check a batch of per-step inputs and return it as ``(N, dim)`` float32.

    :param x: ``(N, dim)`` (a single ``(dim,)`` vector is read as ``N = 1``).
    :param name: the argument's name, for error messages.
    :param dim: the expected last dimension.
    :param dim_name: how to call ``dim`` in error messages.
    :return: the float32 array.
    :raises ValueError: on a wrong shape or non-finite values.
    """
    arr = _to_numpy(x, name)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{name}: expected shape (N, {dim_name}={dim}), got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}: contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    return arr


# ------------------------------------------------------------------- the results


@dataclass
class FitResult:
    """What :meth:`PreferenceRewardModel.fit` did.

    :param epochs: epochs run.
    :param stopped_early: whether training stopped because the train accuracy
        reached the target (else the epoch cap was hit).
    :param train_accuracy: the last epoch's train accuracy, mean over members
        (pairs labelled 0.5 are not counted; NaN when every pair is a tie).
    :param member_accuracy: the last epoch's train accuracy of each member.
    :param loss: the last epoch's mean loss, mean over members.
    :param member_loss: the last epoch's mean loss of each member.
    :param n_pairs: labelled pairs trained on.
    :param n_ties: of which labelled 0.5.
    :param n_skipped: pairs dropped because their label was NaN (skipped).
    :param seconds: wall-clock time of the fit.
    """

    epochs: int
    stopped_early: bool
    train_accuracy: float
    member_accuracy: list[float]
    loss: float
    member_loss: list[float]
    n_pairs: int
    n_ties: int
    n_skipped: int
    seconds: float

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


# ------------------------------------------------------------------ normaliser


class InputNormalizer(nn.Module):
    """Per-feature standardisation of the model input ``(obs, action)``.

    Identity until :meth:`fit` is called; its statistics are part of the model's
    state dict, so they are saved and loaded with the weights.

    :param dim: the input dimension (``obs_dim + act_dim``).
    :param eps: features with a smaller standard deviation are only centred, not scaled.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Set the statistics from a batch of inputs.

        :param x: ``(..., dim)`` inputs.
        """
        flat = x.reshape(-1, x.shape[-1]).to(torch.float64)
        self.mean.copy_(flat.mean(0).to(self.mean.dtype))
        std = flat.std(0, unbiased=False)
        # a feature constant in the training data is centred, not scaled (no blow-up later)
        self.std.copy_(torch.where(std < self.eps, torch.ones_like(std), std).to(self.std.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


# ------------------------------------------------------------------ base class


class PreferenceRewardModel(abc.ABC):
    """A reward model ``r̂(s, a)`` learned from preferences (base class).

    Subclasses build a network taking the concatenated ``(obs, action)`` input of
    dimension ``obs_dim + act_dim`` and implement :meth:`_pair_scores`,
    :meth:`_step_rewards`, :meth:`_train_epoch` (one pass over the pairs; :meth:`fit`
    runs the epochs) and :meth:`_net_config` (the network's part of :meth:`config`).
    Prediction methods take and return numpy arrays, run under ``torch.no_grad`` in
    batches, and raise on non-finite outputs.

    :param obs_dim: observation dimension.
    :param act_dim: action dimension.
    :param segment_score: how a segment's score is made from its per-step rewards:
        ``"sum"`` (B-Pref) or ``"mean"`` (Preference Transformer's code).
    :param normalize_inputs: standardise ``(obs, action)`` with statistics taken from
        the training pairs at every :meth:`fit`.
    :param device: torch device (``"cpu"`` by default).
    :param seed: seed of the weight initialisation and of the batch sampling.
    """

    #: The checkpoint's ``kind`` (set by subclasses).
    kind: ClassVar[str] = ""
    #: :meth:`fit` stops early only after more epochs than this (RIME's ``least_reward_update``).
    min_epochs: int = 0

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        segment_score: str = "sum",
        normalize_inputs: bool = False,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ):
        if int(obs_dim) <= 0 or int(act_dim) < 0:
            raise ValueError(f"obs_dim must be positive and act_dim non-negative, got {obs_dim}, {act_dim}")
        if segment_score not in SEGMENT_SCORES:
            raise ValueError(f"segment_score must be one of {SEGMENT_SCORES}, got {segment_score!r}")
        self.obs_dim = int(obs_dim)
        self.act_dim = int(act_dim)
        self.segment_score = segment_score
        self.normalize_inputs = bool(normalize_inputs)
        self.device = torch.device(device)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.normalizer = InputNormalizer(self.in_dim).to(self.device)

    # ---------------------------------------------------------------- to implement

    #: The network (an ``nn.Module``), built by the subclass.
    net: nn.Module
    #: Its optimiser, built by the subclass.
    optimizer: torch.optim.Optimizer
    #: Its optimiser's settings and :meth:`fit`'s defaults, set by the subclass.
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    target_accuracy: float

    @property
    @abc.abstractmethod
    def n_members(self) -> int:
        """Number of ensemble members (1 for a single model)."""

    @abc.abstractmethod
    def _pair_scores(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Segment scores of normalised pairs ``(B, 2, H, in_dim)`` (and an optional
        ``(B, 2, H)`` bool mask of real steps) -> ``(M, B, 2)``."""

    @abc.abstractmethod
    def _step_rewards(self, x: torch.Tensor) -> torch.Tensor:
        """Per-transition rewards of normalised inputs ``(N, in_dim)`` -> ``(M, N)``."""

    @abc.abstractmethod
    def _train_epoch(
        self, x: torch.Tensor, mask: torch.Tensor | None, y: torch.Tensor, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training pass over the normalised pairs ``(B, 2, H, in_dim)`` (with an optional
        ``(B, 2, H)`` bool mask of real steps) and their labels ``(B,)``, ``batch_size`` pairs per
        step -> each member's train accuracy and mean loss over the epoch, two ``(M,)`` CPU
        tensors (the accuracy NaN when every pair is a tie)."""

    @abc.abstractmethod
    def _net_config(self) -> dict:
        """The network's constructor arguments (architecture), JSON-ready."""

    def _training_config(self) -> dict:
        """The subclass's own training arguments, JSON-ready (none by default)."""
        return {}

    def config(self) -> dict:
        """The constructor arguments, JSON-ready (what :meth:`load` rebuilds from), in the
        subclasses' constructor order."""
        return {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            **self._net_config(),
            "segment_score": self.segment_score,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "target_accuracy": self.target_accuracy,
            **self._training_config(),
            "normalize_inputs": self.normalize_inputs,
            "device": str(self.device),
            "seed": self.seed,
        }

    # --------------------------------------------------------------------- basics

    @property
    def in_dim(self) -> int:
        """The network's input dimension, ``obs_dim + act_dim``."""
        return self.obs_dim + self.act_dim

    def _prepare_pairs(
        self, obs: PairArray, actions: PairArray, mask: PairArray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        o = as_pair_array(obs, "obs", self.obs_dim, "obs_dim")
        a = as_pair_array(actions, "actions", self.act_dim, "act_dim")
        if o.shape[:3] != a.shape[:3]:
            raise ValueError(
                f"obs and actions disagree on (B, 2, H): obs {o.shape[:3]} vs actions {a.shape[:3]}"
            )
        m = as_pair_mask(mask, o.shape[:3])
        x = torch.from_numpy(np.concatenate([o, a], axis=-1)).to(self.device)
        return x, (None if m is None else torch.from_numpy(m).to(self.device))

    def _prepare_training(
        self, obs: PairArray, actions: PairArray, labels: ArrayLike, mask: PairArray | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, int]:
        """Check and convert training data; drop skipped pairs; fit the normaliser.

        :return: ``(x, mask, labels, n_skipped)`` with ``x`` normalised.
        """
        x, m = self._prepare_pairs(obs, actions, mask)
        self._check_segment_length(x.shape[2])
        y, keep = validate_labels(labels, x.shape[0])
        n_skipped = int((~keep).sum())
        if n_skipped:
            k = torch.from_numpy(keep).to(self.device)
            x, m, y = x[k], (None if m is None else m[k]), y[keep]
        if self.normalize_inputs:
            self.normalizer.fit(x if m is None else x[m])
        return self._normalize(x), m, torch.from_numpy(y).to(self.device), n_skipped

    def _chunk_rows(self) -> int:
        """Rows per forward pass when evaluating many transitions (subclasses tune it)."""
        return 4096

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise inputs (identity unless ``normalize_inputs``)."""
        return self.normalizer(x) if self.normalize_inputs else x

    def _check_segment_length(self, h: int) -> None:
        """Raise ``ValueError`` if the model cannot take segments of ``h`` steps."""

    def _check_output(self, out: torch.Tensor, what: str) -> torch.Tensor:
        finite = torch.isfinite(out)
        if bool(finite.all()):
            return out
        n_bad = int((~finite).sum())
        bad_params = [
            name
            for name, p in list(self.net.named_parameters()) + list(self.normalizer.named_buffers())
            if not bool(torch.isfinite(p).all())
        ]
        if bad_params:
            cause = (
                f"the model's own weights are non-finite ({', '.join(bad_params[:4])}): "
                "training diverged or the checkpoint is corrupt"
            )
        else:
            cause = (
                "the inputs and weights are finite, so the computation overflowed "
                "(inputs far outside the training range, or exploding weights)"
            )
        raise FloatingPointError(f"{type(self).__name__} produced NaN/inf {what} ({n_bad} values): {cause}")

    def _snapshot(self) -> dict:
        return {
            "net": copy.deepcopy(self.net.state_dict()),
            "normalizer": copy.deepcopy(self.normalizer.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
        }

    def _restore(self, snap: Mapping[str, Any]) -> None:
        self.net.load_state_dict(snap["net"])
        self.normalizer.load_state_dict(snap["normalizer"])
        self.optimizer.load_state_dict(snap["optimizer"])

    def _raise_non_finite_loss(self, snap: Mapping[str, Any], epoch: int) -> None:
        self._restore(snap)
        raise FloatingPointError(
            f"{type(self).__name__}: the preference loss became NaN/inf in epoch {epoch + 1}; the "
            "inputs were checked finite, so training diverged (try a lower learning rate or "
            "normalize_inputs=True). The weights from before this fit() were restored."
        )

    # ------------------------------------------------------------------ training

    @contextlib.contextmanager
    def _seeded_torch(self):
        """Torch's global generator seeded from the model's own (for initialisation and
        dropout), and restored afterwards."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self._rng.integers(2**62)))
            yield

    def _fit_randomness(self) -> contextlib.AbstractContextManager:
        """The context :meth:`fit`'s epochs run in (a model with dropout seeds torch here)."""
        return contextlib.nullcontext()

    def fit(
        self,
        obs: PairArray,
        actions: PairArray,
        labels: ArrayLike,
        *,
        mask: PairArray | None = None,
        max_epochs: int | None = None,
        target_accuracy: float | None = None,
        batch_size: int | None = None,
    ) -> FitResult:
        """Train on labelled pairs with the Bradley–Terry loss over segment scores.

        Each epoch is one pass over the pairs in batches of ``batch_size`` (see the
        subclass's :meth:`_train_epoch`); training stops when the epoch's train accuracy,
        averaged over members, reaches ``target_accuracy`` (B-Pref: 0.97), or after
        ``max_epochs``. Optimiser state carries over between calls (B-Pref retrains on the
        growing label set).

        :param obs: ``(B, 2, H, obs_dim)`` or a tuple ``(first, second)`` of ``(B, H, obs_dim)``.
        :param actions: ``(B, 2, H, act_dim)`` or a tuple of two ``(B, H, act_dim)``.
        :param labels: ``(B,)`` in {0, 1, 0.5}; 1 = second segment preferred; NaN = skipped.
        :param mask: optional ``(B, 2, H)`` bool mask of real steps (False = padding after
            a short episode's end), or a tuple of two ``(B, H)`` masks; padding is left out of
            the segment scores (and, in a transformer, out of attention).
        :param max_epochs: epoch cap (default: the model's ``max_epochs``).
        :param target_accuracy: stop at this train accuracy (default: the model's).
        :param batch_size: pairs per step, per member (default: the model's).
        :return: what happened, as a :class:`FitResult`.
        :raises ValueError: on bad shapes or labels, segments the model cannot take (longer
            than a transformer's ``max_len``), an empty or all-skipped set.
        :raises FloatingPointError: if the loss becomes NaN (weights are restored).
        """
        t0 = time.perf_counter()
        max_epochs = self.max_epochs if max_epochs is None else int(max_epochs)
        target = self.target_accuracy if target_accuracy is None else float(target_accuracy)
        bs = self.batch_size if batch_size is None else int(batch_size)
        if max_epochs < 1 or bs < 1:
            raise ValueError(f"max_epochs and batch_size must be >= 1, got {max_epochs}, {bs}")
        snap = self._snapshot()
        x, pad_mask, y, n_skipped = self._prepare_training(obs, actions, labels, mask)
        self.net.train()
        stopped = False
        with self._fit_randomness():
            for epoch in range(max_epochs):
                acc, loss = self._train_epoch(x, pad_mask, y, bs)
                if not bool(torch.isfinite(loss).all()):
                    self._raise_non_finite_loss(snap, epoch)
                phases.report("fitting the reward model", epoch + 1, max_epochs, f"train accuracy {float(acc.mean()):.3f}")
                if bool(acc.mean() >= target) and epoch + 1 > self.min_epochs:
                    stopped = True
                    break
        self.net.eval()
        return FitResult(
            epochs=epoch + 1,
            stopped_early=stopped,
            train_accuracy=float(acc.mean()),
            member_accuracy=[float(a) for a in acc],
            loss=float(loss.mean()),
            member_loss=[float(v) for v in loss],
            n_pairs=int(x.shape[0]),
            n_ties=int((y == 0.5).sum()),
            n_skipped=n_skipped,
            seconds=time.perf_counter() - t0,
        )

    # ---------------------------------------------------------------- prediction

    @torch.no_grad()
    def predict_proba(
        self, obs: PairArray, actions: PairArray, *, mask: PairArray | None = None, chunk_pairs: int | None = None
    ) -> np.ndarray:
        """Each member's probability that the *second* segment is preferred.

        ``P(σ² ≻ σ¹) = σ(s² − s¹)``, i.e. the probability of label 1 — the quantity
        query selection uses (disagreement = std over members, entropy of the mean).

        :param obs: pairs of observation segments, ``(B, 2, H, obs_dim)`` or
            ``(first, second)``.
        :param actions: pairs of action segments, ``(B, 2, H, act_dim)`` or
            ``(first, second)``.
        :param mask: optional ``(B, 2, H)`` bool mask of real steps (or a tuple of two ``(B, H)``).
        :param chunk_pairs: pairs per forward pass (default: sized to stay in cache).
        :return: ``(n_members, B)`` probabilities.
        """
        scores = self._scores_of_pairs(obs, actions, mask, chunk_pairs)
        return torch.sigmoid(scores[..., 1] - scores[..., 0]).cpu().numpy()

    @torch.no_grad()
    def pair_scores(
        self, obs: PairArray, actions: PairArray, *, mask: PairArray | None = None, chunk_pairs: int | None = None
    ) -> np.ndarray:
        """Each member's score (sum or mean of predicted rewards) of both segments.

        :param obs: pairs of observation segments, ``(B, 2, H, obs_dim)`` or ``(first, second)``.
        :param actions: pairs of action segments, ``(B, 2, H, act_dim)`` or ``(first, second)``.
        :param mask: optional ``(B, 2, H)`` bool mask of real steps (or a tuple of two ``(B, H)``).
        :param chunk_pairs: pairs per forward pass (default: sized to stay in cache).
        :return: ``(n_members, B, 2)`` scores.
        """
        return self._scores_of_pairs(obs, actions, mask, chunk_pairs).cpu().numpy()

    def _scores_of_pairs(
        self, obs: PairArray, actions: PairArray, mask: PairArray | None, chunk_pairs: int | None
    ) -> torch.Tensor:
        x, m = self._prepare_pairs(obs, actions, mask)
        self._check_segment_length(x.shape[2])
        return self._scores_normalized(self._normalize(x), m, chunk_pairs)

    def _scores_normalized(self, x: torch.Tensor, mask: torch.Tensor | None, chunk_pairs: int | None) -> torch.Tensor:
        self.net.eval()
        if chunk_pairs is None:
            chunk_pairs = max(1, self._chunk_rows() // (2 * x.shape[2]))
        out = torch.cat(
            [
                self._pair_scores(x[i : i + chunk_pairs], None if mask is None else mask[i : i + chunk_pairs])
                for i in range(0, x.shape[0], chunk_pairs)
            ],
            1,
        )
        return self._check_output(out, "segment scores")

    @torch.no_grad()
    def member_rewards(self, obs: ArrayLike, actions: ArrayLike, *, chunk: int | None = None) -> np.ndarray:
        """Each member's per-transition reward ``r̂_m(s, a)``.

        :param obs: ``(N, obs_dim)`` observations.
        :param actions: ``(N, act_dim)`` actions.
        :param chunk: transitions per forward pass (default: sized to stay in cache).
        :return: ``(n_members, N)`` float32 rewards.
        """
        return self._member_rewards_t(obs, actions, chunk).cpu().numpy()

    def _member_rewards_t(self, obs: ArrayLike, actions: ArrayLike, chunk: int | None) -> torch.Tensor:
        chunk = self._chunk_rows() if chunk is None else max(1, int(chunk))
        o = as_transitions(obs, "obs", self.obs_dim, "obs_dim")
        a = as_transitions(actions, "actions", self.act_dim, "act_dim")
        if o.shape[0] != a.shape[0]:
            raise ValueError(f"obs has {o.shape[0]} rows but actions has {a.shape[0]}")
        x = self._normalize(torch.from_numpy(np.concatenate([o, a], axis=-1)).to(self.device))
        self.net.eval()
        if x.shape[0] <= chunk:
            out = self._step_rewards(x)
        else:
            out = torch.cat([self._step_rewards(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)], 1)
        return self._check_output(out, "rewards")

    @torch.no_grad()
    def reward(
        self,
        obs: ArrayLike,
        actions: ArrayLike,
        *,
        aggregate: str = "mean",
        k: float = 1.0,
        chunk: int | None = None,
    ) -> np.ndarray:
        """The reward an agent trains on: the members' rewards aggregated.

        :param obs: ``(N, obs_dim)`` observations.
        :param actions: ``(N, act_dim)`` actions.
        :param aggregate: ``"mean"``; ``"mean_minus_std"``: mean − k·std over members
            (uncertainty-penalised); ``"min"``: the worst case over members. The last
            two counter reward over-optimisation.
        :param k: the std coefficient of ``"mean_minus_std"``.
        :param chunk: transitions per forward pass (default: sized to stay in cache).
        :return: ``(N,)`` float32 rewards.
        """
        r = self._member_rewards_t(obs, actions, chunk)
        return aggregate_members(r, aggregate, k).cpu().numpy()

    @torch.no_grad()
    def evaluate(
        self, obs: PairArray, actions: PairArray, labels: ArrayLike, *, mask: PairArray | None = None
    ) -> dict:
        """Loss and accuracy on labelled pairs (e.g. a held-out set).

        The ensemble's prediction is the members' mean probability; ties (0.5) count
        in the loss but not in the accuracy; skipped (NaN) pairs are ignored.

        :param obs: pairs of observation segments, ``(B, 2, H, obs_dim)`` or ``(first, second)``.
        :param actions: pairs of action segments, ``(B, 2, H, act_dim)`` or ``(first, second)``.
        :param labels: ``(B,)`` labels in {0, 1, 0.5}, NaN = skipped.
        :param mask: optional ``(B, 2, H)`` bool mask of real steps (or a tuple of two ``(B, H)``).
        :return: ``{"accuracy", "loss", "member_accuracy", "n_pairs", "n_ties"}``; the
            accuracy is NaN when every pair is a tie.
        """
        x, m = self._prepare_pairs(obs, actions, mask)
        self._check_segment_length(x.shape[2])
        y, keep = validate_labels(labels, x.shape[0])
        k = torch.from_numpy(keep).to(self.device)
        scores = self._scores_normalized(self._normalize(x[k]), None if m is None else m[k], None)  # (M, B, 2)
        y_t = torch.from_numpy(y[keep]).to(scores.device)
        loss = bradley_terry_loss(scores[..., 0], scores[..., 1], y_t, reduction="none").mean(-1)
        p = torch.sigmoid(scores[..., 1] - scores[..., 0])
        decisive = y_t != 0.5
        correct_m = ((p > 0.5) == (y_t > 0.5)) & decisive
        n_dec = int(decisive.sum())
        if n_dec:
            member_acc = (correct_m.sum(-1).double() / n_dec).tolist()
            acc = float((((p.mean(0) > 0.5) == (y_t > 0.5)) & decisive).sum()) / n_dec
        else:
            member_acc, acc = [math.nan] * self.n_members, math.nan
        return {
            "accuracy": acc,
            "loss": float(loss.mean()),
            "member_accuracy": member_acc,
            "n_pairs": int(keep.sum()),
            "n_ties": int((~decisive).sum()),
        }

    def as_reward_source(self, aggregate: str = "mean", k: float = 1.0) -> "LearnedRewardSource":
        """This model as a reward source ``(obs, action, next_obs, info) -> (N,)``.

        :param aggregate: see :meth:`reward`.
        :param k: see :meth:`reward`.
        :return: the reward source.
        """
        return LearnedRewardSource(self, aggregate=aggregate, k=k)

    # -------------------------------------------------------------- persistence

    def state_dicts(self) -> dict[str, dict]:
        """The model's tensors: network, normaliser and optimiser state dicts."""
        return {
            "net": self.net.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dicts(self, states: Mapping[str, Any]) -> None:
        """Load what :meth:`state_dicts` returned (strictly: names and shapes must match).

        :param states: the state dicts.
        :raises ValueError: when they don't fit this model.
        """
        missing = {"net", "normalizer"} - set(states)
        if missing:
            raise ValueError(f"checkpoint lacks {sorted(missing)}")
        try:
            self.net.load_state_dict(states["net"])
            self.normalizer.load_state_dict(states["normalizer"])
            if "optimizer" in states:
                self.optimizer.load_state_dict(states["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ValueError(f"checkpoint does not fit a {type(self).__name__} with this config: {exc}") from None

    def save(self, path: str) -> str:
        """Save config and weights to the checkpoint folder ``path`` (atomically).

        See :mod:`pbrl.rewards.persist` for the format.

        :param path: the checkpoint folder (created if needed).
        :return: ``path``.
        """
        from .persist import save_checkpoint

        save_checkpoint(path, kind=self.kind, config=self.config(), states=self.state_dicts())
        return path

    @staticmethod
    def upgrade_config(config: dict) -> dict:
        """A saved :meth:`config` completed for this version (subclasses add the defaults that
        models saved before an option existed had); as saved by default."""
        return config

    @classmethod
    def load(cls, path: str, device: str | torch.device | None = None) -> "PreferenceRewardModel":
        """Load a model saved with :meth:`save`; weights only, verified against their hash.

        :param path: the checkpoint folder.
        :param device: where to put the model (default: the saved config's device).
        :return: the model.
        :raises pbrl.rewards.persist.CheckpointError: for a missing, tampered, pickled
            or foreign checkpoint.
        """
        from .persist import CheckpointError, load_checkpoint

        kind, config, states = load_checkpoint(path, expected_kind=cls.kind or None)
        config = cls.upgrade_config(config)
        if device is not None:
            config = dict(config, device=str(device))
        try:
            model = cls(**config)
        except TypeError as exc:
            raise CheckpointError(f"{path}: config does not fit {cls.__name__}: {exc}") from None
        try:
            model.load_state_dicts(states)
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        return model


def aggregate_members(rewards: torch.Tensor, aggregate: str = "mean", k: float = 1.0) -> torch.Tensor:
    """Combine the members' rewards ``(M, N)`` into one ``(N,)`` reward.

    :param rewards: ``(M, N)`` per-member rewards.
    :param aggregate: ``"mean"``, ``"mean_minus_std"`` (mean − k·std, population std
        over members) or ``"min"`` (worst case).
    :param k: the std coefficient.
    :return: ``(N,)`` rewards.
    """
    if aggregate == "mean":
        return rewards.mean(0)
    if aggregate == "mean_minus_std":
        return rewards.mean(0) - k * rewards.std(0, unbiased=False)
    if aggregate == "min":
        return rewards.min(0).values
    raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")


class LearnedRewardSource(RewardSource):
    """A learned reward model as a reward source (:class:`pbrl.rewards.source.RewardSource`).

    ``source(obs, action, next_obs, info) -> (N,)`` float64 rewards ``r̂(s, a)``; the
    next observation and ``info`` are accepted and ignored (the model is a function of
    ``(s, a)``), so both may be omitted: ``source(obs, action)``. Evaluation is batched
    (``chunk`` transitions per forward pass, for relabelling large buffers), without
    gradients, and raises :class:`FloatingPointError` naming the cause on NaN output.

    :param model: a trained :class:`PreferenceRewardModel`.
    :param aggregate: ``"mean"``, ``"mean_minus_std"`` (mean − k·std) or ``"min"``
        (worst case) over members.
    :param k: the std coefficient of ``"mean_minus_std"``.
    :param chunk: transitions per forward pass (default: the model's, sized to stay in cache).
    """

    name = "learned"

    def __init__(
        self, model: PreferenceRewardModel, aggregate: str = "mean", k: float = 1.0, chunk: int | None = None
    ):
        super().__init__()
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        self.model = model
        self.aggregate = aggregate
        self.k = float(k)
        self.chunk = None if chunk is None else int(chunk)

    def compute(
        self, obs: ArrayLike, action: ArrayLike, next_obs: Any = None, info: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """Rewards of a batch of transitions.

        :param obs: ``(N, obs_dim)`` observations.
        :param action: ``(N, act_dim)`` actions.
        :param next_obs: ignored.
        :param info: ignored.
        :return: ``(N,)`` float32 rewards.
        """
        return self.model.reward(obs, action, aggregate=self.aggregate, k=self.k, chunk=self.chunk)

    def __call__(self, obs, action, next_obs=None, info=None) -> np.ndarray:
        return super().__call__(obs, action, next_obs, {} if info is None else info)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for run configs."""
        return {
            "kind": self.name,
            "model": self.model.kind,
            "aggregate": self.aggregate,
            "k": self.k,
            "config": self.model.config(),
        }

    def __repr__(self) -> str:
        return f"LearnedRewardSource({type(self.model).__name__}, aggregate={self.aggregate!r}, k={self.k})"
