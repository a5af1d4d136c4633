"""Online preference-based RL, B-Pref style: PrefPPO, PEBBLE and its family vs the same agent on the true reward.

    python benchmarks/pbrl_online.py --quick          # smoke run: one task, tiny budgets (a few minutes)
    python benchmarks/pbrl_online.py --profile methods-quick   # smoke: every method and feedback kind, Hopper, tiny
    python benchmarks/pbrl_online.py --profile methods --workers 2 --root DIR   # issue 21's table (--estimate: ~1.6 h quiet)
    python benchmarks/pbrl_online.py --profile icpl --workers 2                 # ICPL / Eureka-style rows (~1 h)
    python benchmarks/pbrl_online.py --estimate       # the full profile's wall-clock estimate only
    python benchmarks/pbrl_online.py --profile medium # PrefPPO on HalfCheetah, 300k steps, 3 seeds (about an hour)
    python benchmarks/pbrl_online.py --profile claims-prefppo --workers 2   # PrefPPO vs PPO, 5 seeds (~1.2 h)
    python benchmarks/pbrl_online.py --profile claims-pebble --workers 2    # PEBBLE vs SAC, 5 seeds (~1.7 h)
    python benchmarks/pbrl_online.py                  # the full profile (see the estimate: days on 2 cores)
    pbrl bench pbrl_online --quick

For each task (HalfCheetah, Walker2d, Hopper), seed, and agent — PrefPPO (``ppo``) and
PEBBLE (``sac``) — the script trains, through ``pbrl.runs.train`` (one run folder each):

* the agent on the **true reward** (the reference), and
* the agent on a reward **learned online** (``reward = "learned"``) from a scripted
  teacher — ``oracle`` and ``noisy`` (B-Pref's presets) — with a label budget of
  200 and 1000 queries (the quick profile scales these down).

Each run ends with an evaluation on fresh seeds (deterministic actions). A run's
**normalised return** is ``100 × (R − R_random) / (R_true − R_random)``: 0 is a
uniform-random policy, 100 the mean final return of the same agent trained on the
true reward for the same steps on that task (B-Pref divides by the true-reward agent's
return; subtracting the random policy's keeps the ratio meaningful on tasks whose
returns can be negative or near zero, e.g. HalfCheetah early in training).

Per configuration (agent × teacher × budget), the IQM over all seeds × tasks comes with
a 95% stratified-bootstrap confidence interval (``pbrl.evaluation.aggregate``,
rliable's definitions; ``--reps`` defaults to its ``DEFAULT_REPS``, 50,000), next to the
labels used and the reward model's held-out accuracy. Per comparison — each learned
reward vs its agent on the true reward, oracle vs noisy at one budget, 1,000 vs 200
labels — the probability of improvement P(X > Y) comes with its 95% interval (rliable's
independent stratified bootstrap) and ``pbrl.runs.compare.claim``'s wording of what
the intervals allow; each interval's method is printed next to it. JSON (every run) and
a markdown table go to ``benchmarks/results/pbrl_online[-<profile>].json`` / ``.md``.

Profiles (env steps per run; budgets; preference options — the rest are the
defaults of ``agents/preference/options.py``):

| profile | PrefPPO steps | PEBBLE steps | budgets | per round | interval | seeds | eval episodes |
|---|---|---|---|---|---|---|---|
| quick | 8,192 | 2,500 | 20 / 60 | 10 / 20 | 1,024 (PPO) / 500 (SAC) | 2 | 5 |
| medium | 300,000 (HalfCheetah, PrefPPO only) | – | 200 / 1000 | budget / 10 | 30,000 | 3 | 10 |
| claims-prefppo | 300,000 (HalfCheetah, PrefPPO only) | – | 200 / 1000 | budget / 10 | 30,000 | 5 | 10 |
| claims-pebble | – | 100,000 (HalfCheetah, PEBBLE only) | 1000 | 100 | 10,000 | 5 | 10 |
| full  | 1,000,000 | 300,000 | 200 / 1000 | budget / 10 | 20,000 | 3 | 10 |

**Methods and feedback kinds** (issue 21). A profile may list ``methods`` (``--pref
method=...``: none = PEBBLE / PrefPPO, surf, rune, qpa, rime, mrn; ``method_pref`` holds each
method's profile settings) and ``kinds`` (feedback kinds of the plain loop: pairs, ratings,
rankings; ``kind_pref``); each becomes a row named as papers name it (``SURF mistake/400``,
``PEBBLE (ratings) oracle/400``), and each is compared with PEBBLE / PrefPPO on the same teacher
and budget, besides the comparisons above. ``--methods`` and ``--kinds`` pick a subset. Run
folders go under ``--root``; its ``results.jsonl`` gets each finished run's row, and a later
call with the same ``--root`` reuses them (a failed run is run again), so a long profile can be
run in parts, e.g. ``--kinds pairs`` first and ``--kinds ratings,rankings`` later.

| profile | task | SAC steps | budget (per round, interval) | teachers | seeds |
|---|---|---|---|---|---|
| methods-quick | Hopper | 1,500 (2 x 32 nets) | 20 (10, 400) | oracle, mistake | 1 |
| methods | Meta-World drawer-close | 10,000 (2 x 256) | 400 (50, 1,000) | oracle, mistake (10 % flipped) | 5 |
| methods-dmc | DMC cartpole-swingup (action repeat 8) | 10,000 (2 x 256) | 400 (50, 1,000) | oracle, mistake (10 % flipped) | 5 |

The methods profile is far below B-Pref's scale (1M steps, 2.5k-20k labels on Meta-World), and
said so wherever its figures appear; its comment in ``PROFILES`` lists every deviation. ICPL and
Eureka-style reward synthesis (offline proposer, not an LLM) get rows from the ``icpl`` profiles
(their comment).

medium and the claims profiles use a 3 × (128, 128) reward ensemble with a 50-epoch cap
per update; PEBBLE pre-trains on state entropy for 10k steps (the default). The claims
profiles are issue 17's ledger comparisons at 5 seeds, sized for about two hours on 2
cores with ``--workers 2``: ``--estimate`` gives 1.2 h (25 runs) and 1.7 h (15 runs). Its
rates are the measured env-step costs of PPO and SAC on the true reward, the learned
reward's per-step cost and a reward-model gradient step (BENCHMARKS.md); it follows
``--agents``, ``--tasks``, ``--teachers``, ``--budgets`` and ``--seeds``. At B-Pref's
budgets (full: 3 tasks, 1M / 300k steps) it says ~40 h with 3 seeds: more than this machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import glob
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from typing import Any

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, load_average, log, write_report  # noqa: E402

TASKS = {
    "HalfCheetah": "pbrl/HalfCheetah-v5", "Walker2d": "pbrl/Walker2d-v5", "Hopper": "pbrl/Hopper-v5",
    "walker-stand": "pbrl/dmc-walker-stand-v0", "walker-walk": "pbrl/dmc-walker-walk-v0",
    "cheetah-run": "pbrl/dmc-cheetah-run-v0", "finger-spin": "pbrl/dmc-finger-spin-v0",
    "drawer-close": "pbrl/metaworld-drawer-close-v3", "button-press": "pbrl/metaworld-button-press-v3",
    "cartpole-swingup": "pbrl/dmc-cartpole-swingup-v0",
}  # fmt: skip
#: task keyword arguments of a task name (``env_kwargs`` of its runs and of the random policy).
#: cartpole-swingup with 8 control steps per agent step, as in PlaNet / DrQ / CURL's DMC
#: benchmarks (a 125-step episode): SAC on the true reward learns it within 10k agent steps
TASK_KWARGS: dict[str, dict[str, Any]] = {"cartpole-swingup": {"action_repeat": 8}}
NAMES = {"ppo": "PrefPPO", "sac": "PEBBLE"}
#: ``--pref method=NAME`` -> the name a run is reported under (with PPO: PrefPPO-NAME)
METHOD_NAMES = {"surf": "SURF", "rune": "RUNE", "qpa": "QPA", "rime": "RIME", "mrn": "MRN"}

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "tasks": ["Hopper"],
        "steps": {"ppo": 8192, "sac": 2500},
        "budgets": [20, 60],
        "teachers": ["oracle", "noisy"],
        "seeds": 2,
        "eval_episodes": 5,
        "hp": {"ppo": {"n_envs": 8, "n_steps": 64, "batch_size": 128}, "sac": {"learning_starts": 300, "batch_size": 128, "net_arch": [64, 64]}},
        "pref": {
            "ppo": {"interval": 1024, "queries_per_round": 10, "segment_length": 25, "reward_hidden": [64, 64], "reward_epochs": 30, "heldout_pairs": 128},
            "sac": {"interval": 500, "queries_per_round": 20, "unsup_steps": 800, "segment_length": 25, "reward_hidden": [64, 64], "reward_epochs": 30, "heldout_pairs": 128},
        },
    },
    # What 2 cores can do in about an hour: PrefPPO on HalfCheetah only, 300k steps, ten
    # feedback rounds, a smaller reward model (2 x 128) with a 50-epoch cap per update.
    "medium": {
        "tasks": ["HalfCheetah"],
        "agents": ["ppo"],
        "steps": {"ppo": 300_000, "sac": 100_000},
        "budgets": [200, 1000],
        "teachers": ["oracle", "noisy"],
        "seeds": 3,
        "eval_episodes": 10,
        "hp": {"ppo": {}, "sac": {}},
        "pref": {
            "ppo": {"interval": 30_000, "reward_hidden": [128, 128], "reward_epochs": 50},
            "sac": {"interval": 10_000, "reward_hidden": [128, 128], "reward_epochs": 50},
        },
    },
    "full": {
        "tasks": ["HalfCheetah", "Walker2d", "Hopper"],
        "steps": {"ppo": 1_000_000, "sac": 300_000},
        "budgets": [200, 1000],
        "teachers": ["oracle", "noisy"],
        "seeds": 3,
        "eval_episodes": 10,
        "hp": {"ppo": {}, "sac": {}},
        "pref": {"ppo": {}, "sac": {}},
    },
}
# Issue 17's ledger claims at 5 seeds, each sized for about two hours on 2 cores with
# --workers 2 (see --estimate): PrefPPO vs PPO is the medium profile's HalfCheetah settings
# at 5 seeds; PEBBLE vs SAC is the 100k-step HalfCheetah setting of the
# online.pebble-oracle1000 row (the medium profile's SAC), both teachers at 1,000 labels.
PROFILES["claims-prefppo"] = {**PROFILES["medium"], "seeds": 5}
PROFILES["claims-pebble"] = {**PROFILES["medium"], "agents": ["sac"], "budgets": [1000], "seeds": 5}

# Issue 21's methods: PEBBLE and the PEBBLE-family methods (--pref method=...) vs SAC on the
# true reward, at one label budget, with the oracle and a teacher that errs on 10 % of its
# labels (B-Pref's "mistake"). methods-quick is the smoke profile (Hopper: short episodes, so
# rounds come early; tiny networks); methods is the claims profile (see its comment).
_METHODS = ["none", "surf", "rune", "qpa", "rime", "mrn"]
_TINY_METHOD_PREF = {
    "surf": {"surf_window": 2, "surf_crop_range": 2, "surf_inv_label_ratio": 4},
    "qpa": {"qpa_recent_episodes": 3, "qpa_crop_min": 1, "qpa_crop_max": 3, "qpa_aug_ratio": 2},
    "rime": {"rime_beta_k": 10, "rime_min_epochs": 2, "rime_warm_start": 1},
    "mrn": {"mrn_meta_steps": 200},
}
_TINY_KIND_PREF = {"ratings": {"rating_classes": 3}, "rankings": {"ranking_budget": 6}}
PROFILES["methods-quick"] = {
    "tasks": ["Hopper"],
    "agents": ["sac"],
    "methods": _METHODS,
    "kinds": ["pairs", "ratings", "rankings"],
    "steps": {"ppo": 8192, "sac": 1500},
    "budgets": [20],
    "teachers": ["oracle", "mistake"],
    "seeds": 1,
    "eval_episodes": 3,
    "hp": {"ppo": {}, "sac": {"learning_starts": 200, "batch_size": 64, "net_arch": [32, 32]}},
    "pref": {
        "ppo": {},
        "sac": {"interval": 400, "queries_per_round": 10, "unsup_steps": 500, "segment_length": 10, "reward_hidden": [32, 32],
                "reward_epochs": 5, "heldout_pairs": 64, "reset_update": 10},
    },  # fmt: skip
    "method_pref": _TINY_METHOD_PREF,
    "kind_pref": _TINY_KIND_PREF,
}
# The claims profile of the methods, sized for this 2-core machine (--estimate): 10k env steps
# per run, where SAC on the true reward already learns Meta-World drawer-close (runs of 12k and
# 15k steps returned 4,867 and 4,880, success 1.0, vs 483 for a random policy); B-Pref's
# Meta-World runs are 1M steps. Smaller than B-Pref everywhere, and said so next to every
# figure: SAC 2 x 256, batch 256 (B-Pref's Meta-World SAC: 3 x 256, batch 512), PEBBLE's
# unsupervised phase 2k steps (B-Pref 10k), a round of 50 queries every 1k steps (400 labels in
# 8 rounds; B-Pref's Meta-World budgets are 2.5k-20k labels; at 12k steps and 100 labels a
# first PEBBLE seed fell to a return of 3), a 3 x (128, 128) reward ensemble; QPA's last-N
# episodes scaled from 30 to 5 (30 episodes are 15k steps); RIME with its Meta-World values
# (k 600, 5 epochs at least). The rest: the task's tables (agents/online/hyperparams.toml,
# agents/preference/tasks.toml) and each method's reference defaults (options.py).
PROFILES["methods"] = {
    "tasks": ["drawer-close"],
    "agents": ["sac"],
    "methods": _METHODS,
    "kinds": ["pairs", "ratings", "rankings"],
    "steps": {"ppo": 100_000, "sac": 10_000},
    "budgets": [400],
    "teachers": ["oracle", "mistake"],
    "seeds": 5,
    "eval_episodes": 10,
    "hp": {"ppo": {}, "sac": {"net_arch": [256, 256], "batch_size": 256}},
    "pref": {
        "ppo": {},
        "sac": {"unsup_steps": 2000, "interval": 1000, "queries_per_round": 50, "reward_hidden": [128, 128], "heldout_pairs": 256},
    },
    "method_pref": {"qpa": {"qpa_recent_episodes": 5}, "rime": {"rime_beta_k": 600, "rime_min_epochs": 5}, "mrn": {"mrn_meta_steps": 1000}},
    # SAC 2 x 256 on Meta-World, one gradient step per env step: ~10 ms per step on a quiet 2-core machine
    "seconds_per_step": {"sac": 0.010},
}
# The DeepMind Control half of the methods table: cartpole-swingup with action repeat 8
# (TASK_KWARGS), the same budget, rounds and networks as drawer-close; SAC at Adam 3e-4 (SB3's
# default; B-Pref's DMC SAC uses 1e-4 with 2 x 1024 nets, batch 1024, over 1M steps), where a
# calibration run on the true reward reached 858 at 10k steps (random policy: see the table).
# MRN is left out of the profile's default methods (the issue's table names PEBBLE, SURF, RUNE,
# QPA and RIME); its rows are ``--methods none,mrn`` with the same --root (BENCHMARKS.md).
PROFILES["methods-dmc"] = {
    **PROFILES["methods"],
    "tasks": ["cartpole-swingup"],
    "methods": ["none", "surf", "rune", "qpa", "rime"],
    "kinds": ["pairs"],
    "hp": {"ppo": {}, "sac": {"net_arch": [256, 256], "batch_size": 256, "learning_rate": 3e-4, "learning_starts": 1000}},
    # at most 10 reward-model epochs per round, drawer-close's (B-Pref's Meta-World value; its DMC value, 50, is ~3x the time)
    "pref": {"ppo": {}, "sac": {**PROFILES["methods"]["pref"]["sac"], "reward_epochs": 10}},
    "method_pref": {},  # QPA's and RIME's DMC defaults (10 recent episodes; k 60, 15 epochs at least)
    # SAC 2 x 256 on cartpole (8 control steps per agent step): ~9 ms per agent step, 2 workers
    "seconds_per_step": {"sac": 0.009},
}
# Issue 21's ICPL row: reward synthesis (pbrl.synthesis) with the offline proposer -- a search
# procedure over the task card's terms, not an LLM -- where each iteration's candidates are
# compared by a teacher over their policies' rollouts and the preferred one is the next base
# (``feedback = "preferences"``, one run per teacher of the profile), next to the same search
# with Eureka's fitness feedback (the best candidate by the task metric is the next base) and PPO
# on the true reward. Each synthesis retrains its final program once (one final seed per
# synthesis seed) for the profile's PPO steps, the true-reward run's steps, so the rows are
# normalised like PrefPPO's. icpl-quick is the smoke profile (one tiny synthesis of 2 candidates
# of 512 steps per feedback, well under a minute); icpl is the claims profile: Hopper (PPO on the
# true reward learns it within 200k steps), K = 4 x I = 2 candidates of 50k PPO steps, the final
# retraining 200k steps, 5 seeds, the oracle teacher: about an hour on 2 cores (--estimate).
_ICPL_NONE: dict[str, Any] = {"ppo": {}, "sac": {}}
PROFILES["icpl-quick"] = {
    "tasks": ["Hopper"],
    "agents": ["ppo"],
    "methods": [],  # no PrefPPO rows: PPO on the true reward and the two syntheses only
    "steps": {"ppo": 512, "sac": 0},
    "budgets": [],
    "teachers": ["oracle"],
    "seeds": 1,
    "eval_episodes": 2,
    "hp": {"ppo": {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 2, "net_arch": [32, 32]}, "sac": {}},
    "pref": _ICPL_NONE,
    "synthesis": {"samples": 2, "iterations": 1, "steps": 512, "comparisons": 2, "segment_length": 25, "hacking_pairs": 16},
}
PROFILES["icpl"] = {
    "tasks": ["Hopper"],
    "agents": ["ppo"],
    "methods": [],
    "steps": {"ppo": 200_000, "sac": 0},
    "budgets": [],
    "teachers": ["oracle"],
    "seeds": 5,
    "eval_episodes": 10,
    "hp": {"ppo": {}, "sac": {}},
    "pref": _ICPL_NONE,
    "synthesis": {"samples": 4, "iterations": 2, "steps": 50_000, "comparisons": 4, "segment_length": 50, "hacking_pairs": 64},
}
#: synthesis rows (``reward = "synthesized"``): method -> the name they are reported under
SYNTHESIS_NAMES = {"icpl": "ICPL (offline proposer)", "eureka": "Eureka (offline proposer)"}
OFFLINE_NOTE = "offline proposer: a search procedure over terms of the task card, not an LLM"

# Measured on the shared 2-core machine (BENCHMARKS.md): env-step costs of training on the
# true reward, and the learned reward's extra cost per env step (wrapper hook + ensemble).
_SECONDS_PER_STEP = {"ppo": 544 / 1_000_000, "sac": 157 / 30_000}
_LEARNED_EXTRA_PER_STEP = {"ppo": 0.55e-3 / 16, "sac": 0.55e-3 / 4}
# A reward-model gradient step at B-Pref's size (3 x 256^3, 128 pairs of 50 steps): 0.3-0.6 s.
_SECONDS_PER_RM_STEP = 0.45
# Reward synthesis: PPO steps cost x 1.1 in the sandboxed reward worker (sandbox_overhead.py), and each
# training job of a synthesis (a candidate or a final retraining) ~7 s more: its probe, worker start,
# trusted evaluation, rollouts, the reward-hacking check and the tournament (icpl-quick: 4 jobs of 512
# steps in 28 s per synthesis, one at a time, on the loaded 2-core machine).
_SYNTHESIS_SANDBOX_FACTOR = 1.1
_SECONDS_PER_SYNTHESIS_JOB = 7.0


# -- runs ------------------------------------------------------------------------------


def config_key(row: dict[str, Any]) -> tuple:
    """``(agent, reward, method, kind, teacher, budget)`` of a job or a result row (rows written
    before methods existed have neither: the plain loop on pairs)."""
    return (row["agent"], row["reward"], row.get("method") or "none", row.get("kind") or "pairs", row["teacher"] or "", row["feedback"] or 0)


def config_name(key: tuple) -> str:
    """What a configuration is reported under: ``SAC (true reward)``, ``PEBBLE oracle/100``,
    ``SURF mistake/100``, ``PrefPPO-RUNE oracle/200``, ``PEBBLE (ratings) oracle/100``,
    ``ICPL (offline proposer) oracle``."""
    agent, reward, method, kind, teacher, budget = key
    if reward == "synthesized":  # ``ICPL (offline proposer) oracle``, ``Eureka (offline proposer)``
        return SYNTHESIS_NAMES[method] + (f" {teacher}" if teacher else "")
    if reward != "learned":
        return f"{agent.upper()} (true reward)"
    name = NAMES[agent]
    if method != "none":
        name = METHOD_NAMES[method] if agent == "sac" else f"{NAMES[agent]}-{METHOD_NAMES[method]}"
    if kind != "pairs":
        name += f" ({kind})"
    return f"{name} {teacher}/{budget}"


def job_config(job: dict[str, Any]):
    """The ``TrainConfig`` of one run."""
    from pbrl.runs.config import TrainConfig

    kwargs: dict[str, Any] = {}
    if job["reward"] == "learned":
        kwargs = dict(teacher=job["teacher"], feedback=job["feedback"], pref=job["pref"])
    return TrainConfig(
        env=TASKS[job["task_name"]], env_kwargs=TASK_KWARGS.get(job["task_name"], {}), agent=job["agent"], steps=job["steps"],
        seed=job["seed"], hp=job["hp"],
        reward=job["reward"], runs_dir=job["runs_dir"], name=job["name"], eval_freq=0, checkpoint_freq=0,
        eval_episodes=job["eval_episodes"], **kwargs,
    )  # fmt: skip


#: what identifies a run across invocations (``--root`` reuse: finished runs are not run again)
JOB_FIELDS = ("task_name", "agent", "reward", "method", "kind", "teacher", "feedback", "seed", "steps")


def job_id(row: dict[str, Any]) -> str:
    # a synthesis run is also identified by its search settings (rows without them keep their ids)
    return json.dumps([row.get(k) for k in JOB_FIELDS] + ([row["search"]] if row.get("search") else []))


def job_result(job: dict[str, Any], result: Any = None, error: str | None = None) -> dict[str, Any]:
    """One row of the report from a finished run (a ``RunResult``) or its error."""
    out = {k: job.get(k) for k in JOB_FIELDS}
    if job.get("search"):
        out["search"] = job["search"]
    if error is not None:
        out["error"] = error[-3000:]
        return out
    if job["reward"] == "synthesized":
        return {**out, **synthesis_row(result)}
    out.update(return_mean=result.final["return_mean"], return_std=result.final["return_std"], run_dir=result.run_dir,
               seconds=round(result.wall_clock, 1))  # fmt: skip
    if result.final.get("success_rate") is not None:
        out["success_rate"] = result.final["success_rate"]
    if "feedback" in result.final:
        fb = result.final["feedback"]
        out.update(labels=fb["labels"], queries=fb["queries"], accuracy=fb["reward_model_accuracy"], correlation=fb["reward_model_correlation"])
    return out


def synthesis_row(result: Any) -> dict[str, Any]:
    """The report's fields of a finished synthesis run (a ``SynthesisResult``): the final program's
    mean true return (one final seed), the teacher's answers (ICPL's labels), the search's outcome."""
    final = result.final or {}
    synthesized = final.get("synthesized") or {}
    if synthesized.get("return_mean") is None:
        raise RuntimeError(f"synthesis run {result.run_dir}: no final retraining of a synthesized program "
                           f"(no candidate trained, or the retraining failed): {final.get('runs')}")
    out = {
        "return_mean": synthesized["return_mean"], "return_std": None, "fitness": synthesized.get("fitness_mean"),
        "final_seeds": synthesized.get("seeds_ok"), "run_dir": result.run_dir, "proposer": OFFLINE_NOTE, "label": result.label,
        # the task's own reward, retrained inside the synthesis on the same final seed (a cross-check of PPO's row)
        "task_reward_return": (final.get("task_reward") or {}).get("return_mean"),
        "best": (result.best or {}).get("id"), "candidates": sum(it["candidates"] for it in result.iterations),
        "trained": sum(it["trained"] for it in result.iterations), "flagged": len(result.warnings),
        "preferred": [it.get("preferred") for it in result.iterations],
    }  # fmt: skip
    tours = sorted(glob.glob(os.path.join(result.run_dir, "preferences", "it[0-9]*.json")))
    tours = [t for t in tours if not t.endswith("-proposer.json")]
    if tours:
        comparisons = [c for t in tours for c in json.load(open(t, encoding="utf-8"))["comparisons"]]
        out["queries"] = sum(len(c["query_ids"]) for c in comparisons)
        out["labels"] = out["queries"] - sum(c["unanswered"] for c in comparisons)
    return out


