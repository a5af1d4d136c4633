"""The portable preference export: one ``.npz`` file holding a whole store.

:meth:`PreferenceStore.export_to <pbrl.preferences.PreferenceStore.export_to>` writes
it and :meth:`~pbrl.preferences.PreferenceStore.import_from` merges one into a store;
the format is specified in ``FORMAT.md`` next to this file. Reading checks every
entry (shapes, numbers, references, labels, ratings, rankings) before anything is
imported, and never unpickles. Version 2 adds ratings and rankings; version 1 files
still read (with none of either).
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np

from pbrl.fileio import atomic_file

from ._codec import decode
from .labels import LabelError, check_label_values
from .ranking import RankingBuilder, RankingError
from .ratings import RatingError, check_ratings, check_scale
from .schema import SCHEMA_VERSION
from .segments import SegmentBatch, SegmentShapeError

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "PreferenceFormatError", "read_export", "write_export"]

EXPORT_FORMAT = "pbrl-preferences"
EXPORT_VERSION = 2

#: the arrays of each version-2 table in the file, as ``<table>.<column>``
FEEDBACK_COLUMNS: dict[str, tuple[str, ...]] = {
    "rating_queries": ("id", "segment_id", "n_classes", "status", "created", "meta"),
    "ratings": ("id", "rating_query_id", "rating", "skipped", "teacher_kind", "teacher_params", "labeler", "created", "retracted"),
    "rankings": ("id", "status", "labeler", "teacher_kind", "teacher_params", "state", "comparisons", "created", "finished", "meta"),
    "ranking_items": ("ranking_id", "segment_id", "position"),
}


class PreferenceFormatError(ValueError):
    """A preference export file is malformed or not a pbrl export."""


def write_export(
    path: str | os.PathLike,
    segments: Sequence[tuple],
    queries: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    info: Mapping[str, Any],
    labelers: Sequence[str],
    feedback: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> dict[str, int]:
    """Write a store's content to ``path``; returns the counts of segments, queries, labels,
    rating queries, ratings and rankings.

    Args:
        segments: rows ``(id, layout, data, source_kind, source_id, episode, start,
            created, horizon, obs_dim, act_dim)`` of the ``segments`` table, by id.
        queries: the store's queries as :meth:`PreferenceStore.queries` gives them.
        labels: its labels, retracted ones included, as :meth:`PreferenceStore.labels` gives them.
        info: its user values.
        labelers: the names of its labelers (their tokens are not exported).
        feedback: its version-2 tables, table -> column -> array (:data:`FEEDBACK_COLUMNS`);
            None writes them empty.

    Written to a temporary file, fsynced and renamed, so ``path`` is never half-written.
    """
    from .. import __version__

    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    groups = []
    by_layout: dict[str, list[tuple]] = {}
    for r in segments:
        by_layout.setdefault(r[1], []).append(r)
    for g, (layout, rows) in enumerate(by_layout.items()):
        prefix = f"g{g}"
        decoded = decode(layout, [r[2] for r in rows])
        entry: dict[str, Any] = {
            "prefix": prefix,
            "count": len(rows),
            "horizon": rows[0][8],
            "obs_dim": rows[0][9],
            "act_dim": rows[0][10],
            "arrays": {},
            "terms": {},
            "extras": {},
        }
        t = x = 0
        for name, value in decoded.items():
            if name.startswith("terms/"):
                key = f"{prefix}.term{t}"
                entry["terms"][name[6:]] = key
                t += 1
            elif name.startswith("extras/"):
                key = f"{prefix}.extra{x}"
                entry["extras"][name[7:]] = key
                x += 1
            else:
                key = f"{prefix}.{name}"
                entry["arrays"][name] = key
            arrays[key] = value
        arrays[f"{prefix}.id"] = np.asarray([r[0] for r in rows], dtype=np.int64)
        arrays[f"{prefix}.source_kind"] = np.asarray([r[3] for r in rows], dtype=str)
        arrays[f"{prefix}.source_id"] = np.asarray([r[4] for r in rows], dtype=str)
        arrays[f"{prefix}.episode"] = np.asarray([r[5] for r in rows], dtype=np.int64)
        arrays[f"{prefix}.start"] = np.asarray([r[6] for r in rows], dtype=np.int64)
        arrays[f"{prefix}.created"] = np.asarray([r[7] for r in rows], dtype=np.float64)
        groups.append(entry)
    for key, value in queries.items():
        arrays[f"queries.{key}"] = value
    for key, value in labels.items():
        arrays[f"labels.{key}"] = value
    feedback = feedback or {}
    for table, columns in FEEDBACK_COLUMNS.items():
        for column in columns:
            arrays[f"{table}.{column}"] = np.asarray(feedback.get(table, {}).get(column, np.zeros(0)))
    meta = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported": time.time(),
        "pbrl_version": __version__,
        "store_schema_version": SCHEMA_VERSION,
        "info": dict(info),
        "labelers": list(labelers),
        "segment_groups": groups,
        "counts": {
            "segments": len(segments),
            "queries": int(queries["id"].size),
            "labels": int(labels["id"].size),
            **{table: int(arrays[f"{table}.{cols[0]}"].size) for table, cols in FEEDBACK_COLUMNS.items() if table != "ranking_items"},
        },
    }
    arrays["meta"] = np.asarray(json.dumps(meta, allow_nan=False))
    with atomic_file(path) as f:
        np.savez(f, **arrays)
    # pair-only stores report the version-1 counts (callers compare them as dicts)
    return {k: v for k, v in meta["counts"].items() if k in ("segments", "queries", "labels") or v}


def _check_finite(values: np.ndarray, what: str, bad) -> None:
    """Refuse NaN or infinite numbers (a reward model would learn NaN from them)."""
    if values.dtype.kind not in "biuf":
        raise bad(f"{what}: {values.dtype} values, not numbers")
    if values.dtype.kind == "f":
        broken = ~np.isfinite(values)
        if broken.any():
            raise bad(f"{what}: {int(broken.sum())} of {values.size} values are NaN or infinite")


def read_export(path: str) -> dict[str, Any]:
    """Read and check an export file (see FORMAT.md): its meta, segment batches, queries, labels and info.

    Raises:
        PreferenceFormatError: naming what is wrong; FileNotFoundError if there is no file.
    """

    def bad(why: str) -> PreferenceFormatError:
        return PreferenceFormatError(f"{path} is not a valid pbrl preference export: {why}")

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no preference export at {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise bad(f"numpy cannot read it as an .npz file ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise bad("it is a single .npy array, not an .npz archive")
    with npz:
        try:
            files = set(npz.files)

            def get(key: str) -> np.ndarray:
                if key not in files:
                    raise bad(f"entry {key!r} is missing")
                try:
                    return npz[key]
                except ValueError as exc:  # numpy refuses object arrays without allow_pickle
                    if "allow_pickle" in str(exc):
                        why = "pbrl never unpickles a file, export numbers and strings only"
                        raise bad(f"entry {key!r} is a pickled (object) array; {why}") from None
                    raise bad(f"entry {key!r} cannot be read ({exc})") from None
                except (OSError, zipfile.BadZipFile, EOFError) as exc:
                    raise bad(f"entry {key!r} cannot be read ({exc})") from None

            if "meta" not in files:
                raise bad("it has no 'meta' entry")
            meta_entry = get("meta")
            try:
                meta = json.loads(str(meta_entry[()]))
            except (ValueError, TypeError, IndexError) as exc:
                raise bad(f"its meta entry is not JSON ({exc})") from None
            if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
                raise bad(f"its meta format is {meta.get('format') if isinstance(meta, dict) else meta!r}, expected {EXPORT_FORMAT!r}")
            if not isinstance(meta.get("version"), int) or meta["version"] > EXPORT_VERSION or meta["version"] < 1:
                raise bad(f"format version {meta.get('version')!r}; this pbrl reads versions 1..{EXPORT_VERSION}")

            segments = []
            seen: set[int] = set()
            for group in meta.get("segment_groups", []):
                prefix = group["prefix"]
                arrays = {name: get(key) for name, key in group["arrays"].items()}
                for required in ("obs", "actions", "rewards", "mask"):
                    if required not in arrays:
                        raise bad(f"segment group {prefix} has no {required!r} array")
                terms = {name: get(key) for name, key in group.get("terms", {}).items()}
                extras = {name: get(key) for name, key in group.get("extras", {}).items()}
                ids = get(f"{prefix}.id").astype(np.int64)
                try:
                    batch = SegmentBatch(
                        obs=arrays["obs"],
                        actions=arrays["actions"],
                        rewards=arrays["rewards"],
                        terms=terms,
                        mask=arrays["mask"],
                        extras=extras,
                        origin_kind=get(f"{prefix}.source_kind"),
                        source_id=get(f"{prefix}.source_id"),
                        episode=get(f"{prefix}.episode"),
                        start=get(f"{prefix}.start"),
                    )
                except (SegmentShapeError, ValueError) as exc:
                    raise bad(f"segment group {prefix}: {exc}") from None
                if ids.shape != (len(batch),):
                    raise bad(f"segment group {prefix} has {ids.size} ids for {len(batch)} segments")
                numbers = {"observations": batch.obs, "actions": batch.actions, "rewards": batch.rewards}
                numbers.update({f"reward term {k!r}": v for k, v in batch.terms.items()})
                for what, values in numbers.items():
                    _check_finite(values, f"segment group {prefix}'s {what}", bad)
                seen.update(ids.tolist())
                segments.append((ids, batch))
            queries = {k: get(f"queries.{k}") for k in ("id", "segment1", "segment2", "created", "meta")}
            nq = queries["id"].size
            if any(v.shape != (nq,) for v in queries.values()):
                raise bad("the queries.* arrays have different lengths")
            for k in ("id", "segment1", "segment2"):
                if queries[k].dtype.kind not in "iu":
                    raise bad(f"queries.{k} holds {queries[k].dtype}, not integers")
            _check_finite(queries["created"], "queries.created", bad)
            unknown = set(queries["segment1"].tolist()) | set(queries["segment2"].tolist())
            unknown -= seen
            if unknown:
                raise bad(f"queries refer to segment ids {sorted(unknown)[:5]} that are not in the file")
            keys = ("id", "query_id", "label", "skipped", "teacher_kind", "teacher_params", "labeler", "created", "retracted")
            labels = {k: get(f"labels.{k}") for k in keys}
            nl = labels["id"].size
            if any(v.shape != (nl,) for v in labels.values()):
                raise bad("the labels.* arrays have different lengths")
            for k in ("id", "query_id"):
                if labels[k].dtype.kind not in "iu":
                    raise bad(f"labels.{k} holds {labels[k].dtype}, not integers")
            _check_finite(labels["created"], "labels.created", bad)
            unknown_q = set(labels["query_id"].tolist()) - set(queries["id"].tolist())
            if unknown_q:
                raise bad(f"labels refer to query ids {sorted(unknown_q)[:5]} that are not in the file")
            try:
                check_label_values(labels["label"], labels["skipped"].astype(bool), what="exported labels")
            except LabelError as exc:
                raise bad(str(exc)) from None
            for text in set(labels["teacher_params"].tolist()):
                try:
                    json.loads(text)
                except ValueError:
                    raise bad(f"teacher_params {text[:60]!r} is not JSON") from None
            feedback = _read_feedback(get, meta["version"], seen, bad)
        except KeyError as exc:
            raise bad(f"its meta lacks {exc}") from None
    return {
        "meta": meta, "segments": segments, "queries": queries, "labels": labels, "info": meta.get("info", {}),
        "feedback": feedback,
    }  # fmt: skip


def _read_feedback(get, version: int, segment_ids: set[int], bad) -> dict[str, dict[str, np.ndarray]]:
    """The version-2 tables of an export, checked (empty for a version-1 file)."""
    if version < 2:
        return {table: {c: np.zeros(0) for c in cols} for table, cols in FEEDBACK_COLUMNS.items()}
    out = {}
    for table, columns in FEEDBACK_COLUMNS.items():
        out[table] = {c: get(f"{table}.{c}") for c in columns}
        n = out[table][columns[0]].size
        if any(v.shape != (n,) for v in out[table].values()):
            raise bad(f"the {table}.* arrays have different lengths")
    rq, rt, rk, items = out["rating_queries"], out["ratings"], out["rankings"], out["ranking_items"]
    for what, ids in (("rating_queries.segment_id", rq["segment_id"]), ("ranking_items.segment_id", items["segment_id"])):
        unknown = set(np.asarray(ids, dtype=np.int64).tolist()) - segment_ids
        if unknown:
            raise bad(f"{what} refers to segment ids {sorted(unknown)[:5]} that are not in the file")
    try:
        for n_classes in set(rq["n_classes"].tolist()):
            check_scale(int(n_classes))
        scale = dict(zip(rq["id"].tolist(), rq["n_classes"].tolist()))
        missing = set(rt["rating_query_id"].tolist()) - set(scale)
        if missing:
            raise bad(f"ratings refer to rating query ids {sorted(missing)[:5]} that are not in the file")
        for n_classes in set(scale.values()):
            mine = np.asarray([scale[q] == n_classes for q in rt["rating_query_id"].tolist()], dtype=bool)
            check_ratings(rt["rating"][mine], int(n_classes), rt["skipped"][mine].astype(bool), what="exported ratings")
        for state in rk["state"].tolist():
            RankingBuilder.from_json(str(state))
    except (RatingError, RankingError) as exc:
        raise bad(str(exc)) from None
    unknown_r = set(items["ranking_id"].tolist()) - set(rk["id"].tolist())
    if unknown_r:
        raise bad(f"ranking_items refer to ranking ids {sorted(unknown_r)[:5]} that are not in the file")
    for key in ("rating_queries.created", "ratings.created", "rankings.created"):
        table, column = key.split(".")
        _check_finite(np.asarray(out[table][column], dtype=np.float64), key, bad)
    return out

