"""Experiment config files: one TOML or YAML file describes a run (or a sweep's grid).

``pbrl train CONFIG`` and ``pbrl sweep CONFIG`` read them. The keys are the fields
of the run config the agent needs — :class:`~pbrl.runs.config.TrainConfig` for
online agents (PPO, SAC, PrefPPO, PEBBLE), :class:`~pbrl.runs.offline.OfflineTrainConfig`
for offline ones (BC, IQL, P-IQL, CPL, OPPO, IPL) — read from the dataclasses
themselves, so a field added there is a config key at once. On top of them:

* ``task`` — another spelling of ``env``;
* ``seeds`` — the seeds of a sweep (``pbrl train`` accepts one seed);
* ``tasks`` (online) / ``datasets`` (offline) — the tasks or datasets of a sweep.

Everything is checked before any work: the file (missing, unparseable — with the
parser's line and column), unknown keys (named, with a did-you-mean and, where it
can be found, the line), wrong types (with the key path, e.g. ``env_kwargs``, and
the type the field wants), then :meth:`resolve` runs the config's own checks
(task, agent, hyperparameters, reward source, dataset, ...).

A bare name that is no file in the working directory (``sac``, ``ppo.yaml``; ``sac`` is
``./sac.toml`` where that exists) is one of the example configs shipped in the package
(``pbrl/configs/``, :func:`packaged_configs`); a path that exists always wins.

Overrides win over the file: ``--set key=value`` (dotted paths for tables:
``hp.learning_rate=1e-3``, ``env_kwargs.ctrl_cost_weight=0.2``; values in TOML
syntax) and the ordinary options of ``pbrl train``. Relative paths in a file
(``program:PATH``, ``preferences``, ``runs_dir``) are relative to the working
directory, as on the command line.

Needs no torch.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib.resources
import os
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping, NoReturn, Sequence, Union

from .config import ConfigError, TrainConfig

__all__ = [
    "ConfigFileError",
    "Experiment",
    "apply_sets",
    "build_experiment",
    "config_class",
    "find_config_file",
    "load_experiment",
    "packaged_config",
    "packaged_configs",
    "read_config_file",
]

#: keys a config file may hold besides the run config's fields
EXTRA_KEYS = {"seeds": "list of seeds (sweeps)", "tasks": "list of task ids (online sweeps)", "datasets": "list of dataset ids (offline sweeps)"}
#: other spellings of a field
ALIASES = {"task": "env"}
#: a field -> the sweep list it picks one value of (an override of the field drops the list)
LIST_OF = {"seed": "seeds", "env": "tasks", "dataset": "datasets"}
SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


class ConfigFileError(ConfigError):
    """A config file that cannot be read or does not fit the schema."""


# -- reading -------------------------------------------------------------------------


def packaged_configs() -> dict[str, str]:
    """The example configs shipped in the package (``pbrl/configs/``): name -> file path.

    A file's name is its stem (``sac``), or its file name where a ``.toml`` of the same stem
    comes first (``ppo.yaml`` beside ``ppo.toml``). Found through :mod:`importlib.resources`,
    so an installed wheel has them as well as the checkout.
    """
    folder = importlib.resources.files("pbrl") / "configs"
    split = {f.name: os.path.splitext(f.name) for f in folder.iterdir() if os.path.splitext(f.name)[1].lower() in SUFFIXES}
    found: dict[str, str] = {}
    for name in sorted(split, key=lambda n: (split[n][0], list(SUFFIXES).index(split[n][1].lower()))):
        found[name if split[name][0] in found else split[name][0]] = str(folder / name)
    return found


def packaged_config(name: str) -> str:
    """The path of the packaged config called ``name`` (``sac`` or its file name ``sac.toml``).

    Raises:
        ConfigFileError: no packaged config has that name; the message lists them.
    """
    return _packaged_or_none(name) or _raise_unknown(name, "no packaged config of that name")


def find_config_file(path: str) -> str:
    """``path`` if it exists or has a folder in it; else a bare name's local file (``sac`` ->
    ``./sac.toml``, so an edited copy wins); else the packaged config it names (:func:`packaged_config`).

    Raises:
        ConfigFileError: a bare name that is neither a file here nor a packaged config.
    """
    if os.path.exists(path) or os.sep in path or "/" in path:
        return path
    if not os.path.splitext(path)[1]:
        local = [path + suffix for suffix in SUFFIXES if os.path.isfile(path + suffix)]
        if local:
            return local[0]
    return _packaged_or_none(path) or _raise_unknown(path, "no such config file, nor a packaged config of that name")


def _packaged_or_none(name: str) -> str | None:
    packaged = packaged_configs()
    return packaged.get(name) or {os.path.basename(p): p for p in packaged.values()}.get(name)


def _raise_unknown(name: str, what: str) -> NoReturn:
    packaged = list(packaged_configs())
    close = difflib.get_close_matches(name, packaged, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigFileError(f"{name}: {what}{hint}; packaged configs: {', '.join(packaged)} (`pbrl configs list`)")


def read_config_file(path: str) -> dict[str, Any]:
    """Parse a ``.toml``, ``.yaml`` or ``.yml`` file into a dict (no schema checks yet).

    ``path`` may name a packaged config (:func:`find_config_file`).

    Raises:
        ConfigFileError: the file is missing, has another suffix, or does not parse
            (the message has the parser's line and column).
    """
    path = find_config_file(path)
    kind = SUFFIXES.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise ConfigFileError(f"{path}: a config file must end in .toml, .yaml or .yml")
    if not os.path.isfile(path):
        raise ConfigFileError(f"{path}: no such config file" if not os.path.isdir(path) else f"{path} is a folder, not a config file")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 text ({exc})") from None
    if kind == "toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    else:
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml is a dependency
            raise ConfigFileError(f"{path}: YAML config files need PyYAML (pip install pyyaml), or use TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigFileError(f"{path}: not valid YAML: {problem}{where}") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: the top level must be a table of keys, got {type(data).__name__}")
    return data


def _line_of(text: str | None, key: str) -> str:
    """`` (line N)`` where ``key`` is first assigned in ``text`` (TOML ``key =`` or YAML ``key:``), else ``""``."""
    if not text:
        return ""
    pattern = re.compile(rf"^\s*(?:-\s*)?[\"']?{re.escape(key)}[\"']?\s*[=:]")
    for i, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return f" (line {i})"
    return ""


# -- the schema, from the dataclasses ------------------------------------------------


def config_class(agent: Any) -> type:
    """:class:`TrainConfig` for online agents, :class:`OfflineTrainConfig` for offline ones."""
    from pbrl.agents.registry import is_offline_agent

    if isinstance(agent, str) and is_offline_agent(agent):
        from .offline import OfflineTrainConfig

        return OfflineTrainConfig
    return TrainConfig


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null/omitted"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "a table"
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        args = typing.get_args(hint)
        return f"a list of {_describe(args[0])}s" if args and args[0] is not Ellipsis else "a list"
    if dataclasses.is_dataclass(hint):
        return "a table"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(hint, getattr(hint, "__name__", str(hint)))


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the type ``hint`` names (tables and lists checked one level deep by :func:`_convert`)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (dict, Mapping) or hint in (dict, Mapping) or dataclasses.is_dataclass(hint):
        return isinstance(value, Mapping)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    return True  # a type this checker does not know: the config's own checks decide


def _convert(value: Any, hint: Any, path: str, source: str, text: str | None) -> Any:
    """Check ``value`` against ``hint`` (recursively) and return it ready for the dataclass."""

    def wrong() -> ConfigFileError:
        last = path.rsplit(".", 1)[-1]
        return ConfigFileError(
            f"{source}: {path} must be {_describe(hint)}, got {value!r} ({type(value).__name__}){_line_of(text, last)}"
        )

    if not _fits(value, hint):
        raise wrong()
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            if _fits(value, arm):
                return _convert(value, arm, path, source, text)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, source, text, prefix=f"{path}.")
    if origin in (dict, Mapping):
        args = typing.get_args(hint)
        inner = args[1] if len(args) == 2 else Any
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigFileError(f"{source}: {path} keys must be strings, got {k!r}")
            out[k] = _convert(v, inner, f"{path}.{k}", source, text)
        return out
    if origin in (list, tuple, Sequence):
        args = typing.get_args(hint)
        inner = args[0] if args and args[0] is not Ellipsis else Any
        items = [_convert(v, inner, f"{path}[{i}]", source, text) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def _unknown(key: Any, valid: Sequence[str], source: str, text: str | None, prefix: str = "") -> ConfigFileError:
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    hint = f" (did you mean {prefix}{close[0]!r}?)" if close else ""
    return ConfigFileError(
        f"{source}: unknown key {prefix}{key!r}{hint}{_line_of(text, str(key))}; valid keys: {', '.join(sorted(valid))}"
    )


def _build(cls: type, data: Mapping[str, Any], source: str, text: str | None, prefix: str = ""):
    """An instance of dataclass ``cls`` from ``data``: every key known, every value of its field's type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown(key, names, source, text, prefix)
        kwargs[key] = _convert(value, hints.get(key, Any), f"{prefix}{key}", source, text)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigFileError(f"{source}: {prefix.rstrip('.') or 'config'}: {exc}") from None


# -- overrides ----------------------------------------------------------------------


def apply_sets(data: Mapping[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """``data`` with ``--set`` overrides applied: ``key=value`` or ``table.key=value``, values in TOML syntax."""
    from pbrl.agents.online.hyperparams import parse_value

    out = copy.deepcopy(dict(data))
    for item in sets or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigFileError(f"--set {item!r} must look like key=value or table.key=value, e.g. steps=50000 or hp.learning_rate=1e-3")
        parts = key.split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigFileError(f"--set {item!r}: {'.'.join(parts[: i + 1])} is not a table")
            node = child
        node[parts[-1]] = parse_value(raw.strip())
    return out


# -- experiments --------------------------------------------------------------------


@dataclass
class Experiment:
    """A checked config file: the run config, and the grid a sweep would run.

    Attributes:
        config: the run config (``TrainConfig`` or ``OfflineTrainConfig``).
        seeds: the file's ``seeds`` (None: not given).
        tasks: the file's ``tasks`` (online sweeps).
        datasets: the file's ``datasets`` (offline sweeps).
        source: the file it came from.
    """

    config: Any
    seeds: list[int] | None = None
    tasks: list[str] | None = None
    datasets: list[str] | None = None
    source: str = "<config>"

    @property
    def offline(self) -> bool:
        return config_class(self.config.agent) is not TrainConfig

    def resolve(self) -> dict[str, Any]:
        """The run config's own checks (see ``TrainConfig.resolve``); errors name the file."""
        try:
            return self.config.resolve()
        except ConfigError as exc:
            raise ConfigFileError(f"{self.source}: {exc}") from None

    def run_config(self) -> Any:
        """The config of one run (``pbrl train CONFIG``): a sweep's lists must hold one value each."""
        config = copy.deepcopy(self.config)
        for key, values, attr in (("seeds", self.seeds, "seed"), ("tasks", self.tasks, "env"), ("datasets", self.datasets, "dataset")):
            if values is None:
                continue
            if len(values) != 1:
                raise ConfigFileError(
                    f"{self.source}: {key} lists {len(values)} values: `pbrl train` trains one run; "
                    f"run the grid with `pbrl sweep {self.source}`, or pick one with --{attr} / --set {attr}=..."
                )
            setattr(config, attr, values[0])
        return config

    def cells(self, seeds: Sequence[int] | None = None, tasks: Sequence[str] | None = None, datasets: Sequence[str] | None = None) -> list[Any]:
        """The sweep's grid: one run config per (task or dataset, seed), in that order.

        Arguments given here win over the file's ``seeds`` / ``tasks`` / ``datasets``;
        without any, the grid is the config itself.
        """
        seeds = list(seeds if seeds is not None else (self.seeds or [self.config.seed]))
        if self.offline:
            if tasks:
                raise ConfigFileError(
                    f"{self.source}: {self.config.agent} is an offline agent: its task is its dataset's; sweep over datasets instead"
                )
            axis, values = "dataset", list(datasets if datasets is not None else (self.datasets or [self.config.dataset]))
        else:
            if datasets:
                raise ConfigFileError(f"{self.source}: {self.config.agent} is an online agent: sweep over tasks, not datasets")
            axis, values = "env", list(tasks if tasks is not None else (self.tasks or [self.config.env]))
        out = []
        for value in values:
            for seed in seeds:
                cell = copy.deepcopy(self.config)
                setattr(cell, axis, value)
                cell.seed = int(seed)
                out.append(cell)
        return out


def _int_list(value: Any, key: str, source: str, text: str | None) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ConfigFileError(f"{source}: {key} must be a non-empty list of integers >= 0, got {value!r}{_line_of(text, key)}")
    if len(set(value)) != len(value):
        raise ConfigFileError(f"{source}: {key} repeats a seed: {value!r}{_line_of(text, key)}")
    return list(value)


def _str_list(value: Any, key: str, source: str, text: str | None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigFileError(f"{source}: {key} must be a non-empty list of strings, got {value!r}{_line_of(text, key)}")
    return list(value)


def build_experiment(data: Mapping[str, Any], source: str = "<config>", text: str | None = None) -> Experiment:
    """Check a config file's table against the schema and build the :class:`Experiment`.

    Raises:
        ConfigFileError: naming the unknown key or the key path of a wrong type.
    """
    data = dict(data)
    for alias, target in ALIASES.items():
        if alias in data:
            if target in data:
                raise ConfigFileError(f"{source}: give {alias!r} or {target!r}, not both")
            data[target] = data.pop(alias)
    agent = data.get("agent", TrainConfig.agent)
    if not isinstance(agent, str):
        raise ConfigFileError(f"{source}: agent must be a string, got {agent!r}{_line_of(text, 'agent')}")
    cls = config_class(agent)
    extras = {k: data.pop(k) for k in list(data) if k in EXTRA_KEYS}
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in names:
            raise _unknown(key, names + list(EXTRA_KEYS) + list(ALIASES), source, text)
    config = _build(cls, data, source, text)
    exp = Experiment(config=config, source=source)
    if "seeds" in extras:
        exp.seeds = _int_list(extras["seeds"], "seeds", source, text)
        if "seed" in data:
            raise ConfigFileError(f"{source}: give seed (one run) or seeds (a sweep), not both")
    if "tasks" in extras:
        exp.tasks = _str_list(extras["tasks"], "tasks", source, text)
    if "datasets" in extras:
        exp.datasets = _str_list(extras["datasets"], "datasets", source, text)
    offline = cls is not TrainConfig
    if offline and exp.tasks:
        raise ConfigFileError(f"{source}: tasks: {agent} is an offline agent whose task is its dataset's; use datasets = [...]")
    if not offline and exp.datasets:
        raise ConfigFileError(f"{source}: datasets: {agent} is an online agent; use tasks = [...]")
    return exp


def load_experiment(
    path: str, sets: Sequence[str] = (), overrides: Mapping[str, Any] | None = None
) -> Experiment:
    """Read, override and check a config file (no side effects; :meth:`Experiment.resolve` runs the deeper checks).

    Args:
        path: a ``.toml``, ``.yaml`` or ``.yml`` file, or a packaged config's name (``sac``).
        sets: ``--set key=value`` overrides.
        overrides: values of the command line's options (they win over the file and
            ``sets``); a table (``hp``, ``pref``, ...) is merged into the file's rather than replacing it.
    """
    path = find_config_file(path)
    data = read_config_file(path)
    text = None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:  # pragma: no cover - it was just read
        pass
    data = apply_sets(data, sets)

    def replaced(key: str) -> None:
        """``key`` was set over the file: drop its other spellings and the sweep list it picks from."""
        field_name = ALIASES.get(key, key)
        for other in {field_name, *(a for a, t in ALIASES.items() if t == field_name)} - {key}:
            data.pop(other, None)
        data.pop(LIST_OF.get(field_name, ""), None)  # --seed N replaces the file's seeds, --env its tasks
        if field_name == "seeds":
            data.pop("seed", None)  # and --set seeds=[...] the file's seed

    for item in sets or ():
        key = item.partition("=")[0].strip()
        if "." not in key:
            replaced(key)
    for key, value in (overrides or {}).items():
        key = ALIASES.get(key, key)
        if isinstance(data.get(key), dict) and isinstance(value, Mapping):  # hp, pref, env_kwargs: merged
            data[key] = {**data[key], **value}
            continue
        replaced(key)
        data[key] = value
    return build_experiment(data, source=path, text=text)
