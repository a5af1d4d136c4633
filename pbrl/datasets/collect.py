"""Collecting episodes with a policy on the batched env, and recording any batched
interaction (e.g. an agent's training) as a dataset.

:class:`StepRecorder` appends one ``(N, ...)`` row per vector step into
preallocated arrays — no per-environment Python work per step — and, at the end,
splits the N interleaved streams into episodes with numpy index arithmetic
(:meth:`StepRecorder.finalize`). :func:`collect` drives a policy on
``gym.make_vec(task, num_envs=N, autoreset_mode="Disabled")`` and feeds the recorder,
so every episode gets its exact final observation and final ``qpos``/``qvel``.

A *policy* here is any callable ``policy(obs) -> actions`` over the batch:
``(N, obs_dim)`` float64 in, ``(N, act_dim)`` out. :func:`as_policy` adapts pbrl's
agents (``agent.predict(obs, deterministic=...)``) and Stable-Baselines3 models.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from .errors import DatasetError
from .trajectories import Trajectories, concatenated_ranges

__all__ = ["BatchedPolicy", "RandomPolicy", "StepRecorder", "as_policy", "collect", "qpos_qvel"]


class BatchedPolicy(Protocol):
    """``policy(obs) -> actions`` for a batch: (N, obs_dim) -> (N, act_dim)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


class RandomPolicy:
    """Uniform random actions in the action box.

    Args:
        low, high: (act_dim,) bounds.
        seed: seed of the policy's own generator.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, seed: int | None = None):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.low, self.high, size=(np.shape(obs)[0], self.low.size))


def as_policy(obj: Any, deterministic: bool = False) -> BatchedPolicy:
    """A batched policy from a pbrl agent, an SB3 model or a plain callable.

    Args:
        obj: an object with ``predict(obs, deterministic=...)`` (pbrl's agents
            return actions; SB3 models return ``(actions, state)``), or a callable.
        deterministic: act with the mean action; D4RL's datasets sample from the
            policy (``False``, the default).
    """
    predict = getattr(obj, "predict", None)
    if predict is not None:

        def policy(obs: np.ndarray) -> np.ndarray:
            out = predict(obs, deterministic=deterministic)
            return out[0] if isinstance(out, tuple) else out

        return policy
    if callable(obj):
        return obj
    raise TypeError(f"need a callable policy or an object with predict(), got {type(obj).__name__}")


def qpos_qvel(env: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Copies of a pbrl batched env's ``qpos`` (N, nq) and ``qvel`` (N, nv), or None."""
    base = getattr(env, "unwrapped", env)
    engine = getattr(base, "engine", None)
    sim = getattr(engine, "sim", None)
    if sim is None:
        return None
    return np.array(sim.qpos, copy=True), np.array(sim.qvel, copy=True)


