"""Agent checkpoints without arbitrary pickle, written atomically.

A run's ``checkpoints/`` folder::

    checkpoints/
        latest.json                 -> {"dir": "step-000123456", "num_timesteps": 123456}
        step-000123456/
            manifest.json           format, version, SHA-256 of every file below
            weights.pt              torch.save of plain state dicts (policy, optimizers, RNG)
            state.json              run state: num_timesteps, n_updates, normaliser statistics, ...
            replay_buffer.npz       (SAC) the filled part of the replay buffer

Stable-Baselines3's own ``.zip`` holds cloudpickled Python objects, which run code
when loaded; these files don't. ``weights.pt`` is read with
``torch.load(weights_only=True)`` (tensors and plain containers only),
``replay_buffer.npz`` with ``np.load(allow_pickle=False)``, the rest is JSON.
Every file is checked against the manifest's SHA-256 first, so a tampered or
truncated file is refused with :class:`CheckpointError`.

Writing: all files go to a temporary folder, which is renamed into place; then
``latest.json`` is replaced atomically (temp file + ``os.replace``). A crash at
any moment leaves ``latest.json`` pointing at a complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Mapping

import numpy as np

from pbrl.fileio import atomic_write_text, fsync_path as _fsync, sha256_file as _sha256

FORMAT = "pbrl.agent_checkpoint"
VERSION = 1
LATEST = "latest.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, tampered with or unsafe to load."""


def write_checkpoint(
    root: str,
    step: int,
    weights: Mapping[str, Any],
    state: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
    keep: int = 2,
) -> str:
    """Write a checkpoint for env step ``step`` under ``root``; returns its folder.

    Args:
        weights: state dicts and tensors (``torch.save``-able with ``weights_only`` loading).
        state: JSON-ready run state.
        arrays: numpy arrays (e.g. a replay buffer), saved as ``.npz``.
        keep: how many step folders to keep (older ones are deleted).
    """
    os.makedirs(root, exist_ok=True)
    name = f"step-{int(step):09d}"
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=root)
    try:
        import torch  # here, not at the top: the CLI imports CheckpointError before it has said anything

        torch.save(dict(weights), os.path.join(tmp, "weights.pt"))
        with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1)
        if arrays:
            np.savez(os.path.join(tmp, "replay_buffer.npz"), **arrays)
        files = sorted(os.listdir(tmp))
        manifest = {"format": FORMAT, "version": VERSION, "step": int(step), "sha256": {f: _sha256(os.path.join(tmp, f)) for f in files}}
        with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
        for f in os.listdir(tmp):
            _fsync(os.path.join(tmp, f))
        final = os.path.join(root, name)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(os.path.join(root, LATEST), json.dumps({"dir": name, "num_timesteps": int(step)}))
    old = sorted(d for d in os.listdir(root) if d.startswith("step-") and d != name)
    for d in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    for d in os.listdir(root):  # leftovers of a crash while writing
        if d.startswith(".step-"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    return final


def latest_checkpoint(root: str) -> str | None:
    """The folder ``latest.json`` points at, or None when there is no checkpoint yet."""
    pointer = os.path.join(root, LATEST)
    if not os.path.isfile(pointer):
        return None
    try:
        with open(pointer, encoding="utf-8") as f:
            name = json.load(f)["dir"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{pointer} is unreadable: {exc}") from None
    if not isinstance(name, str) or "/" in name or name.startswith(".") or not name.startswith("step-"):
        raise CheckpointError(f"{pointer} points at {name!r}, not a checkpoint folder")
    return os.path.join(root, name)


def read_checkpoint(folder: str, load_arrays: bool = True) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """Verify and read a checkpoint folder: ``(weights, state, arrays)``.

    Raises:
        CheckpointError: a file is missing, its hash differs from the manifest, or it
            holds anything but tensors and plain data (e.g. a pickled object).
    """
    manifest_path = os.path.join(folder, "manifest.json")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}: no readable manifest.json ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: not a pbrl agent checkpoint")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"{folder}: checkpoint format version {manifest.get('version')!r}, this pbrl reads {VERSION}")
    hashes = manifest.get("sha256", {})
    for required in ("weights.pt", "state.json"):
        if required not in hashes:
            raise CheckpointError(f"{folder}: the manifest lists no {required}")
    for name, digest in hashes.items():
        if name not in ("weights.pt", "state.json", "replay_buffer.npz"):
            raise CheckpointError(f"{folder}: unexpected file {name!r} in the manifest")
        if name == "replay_buffer.npz" and not load_arrays:
            continue
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise CheckpointError(f"{folder}: {name} is missing")
        if _sha256(path) != digest:
            raise CheckpointError(f"{path} does not match the SHA-256 in its manifest (tampered or truncated); refusing to load it")
    try:
        import torch

        weights = torch.load(os.path.join(folder, "weights.pt"), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends
        raise CheckpointError(
            f"{folder}/weights.pt holds more than tensors and plain data; refusing to unpickle it "
            f"({type(exc).__name__}: {str(exc).split('.')[0]})"
        ) from None
    with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
        state = json.load(f)
    arrays: dict[str, np.ndarray] = {}
    if load_arrays and "replay_buffer.npz" in hashes:
        try:
            with np.load(os.path.join(folder, "replay_buffer.npz"), allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except ValueError as exc:
            raise CheckpointError(f"{folder}/replay_buffer.npz: {exc}") from None
    return weights, state, arrays