def synthesize(job: dict[str, Any], workers: int) -> Any:
    """One reward-synthesis run of a ``synthesized`` job with the offline proposer (``workers``
    candidates at a time); a run folder left by an earlier invocation is resumed."""
    from pbrl.runs.folder import run_path
    from pbrl.synthesis.loop import SynthesisConfig, Synthesizer

    search = dict(job["search"])
    icpl = job["method"] == "icpl"
    config = SynthesisConfig(
        task=TASKS[job["task_name"]], backend="offline", samples=search.pop("samples"), iterations=search.pop("iterations"),
        steps=search.pop("steps"), final_seeds=1, final_steps=job["steps"], eval_episodes=job["eval_episodes"], seed=job["seed"],
        hyperparams=dict(job["hp"]), runs_dir=job["runs_dir"], name=job["name"], max_workers=max(1, workers), label=OFFLINE_NOTE,
        feedback="preferences" if icpl else "fitness", teacher=job["teacher"] if icpl else "oracle", **search,
    )  # fmt: skip
    path = run_path(job["runs_dir"], config.task, "synthesis", job["name"], job["seed"])
    quiet = lambda line: None  # noqa: E731 -- every step is in the run folder
    if os.path.isfile(os.path.join(path, "config.json")):
        return Synthesizer.resume(path, log=quiet).run()
    return Synthesizer(config, log=quiet).run()


