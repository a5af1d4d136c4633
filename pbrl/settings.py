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
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping


class ConfigError(ValueError):
    """A setting that cannot be used: an unknown key, a wrong type, a value out of range,
    an unknown task, agent or hyperparameter. The message names the key or value."""


# -- value checks: each returns the value to use or raises TypeError(what it must be) --------


def integer(min_value: int | None = None, whole_floats: bool = True) -> Callable[[Any], int]:
    """An integer (numpy's too; ``whole_floats``: also ``2.0`` as 2), at least ``min_value``, as an int."""
    expected = "an integer" if whole_floats or min_value is None else f"an integer >= {min_value}"

    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            if whole_floats and isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise TypeError(expected)
        v = int(v)  # numpy integers too
        if min_value is not None and v < min_value:
            raise TypeError(f"an integer >= {min_value}")
        return v

    check.kind = f"int >= {min_value}" if min_value is not None else "int"  # type: ignore[attr-defined]
    return check


def number(min_value: float | None = None, max_value: float | None = None) -> Callable[[Any], float]:
    """A number (as a float) within the bounds given."""

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


def boolean(v):
    """True or false (no 0/1, no strings)."""
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


boolean.kind = "bool"  # type: ignore[attr-defined]


def one_of(*choices: str) -> Callable[[Any], str]:
    """One of ``choices``."""

    def check(v):
        if v not in choices:
            raise TypeError("one of " + ", ".join(repr(c) for c in choices))
        return v

    check.kind = "|".join(choices)  # type: ignore[attr-defined]
    return check


def int_list(v):
    """A non-empty list of positive ints."""
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        raise TypeError("a non-empty list of positive integers, e.g. [256, 256]")
    return list(v)


int_list.kind = "list[int]"  # type: ignore[attr-defined]


def string(v):
    """A string."""
    if not isinstance(v, str):
        raise TypeError("a string")
    return v


string.kind = "str"  # type: ignore[attr-defined]


def table(v):
    """A table (a mapping: a config file's table, a dict)."""
    if not isinstance(v, Mapping):
        raise TypeError("a table/mapping")
    return v


table.kind = "table"  # type: ignore[attr-defined]


def positive_number(v):
    """A number > 0 (kept as given: an int stays an int)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise TypeError("a positive number")
    return v


positive_number.kind = "number > 0"  # type: ignore[attr-defined]


def anything(v):
    """Any value (checked where it is used, not here)."""
    return v


anything.kind = "any"  # type: ignore[attr-defined]


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check``, or None (meaning: the default worked out later)."""

    def checked(v):
        return None if v is None else check(v)

    checked.kind = f"{getattr(check, 'kind', '')}|none"  # type: ignore[attr-defined]
    return checked


def setting(default: Any, help: str, *, choices: tuple[str, ...] | None = None, min: float | None = None,
            max: float | None = None, check: Callable[[Any], Any] | None = None, label: str | None = None):
    """A settings field: its default, what it means, and what values it takes.

    ``check`` (for values no plain type describes, e.g. "an integer or 'auto'") takes a
    given value and returns the value to use, or raises ``TypeError(what it must be)``;
    its ``kind`` attribute, if any, is the type shown by :meth:`Settings.describe`.
    ``label`` names the setting in messages instead of its key.
    """
    meta = {"help": help, "choices": choices, "min": min, "max": max, "check": check, "label": label}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def redeclared(base: type, name: str, default: Any):
    """Field ``name`` of the settings class ``base`` (meaning and check) with another default,
    for a subclass whose default differs (SAC's ``n_envs``, PEBBLE's ``unsup_steps``)."""
    f = base._field(name)
    return setting(default, f.metadata["help"], check=f.metadata["check"])


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
    if f.default_factory is dataclasses.MISSING:
        return None  # a required setting
    return f.default_factory()  # type: ignore[misc]


def _coerce(name: str, f: dataclasses.Field, value: Any, owner: str, what: str, error: type[ConfigError] = ConfigError) -> Any:
    meta = f.metadata
    if meta.get("label"):
        where = meta["label"]
    elif not what:
        where = name
    else:
        where = f"{what} {name!r} for {owner}" if owner else f"{what} {name!r}"
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

    #: who the settings belong to, in messages (e.g. the agent's name); empty: not named
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
        values = cls.check_values(values or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for key, choices in cls.presets.items():
            chosen = values.get(key, _default(fields[key]))
            out.update(cls.check_values(choices.get(chosen, {})))
        out.update(values)
        config = cls(**out)
        config.check()
        return config

    @classmethod
    def check_values(cls, values: Mapping[str, Any], what: str | None = None) -> dict[str, Any]:
        """Some of the settings, checked and coerced, without building an instance: an unknown
        key or a bad value raises :attr:`error` naming it (``what``: how messages call a key)."""
        cls.reject_unknown(values, what)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        what = cls.what if what is None else what
        return {key: _coerce(key, fields[key], value, cls.owner, what, cls.error) for key, value in values.items()}

    @classmethod
    def reject_unknown(cls, values: Mapping[str, Any], what: str | None = None) -> None:
        """Raise :attr:`error` naming the first key of ``values`` that is not a setting (and the closest one)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in fields:
                close = difflib.get_close_matches(str(key), fields, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                owner = f" for {cls.owner}" if cls.owner else ""
                what = cls.what if what is None else what
                raise cls.error(f"unknown {what} {key!r}{owner}{hint}; valid {cls.plural}: {', '.join(sorted(fields))}")

    def check(self) -> None:
        """Checks that involve several fields (subclasses extend it)."""

    def check_fields(self) -> None:
        """Check every field's value as it is (for an instance built directly, not by :meth:`from_dict`)."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, f, getattr(self, f.name), self.owner, self.what, self.error))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def help_of(cls, name: str) -> str:
        """What setting ``name`` means, as declared (``--help`` texts are made from it)."""
        return cls._field(name).metadata.get("help", "")

    @classmethod
    def default_of(cls, name: str) -> Any:
        """The declared default of setting ``name`` (None for a required one)."""
        return _default(cls._field(name))

    @classmethod
    def _field(cls, name: str) -> dataclasses.Field:
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
        raise KeyError(f"{cls.__name__} declares no setting {name!r}")

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


__all__ = [
    "ConfigError", "Settings", "anything", "boolean", "int_list", "integer", "number", "one_of", "optional", "positive_number",
    "redeclared", "setting", "string", "table",
]  # fmt: skip
