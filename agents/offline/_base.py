"""What every offline agent shares: build, set up on data, update, act, save, load, resume.

An :class:`OfflineAgent` is built from a config (its algorithm's dataclass, or a
mapping of overrides), set up on a dataset (:class:`~.data.OfflineData`) and, for
preference-based agents, on labelled pairs (:class:`~.preferences.PreferencePairs`);
then :meth:`~OfflineAgent.fit` runs gradient steps (see :mod:`.loop` for the loop with
evaluation, logging and checkpoints) and :meth:`~OfflineAgent.act` maps a batch of raw
observations to actions. Subclasses (one module per algorithm) provide:

* :meth:`build` — networks and optimisers;
* :meth:`prepare` — the resident training tensors from the data (and preferences);
* :meth:`update` — one gradient step, ending with :meth:`record` of its losses;
* :meth:`policy` — deterministic actions for normalised observations.

**Logging without host syncs.** :meth:`record` adds the step's (detached) losses to
one on-device tensor; :meth:`pop_losses` reads it every K steps — the only point
where training waits for the device. A non-finite mean loss raises there.

**Checkpoints** (:mod:`pbrl.agents.checkpoint`: written atomically, hashed, read with
``torch.load(weights_only=True)``): every module's and optimiser's state dict, the
state normaliser, the RNG states (torch generator of the batch indices, torch's
global RNG for dropout, numpy's), the step, the config, and a fingerprint of the
dataset and preferences, which a resume checks.
"""

from __future__ import annotations

import abc
import json
import os
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
import torch.nn as nn

from ..checkpoint import CheckpointError, latest_checkpoint, read_checkpoint, write_checkpoint
from ._config import OfflineConfig
from ._data import OfflineData, OfflineDataError, StateNormalizer
from ._preferences import PreferencePairs

FORMAT = "pbrl.offline_agent"


