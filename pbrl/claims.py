"""The claims ledger: every headline figure of BENCHMARKS.md as a checkable row.

``benchmarks/claims.toml`` holds one ``[[claim]]`` per figure (the sentence, the values,
a machine-checkable relation between them, the command, commit, date and machine that
produced them, and how to re-run it cheaply) and ``[[table]]`` entries for the headline
tables. This module reads and validates the ledger, renders BENCHMARKS.md's generated
regions (``<!-- claims:begin NAME -->`` … ``<!-- claims:end NAME -->``) from it, and
re-runs the cheap claims at HEAD (``pbrl bench verify``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: claim statuses: the figure holds at its commit; the figure did not reproduce at a later
#: commit (its reason says how); the figure is a target the measurement did not meet
STATUSES = ("holds", "stale", "not_met")

#: relation kind → (operand fields, parameter fields, test, how it reads)
RELATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], Callable[..., bool], str]] = {
    "greater": (("a", "b"), (), lambda a, b: a > b, "{a} > {b}"),
    "at_least": (("x",), ("threshold",), lambda x, threshold: x >= threshold, "{x} ≥ {threshold}"),
    "at_most": (("x",), ("threshold",), lambda x, threshold: x <= threshold, "{x} ≤ {threshold}"),
    "ratio_at_least": (("a", "b"), ("threshold",), lambda a, b, threshold: b != 0 and a / b >= threshold,
                       "{a} / {b} ≥ {threshold}"),
    "within": (("x",), ("low", "high"), lambda x, low, high: low <= x <= high, "{low} ≤ {x} ≤ {high}"),
    "equal": (("a", "b"), (), lambda a, b: a == b, "{a} = {b}"),
    "close": (("a", "b"), ("tol",), lambda a, b, tol: abs(a - b) <= tol, "|{a} − {b}| ≤ {tol}"),
}

REQUIRED = ("id", "section", "claim", "status", "relation", "command", "profile", "seeds", "values",
            "interval", "commit", "date", "machine", "results", "verify")

MARKER = re.compile(r"<!-- claims:begin (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- claims:end (?P=name) -->", re.DOTALL)
HASH = re.compile(r"^[0-9a-f]{40}$")


class LedgerError(ValueError):
    """A ledger that cannot be read or a row that breaks the schema (the message names it)."""


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_ledger() -> str:
    return os.path.join(repo_root(), "benchmarks", "claims.toml")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Relation:
    kind: str
    operands: dict[str, str]  # operand field → value name
    params: dict[str, float]

    def holds(self, values: dict[str, float]) -> bool:
        args = {k: float(values[name]) for k, name in self.operands.items()}
        return bool(RELATIONS[self.kind][2](**args, **self.params))

    def describe(self) -> str:
        names = {**self.operands, **{k: _num(v) for k, v in self.params.items()}}
        return RELATIONS[self.kind][3].format(**names)


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    claim: str
    status: str
    relation: Relation
    values: dict[str, float]
    row: dict[str, Any] = field(repr=False)

    @property
    def verify(self) -> dict[str, Any]:
        return self.row["verify"]

    @property
    def cheap(self) -> bool:
        return "command" in self.verify

    def holds(self) -> bool:
        return self.relation.holds(self.values)


def parse_relation(rel: Any, values: dict[str, Any], where: str) -> Relation:
    if not isinstance(rel, dict) or "kind" not in rel:
        raise LedgerError(f"{where}: relation must be a table with a kind (one of {', '.join(RELATIONS)})")
    kind = rel["kind"]
    if kind not in RELATIONS:
        raise LedgerError(f"{where}: unknown relation kind {kind!r} (known: {', '.join(RELATIONS)})")
    operand_fields, param_fields, _, _ = RELATIONS[kind]
    extra = set(rel) - {"kind", *operand_fields, *param_fields}
    if extra:
        raise LedgerError(f"{where}: relation {kind!r} does not take {', '.join(sorted(extra))}")
    operands = {}
    for f in operand_fields:
        name = rel.get(f)
        if not isinstance(name, str):
            raise LedgerError(f"{where}: relation {kind!r} needs {f} = the name of one of its values")
        if name not in values:
            raise LedgerError(f"{where}: relation names value {name!r}, which is not in values ({', '.join(values)})")
        operands[f] = name
    params = {}
    for f in param_fields:
        v = rel.get(f)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise LedgerError(f"{where}: relation {kind!r} needs a number {f}")
        params[f] = float(v)
    return Relation(kind, operands, params)


def parse_claim(row: Any, index: int) -> Claim:
    where = f"claim #{index + 1}"
    if not isinstance(row, dict):
        raise LedgerError(f"{where}: not a table")
    if isinstance(row.get("id"), str):
        where = f"claim {row['id']!r}"
    missing = [f for f in REQUIRED if f not in row]
    if missing:
        raise LedgerError(f"{where}: missing field(s) {', '.join(missing)}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", row["id"]):
        raise LedgerError(f"{where}: id must be lower-case letters, digits, '.', '_' or '-'")
    if row["status"] not in STATUSES:
        raise LedgerError(f"{where}: status {row['status']!r} is not one of {', '.join(STATUSES)}")
    if row["status"] == "stale" and not row.get("stale_reason"):
        raise LedgerError(f"{where}: a stale claim needs stale_reason (what was seen at HEAD)")
    values = row["values"]
    if not isinstance(values, dict) or not values:
        raise LedgerError(f"{where}: values must be a table of named numbers")
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise LedgerError(f"{where}: value {k!r} is not a number")
    relation = parse_relation(row["relation"], values, where)
    verify = row["verify"]
    if not isinstance(verify, dict):
        raise LedgerError(f"{where}: verify must be a table (command + read, or none = the compute it needs)")
    if "command" in verify:
        read, regex = verify.get("read"), verify.get("stdout_regex")
        if not read and not regex:
            raise LedgerError(f"{where}: verify needs read (value → JSON key path) or stdout_regex (value → pattern)")
        named = set(read or {}) | set(regex or {})
        if not set(relation.operands.values()) & named:
            # operands it does not read (a published bar) keep their recorded value; at least one must be measured
            raise LedgerError(f"{where}: verify reads none of the relation's values ({', '.join(relation.operands.values())})")
        for name, pattern in (regex or {}).items():
            try:
                if re.compile(pattern).groups < 1:
                    raise LedgerError(f"{where}: stdout_regex for {name!r} needs a group around the number")
            except re.error as e:
                raise LedgerError(f"{where}: stdout_regex for {name!r} does not compile: {e}") from None
        ml = verify.get("max_load_per_core")
        if ml is not None and (isinstance(ml, bool) or not isinstance(ml, (int, float)) or ml <= 0):
            raise LedgerError(f"{where}: verify's max_load_per_core must be a positive number")
        rt = verify.get("runtime_s")
        if isinstance(rt, bool) or not isinstance(rt, (int, float)) or rt <= 0:
            raise LedgerError(f"{where}: verify needs runtime_s, the estimated seconds of its command")
    elif not isinstance(verify.get("none"), str) or not verify["none"]:
        raise LedgerError(f"{where}: verify needs either command or none = 'the compute it needs'")
    interval = row["interval"]
    if not isinstance(interval, dict) or "method" not in interval:
        raise LedgerError(f"{where}: interval must be a table with a method (and low/high where there is one)")
    return Claim(row["id"], row["section"], row["claim"], row["status"], relation, dict(values), row)


@dataclass(frozen=True)
class Ledger:
    path: str
    claims: list[Claim]
    tables: list[dict[str, Any]]

    def get(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise LedgerError(f"unknown claim id {claim_id!r}; known: {', '.join(c.id for c in self.claims)}")


def load(path: str | None = None) -> Ledger:
    """Read and check a ledger; every problem raises :class:`LedgerError` naming the row."""
    path = path or default_ledger()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise LedgerError(f"no ledger at {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise LedgerError(f"{path} is not valid TOML: {e}") from None
    unknown = set(data) - {"claim", "table"}
    if unknown:
        raise LedgerError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))} (expected [[claim]], [[table]])")
    claims = [parse_claim(row, i) for i, row in enumerate(data.get("claim", []))]
    seen: set[str] = set()
    for c in claims:
        if c.id in seen:
            raise LedgerError(f"claim {c.id!r} appears twice")
        seen.add(c.id)
    tables = data.get("table", [])
    for i, t in enumerate(tables):
        name = t.get("id", f"#{i + 1}")
        for f in ("id", "section", "header", "rows", "source"):
            if f not in t:
                raise LedgerError(f"table {name!r}: missing field {f}")
        width = len(t["header"])
        for r in t["rows"]:
            if len(r) != width:
                raise LedgerError(f"table {name!r}: row {r!r} has {len(r)} cells, the header {width}")
        for cid in t.get("claims", []):
            if cid not in seen:
                raise LedgerError(f"table {name!r}: names unknown claim {cid!r}")
        if name == "all" or name in {c.section for c in claims}:
            raise LedgerError(f"table {name!r}: its id is also a claims section (or 'all'); regions need distinct names")
    return Ledger(path, claims, tables)


def validate_files(ledger: Ledger, root: str | None = None) -> list[str]:
    """Checks that need the checkout: commits look like hashes, results files exist and agree."""
    root = root or repo_root()
    problems = []
    for c in ledger.claims:
        if not HASH.match(str(c.row["commit"])):
            problems.append(f"claim {c.id!r}: commit {c.row['commit']!r} is not a full 40-digit hash")
        results = c.row["results"]
        if results:
            if not results.startswith("benchmarks/results/") or not results.endswith(".json"):
                problems.append(f"claim {c.id!r}: results {results!r} is not a JSON file under benchmarks/results/")
                continue
            full = os.path.join(root, results)
            if not os.path.exists(full):
                problems.append(f"claim {c.id!r}: results file {results} does not exist")
                continue
            with open(full, encoding="utf-8") as f:
                data = json.load(f)
            for name, path in c.row.get("results_keys", {}).items():
                try:
                    got = float(read_key(data, path))
                except LedgerError as e:
                    problems.append(f"claim {c.id!r}: results_keys {name!r}: {e}")
                    continue
                want = c.values.get(name)
                if want is None or not math.isclose(got, want, rel_tol=5e-3, abs_tol=5e-3):
                    problems.append(f"claim {c.id!r}: value {name} = {want} but {results} has {got:.4g} at {path}")
        elif not c.row.get("results_note"):
            problems.append(f"claim {c.id!r}: no results file and no results_note saying why")
    return problems


# --------------------------------------------------------------------------- key paths


_SELECT = re.compile(r"^(?P<key>[^\[]*)\[(?P<cond>[^\]]+)\]$")


def read_key(data: Any, path: str) -> Any:
    """``a.b.0.c`` or ``rows[task=Hopper,n=64].value``: dict keys, list indices, list selections."""
    cur = data
    for part in path.split("."):
        m = _SELECT.match(part)
        key, cond = (m["key"], m["cond"]) if m else (part, None)
        if key:
            cur = _step(cur, key, path)
        if cond is not None:
            if not isinstance(cur, list):
                raise LedgerError(f"key path {path!r}: [{cond}] needs a list")
            want = dict(kv.split("=", 1) for kv in cond.split(","))
            hits = [x for x in cur if isinstance(x, dict) and all(str(x.get(k)) == v for k, v in want.items())]
            if len(hits) != 1:
                raise LedgerError(f"key path {path!r}: [{cond}] matches {len(hits)} items, not 1")
            cur = hits[0]
    return cur


def _step(cur: Any, key: str, path: str) -> Any:
    if isinstance(cur, dict):
        if key not in cur:
            raise LedgerError(f"key path {path!r}: no key {key!r} (have {', '.join(map(str, list(cur)[:12]))})")
        return cur[key]
    if isinstance(cur, list) and re.fullmatch(r"-?\d+", key):
        try:
            return cur[int(key)]
        except IndexError:
            raise LedgerError(f"key path {path!r}: index {key} out of range ({len(cur)} items)") from None
    raise LedgerError(f"key path {path!r}: cannot take {key!r} of a {type(cur).__name__}")


# --------------------------------------------------------------------------- rendering


def _num(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)
    return f"{v:,}" if isinstance(v, int) and abs(v) >= 10_000 else f"{v}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _status_cell(c: Claim) -> str:
    if c.status == "stale":
        return f"**STALE** — {c.row['stale_reason']}"
    if c.status == "not_met":
        return "**not met** (a target, not a claim)"
    return "holds at its commit"


def _values_cell(c: Claim) -> str:
    vals = ", ".join(f"{k} {_num(v)}" for k, v in c.values.items())
    iv = c.row["interval"]
    if "low" in iv and "high" in iv:
        vals += f" [{_num(iv['low'])}, {_num(iv['high'])}]"
    return vals


def render_claims(claims: list[Claim]) -> str:
    lines = [
        "| claim | values [interval] | relation | status | measured | command |",
        "|---|---|---|---|---|---|",
    ]
    for c in claims:
        measured = f"`{c.row['commit'][:7]}`, {c.row['date']}, {c.row['profile']}, seeds {c.row['seeds']}"
        lines.append(
            f"| **{c.id}**: {_cell(c.claim)} | {_cell(_values_cell(c))} | `{_cell(c.relation.describe())}` "
            f"| {_cell(_status_cell(c))} | {_cell(measured)} | `{_cell(c.row['command'])}` |"
        )
    return "\n".join(lines)


def render_table(table: dict[str, Any], ledger: Ledger) -> str:
    out = []
    stale = [ledger.get(cid) for cid in table.get("claims", []) if ledger.get(cid).status == "stale"]
    for c in stale:
        out.append(f"> **STALE ({c.id})**: {c.row['stale_reason']}")
        out.append("")
    if table.get("caption"):
        out.append(table["caption"])
        out.append("")
    align = table.get("align") or ["---"] * len(table["header"])
    out.append("| " + " | ".join(table["header"]) + " |")
    out.append("|" + "|".join(align) + "|")
    for r in table["rows"]:
        out.append("|" + "|".join(f" {_cell(x)} " if str(x) else " " for x in r) + "|")
    out.append("")
    out.append(f"<sub>Generated from `benchmarks/claims.toml` (table `{table['id']}`): {table['source']}</sub>")
    return "\n".join(out)


def render_summary(claims: list[Claim]) -> str:
    lines = ["| id | status | relation | recorded values [interval] | commit, date | re-run by `pbrl bench verify` |",
             "|---|---|---|---|---|---|"]
    for c in claims:
        status = {"stale": "**STALE**", "not_met": "**not met**", "holds": "holds"}[c.status]
        rerun = f"yes, ~{_num(c.verify['runtime_s'])} s" if c.cheap else "no: " + c.verify["none"]
        lines.append(f"| `{c.id}` | {status} | `{_cell(c.relation.describe())}` | {_cell(_values_cell(c))} "
                     f"| `{c.row['commit'][:7]}`, {c.row['date']} | {_cell(rerun)} |")
    return "\n".join(lines)


def render_region(name: str, ledger: Ledger) -> str:
    if name == "all":
        return render_summary(ledger.claims)
    for t in ledger.tables:
        if t["id"] == name:
            return render_table(t, ledger)
    claims = [c for c in ledger.claims if c.section == name]
    if not claims:
        raise LedgerError(f"BENCHMARKS.md has a region {name!r} but the ledger has no table or claims for it")
    return render_claims(claims)


def render(text: str, ledger: Ledger) -> str:
    """``text`` with every generated region rewritten from the ledger."""

    def fill(m: re.Match) -> str:
        name = m["name"]
        return (f"<!-- claims:begin {name} -->\n<!-- generated by `python benchmarks/claims.py render`; "
                f"edit benchmarks/claims.toml, not this region -->\n{render_region(name, ledger)}\n"
                f"<!-- claims:end {name} -->")

    return MARKER.sub(fill, text)


def regions(text: str) -> list[str]:
    return [m["name"] for m in MARKER.finditer(text)]


# --------------------------------------------------------------------------- git


def commit_age(commit: str, root: str | None = None) -> tuple[int | None, str]:
    """Commits from ``commit`` to HEAD, or ``None`` and why it is not known."""
    try:
        p = subprocess.run(["git", "rev-list", "--count", f"{commit}..HEAD"], cwd=root or repo_root(),
                           capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return None, "git is not installed"
    except subprocess.TimeoutExpired:
        return None, "git did not answer in 30 s"
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or ["git failed"])[0]
        return None, f"commit {commit[:12]} not known here ({msg})"
    return int(p.stdout.strip()), ""


def head(root: str | None = None) -> str | None:
    try:
        p = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or repo_root(), capture_output=True, text=True, timeout=30, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


# --------------------------------------------------------------------------- verify


@dataclass
class Outcome:
    id: str
    status: str  # the ledger's status
    verdict: str  # holds, no longer holds, still not met, now met, still does not reproduce, reproduces now,
    #              skipped (over budget), skipped (not cheap), failed (…)
    recorded: dict[str, float]
    now: dict[str, float] | None = None
    relation: str = ""
    age: int | None = None
    age_note: str = ""
    seconds: float = 0.0
    detail: str = ""

    @property
    def regressed(self) -> bool:
        return self.verdict == "no longer holds"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "status", "verdict", "recorded", "now", "relation", "age",
                                               "age_note", "seconds", "detail")}


@dataclass
class Run:
    """One verify command's run: its JSON output (or None), stdout, seconds, and why it failed ("" if not)."""

    data: Any
    stdout: str
    seconds: float
    error: str = ""


