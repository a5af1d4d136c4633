"""What ``pbrl dataset list`` and ``pbrl dataset show`` report about local datasets."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .storage import PBRL_METADATA_KEY, list_datasets, load_trajectories, metadata_summary, read_metadata, task_of

__all__ = ["describe", "level_summary", "normalized_score", "return_stats", "summaries"]


def return_stats(returns: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Distribution of episode returns: mean, std, min, quartiles, max and a histogram."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return {"count": 0}
    q = np.percentile(r, [0, 25, 50, 75, 100])
    counts, edges = np.histogram(r, bins=bins)
    return {
        "count": int(r.size),
        "mean": float(r.mean()),
        "std": float(r.std()),
        "min": float(q[0]),
        "p25": float(q[1]),
        "median": float(q[2]),
        "p75": float(q[3]),
        "max": float(q[4]),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def normalized_score(dataset_id: str, returns: Any, metadata: Mapping[str, Any] | None = None) -> Any:
    """Minari's normalized score of returns for a dataset: ``(R - ref_min) / (ref_max - ref_min)``
    with the dataset's own ``ref_min_score`` / ``ref_max_score`` (a fraction).

    Raises:
        ValueError: the dataset has no reference scores.
    """
    meta = dict(metadata) if metadata is not None else read_metadata(dataset_id)
    low, high = meta.get("ref_min_score"), meta.get("ref_max_score")
    if low is None or high is None:
        raise ValueError(f"dataset {dataset_id!r} has no ref_min_score/ref_max_score")
    return (np.asarray(returns, dtype=np.float64) - low) / (high - low)


def describe(dataset_id: str) -> dict[str, Any]:
    """Everything ``pbrl dataset show`` prints: sizes, episode lengths, the return
    distribution, reference scores and normalized returns, provenance."""
    meta = read_metadata(dataset_id)
    traj = load_trajectories(dataset_id, check=False)
    returns = traj.returns()
    out: dict[str, Any] = {
        "id": dataset_id,
        "task": task_of(dataset_id, meta),
        "episodes": traj.num_episodes,
        "steps": traj.num_steps,
        "obs_dim": traj.obs_dim,
        "act_dim": traj.act_dim,
        "terminated_episodes": int(traj.terminations.sum()),
        "truncated_episodes": int(traj.truncations.sum()),
        "episode_length": {
            "min": int(traj.lengths.min()),
            "mean": float(traj.lengths.mean()),
            "max": int(traj.lengths.max()),
        },
        "returns": return_stats(returns),
        "ref_min_score": meta.get("ref_min_score"),
        "ref_max_score": meta.get("ref_max_score"),
        "infos": sorted(traj.infos),
        "algorithm_name": meta.get("algorithm_name"),
        "description": meta.get("description"),
        "minari_version": meta.get("minari_version"),
        "size_mb": meta.get("dataset_size"),
        "provenance": meta.get(PBRL_METADATA_KEY) or {},
    }
    if out["ref_min_score"] is not None and out["ref_max_score"] is not None:
        norm = normalized_score(dataset_id, returns, meta)
        out["normalized_return"] = {"mean": float(np.mean(norm)), "median": float(np.median(norm))}
    levels = level_summary(out["provenance"])
    if levels is not None:
        out["levels"] = levels
    return out


def level_summary(provenance: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where a generated dataset's medium landed and whether its levels are weak (from
    ``pbrl dataset generate``'s provenance; None for other datasets).

    ``medium_fraction_reached`` is ``(R_med - R_rand) / (R_exp - R_rand)`` of the
    checkpoints' evaluation returns; for datasets made before it was recorded it is
    computed from the recorded checkpoints, and ``weak`` is None (never checked).
    """
    if "medium_fraction" not in provenance:
        return None
    reached = provenance.get("medium_fraction_reached")
    if reached is None:
        try:
            ck = provenance["checkpoints"]
            r, m, e = (float(ck[k]["eval_return"]) for k in ("random", "medium", "expert"))
            reached = (m - r) / (e - r) if e != r else None
        except (KeyError, TypeError, ValueError):
            reached = None
    return {
        "level": provenance.get("level"),
        "medium_fraction": provenance.get("medium_fraction"),
        "medium_fraction_reached": reached,
        "medium_tolerance": provenance.get("medium_tolerance"),
        "medium_target_return": provenance.get("medium_target_return"),
        "weak": provenance.get("weak"),
        "warnings": list(provenance.get("warnings") or []),
        "asked_steps": provenance.get("asked_steps"),
    }


def summaries() -> dict[str, dict[str, Any]]:
    """``pbrl dataset list``: one summary per local dataset, by id."""
    return {dataset_id: metadata_summary(meta) for dataset_id, meta in sorted(list_datasets().items())}
