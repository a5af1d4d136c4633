"""Minari storage: writing datasets atomically, reading them back fast, provenance.

A pbrl dataset is a plain Minari dataset (``minari.load_dataset(id)`` opens it):
``<root>/<id>/data/main_data.hdf5`` and ``metadata.json``, with ``root`` =
``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``. Besides Minari's own keys
(``dataset_id``, ``env_spec``, spaces, ``ref_min_score``, ``ref_max_score``,
``algorithm_name``, ``description``, ``requirements``, …) ``metadata.json`` holds a
``pbrl`` entry: the provenance (task, level, algorithm, training steps, seed,
package versions, the command that made it, its parents and any corruption).

Each episode group has Minari's ``seed`` attribute where its reset seed is known
(collected and generated data), so ``env.reset(seed=...)`` and its actions replay it.
Each episode's ``infos`` group holds ``qpos``/``qvel`` and, for generated datasets,
``reward_terms/<name>``, the task card's quantities and ``success``, with
``T + 1`` rows like the observations (see :mod:`pbrl.datasets.trajectories`).

Writes are atomic: a dataset is built in a hidden temporary folder beside the
datasets (``<root>/.pbrl-tmp/<pid>.<id>.*``) and renamed into place when complete, so
a failed or killed write never leaves a half-written dataset. The temporary folder
goes when the write fails (an exception, Ctrl-C), at interpreter exit (``atexit``),
and — ``pbrl dataset generate`` turns SIGTERM into an exit — when the process is
terminated; only SIGKILL leaves it, and the next write or generation removes the
folders whose process is gone (:func:`remove_stale_temp`; never a running one's). An
existing dataset is replaced only with ``force=True``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .errors import DatasetError, DatasetExistsError, DatasetNotFoundError
from .trajectories import Trajectories

__all__ = [
    "PBRL_METADATA_KEY",
    "dataset_exists",
    "dataset_path",
    "datasets_root",
    "default_dataset_id",
    "env_spec_for",
    "check_dataset_id",
    "list_datasets",
    "load_trajectories",
    "load_transitions",
    "make_provenance",
    "package_versions",
    "read_metadata",
    "remove_stale_temp",
    "task_of",
    "temp_folder",
    "write_dataset",
]

PBRL_METADATA_KEY = "pbrl"
_TMP_DIR = ".pbrl-tmp"
_POLICIES_DIR = ".pbrl-policies"
_MAIN_FILE = "main_data.hdf5"
from pbrl.provenance import package_versions  # noqa: E402  (re-exported)


# -- ids and paths -----------------------------------------------------------------


def datasets_root() -> Path:
    """Where Minari keeps local datasets: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    path = Path(root) if root else Path.home() / ".minari" / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_dataset_id(dataset_id: str) -> str:
    """Validate a Minari dataset id (``namespace/name-vN``); returns it.

    Raises:
        DatasetError: naming the id and the expected form.
    """
    from minari.dataset.minari_dataset import parse_dataset_id

    if not isinstance(dataset_id, str) or not dataset_id:
        raise DatasetError(f"a dataset id must be a non-empty string, got {dataset_id!r}")
    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):
        raise DatasetError(
            f"malformed dataset id {dataset_id!r}: Minari ids look like 'namespace/name-v0', "
            "e.g. 'pbrl/halfcheetah/medium-v0'"
        ) from None
    if dataset_id.startswith(".") or "/." in dataset_id or ".." in dataset_id:
        raise DatasetError(f"malformed dataset id {dataset_id!r}: no part may start with '.'")
    return dataset_id


def dataset_path(dataset_id: str) -> Path:
    """``<root>/<id>``: the folder of a dataset (it may not exist)."""
    return datasets_root() / check_dataset_id(dataset_id)


def dataset_exists(dataset_id: str) -> bool:
    return (dataset_path(dataset_id) / "data" / "metadata.json").is_file()


def task_name(task: str) -> str:
    """``"pbrl/HalfCheetah-v5"`` -> ``"halfcheetah"`` (the env part of a dataset id)."""
    name = task.split("/")[-1]
    name = re.sub(r"-v\d+$", "", name)
    return re.sub(r"[^a-z0-9_-]+", "", name.lower()).strip("-") or "task"  # dmc-walker-walk keeps its dashes