def run_command(command: str, timeout: float, root: str) -> Run:
    with tempfile.TemporaryDirectory(prefix="pbrl-claim-") as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = command.replace("{python}", shlex.quote(sys.executable)).replace("{json}", shlex.quote(out))
        t0 = time.perf_counter()
        try:
            p = subprocess.run(shlex.split(cmd), cwd=root, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return Run(None, "", time.perf_counter() - t0, f"timed out after {timeout:.0f} s")
        except (FileNotFoundError, PermissionError) as e:
            return Run(None, "", time.perf_counter() - t0, f"could not start: {e}")
        seconds = time.perf_counter() - t0
        if p.returncode != 0:
            tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-3:]
            return Run(None, p.stdout, seconds, f"exit {p.returncode}: " + " / ".join(tail))
        data = None
        if os.path.exists(out):
            try:
                with open(out, encoding="utf-8") as f:
                    data = json.load(f)
            except ValueError as e:
                return Run(None, p.stdout, seconds, f"its JSON output does not parse: {e}")
        return Run(data, p.stdout, seconds)


def read_values(c: Claim, run: Run) -> dict[str, float]:
    """The values a verify run gives for ``c``; values it does not read (a published bar) keep their record."""
    v = c.verify
    now: dict[str, float] = {}
    if v.get("read"):
        data = run.data if run.data is not None else json.loads(run.stdout)
        for name, path in v["read"].items():
            now[name] = float(read_key(data, path))
    for name, pattern in (v.get("stdout_regex") or {}).items():
        m = re.search(pattern, run.stdout)
        if not m:
            raise LedgerError(f"the output has no match for {name!r} ({pattern})")
        now[name] = float(m.group(1).replace(",", ""))
    return {**c.values, **now}


