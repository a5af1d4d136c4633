"""rl-baselines3-zoo's hyperparameter YAML (``hyperparams/ppo.yml``, ``sac.yml``) as pbrl overrides.

``pbrl train --hp-file ppo.yml`` reads the table of the task (``HalfCheetah-v3`` ... for
``pbrl/HalfCheetah-v5``: the same name, any version; or ``--hp-file ppo.yml:HalfCheetah-v3``)
and maps rl-zoo's keys onto pbrl's hyperparameters: the ones both have keep their name;
``normalize`` becomes ``normalize_obs`` / ``normalize_reward``; ``policy_kwargs`` (a string of
``dict(...)``, read with :mod:`ast`, never evaluated) gives ``net_arch``, ``activation``,
``log_std_init`` and ``ortho_init``; ``lin_<x>`` schedules are pbrl's too. Keys pbrl has no
counterpart for (frame stacks, env wrappers, callbacks, separate actor and critic sizes) are
refused, each named, before any work.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any, Mapping

from .hyperparams import HYPERPARAMS, HyperparameterError

#: rl-zoo keys that say nothing pbrl needs (the policy class is pbrl's MLP policy)
_IGNORED = {"policy"}
#: activation classes rl-zoo writes in policy_kwargs -> pbrl's activation names
_ACTIVATIONS = {"nn.Tanh": "tanh", "nn.ReLU": "relu", "nn.ELU": "elu", "nn.LeakyReLU": "leaky_relu"}
_POLICY_KEYS = {"net_arch", "activation_fn", "log_std_init", "ortho_init"}


def _task_name(env_id: str) -> str:
    return re.sub(r"-v\d+$", "", env_id.split("/")[-1])


def read_rlzoo(path: str, agent: str, env_id: str) -> dict[str, Any]:
    """pbrl hyperparameter overrides of ``agent`` for ``env_id`` from rl-zoo's YAML at ``path``
    (``path:KEY`` picks the table ``KEY``). Raises :class:`HyperparameterError` naming what it cannot take."""
    import yaml

    file, key = path, ""
    if not os.path.isfile(path) and ":" in path:
        file, key = path.rsplit(":", 1)
    try:
        with open(file, encoding="utf-8") as f:
            tables = yaml.load(f, Loader=yaml.SafeLoader)  # rl-zoo writes !!float 1e6: the safe loader reads it
    except OSError as exc:
        raise HyperparameterError(f"--hp-file {file}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise HyperparameterError(f"--hp-file {file}: not valid YAML ({exc})") from None
    if not isinstance(tables, Mapping):
        raise HyperparameterError(f"--hp-file {file}: an rl-zoo file maps env ids to tables, got {type(tables).__name__}")
    if key:
        if key not in tables:
            raise HyperparameterError(f"--hp-file {file}: no table {key!r}; it has {', '.join(map(str, tables))}")
    else:
        matches = [k for k in tables if _task_name(str(k)) == _task_name(env_id)]
        if len(matches) != 1:
            found = "none" if not matches else ", ".join(matches)
            raise HyperparameterError(
                f"--hp-file {file}: {found} of its tables match {env_id} by name; pick one with --hp-file {file}:KEY "
                f"(tables: {', '.join(map(str, tables))})"
            )
        key = matches[0]
    table = tables[key]
    if not isinstance(table, Mapping):
        raise HyperparameterError(f"--hp-file {file}:{key}: a table of hyperparameters, got {type(table).__name__}")
    return convert(dict(table), agent, f"--hp-file {file}:{key}")


def convert(table: Mapping[str, Any], agent: str, where: str = "rl-zoo table") -> dict[str, Any]:
    """rl-zoo's keys and values -> pbrl's, checked against ``agent``'s declarations."""
    known = {f for f in HYPERPARAMS[agent].__dataclass_fields__}
    out: dict[str, Any] = {}
    refused: list[str] = []
    for k, v in table.items():
        if k in _IGNORED:
            continue
        if k == "normalize":
            out.update(_normalize(v, where))
        elif k == "policy_kwargs":
            out.update(_policy_kwargs(v, where))
        elif k in known:
            out[k] = v
        else:
            refused.append(k)
    if refused:
        raise HyperparameterError(
            f"{where}: pbrl's {agent} has no counterpart for {', '.join(map(repr, refused))}; drop them from the file "
            "(or give the pbrl hyperparameters they stand for with --hp; pbrl train --list-hp shows them)"
        )
    return HYPERPARAMS[agent].check_values(out, what=f"{where} key")


def _normalize(value: Any, where: str) -> dict[str, bool]:
    if isinstance(value, bool):
        return {"normalize_obs": value, "normalize_reward": value}
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise HyperparameterError(f"{where}: normalize must be true/false or a dict of norm_obs/norm_reward, got {value!r}") from None
    if isinstance(value, Mapping) and set(value) <= {"norm_obs", "norm_reward", "gamma"}:
        return {"normalize_obs": bool(value.get("norm_obs", True)), "normalize_reward": bool(value.get("norm_reward", True))}
    raise HyperparameterError(f"{where}: normalize must be true/false or a dict of norm_obs/norm_reward, got {value!r}")


def _policy_kwargs(text: Any, where: str) -> dict[str, Any]:
    """``dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]))``."""
    try:
        call = ast.parse(str(text).strip(), mode="eval").body
    except SyntaxError:
        raise HyperparameterError(f"{where}: policy_kwargs {text!r} is not a dict(...) expression") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "dict" and not call.args):
        raise HyperparameterError(f"{where}: policy_kwargs must look like dict(key=value, ...), got {text!r}")
    out: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg not in _POLICY_KEYS:
            raise HyperparameterError(f"{where}: policy_kwargs {kw.arg!r} has no pbrl counterpart (pbrl takes {', '.join(sorted(_POLICY_KEYS))})")
        if kw.arg == "activation_fn":
            name = ast.unparse(kw.value)
            if name not in _ACTIVATIONS:
                raise HyperparameterError(f"{where}: activation_fn {name} is not one of {', '.join(_ACTIVATIONS)}")
            out["activation"] = _ACTIVATIONS[name]
            continue
        try:
            value = _literal(kw.value)
        except ValueError:
            raise HyperparameterError(f"{where}: policy_kwargs {kw.arg}={ast.unparse(kw.value)} is not a plain value") from None
        if kw.arg == "net_arch" and isinstance(value, dict):
            arms = [value.get(k) for k in ("pi", "vf", "qf") if k in value]
            if not arms or any(a != arms[0] for a in arms) or set(value) - {"pi", "vf", "qf"}:
                raise HyperparameterError(f"{where}: net_arch {value} has different actor and critic sizes; pbrl's net_arch is one list for both")
            value = arms[0]
        out[kw.arg] = value
    return out


def _literal(node: ast.AST) -> Any:
    """A literal, or ``dict(k=literal, ...)`` (rl-zoo's spelling of a dict)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    return ast.literal_eval(node)


__all__ = ["convert", "read_rlzoo"]
