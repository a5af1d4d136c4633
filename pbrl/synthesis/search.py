"""The offline proposer: reward search without a language model.

This is a search procedure, not an LLM. It writes candidate reward programs from
a library of terms built out of the task card's named quantities, composes them,
and mutates the best candidate found so far using the reflection statistics — and
its candidates go through exactly the same extraction, static check, sandbox,
training, trusted evaluation and reflection as an LLM's.

**The term library** (:func:`term_library`): each term is available when the card
names the quantity it reads (``action`` is always there):

============  ===================================  =====================================
term          reads                                shapes (temperature ``scale``)
============  ===================================  =====================================
progress      ``x_velocity``                       linear, tanh, clip
lateral       ``y_velocity``                       abs, square (a cost)
alive         ``healthy`` / ``is_healthy`` (or a   linear (a bonus per step)
              constant, if the task terminates)
upright       any ``*_angle`` quantity             square, abs (costs), exp (a bonus)
centre        ``cart_position``                    square (a cost)
approach      ``distance``                         linear (a cost), exp (a bonus)
arrival       ``distance`` and the card's          linear (a bonus within
              ``success_distance``                 ``success_distance``)
control       ``action``                           square, abs (costs)
============  ===================================  =====================================

**The search.** The first iteration proposes the composition of every available
term with generic default weights (not the task's weights), plus random
variations of it (weights scaled log-uniformly in [1/4, 4], terms dropped, shapes
changed). Later iterations start from the best candidate so far; the first child
follows Eureka's reflection advice on its statistics — a task score near zero:
start over from a fresh random composition; a dominant term: scale it down; a
flat term: rescale it, change its shape or drop it — and the other children are
random mutations of it (log-normal weight noise, a shape change, a term added or
dropped; the primary term — progress or approach — is never dropped). Duplicate
candidates are skipped. All randomness comes from ``seed``.

In parametric mode the genes are multipliers of the card's reward terms instead,
mutated the same way, and the proposal is the JSON of ``params.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .proposers import Proposal, ProposalRequest, Proposer

__all__ = ["Gene", "OfflineProposer", "TermSpec", "render_program", "term_library"]


@dataclass(frozen=True)
class TermSpec:
    """A term the library can use for a task."""

    kind: str
    shapes: tuple[str, ...]
    weight: float
    scale: float
    primary: bool = False
    constant: bool = False  # a term that cannot vary much (alive bonus): never 'flat'-mutated


@dataclass
class Gene:
    """One term of a candidate: which, how strongly, in which shape."""

    kind: str
    weight: float
    shape: str
    scale: float


def term_library(card: Any) -> dict[str, TermSpec]:
    """The terms available for ``card`` (see the module docstring)."""
    q = card.quantities
    lib: dict[str, TermSpec] = {}
    if "x_velocity" in q:
        lib["progress"] = TermSpec("progress", ("linear", "tanh", "clip"), 1.0, 3.0, primary=True)
    if "y_velocity" in q:
        lib["lateral"] = TermSpec("lateral", ("abs", "square"), 0.1, 1.0)
    if "healthy" in q or "is_healthy" in q or not str(card.termination).lower().startswith("never"):
        lib["alive"] = TermSpec("alive", ("linear",), 1.0, 1.0, constant=True)
    angles = [k for k in q if k.endswith("_angle")]
    if angles:
        lib["upright"] = TermSpec("upright", ("square", "abs", "exp"), 0.5, 0.2)
    if "cart_position" in q:
        lib["centre"] = TermSpec("centre", ("square",), 0.1, 1.0)
    if "distance" in q:
        lib["approach"] = TermSpec("approach", ("linear", "exp"), 1.0, 0.1, primary=True)
        if "success_distance" in getattr(card, "extra", {}):
            lib["arrival"] = TermSpec("arrival", ("linear",), 1.0, float(card.extra["success_distance"]))
    lib["control"] = TermSpec("control", ("square", "abs"), 0.1, 1.0)
    return lib


def _expr(card: Any, gene: Gene) -> str:
    """The numpy expression of a gene's term (before its weight)."""
    q = card.quantities
    s = repr(float(gene.scale))
    if gene.kind == "progress":
        v = 'info["x_velocity"]'
        return {"linear": v, "tanh": f"{s} * np.tanh({v} / {s})", "clip": f"np.clip({v}, -{s}, {s})"}[gene.shape]
    if gene.kind == "lateral":
        v = 'info["y_velocity"]'
        return {"abs": f"-np.abs({v})", "square": f"-np.square({v})"}[gene.shape]
    if gene.kind == "alive":
        key = "healthy" if "healthy" in q else ("is_healthy" if "is_healthy" in q else None)
        return f'np.asarray(info["{key}"], dtype=np.float64)' if key else "np.ones(len(obs))"
    if gene.kind == "upright":
        angles = [k for k in q if k.endswith("_angle")]
        a = " + ".join(f'np.square(info["{k}"])' for k in angles)
        if gene.shape == "square":
            return f"-({a})"
        if gene.shape == "abs":
            return "-(" + " + ".join(f'np.abs(info["{k}"])' for k in angles) + ")"
        return f"np.exp(-({a}) / ({s} ** 2))"
    if gene.kind == "centre":
        return '-np.square(info["cart_position"])'
    if gene.kind == "approach":
        d = 'info["distance"]'
        return {"linear": f"-{d}", "exp": f"np.exp(-{d} / {s})"}[gene.shape]
    if gene.kind == "arrival":
        return f'(info["distance"] < {s}).astype(np.float64)'
    if gene.kind == "control":
        return {"square": "-np.sum(np.square(action), axis=1)", "abs": "-np.sum(np.abs(action), axis=1)"}[gene.shape]
    raise ValueError(f"unknown term kind {gene.kind!r}")


