"""Per-task hyperparameters: the schema, the defaults file and overrides.

``hyperparams.toml`` beside this file holds, for each agent, a ``defaults``
table and one table per task id (like rl-zoo's hyperparams/*.yml). Resolution:
agent defaults < task table < user overrides (config file or ``--hp key=value``).
Every key is checked against :data:`SCHEMA`; unknown keys and wrong types fail
with the key named and the valid keys listed, before any work starts.

Needs only the standard library (no torch).
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from typing import Any, Callable, Mapping

from pbrl.settings import ConfigError

from ..registry import ONLINE_AGENTS

HYPERPARAMS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hyperparams.toml")

# -- value checkers -----------------------------------------------------------------


def _int(min_value: int | None = None) -> Callable[[Any], int]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise TypeError("an integer")
        if min_value is not None and v < min_value:
            raise TypeError(f"an integer >= {min_value}")
        return v

    check.kind = f"int >= {min_value}" if min_value is not None else "int"  # type: ignore[attr-defined]
    return check


def _float(min_value: float | None = None, max_value: float | None = None) -> Callable[[Any], float]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError("a number")
        v = float(v)
        if min_value is not None and v < min_value:
            raise TypeError(f"a number >= {min_value:g}")
        if max_value is not None and v > max_value:
            raise TypeError(f"a number <= {max_value:g}")
        return v

    check.kind = "float"  # type: ignore[attr-defined]
    return check


def _bool(v):
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


_bool.kind = "bool"  # type: ignore[attr-defined]


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(v):
        if v not in choices:
            raise TypeError("one of " + ", ".join(repr(c) for c in choices))
        return v

    check.kind = "|".join(choices)  # type: ignore[attr-defined]
    return check


def _int_list(v):
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        raise TypeError("a non-empty list of positive integers, e.g. [256, 256]")
    return list(v)


_int_list.kind = "list[int]"  # type: ignore[attr-defined]


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

# -- the schema ---------------------------------------------------------------------

_COMMON: dict[str, tuple[Callable, str]] = {
    "n_timesteps": (_int(1), "default training budget in env steps"),
    "n_envs": (_int(1), "sub-envs simulated together in one batch"),
    "learning_rate": (
        _schedule(0.0),
        "Adam learning rate: a number, or 'lin_<initial>' for a linear decay to 0 (sets lr_schedule)",
    ),
    "lr_schedule": (_choice("constant", "linear"), "learning rate constant or decaying linearly to 0"),
    "gamma": (_float(0.0, 1.0), "discount factor"),
    "batch_size": (_int(1), "minibatch size"),
    "net_arch": (_int_list, "hidden layer sizes of the policy and value/Q networks"),
    "activation": (_choice("tanh", "relu", "elu", "leaky_relu"), "hidden activation"),
    "normalize_obs": (_bool, "normalise observations with running statistics (VecNormalize)"),
    "normalize_reward": (_bool, "scale rewards by a running std of the discounted return (VecNormalize)"),
    "clip_obs": (_float(0.0), "clip normalised observations to +-clip_obs"),
    "torch_threads": (_int(1), "torch intra-op threads (1 is fastest for small MLPs on 2 cores)"),
    "env_threads": (_int(1), "native threads stepping the MuJoCo batch"),
}

SCHEMA: dict[str, dict[str, tuple[Callable, str]]] = {
    "ppo": {
        **_COMMON,
        "n_steps": (_int(1), "env steps per sub-env per rollout (rollout size = n_steps * n_envs)"),
        "n_epochs": (_int(1), "passes over each rollout"),
        "gae_lambda": (_float(0.0, 1.0), "GAE lambda"),
        "clip_range": (_schedule(0.0), "PPO clipping range: a number, or 'lin_<initial>' for a linear decay to 0"),
        "ent_coef": (_float(), "entropy bonus coefficient"),
        "vf_coef": (_float(0.0), "value loss coefficient"),
        "max_grad_norm": (_float(0.0), "gradient clipping norm"),
        "target_kl": (_float_or_off, "stop an update's epochs early past this KL ('off' to disable)"),
        "log_std_init": (_float(), "initial log std of the Gaussian policy"),
        "ortho_init": (_bool, "orthogonal initialisation of the networks"),
    },
    "sac": {
        **_COMMON,
        "buffer_size": (_int(1), "replay buffer capacity (transitions)"),
        "learning_starts": (_int(0), "env steps of uniform random actions before learning"),
        "tau": (_float(0.0, 1.0), "target network Polyak coefficient"),
        "train_freq": (_int(1), "vector-env steps between updates (each vector step adds n_envs transitions)"),
        "gradient_steps": (_int(1), "gradient steps per update"),
        "ent_coef": (_float_or_auto, "entropy coefficient, or 'auto' / 'auto_<init>' to learn it"),
        "target_entropy": (_float_or_auto, "target entropy for a learned ent_coef ('auto' = -act_dim)"),
        "log_std_init": (_float(), "initial log std (only with use_sde)"),
        "use_sde": (_bool, "generalised state-dependent exploration"),
    },
}

AGENTS = ONLINE_AGENTS  # the registry's online agents; SCHEMA has a table for each


class HyperparameterError(ConfigError):
    """An unknown agent, an unknown hyperparameter or a badly typed value."""


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_agent(agent: str) -> str:
    """``agent`` if it is an online agent, else a :class:`HyperparameterError` naming the closest."""
    if agent not in SCHEMA:
        raise HyperparameterError(f"unknown agent {agent!r}{_suggest(agent, SCHEMA)}; online agents: {', '.join(AGENTS)}")
    return agent


def check_hyperparams(agent: str, values: Mapping[str, Any], where: str = "hyperparameter") -> dict[str, Any]:
    """Check keys and types of ``values`` for ``agent``; returns the coerced values."""
    schema = SCHEMA[check_agent(agent)]
    out = {}
    for key, value in values.items():
        if key not in schema:
            raise HyperparameterError(
                f"unknown {where} {key!r} for {agent}{_suggest(key, schema)}; valid keys: {', '.join(sorted(schema))}"
            )
        checker, _ = schema[key]
        try:
            out[key] = checker(value)
        except TypeError as exc:
            raise HyperparameterError(f"{where} {key!r} for {agent} must be {exc}, got {value!r}") from None
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
    """The hyperparameters of ``agent`` on ``task``: defaults < task table < overrides, all checked."""
    check_agent(agent)
    table = load_table(path).get(agent, {})
    values = dict(check_hyperparams(agent, table.get("defaults", {}), where=f"[{agent}.defaults] key"))
    values.update(check_hyperparams(agent, table.get(task, {}), where=f"[{agent}.{task!r}] key"))
    values.update(check_hyperparams(agent, dict(overrides or {})))
    missing = set(SCHEMA[agent]) - set(values)
    if missing:
        raise HyperparameterError(f"{path}: [{agent}.defaults] lacks {sorted(missing)}")
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


def describe(agent: str) -> list[tuple[str, str, str]]:
    """(key, type, help) rows for ``agent``, for ``--help`` texts and error messages."""
    return [(k, getattr(c, "kind", ""), h) for k, (c, h) in sorted(SCHEMA[check_agent(agent)].items())]
