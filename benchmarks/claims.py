"""The claims ledger (benchmarks/claims.toml): render BENCHMARKS.md's generated tables, check them, list claims.

    python benchmarks/claims.py render     # rewrite BENCHMARKS.md's <!-- claims:begin NAME --> regions
    python benchmarks/claims.py check      # exit 1 when BENCHMARKS.md is not what render would write
    python benchmarks/claims.py list       # every claim: status, cheap verify or not, age in commits

(also ``pbrl bench claims render`` etc.). Re-running the claims is ``pbrl bench verify``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pbrl import claims

DOC = os.path.join(os.path.dirname(HERE), "BENCHMARKS.md")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="claims.py", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["render", "check", "list"], nargs="?", default="check")
    p.add_argument("--check", action="store_true", help="the same as the action check")
    p.add_argument("--ledger", default=claims.default_ledger(), help="the ledger (default: benchmarks/claims.toml)")
    p.add_argument("--doc", default=DOC, help="the document with the generated regions (default: BENCHMARKS.md)")
    args = p.parse_args(argv)
    action = "check" if args.check else args.action
    try:
        ledger = claims.load(args.ledger)
        if action == "list":
            print(claims.format_list(ledger))
            return 0
        with open(args.doc, encoding="utf-8") as f:
            text = f.read()
        new = claims.render(text, ledger)
    except claims.LedgerError as e:
        print(f"claims: {e}", file=sys.stderr)
        return 2
    names = claims.regions(text)
    if action == "render":
        if new != text:
            with open(args.doc, "w", encoding="utf-8") as f:
                f.write(new)
        print(f"rendered {len(names)} region(s) of {args.doc}: {', '.join(names)}" + ("" if new != text else " (unchanged)"))
        return 0
    if new != text:
        diff = difflib.unified_diff(text.splitlines(), new.splitlines(), "BENCHMARKS.md", "rendered", lineterm="", n=1)
        print("\n".join(list(diff)[:60]), file=sys.stderr)
        print(f"claims: {args.doc} is out of date with {args.ledger}: run `python benchmarks/claims.py render`",
              file=sys.stderr)
        return 1
    print(f"{args.doc}: {len(names)} generated region(s) up to date with the ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
