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
from typing import Any

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


class RunsDirError(ValueError):
    """Run folders cannot be created under the runs folder (a file in the way, a read-only folder)."""


class RunConfigError(ValueError):
    """A run's ``config.json`` is damaged: not JSON, truncated, or with keys of the wrong type."""


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


def descriptive_name(parts: list[Any], runs_dir: str, task: str, agent: str, seed: int) -> str:
    """A run name that says what the run is (``parts`` joined by ``-``, e.g. ``prefppo-learned-oracle-300``),
    made unique among the runs of (task, agent, seed) under ``runs_dir`` with ``-2``, ``-3``, ..."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(p) for p in parts if p not in (None, ""))).strip("._-") or "run"
    name, n = base, 1
    while os.path.exists(run_path(runs_dir, task, agent, name, seed)):
        n += 1
        name = f"{base}-{n}"
    return name


def run_path(runs_dir: str, task: str, agent: str, name: str, seed: int) -> str:
    return os.path.join(runs_dir, sanitize_task(task), agent, f"{check_name(name)}-s{int(seed)}")


def check_creatable(folder: str, what: str, hint: str) -> None:
    """Raise :class:`RunsDirError` if ``folder`` could not be created, or written in (no side effects).

    Walks up from ``folder`` to the first path that exists: it must be a folder this
    process may create entries in. (Root passes ``os.access`` on any folder without
    write bits; creating the folder still reports the failure then.) ``what`` names
    what was to be made there, ``hint`` how to pick another place.
    """
    probe = os.path.abspath(folder)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if os.path.islink(probe) and not os.path.exists(probe):
        raise RunsDirError(f"cannot create {what}: {probe} is a broken symbolic link; {hint}")
    if not os.path.isdir(probe):
        kind = "a regular file" if os.path.isfile(probe) else "not a folder"
        raise RunsDirError(f"cannot create {what}: {probe} is {kind}, not a folder; {hint}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunsDirError(f"cannot create {what}: {probe} is read-only for this user; {hint}")


def check_run_parent(path: str) -> None:
    """Raise :class:`RunsDirError` if the run folder ``path`` could not be created (no side effects)."""
    check_creatable(os.path.dirname(os.path.abspath(path)), f"run folder {path}", "give another runs folder (--runs-dir)")


def create_run_dir(path: str) -> str:
    """Create the run folder; fails if it exists (never two runs in one folder)."""
    check_run_parent(path)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):  # makedirs met a file where a folder should be
            raise RunsDirError(f"cannot create run folder {path}: a file is in the way") from None
        raise RunExistsError(
            f"run folder {path} already exists; resume it with --resume {path}, or pick another --name or --seed"
        ) from None
    except OSError as exc:  # read-only folder or file system, a file in the way, no space
        where = exc.filename or path
        raise RunsDirError(f"cannot create run folder {path}: {where}: {exc.strerror or exc}") from None
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
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunConfigError(f"{path} is damaged (not valid JSON: {exc}); the run cannot be read from it") from None
    except OSError as exc:
        raise RunConfigError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(data, dict) or data.get("format") != "pbrl.run":
        raise RunConfigError(f"{path} is not a pbrl run config")
    if not isinstance(data.get("config"), dict):
        raise RunConfigError(f"{path} is damaged: its 'config' is {type(data.get('config')).__name__}, not a table")
    return data


def saved_table(resolved: dict, run_dir: str, *keys: str) -> dict:
    """``resolved[key]`` for each of ``keys`` in turn, a table, or :class:`RunConfigError` naming ``config.json``."""
    value: object = resolved
    for i, key in enumerate(keys):
        value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            where = ".".join(keys[: i + 1])
            raise RunConfigError(f"{os.path.join(run_dir, CONFIG)} is damaged: '{where}' is {type(value).__name__}, not a table")
    return value  # type: ignore[return-value]


def check_saved(table: dict, run_dir: str, where: str, *, ints: tuple = (), strings: tuple = (), tables: tuple = ()) -> None:
    """Each named key of the saved ``table`` has its type, or :class:`RunConfigError` naming ``config.json`` and the key."""
    for keys, kind, ok in ((ints, "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
                           (strings, "a string", lambda v: isinstance(v, str)),
                           (tables, "a table", lambda v: isinstance(v, dict))):  # fmt: skip
        for key in keys:
            if key not in table:
                raise RunConfigError(f"{os.path.join(run_dir, CONFIG)} is damaged: '{where}.{key}' is missing")
            if not ok(table[key]):
                raise RunConfigError(f"{os.path.join(run_dir, CONFIG)} is damaged: '{where}.{key}' must be {kind}, got {table[key]!r}")


def write_json(path: str, data: dict) -> None:
    """Write JSON atomically (temp file + ``os.replace``)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str))
