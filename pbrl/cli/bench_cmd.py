"""``pbrl bench NAME``: run a script from the repository's benchmarks/ folder."""

from __future__ import annotations

import importlib.util
import os
from typing import List, Optional

import typer


def benchmarks_dir() -> str:
    import pbrl

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(pbrl.__file__))), "benchmarks")


def available() -> list[str]:
    folder = benchmarks_dir()
    if not os.path.isdir(folder):
        return []
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


def describe(name: str) -> str:
    """The first line of ``benchmarks/NAME.py``'s docstring (read, not imported)."""
    import ast

    try:
        with open(os.path.join(benchmarks_dir(), name + ".py"), encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
    except (OSError, SyntaxError):
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def bench(
    name: Optional[str] = typer.Argument(None, help="Benchmark name: a script in benchmarks/ (e.g. throughput); none lists them."),
    quick: bool = typer.Option(False, "--quick", help="The quick profile (a smoke run)."),
    list_: bool = typer.Option(False, "--list", help="List the benchmarks and exit."),
    args: Optional[List[str]] = typer.Argument(None, help="Further arguments for the script (after --, e.g. -- --json out.json)."),
) -> None:
    """Run benchmarks/NAME.py (each prints a table and writes JSON); without NAME, list them."""
    names = available()
    if not names:
        raise typer.BadParameter(
            f"no benchmarks/ folder next to the pbrl package ({benchmarks_dir()}); "
            "benchmarks run from a source checkout (pip install -e .)"
        )
    if name is None or list_:
        width = max(len(n) for n in names)
        typer.echo("benchmarks (pbrl bench NAME [--quick]):")
        for n in names:
            typer.echo(f"  {n:<{width}}  {describe(n)}")
        return
    if name not in names:
        raise typer.BadParameter(f"unknown benchmark {name!r}; available: {', '.join(names)}", param_hint="NAME")
    path = os.path.join(benchmarks_dir(), name + ".py")
    spec = importlib.util.spec_from_file_location(f"pbrl_benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = (["--quick"] if quick else []) + list(args or [])
    result = module.main(argv)
    raise typer.Exit(int(result or 0))
