"""Imports point one way — envs ← core ← agents ← runs/cli — with no cycle between packages,
counting the imports inside functions too (read from the source, nothing is imported)."""

from __future__ import annotations

import ast
import os
from collections import defaultdict
from repo_support import ROOT

FOLDERS = {"pbrl": "pbrl", "pbrl.envs": "envs", "pbrl.agents": "agents"}
#: each package's layer; a module imports only from its own layer or lower ones
LAYERS = {
    "pbrl": 0, "pbrl.envs": 0,
    "pbrl.fileio": 1, "pbrl.provenance": 1, "pbrl.settings": 1, "pbrl.phases": 1, "pbrl.preferences": 1, "pbrl.teachers": 1,
    "pbrl.rewards": 1, "pbrl.sandbox": 1, "pbrl.llm": 1, "pbrl.evaluation": 1, "pbrl.datasets": 1, "pbrl.web": 1,
    "pbrl.agents": 2,
    "pbrl.runs": 3, "pbrl.synthesis": 3, "pbrl.cli": 3, "pbrl.claims": 3, "pbrl.__main__": 3,
}  # fmt: skip


def modules() -> dict[str, str]:
    """Dotted name (as installed) -> source file, for pbrl/, envs/ and agents/."""
    found = {}
    for package, folder in FOLDERS.items():
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), base)[:-3].replace(os.sep, ".")
                name = package if rel == "__init__" else f"{package}.{rel.removesuffix('.__init__')}"
                found[name] = os.path.join(dirpath, f)
    return found


def unit(name: str) -> str:
    """The package a module belongs to: ``pbrl.X`` (``pbrl.agents.X`` within agents/)."""
    parts = name.split(".")
    return ".".join(parts[:3]) if parts[1:2] == ["agents"] and len(parts) > 2 else ".".join(parts[:2])


def layer(name: str) -> int:
    u = unit(name)
    return LAYERS[u] if u in LAYERS else LAYERS[".".join(u.split(".")[:2])]


def imports(mods: dict[str, str]):
    """(importer, imported, line) for every import of a pbrl module, at any depth of the code."""
    for name, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        package = name.split(".") if path.endswith("__init__.py") else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) if node.level else node.module
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                if target in mods:
                    yield name, target, node.lineno


def test_every_package_has_a_layer():
    assert not [n for n in modules() if unit(n) not in LAYERS and ".".join(unit(n).split(".")[:2]) not in LAYERS]


def test_imports_point_down_the_layers():
    mods = modules()
    upward = [f"{a}:{line} imports {b}" for a, b, line in imports(mods) if layer(b) > layer(a)]
    assert not upward, "\n".join(upward)


def test_no_import_cycle_between_packages():
    mods = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for a, b, line in imports(mods):
        if unit(a) != unit(b):
            graph[unit(a)].add(unit(b))
            where.setdefault((unit(a), unit(b)), f"{a}:{line} imports {b}")

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return False

    cycles = [where[(a, b)] for a in list(graph) for b in graph[a] if reaches(b, a)]
    assert not cycles, "\n".join(sorted(cycles))