def random_returns(tasks: list[str], episodes: int, seed: int = 12345) -> dict[str, float]:
    """Mean return of a uniform-random policy per task (the 0 of the normalised score)."""
    import gymnasium as gym

    from pbrl.evaluation import evaluate_policy

    out = {}
    for name in tasks:
        kwargs = TASK_KWARGS.get(name, {})
        space = gym.make(TASKS[name], **kwargs).action_space
        rng = np.random.default_rng(seed)
        policy = lambda o, s=space: rng.uniform(s.low, s.high, (len(o), s.shape[0]))  # noqa: E731
        out[name] = float(evaluate_policy(policy, TASKS[name], episodes=episodes, seed=seed, env_kwargs=kwargs).return_mean)
    return out


def make_jobs(spec: dict[str, Any], seeds: int, agents: list[str], runs_dir: str) -> list[dict[str, Any]]:
    """Every run of a profile: per seed, task and agent the true-reward run, then per method
    (``spec["methods"]``, default the plain loop), feedback kind (``spec["kinds"]``, default
    pairs), teacher and budget one learned-reward run; with ``spec["synthesis"]`` (PPO) one ICPL
    synthesis per teacher and one Eureka-style synthesis."""
    jobs = []
    for seed in range(seeds):
        for task in spec["tasks"]:
            for agent in agents:
                base = dict(task_name=task, agent=agent, seed=seed, steps=spec["steps"][agent], hp=spec["hp"][agent],
                            eval_episodes=spec["eval_episodes"], runs_dir=runs_dir)  # fmt: skip
                jobs.append({**base, "reward": "true", "method": "none", "kind": "pairs", "teacher": None, "feedback": None, "pref": {}, "name": "true"})
                for method in spec.get("methods", ["none"]):
                    # ratings and rankings are rows of the plain loop (a method's own parts assume pairs)
                    for kind in spec.get("kinds", ["pairs"]) if method == "none" else ["pairs"]:
                        for teacher in spec["teachers"]:
                            for budget in spec["budgets"]:
                                pref = dict(spec["pref"][agent])
                                if "queries_per_round" in pref:
                                    pref["queries_per_round"] = min(pref["queries_per_round"], budget)
                                name = f"{teacher}-{budget}"
                                if method != "none":
                                    pref["method"] = method
                                    pref.update(spec.get("method_pref", {}).get(method, {}))
                                    name += f"-{method}"
                                if kind != "pairs":
                                    pref["feedback_kind"] = kind
                                    pref.update(spec.get("kind_pref", {}).get(kind, {}))
                                    name += f"-{kind}"
                                jobs.append({**base, "reward": "learned", "method": method, "kind": kind, "teacher": teacher,
                                             "feedback": budget, "pref": pref, "name": name})  # fmt: skip
                if agent == "ppo" and spec.get("synthesis"):
                    # reward synthesis: ICPL per teacher, then the same search with fitness feedback (Eureka)
                    synth = {**base, "reward": "synthesized", "kind": "pairs", "feedback": None, "pref": {}, "search": dict(spec["synthesis"])}
                    for teacher in spec["teachers"]:
                        jobs.append({**synth, "method": "icpl", "teacher": teacher, "name": f"icpl-{teacher}"})
                    jobs.append({**synth, "method": "eureka", "teacher": None, "name": "eureka"})
    return jobs


