"""Safe, atomic checkpoints of reward models: state dicts + a JSON config, no pickle.

A checkpoint is a folder::

    reward_model/
        config.json                 format, kind, model config, weights file name, its SHA-256
        weights-<sha256[:16]>.pt    torch.save of plain state dicts (tensors, numbers, strings)

``config.json`` is the commit point. Saving writes the new weights file under a new
name, then atomically replaces ``config.json`` (write to a temporary file, fsync,
``os.replace``), then deletes the previous weights file — a crash at any moment leaves
either the old or the new checkpoint, complete.

Loading verifies the weights file against the SHA-256 recorded in ``config.json``
(a tampered or truncated file is refused) and reads it with
``torch.load(weights_only=True)``, which refuses pickled Python objects other than
tensors and plain containers — so even a checkpoint whose hash was forged cannot run
code. Every refusal raises :class:`CheckpointError` saying why.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from typing import Any, Mapping

import torch

from pbrl.fileio import atomic_write_bytes

FORMAT = "pbrl.reward_model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
_WEIGHTS_RE = re.compile(r"^weights-[0-9a-f]{16}\.pt$")


class CheckpointError(ValueError):
    """A reward-model checkpoint is missing, foreign, tampered with, or unsafe to load."""


def save_checkpoint(path: str, *, kind: str, config: Mapping[str, Any], states: Mapping[str, Any]) -> str:
    """Save a model's config and state dicts to the checkpoint folder ``path``.

    :param path: the checkpoint folder (created if missing).
    :param kind: the model kind (``"ensemble"``, ``"transformer"``).
    :param config: the model's constructor arguments (JSON-serialisable).
    :param states: named state dicts (tensors and plain values only).
    :return: the path of the weights file written.
    """
    os.makedirs(path, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "kind": kind, "states": dict(states)}, buf)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    weights_name = f"weights-{digest[:16]}.pt"
    weights_path = os.path.join(path, weights_name)
    atomic_write_bytes(weights_path, data)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": dict(config),
        "weights": weights_name,
        "sha256": digest,
        "torch_version": torch.__version__,
    }
    atomic_write_bytes(os.path.join(path, CONFIG_NAME), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    for name in os.listdir(path):  # older weights, now unreferenced
        if name != weights_name and _WEIGHTS_RE.match(name):
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass
    return weights_path


def read_config(path: str) -> dict:
    """Read and check a checkpoint's ``config.json``.

    :param path: the checkpoint folder.
    :return: the parsed metadata (``format``, ``kind``, ``config``, ``weights``, ``sha256``).
    :raises CheckpointError: when it is missing or not a pbrl reward-model checkpoint.
    """
    if os.path.isfile(path):
        raise CheckpointError(
            f"{path} is a file; a reward-model checkpoint is a folder holding {CONFIG_NAME} and a weights file"
        )
    cfg_path = os.path.join(path, CONFIG_NAME)
    if not os.path.isfile(cfg_path):
        raise CheckpointError(f"{path}: no {CONFIG_NAME} — not a pbrl reward-model checkpoint (or not saved yet)")
    try:
        with open(cfg_path, "rb") as f:
            meta = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{cfg_path}: not valid JSON ({exc}) — corrupt or tampered") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: not a pbrl reward-model checkpoint (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{cfg_path}: checkpoint format version {meta.get('format_version')!r}; this pbrl reads {FORMAT_VERSION}"
        )
    for key, typ in (("kind", str), ("config", dict), ("weights", str), ("sha256", str)):
        if not isinstance(meta.get(key), typ):
            raise CheckpointError(f"{cfg_path}: field {key!r} missing or of the wrong type — corrupt or tampered")
    if not _WEIGHTS_RE.match(meta["weights"]):
        raise CheckpointError(f"{cfg_path}: weights file name {meta['weights']!r} is not a pbrl weights file name")
    return meta


def load_checkpoint(path: str, expected_kind: str | None = None) -> tuple[str, dict, dict]:
    """Load a checkpoint saved by :func:`save_checkpoint`, safely.

    :param path: the checkpoint folder.
    :param expected_kind: refuse a checkpoint of another kind (``None``: any).
    :return: ``(kind, config, states)``.
    :raises CheckpointError: when the checkpoint is missing, foreign, of the wrong kind,
        tampered with (hash mismatch), or contains pickled objects beyond plain tensors.
    """
    meta = read_config(path)
    if expected_kind is not None and meta["kind"] != expected_kind:
        raise CheckpointError(f"{path}: holds a {meta['kind']!r} reward model, not {expected_kind!r}")
    weights_path = os.path.join(path, meta["weights"])
    if not os.path.isfile(weights_path):
        raise CheckpointError(f"{path}: weights file {meta['weights']} is missing")
    with open(weights_path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise CheckpointError(
            f"{weights_path}: SHA-256 does not match {CONFIG_NAME} — the weights were modified or truncated "
            "after saving; refusing to load"
        )
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError from a broken zip, …
        raise CheckpointError(
            f"{weights_path}: refused by torch.load(weights_only=True) — the file holds pickled Python "
            f"objects other than tensors and plain containers, or is not a torch file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("states"), dict):
        raise CheckpointError(f"{weights_path}: not a pbrl reward-model weights file")
    if payload.get("kind") != meta["kind"]:
        raise CheckpointError(f"{weights_path}: kind {payload.get('kind')!r} disagrees with {CONFIG_NAME}")
    return meta["kind"], meta["config"], payload["states"]


def load_reward_model(path: str, device: str | torch.device | None = None):
    """Load any pbrl reward model (ensemble or Preference Transformer) from ``path``.

    :param path: the checkpoint folder.
    :param device: where to put the model (default: as saved).
    :return: a :class:`~pbrl.rewards.ensemble.RewardEnsemble` or
        :class:`~pbrl.rewards.transformer.PreferenceTransformer`.
    :raises CheckpointError: see :func:`load_checkpoint`.
    """
    kind = read_config(path)["kind"]
    if kind == "ensemble":
        from .ensemble import RewardEnsemble

        return RewardEnsemble.load(path, device=device)
    if kind == "transformer":
        from .transformer import PreferenceTransformer

        return PreferenceTransformer.load(path, device=device)
    raise CheckpointError(f"{path}: unknown reward-model kind {kind!r}")
