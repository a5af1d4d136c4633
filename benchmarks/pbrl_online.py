"""Online preference-based RL, B-Pref style: PrefPPO and PEBBLE vs the same agent on the true reward.

    python benchmarks/pbrl_online.py --quick          # smoke run: one task, tiny budgets (a few minutes)
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

TASKS = {"HalfCheetah": "pbrl/HalfCheetah-v5", "Walker2d": "pbrl/Walker2d-v5", "Hopper": "pbrl/Hopper-v5"}
NAMES = {"ppo": "PrefPPO", "sac": "PEBBLE"}

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
        "tasks": list(TASKS),
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

# Measured on the shared 2-core machine (BENCHMARKS.md): env-step costs of training on the
# true reward, and the learned reward's extra cost per env step (wrapper hook + ensemble).
_SECONDS_PER_STEP = {"ppo": 544 / 1_000_000, "sac": 157 / 30_000}
_LEARNED_EXTRA_PER_STEP = {"ppo": 0.55e-3 / 16, "sac": 0.55e-3 / 4}
# A reward-model gradient step at B-Pref's size (3 x 256^3, 128 pairs of 50 steps): 0.3-0.6 s.
_SECONDS_PER_RM_STEP = 0.45


# -- runs ------------------------------------------------------------------------------


def job_config(job: dict[str, Any]):
    """The ``TrainConfig`` of one run."""
    from pbrl.runs.config import TrainConfig

    kwargs: dict[str, Any] = {}
    if job["reward"] == "learned":
        kwargs = dict(teacher=job["teacher"], feedback=job["feedback"], pref=job["pref"])
    return TrainConfig(
        env=TASKS[job["task_name"]], agent=job["agent"], steps=job["steps"], seed=job["seed"], hp=job["hp"],
        reward=job["reward"], runs_dir=job["runs_dir"], name=job["name"], eval_freq=0, checkpoint_freq=0,
        eval_episodes=job["eval_episodes"], **kwargs,
    )  # fmt: skip


def job_result(job: dict[str, Any], result: Any = None, error: str | None = None) -> dict[str, Any]:
    """One row of the report from a finished run (a ``RunResult``) or its error."""
    out = {k: job[k] for k in ("task_name", "agent", "reward", "teacher", "feedback", "seed", "steps")}
    if error is not None:
        out["error"] = error[-3000:]
        return out
    out.update(return_mean=result.final["return_mean"], return_std=result.final["return_std"], run_dir=result.run_dir,
               seconds=round(result.wall_clock, 1))  # fmt: skip
    if "feedback" in result.final:
        fb = result.final["feedback"]
        out.update(labels=fb["labels"], queries=fb["queries"], accuracy=fb["reward_model_accuracy"], correlation=fb["reward_model_correlation"])
    return out


def random_returns(tasks: list[str], episodes: int, seed: int = 12345) -> dict[str, float]:
    """Mean return of a uniform-random policy per task (the 0 of the normalised score)."""
    import gymnasium as gym

    from pbrl.evaluation import evaluate_policy

    out = {}
    for name in tasks:
        space = gym.make(TASKS[name]).action_space
        rng = np.random.default_rng(seed)
        policy = lambda o, s=space: rng.uniform(s.low, s.high, (len(o), s.shape[0]))  # noqa: E731
        out[name] = float(evaluate_policy(policy, TASKS[name], episodes=episodes, seed=seed).return_mean)
    return out


def make_jobs(spec: dict[str, Any], seeds: int, agents: list[str], runs_dir: str) -> list[dict[str, Any]]:
    jobs = []
    for seed in range(seeds):
        for task in spec["tasks"]:
            for agent in agents:
                base = dict(task_name=task, agent=agent, seed=seed, steps=spec["steps"][agent], hp=spec["hp"][agent],
                            eval_episodes=spec["eval_episodes"], runs_dir=runs_dir)  # fmt: skip
                jobs.append({**base, "reward": "true", "teacher": None, "feedback": None, "pref": {}, "name": "true"})
                for teacher in spec["teachers"]:
                    for budget in spec["budgets"]:
                        pref = dict(spec["pref"][agent])
                        if "queries_per_round" in pref:
                            pref["queries_per_round"] = min(pref["queries_per_round"], budget)
                        jobs.append({**base, "reward": "learned", "teacher": teacher, "feedback": budget, "pref": pref,
                                     "name": f"{teacher}-{budget}"})  # fmt: skip
    return jobs


def run_all(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Train every job (``pbrl.runs.train.train``), ``workers`` at a time in spawned processes."""
    from pbrl.runs.train import train

    results: list[dict[str, Any]] = []
    if workers <= 1:
        for job in jobs:
            try:
                results.append(job_result(job, train(job_config(job))))
            except Exception:  # one failed run must not sink the others
                results.append(job_result(job, error=traceback.format_exc()))
            _progress(len(results), len(jobs), results[-1])
        return results
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(train, job_config(job)) for job in jobs]
        for job, future in zip(jobs, futures):
            try:
                results.append(job_result(job, future.result()))
            except Exception:
                results.append(job_result(job, error=traceback.format_exc()))
            _progress(len(results), len(jobs), results[-1])
    return results


