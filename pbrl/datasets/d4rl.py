"""D4RL's API without the d4rl package.

``pip install d4rl`` needs mujoco-py and gym < 0.24 and cannot live beside
Gymnasium 1.x. Code written against D4RL keeps working with these stand-ins::

    from pbrl.datasets import d4rl

    env = d4rl.make("pbrl/hopper/medium-v0")      # a Gymnasium env with D4RL's methods
    data = env.get_dataset()                       # observations, actions, rewards,
                                                   # terminals, timeouts, infos/qpos, ...
    q = d4rl.qlearning_dataset(env)                # + next_observations, D4RL's timeouts
    env.get_normalized_score(return_)              # a fraction, as D4RL (x100 for tables)
    d4rl.get_normalized_score("hopper-medium-v2", return_)   # D4RL's reference scores

:func:`qlearning_dataset` reproduces D4RL's loop exactly, vectorised: the next
observation of step ``i`` is ``observations[i + 1]``; a step with ``timeouts[i]``
is dropped unless ``terminate_on_end`` (its next observation would belong to the
next episode); the very last step is always dropped; everything is float32.
Offline agents that want every transition with its true next observation use
:meth:`pbrl.datasets.Trajectories.transitions` instead.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

import numpy as np

from .errors import DatasetError
from .trajectories import Trajectories

__all__ = [
    "D4RL_REF_SCORES",
    "D4RL_TASKS",
    "D4RLEnv",
    "d4rl_family",
    "get_dataset",
    "get_normalized_score",
    "make",
    "qlearning_dataset",
    "sequence_dataset",
]

#: D4RL's reference returns (random, expert) for its MuJoCo locomotion datasets
#: (``d4rl/infos.py``: REF_MIN_SCORE / REF_MAX_SCORE, the same for every level and version).
D4RL_REF_SCORES: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}

#: D4RL's environment family -> the pbrl task its datasets belong to.
D4RL_TASKS: dict[str, str] = {
    "halfcheetah": "pbrl/HalfCheetah-v5",
    "hopper": "pbrl/Hopper-v5",
    "walker2d": "pbrl/Walker2d-v5",
    "ant": "pbrl/Ant-v5",
}

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")


def d4rl_family(name: str) -> str | None:
    """The D4RL family (``"hopper"``) of a D4RL name (``"hopper-medium-replay-v2"``),
    a pbrl task id (``"pbrl/Hopper-v5"``) or a dataset id (``"pbrl/hopper/medium-v0"``);
    None if it is none of the four. A family must be a whole word of the name:
    ``"antmaze-umaze-v0"`` is not Ant (its returns are not on Ant's scale)."""
    text = str(name).lower()
    parts = [p for p in re.split(r"[/\-_.]", text) if p]
    for part in parts:
        if part in D4RL_REF_SCORES:
            return part
    return None


def get_normalized_score(env_name: str, score: Any) -> Any:
    """D4RL's normalized score of a return, as a fraction: ``(score - min) / (max - min)``
    with D4RL's reference returns (x100 gives the numbers in D4RL's tables).

    Args:
        env_name: a D4RL name (``"halfcheetah-medium-v2"``), a pbrl task id or a
            pbrl dataset id of HalfCheetah, Hopper, Walker2d or Ant.
        score: a return or an array of returns.

    Raises:
        KeyError: no D4RL reference for ``env_name``.
    """
    family = d4rl_family(env_name)
    if family is None:
        raise KeyError(
            f"D4RL has no reference scores for {env_name!r}; it has them for {sorted(D4RL_REF_SCORES)}. "
            "For pbrl's own datasets use pbrl.datasets.normalized_score(dataset_id, returns)"
        )
    low, high = D4RL_REF_SCORES[family]
    return (np.asarray(score, dtype=np.float64) - low) / (high - low) if np.ndim(score) else (float(score) - low) / (high - low)


def _trajectories(source: Any) -> Trajectories:
    if isinstance(source, Trajectories):
        return source
    if isinstance(source, str):
        from .storage import load_trajectories

        return load_trajectories(source)
    if isinstance(source, D4RLEnv):
        return source.trajectories
    raise TypeError(f"need a dataset id, a Trajectories or a pbrl.datasets.d4rl env, got {type(source).__name__}")


def get_dataset(source: Any, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """A dataset as D4RL's ``env.get_dataset()`` dict.

    Keys: ``observations``, ``actions``, ``rewards``, ``terminals``, ``timeouts``
    (T, ...), ``next_observations`` (the true ones, as D4RL's v2 files have them),
    and ``infos/<name>`` for every recorded info — ``infos/qpos`` and
    ``infos/qvel`` are the states of ``observations`` (as D4RL's); step infos
    (reward terms, quantities) are those of the step.

    Args:
        source: dataset id, :class:`Trajectories` or :class:`D4RLEnv`.
        dtype: dtype of observations, actions and rewards (D4RL's files hold float32).
    """
    traj = _trajectories(source)
    t = traj.transitions(dtype=dtype, infos=True)
    out = {
        "observations": t["observations"],
        "actions": t["actions"],
        "rewards": t["rewards"],
        "terminals": t["terminals"],
        "timeouts": t["timeouts"],
        "next_observations": t["next_observations"],
    }
    for key, value in t.items():
        if key.startswith("infos/"):
            out[key] = value
    return out


def check_d4rl_dict(dataset: Mapping[str, Any], source: str = "dataset") -> int:
    """Check a D4RL-style dict: required keys, equal lengths, finite values.

    Returns:
        The number of steps N.

    Raises:
        DatasetError: naming ``source`` and the problem.
    """
    missing = [k for k in REQUIRED_KEYS if k not in dataset]
    if missing:
        raise DatasetError(
            f"{source}: missing required key(s) {missing}; a D4RL dataset has {list(REQUIRED_KEYS)} "
            "(and usually timeouts, infos/qpos, infos/qvel)"
        )
    n = int(np.shape(dataset["observations"])[0])
    for key, value in dataset.items():
        if key.startswith("metadata/"):
            continue
        shape = np.shape(value)
        if not shape or shape[0] != n:
            raise DatasetError(f"{source}: {key} has {shape[0] if shape else 0} rows but observations has {n}")
    for key in ("observations", "actions", "rewards", "next_observations"):
        if key in dataset:
            arr = np.asarray(dataset[key])
            if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
                bad = np.argwhere(~np.isfinite(arr))[0]
                raise DatasetError(f"{source}: {key} holds NaN or inf (first at index {tuple(bad.tolist())})")
    return n


def _final_timesteps(dataset: Mapping[str, Any], n: int, max_episode_steps: int | None, terminate_on_end: bool) -> np.ndarray:
    """D4RL's ``final_timestep`` for indices ``0 .. n-1``: ``timeouts``, or for files
    without them D4RL's step counter (reset to 0 after a dropped final step and to 1
    after a kept terminal or final step, as D4RL's loop does)."""
    if "timeouts" in dataset:
        return np.asarray(dataset["timeouts"], dtype=bool).reshape(-1)[:n]
    if max_episode_steps is None:
        raise DatasetError("the dataset has no timeouts; pass max_episode_steps (D4RL used env._max_episode_steps)")
    limit = int(max_episode_steps) - 1
    terminals = np.asarray(dataset["terminals"], dtype=bool).reshape(-1)[:n].tolist()
    final = [False] * n
    step = 0
    for i in range(n):  # legacy files only: D4RL's own sequential counter
        if step == limit:
            final[i] = True
            if not terminate_on_end:
                step = 0
                continue
        if terminals[i] or final[i]:
            step = 0
        step += 1
    return np.asarray(final, dtype=bool)


def qlearning_dataset(
    env: Any = None,
    dataset: Mapping[str, Any] | None = None,
    terminate_on_end: bool = False,
    max_episode_steps: int | None = None,
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """D4RL's ``qlearning_dataset``: (s, a, r, s', done) arrays, D4RL's timeout handling.

    Args:
        env: a :class:`D4RLEnv`, a dataset id or a :class:`Trajectories` (ignored when
            ``dataset`` is given, except for its episode limit).
        dataset: a D4RL-style dict (``get_dataset()``'s); default: ``env``'s.
        terminate_on_end: keep the last step of timed-out episodes (its next
            observation is then the next episode's first, as in D4RL).
        max_episode_steps: the episode limit, needed only for a dict without
            ``timeouts`` (D4RL's pre-timeout files).
        **kwargs: passed to ``get_dataset`` (``dtype``).

    Returns:
        ``observations``, ``actions``, ``next_observations``, ``rewards`` (float32)
        and ``terminals`` (bool), as D4RL's.
    """
    if dataset is None:
        if env is None:
            raise TypeError("qlearning_dataset needs an env/dataset id or a dataset dict")
        dataset = env.get_dataset(**kwargs) if isinstance(env, D4RLEnv) else get_dataset(env, **kwargs)
    if max_episode_steps is None and isinstance(env, D4RLEnv):
        max_episode_steps = env.max_episode_steps
    n_all = check_d4rl_dict(dataset, "qlearning_dataset")
    n = n_all - 1  # D4RL iterates over range(N - 1)
    if n <= 0:
        raise DatasetError("qlearning_dataset: the dataset needs at least two steps")
    final = _final_timesteps(dataset, n, max_episode_steps, terminate_on_end)
    keep = np.ones(n, dtype=bool) if terminate_on_end else ~final
    idx = np.flatnonzero(keep)
    obs = np.asarray(dataset["observations"])
    return {
        "observations": obs[idx].astype(np.float32),
        "actions": np.asarray(dataset["actions"])[idx].astype(np.float32),
        "next_observations": obs[idx + 1].astype(np.float32),
        "rewards": np.asarray(dataset["rewards"]).reshape(-1)[idx].astype(np.float32),
        "terminals": np.asarray(dataset["terminals"], dtype=bool).reshape(-1)[idx],
    }


def sequence_dataset(env: Any = None, dataset: Mapping[str, Any] | None = None, **kwargs: Any) -> Iterator[dict[str, np.ndarray]]:
    """D4RL's ``sequence_dataset``: yields one dict of arrays per episode (episodes end
    at ``terminals`` or ``timeouts``; a trailing unfinished run is yielded too)."""
    if dataset is None:
        dataset = env.get_dataset(**kwargs) if isinstance(env, D4RLEnv) else get_dataset(env, **kwargs)
    n = check_d4rl_dict(dataset, "sequence_dataset")
    done = np.asarray(dataset["terminals"], dtype=bool).reshape(-1)
    if "timeouts" in dataset:
        done = done | np.asarray(dataset["timeouts"], dtype=bool).reshape(-1)
    ends = np.flatnonzero(done) + 1
    if ends.size == 0 or ends[-1] != n:
        ends = np.append(ends, n)
    start = 0
    keys = [k for k in dataset if not k.startswith("metadata/")]
    for end in ends.tolist():
        yield {k: np.asarray(dataset[k])[start:end] for k in keys}
        start = end


class D4RLEnv:
    """A pbrl env with D4RL's offline-env methods, bound to one dataset.

    Behaves like ``gym.make(task)`` (``reset``, ``step``, spaces, … are forwarded)
    and adds ``get_dataset()``, ``get_normalized_score(score)``, ``ref_min_score``,
    ``ref_max_score`` and ``dataset_id``, as D4RL's ``OfflineEnv``.

    Normalized scores use the task card's reference returns, which for HalfCheetah,
    Hopper, Walker2d and Ant are D4RL's (so numbers line up with D4RL's tables);
    the dataset's own random/expert references are ``dataset_ref_scores``.

    Args:
        dataset_id: a local dataset id.
        **env_kwargs: passed to ``gym.make``.
    """

    def __init__(self, dataset_id: str, **env_kwargs: Any):
        import gymnasium as gym

        from .storage import read_metadata, task_of

        self.dataset_id = dataset_id
        self.metadata_json = read_metadata(dataset_id)
        self.task = task_of(dataset_id, self.metadata_json)
        self.env = gym.make(self.task, **env_kwargs)
        card = getattr(self.env.unwrapped, "card", None)
        family = d4rl_family(self.task)
        if card is not None:
            self.ref_min_score, self.ref_max_score = float(card.ref_min_return), float(card.ref_max_return)
        elif family is not None:
            self.ref_min_score, self.ref_max_score = D4RL_REF_SCORES[family]
        else:
            self.ref_min_score = self.metadata_json.get("ref_min_score")
            self.ref_max_score = self.metadata_json.get("ref_max_score")
        self.dataset_ref_scores = (self.metadata_json.get("ref_min_score"), self.metadata_json.get("ref_max_score"))
        self.max_episode_steps = self.env.spec.max_episode_steps if self.env.spec is not None else None
        self._trajectories: Trajectories | None = None

    @property
    def trajectories(self) -> Trajectories:
        """The dataset's episodes (loaded once)."""
        if self._trajectories is None:
            from .storage import load_trajectories

            self._trajectories = load_trajectories(self.dataset_id)
        return self._trajectories

    def get_dataset(self, h5path: str | None = None, dtype: Any = np.float32) -> dict[str, np.ndarray]:
        """D4RL's ``get_dataset()`` dict (see :func:`get_dataset`); ``h5path`` reads a
        D4RL hdf5 file instead, checked like an import."""
        if h5path is not None:
            from .d4rl_import import read_d4rl_file

            return read_d4rl_file(h5path)
        return get_dataset(self.trajectories, dtype=dtype)

    def get_normalized_score(self, score: Any) -> Any:
        """``(score - ref_min_score) / (ref_max_score - ref_min_score)``, a fraction."""
        if self.ref_min_score is None or self.ref_max_score is None:
            raise ValueError(f"no reference scores for {self.dataset_id}")
        return (np.asarray(score, dtype=np.float64) - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)

    def __getattr__(self, name: str) -> Any:
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"D4RLEnv({self.dataset_id!r}, task={self.task!r})"


def make(dataset_id: str, **env_kwargs: Any) -> D4RLEnv:
    """``gym.make`` for D4RL code: the dataset's task with ``get_dataset()`` and friends."""
    return D4RLEnv(dataset_id, **env_kwargs)
