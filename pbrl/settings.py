"""One way to declare settings, for every kind of pbrl setting (agent hyperparameters,
preference options, run configs, synthesis options): a dataclass deriving from
:class:`Settings`, one field per setting made with :func:`setting` (its default, what it
means, the values it takes). :meth:`Settings.from_dict` builds one from overrides (a
config file's table, ``--hp key=value``), naming any unknown key, wrong type or value out
of range before any work starts; :meth:`Settings.describe` gives the rows of ``--list-hp``
and help texts. ``presets`` let one field choose the defaults of others.

Standard library only (no torch).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping


class ConfigError(ValueError):
    """A setting that cannot be used: an unknown key, a wrong type, a value out of range,
    an unknown task, agent or hyperparameter. The message names the key or value."""


def setting(default: Any, help: str, *, choices: tuple[str, ...] | None = None, min: float | None = None,
            max: float | None = None, check: Callable[[Any], Any] | None = None):
    """A settings field: its default, what it means, and what values it takes.

    ``check`` (for values no plain type describes, e.g. "an integer or 'auto'") takes a
    given value and returns the value to use, or raises ``TypeError(what it must be)``;
    its ``kind`` attribute, if any, is the type shown by :meth:`Settings.describe`.
    """
    meta = {"help": help, "choices": choices, "min": min, "max": max, "check": check}
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
    raise TypeError(f"unsupported setting default {default!r}")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _coerce(name: str, f: dataclasses.Field, value: Any, owner: str, what: str, error: type[ConfigError] = ConfigError) -> Any:
    meta = f.metadata
    where = f"{what} {name!r} of {owner}" if owner else f"{what} {name!r}"
    if meta.get("check") is not None:
        try:
            return meta["check"](value)
        except TypeError as exc:
            raise error(f"{where} must be {exc}, got {value!r}") from None
    try:
        return _coerce_plain(where, _kind(_default(f)), meta, value)
    except ConfigError as exc:
        raise error(str(exc)) from None


def _coerce_plain(where: str, kind: str, meta: Mapping[str, Any], value: Any) -> Any:
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
class Settings:
    """A group of settings. Subclasses declare fields with :func:`setting`."""

    #: who the settings belong to, in messages (e.g. the agent's name); default: the class name
    owner: ClassVar[str] = ""
    #: what one setting is called in messages ("hyperparameter", "preference option", ...)
    what: ClassVar[str] = "setting"
    #: the word for several of them, in messages ("valid keys: ...")
    plural: ClassVar[str] = "keys"
    #: the exception raised for a setting that cannot be used (a :class:`ConfigError`)
    error: ClassVar[type[ConfigError]] = ConfigError
    #: field -> value -> defaults of other fields that this value selects
    presets: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None):
        """Defaults < presets chosen by the given values < the given values, all checked."""
        values = dict(values or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        name = cls.owner
        for key in values:
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                owner = f" for {name}" if name else ""
                raise cls.error(f"unknown {cls.what} {key!r}{owner}{hint}; valid {cls.plural}: {', '.join(sorted(fields))}")
        out: dict[str, Any] = {}
        for key, choices in cls.presets.items():
            chosen = values.get(key, _default(fields[key]))
            out.update(choices.get(chosen, {}))
        out.update(values)
        checked = {key: _coerce(key, fields[key], value, name, cls.what, cls.error) for key, value in out.items()}
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
            check = f.metadata.get("check")
            kind = getattr(check, "kind", "") if check is not None else _kind(default)
            if f.metadata.get("choices"):
                kind = "|".join(f.metadata["choices"])
            rows.append((f.name, kind, default, f.metadata.get("help", "")))
        return rows


__all__ = ["ConfigError", "Settings", "setting"]