def run_all(jobs: list[dict[str, Any]], workers: int, done_file: str | None = None) -> list[dict[str, Any]]:
    """Train every job (``pbrl.runs.train.train``), ``workers`` at a time in spawned processes;
    then run the synthesis jobs (:func:`synthesize`) one after another.

    ``done_file`` (JSON lines): each finished run's row is appended as it ends, and rows
    already there (from an earlier invocation with the same ``--root``) are reused instead of
    run again; a failed run is run again."""
    from pbrl.runs.train import train

    results: list[dict[str, Any]] = []
    done = {}
    if done_file and os.path.exists(done_file):
        with open(done_file, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    if "error" not in row:
                        done[job_id(row)] = row
    todo = [job for job in jobs if job_id(job) not in done]
    results.extend(done[job_id(job)] for job in jobs if job_id(job) in done)
    if results:
        log(f"{len(results)} runs already done in {done_file}: reused")

    def finish(row: dict[str, Any]) -> None:
        results.append(row)
        if done_file:
            with open(done_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, default=str) + "\n")
        _progress(len(results), len(jobs), row)

    # a synthesis runs here, one at a time, training its candidates ``workers`` at a time itself
    syntheses = [job for job in todo if job["reward"] == "synthesized"]
    todo = [job for job in todo if job["reward"] != "synthesized"]
    if workers <= 1:
        for job in todo:
            try:
                finish(job_result(job, train(job_config(job))))
            except Exception:  # one failed run must not sink the others
                finish(job_result(job, error=traceback.format_exc()))
    elif todo:
        with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(train, job_config(job)): job for job in todo}
            for future in cf.as_completed(futures):
                job = futures[future]
                try:
                    finish(job_result(job, future.result()))
                except Exception:
                    finish(job_result(job, error=traceback.format_exc()))
    for job in syntheses:
        began = time.time()
        try:
            row = job_result(job, synthesize(job, workers))
            row["seconds"] = round(time.time() - began, 1)
        except Exception:
            row = job_result(job, error=traceback.format_exc())
        finish(row)
    return results