def _progress(done: int, total: int, r: dict[str, Any]) -> None:
    what = f"{NAMES[r['agent']] if r['reward'] == 'learned' else r['agent'].upper()} {r['task_name']} s{r['seed']}"
    if r["reward"] == "learned":
        what += f" {r['teacher']}/{r['feedback']}"
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
    configs = sorted({(r["agent"], r["reward"], r["teacher"] or "", r["feedback"] or 0) for r in ok}, key=lambda c: (c[0], c[1] != "true", c[2], c[3]))
    for agent, reward, teacher, budget in configs:
        sel = [r for r in ok if (r["agent"], r["reward"], r["teacher"] or "", r["feedback"] or 0) == (agent, reward, teacher, budget)]
        matrix = np.full((seeds, len(tasks)), np.nan)
        for r in sel:
            matrix[r["seed"], tasks.index(r["task_name"])] = r["normalized"]
        complete = matrix[~np.isnan(matrix).any(axis=1)]
        matrices[(agent, reward, teacher, budget)] = complete
        name = NAMES[agent] if reward == "learned" else f"{agent.upper()} (true reward)"
        key = f"{name} {teacher}/{budget}" if reward == "learned" else name
        if len(complete):
            point, low, high = interval_estimate(complete, iqm, reps=reps)
        else:
            point = low = high = float("nan")
        raw = {t: float(np.mean([r["return_mean"] for r in sel if r["task_name"] == t])) for t in tasks if any(r["task_name"] == t for r in sel)}
        labels = [r["labels"] for r in sel if "labels" in r]
        accs = [r["accuracy"] for r in sel if r.get("accuracy") is not None]
        stats[key] = {
            "agent": agent, "reward": reward, "teacher": teacher or None, "feedback": budget or None,
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
    comparisons = compare_configs(matrices, stats, reps)
    if comparisons:
        table += f"\n\n| X | Y | IQM X | IQM Y | P(X > Y) [{improvement_method(reps)}] | claim |\n|---|---|---|---|---|---|\n"
        table += "\n".join(
            f"| {c['x']} | {c['y']} | {_ci(c['iqm_x'])} | {_ci(c['iqm_y'])} | {_ci(c['probability'], 2)} | {c['claim']} |" for c in comparisons
        )
        table += f"\n\nIQM intervals: {interval_method(reps)} over seeds (within each task); P(X > Y): {improvement_method(reps)}."
    return stats, table, comparisons


def _ci(t: list[float], digits: int = 1) -> str:
    return f"{t[0]:.{digits}f} [{t[1]:.{digits}f}, {t[2]:.{digits}f}]"


def _pairs(keys: list[tuple]) -> list[tuple[tuple, tuple]]:
    """The comparisons the literature makes: each learned reward vs its agent on the true reward,
    oracle vs noisy at one budget, and the largest vs the smallest budget of one teacher."""
    out = []
    for agent, reward, teacher, budget in keys:
        if reward == "learned" and (agent, "true", "", 0) in keys:
            out.append(((agent, reward, teacher, budget), (agent, "true", "", 0)))
    for agent, reward, teacher, budget in keys:
        if reward == "learned" and teacher == "oracle" and (agent, reward, "noisy", budget) in keys:
            out.append(((agent, reward, "oracle", budget), (agent, reward, "noisy", budget)))
    for agent, teacher in sorted({(k[0], k[2]) for k in keys if k[1] == "learned"}):
        budgets = sorted(k[3] for k in keys if k[0] == agent and k[1] == "learned" and k[2] == teacher)
        if len(budgets) > 1:
            out.append(((agent, "learned", teacher, budgets[-1]), (agent, "learned", teacher, budgets[0])))
    return out


def compare_configs(matrices: dict[tuple, np.ndarray], stats: dict[str, dict], reps: int) -> list[dict[str, Any]]:
    """P(X > Y) with its interval and the honest wording for each of :func:`_pairs`."""
    from pbrl.evaluation.aggregate import probability_of_improvement_interval
    from pbrl.runs.compare import claim

    name = {k: (f"{NAMES[k[0]]} {k[2]}/{k[3]}" if k[1] == "learned" else f"{k[0].upper()} (true reward)") for k in matrices}
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
    from pbrl.agents.preference.options import DEFAULTS

    spec = spec if spec is not None else PROFILES[profile]
    agents = agents if agents is not None else spec.get("agents", list(NAMES))
    per_run = {}
    for agent in agents:
        steps = spec["steps"][agent]
        env_s = steps * _SECONDS_PER_STEP[agent]
        per_run[f"{agent}/true"] = env_s
        opts = {**DEFAULTS[agent], **spec["pref"][agent]}
        epochs = opts["reward_epochs"]
        for teacher in spec["teachers"]:
            for budget in spec["budgets"]:
                per_round = min(opts["queries_per_round"] if opts["queries_per_round"] != "auto" else max(1, budget // 10), budget)
                rounds = -(-budget // per_round)
                rm_steps = sum(-(-(j * per_round) // opts["reward_batch_size"]) for j in range(1, rounds + 1)) * epochs
                scale = 1.0 if teacher != "oracle" else 0.5
                size = (opts["segment_length"] / 50) * (sum(opts["reward_hidden"]) / 768) * (opts["ensemble_size"] / 3)
                rm_s = rm_steps * _SECONDS_PER_RM_STEP * scale * size
                per_run[f"{agent}/{teacher}/{budget}"] = env_s + steps * _LEARNED_EXTRA_PER_STEP[agent] + rm_s
    total = sum(per_run.values()) * seeds * len(spec["tasks"])
    return {
        "runs": (1 + len(spec["teachers"]) * len(spec["budgets"])) * len(agents) * seeds * len(spec["tasks"]),
        "total_cpu_hours": total / 3600,
        "wall_clock_hours": total / 3600 / max(1, min(workers, 2)) * (1.15 if workers > 1 else 1.0),
        "per_run_hours": {k: v / 3600 for k, v in per_run.items()},
        "rates": "env-step costs of PPO (544 s per 1M steps) and SAC (157 s per 30k steps) on the true reward, "
                 "the learned reward's per-step cost and a reward-model gradient step (0.45 s at B-Pref's size): "
                 "measured on the 2-core machine, BENCHMARKS.md",
    }  # fmt: skip


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the smoke profile: one task, tiny budgets")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None, help="quick, medium, claims-prefppo, claims-pebble or full (default: full; --quick = quick)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default: the profile's)")
    parser.add_argument("--agents", default=None, help="comma-separated: ppo (PrefPPO), sac (PEBBLE)")
    parser.add_argument("--tasks", default="", help="comma-separated subset of the profile's tasks")
    parser.add_argument("--teachers", default="", help="comma-separated subset of the profile's teachers")
    parser.add_argument("--budgets", default="", help="comma-separated subset of the profile's label budgets")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--root", default=None, help="folder for the run folders (default: a temporary one)")
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
    results = run_all(jobs, args.workers)
    seconds = time.time() - t0
    stats, table, comparisons = statistics_table(results, randoms, spec["tasks"], seeds, args.reps)
    report = {
        "profile": profile,
        "config": {"tasks": spec["tasks"], "agents": agents, "seeds": seeds, "steps": spec["steps"], "budgets": spec["budgets"],
                   "teachers": spec["teachers"], "hp": spec["hp"], "pref": spec["pref"], "eval_episodes": spec["eval_episodes"],
                   "workers": args.workers},  # fmt: skip
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
