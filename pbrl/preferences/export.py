"""The portable preference export: one ``.npz`` file holding a whole store.

:meth:`PreferenceStore.export_to <pbrl.preferences.PreferenceStore.export_to>` writes
it and :meth:`~pbrl.preferences.PreferenceStore.import_from` merges one into a store;
the format is specified in ``FORMAT.md`` next to this file. Reading checks every
entry (shapes, numbers, references, labels) before anything is imported, and never
unpickles.
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
from .schema import SCHEMA_VERSION
from .segments import SegmentBatch, SegmentShapeError

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "PreferenceFormatError", "read_export", "write_export"]

EXPORT_FORMAT = "pbrl-preferences"
EXPORT_VERSION = 1


class PreferenceFormatError(ValueError):
    """A preference export file is malformed or not a pbrl export."""


def write_export(
    path: str | os.PathLike,
    segments: Sequence[tuple],
    queries: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    info: Mapping[str, Any],
    labelers: Sequence[str],
) -> dict[str, int]:
    """Write a store's content to ``path``; returns the counts of segments, queries and labels.

    Args:
        segments: rows ``(id, layout, data, source_kind, source_id, episode, start,
            created, horizon, obs_dim, act_dim)`` of the ``segments`` table, by id.
        queries: the store's queries as :meth:`PreferenceStore.queries` gives them.
        labels: its labels, retracted ones included, as :meth:`PreferenceStore.labels` gives them.
        info: its user values.
        labelers: the names of its labelers (their tokens are not exported).

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
    meta = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported": time.time(),
        "pbrl_version": __version__,
        "store_schema_version": SCHEMA_VERSION,
        "info": dict(info),
        "labelers": list(labelers),
        "segment_groups": groups,
        "counts": {"segments": len(segments), "queries": int(queries["id"].size), "labels": int(labels["id"].size)},
    }
    arrays["meta"] = np.asarray(json.dumps(meta, allow_nan=False))
    with atomic_file(path) as f:
        np.savez(f, **arrays)
    return dict(meta["counts"])


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
        except KeyError as exc:
            raise bad(f"its meta lacks {exc}") from None
    return {"meta": meta, "segments": segments, "queries": queries, "labels": labels, "info": meta.get("info", {})}