def _progress(done: int, total: int, r: dict[str, Any]) -> None:
    what = f"{config_name(config_key(r))} {r['task_name']} s{r['seed']}"
    status = "FAILED" if "error" in r else f"return {r['return_mean']:.1f} ({r['seconds']} s)"
    log(f"{done}/{total} {what}: {status}")


# -- statistics --------------------------------------------------------------------------


def interval_method(reps: int, confidence: float = 0.95) -> str:
    """How an IQM interval was computed (``pbrl.runs.compare``'s wording), printed next to it."""
    return f"{100 * confidence:g}% stratified bootstrap, {reps:,} reps"


def improvement_method(reps: int, confidence: float = 0.95) -> str:
    """How an interval of P(X > Y) was computed (rliable's independent bootstrap)."""
    return f"{100 * confidence:g}% independent stratified bootstrap, {reps:,} reps"


def statistics_table(results: list[dict[str, Any]], randoms: dict[str, float], tasks: list[str], seeds: int, reps: int) -> tuple[dict, str, list[dict]]:
    """Per configuration the IQM of the normalised return with its interval; per comparison
    (learned vs true reward, oracle vs noisy, the larger vs the smaller budget) P(X > Y)
    with its interval and :func:`pbrl.runs.compare.claim`'s wording."""
    from pbrl.evaluation.aggregate import interval_estimate, iqm

    ok = [r for r in results if "error" not in r]
    true_mean = {}
    for agent in ("ppo", "sac"):
        for task in tasks:
            vals = [r["return_mean"] for r in ok if r["reward"] == "true" and r["agent"] == agent and r["task_name"] == task]
            if vals:
                true_mean[(agent, task)] = float(np.mean(vals))
    for r in ok:
        denom = true_mean.get((r["agent"], r["task_name"]), np.nan) - randoms[r["task_name"]]
        r["normalized"] = float(100.0 * (r["return_mean"] - randoms[r["task_name"]]) / denom) if abs(denom) > 1e-6 else float("nan")
    rows, stats, matrices = [], {}, {}
    configs = sorted({config_key(r) for r in ok}, key=lambda c: (c[0], c[1] != "true", c[2] != "none", c[2], c[3] != "pairs", c[3], c[4], c[5]))
    for config in configs:
        agent, reward, method, kind, teacher, budget = config
        sel = [r for r in ok if config_key(r) == config]
        matrix = np.full((seeds, len(tasks)), np.nan)
        for r in sel:
            matrix[r["seed"], tasks.index(r["task_name"])] = r["normalized"]
        complete = matrix[~np.isnan(matrix).any(axis=1)]
        matrices[config] = complete
        key = config_name(config)
        if len(complete):
            point, low, high = interval_estimate(complete, iqm, reps=reps)
        else:
            point = low = high = float("nan")
        raw = {t: float(np.mean([r["return_mean"] for r in sel if r["task_name"] == t])) for t in tasks if any(r["task_name"] == t for r in sel)}
        labels = [r["labels"] for r in sel if "labels" in r]
        accs = [r["accuracy"] for r in sel if r.get("accuracy") is not None]
        stats[key] = {
            "agent": agent, "reward": reward, "method": method, "kind": kind, "teacher": teacher or None, "feedback": budget or None,
            "iqm": [point, low, high], "runs": len(sel), "complete_seeds": len(complete), "mean_return": raw,
            "labels_mean": float(np.mean(labels)) if labels else None, "accuracy_mean": float(np.mean(accs)) if accs else None,
        }  # fmt: skip
        cells = [key, teacher or "—", str(budget or "—"), f"{point:.1f} [{low:.1f}, {high:.1f}]"]
        cells += [f"{raw[t]:.0f}" if t in raw else "—" for t in tasks]
        cells += [f"{np.mean(labels):.0f}" if labels else "—", f"{np.mean(accs):.2f}" if accs else "—", str(len(sel))]
        rows.append("| " + " | ".join(cells) + " |")
    header = ["agent", "teacher", "budget", f"IQM normalised return [{interval_method(reps)}]"] + [f"{t} return" for t in tasks] + ["labels", "RM accuracy", "runs"]
    table = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n" + "\n".join(rows)
    table += "\n\nnormalised return: 100 × (R − random) / (true-reward agent − random); random returns: " + ", ".join(f"{t} {randoms[t]:.1f}" for t in tasks)
    table += synthesis_note(ok)
    comparisons = compare_configs(matrices, stats, reps)
    if comparisons:
        table += f"\n\n| X | Y | IQM X | IQM Y | P(X > Y) [{improvement_method(reps)}] | claim |\n|---|---|---|---|---|---|\n"
        table += "\n".join(
            f"| {c['x']} | {c['y']} | {_ci(c['iqm_x'])} | {_ci(c['iqm_y'])} | {_ci(c['probability'], 2)} | {c['claim']} |" for c in comparisons
        )
        table += f"\n\nIQM intervals: {interval_method(reps)} over seeds (within each task); P(X > Y): {improvement_method(reps)}."
    return stats, table, comparisons