def render_program(card: Any, genes: list[Gene], note: str = "") -> str:
    """The reward program of a gene list (trusted code writing numbers and card names only)."""
    lines = [
        "import numpy as np",
        "",
        "# Written by pbrl's offline proposer (a search procedure over terms of the task card; not a language model).",
    ]
    if note:
        lines.append(f"# {note}")
    lines += ["", "", "def compute_reward(obs, action, next_obs, info):", "    terms = {}"]
    for g in genes:
        lines.append(f'    terms["{g.kind}"] = {float(g.weight)!r} * ({_expr(card, g)})')
    lines.append("    reward = " + " + ".join(f'terms["{g.kind}"]' for g in genes))
    lines.append("    return reward, terms")
    return "\n".join(lines) + "\n"


def _key(genes: list[Gene] | dict[str, float]) -> str:
    if isinstance(genes, dict):
        data = sorted((k, round(v, 6)) for k, v in genes.items())
    else:
        data = sorted((g.kind, round(g.weight, 6), g.shape, round(g.scale, 6)) for g in genes)
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


class OfflineProposer(Proposer):
    """The offline search (see the module docstring).

    Args:
        card: the task card.
        mode: ``"code"`` or ``"params"``.
        seed: seeds every random choice (with the iteration and round).
    """

    origin = "offline-search"

    def __init__(self, card: Any, mode: str = "code", seed: int = 0):
        if mode not in ("code", "params"):
            raise ValueError(f"mode must be 'code' or 'params', got {mode!r}")
        self.card = card
        self.mode = mode
        self.seed = int(seed)
        self.library = term_library(card)
        self.seen: set[str] = set()

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin, "mode": self.mode, "seed": self.seed, "library": sorted(self.library)}

    def state(self) -> dict[str, Any]:
        return {"seen": sorted(self.seen)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.seen = set(state.get("seen", []))

    # -- code mode ------------------------------------------------------------------------

    def base(self) -> list[Gene]:
        return [Gene(k, s.weight, s.shapes[0], s.scale) for k, s in self.library.items()]

    def _random_composition(self, rng: np.random.Generator) -> list[Gene]:
        genes = []
        for k, s in self.library.items():
            if not s.primary and rng.random() < 0.3:
                continue
            genes.append(Gene(k, s.weight * float(np.exp(rng.uniform(math.log(0.25), math.log(4.0)))),
                              str(rng.choice(s.shapes)), s.scale * float(np.exp(rng.uniform(-0.7, 0.7)))))
        return genes

    def _mutate(self, genes: list[Gene], rng: np.random.Generator) -> tuple[list[Gene], list[str]]:
        genes = [Gene(**asdict(g)) for g in genes]
        notes: list[str] = []
        for _ in range(int(rng.integers(1, 3))):
            op = rng.choice(["scale", "scale", "shape", "add", "drop"])
            if op == "scale" and genes:
                g = genes[int(rng.integers(len(genes)))]
                factor = float(np.exp(rng.normal(0.0, 0.6)))
                g.weight *= factor
                notes.append(f"scale {g.kind} x{factor:.2f}")
            elif op == "shape" and genes:
                g = genes[int(rng.integers(len(genes)))]
                shapes = [s for s in self.library[g.kind].shapes if s != g.shape]
                if shapes:
                    g.shape = str(rng.choice(shapes))
                    g.scale = self.library[g.kind].scale * float(np.exp(rng.uniform(-0.7, 0.7)))
                    notes.append(f"shape {g.kind} -> {g.shape} (scale {g.scale:.3g})")
            elif op == "add":
                missing = [k for k in self.library if k not in {g.kind for g in genes}]
                if missing:
                    k = str(rng.choice(missing))
                    s = self.library[k]
                    genes.append(Gene(k, s.weight, s.shapes[0], s.scale))
                    notes.append(f"add {k}")
            elif op == "drop":
                droppable = [g for g in genes if not self.library[g.kind].primary]
                if droppable and len(genes) > 1:
                    g = droppable[int(rng.integers(len(droppable)))]
                    genes.remove(g)
                    notes.append(f"drop {g.kind}")
        return genes, notes

    def _reflect(self, genes: list[Gene], feedback: dict[str, Any] | None, rng: np.random.Generator) -> tuple[list[Gene], list[str]]:
        """Eureka's advice applied to the parent's statistics."""
        if not feedback:
            return self._mutate(genes, rng)
        observations = " ".join(feedback.get("observations", []))
        if "task score is near zero" in observations:
            return self._random_composition(rng), ["rewrite: the task score was near zero"]
        genes = [Gene(**asdict(g)) for g in genes]
        notes: list[str] = []
        stats = feedback.get("terms", {})
        for g in list(genes):
            st = stats.get(g.kind)
            if not st:
                continue
            spec = self.library[g.kind]
            if st.get("dominant"):
                g.weight *= 0.3
                notes.append(f"rescale dominant {g.kind} x0.3")
            elif st.get("flat") and not spec.constant:
                choice = rng.choice(["rescale", "shape", "drop"] if not spec.primary else ["rescale", "shape"])
                if choice == "rescale":
                    g.weight *= 3.0
                    notes.append(f"rescale flat {g.kind} x3")
                elif choice == "shape" and len(spec.shapes) > 1:
                    g.shape = str(rng.choice([s for s in spec.shapes if s != g.shape]))
                    notes.append(f"reshape flat {g.kind} -> {g.shape}")
                elif choice == "drop" and len(genes) > 1:
                    genes.remove(g)
                    notes.append(f"drop flat {g.kind}")
        if not notes:
            return self._mutate(genes, rng)
        return genes, notes

    # -- params mode ----------------------------------------------------------------------

    def _params_base(self) -> dict[str, float]:
        return {t: 1.0 for t in self.card.term_names}

    def _params_mutate(self, weights: dict[str, float], feedback: dict[str, Any] | None, rng, guided: bool):
        weights = dict(weights)
        notes = []
        stats = (feedback or {}).get("terms", {})
        if guided and stats:
            for name, st in stats.items():
                if name in weights and st.get("dominant"):
                    weights[name] *= 0.3
                    notes.append(f"rescale dominant {name} x0.3")
                elif name in weights and st.get("flat"):
                    weights[name] *= 3.0
                    notes.append(f"rescale flat {name} x3")
        if not notes:
            for name in rng.choice(list(weights), size=min(len(weights), int(rng.integers(1, 3))), replace=False):
                factor = float(np.exp(rng.normal(0.0, 0.6)))
                weights[str(name)] = float(np.clip(weights[str(name)] * factor, -100.0, 100.0))
                notes.append(f"scale {name} x{factor:.2f}")
        return weights, notes

    # -- proposing ------------------------------------------------------------------------

    def propose(self, request: ProposalRequest) -> list[Proposal]:
        rng = np.random.default_rng([self.seed, int(request.iteration), int(request.round), 7])
        best = request.best or {}
        feedback = (best.get("reflection") if best else None) or request.feedback
        out: list[Proposal] = []
        tries = 0
        while len(out) < request.n and tries < 50 * max(1, request.n):
            tries += 1
            first = not out
            if self.mode == "params":
                parent = best.get("params_weights") or self._params_base()
                if request.iteration == 0 and request.round == 0 and first and not self.seen:
                    weights, notes = dict(parent), ["the library's default weights"]
                elif request.iteration == 0 and not best:
                    weights = {t: float(np.exp(rng.uniform(math.log(0.25), math.log(4.0)))) for t in self.card.term_names}
                    notes = ["random weights"]
                else:
                    weights, notes = self._params_mutate(parent, feedback, rng, guided=first)
                key = _key(weights)
                if key in self.seen:
                    continue
                self.seen.add(key)
                text = "```json\n" + json.dumps({"terms": {k: round(v, 6) for k, v in weights.items()}}, indent=2) + "\n```\n"
                out.append(Proposal(text, self.origin, {"params_weights": weights, "mutations": notes,
                                                        "parent": best.get("id")}))
                continue
            parent_genes = [Gene(**g) for g in best["genes"]] if best.get("genes") else self.base()
            if request.iteration == 0 and request.round == 0 and first and not self.seen:
                genes, notes = self.base(), ["the library's default composition"]
            elif not best.get("genes"):
                genes, notes = (self._mutate(self.base(), rng) if rng.random() < 0.5 else
                                (self._random_composition(rng), ["random composition"]))
            elif first:
                genes, notes = self._reflect(parent_genes, feedback, rng)
            else:
                genes, notes = self._mutate(parent_genes, rng)
            if not genes:
                continue
            key = _key(genes)
            if key in self.seen:
                continue
            self.seen.add(key)
            parent = best.get("id")
            note = (f"parent {parent}; " if parent else "") + "; ".join(notes)
            program = render_program(self.card, genes, note)
            out.append(Proposal("```python\n" + program + "```\n", self.origin,
                                {"genes": [asdict(g) for g in genes], "mutations": notes, "parent": parent}))
        return out
