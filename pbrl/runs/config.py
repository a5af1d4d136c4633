"""The config of one online training run, checked before any work starts.

``TrainConfig`` is what ``pbrl train`` builds from its options (and what a
config file will fill in). :meth:`TrainConfig.resolve` checks everything — task,
agent, hyperparameters, reward source, names, budgets — and returns the
resolved config that is saved in the run folder. Needs no torch.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Mapping

from pbrl.agents.online.hyperparams import AGENTS, HyperparameterError, check_agent, resolve
from pbrl.settings import ConfigError

from .folder import check_name, default_name


def config_from_mapping(cls, data: Mapping[str, Any]):
    """An instance of the config dataclass ``cls`` from ``data``, naming any unknown key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a train config must be a table/mapping, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), sorted(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint}; valid keys: {', '.join(sorted(fields))}")
    return cls(**dict(data))


@dataclass
class TrainConfig:
    """One online training run.

    Attributes:
        env: pbrl task id, e.g. ``pbrl/Hopper-v5``.
        agent: ``ppo`` or ``sac``.
        steps: env steps in all (default: the hyperparameters' ``n_timesteps``).
        seed: run seed (training sub-env i is seeded ``seed + i``).
        num_envs: sub-envs (default: the hyperparameters' ``n_envs``).
        hp: hyperparameter overrides (see ``pbrl train --list-hp``).
        reward: ``true``, ``program:PATH`` (untrusted: run in the sandboxed reward worker),
            ``trusted-program:PATH`` (your own code, in process), or ``learned`` (PrefPPO with ppo, PEBBLE
            with sac: a reward model trained online on a teacher's preferences).
        runs_dir: root of the run folders.
        name: run name (default: the start time); the folder is ``<name>-s<seed>``.
        device: torch device.
        eval_freq: env steps between evaluations (default: steps / 20; 0 = only at the end).
        eval_episodes: episodes per evaluation.
        checkpoint_freq: env steps between checkpoints (default: steps / 10; 0 = only at the end).
        env_kwargs: task keyword arguments (e.g. ``ctrl_cost_weight``).
        teacher: with ``reward = "learned"``: who labels the queries, a teacher preset
            (``oracle``, ``noisy``, ``mistake``, ``skip``, ``myopic``, ``equal``) or any
            registered teacher name.
        feedback: with ``reward = "learned"``: the label budget, queries asked in all
            (default 1000).
        pref: with ``reward = "learned"``: preference-loop options (segment length,
            queries per round, interval, ensemble size, ...; see
            ``pbrl.agents.preference.options.SCHEMA``), and with ``teacher = "human"`` how
            rounds wait for people and whether the run serves the labeling page
            (``human_min_labels``, ``human_timeout``, ``human_serve``, ``human_host``,
            ``human_port``; ``agents/preference/README.md``).
    """

    env: str = "pbrl/HalfCheetah-v5"
    agent: str = "ppo"
    steps: int | None = None
    seed: int = 0
    num_envs: int | None = None
    hp: dict[str, Any] = field(default_factory=dict)
    reward: str = "true"
    runs_dir: str = "runs"
    name: str | None = None
    device: str = "cpu"
    eval_freq: int | None = None
    eval_episodes: int = 10
    checkpoint_freq: int | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None
    feedback: int | None = None
    pref: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping (a config file's table), naming any unknown key."""
        return config_from_mapping(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # -- checks ---------------------------------------------------------------------

    def _check_types(self) -> None:
        def integer(name, value, minimum, optional=True):
            if value is None and optional:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")

        for name in ("env", "agent", "reward", "runs_dir", "device"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string, got {getattr(self, name)!r}")
        integer("steps", self.steps, 1)
        integer("seed", self.seed, 0, optional=False)
        integer("num_envs", self.num_envs, 1)
        integer("eval_freq", self.eval_freq, 0)
        integer("eval_episodes", self.eval_episodes, 1, optional=False)
        integer("checkpoint_freq", self.checkpoint_freq, 0)
        if self.teacher is not None and not isinstance(self.teacher, str):
            raise ConfigError(f"teacher must be a string, got {self.teacher!r}")
        if self.feedback is not None and (isinstance(self.feedback, bool) or not isinstance(self.feedback, int) or self.feedback < 1):
            raise ConfigError(f"feedback (the label budget) must be an integer >= 1, got {self.feedback!r}")
        for name in ("hp", "env_kwargs", "pref"):
            if not isinstance(getattr(self, name), Mapping):
                raise ConfigError(f"{name} must be a table/mapping, got {getattr(self, name)!r}")
        if self.name is not None:
            try:
                check_name(self.name)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None

    def _check_env(self) -> None:
        from pbrl.envs import TASKS, make_task

        if self.env not in TASKS:
            close = difflib.get_close_matches(self.env, sorted(TASKS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown env {self.env!r}{hint}; registered pbrl tasks: {', '.join(sorted(TASKS))}")
        try:
            make_task(self.env, **self.env_kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"env_kwargs for {self.env}: {exc}") from None

    def _check_device(self) -> None:
        if self.device == "cpu":
            return
        import torch

        try:
            device = torch.device(self.device)
        except RuntimeError as exc:
            raise ConfigError(f"device {self.device!r}: {exc}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r}: CUDA is not available on this machine (use --device cpu)")

    def resolve(self) -> dict[str, Any]:
        """Check everything and return the resolved config (what ``config.json`` saves).

        Raises:
            ConfigError: with the offending key or value named.
        """
        self._check_types()
        try:
            check_agent(self.agent)
        except HyperparameterError as exc:
            raise ConfigError(str(exc)) from None
        self._check_env()
        overrides = dict(self.hp)
        if self.num_envs is not None:
            overrides["n_envs"] = self.num_envs
        try:
            hp = resolve(self.agent, self.env, overrides)
        except HyperparameterError as exc:
            raise ConfigError(str(exc)) from None
        preference = None
        if self.reward == "learned":
            reward, preference = self._check_preferences()
        else:
            if self.teacher is not None or self.feedback is not None or self.pref:
                given = [k for k, v in (("teacher", self.teacher), ("feedback", self.feedback), ("pref", self.pref)) if v]
                raise ConfigError(f"{', '.join(given)} only apply to reward 'learned' (the reward here is {self.reward!r})")
            from pbrl.rewards.source import describe_reward_spec

            try:
                reward = describe_reward_spec(self.reward)  # checked; the reward worker starts with the run
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"reward: {exc}; or 'learned' (PrefPPO / PEBBLE, with a teacher)") from None
        self._check_device()
        steps = self.steps if self.steps is not None else hp["n_timesteps"]
        resolved = self.to_dict()
        resolved.update(
            steps=int(steps),
            num_envs=int(hp["n_envs"]),
            name=self.name or default_name(),
            eval_freq=int(self.eval_freq if self.eval_freq is not None else max(steps // 20, 1)),
            checkpoint_freq=int(self.checkpoint_freq if self.checkpoint_freq is not None else max(steps // 10, 1)),
        )
        if self.reward == "learned":
            resolved["feedback"] = int(self.feedback if self.feedback is not None else reward["feedback"])
        out = {"config": resolved, "hyperparams": hp, "reward": reward}
        if preference is not None:
            out["preference"] = preference
        return out

    def _check_preferences(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reward ``learned``: the teacher, the budget and the preference options."""
        from pbrl.agents.preference.options import DEFAULT_FEEDBACK, PreferenceOptionError, check_teacher_options, resolve_preference_options
        from pbrl.teachers import TEACHERS

        if self.teacher is None:
            raise ConfigError(
                "reward 'learned' needs a teacher to label the queries (--teacher NAME; "
                f"teachers: {', '.join(sorted(TEACHERS))})"
            )
        if self.teacher not in TEACHERS:
            close = difflib.get_close_matches(self.teacher, sorted(TEACHERS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown teacher {self.teacher!r}{hint}; teachers: {', '.join(sorted(TEACHERS))}")
        feedback = DEFAULT_FEEDBACK if self.feedback is None else self.feedback
        try:
            preference = resolve_preference_options(self.agent, self.pref, feedback)
            check_teacher_options(self.teacher, self.pref, preference)  # human_*: --teacher human only; a free port
        except PreferenceOptionError as exc:
            raise ConfigError(str(exc)) from None
        algorithm = {"ppo": "prefppo", "sac": "pebble"}[self.agent]
        reward = {"kind": "learned", "algorithm": algorithm, "teacher": self.teacher, "feedback": feedback}
        return reward, preference


__all__ = ["AGENTS", "ConfigError", "TrainConfig"]