def default_dataset_id(task: str, level: str, version: int = 0) -> str:
    """pbrl's id for a generated level: ``pbrl/<task>/<level>-v<version>``, e.g.
    ``pbrl/halfcheetah/medium-replay-v0`` (Minari's ``mujoco/halfcheetah/medium-v0`` style)."""
    return check_dataset_id(f"pbrl/{task_name(task)}/{level}-v{int(version)}")


# -- provenance --------------------------------------------------------------------


def make_provenance(command: str | None = None, **fields: Any) -> dict[str, Any]:
    """A provenance record: the given fields plus package versions, the command
    (default: this process's ``sys.argv``), the time and the host's platform."""
    if command is None:
        command = " ".join(shlex.quote(a) for a in sys.argv)
    record = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "versions": package_versions(),
        "platform": platform.platform(),
    }
    record.update(fields)
    return _jsonable(record)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def env_spec_for(task: str, env_kwargs: Mapping[str, Any] | None = None):
    """A JSON-serialisable Gymnasium ``EnvSpec`` that makes ``task`` again.

    The task's registered spec with ``env_kwargs`` as its kwargs: pbrl registers its
    entry points by name, so ``MinariDataset.recover_environment()``,
    ``gym.make(spec)`` and ``gym.make(spec.id, **spec.kwargs)`` all work after
    ``import pbrl``. (Datasets written before stored ``kwargs={"task_id": ...}``
    with the ``pbrl.envs.registry:make_env`` entry point; ``gym.make(spec)`` still
    makes those.)
    """
    import dataclasses

    import gymnasium as gym

    try:
        registered = gym.spec(task)
    except gym.error.Error as exc:
        raise DatasetError(f"unknown task {task!r}: {exc}") from None
    if callable(registered.entry_point):
        raise DatasetError(f"task {task!r} is registered with a Python callable as entry point, which Minari cannot store")
    return dataclasses.replace(registered, kwargs=dict(env_kwargs or {}))


# -- writing -----------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (Unix time, to about a second), from ``/proc``; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 on
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in clock ticks since boot
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _owner_alive(pid: int, folder: Path) -> bool:
    """Whether the process that made ``folder`` may still run: ``pid`` is alive and did not
    start after the folder was last changed (then the pid was reused by another process)."""
    if not _pid_alive(pid):
        return False
    start = _process_start(pid)
    try:
        changed = folder.stat().st_mtime
    except OSError:
        return True
    return start is None or start <= changed + 2.0  # 2 s: /proc's boot time is in whole seconds