def synthesis_note(rows: list[dict[str, Any]]) -> str:
    """What the reward-synthesis rows are (empty without them): the proposer said plainly, the search's budget."""
    runs = [r for r in rows if r["reward"] == "synthesized"]
    if not runs:
        return ""
    s = runs[0]["search"]
    steps = runs[0]["steps"]
    answers = [r["labels"] for r in runs if r.get("labels") is not None]
    return (f"\n\nICPL / Eureka rows: reward synthesis (pbrl.synthesis) with the **{OFFLINE_NOTE}** -- not LLM results. "
            f"K = {s['samples']} candidates x I = {s['iterations']} iterations of {s['steps']:,} PPO steps each; ICPL: a teacher "
            f"compares the candidates' rollouts ({s.get('comparisons', 4)} segment pairs per pair of candidates) and the preferred "
            f"one is the next base (labels: the teacher's answers"
            + (f", {np.mean(answers):.0f} per run" if answers else "") + "); Eureka-style: the best by the task metric is the "
            f"next base. The final program is retrained once (one final seed per synthesis seed) for {steps:,} PPO steps, the "
            "steps of PPO (true reward), and normalised against it.")


def _ci(t: list[float], digits: int = 1) -> str:
    return f"{t[0]:.{digits}f} [{t[1]:.{digits}f}, {t[2]:.{digits}f}]"


def _pairs(keys: list[tuple]) -> list[tuple[tuple, tuple]]:
    """The comparisons the literature makes (keys: :func:`config_key`): each learned reward vs its
    agent on the true reward, the oracle vs each other teacher at one budget, the largest vs the
    smallest budget of one teacher, and each method or feedback kind vs the plain loop on pairs
    (PEBBLE / PrefPPO) with the same teacher and budget (e.g. RIME vs PEBBLE under mistakes); for
    reward synthesis, each synthesized reward vs PPO on the true reward and ICPL vs Eureka-style."""
    out = []
    learned = [k for k in keys if k[1] == "learned"]
    for k in learned:
        true = (k[0], "true", "none", "pairs", "", 0)
        if true in keys:
            out.append((k, true))
    for k in learned:
        if k[4] == "oracle":
            out.extend((k, other) for other in learned if other[:4] == k[:4] and other[5] == k[5] and other[4] != "oracle")
    for group in sorted({k[:5] for k in learned}):
        budgets = sorted(k[5] for k in learned if k[:5] == group)
        if len(budgets) > 1:
            out.append(((*group, budgets[-1]), (*group, budgets[0])))
    for k in learned:
        plain = (k[0], "learned", "none", "pairs", k[4], k[5])
        if k != plain and plain in keys:
            out.append((k, plain))
    # reward synthesis: each synthesized reward vs PPO on the true reward, ICPL vs the Eureka-style search,
    # and ICPL with the oracle vs ICPL with each other teacher
    synthesized = [k for k in keys if k[1] == "synthesized"]
    eureka = ("ppo", "synthesized", "eureka", "pairs", "", 0)
    for k in synthesized:
        true = (k[0], "true", "none", "pairs", "", 0)
        if true in keys:
            out.append((k, true))
    out.extend((k, eureka) for k in synthesized if k[2] == "icpl" and eureka in keys)
    for k in synthesized:
        if k[2] == "icpl" and k[4] == "oracle":
            out.extend((k, other) for other in synthesized if other[2] == "icpl" and other[4] != "oracle")
    return out


