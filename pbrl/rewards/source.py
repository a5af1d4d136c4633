"""The reward-source contract: ``(obs, action, next_obs, info) -> (N,) rewards``.

A reward source turns a batch of N transitions into N rewards. It is what an
online agent trains on (plugged into its env by ``pbrl.agents.reward_wrapper``)
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
(any trusted Python callable) and :class:`RewardProgram` (a Python file defining
``compute_reward``, statically checked unless the user declares it trusted). Learned reward models implement the same contract.

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


class RewardProgram(CallableReward):
    """A reward program file, run in this process (the training process).

    The file defines ``compute_reward(obs, action, next_obs, info) -> (reward, terms)``
    with numpy over the batch (see the module docstring for the arguments), e.g.::

        import numpy as np

        def compute_reward(obs, action, next_obs, info):
            run = info["x_velocity"]
            effort = -0.1 * np.sum(action**2, axis=1)
            return run + effort, {"run": run, "effort": effort}

    Security: a reward program is untrusted by default (pbrl's design). With
    ``checked=True`` (the default; ``--reward program:PATH``) the file must pass the
    reward-synthesis static check (``pbrl.synthesis.check``: numpy and math only, no
    file, process or interpreter access, no dunders) and runs with that check's
    builtins and an import that hands out numpy and math only. That makes a program
    from ``pbrl synthesize`` safe to train on here, as far as the static check goes;
    it is not the sandbox (no rlimits, no timeout: a program that loops forever hangs
    training). ``checked=False`` (``--reward trusted-program:PATH``) runs any Python
    with your privileges: only for code you wrote.
    """

    def __init__(self, path: str | os.PathLike, checked: bool = True) -> None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(f"reward program {path!r}: no such file")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        namespace: dict[str, Any] = {"__name__": "pbrl_reward_program", "__file__": os.path.abspath(path)}
        if checked:
            # Imported here: pbrl.synthesis registers a teacher, which imports this package.
            from pbrl.synthesis.check import check_program
            from pbrl.synthesis.errors import SynthesisFailure
            from pbrl.synthesis.guard import safe_builtins

            try:
                check_program(text)
            except SynthesisFailure as exc:
                detail = f"\n{exc.detail}" if exc.detail else ""
                raise ValueError(
                    f"reward program {path!r} is refused by the static check ({exc.message}){detail}\n"
                    "Reward programs may use numpy and math only; for code you wrote and trust, "
                    f"use trusted-program:{path}"
                ) from None
            namespace = {"__name__": "pbrl_reward_program", "__builtins__": safe_builtins()}
        try:
            code = compile(text, path, "exec")
        except SyntaxError as exc:
            raise ValueError(f"reward program {path!r} does not parse: {exc}") from None
        exec(code, namespace)  # checked (see above), or trusted-program: the user's own code
        fn = namespace.get("compute_reward")
        if not callable(fn):
            raise ValueError(f"reward program {path!r} must define compute_reward(obs, action, next_obs, info)")
        super().__init__(fn, name="program")
        self.path = os.path.abspath(path)
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.checked = bool(checked)

    def describe(self) -> dict[str, Any]:
        return {"kind": "program", "path": self.path, "sha256": self.sha256, "checked": self.checked}


def reward_spec_help() -> str:
    return ("'true' (the task's reward), 'program:PATH' (a Python file defining compute_reward, numpy and math "
            "only: statically checked) or 'trusted-program:PATH' (your own code, not checked)")


def make_reward_source(spec: str) -> RewardSource:
    """Build a reward source from its command-line spelling.

    ``"true"`` -> :class:`TrueReward`; ``"program:PATH"`` -> :class:`RewardProgram`
    (statically checked); ``"trusted-program:PATH"`` -> :class:`RewardProgram` unchecked.
    """
    if not isinstance(spec, str):
        raise TypeError(f"reward spec must be a string, got {type(spec).__name__}")
    if spec == "true":
        return TrueReward()
    for prefix, checked in (("program:", True), ("trusted-program:", False)):
        if spec.startswith(prefix):
            path = spec[len(prefix):]
            if not path:
                raise ValueError(f"reward '{prefix}' needs a path, e.g. {prefix}my_reward.py")
            return RewardProgram(path, checked=checked)
    raise ValueError(f"unknown reward {spec!r}; use {reward_spec_help()}")
