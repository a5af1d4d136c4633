"""The disk cache of rendered clips: content-addressed MP4 files in one folder.

A clip's file name is its :func:`~pbrl.web.render.clip_key` (a hash of the task,
the segment's states and the render settings), so a cache can be shared by stores
and never serves a stale clip. Files are written whole and renamed into place;
a crash leaves at most a ``.clip-*`` temporary file, removed on the next start.
The cache is bounded: past ``max_bytes`` the least recently used clips go.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time

__all__ = ["ClipCache", "default_clip_dir"]

_KEY = re.compile(r"^[0-9a-f]{64}$")


def default_clip_dir(store_path: str | os.PathLike) -> str:
    """``<store>.clips/`` beside the store file."""
    return os.path.abspath(os.fspath(store_path)) + ".clips"


class ClipCache:
    """Rendered clips in ``directory``, at most ``max_bytes`` of them (LRU).

    Args:
        directory: the folder (created if missing).
        max_bytes: evict least recently served clips beyond this size.
    """

    suffix = ".mp4"

    def __init__(self, directory: str | os.PathLike, *, max_bytes: int = 2 * 1024**3):
        self.directory = os.path.abspath(os.fspath(directory))
        if int(max_bytes) < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        self.max_bytes = int(max_bytes)
        os.makedirs(self.directory, exist_ok=True)
        self._lock = threading.Lock()
        self._size = 0
        for entry in os.scandir(self.directory):
            if entry.name.startswith(".clip-"):  # left by a crash mid-encode
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            elif entry.name.endswith(self.suffix) and entry.is_file():
                self._size += entry.stat().st_size

    def path(self, key: str) -> str:
        """Where the clip with this key lives (whether or not it exists)."""
        if not _KEY.match(key):
            raise ValueError(f"not a clip key: {key!r}")
        return os.path.join(self.directory, key + self.suffix)

    def get(self, key: str) -> str | None:
        """The clip's path if cached (and mark it used), else None."""
        path = self.path(key)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def __contains__(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def added(self, key: str) -> None:
        """Account for a clip just written to :meth:`path` and evict if over budget."""
        with contextlib.suppress(OSError):
            with self._lock:
                self._size += os.path.getsize(self.path(key))
        if self._size > self.max_bytes:
            self.evict()

    @property
    def size(self) -> int:
        return self._size

    def evict(self, target: float = 0.9) -> int:
        """Remove least recently used clips until the cache is under ``target``
        × ``max_bytes``; returns the number removed."""
        with self._lock:
            entries = []
            for entry in os.scandir(self.directory):
                if entry.name.endswith(self.suffix) and entry.is_file():
                    st = entry.stat()
                    entries.append((st.st_mtime, st.st_size, entry.path))
            total = sum(e[1] for e in entries)
            removed = 0
            now = time.time()
            for mtime, size, path in sorted(entries):
                if total <= target * self.max_bytes:
                    break
                if now - mtime < 5.0:  # just written or served: keep
                    continue
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    total -= size
                    removed += 1
            self._size = total
            return removed
