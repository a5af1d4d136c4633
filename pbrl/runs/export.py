"""A run's policy outside pbrl: as a Python function, or as a plain Stable-Baselines3 model.

``load_policy(run)`` rebuilds a run's agent from its latest checkpoint and returns a
:class:`Policy`: raw observations ``(N, obs_dim)`` in, actions ``(N, act_dim)`` out, numpy
both, normalisation applied inside. It works for online runs (PPO, SAC, PrefPPO, PEBBLE) and
offline ones (their agents act on batches too).

``export_sb3(run)`` writes what ``stable_baselines3.PPO.load`` / ``SAC.load`` open: SB3's own
``.zip`` of the run's model, saved by SB3 (pbrl's checkpoints hold plain state dicts, which
SB3 cannot read), and, when the run normalises observations or rewards, SB3's
``VecNormalize`` pickle of its statistics beside it (``<name>_vecnormalize.pkl``; load it with
``VecNormalize.load(path, venv)``, or unpickle it and call ``normalize_obs``). Neither file
needs pbrl to be loaded. Offline runs have no SB3 model and are refused.
"""

from __future__ import annotations

import os
import pickle
from typing import Any, Callable

import numpy as np

from . import folder as F


class ExportError(ValueError):
    """A run cannot be exported as asked (an offline run, an output in the way)."""


class Policy:
    """A run's policy: ``policy(obs)`` maps raw observations ``(N, obs_dim)`` to actions ``(N, act_dim)``.

    ``agent`` is the pbrl agent it acts with (an online agent's env is closed: it only acts).
    """

    def __init__(self, run: str, agent: Any, act: Callable[..., np.ndarray], deterministic: bool):
        self.run, self.agent, self.deterministic = run, agent, bool(deterministic)
        self._act = act

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self._act(np.asarray(obs), deterministic=self.deterministic))

    def __repr__(self) -> str:
        return f"Policy({self.run!r}, {type(self.agent).__name__}, deterministic={self.deterministic})"


def _run_config(run: str) -> dict:
    if not os.path.isdir(run):
        raise FileNotFoundError(f"{run}: no such run folder")
    return F.load_run_config(run)


def load_policy(run: str, deterministic: bool = True, device: str = "cpu") -> Policy:
    """The policy of ``run`` (a run folder) at its latest checkpoint, on ``device``.

    Raises:
        FileNotFoundError: no such folder, or not a run folder.
        CheckpointError: the run has no (readable) checkpoint.
    """
    resolved = _run_config(run)
    if resolved.get("kind") == "offline":
        from pbrl.agents.registry import offline_agent_class

        agent = offline_agent_class(resolved["config"]["agent"]).from_checkpoint(os.path.join(run, F.CHECKPOINTS), device=device)
        return Policy(run, agent, agent.act, deterministic)
    from .train import load_agent

    agent, _ = load_agent(run, device=device)
    agent.close()  # acting needs the model and the normaliser, not the env
    return Policy(run, agent, agent.predict, deterministic)


def sb3_paths(run: str, algo: str, out: str | None = None) -> tuple[str, str]:
    """Where ``export_sb3`` writes: the model ``.zip`` (default ``<run>/sb3/<algo>.zip``) and the
    normalisation statistics beside it (``<name>_vecnormalize.pkl``)."""
    model = out or os.path.join(run, "sb3", f"{algo}.zip")
    if not model.endswith(".zip"):
        model += ".zip"
    return model, model[: -len(".zip")] + "_vecnormalize.pkl"


def _sb3_policy_class(policy) -> type:
    """The Stable-Baselines3 class a policy is (pbrl's SAC policy subclasses SB3's for speed only,
    with the same modules and state dict), so that loading the zip needs no pbrl."""
    return next(c for c in type(policy).__mro__ if c.__module__.startswith("stable_baselines3."))


def export_sb3(run: str, out: str | None = None, force: bool = False) -> dict[str, Any]:
    """Write ``run``'s latest checkpoint as an SB3 model (and its VecNormalize statistics, if any).

    Returns ``{"model", "vecnormalize" (None without normalisation), "algo", "num_timesteps"}``.
    Both files are written to temporary names and renamed into place together.

    Raises:
        FileNotFoundError: no such folder, or not a run folder.
        ExportError: an offline run, or an output file exists and ``force`` is off.
        CheckpointError: the run has no (readable) checkpoint.
    """
    from pbrl.fileio import atomic_file

    resolved = _run_config(run)
    cfg = resolved["config"]
    if resolved.get("kind") == "offline":
        raise ExportError(
            f"{run} is an offline run ({cfg.get('agent')}): its policy is a pbrl network, not a Stable-Baselines3 model, "
            "so there is no SB3 format to export; use pbrl.load_policy(run) to act with it"
        )
    model_path, stats_path = sb3_paths(run, cfg["agent"], out)
    if not force:
        for path in (model_path, stats_path):
            if os.path.exists(path):
                raise ExportError(f"{path} exists; pass --force to overwrite it, or --out another path")
    from .train import load_agent

    agent, _ = load_agent(run, device="cpu")
    try:
        model = agent.model
        model.policy_class = _sb3_policy_class(model.policy)
        os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
        vn = agent.vecnormalize
        with atomic_file(model_path) as zip_file:
            if vn is None:
                model.save(zip_file)
            else:
                with atomic_file(stats_path) as stats_file:
                    model.save(zip_file)
                    pickle.dump(vn, stats_file)  # what VecNormalize.save writes (the env is left out)
        if vn is None and force and os.path.exists(stats_path):
            os.remove(stats_path)  # a stale one from an export of other settings
        return {"model": model_path, "vecnormalize": None if vn is None else stats_path, "algo": agent.algo, "num_timesteps": agent.num_timesteps}
    finally:
        agent.close()


__all__ = ["ExportError", "Policy", "export_sb3", "load_policy", "sb3_paths"]
