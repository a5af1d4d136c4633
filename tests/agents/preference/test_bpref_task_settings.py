"""B-Pref's per-task PEBBLE settings (agents/preference/tasks.toml): the DMC and Meta-World tasks resolve to
its scripts' values, --pref and --feedback still win, the Gymnasium tasks and PrefPPO keep the declared
defaults, bad tables are named, and a run saves the task's settings in its config.json."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from pbrl.agents.preference.options import (
    DEFAULT_FEEDBACK,
    DEFAULTS,
    PreferenceOptionError,
    TASKS_FILE,
    default_feedback,
    resolve_preference_options,
    task_defaults,
)
from pbrl.cli.main import app
from pbrl.envs import TASKS

WALKER, QUADRUPED = "pbrl/dmc-walker-walk-v0", "pbrl/dmc-quadruped-walk-v0"
BUTTON, SWEEP = "pbrl/metaworld-button-press-v3", "pbrl/metaworld-sweep-into-v3"

#: scripts/<task>/<budget>/oracle/run_PEBBLE.sh, in pbrl's names (unsup_steps = num_seed_steps 1000 + num_unsup_steps 9000)
BPREF = {
    WALKER: dict(unsup_steps=10_000, interval=20_000, segment_length=50, reward_epochs=50, buffer_steps=100_000),
    QUADRUPED: dict(unsup_steps=10_000, interval=30_000, segment_length=50, reward_epochs=50, buffer_steps=100_000),
    BUTTON: dict(unsup_steps=10_000, interval=5_000, segment_length=50, reward_epochs=10, buffer_steps=50_000),
    SWEEP: dict(unsup_steps=10_000, interval=5_000, segment_length=50, reward_epochs=10, buffer_steps=50_000),
}
#: (task, max_feedback, reward_batch) of every budget folder of B-Pref's PEBBLE scripts
BUDGETS = [(WALKER, 500, 50), (WALKER, 1000, 100), (QUADRUPED, 1000, 100), (QUADRUPED, 2000, 200),
           (BUTTON, 10_000, 50), (BUTTON, 20_000, 100), (SWEEP, 10_000, 50), (SWEEP, 20_000, 100)]  # fmt: skip


@pytest.mark.parametrize("task", sorted(BPREF))
def test_scripted_tasks_resolve_to_bprefs_settings(task):
    feedback = default_feedback("sac", task)
    opts = resolve_preference_options("sac", {}, feedback, task=task)
    assert {k: opts[k] for k in BPREF[task]} == BPREF[task]
    assert feedback == (1000 if "dmc" in task else 10_000)
    assert opts["queries_per_round"] == (100 if "dmc" in task else 50)
    assert opts["reset_critic"] and opts["reset_update"] == 100 and opts["selection"] == "disagreement"


@pytest.mark.parametrize("task, feedback, reward_batch", BUDGETS)
def test_queries_per_round_follow_bprefs_budgets(task, feedback, reward_batch):
    assert resolve_preference_options("sac", {}, feedback, task=task)["queries_per_round"] == reward_batch


def test_every_suite_task_has_a_table_with_its_suites_values():
    dmc = sorted(t for t in TASKS if t.startswith("pbrl/dmc-"))
    metaworld = sorted(t for t in TASKS if t.startswith("pbrl/metaworld-"))
    assert len(dmc) == 14 and len(metaworld) == 11
    for task in dmc + metaworld:
        options, feedback = task_defaults("sac", task)
        suite = BPREF[QUADRUPED if "quadruped" in task else WALKER] if "dmc" in task else BPREF[BUTTON]
        assert {k: options[k] for k in suite} == suite, task
        assert feedback == (1000 if "dmc" in task else 10_000)
    import tomllib

    with open(TASKS_FILE, "rb") as f:
        tables = tomllib.load(f)
    assert set(tables) == {"sac"} and sorted(tables["sac"]) == sorted(dmc + metaworld)  # no stray or misspelt ids


def test_pref_and_feedback_still_win():
    opts = resolve_preference_options("sac", {"interval": 123, "queries_per_round": 7, "reward_epochs": 3}, 60, task=BUTTON)
    assert (opts["interval"], opts["queries_per_round"], opts["reward_epochs"]) == (123, 7, 3)
    assert opts["segment_length"] == 50 and opts["buffer_steps"] == 50_000  # the rest stays the task's
    assert resolve_preference_options("sac", {"budget_rounds": 4}, 400, task=WALKER)["queries_per_round"] == 100
    assert resolve_preference_options("sac", {}, 60, task=BUTTON)["queries_per_round"] == 1  # a small budget: at least one


def test_gymnasium_tasks_and_prefppo_keep_the_declared_defaults():
    for agent in ("ppo", "sac"):
        assert resolve_preference_options(agent, {}, 1000, task="pbrl/HalfCheetah-v5") == resolve_preference_options(agent, {}, 1000)
        assert default_feedback(agent, "pbrl/HalfCheetah-v5") == DEFAULT_FEEDBACK
    prefppo = resolve_preference_options("ppo", {}, 1000, task=WALKER)  # no PrefPPO tables: no unsup_steps error
    assert prefppo == {**DEFAULTS["ppo"], "queries_per_round": 100}
    assert resolve_preference_options("sac", {}, 1000)["queries_per_round"] == 100  # auto: feedback // 10 as before


def test_bad_tables_are_named(tmp_path):
    bad = tmp_path / "tasks.toml"
    bad.write_text('[sac."pbrl/x-v0"]\nintervall = 5\n')
    with pytest.raises(PreferenceOptionError, match=r"\[sac\.'pbrl/x-v0'\] key 'intervall'.*did you mean 'interval'"):
        resolve_preference_options("sac", {}, 100, task="pbrl/x-v0", path=str(bad))
    bad.write_text('[sac."pbrl/x-v0"]\nfeedback = 0\n')
    with pytest.raises(PreferenceOptionError, match=r"\[sac\.'pbrl/x-v0'\] 'feedback'.*>= 1, got 0"):
        default_feedback("sac", "pbrl/x-v0", path=str(bad))
    bad.write_text('[sac."pbrl/x-v0"]\nbudget_rounds = 0\n')
    with pytest.raises(PreferenceOptionError, match="budget_rounds"):
        resolve_preference_options("sac", {}, 100, task="pbrl/x-v0", path=str(bad))
    with pytest.raises(PreferenceOptionError, match="budget_rounds"):
        resolve_preference_options("sac", {"budget_rounds": "many"}, 100)


def test_a_pebble_run_saves_the_tasks_settings(tmp_path):
    """PEBBLE on button-press with a tiny budget: config.json holds the task's settings where no --pref / --hp
    is given, the overrides where one is. Two sub-envs end their first 500-step episodes at 1,000 steps."""
    tiny = ["--hp", "n_envs=2", "--hp", "learning_starts=100", "--hp", "net_arch=[16, 16]", "--hp", "batch_size=32",
            "--hp", "buffer_size=2000", "--pref", "unsup_steps=1010", "--pref", "interval=400", "--pref", "reward_hidden=[16]",
            "--pref", "heldout_pairs=0", "--pref", "segment_length=20"]  # fmt: skip
    result = CliRunner().invoke(app, ["train", "--env", BUTTON, "--agent", "sac", "--reward", "learned", "--teacher", "oracle",
                                      "--steps", "1100", "--eval-freq", "0", "--eval-episodes", "1", "--runs-dir",
                                      str(tmp_path / "runs"), "--quiet", *tiny])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = result.output.strip().splitlines()[-1]
    saved = json.load(open(os.path.join(run, "config.json")))
    pref, hp = saved["preference"], saved["hyperparams"]
    assert saved["reward"]["feedback"] == 10_000 and saved["config"]["feedback"] == 10_000  # the task's budget
    assert (pref["reward_epochs"], pref["buffer_steps"], pref["budget_rounds"], pref["queries_per_round"]) == (10, 50_000, 200, 50)
    assert (pref["unsup_steps"], pref["interval"], pref["segment_length"]) == (1010, 400, 20)  # --pref wins
    assert (hp["learning_rate"], hp["gamma"], hp["gradient_steps"]) == (3e-4, 0.99, 1) and hp["batch_size"] == 32  # --hp wins
    summary = json.load(open(os.path.join(run, "summary.json")))
    assert summary["final_eval"]["feedback"]["queries"] == 50  # one round of the task's 50 queries
