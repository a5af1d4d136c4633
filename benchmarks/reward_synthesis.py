"""Reward synthesis: sparse vs the task's own reward vs a synthesized reward, per task.

    python benchmarks/reward_synthesis.py [--quick] [--tasks HalfCheetah,Hopper,Ant,Reacher] [--json PATH]
    python benchmarks/reward_synthesis.py --profile claims --workers 2   # issue 17's claim: 5 seeds, ~1.6 h
    python benchmarks/reward_synthesis.py --profile claims --estimate     # its wall-clock estimate, no runs
    pbrl bench reward_synthesis [--quick]

For each task, with the same PPO hyperparameters, steps and seeds:

* **F_sparse** — PPO on the sparse reward: progress only (``x_velocity``) for the
  locomotion tasks, success only (fingertip within ``success_distance``) for Reacher;
* **F_human** — PPO on the task's shipped reward;
* **F_synth** — PPO on the best program of a synthesis run (K samples × I
  iterations), retrained with the same seeds. The proposer is pbrl's **offline
  proposer** (a search procedure over terms of the task card; no language model)
  unless ``PBRL_LLM_BASE_URL`` and ``PBRL_LLM_MODEL`` name an OpenAI-compatible
  server (key in the variable named by ``PBRL_LLM_API_KEY_ENV``, default
  ``OPENAI_API_KEY``); the output says which.

F is the task metric of ``pbrl.synthesis.fitness`` (metres forward per episode, or
the fraction of steps at the target for Reacher), measured by trusted evaluation
on fresh seeds. HNS = (F_synth − F_sparse) / |F_human − F_sparse| (Eureka's
human-normalised score: 1 = as good as the shipped reward). The correlation is the
Pearson correlation of the synthesized reward with the task's reward over the
final retraining's transitions (computed inside the sandbox worker).

Per task, the IQM of F over the final seeds of each reward comes with a 95% bootstrap
interval over seeds (``pbrl.evaluation.aggregate``; ``--reps`` defaults to its
``DEFAULT_REPS``, 50,000); per comparison (synthesized vs shipped, synthesized vs
sparse), P(X > Y) with its 95% interval (rliable's independent stratified bootstrap),
per task and over all tasks (per-task Mann–Whitney averaged, so the tasks' different
units do not mix), worded by ``pbrl.runs.compare.claim``. Each interval's method is
printed next to it.

The JSON (default ``benchmarks/results/reward_synthesis.json``, ``reward_synthesis-claims.json``
for the claims profile; a markdown table beside it) holds every figure,
the run folders, the machine and its load before and after. Each candidate trains
in its own sandboxed process; two run at a time by default (``--workers``).

Profiles (K samples × I iterations of ``steps`` PPO steps in the search; the final
retraining of the synthesized, shipped and sparse rewards at ``final steps`` × seeds):

| profile | K × I | search steps | final steps | seeds | eval episodes | tasks | estimate (2 workers) |
|---|---|---|---|---|---|---|---|
| quick  | 2 × 2 | 20,000 | 20,000 | 2 | 5 | HalfCheetah, Hopper, Ant, Reacher | ~0.1 h (measured 452 s under load) |
| full   | 4 × 3 | 100,000 | 200,000 | 3 | 10 | HalfCheetah, Hopper, Ant, Reacher | ~1.2 h (measured 1.07 h before the sandbox) |
| claims | 4 × 3 | 100,000 | 200,000 | 5 | 10 | HalfCheetah, Hopper, Ant, Reacher | ~1.6 h |

**claims** is issue 17's "offline proposer vs the shipped and sparse rewards" at 5 seeds,
the full profile's search and retraining budgets. ``--estimate`` computes the wall-clock
from the full profile's measured per-task times (BENCHMARKS.md: 3 850 s with 2 workers
for 3.0M PPO steps per task, at bd96779) scaled by PPO steps, × 1.1 for the sandboxed
reward worker (measured at ~8 % of PPO's wall-clock since); Walker2d and Swimmer, never
measured, take Hopper's and HalfCheetah's rates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any

import numpy as np

from pbrl.envs.engine import usable_cores

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, cpu_model, load_average, write_report  # noqa: E402

DEFAULT_JSON = os.path.join(RESULTS, "reward_synthesis.json")
TASKS = {"HalfCheetah": "pbrl/HalfCheetah-v5", "Hopper": "pbrl/Hopper-v5", "Ant": "pbrl/Ant-v5", "Reacher": "pbrl/Reacher-v5",
         "Walker2d": "pbrl/Walker2d-v5", "Swimmer": "pbrl/Swimmer-v5"}
PROFILES = {
    "quick": dict(samples=2, iterations=2, steps=20_000, final_steps=20_000, seeds=2, eval_episodes=5),
    "full": dict(samples=4, iterations=3, steps=100_000, final_steps=200_000, seeds=3, eval_episodes=10),
    # issue 17: the offline proposer vs the shipped and sparse rewards, 5 seeds, ~1.6 h on 2 cores
    "claims": dict(samples=4, iterations=3, steps=100_000, final_steps=200_000, seeds=5, eval_episodes=10),
}
DEFAULT_TASKS = "HalfCheetah,Hopper,Ant,Reacher"
# Wall-clock seconds per PPO step with 2 workers, per task: the full profile's measured time
# (HalfCheetah 930, Hopper 921, Ant 1 309, Reacher 689 s; bd96779, BENCHMARKS.md) over its
# 3.0M steps per task (4 × 3 × 100k search + 3 rewards × 3 seeds × 200k final).
_FULL_STEPS = 4 * 3 * 100_000 + 3 * 3 * 200_000
_WALL_S_PER_STEP_2W = {"HalfCheetah": 930 / _FULL_STEPS, "Hopper": 921 / _FULL_STEPS, "Ant": 1309 / _FULL_STEPS,
                       "Reacher": 689 / _FULL_STEPS, "Walker2d": 921 / _FULL_STEPS, "Swimmer": 930 / _FULL_STEPS}
_SANDBOX_FACTOR = 1.1  # the reward worker's round trips: ~8 % of PPO's wall-clock (sandbox_overhead.py)


def estimate(prof: dict[str, Any], names: list[str], workers: int) -> dict[str, Any]:
    """Wall-clock estimate of a profile from the measured per-task rates (see the module docstring)."""
    steps = prof["samples"] * prof["iterations"] * prof["steps"] + 3 * prof["seeds"] * prof["final_steps"]
    scale = 2 / max(1, min(workers, 2)) * _SANDBOX_FACTOR
    per_task = {n: steps * _WALL_S_PER_STEP_2W[n] * scale / 3600 for n in names}
    return {
        "ppo_runs": len(names) * (prof["samples"] * prof["iterations"] + 3 * prof["seeds"]),
        "ppo_steps_per_task": steps,
        "wall_clock_hours": sum(per_task.values()),
        "per_task_hours": per_task,
        "workers": workers,
        "rates": "the full profile's measured wall-clock per task with 2 workers (3 850 s in all, bd96779, "
                 "BENCHMARKS.md) per PPO step, x 1.1 for the sandboxed reward worker",
    }  # fmt: skip


def sparse_program(card: Any) -> str:
    """The sparse reward of a task: success only where the card defines it, else progress only."""
    if card.success is not None and "distance" in card.quantities:
        threshold = float(card.extra.get("success_distance", 0.05))
        return (
            "import numpy as np\n\n# Sparse: 1 on the steps where the task's success holds, else 0.\n"
            "def compute_reward(obs, action, next_obs, info):\n"
            f"    success = (info['distance'] < {threshold!r}).astype(np.float64)\n"
            "    return success, {'success': success}\n"
        )
    return (
        "import numpy as np\n\n# Sparse: progress only (forward velocity), nothing else.\n"
        "def compute_reward(obs, action, next_obs, info):\n"
        "    progress = np.asarray(info['x_velocity'], dtype=np.float64)\n"
        "    return progress, {'progress': progress}\n"
    )


def machine() -> dict[str, Any]:
    import mujoco
    import stable_baselines3
    import torch

    return {"cpu": cpu_model(), "nproc": usable_cores(),
            "python": platform.python_version(), "torch": torch.__version__, "mujoco": mujoco.__version__,
            "stable_baselines3": stable_baselines3.__version__}


def llm_settings() -> dict[str, Any] | None:
    base_url, model = os.environ.get("PBRL_LLM_BASE_URL"), os.environ.get("PBRL_LLM_MODEL")
    if not base_url:
        return None
    if not model:
        raise SystemExit("PBRL_LLM_BASE_URL is set but PBRL_LLM_MODEL is not: name the model the server serves")
    return {"base_url": base_url, "model": model, "api_key_env": os.environ.get("PBRL_LLM_API_KEY_ENV", "OPENAI_API_KEY")}


def hns(f: float | None, sparse: float | None, human: float | None) -> float | None:
    if f is None or sparse is None or human is None or abs(human - sparse) < 1e-9:
        return None
    return (f - sparse) / abs(human - sparse)


def run_task(name: str, task: str, prof: dict[str, Any], args, executor, llm) -> dict[str, Any]:
    import pbrl.envs
    from pbrl.synthesis import jobs
    from pbrl.synthesis.loop import SynthesisConfig, Synthesizer

    card = pbrl.envs.cards()[task]
    start = time.time()
    backend = dict(backend="openai", **llm) if llm else dict(backend="offline")
    config = SynthesisConfig(
        task=task, samples=prof["samples"], iterations=prof["iterations"], steps=prof["steps"],
        final_seeds=prof["seeds"], final_steps=prof["final_steps"], eval_episodes=prof["eval_episodes"], seed=args.seed,
        runs_dir=args.runs_dir, name=f"bench-{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}",
        label=None if llm else "offline proposer: a search procedure over terms of the task card, not an LLM",
        **backend,
    )
    synth = Synthesizer(config, executor=executor, log=lambda line: print(f"[{name}] {line}", flush=True))
    result = synth.run()
    final = result.final or {}
    seeds = final.get("seeds", [])
    # The sparse reward, same seeds, steps and hyperparameters, through the same sandbox.
    sparse_jobs = [jobs.TrainJob(f"sparse-s{s}", task, sparse_program(card), "quantities", seed=s, steps=prof["final_steps"],
                                 hyperparams=synth.hyperparams, eval_episodes=prof["eval_episodes"]) for s in seeds]
    sparse = executor.map(jobs.run_train_job, sparse_jobs)
    sparse_f = [r.fitness["fitness"] for r in sparse if r.ok]
    synth_runs = [r for k, r in final.get("runs", {}).items() if k.startswith("final-synthesized-")]
    human_runs = [r for k, r in final.get("runs", {}).items() if k.startswith("final-task_reward-")]
    f_synth = (final.get("synthesized") or {}).get("fitness_mean")
    f_human = (final.get("task_reward") or {}).get("fitness_mean")
    f_sparse = float(np.mean(sparse_f)) if sparse_f else None
    corr = [r["correlation"] for r in synth_runs if r.get("correlation") is not None]
    sparse_corr = [r.result.get("correlation") for r in sparse if r.ok and r.result and r.result.get("correlation") is not None]
    return {
        "task": task,
        "metric": synth.metric.name,
        "metric_unit": synth.metric.unit,
        "proposer": synth.proposer.origin,
        "seeds": seeds,
        "F_sparse": f_sparse,
        "F_sparse_per_seed": sparse_f,
        "F_human": f_human,
        "F_human_per_seed": [r["fitness"] for r in human_runs],
        "F_synth": f_synth,
        "F_synth_per_seed": [r["fitness"] for r in synth_runs],
        "HNS": hns(f_synth, f_sparse, f_human),
        "return_human": (final.get("task_reward") or {}).get("return_mean"),
        "return_synth": (final.get("synthesized") or {}).get("return_mean"),
        "return_sparse": float(np.mean([r.fitness["return_mean"] for r in sparse if r.ok])) if sparse_f else None,
        "correlation_synth_true": float(np.mean(corr)) if corr else None,
        "correlation_sparse_true": float(np.mean(sparse_corr)) if sparse_corr else None,
        "best_candidate": (result.best or {}).get("id"),
        "search_best_fitness": (result.best or {}).get("fitness"),
        "candidates": sum(it["candidates"] for it in result.iterations),
        "trained": sum(it["trained"] for it in result.iterations),
        "failures": [r.failure for r in sparse if not r.ok],
        "run_dir": result.run_dir,
        "tokens": result.tokens,
        "wall_clock_s": round(time.time() - start, 1),
    }


REWARDS = {"F_synth": "synthesized", "F_human": "shipped", "F_sparse": "sparse"}
COMPARISONS = [("F_synth", "F_human"), ("F_synth", "F_sparse")]


def interval_method(reps: int, confidence: float = 0.95) -> str:
    """How an IQM interval was computed (``pbrl.runs.compare``'s wording), printed next to it."""
    return f"{100 * confidence:g}% stratified bootstrap, {reps:,} reps"


def improvement_method(reps: int, confidence: float = 0.95) -> str:
    """How an interval of P(X > Y) was computed (rliable's independent bootstrap)."""
    return f"{100 * confidence:g}% independent stratified bootstrap, {reps:,} reps"


def statistics(results: dict[str, dict[str, Any]], reps: int) -> dict[str, Any]:
    """Per task, each reward's IQM of F over seeds with its interval; per comparison and task,
    and over all tasks, P(X > Y) with its interval and ``pbrl.runs.compare.claim``'s wording.

    F is in each task's own unit, so no IQM is pooled over tasks; P(X > Y) over tasks is
    rliable's: the per-task Mann–Whitney statistic averaged over tasks."""
    from pbrl.evaluation.aggregate import interval_estimate, iqm, probability_of_improvement_interval
    from pbrl.runs.compare import claim

    runs = {name: {k: np.asarray(r.get(f"{k}_per_seed") or [], dtype=float) for k in REWARDS} for name, r in results.items()}
    per_task: dict[str, Any] = {}
    for name, values in runs.items():
        row: dict[str, Any] = {}
        for k, v in values.items():
            row[REWARDS[k]] = {"iqm": list(interval_estimate(v[:, None], iqm, reps=reps)) if len(v) else None, "seeds": len(v)}
        for x, y in COMPARISONS:
            a, b = values[x], values[y]
            if not len(a) or not len(b):
                continue
            p = [float(t) for t in probability_of_improvement_interval(a[:, None], b[:, None], reps=reps)]
            ix, iy = row[REWARDS[x]]["iqm"], row[REWARDS[y]]["iqm"]
            row[f"P({REWARDS[x]} > {REWARDS[y]})"] = {
                "probability": p, "claim": claim(f"{REWARDS[x]} ({name})", f"{REWARDS[y]} ({name})", p, ix, iy, seeds=min(len(a), len(b)))
            }  # fmt: skip
        per_task[name] = row
    overall: dict[str, Any] = {}
    for x, y in COMPARISONS:
        tasks = [n for n, v in runs.items() if len(v[x]) and len(v[y])]
        if not tasks:
            continue
        p = [float(t) for t in probability_of_improvement_interval({n: runs[n][x] for n in tasks}, {n: runs[n][y] for n in tasks}, reps=reps)]
        seeds = min(min(len(runs[n][x]), len(runs[n][y])) for n in tasks)
        overall[f"P({REWARDS[x]} > {REWARDS[y]})"] = {
            "tasks": tasks, "probability": p,
            "claim": claim(f"{REWARDS[x]} ({len(tasks)} tasks)", f"{REWARDS[y]} ({len(tasks)} tasks)", p, seeds=seeds),
        }  # fmt: skip
    return {"interval_method": interval_method(reps), "improvement_method": improvement_method(reps), "per_task": per_task, "overall": overall}


def statistics_markdown(stats: dict[str, Any]) -> str:
    def ci(t: list[float] | None, digits: int = 3) -> str:
        return "–" if t is None else f"{t[0]:.{digits}g} [{t[1]:.{digits}g}, {t[2]:.{digits}g}]"

    lines = ["| task | IQM F synthesized | IQM F shipped | IQM F sparse | seeds (synthesized/shipped/sparse) |", "|---|---|---|---|---|"]
    for name, row in stats["per_task"].items():
        seeds = "/".join(str(row[r]["seeds"]) for r in REWARDS.values())
        lines.append(f"| {name} | {ci(row['synthesized']['iqm'])} | {ci(row['shipped']['iqm'])} | {ci(row['sparse']['iqm'])} | {seeds} |")
    lines += ["", f"IQM intervals: {stats['interval_method']} (over the seeds of one task).", ""]
    lines += [f"| comparison | tasks | P(X > Y) [{stats['improvement_method']}] | claim |", "|---|---|---|---|"]
    for name, row in stats["per_task"].items():
        for key, c in row.items():
            if key.startswith("P("):
                lines.append(f"| {key} | {name} | {ci(c['probability'], 2)} | {c['claim']} |")
    for key, c in stats["overall"].items():
        lines.append(f"| {key} | all: {', '.join(c['tasks'])} | {ci(c['probability'], 2)} | {c['claim']} |")
    return "\n".join(lines)


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile (K=2, I=2, 20k PPO steps, 2 seeds)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None, help="quick, full or claims (default: full; --quick = quick)")
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help="comma-separated: " + ",".join(TASKS))
    parser.add_argument("--json", default=None, help="where to write the results (default: benchmarks/results/reward_synthesis.json; -claims.json for claims)")
    parser.add_argument("--reps", type=int, default=None, help="bootstrap repetitions (default: pbrl.evaluation.aggregate.DEFAULT_REPS, rliable's 50,000)")
    parser.add_argument("--estimate", action="store_true", help="only print the profile's wall-clock estimate")
    parser.add_argument("--runs-dir", default=None, help="where the synthesis run folders go (default: a temporary folder)")
    parser.add_argument("--workers", type=int, default=2, help="candidates trained at once")
    parser.add_argument("--seed", type=int, default=0)
    for key in ("samples", "iterations", "steps", "final_steps", "seeds", "eval_episodes"):
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None, help=f"override the profile's {key}")
    args = parser.parse_args(argv)
    if args.quick and args.profile not in (None, "quick"):
        parser.error(f"--quick and --profile {args.profile} disagree")
    args.profile = "quick" if args.quick else (args.profile or "full")
    if args.json is None:
        # quick and full keep their old file name
        args.json = DEFAULT_JSON if args.profile in ("quick", "full") else DEFAULT_JSON.replace(".json", f"-{args.profile}.json")
    if args.reps is None:
        from pbrl.evaluation.aggregate import DEFAULT_REPS

        args.reps = DEFAULT_REPS
    prof = dict(PROFILES[args.profile])
    for key in prof:
        if getattr(args, key) is not None:
            prof[key] = getattr(args, key)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    guess = estimate(prof, names, args.workers)
    print(f"profile {args.profile}: {guess['ppo_runs']} PPO runs, estimated {guess['wall_clock_hours']:.1f} h wall-clock "
          f"with {args.workers} worker(s)", flush=True)  # fmt: skip
    if args.estimate:
        print(json.dumps(guess, indent=2))
        return 0
    if args.runs_dir is None:
        args.runs_dir = tempfile.mkdtemp(prefix="pbrl-bench-synthesis-")
    llm = llm_settings()
    from pbrl.runs.executor import LocalExecutor

    report: dict[str, Any] = {
        "benchmark": "reward_synthesis",
        "profile": args.profile,
        "config": prof,
        "proposer": f"LLM {llm['model']} at {llm['base_url']}" if llm else "offline proposer (a search procedure over task-card terms; no LLM)",
        "command": "python benchmarks/reward_synthesis.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "load": {"before": load_average()},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "estimate": guess,
        "results": {},
    }
    print(f"reward synthesis benchmark ({args.profile}): {report['proposer']}; {prof}", flush=True)
    t0 = time.time()
    with LocalExecutor(args.workers) as executor:
        for name in names:
            report["results"][name] = run_task(name, TASKS[name], prof, args, executor, llm)
            report["load"]["after"] = load_average()
            report["wall_clock_s"] = round(time.time() - t0, 1)
            write_report(args.json, report, say=None)
    header = f"{'task':<12} {'metric':<9} {'F_sparse':>9} {'F_human':>9} {'F_synth':>9} {'HNS':>7} {'corr':>6}  proposer"
    print()
    print(header)
    print("-" * len(header))
    for name, r in report["results"].items():
        print(f"{name:<12} {r['metric']:<9} {fmt(r['F_sparse']):>9} {fmt(r['F_human']):>9} {fmt(r['F_synth']):>9} "
              f"{fmt(r['HNS'], 2):>7} {fmt(r['correlation_synth_true'], 2):>6}  {r['proposer']}")
    report["statistics"] = statistics(report["results"], args.reps)
    report["table"] = statistics_markdown(report["statistics"])
    write_report(args.json, report, markdown=report["table"], say=None)
    print()
    print(report["table"])
    print(f"\nwall clock {report['wall_clock_s']} s; load average before {report['load']['before']}, after {report['load'].get('after')}")
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
