"""The trajectory buffer: complete episodes that segments are cut from.

:class:`TrajectoryBuffer` collects complete episodes from two kinds of source,
with the same storage:

* online rollouts append batched steps (one ``(N, ...)`` row per ``env.step``)
  with :meth:`TrajectoryBuffer.add`; episodes finish when the env says so, and only
  finished episodes are sampled;
* offline datasets are loaded as flat arrays plus episode boundaries with
  :meth:`TrajectoryBuffer.add_episodes`.

:meth:`TrajectoryBuffer.windows` cuts segments out of the held episodes (the
:class:`~pbrl.preferences.SegmentSampler` picks which); an episode shorter than the
window is padded with an absorbing state: the last observation (and extras) repeated,
zero action, zero reward and zero terms, and ``mask`` False on the padding.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np

from pbrl.envs.vector import merge_final_info
from pbrl.fileio import atomic_file

from ._columns import Columns
from .segments import ORIGIN_KINDS, SegmentBatch, SegmentShapeError

__all__ = ["TrajectoryBuffer"]

_KIND_CODE = {k: i for i, k in enumerate(ORIGIN_KINDS)}


class TrajectoryBuffer:
    """Complete episodes from online rollouts and offline datasets, stored flat.

    Args:
        capacity: keep at most this many steps (the oldest episodes are dropped;
            the newest one is always kept). ``None``: unbounded.
        obs_dtype: dtype observations and actions are stored in (float32 halves the
            memory; rewards and terms are always float64).
        autoreset_mode: how the env passed to :meth:`add` resets finished episodes:
            ``"next_step"`` (Gymnasium's default: the step after an episode ends is a
            reset step, which is not a transition and is not recorded) or
            ``"same_step"`` (Stable-Baselines3 and ``AutoresetMode.SAME_STEP``).
        source_id: id of the run that :meth:`add` records (origin of its segments).
        extras: names of per-step info entries to record with each step (e.g. the
            task card's quantities ``("x_velocity",)``). Like rewards and terms they
            are the values of the step (after the action). To record the state
            each action was chosen in (e.g. ``qpos``/``qvel`` for rendering clips),
            pass ``extras={...}`` to :meth:`add` yourself.
        return_history: how many finished-episode returns to remember for
            :meth:`recent_returns` (independent of ``capacity``).

    Online use, with a batched env (``obs`` is the observation the actions were
    chosen from; the rest is what ``env.step(actions)`` returned)::

        buffer = TrajectoryBuffer.from_env(env)
        obs, _ = env.reset(seed=0)
        for _ in range(steps):
            actions = policy(obs)
            next_obs, rewards, terminated, truncated, infos = env.step(actions)
            buffer.add(obs, actions, rewards, terminated, truncated, infos)
            obs = next_obs

    Offline use: :meth:`add_episodes` with flat arrays and episode boundaries.
    """

    def __init__(
        self,
        *,
        capacity: int | None = None,
        obs_dtype: Any = np.float32,
        autoreset_mode: str = "next_step",
        source_id: str = "run",
        extras: Sequence[str] = (),
        return_history: int = 1000,
    ):
        if capacity is not None and (int(capacity) != capacity or capacity < 1):
            raise ValueError(f"capacity must be a positive int or None, got {capacity!r}")
        mode = str(getattr(autoreset_mode, "name", autoreset_mode)).lower().replace("-", "_")
        mode = {"nextstep": "next_step", "samestep": "same_step"}.get(mode, mode)
        if mode not in ("next_step", "same_step"):
            raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', got {autoreset_mode!r}")
        self.capacity = None if capacity is None else int(capacity)
        self.obs_dtype = np.dtype(obs_dtype)
        self.autoreset_mode = mode
        self.source_id = str(source_id)
        self.extra_names: tuple[str, ...] = tuple(extras)
        self._returns_hist: list[float] = []
        self._return_history = int(return_history)
        self._steps: Columns | None = None
        self._eps = Columns(
            {
                "start": ((), np.int64),
                "length": ((), np.int64),
                "ret": ((), np.float64),
                "kind": ((), np.int8),
                "source": ((), np.int32),
                "episode": ((), np.int64),
                "terminated": ((), np.bool_),
            },
            capacity=64,
        )
        self._sources: list[str] = []
        self._next_episode: list[int] = []
        self._source_index: dict[str, int] = {}
        self.obs_dim: int | None = None
        self.act_dim: int | None = None
        self.term_names: tuple[str, ...] | None = None
        self._extra_shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        # online staging (per sub-env, the episode in progress)
        self.num_envs: int | None = None
        self._stage: dict[str, np.ndarray] = {}
        self._stage_len: np.ndarray | None = None
        self._stage_ret: np.ndarray | None = None
        self._skip_next: np.ndarray | None = None

    @classmethod
    def from_env(cls, env: Any, **kwargs: Any) -> "TrajectoryBuffer":
        """A buffer matching a batched pbrl env (or an SB3 adapter around one): its
        autoreset mode, and the task card's named quantities as extras."""
        base = getattr(env, "env", env)
        base = getattr(base, "unwrapped", base)
        if "autoreset_mode" not in kwargs:
            if hasattr(env, "step_wait"):  # an SB3 VecEnv resets in the same step
                kwargs["autoreset_mode"] = "same_step"
            else:
                mode = getattr(base, "metadata", {}).get("autoreset_mode", "next_step")
                kwargs["autoreset_mode"] = getattr(mode, "name", mode)
        card = getattr(base, "card", None)
        if "extras" not in kwargs and card is not None:
            kwargs["extras"] = tuple(card.quantities)
        return cls(**kwargs)

    # -- layout -------------------------------------------------------------

    def _init_layout(self, obs_dim: int, act_dim: int, terms: Sequence[str], extras: Mapping[str, np.ndarray]) -> None:
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.term_names = tuple(terms)
        specs: dict[str, tuple[tuple[int, ...], Any]] = {
            "obs": ((self.obs_dim,), self.obs_dtype),
            "actions": ((self.act_dim,), self.obs_dtype),
            "rewards": ((), np.float64),
        }
        for name in self.term_names:
            specs["t:" + name] = ((), np.float64)
        for name, value in extras.items():
            shape = tuple(np.shape(value)[1:])
            dtype = np.asarray(value).dtype
            if dtype.kind not in "biuf":
                raise TypeError(f"extra {name!r} must be numeric, got {dtype}")
            self._extra_shapes[name] = (shape, dtype)
            specs["x:" + name] = (shape, dtype)
        self.extra_names = tuple(extras)
        self._steps = Columns(specs, capacity=1024)

    def _check_layout(self, obs_dim, act_dim, terms, extras) -> None:
        if (obs_dim, act_dim) != (self.obs_dim, self.act_dim):
            raise SegmentShapeError(
                f"this buffer holds obs_dim {self.obs_dim}, act_dim {self.act_dim}; got obs_dim {obs_dim}, act_dim {act_dim}"
            )
        if tuple(terms) != self.term_names:
            raise SegmentShapeError(f"this buffer records reward terms {list(self.term_names or ())}, got {list(terms)}")
        for name, value in extras.items():
            shape = tuple(np.shape(value)[1:])
            if name not in self._extra_shapes or self._extra_shapes[name][0] != shape:
                raise SegmentShapeError(
                    f"extra {name!r} with per-step shape {shape} does not match the buffer's extras "
                    f"{ {k: v[0] for k, v in self._extra_shapes.items()} }"
                )
        if set(extras) != set(self._extra_shapes):
            raise SegmentShapeError(f"this buffer records extras {list(self._extra_shapes)}, got {list(extras)}")

    def _source(self, source_id: str) -> int:
        if source_id not in self._source_index:
            self._source_index[source_id] = len(self._sources)
            self._sources.append(source_id)
            self._next_episode.append(0)
        return self._source_index[source_id]

    # -- online -------------------------------------------------------------

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray | None = None,
        infos: Mapping[str, Any] | None = None,
        *,
        reward_terms: Mapping[str, np.ndarray] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
    ) -> int:
        """Record one batched env step.

        Args:
            obs: (N, obs_dim) the observations the actions were chosen from.
            actions: (N, act_dim) the actions passed to ``env.step``.
            rewards: (N,) the rewards ``env.step`` returned (the true reward).
            terminated: (N,) bool; with Stable-Baselines3, its ``dones``.
            truncated: (N,) bool (default all False).
            infos: the batched info dict of ``env.step``; its ``"reward_terms"`` and
                the entries named in ``extras`` are recorded. With pbrl's SB3 adapter
                pass ``venv.last_info`` (SB3's per-env info list has no terms).
            reward_terms: term name -> (N,) values, instead of ``infos["reward_terms"]``.
            extras: name -> (N, ...) values, instead of taking them from ``infos``.

        Returns:
            The number of episodes that finished with this step.
        """
        obs = np.asarray(obs)
        actions = np.asarray(actions)
        if obs.ndim != 2:
            raise SegmentShapeError(f"add() takes batched obs (N, obs_dim), got shape {obs.shape}")
        n = obs.shape[0]
        if actions.ndim == 1 and n == actions.shape[0]:
            actions = actions[:, None]
        if actions.ndim != 2 or actions.shape[0] != n:
            raise SegmentShapeError(f"actions must be (N, act_dim) with N={n}, got shape {actions.shape}")
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        terminated = np.asarray(terminated, dtype=bool).reshape(-1)
        truncated = np.zeros(n, bool) if truncated is None else np.asarray(truncated, dtype=bool).reshape(-1)
        for name, arr in (("rewards", rewards), ("terminated", terminated), ("truncated", truncated)):
            if arr.shape != (n,):
                raise SegmentShapeError(f"{name} must have shape ({n},), got {arr.shape}")
        infos = infos or {}
        if self.autoreset_mode == "next_step" and self._skip_next is not None and self._skip_next.all():
            # every sub-env is on its reset step: no transition to record (and, as in
            # Gymnasium, the info then holds only reset keys)
            self._skip_next = np.zeros(n, dtype=bool)
            return 0
        if isinstance(infos, Mapping) and "final_info" in infos:  # SAME_STEP: ended episodes' last step
            infos = merge_final_info(infos)
        if reward_terms is None:
            reward_terms = infos.get("reward_terms", {}) if isinstance(infos, Mapping) else {}
        terms = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in dict(reward_terms).items()}
        for k, v in terms.items():
            if v.shape != (n,):
                raise SegmentShapeError(f"reward term {k!r} must have shape ({n},), got {v.shape}")
        if extras is None:
            names = self.extra_names
            missing = [k for k in names if not (isinstance(infos, Mapping) and k in infos)]
            if missing:
                raise KeyError(f"infos has no {missing} (recorded extras); pass extras= or make the buffer with extras=()")
            extras = {k: infos[k] for k in names}
        extras = {k: np.asarray(v) for k, v in extras.items()}
        for k, v in extras.items():
            if v.shape[:1] != (n,):
                raise SegmentShapeError(f"extra {k!r} must have a leading dimension {n}, got {v.shape}")

        if self._steps is None:
            self._init_layout(obs.shape[1], actions.shape[1], list(terms), extras)
        else:
            self._check_layout(obs.shape[1], actions.shape[1], list(terms), extras)
        if self.num_envs is None:
            self._init_stage(n)
        elif n != self.num_envs:
            raise SegmentShapeError(f"this buffer records {self.num_envs} sub-envs per step, got {n}")

        valid = ~self._skip_next if self.autoreset_mode == "next_step" else np.ones(n, bool)
        ids = np.flatnonzero(valid)
        length = self._stage_len[ids]
        need = int(length.max()) + 1 if ids.size else 0
        if need > self._stage["rewards"].shape[1]:
            self._grow_stage(need)
        row = {"obs": obs, "actions": actions, "rewards": rewards}
        row.update({"t:" + k: v for k, v in terms.items()})
        row.update({"x:" + k: v for k, v in extras.items()})
        for key, value in row.items():
            self._stage[key][ids, length] = value[ids]
        self._stage_len[ids] += 1
        self._stage_ret[ids] += rewards[ids]
        done = (terminated | truncated) & valid
        finished = np.flatnonzero(done)
        for i in finished:
            self._flush(int(i), bool(terminated[i]))
        if self.autoreset_mode == "next_step":
            self._skip_next = done
        if finished.size:
            self._evict()
        return int(finished.size)

    def _init_stage(self, n: int) -> None:
        self.num_envs = n
        self._stage = {}
        cap = 64
        for key, (shape, dtype) in self._steps.specs.items():  # type: ignore[union-attr]
            self._stage[key] = np.zeros((n, cap, *shape), dtype=dtype)
        self._stage_len = np.zeros(n, dtype=np.int64)
        self._stage_ret = np.zeros(n, dtype=np.float64)
        self._skip_next = np.zeros(n, dtype=bool)

    def _grow_stage(self, need: int) -> None:
        cap = self._stage["rewards"].shape[1]
        while cap < need:
            cap *= 2
        for key, arr in self._stage.items():
            new = np.zeros((arr.shape[0], cap, *arr.shape[2:]), dtype=arr.dtype)
            new[:, : arr.shape[1]] = arr
            self._stage[key] = new

    def _flush(self, i: int, terminated: bool) -> None:
        length = int(self._stage_len[i])
        if length == 0:
            return
        start = self._steps.first_logical + len(self._steps)  # type: ignore[union-attr]
        self._steps.append({k: v[i, :length] for k, v in self._stage.items()})  # type: ignore[union-attr]
        ret = float(self._stage_ret[i])
        src = self._source(self.source_id)
        self._eps.append(
            {
                "start": np.array([start]),
                "length": np.array([length]),
                "ret": np.array([ret]),
                "kind": np.array([_KIND_CODE["run"]]),
                "source": np.array([src]),
                "episode": np.array([self._next_episode[src]]),
                "terminated": np.array([terminated]),
            }
        )
        self._next_episode[src] += 1
        self._remember_returns([ret])
        self._stage_len[i] = 0
        self._stage_ret[i] = 0.0

    def end_episodes(self) -> int:
        """Close every episode in progress as if truncated now (e.g. at the end of
        collection), so its steps can be sampled. Returns how many were closed."""
        if self.num_envs is None:
            return 0
        ids = np.flatnonzero(self._stage_len > 0)
        for i in ids:
            self._flush(int(i), False)
        if self.autoreset_mode == "next_step":
            self._skip_next[:] = False
        self._evict()
        return int(ids.size)

    # -- offline ------------------------------------------------------------

    def add_episodes(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        *,
        episode_lengths: Sequence[int] | np.ndarray | None = None,
        dones: np.ndarray | None = None,
        terminals: np.ndarray | None = None,
        reward_terms: Mapping[str, np.ndarray] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        source_id: str = "dataset",
        kind: str = "dataset",
        episode_ids: Sequence[int] | np.ndarray | None = None,
    ) -> int:
        """Load whole episodes from flat arrays (an offline dataset).

        Args:
            observations: (T, obs_dim) the observation each action was taken in
                (D4RL's ``observations``; for Minari, each episode's observations
                without its final one).
            actions: (T, act_dim).
            rewards: (T,).
            episode_lengths: (E,) steps per episode, summing to T. Or give ``dones``.
            dones: (T,) bool, True on the last step of each episode (D4RL:
                ``terminals | timeouts``); steps after the last True form a final
                episode. With neither, all T steps are one episode.
            terminals: (T,) bool, whether an episode ended by termination (recorded
                per episode; default False).
            reward_terms: term name -> (T,) values.
            extras: name -> (T, ...) per-step extras.
            source_id: the dataset id (origin of its segments).
            kind: ``"dataset"`` (default) or ``"run"``.
            episode_ids: (E,) index of each episode in the dataset (default: numbered on
                from the episodes already added from ``source_id``, starting at 0).

        Returns:
            The number of episodes added.
        """
        obs = np.asarray(observations)
        act = np.asarray(actions)
        rew = np.asarray(rewards, dtype=np.float64).reshape(-1) if np.ndim(rewards) <= 2 else None
        if obs.ndim != 2:
            raise SegmentShapeError(f"observations must be (T, obs_dim), got shape {obs.shape}")
        t = obs.shape[0]
        if act.ndim == 1 and act.shape[0] == t:
            act = act[:, None]
        if act.ndim != 2 or act.shape[0] != t:
            raise SegmentShapeError(f"actions must be (T, act_dim) with T={t} like observations, got {act.shape}")
        if rew is None or rew.shape != (t,):
            raise SegmentShapeError(f"rewards must have shape ({t},) like observations, got {np.shape(rewards)}")
        if kind not in ORIGIN_KINDS:
            raise ValueError(f"kind must be one of {ORIGIN_KINDS}, got {kind!r}")
        if t == 0:
            raise ValueError("add_episodes got no steps (T = 0)")
        if episode_lengths is not None and dones is not None:
            raise ValueError("give episode_lengths or dones, not both")
        if episode_lengths is not None:
            lengths = np.asarray(episode_lengths).astype(np.int64).reshape(-1)
            if (lengths < 1).any():
                raise ValueError(f"episode_lengths must be positive, got {lengths[lengths < 1][:5].tolist()}...")
            if lengths.sum() != t:
                raise SegmentShapeError(f"episode_lengths sum to {int(lengths.sum())} but there are {t} steps")
        elif dones is not None:
            d = np.asarray(dones, dtype=bool).reshape(-1)
            if d.shape != (t,):
                raise SegmentShapeError(f"dones must have shape ({t},), got {np.shape(dones)}")
            ends = np.flatnonzero(d) + 1
            if ends.size == 0 or ends[-1] != t:
                ends = np.append(ends, t)
            lengths = np.diff(np.concatenate([[0], ends]))
        else:
            lengths = np.array([t], dtype=np.int64)
        e = lengths.size
        starts_rel = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        term_flags = np.zeros(e, dtype=bool)
        if terminals is not None:
            term = np.asarray(terminals, dtype=bool).reshape(-1)
            if term.shape != (t,):
                raise SegmentShapeError(f"terminals must have shape ({t},), got {np.shape(terminals)}")
            term_flags = term[starts_rel + lengths - 1]
        terms = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in dict(reward_terms or {}).items()}
        for k, v in terms.items():
            if v.shape != (t,):
                raise SegmentShapeError(f"reward term {k!r} must have shape ({t},), got {v.shape}")
        extras = {k: np.asarray(v) for k, v in dict(extras or {}).items()}
        for k, v in extras.items():
            if v.shape[:1] != (t,):
                raise SegmentShapeError(f"extra {k!r} must have a leading dimension {t}, got {v.shape}")
        src = self._source(str(source_id))
        if episode_ids is None:
            ep_ids = self._next_episode[src] + np.arange(e, dtype=np.int64)
        else:
            ep_ids = np.asarray(episode_ids).astype(np.int64).reshape(-1)
            if ep_ids.shape != (e,):
                raise SegmentShapeError(f"episode_ids must have one id per episode ({e}), got {ep_ids.shape}")
        if self._steps is None:
            self._init_layout(obs.shape[1], act.shape[1], list(terms), extras)
        else:
            self._check_layout(obs.shape[1], act.shape[1], list(terms), extras)

        first = self._steps.first_logical + len(self._steps)  # type: ignore[union-attr]
        row = {"obs": obs, "actions": act, "rewards": rew}
        row.update({"t:" + k: v for k, v in terms.items()})
        row.update({"x:" + k: v for k, v in extras.items()})
        self._steps.append(row)  # type: ignore[union-attr]
        rets = np.add.reduceat(rew, starts_rel)
        self._eps.append(
            {
                "start": first + starts_rel,
                "length": lengths,
                "ret": rets,
                "kind": np.full(e, _KIND_CODE[kind], dtype=np.int8),
                "source": np.full(e, src, dtype=np.int32),
                "episode": ep_ids,
                "terminated": term_flags,
            }
        )
        self._next_episode[src] = max(self._next_episode[src], int(ep_ids.max()) + 1)
        self._remember_returns(rets.tolist())
        self._evict()
        return int(e)

    # -- bookkeeping --------------------------------------------------------

    def _remember_returns(self, returns: list[float]) -> None:
        self._returns_hist.extend(returns)
        extra = len(self._returns_hist) - self._return_history
        if extra > 0:
            del self._returns_hist[:extra]

    def _evict(self) -> None:
        if self.capacity is None or self._steps is None:
            return
        total = len(self._steps)
        if total <= self.capacity:
            return
        lengths = self._eps.view("length")
        # drop the k oldest episodes, k minimal with total - sum(first k) <= capacity,
        # but always keep the newest episode
        dropped = np.cumsum(lengths)
        k = int(np.searchsorted(dropped, total - self.capacity, side="left")) + 1
        k = min(k, len(lengths) - 1)
        if k <= 0:
            return
        steps = int(dropped[k - 1])
        self._eps.drop_front(k)
        self._steps.drop_front(steps)

    # -- queries ------------------------------------------------------------

    @property
    def num_episodes(self) -> int:
        """Finished episodes held (those segments can be sampled from)."""
        return len(self._eps)

    @property
    def num_steps(self) -> int:
        """Steps held in finished episodes."""
        return 0 if self._steps is None else len(self._steps)

    @property
    def episode_lengths(self) -> np.ndarray:
        return self._eps.view("length").copy()

    @property
    def episode_returns(self) -> np.ndarray:
        """(E,) true return of each held episode, oldest first."""
        return self._eps.view("ret").copy()

    def recent_returns(self, k: int = 10) -> np.ndarray:
        """True returns of the last ``k`` finished episodes (up to ``return_history``;
        not limited by ``capacity``), oldest first: what a scripted teacher's
        thresholds are relative to."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return np.asarray(self._returns_hist[-k:], dtype=np.float64)

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """All steps of held episode ``index`` (0 = oldest) as arrays."""
        e = len(self._eps)
        if not -e <= index < e:
            raise IndexError(f"episode {index} out of range ({e} held)")
        index %= e
        start = int(self._eps.view("start")[index]) - self._steps.base  # type: ignore[union-attr]
        length = int(self._eps.view("length")[index])
        steps = self._steps
        sl = slice(start, start + length)
        out = {"obs": steps.data["obs"][sl], "actions": steps.data["actions"][sl], "rewards": steps.data["rewards"][sl]}
        for name in self.term_names or ():
            out["terms/" + name] = steps.data["t:" + name][sl]
        for name in self.extra_names:
            out["extras/" + name] = steps.data["x:" + name][sl]
        return {k: v.copy() for k, v in out.items()}

    # -- persistence --------------------------------------------------------

    def save(self, path: str) -> None:
        """Write the buffer (held episodes, episodes in progress, return history) to
        an ``.npz`` file, e.g. with a checkpoint; :meth:`load` restores it exactly.
        No pickle: plain arrays plus a JSON header (:meth:`to_arrays`)."""
        with atomic_file(path, durable=False) as f:
            np.savez(f, **self.to_arrays())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The buffer as named arrays (what :meth:`save` writes; :meth:`from_arrays` reads them back)."""
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {
            "format": "pbrl-trajectory-buffer",
            "version": 1,
            "capacity": self.capacity,
            "obs_dtype": self.obs_dtype.str,
            "autoreset_mode": self.autoreset_mode,
            "source_id": self.source_id,
            "extra_names": list(self.extra_names),
            "term_names": None if self.term_names is None else list(self.term_names),
            "return_history": self._return_history,
            "sources": self._sources,
            "next_episode": self._next_episode,
            "num_envs": self.num_envs,
        }
        arrays["returns_hist"] = np.asarray(self._returns_hist, dtype=np.float64)
        if self._steps is not None:
            for key in self._steps.specs:
                arrays["steps/" + key] = self._steps.view(key)
            for key in self._eps.specs:
                arrays["eps/" + key] = self._eps.view(key)
            arrays["eps/start"] = arrays["eps/start"] - self._steps.first_logical
        if self.num_envs is not None:
            longest = int(self._stage_len.max())  # type: ignore[union-attr]
            for key, value in self._stage.items():
                arrays["stage/" + key] = value[:, :longest]
            arrays["stage_len"] = self._stage_len  # type: ignore[assignment]
            arrays["stage_ret"] = self._stage_ret  # type: ignore[assignment]
            arrays["skip_next"] = self._skip_next  # type: ignore[assignment]
        arrays["meta"] = np.asarray(json.dumps(meta))
        return arrays

    @classmethod
    def load(cls, path: str) -> "TrajectoryBuffer":
        """Read a buffer written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays(z, where=path)

    @classmethod
    def from_arrays(cls, z: Mapping[str, np.ndarray], where: str = "the arrays") -> "TrajectoryBuffer":
        """The buffer :meth:`to_arrays` described (``where`` names the source in errors)."""
        files = list(z.keys())
        if "meta" not in files:
            raise ValueError(f"{where} is not a pbrl trajectory buffer (no meta entry)")
        meta = json.loads(str(z["meta"][()]))
        if meta.get("format") != "pbrl-trajectory-buffer" or meta.get("version") != 1:
            raise ValueError(f"{where} is not a pbrl trajectory buffer of version 1")
        buf = cls(
            capacity=meta["capacity"],
            obs_dtype=np.dtype(meta["obs_dtype"]),
            autoreset_mode=meta["autoreset_mode"],
            source_id=meta["source_id"],
            extras=meta["extra_names"],
            return_history=meta["return_history"],
        )
        buf._sources = list(meta["sources"])
        buf._source_index = {k: i for i, k in enumerate(buf._sources)}
        buf._next_episode = [int(v) for v in meta["next_episode"]]
        buf._returns_hist = z["returns_hist"].tolist()
        if meta["term_names"] is not None:
            steps = {k[6:]: z[k] for k in files if k.startswith("steps/")}
            extras = {name: steps["x:" + name] for name in meta["extra_names"]}
            buf._init_layout(steps["obs"].shape[1], steps["actions"].shape[1], meta["term_names"], extras)
            buf._steps.append(steps)  # type: ignore[union-attr]
            buf._eps.append({k[4:]: z[k] for k in files if k.startswith("eps/")})
        if meta["num_envs"] is not None:
            buf._init_stage(int(meta["num_envs"]))
            stage_len = z["stage_len"]
            if stage_len.max(initial=0) > 0:
                buf._grow_stage(int(stage_len.max()))
            for key in buf._stage:
                value = z["stage/" + key]
                buf._stage[key][:, : value.shape[1]] = value
            buf._stage_len = stage_len.astype(np.int64)
            buf._stage_ret = z["stage_ret"].astype(np.float64)
            buf._skip_next = z["skip_next"].astype(bool)
        return buf

    # -- segments -----------------------------------------------------------

    def _episode_table(self) -> dict[str, np.ndarray]:
        return {k: self._eps.view(k) for k in self._eps.specs}

    def windows(self, episodes: np.ndarray, starts: np.ndarray, horizon: int) -> SegmentBatch:
        """The segments of ``horizon`` steps starting at step ``starts[i]`` of held
        episode ``episodes[i]`` (0 = oldest), as one batch.

        A window that runs past its episode's end is padded with the absorbing state
        (last observation and extras repeated, zero action, reward and terms, ``mask``
        False); the caller keeps ``starts`` inside the episodes.
        """
        steps = self._steps
        table = self._episode_table()
        length = table["length"][episodes]
        pos = starts[:, None] + np.arange(horizon)[None, :]
        mask = pos < length[:, None]
        pos = np.minimum(pos, (length - 1)[:, None])
        phys = (table["start"][episodes] - steps.base)[:, None] + pos  # type: ignore[union-attr]
        data = steps.data  # type: ignore[union-attr]
        actions = data["actions"][phys]
        actions[~mask] = 0
        rewards = np.where(mask, data["rewards"][phys], 0.0)
        terms = {name: np.where(mask, data["t:" + name][phys], 0.0) for name in self.term_names or ()}
        extras = {name: data["x:" + name][phys] for name in self.extra_names}
        sources = np.asarray(self._sources, dtype=str)
        return SegmentBatch(
            obs=data["obs"][phys],
            actions=actions,
            rewards=rewards,
            terms=terms,
            mask=mask,
            extras=extras,
            origin_kind=np.asarray(ORIGIN_KINDS)[table["kind"][episodes]],
            source_id=sources[table["source"][episodes]],
            episode=table["episode"][episodes],
            start=starts,
        )