def compare_configs(matrices: dict[tuple, np.ndarray], stats: dict[str, dict], reps: int) -> list[dict[str, Any]]:
    """P(X > Y) with its interval and the honest wording for each of :func:`_pairs`."""
    from pbrl.evaluation.aggregate import probability_of_improvement_interval
    from pbrl.runs.compare import claim

    name = {k: config_name(k) for k in matrices}
    out = []
    for x, y in _pairs(list(matrices)):
        a, b = matrices[x], matrices[y]
        if not len(a) or not len(b):
            continue
        probability = [float(v) for v in probability_of_improvement_interval(a, b, reps=reps)]
        iqm_x, iqm_y = stats[name[x]]["iqm"], stats[name[y]]["iqm"]
        # the same env steps on both sides; a budget comparison differs in labels by design (its labels say so)
        wording = claim(name[x], name[y], probability, iqm_x, iqm_y, seeds=min(len(a), len(b)))
        out.append({"x": name[x], "y": name[y], "iqm_x": iqm_x, "iqm_y": iqm_y, "probability": probability, "claim": wording,
                    "seeds": [len(a), len(b)], "interval_method": interval_method(reps),
                    "improvement_method": improvement_method(reps)})  # fmt: skip
    return out


# -- estimate ------------------------------------------------------------------------------


def _method_costs(method: str, opts: dict[str, Any]) -> tuple[float, float]:
    """(factor on the reward model's training cost, extra seconds per env step) of a method, from
    what it adds: SURF trains mu unlabelled pairs per labelled one and never stops early; QPA
    trains one network on qpa_aug_ratio crops per pair; RUNE evaluates the ensemble on every SAC
    minibatch; MRN's bi-level step (a functional critic step and its second-order backward,
    about three SAC updates) every mrn_meta_steps steps, plus a buffer relabel."""
    if method == "surf":
        return 1.0 + opts["surf_mu"], 0.0
    if method == "qpa":
        return opts["qpa_aug_ratio"] / max(1, opts["ensemble_size"]), 0.0
    if method == "rune":
        return 1.0, 0.3e-3
    if method == "mrn":
        return 1.0, 3 * _SECONDS_PER_STEP["sac"] / opts["mrn_meta_steps"]
    return 1.0, 0.0


