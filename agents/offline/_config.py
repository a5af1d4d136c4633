"""Hyperparameters of the offline agents: dataclasses with defaults, overrides and checks.

Each algorithm module declares its config as a dataclass deriving from
:class:`OfflineConfig`, every field made with :func:`hp` (default, meaning, allowed
values). :meth:`OfflineConfig.from_dict` builds one from overrides (a config file's
table or ``pbrl train --hp key=value``), naming any unknown key, wrong type or
value out of range before any work starts. ``presets`` let one field choose the
defaults of others (CPL's ``variant = "kl"`` switches α and λ to CPL-KL's).

Needs only the standard library (no torch).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from pbrl.settings import ConfigError


def hp(default: Any, help: str, *, choices: tuple[str, ...] | None = None, min: float | None = None, max: float | None = None):
    """A config field: its default, what it means, and what values it takes."""
    meta = {"help": help, "choices": choices, "min": min, "max": max}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, list):
        return "list[int]"
    raise TypeError(f"unsupported hyperparameter default {default!r}")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _coerce(name: str, f: dataclasses.Field, value: Any, agent: str) -> Any:
    kind = _kind(_default(f))
    meta = f.metadata
    where = f"hyperparameter {name!r} of {agent}"
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif kind == "str":
        if isinstance(value, bool) and meta.get("choices") and {"on", "off"} <= set(meta["choices"]):
            value = "on" if value else "off"  # --hp compile=true
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, meta['choices']))}, got {value!r}")
        return value
    elif kind == "list[int]":
        if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in value
        ):
            raise ConfigError(f"{where} must be a non-empty list of positive integers, e.g. [256, 256], got {value!r}")
        return [int(x) for x in value]
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        raise ConfigError(f"{where} must be >= {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{where} must be <= {high:g}, got {value!r}")
    return value


@dataclass
class OfflineConfig:
    """What every offline agent has. Subclasses add their algorithm's fields."""

    #: the agent's name (``pbrl train --agent NAME``), set by subclasses
    agent: ClassVar[str] = ""
    #: field -> value -> defaults of other fields that this value selects
    presets: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}

    steps: int = hp(1_000_000, "default training budget in gradient steps", min=1)
    batch_size: int = hp(256, "minibatch size (transitions, or segment pairs for segment-based agents)", min=1)
    hidden_sizes: list = hp([256, 256], "hidden layer sizes of the networks")
    normalize_states: bool = hp(True, "standardise observations with the dataset's mean and std (+1e-3)")
    torch_threads: int = hp(1, "torch intra-op threads (1 is fastest for these MLPs on 2 shared cores)", min=1)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None) -> "OfflineConfig":
        """Defaults < presets chosen by the given values < the given values, all checked."""
        values = dict(values or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        name = cls.agent or cls.__name__
        for key in values:
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown hyperparameter {key!r} for {name}{hint}; valid keys: {', '.join(sorted(fields))}")
        out: dict[str, Any] = {}
        for key, choices in cls.presets.items():
            chosen = values.get(key, _default(fields[key]))
            out.update(choices.get(chosen, {}))
        out.update(values)
        checked = {key: _coerce(key, fields[key], value, name) for key, value in out.items()}
        config = cls(**checked)
        config.check()
        return config

    def check(self) -> None:
        """Checks that involve several fields (subclasses extend it)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(key, type, default, meaning) rows, for ``--list-hp``."""
        rows = []
        for f in sorted(dataclasses.fields(cls), key=lambda f: f.name):
            default = _default(f)
            kind = _kind(default)
            if f.metadata.get("choices"):
                kind = "|".join(f.metadata["choices"])
            rows.append((f.name, kind, default, f.metadata.get("help", "")))
        return rows


__all__ = ["ConfigError", "OfflineConfig", "hp"]
