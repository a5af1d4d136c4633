"""A run killed at any moment resumes from its last checkpoint; two processes never train one run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from console_support import printed

PBRL = [sys.executable, "-m", "pbrl.cli.main"]


def _env():
    return dict(os.environ, MUJOCO_GL="egl", COLUMNS="160")


def _train(runs, *extra):
    return [*PBRL, "train", "--env", "pbrl/InvertedPendulum-v5", "--agent", "ppo", "--runs-dir", str(runs), "--name", "k",
            "--quiet", *extra]  # fmt: skip


def _wait_for(predicate, proc, timeout=300.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _checkpoints(run):
    root = run / "checkpoints"
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists()) if root.exists() else []


def test_sigkill_then_resume_loses_nothing_before_the_checkpoint_and_logs_no_step_twice(tmp_path):
    runs = tmp_path / "runs"
    run = runs / "pbrl_InvertedPendulum-v5" / "ppo" / "k-s0"
    proc = subprocess.Popen(_train(runs, "--steps", "400000", "--checkpoint-freq", "4096", "--eval-freq", "4096"),
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert _wait_for(lambda: len(_checkpoints(run)) >= 2, proc), proc.stderr.read() if proc.poll() is not None else "no checkpoint in time"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    latest = _checkpoints(run)[-1]
    saved_step = json.loads((latest / "state.json").read_text())["num_timesteps"] if (latest / "state.json").exists() else None
    logged_before = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert logged_before, "the killed run logged nothing"

    # a second process cannot start a run in the same folder
    again = subprocess.run(_train(runs, "--steps", "8192"), env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and printed("already exists", again.stdout + again.stderr)

    out = subprocess.run([*PBRL, "train", "--resume", str(run), "--steps", "16384", "--quiet"], env=_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["num_timesteps"] >= 16384
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    # rows are in step order, and nothing logged after the checkpoint survives twice
    assert steps == sorted(steps)
    train_rows = [r["step"] for r in rows if "time/fps" in r]
    assert len(train_rows) == len(set(train_rows))
    if saved_step is not None:
        assert saved_step in range(4096, 400_000)
        kept = [s for s in logged_before if s <= saved_step]
        assert set(kept) <= set(steps)


def test_a_run_being_trained_cannot_be_resumed_by_a_second_process(tmp_path):
    runs = tmp_path / "runs"
    run = runs / "pbrl_InvertedPendulum-v5" / "ppo" / "k-s0"
    proc = subprocess.Popen(_train(runs, "--steps", "400000", "--checkpoint-freq", "4096"), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert _wait_for(lambda: (run / "config.json").exists() and (run / "metrics.jsonl").exists(), proc)
        before = (run / "config.json").read_bytes()
        second = subprocess.run([*PBRL, "train", "--resume", str(run), "--quiet"], env=_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode != 0
        assert printed("another process", (second.stdout + second.stderr).lower()) or "locked" in (second.stdout + second.stderr).lower()
        assert (run / "config.json").read_bytes() == before
        assert proc.poll() is None  # the first run is unharmed
    finally:
        proc.kill()
        proc.wait(timeout=30)