def estimate_hours(profile: str, seeds: int, workers: int, spec: dict[str, Any] | None = None, agents: list[str] | None = None) -> dict[str, float]:
    """Wall-clock estimate from measured per-step costs (BENCHMARKS.md) and reward-model update costs.

    ``spec`` (default: the profile's) and ``agents`` (default: the profile's, else both) give
    what will actually run, after ``--tasks``/``--teachers``/``--budgets``/``--agents``.
    Reward-model updates dominate at the 1000-label budget: round j retrains on ~j × per-round
    labels for up to ``reward_epochs`` epochs (the noisy teacher rarely reaches 97% train
    accuracy, so assume the cap; the oracle half of it). Checked against two measured runs:
    the medium profile (estimate 0.75 h, measured 0.72 h under load) and medium with
    ``--agents sac --teachers oracle --budgets 1000`` (0.59 h, measured 0.52 h).
    """
    from pbrl.agents.preference.options import DEFAULTS, task_defaults

    spec = spec if spec is not None else PROFILES[profile]
    agents = agents if agents is not None else spec.get("agents", list(NAMES))
    methods, kinds = spec.get("methods", ["none"]), spec.get("kinds", ["pairs"])
    per_run: dict[str, float] = {}
    total = 0.0
    for agent, task in ((a, t) for a in agents for t in spec["tasks"]):
        steps = spec["steps"][agent]
        env_s = steps * spec.get("seconds_per_step", {}).get(agent, _SECONDS_PER_STEP[agent])
        per_run[f"{agent}/true"] = env_s
        for method in methods:
            # as a run resolves them: declared defaults < the task's table (tasks.toml) < the profile's
            opts = {**DEFAULTS[agent], **task_defaults(agent, TASKS[task])[0], **spec["pref"][agent], **spec.get("method_pref", {}).get(method, {})}
            epochs = opts["reward_epochs"]
            rm_factor, step_extra = _method_costs(method, opts)
            for kind in kinds if method == "none" else ["pairs"]:
                for teacher in spec["teachers"]:
                    for budget in spec["budgets"]:
                        per_round = min(opts["queries_per_round"] if opts["queries_per_round"] != "auto" else max(1, budget // 10), budget)
                        rounds = -(-budget // per_round)
                        rm_steps = sum(-(-(j * per_round) // opts["reward_batch_size"]) for j in range(1, rounds + 1)) * epochs
                        scale = 1.0 if teacher != "oracle" or method == "surf" else 0.5  # SURF never stops early
                        size = (opts["segment_length"] / 50) * (sum(opts["reward_hidden"]) / 768) * (opts["ensemble_size"] / 3)
                        rm_s = rm_steps * _SECONDS_PER_RM_STEP * scale * size * rm_factor
                        name = "/".join([agent] + [m for m in (method, kind) if m not in ("none", "pairs")] + [teacher, str(budget)])
                        per_run[name] = env_s + steps * (_LEARNED_EXTRA_PER_STEP[agent] + step_extra) + rm_s
                        total += per_run[name] * seeds
        total += env_s * seeds
    synthesis_runs = 0
    if spec.get("synthesis") and "ppo" in agents:
        # per task and seed: ICPL per teacher and one Eureka-style search, each K x I candidates and a final
        # retraining of the program and of the task's own reward (one seed) for the true-reward run's steps
        syn = spec["synthesis"]
        candidates, final = syn["samples"] * syn["iterations"], spec["steps"]["ppo"]
        rate = spec.get("seconds_per_step", {}).get("ppo", _SECONDS_PER_STEP["ppo"]) * _SYNTHESIS_SANDBOX_FACTOR
        cost = (candidates * syn["steps"] + 2 * final) * rate + (candidates + 2) * _SECONDS_PER_SYNTHESIS_JOB
        for name in [f"ppo/icpl/{t}" for t in spec["teachers"]] + ["ppo/eureka"]:
            per_run[name] = cost
        synthesis_runs = (len(spec["teachers"]) + 1) * len(spec["tasks"]) * seeds
        total += cost * synthesis_runs
    return {
        "runs": (1 + len(spec["teachers"]) * len(spec["budgets"]) * (len(methods) + len(kinds) - 1)) * len(agents) * seeds * len(spec["tasks"])
        + synthesis_runs,
        "total_cpu_hours": total / 3600,
        "wall_clock_hours": total / 3600 / max(1, min(workers, 2)) * (1.15 if workers > 1 else 1.0),
        "per_run_hours": {k: v / 3600 for k, v in per_run.items()},
        "rates": "env-step costs of PPO (544 s per 1M steps) and SAC (157 s per 30k steps) on the true reward, "
                 "the learned reward's per-step cost and a reward-model gradient step (0.45 s at B-Pref's size): "
                 "measured on the 2-core machine, BENCHMARKS.md",
        **({"synthesis_rates": "reward synthesis: PPO's env-step cost x 1.1 for the sandboxed reward worker, and 7 s per "
                               "training job (probe, worker start, trusted evaluation, hacking check, tournament; icpl-quick "
                               "on the loaded 2-core machine)"} if synthesis_runs else {}),
    }  # fmt: skip


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the smoke profile: one task, tiny budgets")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None, help="quick, medium, claims-prefppo, claims-pebble, methods(-quick, -dmc), icpl(-quick) or full (default: full; --quick = quick)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default: the profile's)")
    parser.add_argument("--agents", default=None, help="comma-separated: ppo (PrefPPO), sac (PEBBLE)")
    parser.add_argument("--tasks", default="", help="comma-separated subset of the profile's tasks")
    parser.add_argument("--teachers", default="", help="comma-separated subset of the profile's teachers")
    parser.add_argument("--budgets", default="", help="comma-separated subset of the profile's label budgets")
    parser.add_argument("--methods", default="", help="comma-separated subset of the profile's methods (none = PEBBLE / PrefPPO; surf, rune, qpa, rime, mrn)")
    parser.add_argument("--kinds", default="", help="comma-separated subset of the profile's feedback kinds (pairs, ratings, rankings)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--root", default=None, help="folder for the run folders (default: a temporary one); runs finished there "
                        "by an earlier invocation (its results.jsonl) are reused, so a long profile can be run in parts")
    parser.add_argument("--reps", type=int, default=None, help="bootstrap repetitions (default: pbrl.evaluation.aggregate.DEFAULT_REPS, rliable's 50,000)")
    parser.add_argument("--estimate", action="store_true", help="only print the profile's wall-clock estimate")
    parser.add_argument("--json", default=None, help="output JSON path (the .md table goes beside it)")
    args = parser.parse_args(argv)
    if args.reps is None:
        from pbrl.evaluation.aggregate import DEFAULT_REPS

        args.reps = DEFAULT_REPS
    profile = "quick" if args.quick else (args.profile or "full")
    spec = dict(PROFILES[profile])
    if args.agents is None:
        args.agents = ",".join(spec.get("agents", ["ppo", "sac"]))
    if args.tasks:
        spec["tasks"] = [t for t in spec["tasks"] if t in args.tasks.split(",")] or args.tasks.split(",")
        unknown = [t for t in spec["tasks"] if t not in TASKS]
        if unknown:
            parser.error(f"unknown task(s) {unknown}; tasks: {', '.join(TASKS)}")
    if args.teachers:
        spec["teachers"] = [t for t in args.teachers.split(",") if t]
    if args.budgets:
        try:
            spec["budgets"] = [int(b) for b in args.budgets.split(",") if b]
        except ValueError:
            parser.error(f"--budgets takes integers, got {args.budgets!r}")
    for key, given, known in (("methods", args.methods, ("none", *METHOD_NAMES)), ("kinds", args.kinds, ("pairs", "ratings", "rankings"))):
        if given:
            chosen = [m for m in given.split(",") if m]
            if any(m not in known for m in chosen):
                parser.error(f"--{key} takes {', '.join(known)}; got {given!r}")
            spec[key] = chosen
    agents = [a for a in args.agents.split(",") if a]
    if not agents or any(a not in NAMES for a in agents):
        parser.error(f"--agents takes ppo and/or sac, got {args.agents!r}")
    seeds = args.seeds or spec["seeds"]
    estimate = estimate_hours(profile, seeds, args.workers, spec, agents)
    log(f"profile {profile}: {estimate['runs']} runs, estimated {estimate['total_cpu_hours']:.1f} CPU-hours, "
        f"{estimate['wall_clock_hours']:.1f} h wall-clock with {args.workers} workers")  # fmt: skip
    if args.estimate:
        print(json.dumps(estimate, indent=2))
        return 0
    root = args.root or tempfile.mkdtemp(prefix=f"pbrl-online-{profile}-")
    runs_dir = os.path.join(root, "runs")
    load_before = load_average()
    t0 = time.time()
    randoms = random_returns(spec["tasks"], spec["eval_episodes"])
    jobs = make_jobs(spec, seeds, agents, runs_dir)
    log(f"{len(jobs)} runs, {args.workers} at a time, in {runs_dir}")
    results = run_all(jobs, args.workers, os.path.join(root, "results.jsonl"))
    seconds = time.time() - t0
    stats, table, comparisons = statistics_table(results, randoms, spec["tasks"], seeds, args.reps)
    report = {
        "profile": profile,
        "config": {"tasks": spec["tasks"], "agents": agents, "methods": spec.get("methods", ["none"]), "kinds": spec.get("kinds", ["pairs"]),
                   "seeds": seeds, "steps": spec["steps"], "budgets": spec["budgets"], "method_pref": spec.get("method_pref", {}),
                   "teachers": spec["teachers"], "hp": spec["hp"], "pref": spec["pref"], "eval_episodes": spec["eval_episodes"],
                   "workers": args.workers, **({"synthesis": spec["synthesis"]} if spec.get("synthesis") else {})},  # fmt: skip
        "random_returns": randoms,
        "timing_s": round(seconds, 1),
        "estimate_full_profile": estimate_hours("full", PROFILES["full"]["seeds"], 2),
        "load": {"before": load_before, "after": load_average()},
        "root": root,
        "results": results,
        "failed": [r for r in results if "error" in r],
        "statistics": stats,
        "comparisons": comparisons,
        "interval_method": interval_method(args.reps),
        "improvement_method": improvement_method(args.reps),
        "table": table,
    }
    print(table)
    print(f"load average before {load_before}, after {report['load']['after']}; {seconds:.0f} s")
    out = args.json or os.path.join(RESULTS, f"pbrl_online{'' if profile == 'full' else '-' + profile}.json")
    write_report(out, report, markdown=table, say=log)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