class OfflineAgent(abc.ABC):
    """An offline agent (base class).

    Args:
        config: the algorithm's config, or a mapping of hyperparameter overrides.
        task: the pbrl task the agent acts in (evaluation, action bounds).
        obs_dim, act_dim: observation and action sizes.
        action_low, action_high: the action box (actions are clipped to it); default ±1.
        seed: seeds the initialisation, the batch sampling and dropout.
        device: torch device (``"cpu"``; nothing assumes a GPU).
        env_kwargs: task keyword arguments (evaluation).
    """

    #: name used by ``pbrl train --agent``
    name: ClassVar[str] = ""
    #: the algorithm's config dataclass
    Config: ClassVar[type[OfflineConfig]] = OfflineConfig
    #: "none", "required" or "optional": whether the agent learns from preferences
    uses_preferences: ClassVar[str] = "none"
    #: names of the losses :meth:`update` records, in order (logged as ``train/<name>``)
    loss_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: OfflineConfig | Mapping[str, Any] | None = None,
        *,
        task: str,
        obs_dim: int,
        act_dim: int,
        action_low: np.ndarray | None = None,
        action_high: np.ndarray | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        env_kwargs: Mapping[str, Any] | None = None,
    ):
        if isinstance(config, OfflineConfig):
            if not isinstance(config, self.Config):
                raise TypeError(f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}")
            self.config = config
        else:
            self.config = self.Config.from_dict(config)
        self.task = task
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        low = -np.ones(self.act_dim, np.float32) if action_low is None else np.asarray(action_low, np.float32)
        high = np.ones(self.act_dim, np.float32) if action_high is None else np.asarray(action_high, np.float32)
        self.action_low, self.action_high = low, high
        self.seed = int(seed)
        self.device = torch.device(device)
        self.env_kwargs = dict(env_kwargs or {})
        torch.set_num_threads(int(self.config.torch_threads))
        torch.manual_seed(self.seed)  # weight initialisation and dropout
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)
        self.step = 0
        self.normalizer = StateNormalizer(self.obs_dim).to(self.device)
        self.normalizer_fitted = False
        self.data: OfflineData | None = None
        self.preferences: PreferencePairs | None = None
        self.evaluations = 0
        #: (step, EvalResult) of the latest evaluation
        self.last_eval: tuple[int, Any] | None = None
        #: one-off metrics (e.g. the reward model's held-out accuracy) for the next log dump
        self.pending_metrics: dict[str, float] = {}
        self._expected_fingerprint: dict[str, Any] | None = None
        self._loss_sum = torch.zeros(len(self.loss_names), device=self.device)
        self._loss_count = 0
        self.build()

    # -- what subclasses provide --------------------------------------------------

    @abc.abstractmethod
    def build(self) -> None:
        """Networks and optimisers from ``self.config``."""

    @abc.abstractmethod
    def prepare(self, data: OfflineData, preferences: PreferencePairs | None) -> None:
        """Resident training tensors (normalised with ``self.normalizer``)."""

    @abc.abstractmethod
    def update(self) -> None:
        """One gradient step; must end with ``self.record(*losses)``."""

    @abc.abstractmethod
    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic actions for *normalised* observations ``(N, obs_dim)``."""

    def modules(self) -> dict[str, nn.Module]:
        """The networks whose state a checkpoint holds (name -> module)."""
        return {name: m for name, m in vars(self).items() if isinstance(m, nn.Module) and name != "normalizer"}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {name: o for name, o in vars(self).items() if isinstance(o, torch.optim.Optimizer)}

    def extra_state(self) -> dict[str, Any]:
        """JSON-ready algorithm state for checkpoints (subclasses extend)."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any], weights: Mapping[str, Any]) -> None:
        """Inverse of :meth:`extra_state` (``weights`` holds the checkpoint's tensors)."""

    def extra_weights(self) -> dict[str, Any]:
        """Extra tensors / state dicts for checkpoints (e.g. P-IQL's reward model)."""
        return {}

    # -- setting up -----------------------------------------------------------------

    @classmethod
    def for_dataset(
        cls,
        dataset_id: str,
        config: OfflineConfig | Mapping[str, Any] | None = None,
        *,
        preferences: str | os.PathLike | None = None,
        max_pairs: int | None = None,
        task: str | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        env_kwargs: Mapping[str, Any] | None = None,
        checkpoint: str | None = None,
    ) -> "OfflineAgent":
        """Build the agent for a local dataset (and preference store) and set it up.

        ``checkpoint`` (a checkpoint folder or a run's ``checkpoints/``) resumes:
        weights, normaliser, RNG states and step are loaded before the data is prepared.
        """
        data = OfflineData.load(dataset_id, task)
        low, high = data.check_spaces(data.task, env_kwargs)
        agent = cls(config, task=data.task, obs_dim=data.obs_dim, act_dim=data.act_dim, action_low=low, action_high=high,
                    seed=seed, device=device, env_kwargs=env_kwargs)  # fmt: skip
        if checkpoint is not None:
            agent.load(checkpoint)
        pairs = None
        if preferences is not None:
            from ._preferences import load_preferences

            pairs = load_preferences(preferences, data, max_pairs=max_pairs)
        agent.setup(data, pairs)
        return agent

    def setup(self, data: OfflineData, preferences: PreferencePairs | None = None) -> None:
        """Check ``data`` (and ``preferences``) and prepare the resident training tensors."""
        if self.uses_preferences == "required" and preferences is None:
            raise ValueError(
                f"{self.name} learns from preferences: give a preference store labelled on {data.source!r} "
                f"(pbrl train --preferences STORE; make one with `pbrl dataset label {data.source}`)"
            )
        if self.uses_preferences == "none" and preferences is not None:
            raise ValueError(f"{self.name} does not learn from preferences; drop the preference store")
        if (data.obs_dim, data.act_dim) != (self.obs_dim, self.act_dim):
            raise OfflineDataError(
                f"dataset {data.source!r} has obs_dim {data.obs_dim} and act_dim {data.act_dim}; this {self.name} agent was "
                f"built for {self.obs_dim} and {self.act_dim}"
            )
        data.check_finite()
        max_pairs = int(getattr(self.config, "max_pairs", 0) or 0)
        if preferences is not None and max_pairs:
            if len(preferences) < max_pairs:
                raise ValueError(
                    f"{preferences.store}: {len(preferences)} labelled pairs for {data.source!r}, fewer than max_pairs={max_pairs}"
                )
            preferences = preferences.select(np.arange(max_pairs))
        if self._expected_fingerprint is not None:
            now = self.fingerprint(data, preferences)
            if now != self._expected_fingerprint:
                diff = sorted(k for k in set(now) | set(self._expected_fingerprint) if now.get(k) != self._expected_fingerprint.get(k))
                raise CheckpointError(
                    f"the checkpoint was trained on other data than {data.source!r} now holds ({', '.join(diff)} differ); "
                    "resume on the same dataset and preference store"
                )
        if self.config.normalize_states and not self.normalizer_fitted:
            self.normalizer.fit(data.observations)
            self.normalizer_fitted = True
        self.data, self.preferences = data, preferences
        self.prepare(data, preferences)

    def fingerprint(self, data: OfflineData, preferences: PreferencePairs | None) -> dict[str, Any]:
        out = dict(data.fingerprint())
        if preferences is not None:
            out["preference_pairs"] = len(preferences)
            out["preference_queries"] = int(np.asarray(preferences.query_ids, dtype=np.int64).sum())
            out["preference_labels"] = round(float(preferences.labels.sum()), 3)
        return out

    # -- training -------------------------------------------------------------------

    def record(self, *losses: torch.Tensor) -> None:
        """Add this step's losses to the on-device sums (no host sync)."""
        self._loss_sum.add_(torch.stack([loss.detach() for loss in losses]))
        self._loss_count += 1

    def pop_losses(self) -> dict[str, float]:
        """Mean of each recorded loss since the last call (``train/<name>``); resets the sums.

        Raises:
            FloatingPointError: a loss became NaN/inf (names which and when).
        """
        if self._loss_count == 0:
            return {}
        means = (self._loss_sum / self._loss_count).tolist()
        count = self._loss_count
        self._loss_sum.zero_()
        self._loss_count = 0
        bad = [n for n, v in zip(self.loss_names, means) if not np.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"{self.name}: {', '.join(bad)} became NaN/inf between gradient steps {self.step - count} and {self.step}; "
                "the data was checked finite, so training diverged (lower a learning rate, or check the reward scale). "
                "The last checkpoint is intact."
            )
        return {f"train/{n}": v for n, v in zip(self.loss_names, means)}

    def fit(self, steps: int, **loop_kwargs: Any) -> dict[str, float]:
        """Run ``steps`` more gradient steps (see :func:`.loop.train` for evaluation,
        logging and checkpoint options); returns the latest metrics."""
        from ._loop import train

        return train(self, self.step + int(steps), **loop_kwargs)

    def train_step(self) -> None:
        """One gradient step (what the loop calls)."""
        if self.data is None:
            raise RuntimeError(f"{self.name}: call setup(data) (or build with for_dataset) before training")
        self.update()
        self.step += 1

    # -- acting ---------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions ``(N, act_dim)`` for raw observations ``(N, obs_dim)`` (or one ``(obs_dim,)``)."""
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise ValueError(f"{self.name}.act takes observations of shape (N, {self.obs_dim}), got {np.shape(obs)}")
        modules = self.modules().values()
        modes = [m.training for m in modules]
        for m in modules:
            m.train(False)
        try:
            a = self.policy(self.normalizer(torch.from_numpy(x).to(self.device))).cpu().numpy()
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)
        a = np.clip(a, self.action_low, self.action_high)
        return a[0] if single else a

    __call__ = act

    def evaluate(self, episodes: int = 10, seed: int | None = None, env_threads: int | None = 1):
        """Evaluate the deterministic policy on ``episodes`` fresh-seeded episodes, all in one batch."""
        from pbrl.evaluation import eval_seed, evaluate_policy

        if seed is None:
            seed = eval_seed(self.seed, self.evaluations, "offline")
        self.evaluations += 1
        result = evaluate_policy(self.act, self.task, episodes=episodes, seed=seed, env_kwargs=self.env_kwargs, env_threads=env_threads)
        self.last_eval = (self.step, result)
        return result

    # -- checkpoints ----------------------------------------------------------------

    def weights(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"module/{k}": m.state_dict() for k, m in self.modules().items()}
        out.update({f"optim/{k}": o.state_dict() for k, o in self.optimizers().items()})
        out["normalizer"] = self.normalizer.state_dict()
        out["rng/generator"] = self.generator.get_state()
        out["rng/torch"] = torch.get_rng_state()
        out.update({f"extra/{k}": v for k, v in self.extra_weights().items()})
        return out

    def json_state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "agent": self.name,
            "config": self.config.to_dict(),
            "task": self.task,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "action_low": self.action_low.tolist(),
            "action_high": self.action_high.tolist(),
            "seed": self.seed,
            "env_kwargs": self.env_kwargs,
            "step": self.step,
            "evaluations": self.evaluations,
            "normalizer_fitted": self.normalizer_fitted,
            "numpy_rng": self.rng.bit_generator.state,
            "data": None if self.data is None else self.fingerprint(self.data, self.preferences),
            "extra": self.extra_state(),
        }

    def save(self, root: str, *, keep: int = 2, extra: Mapping[str, Any] | None = None) -> str:
        """Write a checkpoint of the current step under ``root`` (atomically); returns its folder."""
        state = self.json_state()
        if extra:
            state["run"] = dict(extra)
        return write_checkpoint(root, self.step, self.weights(), _jsonable(state), keep=keep)

    @staticmethod
    def read(path: str) -> tuple[dict, dict]:
        """``(weights, state)`` of a checkpoint folder, or of the latest one under a ``checkpoints/`` root."""
        folder = path
        if not os.path.isfile(os.path.join(path, "manifest.json")):
            folder = latest_checkpoint(path)
            if folder is None:
                raise CheckpointError(f"{path}: no checkpoint (neither a checkpoint folder nor a root with latest.json)")
        weights, state, _ = read_checkpoint(folder, load_arrays=False)
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{folder}: not an offline agent checkpoint (format {state.get('format')!r})")
        return weights, state

    def load(self, path: str) -> dict[str, Any]:
        """Load a checkpoint saved by :meth:`save` into this agent; returns its JSON state.

        Raises:
            CheckpointError: another agent, other sizes, or weights that don't fit.
        """
        weights, state = self.read(path)
        if state.get("agent") != self.name:
            raise CheckpointError(f"{path} holds a {state.get('agent')!r} agent, not {self.name!r}")
        if (state.get("obs_dim"), state.get("act_dim")) != (self.obs_dim, self.act_dim):
            raise CheckpointError(
                f"{path} was trained with obs_dim {state.get('obs_dim')} / act_dim {state.get('act_dim')}, "
                f"this agent has {self.obs_dim} / {self.act_dim}"
            )
        saved = self.Config.from_dict(state.get("config", {})).to_dict()
        now = self.config.to_dict()
        changed = sorted(k for k in now if k != "steps" and now[k] != saved.get(k))
        if changed:
            raise CheckpointError(f"{path} was trained with other hyperparameters ({', '.join(changed)}); build the agent from its config")
        try:
            for k, m in self.modules().items():
                m.load_state_dict(weights[f"module/{k}"])
            for k, o in self.optimizers().items():
                o.load_state_dict(weights[f"optim/{k}"])
            self.normalizer.load_state_dict(weights["normalizer"])
            self.generator.set_state(weights["rng/generator"])
            torch.set_rng_state(weights["rng/torch"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path}: the weights do not fit this {self.name} agent ({exc})") from None
        self.rng.bit_generator.state = state["numpy_rng"]
        self.step = int(state["step"])
        self.evaluations = int(state.get("evaluations", 0))
        self.normalizer_fitted = bool(state.get("normalizer_fitted", False))
        self._expected_fingerprint = state.get("data")
        self.load_extra_state(state.get("extra", {}), {k[6:]: v for k, v in weights.items() if k.startswith("extra/")})
        return state

    @classmethod
    def from_checkpoint(cls, path: str, device: str | torch.device = "cpu") -> "OfflineAgent":
        """Rebuild an agent from a checkpoint alone (to act or evaluate; :meth:`setup` it to train on)."""
        _, state = cls.read(path)
        if cls.name and state.get("agent") != cls.name:
            raise CheckpointError(f"{path} holds a {state.get('agent')!r} agent, not {cls.name!r}")
        if not cls.name:
            from ..registry import offline_agent_class

            cls = offline_agent_class(state["agent"])
        agent = cls(
            state["config"], task=state["task"], obs_dim=state["obs_dim"], act_dim=state["act_dim"],
            action_low=np.asarray(state["action_low"]), action_high=np.asarray(state["action_high"]),
            seed=state["seed"], device=device, env_kwargs=state.get("env_kwargs"),
        )  # fmt: skip
        agent.load(path)
        return agent


def _jsonable(value: Any) -> Any:
    """Numpy scalars and tuples made JSON-ready (checked by a round trip)."""

    def default(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        raise TypeError(f"not JSON-serialisable: {type(v).__name__}")

    return json.loads(json.dumps(value, default=default))


__all__ = ["FORMAT", "OfflineAgent"]
