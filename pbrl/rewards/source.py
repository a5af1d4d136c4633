"""The reward-source contract: ``(obs, action, next_obs, info) -> (N,) rewards``.

A reward source turns a batch of N transitions into N rewards. It is what an
online agent trains on (plugged into its env by ``pbrl.agents.online.reward_wrapper``)
and what relabels a dataset. Everything here is numpy over the batch:

* ``obs``, ``next_obs``: (N, obs_dim) raw (unnormalised) observations; for an
  episode that ended on this step ``next_obs`` is its last observation, not the
  reset one.
* ``action``: (N, act_dim) actions as sent to the env (clipped to its bounds).
* ``info``: the batched info of the step without Gymnasium's ``_key`` masks:
  ``info["reward_terms"]`` (term name -> (N,)), the task card's named quantities
  (``x_velocity``, ...) and ``success`` as (N,) arrays. Sources that relabel
  stored data may get an empty ``info``.

Sources here: :class:`TrueReward` (the task's own reward), :class:`CallableReward`
(any trusted Python callable), :class:`RewardProgram` (an untrusted Python file
defining ``compute_reward``: statically checked, then run only in a sandboxed reward
worker, ``pbrl.sandbox``) and :class:`TrustedProgram` (the user's own file, run in this
process by their explicit choice). Learned reward models implement the same contract.
Sources that hold a process or a file have :meth:`RewardSource.close`.

This module needs numpy only (no torch).
"""

from __future__ import annotations

import abc
import hashlib
import os
from typing import Any, Callable, Mapping

import numpy as np

#: info keys that are bookkeeping of the vector env, not part of a transition
_NOT_TRANSITION = ("final_obs", "final_info")


def transition_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """The per-transition view of a batched Gymnasium info dict (no ``_`` masks, no final obs/info)."""
    return {k: v for k, v in info.items() if not k.startswith("_") and k not in _NOT_TRANSITION}


