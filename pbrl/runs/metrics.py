"""``metrics.jsonl``: one JSON object per log dump, ``{"step": env steps, "time": unix time, tag: value, ...}``.

Tags are those of TensorBoard (``eval/return``, ``rollout/true_return``, ...).
Needs no torch: comparisons read run folders with it.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from typing import Any, Iterable, Mapping

import numpy as np

from pbrl.fileio import atomic_file


def format_line(step: int, values: Mapping[str, Any], wall_time: float) -> str | None:
    """One JSONL row of the numeric ``values`` (others are skipped); None when there are none."""
    row: dict[str, Any] = {"step": int(step), "time": round(float(wall_time), 3)}
    for key, value in sorted(values.items()):
        if isinstance(value, (bool, np.bool_)):
            row[key] = bool(value)
        elif isinstance(value, numbers.Real):
            v = float(value)
            row[key] = v if math.isfinite(v) else None
    if len(row) == 2:
        return None
    return json.dumps(row)


def read_metrics(path: str) -> list[dict[str, Any]]:
    """All rows of a ``metrics.jsonl`` (a run folder or the file itself); a torn last line is skipped."""
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    rows = []
    if not os.path.isfile(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
    return rows


def last_step(path: str) -> int | None:
    """The step of the last whole row of a ``metrics.jsonl`` (a run folder or the file), read from its end
    (a run in progress: how far it is); None when there is no row yet."""
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue  # a line being written, or cut by the seek
    return None


def series(rows: Iterable[Mapping[str, Any]], tag: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one tag."""
    return [(int(r["step"]), r[tag]) for r in rows if tag in r and r[tag] is not None]


def truncate_metrics(path: str, max_step: int) -> int:
    """Drop rows logged after env step ``max_step`` (a resume from a checkpoint at that step); returns rows kept."""
    rows = [r for r in read_metrics(path) if int(r.get("step", 0)) <= max_step]
    with atomic_file(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return len(rows)
