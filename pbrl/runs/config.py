"""The config of one online training run, checked before any work starts.

``TrainConfig`` is what ``pbrl train`` builds from its options (and what a
config file will fill in). :meth:`TrainConfig.resolve` checks everything — task,
agent, hyperparameters, reward source, names, budgets — and returns the
resolved config that is saved in the run folder. Needs no torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from pbrl.agents.online.hyperparams import AGENTS, HyperparameterError, check_agent, resolve
from pbrl.settings import ConfigError, Settings, integer, optional, setting, string, table

from .folder import check_name, descriptive_name


def config_from_mapping(cls, data: Mapping[str, Any]):
    """An instance of the run config class ``cls`` from ``data``, naming any unknown key
    (the values are checked by ``resolve``)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a train config must be a table/mapping, got {type(data).__name__}")
    cls.reject_unknown(data, what="config key")
    return cls(**dict(data))


_INT = dict(whole_floats=False)


def reward_kind(reward: str) -> str:
    """``true``, ``learned``, ``program`` or ``trusted-program``: a reward spec without its path."""
    return reward.split(":", 1)[0]


def algorithm_of(agent: str, reward: Mapping[str, Any] | None = None) -> str:
    """The algorithm a run trains (HPARAMS' agent column): PPO, SAC, with a learned reward PrefPPO or
    PEBBLE; offline agents BC, IQL, P-IQL, CPL, OPPO, IPL."""
    name = str((reward or {}).get("algorithm") or agent)
    name = name.lower()
    if name.startswith("prefppo-"):  # PrefPPO with an online method: PrefPPO-SURF, ...
        return "PrefPPO-" + name[len("prefppo-"):].upper()
    return {"piql": "P-IQL", "prefppo": "PrefPPO", "pebble": "PEBBLE"}.get(name, name.upper())


def check_device(name: str) -> str:
    """The torch device a run uses: ``auto`` is CUDA when torch sees a GPU, else the CPU (as
    Stable-Baselines3 decides); ``cpu``, ``cuda`` and ``cuda:N`` are checked here."""
    if name == "cpu":
        return name  # no torch import for the common case
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device {name!r}: {exc}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine (use --device cpu or auto)")
    return name


@dataclass
class TrainConfig(Settings):
    """One online training run: every setting below, checked by :meth:`resolve`."""

    what: ClassVar[str] = ""  # messages name the key alone: "steps must be an integer >= 1, got 0"

    env: str = setting("pbrl/HalfCheetah-v5", "pbrl task id, e.g. pbrl/Hopper-v5 (`pbrl envs` lists them)", check=string)
    agent: str = setting("ppo", "online agent: ppo or sac", check=string)
    steps: int | None = setting(None, "env steps in all (default: the hyperparameters' n_timesteps)", check=optional(integer(1, **_INT)))
    seed: int = setting(0, "run seed (training sub-env i is seeded seed + i)", check=integer(0, **_INT))
    num_envs: int | None = setting(None, "sub-envs (default: the hyperparameters' n_envs)", check=optional(integer(1, **_INT)))
    hp: dict = setting({}, "hyperparameter overrides (see pbrl train --list-hp)", check=table)
    reward: str = setting(
        "true",
        "true; program:PATH (untrusted: run in the sandboxed reward worker); trusted-program:PATH (your own code, "
        "in process); or learned (PrefPPO with ppo, PEBBLE with sac: a reward model trained online on a teacher's preferences)",
        check=string,
    )
    runs_dir: str = setting("runs", "root of the run folders", check=string)
    name: str | None = setting(
        None, "run name (default: what the run is, <agent>-<reward>[-<teacher>-<labels>], e.g. ppo-true or "
        "prefppo-learned-oracle-300, with -2, -3, ... if taken); the folder is <name>-s<seed>", check=optional(string),
    )  # fmt: skip
    device: str = setting("cpu", "torch device: auto (CUDA if there is a GPU, else the CPU), cpu, cuda or cuda:N", check=string)
    eval_freq: int | None = setting(None, "env steps between evaluations (default: steps / 20; 0 = only at the end)", check=optional(integer(0, **_INT)))
    eval_episodes: int = setting(10, "episodes per evaluation", check=integer(1, **_INT))
    checkpoint_freq: int | None = setting(None, "env steps between checkpoints (default: steps / 10; 0 = only at the end)", check=optional(integer(0, **_INT)))
    env_kwargs: dict = setting({}, "task keyword arguments (e.g. ctrl_cost_weight)", check=table)
    teacher: str | None = setting(
        None, "with reward learned: who labels the queries, a teacher preset (oracle, noisy, mistake, skip, myopic, equal) "
        "or any registered teacher name", check=optional(string),
    )  # fmt: skip
    feedback: int | None = setting(
        None, "with reward learned: the label budget, queries asked in all (default: the task's, agents/preference/tasks.toml; else 1000)",
        check=optional(integer(1, **_INT)), label="feedback (the label budget)",
    )  # fmt: skip
    pref: dict = setting(
        {}, "with reward learned: preference-loop options (pbrl.agents.preference.options.PreferenceOptions), and with "
        "teacher human how rounds wait for people and whether the run serves the labeling page (human_*)", check=table,
    )  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping (a config file's table), naming any unknown key."""
        return config_from_mapping(cls, data)

    # -- checks ---------------------------------------------------------------------

    def _check_types(self) -> None:
        self.check_fields()
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
        device = check_device(self.device)
        steps = self.steps if self.steps is not None else hp["n_timesteps"]
        resolved = self.to_dict()
        resolved.update(
            device=device,
            steps=int(steps),
            num_envs=int(hp["n_envs"]),
            eval_freq=int(self.eval_freq if self.eval_freq is not None else max(steps // 20, 1)),
            checkpoint_freq=int(self.checkpoint_freq if self.checkpoint_freq is not None else max(steps // 10, 1)),
        )
        if self.reward == "learned":
            resolved["feedback"] = int(self.feedback if self.feedback is not None else reward["feedback"])
        resolved["name"] = self.name or descriptive_name(
            [algorithm_of(self.agent, reward).lower(), reward_kind(self.reward), self.teacher, resolved.get("feedback")],
            self.runs_dir, self.env, self.agent, self.seed,
        )  # fmt: skip
        out = {"config": resolved, "hyperparams": hp, "reward": reward}
        if preference is not None:
            out["preference"] = preference
        return out

    def _check_preferences(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reward ``learned``: the teacher, the budget and the preference options."""
        from pbrl.agents.preference.options import (
            PreferenceOptionError, check_feedback_options, check_teacher_options, default_feedback, resolve_preference_options,
        )  # fmt: skip
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
        feedback = default_feedback(self.agent, self.env) if self.feedback is None else self.feedback
        try:
            preference = resolve_preference_options(self.agent, self.pref, feedback, task=self.env)
            check_teacher_options(self.teacher, self.pref, preference)  # human_*: --teacher human only; a free port
            check_feedback_options(self.agent, self.teacher, preference)  # ratings / rankings with this teacher
        except PreferenceOptionError as exc:
            raise ConfigError(str(exc)) from None
        algorithm = {"ppo": "prefppo", "sac": "pebble"}[self.agent]
        method = preference.get("method", "none")
        if method != "none":  # SURF, RUNE, QPA, RIME, MRN: PEBBLE's papers name the run by the method; on PPO, PrefPPO-<method>
            algorithm = method if self.agent == "sac" else f"prefppo-{method}"
        reward = {"kind": "learned", "algorithm": algorithm, "teacher": self.teacher, "feedback": feedback}
        return reward, preference


__all__ = ["AGENTS", "ConfigError", "TrainConfig"]
