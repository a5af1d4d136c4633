"""The weights file a sandboxed worker hands back, and its validated loading.

A worker writes the trained PPO policy as a plain ``.npz`` (numpy arrays only, no
pickle): ``policy/<name>`` for every tensor of the SB3 policy's ``state_dict`` and
``obs_rms/mean``, ``obs_rms/var`` for the observation normaliser.

The trusted side (``evaluator.py``) never trusts that file: :func:`load_weights`
opens it with ``allow_pickle=False``, refuses files over
:data:`~pbrl.synthesis.limits.MAX_WEIGHTS_BYTES` and entries that would unpack to more
than the policy's arrays (zip bombs), and requires exactly the keys,
shapes and float dtypes of a policy it built itself from the same hyperparameters,
with finite values (and non-negative variances) — anything else is
:class:`~pbrl.synthesis.errors.TamperedOutput`.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from .errors import TamperedOutput
from .limits import MAX_WEIGHTS_BYTES

__all__ = ["load_weights", "save_weights"]


def save_weights(agent: Any, path: str) -> None:
    """Write ``agent``'s policy and observation normaliser to ``path`` (.npz)."""
    arrays = {f"policy/{k}": v.detach().cpu().numpy() for k, v in agent.model.policy.state_dict().items()}
    vn = agent.vecnormalize
    if vn is not None and vn.norm_obs:
        arrays["obs_rms/mean"] = np.asarray(vn.obs_rms.mean, dtype=np.float64)
        arrays["obs_rms/var"] = np.asarray(vn.obs_rms.var, dtype=np.float64)
    np.savez(path, **arrays)


def load_weights(agent: Any, path: str) -> None:
    """Validate the weights file at ``path`` against ``agent`` (built by trusted code) and load it.

    Raises:
        TamperedOutput: missing, oversized, not an npz of plain arrays, wrong keys,
            shapes or dtypes, or non-finite values.
    """
    import torch

    if not os.path.isfile(path) or os.path.islink(path):
        raise TamperedOutput("the worker left no weights file")
    size = os.path.getsize(path)
    if size > MAX_WEIGHTS_BYTES:
        raise TamperedOutput(f"the weights file has {size} bytes, more than the {MAX_WEIGHTS_BYTES} accepted")
    expected = {f"policy/{k}": v for k, v in agent.model.policy.state_dict().items()}
    vn = agent.vecnormalize
    if vn is not None and vn.norm_obs:
        expected["obs_rms/mean"] = np.asarray(vn.obs_rms.mean)
        expected["obs_rms/var"] = np.asarray(vn.obs_rms.var)
    # A zip bomb: declared sizes are what zipfile decompresses at most; nothing may be larger
    # than the array the policy needs (plus the .npy header).
    try:
        with zipfile.ZipFile(path) as archive:
            for item in archive.infolist():
                name = item.filename[:-4] if item.filename.endswith(".npy") else item.filename
                ref = expected.get(name)
                if ref is None:
                    raise TamperedOutput(f"the weights file does not fit the policy (unexpected {name[:60]!r})")
                if item.file_size > np.asarray(ref).size * 8 + 4096:
                    raise TamperedOutput(f"weights {name!r} unpack to {item.file_size} bytes, more than the policy needs")
    except TamperedOutput:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise TamperedOutput(f"the weights file is not a plain npz of arrays: {type(exc).__name__}: {exc}") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if keys != set(expected):
                extra, missing = sorted(keys - set(expected))[:5], sorted(set(expected) - keys)[:5]
                raise TamperedOutput(f"the weights file does not fit the policy (unexpected {extra}, missing {missing})")
            arrays = {k: data[k] for k in expected}
    except TamperedOutput:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise TamperedOutput(f"the weights file is not a plain npz of arrays: {type(exc).__name__}: {exc}") from None
    for key, ref in expected.items():
        arr = arrays[key]
        if tuple(arr.shape) != tuple(ref.shape):
            raise TamperedOutput(f"weights {key!r} have shape {arr.shape}, the policy needs {tuple(ref.shape)}")
        if arr.dtype.kind != "f":
            raise TamperedOutput(f"weights {key!r} have dtype {arr.dtype}, not a float type")
        if not np.isfinite(arr).all():
            raise TamperedOutput(f"weights {key!r} are not finite")
    if "obs_rms/var" in arrays and (arrays["obs_rms/var"] < 0).any():
        raise TamperedOutput("observation normaliser variances are negative")
    state = {k[len("policy/"):]: torch.as_tensor(arrays[k], dtype=v.dtype) for k, v in expected.items() if k.startswith("policy/")}
    agent.model.policy.load_state_dict(state, strict=True)
    if "obs_rms/mean" in arrays:
        vn.obs_rms.mean = arrays["obs_rms/mean"].astype(np.float64)
        vn.obs_rms.var = arrays["obs_rms/var"].astype(np.float64)