class StepRecorder:
    """Records a batched interaction step by step; :meth:`finalize` makes episodes.

    Args:
        num_envs: N, the sub-envs stepped together.
        obs_dim, act_dim: sizes of one observation and one action.
        nq, nv: sizes of ``qpos`` and ``qvel`` (0: not recorded).
        capacity: vector steps to preallocate (grows by doubling when exceeded).

    Call :meth:`begin` with the first observations, then :meth:`add` after every
    vector step.
    """

    def __init__(self, num_envs: int, obs_dim: int, act_dim: int, nq: int = 0, nv: int = 0, capacity: int = 1024):
        self.num_envs = int(num_envs)
        self.obs_dim, self.act_dim, self.nq, self.nv = int(obs_dim), int(act_dim), int(nq), int(nv)
        self._cap = max(int(capacity), 1)
        self.steps = 0  # vector steps recorded
        n = self.num_envs
        self._obs = np.zeros((self._cap + 1, n, self.obs_dim))
        self._qpos = np.zeros((self._cap + 1, n, self.nq))
        self._qvel = np.zeros((self._cap + 1, n, self.nv))
        self._act = np.zeros((self._cap, n, self.act_dim), dtype=np.float32)
        self._rew = np.zeros((self._cap, n))
        self._term = np.zeros((self._cap, n), dtype=bool)
        self._trunc = np.zeros((self._cap, n), dtype=bool)
        self._seed = np.full((self._cap + 1, n), -1, dtype=np.int64)  # reset seed of the episode starting at (step, env)
        self._info: dict[str, np.ndarray] | None = None
        # final states of ended episodes: (step, env) -> row in these lists
        self._final_at: list[tuple[int, np.ndarray]] = []
        self._final_obs: list[np.ndarray] = []
        self._final_qpos: list[np.ndarray] = []
        self._final_qvel: list[np.ndarray] = []
        self._started = False

    def _grow(self) -> None:
        new = self._cap * 2

        def grow(a: np.ndarray, rows: int) -> np.ndarray:
            out = np.zeros((rows,) + a.shape[1:], dtype=a.dtype)
            out[: a.shape[0]] = a
            return out

        self._obs, self._qpos, self._qvel = (grow(a, new + 1) for a in (self._obs, self._qpos, self._qvel))
        seed = np.full((new + 1, self.num_envs), -1, dtype=np.int64)
        seed[: self._seed.shape[0]] = self._seed
        self._seed = seed
        self._act, self._rew, self._term, self._trunc = (grow(a, new) for a in (self._act, self._rew, self._term, self._trunc))
        if self._info is not None:
            self._info = {k: grow(v, new) for k, v in self._info.items()}
        self._cap = new

    def begin(
        self, obs: np.ndarray, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None, seeds: np.ndarray | None = None
    ) -> None:
        """The observations (and states) the first actions are taken in, and the (N,)
        seeds the sub-envs were reset with (-1 or None: unknown)."""
        self._obs[self.steps] = obs
        if seeds is not None:
            self._seed[self.steps] = seeds
        if self.nq and qpos is not None:
            self._qpos[self.steps] = qpos
        if self.nv and qvel is not None:
            self._qvel[self.steps] = qvel
        self._started = True

    def set_current(self, obs: np.ndarray, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """Overwrite what the next actions are taken in (for recorders that learn the
        reset observations only at the following step)."""
        self._obs[self.steps] = obs
        if self.nq and qpos is not None:
            self._qpos[self.steps] = qpos
        if self.nv and qvel is not None:
            self._qvel[self.steps] = qvel

    def add(
        self,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        final_obs: np.ndarray,
        infos: Mapping[str, np.ndarray] | None = None,
        *,
        final_qpos: np.ndarray | None = None,
        final_qvel: np.ndarray | None = None,
        next_obs: np.ndarray | None = None,
        next_qpos: np.ndarray | None = None,
        next_qvel: np.ndarray | None = None,
        next_seeds: np.ndarray | None = None,
    ) -> None:
        """Record one vector step.

        Args:
            actions, rewards, terminated, truncated: the step, (N, ...) each.
            final_obs: the observation after the step (the final one of episodes
                that ended).
            infos: name -> (N,) or (N, ...) step infos (reward terms as
                ``reward_terms/<name>``, quantities, ``success``).
            final_qpos, final_qvel: the states after the step.
            next_obs, next_qpos, next_qvel: what the next actions are taken in (the
                reset state of ended episodes); default: the final ones.
            next_seeds: (N,) the seeds ended sub-envs were reset with (read where an
                episode ended; -1: unknown).
        """
        if not self._started:
            raise RuntimeError("call begin(obs) before add()")
        if self.steps >= self._cap:
            self._grow()
        s = self.steps
        self._act[s] = actions
        self._rew[s] = rewards
        term = np.asarray(terminated, dtype=bool)
        trunc = np.asarray(truncated, dtype=bool)
        self._term[s] = term
        self._trunc[s] = trunc
        if infos:
            if self._info is None:
                self._info = {
                    k: np.zeros((self._cap,) + np.shape(v), dtype=np.asarray(v).dtype) for k, v in infos.items()
                }
            for k, store in self._info.items():
                if k in infos:
                    store[s] = infos[k]
        done = term | trunc
        if done.any():
            ids = np.flatnonzero(done)
            self._final_at.append((s, ids))
            self._final_obs.append(np.asarray(final_obs)[ids])
            if self.nq:
                self._final_qpos.append(np.asarray(final_qpos)[ids])
            if self.nv:
                self._final_qvel.append(np.asarray(final_qvel)[ids])
            if next_seeds is not None:
                self._seed[s + 1, ids] = np.asarray(next_seeds)[ids]
        self._obs[s + 1] = final_obs if next_obs is None else next_obs
        if self.nq:
            self._qpos[s + 1] = final_qpos if next_qpos is None else next_qpos
        if self.nv:
            self._qvel[s + 1] = final_qvel if next_qvel is None else next_qvel
        self.steps = s + 1

    def finalize(
        self,
        max_steps: int | None = None,
        *,
        vector_steps: int | None = None,
        source: str = "<recording>",
    ) -> Trajectories:
        """Split the recorded streams into episodes.

        Episodes still running at the cut are kept and marked truncated (a
        collection budget ends them like a time limit; their last observation is
        the true one). Episodes are ordered by their first step (ties: by sub-env).

        Args:
            max_steps: keep exactly this many steps in all (at most N - 1 fewer than
                recorded: the last vector step is shared out among the sub-envs).
            vector_steps: keep only the first ``vector_steps`` vector steps.
            source: a name for error messages.
        """
        n = self.num_envs
        s_total = self.steps if vector_steps is None else min(int(vector_steps), self.steps)
        lengths_env = np.full(n, s_total, dtype=np.int64)
        if max_steps is not None:
            max_steps = int(max_steps)
            excess = s_total * n - max_steps
            if excess < 0:
                raise ValueError(f"recorded {s_total * n} steps, fewer than max_steps={max_steps}")
            if excess >= n:
                s_total = math.ceil(max_steps / n)
                lengths_env[:] = s_total
                excess = s_total * n - max_steps
            if excess:
                lengths_env[n - excess :] -= 1
        if s_total == 0 or lengths_env.sum() == 0:
            raise DatasetError(f"{source}: no steps recorded")
        S = s_total
        term = self._term[:S]
        trunc = self._trunc[:S]
        done = term | trunc
        valid = np.arange(S)[:, None] < lengths_env[None, :]
        ended = done & valid
        # episodes still running at the cut end there, truncated
        last = lengths_env - 1
        cols = np.flatnonzero(lengths_env > 0)
        cut = np.zeros_like(ended)
        cut[last[cols], cols] = ~ended[last[cols], cols]
        is_end = ended | cut
        env_of, end_s = np.nonzero(is_end.T)  # sorted by env, then step
        first = np.ones(env_of.size, dtype=bool)
        first[1:] = env_of[1:] != env_of[:-1]
        prev_end = np.empty_like(end_s)
        prev_end[0] = -1
        prev_end[1:] = end_s[:-1]
        start_s = np.where(first, 0, prev_end + 1)
        order = np.lexsort((env_of, start_s))
        env_of, start_s, end_s = env_of[order], start_s[order], end_s[order]
        lengths = end_s - start_s + 1
        e = lengths.size
        seeds = self._seed[start_s, env_of]

        # steps: (s, env) of each step, episode by episode
        s_idx = concatenated_ranges(start_s, lengths)
        i_idx = np.repeat(env_of, lengths)
        actions = self._act[s_idx, i_idx]
        rewards = self._rew[s_idx, i_idx]
        terminations = term[s_idx, i_idx]
        truncations = trunc[s_idx, i_idx]
        is_cut = cut[end_s, env_of]
        last_step = np.cumsum(lengths) - 1
        truncations[last_step] |= is_cut

        # rows: the states steps were taken in, then each episode's final state
        row_starts = np.cumsum(lengths + 1) - (lengths + 1)
        step_rows = concatenated_ranges(row_starts, lengths)
        final_rows = row_starts + lengths
        final_lookup = self._final_lookup(S)
        fin = final_lookup[end_s, env_of] if final_lookup is not None else np.full(e, -1)
        from_final = (fin >= 0) & ~is_cut
        # an episode cut by the budget ends in the state the next step would start from
        carry_s = np.where(from_final, 0, end_s + 1)

        def gather(rows_src: np.ndarray, finals: list[np.ndarray], dim: int) -> np.ndarray:
            out = np.empty((int(lengths.sum()) + e, dim), dtype=rows_src.dtype)
            out[step_rows] = rows_src[s_idx, i_idx]
            out[final_rows] = rows_src[carry_s, env_of]
            if from_final.any():
                stacked = np.concatenate(finals)
                out[final_rows[from_final]] = stacked[fin[from_final]]
            return out

        observations = gather(self._obs, self._final_obs, self.obs_dim)
        infos: dict[str, np.ndarray] = {}
        if self.nq:
            infos["qpos"] = gather(self._qpos, self._final_qpos, self.nq)
        if self.nv:
            infos["qvel"] = gather(self._qvel, self._final_qvel, self.nv)
        for name, store in (self._info or {}).items():
            value = np.zeros((int(lengths.sum()) + e,) + store.shape[2:], dtype=store.dtype)
            value[step_rows + 1] = store[s_idx, i_idx]  # row k + 1 holds step k's info
            infos[name] = value
        return Trajectories(
            observations=observations,
            actions=actions,
            rewards=rewards,
            terminations=terminations,
            truncations=truncations,
            lengths=lengths,
            infos=infos,
            source=source,
            seeds=seeds if (seeds >= 0).any() else None,
        )

    def _final_lookup(self, steps: int) -> np.ndarray | None:
        if not self._final_at:
            return None
        lookup = np.full((steps, self.num_envs), -1, dtype=np.int64)
        row = 0
        for s, ids in self._final_at:
            if s < steps:
                lookup[s, ids] = np.arange(row, row + ids.size)
            row += ids.size
        return lookup


def step_infos(info: Mapping[str, Any], card: Any = None) -> dict[str, np.ndarray]:
    """The (N,) per-step infos pbrl records from a batched env's ``info``:
    ``reward_terms/<name>``, the card's named quantities and ``success``."""
    out: dict[str, np.ndarray] = {}
    for name, value in (info.get("reward_terms") or {}).items():
        out["reward_terms/" + name] = np.asarray(value, dtype=np.float64)
    names = list(getattr(card, "quantities", {}) or {})
    for name in names:
        if name in info:
            out[name] = np.asarray(info[name])
    if "success" in info:
        out["success"] = np.asarray(info["success"], dtype=bool)
    return out


def collect(
    task: str,
    policy: BatchedPolicy | Callable[[np.ndarray], np.ndarray],
    num_steps: int,
    *,
    num_envs: int = 64,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    nthread: int | None = None,
    record_infos: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Trajectories:
    """Run ``policy`` on the batched env until ``num_steps`` steps are collected.

    All N sub-envs step together; per step the recorder copies (N, ...) rows, and
    the streams are split into episodes once, at the end. Episodes running when the
    budget is reached are kept and marked truncated (as D4RL's ``timeouts``).

    Args:
        task: pbrl task id (``"pbrl/HalfCheetah-v5"``).
        policy: batched policy, ``(N, obs_dim) -> (N, act_dim)``; actions are clipped
            to the action box, cast to the action space's float32 and stored as executed.
        num_steps: steps to collect in all (over all sub-envs).
        num_envs: N, sub-envs stepped together.
        seed: sub-env i is reset with ``seed + i`` first; every later reset gets a seed
            drawn from a generator seeded with ``seed``. Each episode's reset seed is
            kept (``Trajectories.seeds``), so it can be replayed.
        env_kwargs: task keyword arguments.
        nthread: native stepping threads (None: one per core).
        record_infos: record ``qpos``/``qvel``, reward terms, quantities, success.
        progress: called with the number of steps collected so far, now and then.

    Returns:
        :class:`Trajectories` with exactly ``num_steps`` steps.
    """
    import gymnasium as gym

    num_steps = int(num_steps)
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    num_envs = max(1, min(int(num_envs), num_steps))
    from pbrl.envs import TASKS

    if task not in TASKS:
        raise DatasetError(f"collect runs pbrl's batched tasks; {task!r} is not one (registered: {', '.join(sorted(TASKS))})")
    env = gym.make_vec(task, num_envs=num_envs, autoreset_mode="Disabled", nthread=nthread, **dict(env_kwargs or {}))
    try:
        base = env.unwrapped
        card = getattr(base, "card", None)
        low = np.asarray(base.single_action_space.low, dtype=np.float64)
        high = np.asarray(base.single_action_space.high, dtype=np.float64)
        obs_dim = int(np.prod(base.single_observation_space.shape))
        act_dim = low.size
        vector_steps = math.ceil(num_steps / num_envs)
        obs, _ = env.reset(seed=int(seed))
        episode_seeds = np.random.default_rng(int(seed))
        seeds = int(seed) + np.arange(num_envs, dtype=np.int64)
        state = qpos_qvel(base) if record_infos else None
        nq, nv = (state[0].shape[1], state[1].shape[1]) if state is not None else (0, 0)
        rec = StepRecorder(num_envs, obs_dim, act_dim, nq, nv, capacity=vector_steps)
        rec.begin(obs, *(state if state is not None else (None, None)), seeds=seeds)
        every = max(1, vector_steps // 20)
        for s in range(vector_steps):
            actions = np.asarray(policy(obs), dtype=np.float64)
            if actions.shape != (num_envs, act_dim):
                raise DatasetError(f"the policy returned actions of shape {actions.shape}, expected {(num_envs, act_dim)}")
            # executed as stored: float32, the action space's dtype
            actions = np.clip(actions, low, high).astype(np.float32)
            final_obs, reward, terminated, truncated, info = env.step(actions)
            done = terminated | truncated
            infos = step_infos(info, card) if record_infos else None
            final_state = qpos_qvel(base) if state is not None else None
            if final_state is not None and info.get("diverged") is not None and np.any(info["diverged"]):
                # a diverged sub-env ends on its last finite observation: keep its last state too
                div = np.asarray(info["diverged"], dtype=bool)
                final_state[0][div] = state[0][div]
                final_state[1][div] = state[1][div]
            if done.any():
                seeds[done] = episode_seeds.integers(0, 2**63 - 1, size=int(done.sum()), dtype=np.int64)
                obs, _ = env.reset(seed=seeds.tolist(), options={"reset_mask": done})
                next_state = qpos_qvel(base) if state is not None else None
            else:
                obs, next_state = final_obs, final_state
            rec.add(
                actions,
                reward,
                terminated,
                truncated,
                final_obs,
                infos,
                final_qpos=None if final_state is None else final_state[0],
                final_qvel=None if final_state is None else final_state[1],
                next_obs=obs,
                next_qpos=None if next_state is None else next_state[0],
                next_qvel=None if next_state is None else next_state[1],
                next_seeds=seeds,
            )
            state = next_state
            if progress is not None and (s + 1) % every == 0:
                progress(min((s + 1) * num_envs, num_steps))
        return rec.finalize(max_steps=num_steps, source=f"collect({task})")
    finally:
        env.close()
