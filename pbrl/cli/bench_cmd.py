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
    name: Optional[str] = typer.Argument(
        None, help="Benchmark name: a script in benchmarks/ (e.g. throughput), or verify (re-run the claims ledger); none lists them."
    ),
    quick: bool = typer.Option(False, "--quick", help="The quick profile (a smoke run)."),
    list_: bool = typer.Option(False, "--list", help="List the benchmarks (with verify: the ledger's claims) and exit."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="verify: only this claim id (repeatable)."),
    budget: float = typer.Option(10.0, "--budget", min=0.0, help="verify: minutes for all re-runs; claims whose estimate does not fit are skipped."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=1.0, help="verify: seconds per claim (default: the row's timeout_s, else 3x its estimate, at least 60)."),
    json_out: Optional[str] = typer.Option(None, "--json", help="verify: write the outcomes here (for a script NAME: passed on as its --json)."),
    ledger: Optional[str] = typer.Option(None, "--ledger", help="verify: the claims ledger (default benchmarks/claims.toml)."),
    args: Optional[List[str]] = typer.Argument(None, help="Further arguments for the script (after --, e.g. -- --seconds 0.5)."),
) -> None:
    """Run benchmarks/NAME.py (each prints a table and writes JSON); without NAME, list them.

    `pbrl bench verify` re-runs at HEAD every claim of the ledger (benchmarks/claims.toml) that has a cheap verify command, each in a subprocess with a timeout, within --budget minutes. Per claim it prints the recorded value, the value now and whether the claimed relation still holds; claims it cannot re-run say so, with their age in commits. Exit 1 when a claim recorded as holding no longer holds, 2 on a bad ledger or claim id, 3 when a re-run failed.

    `pbrl bench claims render|check|list` keeps BENCHMARKS.md's generated tables in step with the ledger.
    """
    if name == "verify":
        run_claims(only=list(only or []), budget=budget, timeout=timeout, json_out=json_out, ledger=ledger, list_=list_)
        return
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
    if only:
        argv += ["--only", ",".join(only)]
    if json_out:
        argv += ["--json", json_out]
    result = module.main(argv)
    raise typer.Exit(int(result or 0))


def run_claims(*, only: list[str], budget: float, timeout: Optional[float], json_out: Optional[str],
               ledger: Optional[str], list_: bool) -> None:
    """``pbrl bench verify``: the logic is :mod:`pbrl.claims`; this is its command line."""
    import json

    from pbrl import claims

    try:
        book = claims.load(ledger)
        for claim_id in only:
            book.get(claim_id)
    except claims.LedgerError as e:
        typer.echo(f"pbrl bench verify: {e}", err=True)
        raise typer.Exit(2)
    root = os.path.dirname(os.path.dirname(os.path.abspath(book.path)))
    if list_:
        typer.echo(claims.format_list(book, root))
        return
    head = claims.head(root)
    typer.echo(f"claims ledger {book.path} at HEAD {head[:12] if head else '(no git)'}; budget {budget:g} min")
    outcomes = claims.verify(book, only=only or None, budget_min=budget, timeout_s=timeout, root=root, echo=typer.echo)
    typer.echo("")
    typer.echo(claims.format_outcomes(outcomes))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            json.dump({"ledger": book.path, "head": head, "budget_min": budget,
                       "outcomes": [o.as_dict() for o in outcomes]}, f, indent=2)
        typer.echo(f"wrote {json_out}")
    if any(o.regressed for o in outcomes):
        raise typer.Exit(1)
    if any(o.verdict == "failed" for o in outcomes):
        raise typer.Exit(3)