def _busy(max_per_core: float | None) -> str:
    """Why the machine is too busy for a timing claim, or "" (also "" where the load is unknown)."""
    if max_per_core is None or not hasattr(os, "getloadavg"):
        return ""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load / cores <= max_per_core:
        return ""
    return f"load average {load:.2f} on {cores} cores; this timing claim runs at ≤ {max_per_core:g} per core"


def verify(ledger: Ledger, *, only: list[str] | None = None, budget_min: float = 10.0, timeout_s: float | None = None,
           root: str | None = None, echo: Callable[[str], None] = print) -> list[Outcome]:
    """Re-run the cheap claims within ``budget_min`` minutes; one :class:`Outcome` per claim."""
    root = root or repo_root()
    claims = [ledger.get(i) for i in only] if only else ledger.claims
    deadline = time.monotonic() + budget_min * 60
    outcomes = []
    runs: dict[str, Run] = {}
    for c in claims:
        age, age_note = commit_age(c.row["commit"], root)
        o = Outcome(c.id, c.status, "", dict(c.values), relation=c.relation.describe(), age=age, age_note=age_note)
        outcomes.append(o)
        if not c.cheap:
            o.verdict = "skipped (not cheap)"
            o.detail = c.verify["none"]
            continue
        est = float(c.verify["runtime_s"])
        left = deadline - time.monotonic()
        if c.verify["command"] not in runs and est > left:
            o.verdict = "skipped (over budget)"
            o.detail = f"needs ~{est:.0f} s, {max(left, 0):.0f} s of the budget left"
            continue
        command = c.verify["command"]
        busy = _busy(c.verify.get("max_load_per_core"))
        if command not in runs and busy:
            o.verdict, o.detail = "skipped (machine busy)", busy
            continue
        if command not in runs:  # claims that share a command share its run
            limit = timeout_s or float(c.verify.get("timeout_s", max(3 * est, 60)))
            limit = min(limit, max(left, 1.0))
            echo(f"{c.id}: running (~{est:.0f} s): {command}")
            runs[command] = run_command(command, limit, root)
        run = runs[command]
        o.seconds = run.seconds
        if run.error:
            o.verdict, o.detail = "failed", run.error
            continue
        try:
            now = read_values(c, run)
        except (ValueError, TypeError, LedgerError) as e:
            o.verdict, o.detail = "failed", f"could not read the output: {e}"
            continue
        o.now = now
        try:
            ok = c.relation.holds(now)
        except (ZeroDivisionError, ValueError) as e:
            o.verdict, o.detail = "failed", f"relation: {e}"
            continue
        o.verdict = {
            ("holds", True): "holds", ("holds", False): "no longer holds",
            ("not_met", True): "now met", ("not_met", False): "still not met",
            ("stale", True): "holds now (stale in the ledger)", ("stale", False): "still does not hold",
        }[c.status, ok]
        if c.verify.get("note"):
            o.detail = c.verify["note"]
    return outcomes


