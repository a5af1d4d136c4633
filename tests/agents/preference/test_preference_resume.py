"""A PrefPPO run killed (SIGKILL) and resumed is step for step the run it would have been:
its feedback rounds fall at the same env steps as an uninterrupted run's, it asks no query
twice, and it logs each (tag, step) once, in ``metrics.jsonl`` and in TensorBoard."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time

from pbrl.preferences import PreferenceStore
from pbrl.runs.metrics import read_metrics

PENDULUM = "pbrl/InvertedPendulum-v5"
CHECKPOINT_FREQ = 1024


def _train(runs: str, name: str) -> list[str]:
    """4096 env steps of PrefPPO in rollouts of 4 x 64; a feedback round every 512 steps, a checkpoint every 1024."""
    return [sys.executable, "-m", "pbrl.cli.main", "train", "--env", PENDULUM, "--agent", "ppo", "--steps", "4096",
            "--num-envs", "4", "--hp", "n_steps=64", "--hp", "batch_size=64", "--hp", "net_arch=[16]",
            "--reward", "learned", "--teacher", "oracle", "--feedback", "100", "--runs-dir", runs, "--name", name,
            "--checkpoint-freq", str(CHECKPOINT_FREQ), "--eval-freq", "1024", "--eval-episodes", "1", "--quiet",
            "--pref", "interval=512", "--pref", "queries_per_round=10", "--pref", "reward_hidden=[16]",
            "--pref", "reward_epochs=5", "--pref", "segment_length=10", "--pref", "heldout_pairs=16"]  # fmt: skip


def _env():
    return dict(os.environ, MUJOCO_GL="egl", PYTHONUNBUFFERED="1")


def _latest_state(run: str) -> dict | None:
    try:
        with open(os.path.join(run, "checkpoints", "latest.json")) as f:
            name = json.load(f)["dir"]
        with open(os.path.join(run, "checkpoints", name, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError, KeyError):
        return None


def _labels(run: str) -> int:
    with PreferenceStore(os.path.join(run, "preferences.sqlite"), create=False) as store:
        return store.summary()["labels"]


def _kill_after_a_round_past(run: str, proc: subprocess.Popen, step: int) -> int | None:
    """SIGKILL ``proc`` once its latest checkpoint is past ``step`` and a later round's labels are
    committed (the case a resume must replay); the checkpoint's step, or None if it finished first."""
    while proc.poll() is None:
        time.sleep(0.02)
        state = _latest_state(run)
        if state is None or state["num_timesteps"] <= step or not os.path.isfile(os.path.join(run, "preferences.sqlite")):
            continue
        if _labels(run) > state["extra"]["preference_loop"]["labels_fitted"]:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return state["num_timesteps"]
    return None


def _rounds(run: str) -> list[tuple[int, int, int]]:
    """(round, env step, queries) of each feedback round, from the store."""
    with PreferenceStore(os.path.join(run, "preferences.sqlite"), create=False) as store:
        metas = [json.loads(m) for m in store.queries()["meta"]]
    count = collections.Counter((m["round"], m["step"]) for m in metas)
    return sorted((r, step, n) for (r, step), n in count.items())


def _duplicates(pairs) -> list:
    return [key for key, n in collections.Counter(pairs).items() if n > 1]


def _tensorboard_pairs(run: str) -> list[tuple[str, int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(run, size_guidance={"scalars": 0})
    events.Reload()
    return [(tag, e.step) for tag in events.Tags()["scalars"] for e in events.Scalars(tag)]


def test_prefppo_killed_twice_and_resumed_is_step_for_step_the_uninterrupted_run(tmp_path):
    runs = str(tmp_path / "runs")
    folder = os.path.join(runs, "pbrl_InvertedPendulum-v5", "ppo")
    whole, killed = os.path.join(folder, "whole-s0"), os.path.join(folder, "killed-s0")
    done = subprocess.run(_train(runs, "whole"), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    proc = subprocess.Popen(_train(runs, "killed"), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kills = []
    try:
        for _ in range(2):
            at = _kill_after_a_round_past(killed, proc, kills[-1] if kills else 0)
            assert at is not None, f"the run ended before it could be killed (kills so far at {kills})"
            kills.append(at)
            proc = subprocess.Popen([sys.executable, "-m", "pbrl.cli.main", "train", "--resume", killed, "--quiet"],
                                    env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        assert proc.wait(300) == 0, proc.stderr.read().decode()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert kills[0] < kills[1] < 4096

    # the rounds: same steps, same sizes, nothing asked twice, every label kept
    expected = _rounds(whole)
    assert len(expected) >= 6 and [r for r, _, _ in expected] == list(range(len(expected)))
    assert _rounds(killed) == expected
    with PreferenceStore(os.path.join(killed, "preferences.sqlite"), create=False) as store:
        summary = store.summary()
    assert summary["open"] == 0 and summary["labels"] == summary["queries"] == sum(n for _, _, n in expected)

    # the logs: the feedback rows of the uninterrupted run, and each (tag, step) once
    rows = {run: read_metrics(run) for run in (whole, killed)}
    feedback = {run: [(r["step"], r["feedback/rounds"], r["feedback/labels"]) for r in rows[run] if "feedback/rounds" in r] for run in rows}
    assert feedback[killed] == feedback[whole] and len(feedback[whole]) == len(expected)
    assert [step for step, _, _ in feedback[whole]] == [step for _, step, _ in expected]
    for run in (whole, killed):
        pairs = [(key, row["step"]) for row in rows[run] for key in row if key not in ("step", "time")]
        assert _duplicates(pairs) == [], run
        assert [row["step"] for row in rows[run]] == sorted(row["step"] for row in rows[run])
        assert _duplicates(_tensorboard_pairs(run)) == [], run
    # what the killed runs logged up to their checkpoints is kept, in both files
    tb_steps = {step for tag, step in _tensorboard_pairs(killed) if tag == "eval/return"}
    json_steps = {row["step"] for row in rows[killed] if "eval/return" in row}
    assert tb_steps == json_steps == {1024, 2048, 3072, 4096}
