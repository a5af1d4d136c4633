"""Per-task hyperparameters: the schema, the defaults file and overrides.

``hyperparams.toml`` beside this file holds, for each agent, a ``defaults``
table and one table per task id (like rl-zoo's hyperparams/*.yml). Resolution:
agent defaults < task table < user overrides (config file or ``--hp key=value``).
Every key is checked against its declaration (:data:`HYPERPARAMS`); unknown keys and wrong types fail
with the key named and the valid keys listed, before any work starts.

Needs only the standard library (no torch).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
import os
import tomllib
from typing import Any, Callable, ClassVar, Mapping

from pbrl.settings import ConfigError, Settings, boolean, int_list, integer, number, one_of, redeclared, setting

from ..registry import ONLINE_AGENTS

HYPERPARAMS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hyperparams.toml")

def _float_or_auto(v):
    if isinstance(v, str) and (v == "auto" or v.startswith("auto_")):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("a number or 'auto'")
    return float(v)


_float_or_auto.kind = "float|auto"  # type: ignore[attr-defined]


def _float_or_off(v):
    if v in ("off", "none"):
        return "off"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise TypeError("a positive number or 'off'")
    return float(v)


_float_or_off.kind = "float|off"  # type: ignore[attr-defined]

# -- schedules ----------------------------------------------------------------------
#
# rl-zoo's spelling: a number is a constant, "lin_<initial>" decays linearly from
# <initial> to 0 over the run (SB3's progress_remaining goes 1 -> 0).

SCHEDULE_PREFIX = "lin_"


def parse_schedule(value: Any, min_value: float | None = 0.0, max_value: float | None = None) -> tuple[str, float]:
    """``3e-4`` -> ("constant", 3e-4); ``"lin_3e-4"`` -> ("linear", 3e-4). Raises TypeError saying what is expected."""
    expected = f"a number or a linear schedule '{SCHEDULE_PREFIX}<initial value>' such as '{SCHEDULE_PREFIX}3e-4'"
    if isinstance(value, bool):
        raise TypeError(expected)
    if isinstance(value, (int, float)):
        kind, number = "constant", float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text.startswith(SCHEDULE_PREFIX):
            raise TypeError(expected + f" (the only schedule prefix is {SCHEDULE_PREFIX!r})")
        rest = text[len(SCHEDULE_PREFIX) :]
        try:
            number = float(rest)
        except ValueError:
            raise TypeError(f"{expected}; {rest!r} after {SCHEDULE_PREFIX!r} is not a number") from None
        kind = "linear"
    else:
        raise TypeError(expected)
    if not math.isfinite(number):
        raise TypeError(f"{expected}, with a finite value")
    if min_value is not None and number < min_value:
        raise TypeError(f"{expected}, with a value >= {min_value:g}")
    if max_value is not None and number > max_value:
        raise TypeError(f"{expected}, with a value <= {max_value:g}")
    return kind, number


def schedule_string(kind: str, value: float) -> float | str:
    """Inverse of :func:`parse_schedule`: a float for a constant, ``"lin_<value>"`` for a linear schedule."""
    return float(value) if kind == "constant" else f"{SCHEDULE_PREFIX}{float(value)!r}"


def _schedule(min_value: float | None = 0.0, max_value: float | None = None) -> Callable[[Any], float | str]:
    def check(v):
        return schedule_string(*parse_schedule(v, min_value, max_value))

    check.kind = f"float|{SCHEDULE_PREFIX}<float>"  # type: ignore[attr-defined]
    return check

class HyperparameterError(ConfigError):
    """An unknown agent, an unknown hyperparameter or a badly typed value."""


# -- the declarations ----------------------------------------------------------------
#
# One typed field per hyperparameter (pbrl.settings): its default, meaning and check. The
# per-task values are hyperparams.toml's; --list-hp, config checks and messages come from here.


@dataclass
class OnlineHyperparams(Settings):
    """What PPO and SAC both have (defaults: PPO's; :class:`SACHyperparams` changes some)."""

    what: ClassVar[str] = "hyperparameter"
    error: ClassVar[type[ConfigError]] = HyperparameterError

    n_timesteps: int = setting(1_000_000, "default training budget in env steps", check=integer(1))
    n_envs: int = setting(16, "sub-envs simulated together in one batch", check=integer(1))
    learning_rate: float = setting(
        3e-4, "Adam learning rate: a number, or 'lin_<initial>' for a linear decay to 0 (sets lr_schedule)", check=_schedule(0.0)
    )
    lr_schedule: str = setting("constant", "learning rate constant or decaying linearly to 0", check=one_of("constant", "linear"))
    gamma: float = setting(0.99, "discount factor", check=number(0.0, 1.0))
    batch_size: int = setting(256, "minibatch size", check=integer(1))
    net_arch: list = setting([64, 64], "hidden layer sizes of the policy and value/Q networks", check=int_list)
    activation: str = setting("tanh", "hidden activation", check=one_of("tanh", "relu", "elu", "leaky_relu"))
    normalize_obs: bool = setting(True, "normalise observations with running statistics (VecNormalize)", check=boolean)
    normalize_reward: bool = setting(True, "scale rewards by a running std of the discounted return (VecNormalize)", check=boolean)
    clip_obs: float = setting(10.0, "clip normalised observations to +-clip_obs", check=number(0.0))
    torch_threads: int = setting(1, "torch intra-op threads (1 is fastest for small MLPs on 2 cores)", check=integer(1))
    env_threads: int = setting(1, "native threads stepping the MuJoCo batch", check=integer(1))


@dataclass
class PPOHyperparams(OnlineHyperparams):
    """PPO's (rollout = n_steps x n_envs = 2048 transitions by default)."""

    owner: ClassVar[str] = "ppo"

    n_steps: int = setting(128, "env steps per sub-env per rollout (rollout size = n_steps * n_envs)", check=integer(1))
    n_epochs: int = setting(10, "passes over each rollout", check=integer(1))
    gae_lambda: float = setting(0.95, "GAE lambda", check=number(0.0, 1.0))
    clip_range: Any = setting(0.2, "PPO clipping range: a number, or 'lin_<initial>' for a linear decay to 0", check=_schedule(0.0))
    ent_coef: float = setting(0.0, "entropy bonus coefficient", check=number())
    vf_coef: float = setting(0.5, "value loss coefficient", check=number(0.0))
    max_grad_norm: float = setting(0.5, "gradient clipping norm", check=number(0.0))
    target_kl: Any = setting("off", "stop an update's epochs early past this KL ('off' to disable)", check=_float_or_off)
    log_std_init: float = setting(0.0, "initial log std of the Gaussian policy", check=number())
    ortho_init: bool = setting(True, "orthogonal initialisation of the networks", check=boolean)


@dataclass
class SACHyperparams(OnlineHyperparams):
    """SAC's (0.5 gradient steps per transition by default: two per vector step of 4 sub-envs)."""

    owner: ClassVar[str] = "sac"

    n_envs: int = redeclared(OnlineHyperparams, "n_envs", 4)
    learning_rate: float = redeclared(OnlineHyperparams, "learning_rate", 1e-3)
    net_arch: list = redeclared(OnlineHyperparams, "net_arch", [256, 256])
    activation: str = redeclared(OnlineHyperparams, "activation", "relu")
    normalize_obs: bool = redeclared(OnlineHyperparams, "normalize_obs", False)
    normalize_reward: bool = redeclared(OnlineHyperparams, "normalize_reward", False)
    buffer_size: int = setting(1_000_000, "replay buffer capacity (transitions)", check=integer(1))
    learning_starts: int = setting(5_000, "env steps of uniform random actions before learning", check=integer(0))
    tau: float = setting(0.005, "target network Polyak coefficient", check=number(0.0, 1.0))
    train_freq: int = setting(1, "vector-env steps between updates (each vector step adds n_envs transitions)", check=integer(1))
    gradient_steps: int = setting(2, "gradient steps per update", check=integer(1))
    ent_coef: Any = setting("auto", "entropy coefficient, or 'auto' / 'auto_<init>' to learn it", check=_float_or_auto)
    target_entropy: Any = setting("auto", "target entropy for a learned ent_coef ('auto' = -act_dim)", check=_float_or_auto)
    log_std_init: float = setting(-3.0, "initial log std (only with use_sde)", check=number())
    use_sde: bool = setting(False, "generalised state-dependent exploration", check=boolean)


#: agent -> its hyperparameters
HYPERPARAMS: dict[str, type[OnlineHyperparams]] = {"ppo": PPOHyperparams, "sac": SACHyperparams}
AGENTS = ONLINE_AGENTS  # the registry's online agents; SCHEMA has a table for each


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_agent(agent: str) -> str:
    """``agent`` if it is an online agent, else a :class:`HyperparameterError` naming the closest."""
    if agent not in HYPERPARAMS:
        raise HyperparameterError(f"unknown agent {agent!r}{_suggest(agent, HYPERPARAMS)}; online agents: {', '.join(AGENTS)}")
    return agent


def check_hyperparams(agent: str, values: Mapping[str, Any], where: str = "hyperparameter") -> dict[str, Any]:
    """Check keys and types of ``values`` for ``agent`` against its declarations; returns the coerced values."""
    out = HYPERPARAMS[check_agent(agent)].check_values(values, what=where)
    return _split_lr_schedule(agent, out, where, given=values.get("learning_rate"))


def _split_lr_schedule(agent: str, values: dict[str, Any], where: str, given: Any = None) -> dict[str, Any]:
    """``learning_rate = "lin_3e-4"`` is shorthand for ``learning_rate = 3e-4`` with ``lr_schedule = "linear"``.

    Done per table (defaults, task, overrides), so a later table's ``lr_schedule``
    still overrides an earlier one's ``lin_`` and the resolved values keep one form:
    a number in ``learning_rate`` and the schedule in ``lr_schedule``.
    """
    lr = values.get("learning_rate")
    if not isinstance(lr, str):
        return values
    kind, number = parse_schedule(lr)
    if values.get("lr_schedule", kind) != kind:
        shown = given if given is not None else lr
        raise HyperparameterError(
            f"{where} 'learning_rate' for {agent} is {shown!r} (a {kind} schedule) but 'lr_schedule' is "
            f"{values['lr_schedule']!r} in the same table; give one of them"
        )
    return {**values, "learning_rate": number, "lr_schedule": kind}


def parse_value(text: str) -> Any:
    """Parse a command-line value with TOML's syntax (``3e-4``, ``true``, ``[64, 64]``); bare words stay strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["key=value", ...]`` -> ``{key: parsed value}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HyperparameterError(f"hyperparameter override {item!r} must look like key=value, e.g. learning_rate=3e-4")
        out[key] = parse_value(value.strip())
    return out


def load_table(path: str = HYPERPARAMS_FILE) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def resolve(agent: str, task: str, overrides: Mapping[str, Any] | None = None, path: str = HYPERPARAMS_FILE) -> dict[str, Any]:
    """The hyperparameters of ``agent`` on ``task``: the declared defaults < the file's ``[<agent>.defaults]``
    (if it has one) < its task table < overrides, all checked."""
    check_agent(agent)
    table = load_table(path).get(agent, {})
    values = HYPERPARAMS[agent]().to_dict()
    values.update(check_hyperparams(agent, table.get("defaults", {}), where=f"[{agent}.defaults] key"))
    values.update(check_hyperparams(agent, table.get(task, {}), where=f"[{agent}.{task!r}] key"))
    values.update(check_hyperparams(agent, dict(overrides or {})))
    _cross_check(agent, values)
    return values


def _cross_check(agent: str, hp: Mapping[str, Any]) -> None:
    """Checks that involve several keys."""
    if agent == "ppo":
        rollout = hp["n_steps"] * hp["n_envs"]
        if hp["batch_size"] > rollout:
            raise HyperparameterError(
                f"hyperparameter 'batch_size' ({hp['batch_size']}) is larger than a PPO rollout "
                f"(n_steps * n_envs = {hp['n_steps']} * {hp['n_envs']} = {rollout}); lower batch_size or raise n_steps / n_envs"
            )
        if rollout < 2:
            raise HyperparameterError("a PPO rollout needs n_steps * n_envs >= 2")
    if agent == "sac" and hp["batch_size"] > hp["buffer_size"]:
        raise HyperparameterError(f"hyperparameter 'batch_size' ({hp['batch_size']}) exceeds 'buffer_size' ({hp['buffer_size']})")


def describe(agent: str) -> list[tuple[str, str, Any, str]]:
    """(key, type, default, meaning) rows of ``agent``'s hyperparameters, for ``--list-hp``."""
    return HYPERPARAMS[check_agent(agent)].describe()
