"""Importing a D4RL-format hdf5 file (``hopper-medium-replay-v2.hdf5``) into a Minari
dataset bound to the matching pbrl task.

The file is checked before anything is written: required keys (``observations``,
``actions``, ``rewards``, ``terminals``), equal lengths, finite values, and
observation and action sizes matching the task; a truncated or corrupt file is
named as such. Episodes end at ``terminals | timeouts``; steps after the last such
flag form a final episode marked truncated. A file without ``timeouts`` is split
every ``max_episode_steps`` steps as D4RL's old loader did.

Each episode needs its final observation (Minari stores ``T + 1``). It is
``next_observations`` when the file has them (D4RL's v2 files do). Otherwise a
timed-out episode loses its last step, whose next observation is unknown (what
D4RL's ``qlearning_dataset`` drops anyway), and a terminated episode ends in a copy
of its last observation (never bootstrapped from); the provenance records which.
``infos/qpos`` and ``infos/qvel`` are kept when their sizes fit the task's model
(a final row repeats the last known state); other ``infos/*`` arrays become step
infos; scalar ``metadata/*`` entries go into the provenance.

D4RL's reference scores become the dataset's ``ref_min_score`` / ``ref_max_score``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pbrl.fileio import sha256_file

from .d4rl import D4RL_REF_SCORES, D4RL_TASKS, check_d4rl_dict, d4rl_family
from .errors import DatasetError
from .storage import check_dataset_id, make_provenance, write_dataset
from .trajectories import STATE_INFOS, Trajectories, concatenated_ranges

__all__ = ["d4rl_dataset_id", "import_d4rl", "read_d4rl_file", "trajectories_from_d4rl"]


def read_d4rl_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a D4RL hdf5 file into a dict of arrays (``metadata/*`` as scalars), checked.

    Raises:
        DatasetError: unreadable/truncated file, missing keys, inconsistent lengths,
            NaN or inf — naming the file.
    """
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: no such file")
    out: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as fh:

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    out[name] = obj[()]

            fh.visititems(visit)
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file — truncated or corrupt? ({exc})") from None
    except (KeyError, RuntimeError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the file — truncated or corrupt? ({exc})") from None
    check_d4rl_dict(out, path)
    return out


def d4rl_dataset_id(path: str | os.PathLike) -> str | None:
    """``.../hopper-medium-replay-v2.hdf5`` -> ``"d4rl/hopper/medium-replay-v2"`` (None if
    the name does not look like D4RL's ``<env>-<level>-v<N>``)."""
    stem = Path(path).name
    stem = re.sub(r"\.(hdf5|h5)$", "", stem)
    m = re.fullmatch(r"([a-z0-9]+)[-_](.+?)(?:-v(\d+))?", stem.lower())
    if not m:
        return None
    env, level, version = m.group(1), m.group(2), m.group(3) or "0"
    if d4rl_family(env) is None:
        return None
    level = re.sub(r"[^a-z0-9_-]+", "-", level).strip("-") or "data"
    return f"d4rl/{env}/{level}-v{version}"


def trajectories_from_d4rl(
    data: Mapping[str, Any],
    *,
    source: str = "dataset",
    max_episode_steps: int | None = None,
    nq: int | None = None,
    nv: int | None = None,
) -> tuple[Trajectories, dict[str, Any]]:
    """Episodes from a D4RL-style dict (see the module docstring for the rules).

    Args:
        data: the dict (checked with :func:`~pbrl.datasets.d4rl.check_d4rl_dict`).
        source: a name for error messages.
        max_episode_steps: episode limit, used only without ``timeouts``.
        nq, nv: the task's ``qpos``/``qvel`` sizes (infos of other sizes are dropped).

    Returns:
        The trajectories and notes for the provenance.
    """
    n = check_d4rl_dict(data, source)
    obs = np.asarray(data["observations"])
    act = np.asarray(data["actions"])
    if obs.ndim != 2 or act.ndim != 2:
        raise DatasetError(f"{source}: observations and actions must be 2-D, got {obs.shape} and {act.shape}")
    rewards = np.asarray(data["rewards"], dtype=np.float64).reshape(n, -1)
    if rewards.shape[1] != 1:
        raise DatasetError(f"{source}: rewards must hold one value per step, got shape {np.shape(data['rewards'])}")
    rewards = rewards[:, 0]
    terminals = np.asarray(data["terminals"]).reshape(n, -1)[:, 0].astype(bool)
    notes: dict[str, Any] = {"steps_in_file": n}
    if "timeouts" in data:
        timeouts = np.asarray(data["timeouts"]).reshape(n, -1)[:, 0].astype(bool)
    else:
        if max_episode_steps is None:
            raise DatasetError(f"{source}: no timeouts and no episode limit to split episodes by")
        run_start = np.zeros(n, dtype=np.int64)
        after = np.flatnonzero(terminals[:-1]) + 1
        run_start[after] = after
        run_start = np.maximum.accumulate(run_start)
        timeouts = ((np.arange(n) - run_start) % max_episode_steps == max_episode_steps - 1) & ~terminals
        notes["timeouts"] = f"none in the file: episodes cut every {max_episode_steps} steps"
    timeouts &= ~terminals
    ends = terminals | timeouts
    end_idx = np.flatnonzero(ends)
    if end_idx.size == 0 or end_idx[-1] != n - 1:
        end_idx = np.append(end_idx, n - 1)  # a trailing unfinished run: truncated
        notes["unfinished_last_episode"] = True
    starts = np.concatenate([[0], end_idx[:-1] + 1])
    lengths = end_idx - starts + 1
    truncations = timeouts.copy()
    truncations[n - 1] |= not terminals[n - 1]

    has_next = "next_observations" in data
    if has_next:
        nxt = np.asarray(data["next_observations"])
        if nxt.shape != obs.shape:
            raise DatasetError(f"{source}: next_observations has shape {nxt.shape}, observations {obs.shape}")
        final_obs = nxt[end_idx]
        keep_steps = np.ones(n, dtype=bool)
        notes["final_observations"] = "next_observations"
    else:
        # timed-out (or unfinished) episodes: drop the last step, its next observation is unknown
        timed = ~terminals[end_idx]
        keep_steps = np.ones(n, dtype=bool)
        keep_steps[end_idx[timed]] = False
        final_obs = obs[end_idx]  # timed out: the dropped step's observation; terminated: a copy
        notes["final_observations"] = (
            "no next_observations in the file: timed-out episodes lost their last step; "
            "terminated episodes end in a copy of their last observation"
        )
    kept_lengths = lengths - (~keep_steps[end_idx]).astype(np.int64)
    valid = kept_lengths >= 1
    if not valid.all():
        notes["dropped_one_step_episodes"] = int((~valid).sum())
    step_idx = concatenated_ranges(starts[valid], kept_lengths[valid])
    lengths_v = kept_lengths[valid]
    e = int(lengths_v.size)
    if e == 0:
        raise DatasetError(f"{source}: no episode with a known next observation")
    row_starts = np.cumsum(lengths_v + 1) - (lengths_v + 1)
    step_rows = concatenated_ranges(row_starts, lengths_v)
    final_rows = row_starts + lengths_v
    total_rows = int(lengths_v.sum()) + e
    observations = np.empty((total_rows, obs.shape[1]), dtype=obs.dtype)
    observations[step_rows] = obs[step_idx]
    observations[final_rows] = final_obs[valid]
    term_out = terminals[step_idx]
    trunc_out = truncations[step_idx]
    last = np.cumsum(lengths_v) - 1
    trunc_out[last] |= ~term_out[last]  # an episode that lost its timed-out step still ends truncated

    infos: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    for key, value in data.items():
        if not key.startswith("infos/"):
            continue
        name = key[len("infos/"):]
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            dropped.append(key)
            continue
        if name in STATE_INFOS:
            size = nq if name == "qpos" else nv
            if arr.ndim != 2 or (size is not None and arr.shape[1] != size):
                dropped.append(f"{key} (shape {arr.shape[1:]}, the task has {size})")
                continue
            full = np.empty((total_rows,) + arr.shape[1:], dtype=arr.dtype)
            full[step_rows] = arr[step_idx]
            # the final row: the dropped step's state, or (unknown) the last state repeated
            dropped_last = ~keep_steps[end_idx[valid]]
            full[final_rows] = np.where(dropped_last[:, None], arr[end_idx[valid]], arr[step_idx[last]])
            infos[name] = full
        else:
            full = np.zeros((total_rows,) + arr.shape[1:], dtype=arr.dtype)
            full[step_rows + 1] = arr[step_idx]  # a step info sits on the row after its step
            infos[name] = full
    if dropped:
        notes["dropped_infos"] = dropped
    traj = Trajectories(
        observations=observations,
        actions=act[step_idx],
        rewards=rewards[step_idx],
        terminations=term_out,
        truncations=trunc_out,
        lengths=lengths_v,
        infos=infos,
        source=source,
    )
    return traj, notes


def import_d4rl(
    path: str | os.PathLike,
    dataset_id: str | None = None,
    *,
    task: str | None = None,
    force: bool = False,
    command: str | None = None,
) -> str:
    """Import a D4RL-format hdf5 file as a Minari dataset bound to a pbrl task.

    Args:
        path: the hdf5 file (e.g. ``hopper-medium-replay-v2.hdf5``).
        dataset_id: the new id; default from the file name
            (``d4rl/hopper/medium-replay-v2``).
        task: the pbrl task; default from the file name (halfcheetah, hopper,
            walker2d, ant -> ``pbrl/<Name>-v5``).
        force: replace an existing dataset with that id.
        command: recorded in the provenance (default: this process's argv).

    Returns:
        The dataset id.

    Raises:
        DatasetError: bad file (see :func:`read_d4rl_file`), unknown task, or
            observation/action sizes that do not match the task.
        DatasetExistsError: the id exists and ``force`` is False.
    """
    import gymnasium as gym

    import pbrl.envs  # noqa: F401  (registers the tasks)

    path = os.fspath(path)
    family = d4rl_family(Path(path).name)
    if task is None:
        if family is None:
            raise DatasetError(
                f"{path}: cannot tell which pbrl task this file belongs to (its name starts with none of "
                f"{sorted(D4RL_TASKS)}); pass --env"
            )
        task = D4RL_TASKS[family]
    if dataset_id is None:
        dataset_id = d4rl_dataset_id(path)
        if dataset_id is None:
            raise DatasetError(f"{path}: cannot derive a dataset id from the file name; pass --id")
    check_dataset_id(dataset_id)
    try:
        env = gym.make(task)
    except gym.error.Error as exc:
        raise DatasetError(f"unknown task {task!r}: {exc}") from None
    try:
        obs_shape, act_shape = env.observation_space.shape, env.action_space.shape
        model = getattr(getattr(env.unwrapped, "engine", None), "model", None)
        nq = int(model.nq) if model is not None else None
        nv = int(model.nv) if model is not None else None
        limit = env.spec.max_episode_steps if env.spec is not None else None
    finally:
        env.close()
    data = read_d4rl_file(path)
    obs = np.asarray(data["observations"])
    act = np.asarray(data["actions"])
    if obs.shape[1:] != tuple(obs_shape):
        hint = " (D4RL's ant-v2 observes 111 values: cfrc_ext of all 14 bodies; Gymnasium's Ant-v5 105)" if family == "ant" else ""
        raise DatasetError(f"{path}: observations have shape {obs.shape[1:]} per step but {task} observes {tuple(obs_shape)}{hint}")
    if act.shape[1:] != tuple(act_shape):
        raise DatasetError(f"{path}: actions have shape {act.shape[1:]} per step but {task} takes {tuple(act_shape)}")
    traj, notes = trajectories_from_d4rl(data, source=path, max_episode_steps=limit, nq=nq, nv=nv)
    metadata = {k[len("metadata/"):]: _scalar(v) for k, v in data.items() if k.startswith("metadata/")}
    metadata = {k: v for k, v in metadata.items() if v is not None}
    ref = D4RL_REF_SCORES.get(family or d4rl_family(task) or "", (None, None))
    provenance = make_provenance(
        command=command,
        task=task,
        level=re.sub(r"-v\d+$", "", dataset_id.split("/")[-1]),
        algorithm=metadata.get("algorithm", "D4RL"),
        imported_from={"file": os.path.abspath(path), "sha256": sha256_file(path), "size": os.path.getsize(path)},
        import_notes=notes,
        d4rl_metadata=metadata,
        reference_scores="D4RL" if ref[0] is not None else None,
    )
    write_dataset(
        traj,
        dataset_id,
        task,
        ref_min_score=ref[0],
        ref_max_score=ref[1],
        algorithm_name=str(metadata.get("algorithm", "D4RL")),
        description=f"D4RL file {Path(path).name} imported into {task} by pbrl",
        provenance=provenance,
        force=force,
    )
    return dataset_id


def _scalar(value: Any) -> Any:
    arr = np.asarray(value)
    if arr.ndim == 0:
        item = arr.item()
        return item.decode("utf-8", "replace") if isinstance(item, bytes) else item
    if arr.size <= 16 and arr.dtype.kind in "biuf":
        return arr.tolist()
    return None  # policy weights and other large arrays are not provenance
