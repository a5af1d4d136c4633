"""The claims ledger (benchmarks/claims.toml), BENCHMARKS.md's generated regions, and `pbrl bench verify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from pbrl import claims
from pbrl.cli.main import app
from repo_support import ROOT



# ------------------------------------------------------------------ the real ledger


def test_the_ledger_parses_and_every_row_has_the_schema():
    ledger = claims.load()
    assert len(ledger.claims) >= 20
    for c in ledger.claims:
        for f in claims.REQUIRED:
            assert f in c.row, (c.id, f)
        assert c.status in claims.STATUSES
        assert claims.HASH.match(c.row["commit"]), c.id
        assert c.relation.kind in claims.RELATIONS
        # the recorded values satisfy the relation exactly when the row says the claim holds
        if c.status == "holds":
            assert c.holds(), f"{c.id} is recorded as holding but its values do not satisfy {c.relation.describe()}"
        if c.status == "not_met":
            assert not c.holds(), f"{c.id} is 'not_met' but its values satisfy {c.relation.describe()}"
        if c.status == "stale":
            assert c.row["stale_reason"]
        if c.cheap:
            assert c.verify["runtime_s"] > 0
        else:
            assert c.verify["none"]


def test_the_ledgers_commits_and_results_files_exist_and_agree():
    problems = claims.validate_files(claims.load(), ROOT)
    # benchmarks/results/ is git-ignored: on a fresh clone a referenced results file may be absent
    absent = [p for p in problems if p.endswith("does not exist")]
    ignored = subprocess.run(["git", "check-ignore", "-q", "benchmarks/results/x.json"], cwd=ROOT, check=False).returncode == 0
    if ignored:
        problems = [p for p in problems if p not in absent]
    assert problems == []
    ledger = claims.load()
    for commit in {c.row["commit"] for c in ledger.claims}:
        age, why = claims.commit_age(commit, ROOT)
        if age is None and "not a git repository" in why.lower():
            pytest.skip("not a git checkout")
        assert age is not None, why


def test_issue_17s_non_reproductions_are_stale_never_holding():
    ledger = claims.load()
    for cid in ("offline-small.oppo-over-bc", "online.prefppo-oracle1000", "offline-quick.reproducible"):
        assert ledger.get(cid).status == "stale"


def test_benchmarks_md_is_up_to_date_with_the_ledger():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "claims.py"), "check"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_stale_rows_render_visibly_as_stale():
    ledger = claims.load()
    with open(os.path.join(ROOT, "BENCHMARKS.md"), encoding="utf-8") as f:
        text = f.read()
    assert "all" in claims.regions(text)
    summary = claims.render_region("all", ledger)
    for c in ledger.claims:
        line = next(l for l in summary.splitlines() if f"`{c.id}`" in l)
        assert ("**STALE**" in line) == (c.status == "stale")
    assert "**STALE (offline-small.oppo-over-bc)**" in claims.render_region("offline-small", ledger)


# ------------------------------------------------------------------ relations and key paths


def test_relations_and_key_paths():
    r = claims.parse_relation({"kind": "ratio_at_least", "a": "x", "b": "y", "threshold": 3}, {"x": 1, "y": 1}, "t")
    assert r.holds({"x": 6.0, "y": 2.0}) and not r.holds({"x": 5.0, "y": 2.0})
    assert claims.parse_relation({"kind": "within", "x": "v", "low": 1, "high": 2}, {"v": 1}, "t").holds({"v": 1.5})
    assert claims.parse_relation({"kind": "close", "a": "p", "b": "q", "tol": 1}, {"p": 1, "q": 1}, "t").holds({"p": 1, "q": 1.9})
    with pytest.raises(claims.LedgerError, match="unknown relation kind 'bigger'"):
        claims.parse_relation({"kind": "bigger", "a": "x", "b": "y"}, {"x": 1, "y": 1}, "t")
    with pytest.raises(claims.LedgerError, match="not in values"):
        claims.parse_relation({"kind": "greater", "a": "x", "b": "z"}, {"x": 1, "y": 1}, "t")
    data = {"results": {"HalfCheetah": {"64": {"r": 3.1}}}, "rows": [{"task": "Hopper", "v": 1}, {"task": "Ant", "v": 2}]}
    assert claims.read_key(data, "results.HalfCheetah.64.r") == 3.1
    assert claims.read_key(data, "rows[task=Ant].v") == 2
    assert claims.read_key(data, "rows.0.v") == 1
    with pytest.raises(claims.LedgerError, match="no key 'Walker'"):
        claims.read_key(data, "results.Walker.64.r")


# ------------------------------------------------------------------ pbrl bench verify on a fixture ledger

WRITE = "{python} -c \"import json, sys; json.dump({'x': %s, 'y': 1.0}, open(sys.argv[1], 'w'))\" {json}"


def _row(cid: str, status: str, x: float, *, runtime: float = 1, extra: str = "") -> str:
    cmd = WRITE % x
    return textwrap.dedent(f"""
        [[claim]]
        id = "{cid}"
        section = "fixture"
        claim = "x is at least twice y"
        status = "{status}"
        values = {{ x = 3.0, y = 1.0 }}
        relation = {{ kind = "ratio_at_least", a = "x", b = "y", threshold = 2.0 }}
        interval = {{ method = "none" }}
        command = "python -c ..."
        profile = "fixture"
        seeds = "0"
        commit = "{'0' * 40}"
        date = "2026-12-06"
        machine = "test"
        results = ""
        results_note = "a fixture"
        {extra}
        [claim.verify]
        command = '''{cmd}'''
        read = {{ x = "x", y = "y" }}
        runtime_s = {runtime}
        """)


def _ledger(tmp_path, *rows: str) -> str:
    path = tmp_path / "claims.toml"
    path.write_text("".join(rows), encoding="utf-8")
    return str(path)


def test_verify_holds_no_longer_holds_and_over_budget(tmp_path):
    ledger = _ledger(tmp_path, _row("still", "holds", 2.5), _row("broken", "holds", 1.5),
                     _row("slow", "holds", 9.0, runtime=10_000))
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger, "--budget", "2", "--json", str(out)])
    assert result.exit_code == 1, result.output  # a claim recorded as holding no longer holds
    by_id = {o["id"]: o for o in json.loads(out.read_text())["outcomes"]}
    assert by_id["still"]["verdict"] == "holds" and by_id["still"]["now"]["x"] == 2.5
    assert by_id["broken"]["verdict"] == "no longer holds" and by_id["broken"]["recorded"]["x"] == 3.0
    assert by_id["slow"]["verdict"] == "skipped (over budget)"
    # the fixture's commit is not in this repository: said, not a traceback
    assert by_id["slow"]["age"] is None and "not known here" in by_id["slow"]["age_note"]
    assert "NO LONGER HOLD: broken" in result.output
    assert "Traceback" not in result.output


def test_verify_only_one_claim_that_holds_exits_0(tmp_path):
    ledger = _ledger(tmp_path, _row("still", "holds", 2.5), _row("broken", "holds", 1.5))
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger, "--only", "still"])
    assert result.exit_code == 0, result.output
    assert "still" in result.output and "broken" not in result.output


def test_verify_a_stale_claim_that_still_fails_is_not_a_regression(tmp_path):
    ledger = _ledger(tmp_path, _row("old", "stale", 1.0, extra='stale_reason = "did not reproduce"'))
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger])
    assert result.exit_code == 0, result.output
    assert "still does not hold" in result.output


@pytest.mark.parametrize(
    "row, message",
    [
        ('[[claim]]\nid = "a"\n', "claim 'a': missing field(s)"),
        (_row("a", "holds", 2.5).replace('kind = "ratio_at_least"', 'kind = "bigger"'), "unknown relation kind 'bigger'"),
        (_row("a", "stale", 2.5), "needs stale_reason"),
        (_row("a", "holds", 2.5).replace("runtime_s = 1", ""), "runtime_s"),
        ("[[claim]\n", "not valid TOML"),
    ],
)
def test_verify_malformed_ledger_names_the_problem(tmp_path, row, message):
    ledger = _ledger(tmp_path, row)
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_verify_unknown_id(tmp_path):
    ledger = _ledger(tmp_path, _row("a", "holds", 2.5))
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger, "--only", "b"])
    assert result.exit_code == 2 and "unknown claim id 'b'" in result.output


def test_verify_list(tmp_path):
    ledger = _ledger(tmp_path, _row("a", "holds", 2.5))
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger, "--list"])
    assert result.exit_code == 0 and result.output.startswith("a ")


def test_verify_reads_stdout_and_reports_a_failed_run(tmp_path):
    printing = _row("printed", "holds", 0).replace(
        "read = { x = \"x\", y = \"y\" }", "stdout_regex = { x = \"x is ([0-9.]+)\" }"
    ).split("[claim.verify]")[0] + "[claim.verify]\ncommand = '''{python} -c \"print('x is 5.5')\"'''\n" \
        "stdout_regex = { x = \"x is ([0-9.]+)\" }\nruntime_s = 1\n"
    crashing = _row("crashing", "holds", 0).split("[claim.verify]")[0] + \
        "[claim.verify]\ncommand = '''{python} -c \"import sys; sys.exit(4)\"'''\nread = { x = \"x\" }\nruntime_s = 1\n"
    ledger = _ledger(tmp_path, printing, crashing)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", ledger, "--json", str(out)])
    assert result.exit_code == 3, result.output  # a re-run failed; nothing regressed
    by_id = {o["id"]: o for o in json.loads(out.read_text())["outcomes"]}
    assert by_id["printed"]["verdict"] == "holds" and by_id["printed"]["now"] == {"x": 5.5, "y": 1.0}
    assert by_id["crashing"]["verdict"] == "failed" and "exit 4" in by_id["crashing"]["detail"]


def test_verify_skips_timing_claims_on_a_busy_machine(tmp_path, monkeypatch):
    row = _row("timing", "holds", 1.5).replace("runtime_s = 1", "runtime_s = 1\nmax_load_per_core = 0.5")
    monkeypatch.setattr(claims.os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    result = CliRunner().invoke(app, ["bench", "verify", "--ledger", _ledger(tmp_path, row)])
    assert result.exit_code == 0, result.output
    assert "skipped (machine busy)" in result.output