def _age(o: Outcome) -> str:
    return f"{o.age} commits old" if o.age is not None else o.age_note


def format_outcomes(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        rec = ", ".join(f"{k} {_num(v)}" for k, v in o.recorded.items())
        lines.append(f"{o.id}  [{o.status}]  {o.relation}")
        lines.append(f"    recorded: {rec}  ({_age(o)})")
        if o.now is not None:
            now = ", ".join(f"{k} {v:.4g}" for k, v in o.now.items())
            lines.append(f"    now:      {now}  ({o.seconds:.0f} s)")
        lines.append(f"    verdict:  {o.verdict}" + (f" — {o.detail}" if o.detail else ""))
    regressed = [o.id for o in outcomes if o.regressed]
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    lines.append("")
    lines.append("summary: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if regressed:
        lines.append("NO LONGER HOLD: " + ", ".join(regressed))
    return "\n".join(lines)


def format_list(ledger: Ledger, root: str | None = None) -> str:
    lines = []
    width = max((len(c.id) for c in ledger.claims), default=0)
    for c in ledger.claims:
        age, note = commit_age(c.row["commit"], root)
        cost = f"verify ~{c.verify['runtime_s']:.0f} s" if c.cheap else "no cheap verify"
        old = f"{age} commits old" if age is not None else note
        lines.append(f"{c.id:<{width}}  {c.status:<7}  {cost:<16}  {c.row['commit'][:7]} ({old})")
    return "\n".join(lines)
