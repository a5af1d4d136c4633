"""The static check: an AST allow-list for reward programs.

A reward program may use Python's expressions and simple statements, numpy's array
maths and ``math`` — nothing else (the allow-lists are in ``policy.py``).
:func:`check_program` parses the source and walks every node (iteratively, so deep
nesting cannot blow the stack):

* **node types**: only those in :data:`ALLOWED_NODES` — no ``class``, ``while``,
  ``try``, ``with``, ``global``/``nonlocal``, ``yield``/``await``/``async``, ``del``,
  ``match``;
* **imports**: ``numpy``, ``numpy.linalg``, ``numpy.random`` and ``math`` (``import
  numpy as np``, ``from numpy import sum``, ``from numpy.linalg import norm``); no
  other module or submodule, no relative or star imports;
* **modules are not values**: an imported module may only start an attribute chain
  that ends on an allowed function or constant (``np.sum``, ``np.linalg.norm``,
  ``np.random.default_rng``, ``math.pi``); ``np.ma``, ``np.tests``, ``np.lib``,
  ``np.random.mtrand`` ... are refused by name, and ``m = np`` or ``f(np.linalg)``
  (which would hide a chain from this check) are refused;
* **names**: a Python builtin is allowed only if it is in :data:`ALLOWED_BUILTINS`
  (so no ``eval``, ``exec``, ``compile``, ``open``, ``getattr``, ``setattr``,
  ``globals``, ``vars``, ``__import__``, ``type``, ``print``, ...); no name starts
  with ``__``;
* **attributes**: none starting with ``_`` (no dunders: ``__class__``,
  ``__subclasses__``, ``__globals__``, ...), none in :data:`DENIED_ATTRIBUTES`
  (numpy's file I/O — ``save``, ``load``, ``tofile``, ``fromfile``, ``memmap`` —,
  ``ctypes``, ``lib``, frame and code objects' ``f_back``, ``gi_frame``,
  ``tb_frame``, ...), and no assignment to an attribute (no monkeypatching);
* **strings**: none containing ``__``, and no ``str.format``/``format_map`` at all
  (a format string can read attributes, and one built at run time escapes this check);
* **caps**: at most ``max_chars`` characters and ``max_nodes`` AST nodes.

This is the first layer: everything that passes still runs only inside the
sandboxed reward worker (``worker.py``, ``jail.py``), which does not rely on it.
"""

from __future__ import annotations

import ast
import builtins
import threading
from dataclasses import dataclass

from .errors import DisallowedConstruct, ProgramSyntaxError, ProgramTooLarge
from .policy import ALLOWED_BUILTINS, ALLOWED_MODULES, DENIED_ATTRIBUTES, MODULE_NAMES, allowed_leaf

__all__ = [
    "ALLOWED_NODES",
    "CheckLimits",
    "CheckReport",
    "check_program",
]

#: AST node types a program may contain
ALLOWED_NODES = frozenset(
    {
        ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign,
        ast.AugAssign, ast.AnnAssign, ast.For, ast.If, ast.Expr, ast.Pass, ast.Break,
        ast.Continue, ast.Assert, ast.Raise, ast.Import, ast.ImportFrom, ast.alias,
        ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Dict, ast.Set,
        ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
        ast.Compare, ast.Call, ast.keyword, ast.Constant, ast.Attribute, ast.Subscript,
        ast.Starred, ast.Name, ast.List, ast.Tuple, ast.Slice, ast.NamedExpr,
        ast.JoinedStr, ast.FormattedValue,
        ast.Load, ast.Store,
        ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.MatMult, ast.Div, ast.Mod,
        ast.Pow, ast.LShift, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd, ast.FloorDiv,
        ast.Invert, ast.Not, ast.UAdd, ast.USub, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
        ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
    }
)

_WHY = {
    ast.ClassDef: "classes are not allowed",
    ast.While: "while loops are not allowed (work on the whole batch with numpy; use for over a range if you must)",
    ast.Try: "try/except is not allowed (errors must surface so they can be reported)",
    ast.With: "with-statements are not allowed",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Yield: "generators (yield) are not allowed",
    ast.YieldFrom: "generators (yield from) are not allowed",
    ast.Await: "async code is not allowed",
    ast.AsyncFunctionDef: "async functions are not allowed",
    ast.Delete: "del is not allowed",
}

_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class CheckLimits:
    """Caps of the static check.

    Args:
        max_chars: longest accepted program (characters).
        max_nodes: most AST nodes accepted.
        max_violations: violations listed in one error message.
    """

    max_chars: int = 20_000
    max_nodes: int = 5_000
    max_violations: int = 10


@dataclass(frozen=True)
class CheckReport:
    """What the check measured on an accepted program."""

    chars: int
    nodes: int
    imports: tuple[str, ...]


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Every name an import binds to an allowed module, with the module's path
    (``import numpy as np`` -> ``{"np": "numpy"}``; ``from numpy import linalg`` -> ``{"linalg": "numpy.linalg"}``)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ALLOWED_MODULES:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module in ALLOWED_MODULES:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in ALLOWED_MODULES:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _module_use(name: ast.Name, module: str, parents: dict[ast.AST, ast.AST]) -> str | None:
    """Why the use of module name ``name`` (bound to ``module``) is refused, or None.

    A module may only appear as the start of an attribute chain that ends on an allowed
    function or constant (``np.sum``, ``np.linalg.norm``, ``math.pi``): never passed,
    stored, returned or left as a module (``m = np``, ``f(np.linalg)``)."""
    if not isinstance(name.ctx, ast.Load):
        return f"name {name.id!r} is an imported module: it cannot be reassigned"
    node: ast.AST = name
    path = module
    while True:
        parent = parents.get(node)
        if not (isinstance(parent, ast.Attribute) and parent.value is node):
            return f"module {path!r} may only be used to reach its functions ({path}.<function>)"
        if not allowed_leaf(path, parent.attr):
            return f"{path}.{parent.attr} is not allowed (reward programs may use numpy's array maths, " \
                   "numpy.linalg, numpy.random.default_rng and math)"
        if f"{path}.{parent.attr}" not in MODULE_NAMES:
            return None  # a function or constant: the rest of the chain is checked like any attribute
        path = f"{path}.{parent.attr}"
        node = parent


