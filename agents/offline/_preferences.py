"""Preference pairs for offline agents, read from a preference store and checked
against the dataset they refer to.

A stored segment made from a dataset (``pbrl dataset label``) records its origin:
the dataset id, the episode's index in it and the start step. Offline agents
gather segments from the dataset's resident tensors by these origins (so that
segments and transitions share one state normalisation, and IPL gets ``s'``), after
checking that every origin exists in the dataset and that the stored observations
and actions are the dataset's — a store labelled on another version of the dataset
is refused instead of silently training on the wrong steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ._data import OfflineData, SegmentIndex
from ._errors import PreferenceReferenceError  # noqa: F401  (defined without torch; importable from here as before)


@dataclass
class PreferencePairs:
    """Labelled pairs of dataset windows.

    Attributes:
        index: (n, 2, H) int64 transition indices of σ¹ (``[:, 0]``) and σ² (``[:, 1]``).
        mask: (n, 2, H) bool, False on padding after a short episode's end.
        labels: (n,) float64 in {0, 0.5, 1}; 1 = σ² preferred.
        query_ids: (n,) the store's query ids.
        store: the store file.
    """

    index: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    query_ids: np.ndarray
    store: str = ""

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def horizon(self) -> int:
        return int(self.index.shape[2])

    def select(self, rows: np.ndarray) -> "PreferencePairs":
        rows = np.asarray(rows)
        return PreferencePairs(self.index[rows], self.mask[rows], self.labels[rows], self.query_ids[rows], self.store)

    def split(self, holdout: float, seed: int) -> tuple["PreferencePairs", "PreferencePairs | None"]:
        """(train, held-out) with ``holdout`` of the pairs held out (None when too few)."""
        n_held = int(round(len(self) * float(holdout)))
        if holdout <= 0 or n_held < 1 or len(self) - n_held < 1:
            return self, None
        order = np.random.default_rng(seed).permutation(len(self))
        return self.select(np.sort(order[n_held:])), self.select(np.sort(order[:n_held]))

    def resident(self, device: torch.device | str) -> "ResidentPairs":
        """These pairs as tensors on ``device``, sampled there (the update's labelled batches)."""
        return ResidentPairs(self, device)

    def arrays(self, data: OfflineData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw (unnormalised) ``obs (n, 2, H, obs_dim)``, ``actions (n, 2, H, act_dim)`` and ``mask``
        with padded steps zeroed, as reward models take them."""
        obs = data.observations[self.index] * self.mask[..., None]
        act = data.actions[self.index] * self.mask[..., None]
        return obs.astype(np.float32), act.astype(np.float32), self.mask


class ResidentPairs:
    """Labelled pairs drawn uniformly on the device: ``sample(n) -> (index (n, 2, H), mask, labels (n,))``,
    the mask and labels as float32 (the losses' dtype)."""

    def __init__(self, pairs: PreferencePairs, device: torch.device | str):
        self.index = torch.as_tensor(pairs.index, device=device)
        self.mask = torch.as_tensor(pairs.mask, device=device, dtype=torch.float32)
        self.labels = torch.as_tensor(pairs.labels, device=device, dtype=torch.float32)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = torch.randint(self.labels.numel(), (int(n),), generator=generator, device=self.labels.device)
        return self.index[rows], self.mask[rows], self.labels[rows]


def load_preferences(
    store_path: str | os.PathLike,
    data: OfflineData,
    *,
    max_pairs: int | None = None,
    include_equal: bool = True,
) -> PreferencePairs:
    """The labelled pairs of ``store_path`` made from ``data``'s dataset, checked against it.

    Args:
        store_path: a pbrl preference store (SQLite).
        data: the dataset the agent trains on.
        max_pairs: use only the first ``max_pairs`` labels (in the order given), e.g.
            500 of a 2000-label store.
        include_equal: keep 0.5 (equal) labels.

    Raises:
        FileNotFoundError: no such store file.
        pbrl.preferences.EmptyPreferencesError: the store holds no usable label for this dataset.
        PreferenceReferenceError: segments that point outside the dataset or don't match it.
    """
    from pbrl.preferences import EmptyPreferencesError, PreferenceStore

    path = os.fspath(store_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"preference store {path!r} does not exist (make one with `pbrl dataset label {data.source} --store {path}`)")
    with PreferenceStore(path, create=False) as store:
        try:
            prefs = store.labelled_pairs(source_ids=[data.source], include_equal=include_equal)
        except EmptyPreferencesError as exc:
            datasets = store.info().get("datasets") or []
            others = [d for d in datasets if d != data.source]
            if others:
                raise EmptyPreferencesError(
                    f"{exc}; the store's labels are for {', '.join(map(repr, others))}, not for dataset {data.source!r}"
                ) from None
            raise
    if max_pairs is not None:
        if int(max_pairs) < 1:
            raise ValueError(f"max_pairs must be >= 1, got {max_pairs!r}")
        if len(prefs) < int(max_pairs):
            raise EmptyPreferencesError(
                f"{path} holds {len(prefs)} labelled pairs for {data.source!r}, fewer than the {int(max_pairs)} asked for"
            )
    pairs = pairs_from_segments(prefs.first, prefs.second, prefs.labels, data, query_ids=prefs.query_ids, store=path)
    if max_pairs is not None:
        pairs = pairs.select(np.arange(int(max_pairs)))
    return pairs


def _check_origins(batch, data: OfflineData, which: str, store: str) -> None:
    kinds = np.asarray(batch.origin_kind)
    sources = np.asarray(batch.source_id)
    bad = (kinds != "dataset") | (sources != data.source)
    if bad.any():
        seen = sorted({f"{k}:{s}" for k, s in zip(kinds[bad], sources[bad])})[:3]
        raise PreferenceReferenceError(
            f"{store}: {int(bad.sum())} {which} segment(s) were not cut from dataset {data.source!r} (origins {', '.join(seen)})"
        )
    ep = np.asarray(batch.episode, dtype=np.int64)
    start = np.asarray(batch.start, dtype=np.int64)
    missing = (ep < 0) | (ep >= data.num_episodes)
    if missing.any():
        eps = sorted(set(ep[missing].tolist()))
        raise PreferenceReferenceError(
            f"{store}: {int(missing.sum())} {which} segment(s) refer to episode(s) {eps[:5]}{' …' if len(eps) > 5 else ''} "
            f"of dataset {data.source!r}, which has {data.num_episodes} episodes (0…{data.num_episodes - 1}); "
            "the preferences were labelled on another version of the dataset"
        )
    outside = (start < 0) | (start >= data.lengths[ep])
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise PreferenceReferenceError(
            f"{store}: {int(outside.sum())} {which} segment(s) start outside their episode, e.g. step {int(start[i])} of "
            f"episode {int(ep[i])}, which has {int(data.lengths[ep[i]])} steps in dataset {data.source!r}"
        )


def pairs_from_segments(first, second, labels, data: OfflineData, *, query_ids=None, store: str = "<pairs>") -> PreferencePairs:
    """Check two :class:`~pbrl.preferences.SegmentBatch` against ``data`` and index them into it."""
    if len(first) != len(second) or len(first) != len(labels):
        raise ValueError(f"{len(first)} first segments, {len(second)} second segments and {len(labels)} labels")
    if first.horizon != second.horizon:
        raise PreferenceReferenceError(f"{store}: segments of {first.horizon} and {second.horizon} steps cannot be paired")
    horizon = first.horizon
    seg = SegmentIndex(data.lengths, horizon)
    index, mask = [], []
    for which, batch in (("first", first), ("second", second)):
        _check_origins(batch, data, which, store)
        idx, m = seg.windows(batch.episode, batch.start)
        if not np.array_equal(m, batch.mask):
            rows = np.flatnonzero((m != batch.mask).any(1))
            raise PreferenceReferenceError(
                f"{store}: {rows.size} {which} segment(s) have a padding mask that does not fit their episode's length in "
                f"{data.source!r} (e.g. episode {int(batch.episode[rows[0]])}); the dataset changed since labelling"
            )
        stored_obs = np.asarray(batch.obs, dtype=np.float32)[m]
        stored_act = np.asarray(batch.actions, dtype=np.float32)[m]
        if not (
            np.allclose(stored_obs, data.observations[idx][m], rtol=1e-4, atol=1e-4)
            and np.allclose(stored_act, data.actions[idx][m], rtol=1e-4, atol=1e-4)
        ):
            raise PreferenceReferenceError(
                f"{store}: the stored {which} segments' observations/actions differ from episodes of dataset {data.source!r} "
                "at their recorded origins; the preferences were labelled on another version of the dataset"
            )
        index.append(idx)
        mask.append(m)
    labels = np.asarray(labels, dtype=np.float64)
    if not np.isin(labels, (0.0, 0.5, 1.0)).all():
        raise ValueError(f"{store}: labels must be 0, 0.5 or 1, got {sorted(set(labels.tolist()) - {0.0, 0.5, 1.0})[:5]}")
    return PreferencePairs(
        index=np.stack(index, axis=1),
        mask=np.stack(mask, axis=1),
        labels=labels,
        query_ids=np.arange(labels.size) if query_ids is None else np.asarray(query_ids),
        store=store,
    )


__all__ = ["PreferencePairs", "PreferenceReferenceError", "ResidentPairs", "load_preferences", "pairs_from_segments"]