class RewardSource(abc.ABC):
    """Computes rewards for a batch of transitions.

    Subclasses implement :meth:`compute`; calling the source checks the result
    (shape (N,), finite) and returns it as float64. Sources that split their
    reward into named parts leave them in :attr:`last_terms` ((N,) arrays of
    the last call), which training logs.
    """

    #: short name for logs and run configs
    name: str = "reward"
    #: True only for the task's own reward (lets wrappers skip recomputing it)
    is_true_reward: bool = False

    def __init__(self) -> None:
        self.last_terms: dict[str, np.ndarray] = {}

    @abc.abstractmethod
    def compute(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        """Rewards, shape (N,), for N transitions."""

    def __call__(self, obs, action, next_obs, info) -> np.ndarray:
        n = len(obs)
        reward = np.asarray(self.compute(obs, action, next_obs, info), dtype=np.float64)
        if reward.shape == () and n == 1:
            reward = reward.reshape(1)
        if reward.shape != (n,):
            raise ValueError(f"reward source {self.name!r} returned shape {reward.shape}, expected ({n},)")
        if not np.isfinite(reward).all():
            bad = np.flatnonzero(~np.isfinite(reward))[:5].tolist()
            raise ValueError(f"reward source {self.name!r} returned non-finite rewards (at batch index {bad})")
        return reward

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description, saved in a run's config."""
        return {"kind": self.name}

    def close(self) -> None:
        """Release what the source holds (a reward worker process); nothing by default."""


class TrueReward(RewardSource):
    """The task's own reward: the sum of ``info["reward_terms"]``.

    Steps the env flagged ``diverged`` get 0, as the env gives them.
    """

    name = "true"
    is_true_reward = True

    def compute(self, obs, action, next_obs, info):
        terms = info.get("reward_terms")
        if not terms:
            raise ValueError("TrueReward needs info['reward_terms'] (the task's reward terms)")
        reward = np.sum([np.asarray(v, dtype=np.float64) for v in terms.values()], axis=0)
        diverged = info.get("diverged")
        if diverged is not None:
            reward = np.where(diverged, 0.0, reward)
        self.last_terms = {}
        return reward


class CallableReward(RewardSource):
    """A trusted Python callable as a reward source.

    Args:
        fn: ``fn(obs, action, next_obs, info)`` returning rewards (N,) or a pair
            ``(rewards, terms)`` with ``terms`` a dict of (N,) arrays.
        name: name for logs.

    The callable runs in this process with full privileges: only pass code you
    trust. Untrusted code (e.g. written by an LLM) must go through pbrl's
    sandboxed reward-program runner instead.
    """

    def __init__(self, fn: Callable[..., Any], name: str = "callable") -> None:
        super().__init__()
        if not callable(fn):
            raise TypeError(f"CallableReward needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name

    def compute(self, obs, action, next_obs, info):
        out = self.fn(obs, action, next_obs, info)
        terms: Mapping[str, Any] = {}
        if isinstance(out, tuple):
            if len(out) != 2:
                raise ValueError(f"reward source {self.name!r} must return rewards or (rewards, terms), got a {len(out)}-tuple")
            out, terms = out
            if terms is None:
                terms = {}
            if not isinstance(terms, Mapping):
                raise ValueError(f"reward source {self.name!r}: terms must be a dict of (N,) arrays, got {type(terms).__name__}")
        n = len(obs)
        checked = {}
        for key, value in terms.items():
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape == ():
                arr = np.full(n, float(arr))
            if arr.shape != (n,):
                raise ValueError(f"reward source {self.name!r}: term {key!r} has shape {arr.shape}, expected ({n},)")
            checked[str(key)] = arr
        self.last_terms = checked
        return out


class RewardProgramError(ValueError):
    """A reward program failed: refused by the static check, raised an error, returned a wrong
    shape or NaN, or went past a limit of its sandbox. The message names the program; it is the
    program's fault, reported before anything reaches the agent."""


def _read_program(path: str) -> str:
    if not os.path.isfile(path):
        raise RewardProgramError(f"reward program {path!r}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RewardProgramError(f"reward program {path!r} cannot be read: {exc}") from None


def _check(path: str, text: str) -> None:
    """The static check, with the advice for the user's own code."""
    from pbrl.sandbox.check import check_program
    from pbrl.sandbox.errors import ProgramFailure

    try:
        check_program(text)
    except ProgramFailure as exc:
        detail = f"\n{exc.detail}" if exc.detail else ""
        raise RewardProgramError(
            f"reward program {path!r} is refused by the static check ({exc.message}){detail}\n"
            "Reward programs may use numpy's array maths, numpy.linalg, numpy.random.default_rng and math; "
            f"for code you wrote and trust, use trusted-program:{path}"
        ) from None


class RewardProgram(RewardSource):
    """An untrusted reward program file (``--reward program:PATH``), run in a sandboxed reward worker.

    The file defines ``compute_reward(obs, action, next_obs, info) -> (reward, terms)``
    with numpy over the batch (see the module docstring for the arguments), e.g.::

        import numpy as np

        def compute_reward(obs, action, next_obs, info):
            run = info["x_velocity"]
            effort = -0.1 * np.sum(action**2, axis=1)
            return run + effort, {"run": run, "effort": effort}

    It must pass the static check (``pbrl.sandbox.check``: numpy's array maths and math
    only, no file, process or interpreter access). It is then loaded into its own
    worker process (``pbrl.sandbox``: namespaces, an empty read-only root, seccomp, no
    network, memory and per-call CPU and wall-clock limits) and every batch is sent
    there; this process never executes it. The program gets read-only copies of the
    arrays; the reward and its terms are checked here (shape (N,), finite). Any failure
    raises :class:`RewardProgramError` naming the program. Call :meth:`close` (the
    agents do) to stop the worker.

    Args:
        path: the program file.
        limits: :class:`pbrl.sandbox.client.WorkerLimits` (or a dict of them).
    """

    name = "program"

    def __init__(self, path: str | os.PathLike, limits: Any = None) -> None:
        super().__init__()
        from pbrl.sandbox.client import RewardWorker
        from pbrl.sandbox.errors import ProgramFailure, SandboxUnavailable

        path = os.fspath(path)
        text = _read_program(path)
        _check(path, text)
        self.path = os.path.abspath(path)
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        try:
            self.worker = RewardWorker(text, name=f"reward program {path!r}", limits=limits, static_check=False)
        except ProgramFailure as exc:
            raise RewardProgramError(exc.feedback()) from None
        except SandboxUnavailable as exc:
            raise RewardProgramError(f"reward program {path!r} cannot run: {exc}") from None

    def compute(self, obs, action, next_obs, info):
        from pbrl.sandbox.errors import ProgramFailure

        try:
            reward, self.last_terms = self.worker(obs, action, next_obs, info)
        except ProgramFailure as exc:
            raise RewardProgramError(exc.feedback()) from None
        return reward

    @property
    def layers(self) -> dict[str, Any]:
        """The sandbox layers of the worker (namespaces, empty root, seccomp, limits...)."""
        return dict(self.worker.layers)

    def close(self) -> None:
        self.worker.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": "program", "path": self.path, "sha256": self.sha256, "checked": True, "sandboxed": True}


class TrustedProgram(CallableReward):
    """Your own reward program file (``--reward trusted-program:PATH``), run in this process.

    Not checked and not sandboxed: it runs with your privileges, like any Python you
    import. Only for code you wrote; anything else goes through :class:`RewardProgram`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = os.fspath(path)
        text = _read_program(path)
        namespace: dict[str, Any] = {"__name__": "pbrl_reward_program", "__file__": os.path.abspath(path)}
        try:
            code = compile(text, path, "exec")
        except SyntaxError as exc:
            raise RewardProgramError(f"reward program {path!r} does not parse: {exc}") from None
        exec(code, namespace)  # trusted-program: the user's own code, by their explicit choice
        fn = namespace.get("compute_reward")
        if not callable(fn):
            raise RewardProgramError(f"reward program {path!r} must define compute_reward(obs, action, next_obs, info)")
        super().__init__(fn, name="trusted-program")
        self.path = os.path.abspath(path)
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"kind": "trusted-program", "path": self.path, "sha256": self.sha256, "checked": False, "sandboxed": False}


def reward_spec_help() -> str:
    return ("'true' (the task's reward), 'program:PATH' (a Python file defining compute_reward, numpy and math "
            "only: untrusted, statically checked and run in a sandboxed worker process) or 'trusted-program:PATH' "
            "(your own code: run in the training process, not checked)")


def _parse_spec(spec: str) -> tuple[str, str | None]:
    if not isinstance(spec, str):
        raise TypeError(f"reward spec must be a string, got {type(spec).__name__}")
    if spec == "true":
        return "true", None
    for prefix in ("program:", "trusted-program:"):
        if spec.startswith(prefix):
            path = spec[len(prefix):]
            if not path:
                raise ValueError(f"reward '{prefix}' needs a path, e.g. {prefix}my_reward.py")
            return prefix[:-1], path
    raise ValueError(f"unknown reward {spec!r}; use {reward_spec_help()}")


def describe_reward_spec(spec: str) -> dict[str, Any]:
    """Check a reward spec as :func:`make_reward_source` would (the file exists and, for
    ``program:``, passes the static check) and describe it, without starting anything."""
    kind, path = _parse_spec(spec)
    if kind == "true":
        return TrueReward().describe()
    text = _read_program(path)
    if kind == "program":
        _check(path, text)
    return {"kind": kind, "path": os.path.abspath(path), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "checked": kind == "program", "sandboxed": kind == "program"}


def make_reward_source(spec: str, limits: Any = None) -> RewardSource:
    """Build a reward source from its command-line spelling.

    ``"true"`` -> :class:`TrueReward`; ``"program:PATH"`` -> :class:`RewardProgram` (checked,
    run in a sandboxed worker with ``limits``); ``"trusted-program:PATH"`` -> :class:`TrustedProgram`
    (the user's own code, in this process).
    """
    kind, path = _parse_spec(spec)
    if kind == "true":
        return TrueReward()
    if kind == "program":
        return RewardProgram(path, limits=limits)
    return TrustedProgram(path)
