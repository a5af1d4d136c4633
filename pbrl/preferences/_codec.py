"""Segments as rows of the store's ``segments`` table, and back.

The segments of one batch share a *layout* (JSON ``[[name, dtype, shape, offset],
...]`` over the arrays named in ``schema.py``) and each is one blob of those arrays'
little-endian bytes, back to back. A segment's digest (layout, bytes and origin)
makes storing the same segment twice keep one row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping, Sequence

import numpy as np

from .segments import SegmentBatch


def _segment_arrays(batch: SegmentBatch) -> list[tuple[str, np.ndarray]]:
    """The batch's arrays by stored name, contiguous and little-endian."""
    arrays = [("obs", batch.obs), ("actions", batch.actions), ("rewards", batch.rewards), ("mask", batch.mask)]
    arrays += [("terms/" + k, v) for k, v in batch.terms.items()]
    arrays += [("extras/" + k, v) for k, v in batch.extras.items()]
    out = []
    for name, arr in arrays:
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"segment array {name!r} must be numeric or bool, got {arr.dtype}")
        out.append((name, np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))))
    return out


def encode(batch: SegmentBatch) -> tuple[str, list[bytes]]:
    """(layout JSON, one data blob per segment) for a batch."""
    arrays = _segment_arrays(batch)
    if len(batch) == 0:
        return "[]", []
    layout, offset = [], 0
    for name, arr in arrays:
        shape = list(arr.shape[1:])
        nbytes = int(np.prod(shape, dtype=np.int64)) * arr.dtype.itemsize
        layout.append([name, arr.dtype.str, shape, offset])
        offset += nbytes
    flat = [arr.reshape(len(batch), -1).view(np.uint8) for _, arr in arrays]
    rows = np.concatenate(flat, axis=1) if flat else np.zeros((len(batch), 0), np.uint8)
    return json.dumps(layout, separators=(",", ":")), [r.tobytes() for r in rows]


def digest(layout: str, data: bytes, kind: str, source: str, episode: int, start: int) -> str:
    """The hex SHA-256 that identifies a stored segment: its layout, bytes and origin."""
    h = hashlib.sha256()
    h.update(layout.encode())
    h.update(b"\0")
    h.update(data)
    h.update(json.dumps([kind, source, int(episode), int(start)]).encode())
    return h.hexdigest()


def decode(layout: str, blobs: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Arrays (n, ...) of n segments sharing one layout."""
    spec = json.loads(layout)
    n = len(blobs)
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(n, -1)
    out = {}
    for name, dtype, shape, offset in spec:
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        part = np.ascontiguousarray(raw[:, offset : offset + nbytes])
        out[name] = part.view(dt).reshape(n, *shape).astype(dt.newbyteorder("="))
    return out


def batch_from_arrays(arrays: Mapping[str, np.ndarray], kinds, sources, episodes, starts) -> SegmentBatch:
    """A batch from :func:`decode`'s arrays and the rows' origin columns."""
    return SegmentBatch(
        obs=arrays["obs"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        mask=arrays["mask"].astype(bool),
        terms={k[6:]: v for k, v in arrays.items() if k.startswith("terms/")},
        extras={k[7:]: v for k, v in arrays.items() if k.startswith("extras/")},
        origin_kind=np.asarray(kinds, dtype=str),
        source_id=np.asarray(sources, dtype=str),
        episode=np.asarray(episodes, dtype=np.int64),
        start=np.asarray(starts, dtype=np.int64),
    )
