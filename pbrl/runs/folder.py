"""Run folders: ``<runs_dir>/<task>/<agent>/<name>-s<seed>/``.

The task id is sanitised for the file system (``pbrl/HalfCheetah-v5`` ->
``pbrl_HalfCheetah-v5``). A folder is created exclusively (``os.mkdir`` fails if
it exists), so two runs never write into the same folder; a run being trained
also holds an exclusive lock on ``<run>/.lock`` so that two resumes of one run
cannot overlap.

A run folder holds ``config.json`` (the resolved config), ``metrics.jsonl``,
TensorBoard event files, ``checkpoints/`` and ``summary.json``.
"""

from __future__ import annotations

import json
import os
import re
import time

from pbrl.fileio import atomic_write_text

CONFIG = "config.json"
SUMMARY = "summary.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RunExistsError(FileExistsError):
    """The run folder already exists."""


class RunLockedError(RuntimeError):
    """Another process is training this run."""


def sanitize_task(task_id: str) -> str:
    """A task id as one folder name: ``pbrl/HalfCheetah-v5`` -> ``pbrl_HalfCheetah-v5``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task_id).strip("_.") or "task"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"run name {name!r} must start with a letter or digit and use only letters, digits, '.', '_' and '-'")
    return name


def default_name() -> str:
    """A name from the local time, e.g. ``20250101-120000``."""
    return time.strftime("%Y%m%d-%H%M%S")


def run_path(runs_dir: str, task: str, agent: str, name: str, seed: int) -> str:
    return os.path.join(runs_dir, sanitize_task(task), agent, f"{check_name(name)}-s{int(seed)}")


def create_run_dir(path: str) -> str:
    """Create the run folder; fails if it exists (never two runs in one folder)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.mkdir(path)
    except FileExistsError:
        raise RunExistsError(
            f"run folder {path} already exists; resume it with --resume {path}, or pick another --name or --seed"
        ) from None
    return path


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock`` for as long as a process trains the run."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, ".lock")
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunLockedError(f"{os.path.dirname(self.path)} is being trained by another process") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


def load_run_config(run_dir: str) -> dict:
    """The resolved config a run was started with (``config.json``)."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is not a pbrl run folder (no {CONFIG})")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or data.get("format") != "pbrl.run":
        raise ValueError(f"{path} is not a pbrl run config")
    return data


def write_json(path: str, data: dict) -> None:
    """Write JSON atomically (temp file + ``os.replace``)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str))
