"""Fetching Minari's remote datasets (``pbrl dataset show ID --download``).

Minari's datasets live on a remote (Hugging Face by default, ``MINARI_REMOTE``).
Before asking Minari, pbrl checks that the remote's host answers at all (one TCP
connection, a few seconds at most), so that a machine without a network gets a
clear message at once instead of a long stack trace. Minari's ``mujoco/*``
datasets are regenerated on v5 environments and are not comparable with D4RL's
tables; they are bound to Gymnasium's own ``*-v5`` envs, not to pbrl's.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from .errors import DownloadError

__all__ = ["download", "remote_host"]


def remote_host() -> tuple[str, int]:
    """The (host, port) Minari's default remote is reached at."""
    remote = os.environ.get("MINARI_REMOTE", "hf://farama-minari")
    kind = remote.split("://", 1)[0]
    if kind == "gcp":
        return "storage.googleapis.com", 443
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.hostname or "huggingface.co", port


def _reachable(host: str, port: int, timeout: float) -> str | None:
    """None if a TCP connection to host:port opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def download(dataset_id: str, *, force: bool = False, timeout: float = 5.0) -> str:
    """Download a Minari remote dataset into the local datasets folder.

    Args:
        dataset_id: Minari id, e.g. ``"mujoco/hopper/medium-v0"``.
        force: download even if a local copy exists.
        timeout: seconds to wait for the remote's host.

    Returns:
        The dataset id.

    Raises:
        DownloadError: no network (the remote's host cannot be reached), Minari's
            remote client missing, or the remote refused (unknown id, …).
    """
    host, port = remote_host()
    why = _reachable(host, port, timeout)
    if why is not None:
        raise DownloadError(
            f"cannot download {dataset_id!r}: Minari's remote {host}:{port} is unreachable ({why}). "
            "This machine seems to have no network; copy the dataset folder into "
            "$MINARI_DATASETS_PATH, import a D4RL file with `pbrl dataset import FILE`, or make the "
            "data locally with `pbrl dataset generate`"
        )
    try:
        import minari
    except ImportError as exc:  # pragma: no cover - minari is a dependency
        raise DownloadError(f"cannot download {dataset_id!r}: minari is not installed ({exc})") from None
    try:
        minari.download_dataset(dataset_id, force_download=force)
    except ImportError as exc:
        raise DownloadError(
            f"cannot download {dataset_id!r}: Minari's remote client is missing ({exc}); "
            "install it with: pip install 'minari[hf]'"
        ) from None
    except Exception as exc:  # network errors come in many types (requests, huggingface_hub, OSError)
        raise DownloadError(f"cannot download {dataset_id!r} from Minari's remote: {type(exc).__name__}: {exc}") from None
    return dataset_id