#: one parse at a time in this process: CPython 3.11's AST constructor is not safe to run from
#: several threads at once ("SystemError: AST constructor recursion depth mismatch", seen when
#: synthesis checks candidates on its job threads)
_PARSE_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, serialised across threads (see ``_PARSE_LOCK``)."""
    with _PARSE_LOCK:
        return ast.parse(source, filename=filename)


def check_program(source: str, limits: CheckLimits | None = None) -> CheckReport:
    """Accept ``source`` or raise, naming every violation (up to ``max_violations``).

    Raises:
        ProgramTooLarge: more characters or AST nodes than ``limits`` allow.
        ProgramSyntaxError: the source does not parse.
        DisallowedConstruct: anything outside the allow-list.
    """
    limits = limits or CheckLimits()
    if not isinstance(source, str):
        raise DisallowedConstruct(f"a reward program is Python source text, got {type(source).__name__}")
    if len(source) > limits.max_chars:
        raise ProgramTooLarge(f"the program has {len(source)} characters; at most {limits.max_chars} are allowed")
    try:
        tree = parse(source, filename="reward_program.py")
    except SyntaxError as exc:
        raise ProgramSyntaxError(f"the reward program does not parse: {exc.msg} (line {exc.lineno})") from None
    except (RecursionError, MemoryError):
        raise ProgramTooLarge("the program is nested too deeply to parse") from None
    except ValueError as exc:  # e.g. NUL bytes
        raise ProgramSyntaxError(f"the reward program does not parse: {exc}") from None

    problems: list[str] = []
    imports: list[str] = []
    nodes = 0
    aliases = _module_aliases(tree)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}

    def bad(node: ast.AST, why: str) -> None:
        line = getattr(node, "lineno", None)
        problems.append(f"line {line}: {why}" if line else why)

    def check_identifier(node: ast.AST, name: str, what: str) -> None:
        if name.startswith("__"):
            bad(node, f"{what} {name!r}: names starting with '__' are not allowed")
        elif name in _BUILTIN_NAMES and name not in ALLOWED_BUILTINS:
            bad(node, f"{what} {name!r}: this builtin is not allowed (allowed: numpy, math and basic builtins)")

    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise ProgramTooLarge(f"the program has more than {limits.max_nodes} AST nodes")
        kind = type(node)
        if kind not in ALLOWED_NODES:
            bad(node, _WHY.get(kind, f"{kind.__name__} is not allowed"))
        if isinstance(node, ast.Name):
            check_identifier(node, node.id, "name")
            if node.id in aliases:
                why = _module_use(node, aliases[node.id], parents)
                if why:
                    bad(node, why)
        elif isinstance(node, ast.arg):
            check_identifier(node, node.arg, "argument")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            check_identifier(node, node.name, "function")
        elif isinstance(node, ast.keyword) and node.arg is not None:
            if node.arg.startswith("__"):
                bad(node, f"keyword {node.arg!r}: names starting with '__' are not allowed")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                bad(node, f"attribute {node.attr!r}: attributes starting with '_' are not allowed")
            elif node.attr in DENIED_ATTRIBUTES:
                bad(node, f"attribute {node.attr!r} is not allowed (file I/O, raw memory or interpreter internals)")
            if not isinstance(node.ctx, ast.Load):
                bad(node, f"assigning to attribute {node.attr!r} is not allowed")
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            if "__" in text:
                bad(node, "string constants containing '__' are not allowed")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    bad(node, f"import {alias.name!r}: only numpy, numpy.linalg, numpy.random and math may be imported")
                else:
                    imports.append(alias.name)
                if alias.asname:
                    check_identifier(node, alias.asname, "import alias")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                bad(node, "relative imports are not allowed")
            elif module not in ALLOWED_MODULES:
                bad(node, f"from {module!r} import ...: only numpy, numpy.linalg, numpy.random and math may be imported")
            else:
                imports.append(module)
            for alias in node.names:
                if alias.name == "*":
                    bad(node, f"from {module} import *: star imports are not allowed")
                elif alias.name.startswith("_") or not allowed_leaf(module, alias.name):
                    bad(node, f"from {module} import {alias.name}: not allowed (reward programs may use numpy's "
                              "array maths, numpy.linalg, numpy.random.default_rng and math)")
                check_identifier(node, alias.asname or alias.name, "imported name")
        stack.extend(reversed(list(ast.iter_child_nodes(node))))

    if problems:
        shown = problems[: limits.max_violations]
        more = len(problems) - len(shown)
        message = "the static check refused the program: " + shown[0]
        detail = "\n".join(shown) + (f"\n... and {more} more" if more > 0 else "")
        raise DisallowedConstruct(message, detail)
    return CheckReport(chars=len(source), nodes=nodes, imports=tuple(sorted(set(imports))))
