"""Parametric mode (Language to Rewards): JSON weights for the task card's documented terms.

Instead of code, the proposer answers with a JSON object::

    {"terms": {"forward": 1.5, "healthy": 0.5, "ctrl": 1.0},
     "targets": [{"quantity": "torso_height", "kind": "gaussian", "target": 0.6,
                  "scale": 0.1, "weight": 0.5}]}

* ``terms``: a multiplier for each of the card's reward terms (the values in
  ``info["reward_terms"]``, already weighted as the task defines them): 1 keeps a
  term, 0 drops it; missing terms count as 0. Weights lie in [-100, 100].
* ``targets`` (optional, at most 8): ``weight * f(info[quantity])`` with f one of
  ``linear`` (the quantity), ``abs`` (-|q - target|), ``square`` (-(q - target)²),
  ``gaussian`` (exp(-((q - target) / scale)²)).

:func:`parse_params` finds the JSON (a fenced ``json`` block, else the first
``{...}`` object of the answer) and validates it against the card
(:class:`~pbrl.synthesis.errors.InvalidParameters` for anything else: unknown keys,
terms or quantities, non-numbers, NaN, out-of-range values, all-zero weights).
:func:`compile_params` turns validated parameters into a reward program — written
by trusted code from numbers only — that then goes through exactly the same static
check, sandbox and training as free code (with the ``"full"`` info view, which
includes the task's reward terms).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameters
from .extraction import code_blocks

__all__ = ["KINDS", "RewardParams", "Target", "compile_params", "parse_params", "validate_params"]

#: shapes of a target term
KINDS = ("linear", "abs", "square", "gaussian")
MAX_WEIGHT = 100.0
MAX_TARGETS = 8
MAX_TARGET_VALUE = 1e3


@dataclass(frozen=True)
class Target:
    """``weight * f(info[quantity])`` (see the module docstring)."""

    quantity: str
    kind: str
    weight: float
    target: float = 0.0
    scale: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.quantity}_{self.kind}"


@dataclass(frozen=True)
class RewardParams:
    """Validated parametric reward: term multipliers and target terms."""

    terms: dict[str, float]
    targets: tuple[Target, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": dict(self.terms),
            "targets": [
                {"quantity": t.quantity, "kind": t.kind, "weight": t.weight, "target": t.target, "scale": t.scale}
                for t in self.targets
            ],
        }


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameters(f"{what} must be a number, got {json.dumps(value)[:40]}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidParameters(f"{what} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return value


def _find_json(text: str) -> str:
    for lang, code in code_blocks(text):
        if lang in ("json", "") and code.strip().startswith("{"):
            return code
    start = text.find("{")
    if start < 0:
        raise InvalidParameters("the answer holds no JSON object")
    depth, in_string, escape = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise InvalidParameters("the answer's JSON object is not closed")


def validate_params(data: Any, card: Any) -> RewardParams:
    """Check parsed JSON against the card; see the module docstring."""
    if not isinstance(data, dict):
        raise InvalidParameters(f"the parameters must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"terms", "targets"})
    if unknown:
        raise InvalidParameters(f"unknown keys {unknown}; only 'terms' and 'targets' are allowed")
    terms_in = data.get("terms", {})
    if not isinstance(terms_in, dict):
        raise InvalidParameters("'terms' must be an object mapping term names to weights")
    names = list(card.term_names)
    bad = sorted(set(terms_in) - set(names))
    if bad:
        raise InvalidParameters(f"unknown reward terms {bad}; the task's terms are {names}")
    terms = {name: _number(terms_in.get(name, 0.0), f"weight of term {name!r}", -MAX_WEIGHT, MAX_WEIGHT) for name in names}
    targets_in = data.get("targets", [])
    if not isinstance(targets_in, list):
        raise InvalidParameters("'targets' must be a list")
    if len(targets_in) > MAX_TARGETS:
        raise InvalidParameters(f"at most {MAX_TARGETS} targets are allowed, got {len(targets_in)}")
    targets = []
    seen = set()
    for i, t in enumerate(targets_in):
        if not isinstance(t, dict):
            raise InvalidParameters(f"target {i} must be an object")
        extra = sorted(set(t) - {"quantity", "kind", "target", "scale", "weight"})
        if extra:
            raise InvalidParameters(f"target {i}: unknown keys {extra}")
        quantity = t.get("quantity")
        if quantity not in card.quantities:
            raise InvalidParameters(f"target {i}: unknown quantity {quantity!r}; the task's quantities are {list(card.quantities)}")
        kind = t.get("kind", "linear")
        if kind not in KINDS:
            raise InvalidParameters(f"target {i}: kind must be one of {list(KINDS)}, got {kind!r}")
        target = _number(t.get("target", 0.0), f"target {i} 'target'", -MAX_TARGET_VALUE, MAX_TARGET_VALUE)
        scale = _number(t.get("scale", 1.0), f"target {i} 'scale'", 1e-6, MAX_TARGET_VALUE)
        weight = _number(t.get("weight", 1.0), f"target {i} 'weight'", -MAX_WEIGHT, MAX_WEIGHT)
        item = Target(quantity, kind, weight, target, scale)
        if item.name in seen:
            raise InvalidParameters(f"target {i}: {kind} of {quantity!r} is given twice")
        seen.add(item.name)
        targets.append(item)
    if all(w == 0.0 for w in terms.values()) and all(t.weight == 0.0 for t in targets):
        raise InvalidParameters("every weight is zero: the reward would be constant")
    return RewardParams(terms=terms, targets=tuple(targets))


def _refuse_constant(name: str) -> Any:
    raise InvalidParameters(f"{name} is not allowed in the parameters (finite numbers only)")


def parse_params(text: str, card: Any) -> RewardParams:
    """Find, parse and validate the JSON parameters in an answer.

    Raises:
        InvalidParameters: no JSON, malformed JSON, or parameters the card does not allow.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameters("the answer is empty")
    raw = _find_json(text)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidParameters(f"the parameters are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InvalidParameters("the parameters are nested too deeply") from None
    return validate_params(data, card)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def compile_params(params: RewardParams) -> str:
    """The reward program of validated parameters (numbers and card names only)."""
    lines = [
        "import numpy as np",
        "",
        "# Written by pbrl's parametric mode (Language to Rewards) from validated parameters.",
        "",
        "def compute_reward(obs, action, next_obs, info):",
        "    task_terms = info[\"reward_terms\"]",
        "    terms = {}",
    ]
    for name, weight in params.terms.items():
        if weight != 0.0:
            key = name if _IDENT.match(name) else f"term{len(lines)}"
            lines.append(f"    terms[{key!r}] = {weight!r} * task_terms[{name!r}]")
    for t in params.targets:
        if t.weight == 0.0:
            continue
        q = f"np.asarray(info[{t.quantity!r}], dtype=np.float64)"
        if t.kind == "linear":
            expr = q
        elif t.kind == "abs":
            expr = f"-np.abs({q} - {t.target!r})"
        elif t.kind == "square":
            expr = f"-np.square({q} - {t.target!r})"
        else:
            expr = f"np.exp(-np.square(({q} - {t.target!r}) / {t.scale!r}))"
        lines.append(f"    terms[{t.name!r}] = {t.weight!r} * {expr}")
    lines += [
        "    reward = np.zeros(len(obs))",
        "    for value in terms.values():",
        "        reward = reward + value",
        "    return reward, terms",
        "",
    ]
    return "\n".join(lines)