def remove_stale_temp(root: Path | None = None) -> list[Path]:
    """Remove the temporary folders that killed writers left under the datasets root
    (``.pbrl-tmp/<pid>.*`` and ``.pbrl-policies/<task>/.<pid>.*``) whose process is gone;
    a folder of a process still running is never touched. Returns the folders removed."""
    root = datasets_root() if root is None else Path(root)
    candidates: list[tuple[Path, str]] = []
    tmp = root / _TMP_DIR
    if tmp.is_dir():
        candidates += [(entry, r"^(\d+)\.") for entry in tmp.iterdir()]
    policies = root / _POLICIES_DIR
    if policies.is_dir():
        for task in policies.iterdir():
            if task.is_dir():
                candidates += [(entry, r"^\.(\d+)\.") for entry in task.iterdir()]
    removed = []
    for entry, pattern in candidates:
        m = re.match(pattern, entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and not _owner_alive(int(m.group(1)), entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


#: temporary folders being written -> the pid writing them; whatever is left of them goes at exit
_LIVE_TEMP: dict[str, int] = {}


def _remove_live_temp() -> None:
    for path, pid in list(_LIVE_TEMP.items()):
        if pid == os.getpid():  # not a forked child's copy of its parent's list
            shutil.rmtree(path, ignore_errors=True)
            _LIVE_TEMP.pop(path, None)


atexit.register(_remove_live_temp)


@contextlib.contextmanager
def temp_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder ``<parent>/<prefix>XXXX`` (``prefix`` starting with this process's pid,
    so :func:`remove_stale_temp` can tell whose it is), removed when the block ends however
    it ends, and at interpreter exit if it is still there."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    _LIVE_TEMP[str(path)] = os.getpid()
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        _LIVE_TEMP.pop(str(path), None)


@contextlib.contextmanager
def atomic_dataset_dir(dataset_id: str, force: bool = False) -> Iterator[Path]:
    """A temporary dataset folder that becomes ``<root>/<id>`` when the block succeeds.

    Yields the temporary folder (write ``data/`` inside it). On an exception nothing
    is left behind; a killed process leaves only a hidden temporary folder that the
    next write removes.

    Raises:
        DatasetExistsError: the dataset exists and ``force`` is False (checked before
            and again just before the rename).
    """
    final = dataset_path(dataset_id)
    if final.exists() and not force:
        raise DatasetExistsError(f"dataset {dataset_id!r} already exists at {final}; pass --force (force=True) to replace it")
    root = datasets_root()
    remove_stale_temp(root)
    tmp_root = root / _TMP_DIR
    tmp_root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_id)
    with temp_folder(tmp_root, f"{os.getpid()}.{safe}.") as tmp:
        yield tmp
        final.parent.mkdir(parents=True, exist_ok=True)
        _ensure_namespaces(dataset_id)
        if final.exists():
            if not force:
                raise DatasetExistsError(f"dataset {dataset_id!r} appeared at {final} while it was being written; not replaced")
            with temp_folder(tmp_root, f"{os.getpid()}.old.") as old:
                os.rename(final, old / "dataset")
                os.rename(tmp, final)
        else:
            os.rename(tmp, final)


def _ensure_namespaces(dataset_id: str) -> None:
    """Minari's namespace metadata files for every namespace level of the id."""
    from minari.dataset.minari_dataset import parse_dataset_id

    namespace = parse_dataset_id(dataset_id)[0]
    if not namespace:
        return
    parts = namespace.split("/")
    root = datasets_root()
    for i in range(1, len(parts) + 1):
        folder = root.joinpath(*parts[:i])
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "namespace_metadata.json"
        if not meta.exists():
            with contextlib.suppress(OSError):
                meta.write_text("{}")


def write_dataset(
    trajectories: Trajectories,
    dataset_id: str,
    task: str,
    *,
    ref_min_score: float | None = None,
    ref_max_score: float | None = None,
    num_episodes_average_score: int | None = None,
    algorithm_name: str = "pbrl",
    description: str = "",
    provenance: Mapping[str, Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write ``trajectories`` as the Minari dataset ``dataset_id`` bound to ``task``.

    Checks the data against the task's spaces and for NaN/inf before writing; the
    write itself is atomic (see the module docstring).

    Args:
        trajectories: the episodes.
        dataset_id: Minari id, e.g. ``"pbrl/hopper/medium-v0"``.
        task: the pbrl task id the data belongs to (stored as the env spec).
        ref_min_score, ref_max_score: mean returns of the random and expert
            policies (Minari's normalized-score references).
        num_episodes_average_score: episodes behind those means.
        algorithm_name: Minari's ``algorithm_name``.
        description: Minari's ``description``.
        provenance: pbrl's provenance record (:func:`make_provenance`).
        env_kwargs: task keyword arguments the data was made with.
        force: replace an existing dataset.

    Returns:
        The dataset's folder.

    Raises:
        DatasetExistsError, DatasetError: see above.
    """
    import gymnasium as gym
    import minari
    from minari.dataset.minari_storage import MinariStorage

    check_dataset_id(dataset_id)
    spec = env_spec_for(task, env_kwargs)
    env = gym.make(spec)
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    trajectories.check_spaces(obs_space.shape, act_space.shape, task)
    trajectories.check_finite()
    if dataset_exists(dataset_id) and not force:
        raise DatasetExistsError(
            f"dataset {dataset_id!r} already exists at {dataset_path(dataset_id)}; pass --force (force=True) to replace it"
        )

    with atomic_dataset_dir(dataset_id, force=force) as folder:
        data = folder / "data"
        storage = MinariStorage.new(data, observation_space=obs_space, action_space=act_space, env_spec=spec, data_format="hdf5")
        _write_main_data(data / _MAIN_FILE, trajectories, obs_space.dtype, act_space.dtype)
        _write_cache(folder, trajectories, obs_space.dtype, act_space.dtype)
        meta: dict[str, Any] = {
            "dataset_id": dataset_id,
            "total_episodes": trajectories.num_episodes,
            "total_steps": trajectories.num_steps,
            "algorithm_name": str(algorithm_name),
            "author": {"pbrl"},
            "code_permalink": "https://pypi.org/project/pbrl/ (pbrl.datasets)",
            "description": description or f"{task} data made by pbrl",
            "minari_version": minari.__version__,
            "requirements": [f"{k}=={v}" for k, v in package_versions().items() if k in ("pbrl", "mujoco", "gymnasium")],
        }
        if ref_min_score is not None and ref_max_score is not None:
            meta["ref_min_score"] = float(ref_min_score)
            meta["ref_max_score"] = float(ref_max_score)
            if num_episodes_average_score is not None:
                meta["num_episodes_average_score"] = int(num_episodes_average_score)
        record = dict(provenance or make_provenance())
        record.setdefault("task", task)
        if env_kwargs:
            record.setdefault("env_kwargs", dict(env_kwargs))
        meta[PBRL_METADATA_KEY] = _jsonable(record)
        storage.update_metadata(meta)
        storage.update_metadata({"dataset_size": storage.get_size()})
        _stamp_cache(folder)
    return dataset_path(dataset_id)


def _write_main_data(path: Path, traj: Trajectories, obs_dtype, act_dtype) -> None:
    """Episodes in Minari's HDF5 layout: one group ``episode_<i>`` per episode with
    ``observations`` (T+1), ``actions``, ``rewards``, ``terminations``,
    ``truncations`` (T) and an ``infos`` group; attributes ``id``, ``total_steps`` and,
    where known, ``seed`` (the episode's reset seed).
    (What ``HDF5Storage.update_episodes`` writes, without its per-element checks and
    chunking, which make it several times slower on many short episodes.)"""
    import h5py
    from h5py import h5d, h5p, h5s, h5t

    lcpl = h5p.create(h5p.LINK_CREATE)
    lcpl.set_create_intermediate_group(True)
    types: dict[Any, Any] = {}

    def put(group, name: str, arr: np.ndarray) -> None:
        # h5py's low-level API: about half the cost of create_dataset per array
        arr = np.ascontiguousarray(arr)
        tid = types.get(arr.dtype)
        if tid is None:
            tid = types[arr.dtype] = h5t.py_create(arr.dtype, logical=True)
        dset = h5d.create(group.id, name.encode(), tid, h5s.create_simple(arr.shape), lcpl=lcpl)
        if arr.size:
            dset.write(h5s.ALL, h5s.ALL, arr)

    obs = traj.observations.astype(obs_dtype, copy=False)
    act = traj.actions.astype(act_dtype, copy=False)
    starts, rows = traj.starts.tolist(), traj.row_starts.tolist()
    infos = list(traj.infos.items())
    with h5py.File(path, "w", track_order=True) as fh:
        for e, n in enumerate(traj.lengths.tolist()):
            s, r = starts[e], rows[e]
            group = fh.create_group(f"episode_{e}")
            group.attrs["id"] = e
            group.attrs["total_steps"] = n
            seed = traj.seed_of(e)
            if seed is not None:
                group.attrs["seed"] = seed  # Minari's per-episode reset seed
            put(group, "observations", obs[r : r + n + 1])
            put(group, "actions", act[s : s + n])
            put(group, "rewards", traj.rewards[s : s + n])
            put(group, "terminations", traj.terminations[s : s + n])
            put(group, "truncations", traj.truncations[s : s + n])
            for name, value in infos:
                put(group, "infos/" + name, value[r : r + n + 1])  # "a/b" makes nested groups


# -- the flat-array cache ------------------------------------------------------------

_CACHE_FILE = "pbrl_arrays.hdf5"
_CACHE_FORMAT = "pbrl-trajectories-cache/1"


def save_trajectories(path: str | os.PathLike, traj: Trajectories, obs_dtype: Any = None, act_dtype: Any = None) -> None:
    """Write ``traj`` as one HDF5 file of flat, contiguous arrays (pbrl's own format:
    the datasets' cache, and the recorded training runs of the policy cache)."""
    import h5py

    with h5py.File(path, "w") as fh:
        fh.attrs["format"] = _CACHE_FORMAT
        fh.create_dataset("observations", data=traj.observations.astype(obs_dtype or traj.observations.dtype, copy=False))
        fh.create_dataset("actions", data=traj.actions.astype(act_dtype or traj.actions.dtype, copy=False))
        fh.create_dataset("rewards", data=traj.rewards)
        fh.create_dataset("terminations", data=traj.terminations)
        fh.create_dataset("truncations", data=traj.truncations)
        fh.create_dataset("lengths", data=traj.lengths)
        if traj.seeds is not None:
            fh.create_dataset("seeds", data=traj.seeds)
        group = fh.create_group("infos")
        for name, value in traj.infos.items():
            group.create_dataset(name, data=value)


def read_trajectories_file(path: str | os.PathLike, source: str | None = None) -> Trajectories:
    """Read a file written by :func:`save_trajectories`.

    Raises:
        DatasetError: not such a file, or truncated/corrupt.
    """
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            if fh.attrs.get("format") != _CACHE_FORMAT:
                raise DatasetError(f"{path}: not a pbrl trajectories file")
            return Trajectories(
                observations=fh["observations"][()],
                actions=fh["actions"][()],
                rewards=fh["rewards"][()],
                terminations=fh["terminations"][()],
                truncations=fh["truncations"][()],
                lengths=fh["lengths"][()],
                infos=_read_group(fh["infos"]),
                source=source or os.fspath(path),
                seeds=fh["seeds"][()] if "seeds" in fh else None,
            )
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: cannot read ({exc}); truncated or corrupt?") from None


def _write_cache(folder: Path, traj: Trajectories, obs_dtype, act_dtype) -> None:
    """The dataset's arrays once more, flat and contiguous, beside ``data/``.

    Minari's one-group-per-episode layout is slow to read when there are many short
    episodes (one group per array per episode); this file is one read per array. It is derived data: ignored (and the slow path used) when it does not
    match ``main_data.hdf5``, and not part of what Minari uploads.
    """
    save_trajectories(folder / _CACHE_FILE, traj, obs_dtype, act_dtype)


def _fingerprint(main: Path) -> tuple[int, int]:
    st = main.stat()
    return int(st.st_size), int(st.st_mtime_ns)


def _stamp_cache(folder: Path) -> None:
    import h5py

    cache = folder / _CACHE_FILE
    if cache.is_file():
        size, mtime = _fingerprint(folder / "data" / _MAIN_FILE)
        with h5py.File(cache, "a") as fh:
            fh.attrs["main_size"] = size
            fh.attrs["main_mtime_ns"] = mtime


def _read_cache(folder: Path, meta: Mapping[str, Any], dataset_id: str) -> Trajectories | None:
    import h5py

    cache = folder / _CACHE_FILE
    main = folder / "data" / _MAIN_FILE
    if not cache.is_file() or not main.is_file():
        return None
    try:
        with h5py.File(cache, "r") as fh:
            if fh.attrs.get("format") != _CACHE_FORMAT:
                return None
            if (int(fh.attrs.get("main_size", -1)), int(fh.attrs.get("main_mtime_ns", -1))) != _fingerprint(main):
                return None
        traj = read_trajectories_file(cache, source=dataset_id)
    except (OSError, DatasetError):
        return None  # a broken cache is only a slower load
    if traj.num_episodes != meta.get("total_episodes") or traj.num_steps != meta.get("total_steps"):
        return None
    return traj


# -- reading -----------------------------------------------------------------------


def _not_found(dataset_id: str) -> DatasetNotFoundError:
    root = datasets_root()
    try:
        known = sorted(list_datasets())
    except Exception:  # a broken sibling must not hide the real message
        known = []
    listing = ", ".join(known[:20]) + (" …" if len(known) > 20 else "") if known else "none"
    return DatasetNotFoundError(
        f"no dataset {dataset_id!r} under {root} (MINARI_DATASETS_PATH); local datasets: {listing}. "
        "Make one with `pbrl dataset generate` or `pbrl dataset import`"
    )


def read_metadata(dataset_id: str) -> dict[str, Any]:
    """The dataset's ``metadata.json`` as a dict.

    Raises:
        DatasetNotFoundError: no such local dataset.
        DatasetError: the metadata file is unreadable.
    """
    path = dataset_path(dataset_id) / "data" / "metadata.json"
    if not path.is_file():
        raise _not_found(dataset_id)
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable dataset metadata ({exc})") from None


def task_of(dataset_id: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The task id a dataset is bound to (its env spec's id)."""
    meta = dict(metadata) if metadata is not None else read_metadata(dataset_id)
    record = meta.get(PBRL_METADATA_KEY) or {}
    if record.get("task"):
        return str(record["task"])
    spec = meta.get("env_spec")
    if spec:
        try:
            return str(json.loads(spec)["id"])
        except (ValueError, KeyError, TypeError):
            pass
    raise DatasetError(f"dataset {dataset_id!r} names no environment (no env_spec in its metadata)")


def list_datasets() -> dict[str, dict[str, Any]]:
    """Local datasets (pbrl's and any other Minari dataset): id -> metadata."""
    import warnings

    import minari

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dict(minari.list_local_datasets())


def load_trajectories(dataset_id: str, *, check: bool = True, use_cache: bool = True) -> Trajectories:
    """Read a local Minari dataset (pbrl's or another's) into :class:`Trajectories`.

    Datasets written by pbrl load from their flat-array cache (contiguous arrays,
    about a second per million steps); others, or when the cache does not match,
    are read from ``main_data.hdf5`` with h5py, one read per array per episode.

    Args:
        dataset_id: the dataset id.
        check: check NaN/inf.
        use_cache: use pbrl's flat-array cache when it is valid.

    Raises:
        DatasetNotFoundError: no such local dataset.
        DatasetError: the file is truncated, corrupt or inconsistent (named).
    """
    import h5py

    meta = read_metadata(dataset_id)
    if use_cache:
        cached = _read_cache(dataset_path(dataset_id), meta, dataset_id)
        if cached is not None:
            if check:
                cached.check_finite()
            return cached
    path = dataset_path(dataset_id) / "data" / _MAIN_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: missing (dataset {dataset_id!r} has metadata but no {_MAIN_FILE})")
    total = int(meta.get("total_episodes", -1))
    try:
        with h5py.File(path, "r") as fh:
            names = [k for k in fh.keys() if k.startswith("episode_")]
            count = len(names)
            if total >= 0 and count != total:
                raise DatasetError(f"{path}: holds {count} episodes but metadata.json says {total}")
            parts: dict[str, list[np.ndarray]] = {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}
            infos: dict[str, list[np.ndarray]] | None = None
            lengths = np.zeros(count, dtype=np.int64)
            seeds = np.full(count, -1, dtype=np.int64)
            for e in range(count):
                group = fh.get(f"episode_{e}")
                if group is None:
                    raise DatasetError(f"{path}: episode_{e} is missing")
                for key in parts:
                    if key not in group:
                        raise DatasetError(f"{path}: episode_{e} has no {key!r}")
                    value = group[key]
                    if not isinstance(value, h5py.Dataset):
                        raise DatasetError(
                            f"{path}: episode_{e}/{key} is a group (dict or tuple spaces are not supported by pbrl.datasets)"
                        )
                    parts[key].append(value[()])
                lengths[e] = parts["rewards"][-1].shape[0]
                seed = group.attrs.get("seed")
                if seed is not None and int(seed) >= 0:
                    seeds[e] = int(seed)
                ep_infos = _read_group(group["infos"]) if "infos" in group else {}
                if infos is None:
                    infos = {k: [v] for k, v in ep_infos.items()}
                else:
                    for k in list(infos):
                        if k in ep_infos:
                            infos[k].append(ep_infos[k])
                        else:
                            del infos[k]  # keep the infos every episode has
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DatasetError(f"{path}: cannot read dataset {dataset_id!r} ({exc}); the file may be truncated or corrupt") from None
    if count == 0:
        raise DatasetError(f"{path}: dataset {dataset_id!r} holds no episodes")
    for e in range(count):
        n_obs = parts["observations"][e].shape[0]
        for key in ("actions", "terminations", "truncations"):
            if parts[key][e].shape[0] != lengths[e]:
                raise DatasetError(f"{path}: episode_{e} has {lengths[e]} rewards but {parts[key][e].shape[0]} {key}")
        if n_obs != lengths[e] + 1:
            raise DatasetError(f"{path}: episode_{e} has {lengths[e]} steps but {n_obs} observations (expected {lengths[e] + 1})")
    keep_infos = {k: v for k, v in (infos or {}).items() if all(a.ndim >= 1 and a.shape[0] == n + 1 for a, n in zip(v, lengths))}
    try:
        traj = Trajectories(
            observations=np.concatenate(parts["observations"]).reshape(int(lengths.sum()) + count, -1),
            actions=np.concatenate(parts["actions"]).reshape(int(lengths.sum()), -1),
            rewards=np.concatenate(parts["rewards"]),
            terminations=np.concatenate(parts["terminations"]),
            truncations=np.concatenate(parts["truncations"]),
            lengths=lengths,
            infos={k: np.concatenate(v) for k, v in keep_infos.items()},
            source=dataset_id,
            seeds=seeds if (seeds >= 0).any() else None,
        )
    except ValueError as exc:
        raise DatasetError(f"{path}: inconsistent arrays in dataset {dataset_id!r} ({exc})") from None
    if check:
        traj.check_finite()
    return traj


def _read_group(group) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    for key, value in group.items():
        if isinstance(value, h5py.Group):
            for sub, arr in _read_group(value).items():
                out[f"{key}/{sub}"] = arr
        elif isinstance(value, h5py.Dataset) and value.dtype.kind in "biuf":
            out[key] = value[()]
    return out


def metadata_summary(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``pbrl dataset list`` shows, from a metadata dict."""
    record = meta.get(PBRL_METADATA_KEY) or {}
    return {
        "episodes": meta.get("total_episodes"),
        "steps": meta.get("total_steps"),
        "task": record.get("task") or _spec_id(meta.get("env_spec")),
        "level": record.get("level"),
        "algorithm": meta.get("algorithm_name"),
        "ref_min_score": meta.get("ref_min_score"),
        "ref_max_score": meta.get("ref_max_score"),
        "size_mb": meta.get("dataset_size"),
        # True: written with --allow-weak past a failed level check; False: checked and
        # fine; None: never checked (not pbrl's, or made before the checks existed)
        "weak": record.get("weak") if "medium_fraction" in record else None,
    }


def _spec_id(spec: Any) -> str | None:
    if not spec:
        return None
    try:
        return json.loads(spec)["id"]
    except (ValueError, KeyError, TypeError):
        return None


def load_transitions(dataset_id: str, *, dtype: Any = np.float32, infos: bool = False, check_task: bool = True) -> dict[str, np.ndarray]:
    """A dataset as training arrays for offline agents (see :meth:`Trajectories.transitions`).

    Args:
        dataset_id: the dataset id.
        dtype: dtype of observations, actions and rewards.
        infos: also return every info aligned with the steps (``infos/<name>``).
        check_task: check that the observation and action sizes match the dataset's
            task as registered now (``gym.make(task_of(dataset_id))``).

    Returns:
        ``observations``, ``actions``, ``rewards``, ``next_observations``,
        ``terminals``, ``timeouts``, ``episode``, ``step``: (T, ...) arrays.

    Raises:
        DatasetNotFoundError, DatasetError: unknown id, unreadable data, NaN/inf, or
            sizes that do not match the task.
    """
    traj = load_trajectories(dataset_id)
    if check_task:
        import gymnasium as gym

        task = task_of(dataset_id)
        try:
            env = gym.make(task)
        except gym.error.Error as exc:
            raise DatasetError(f"dataset {dataset_id!r} is bound to {task!r}, which cannot be made: {exc}") from None
        try:
            traj.check_spaces(env.observation_space.shape, env.action_space.shape, task)
        finally:
            env.close()
    return traj.transitions(dtype=dtype, infos=infos)
