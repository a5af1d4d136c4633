"""Offline (preference-based) RL on pbrl's D4RL-style datasets: BC, IQL, P-IQL, CPL and OPPO.

    python benchmarks/offline_pbrl.py --quick            # smoke run: makes tiny datasets itself
    nice -n 10 python benchmarks/offline_pbrl.py --profile small --workers 2   # CPU-sized: ~3.5 h on 2 idle cores
    ... --profile small --workers 2 --reuse         # after an interruption: keep the finished runs, do the rest
    python benchmarks/offline_pbrl.py --profile small --estimate --workers 1   # its estimate, no runs
    python benchmarks/offline_pbrl.py                    # the full profile (see BENCHMARKS.md: weeks on 2 cores)
    pbrl bench offline_pbrl --quick

For each task (HalfCheetah, Hopper, Walker2d) and
level (medium-replay, medium-expert) the dataset ``pbrl/<task>/<level>-v0`` is read from
``$MINARI_DATASETS_PATH`` (made with ``pbrl dataset generate`` if ``--generate``). The
quick profile always makes tiny ones with a few thousand PPO steps in a temporary root;
the small profile makes its own with PPO (below) in ``<root>/datasets``, its root
defaulting to ``benchmarks/results/offline_pbrl-small`` so they are made once. A scripted teacher
(``--teacher``, default ``oracle``) labels pairs of segments of each dataset into a
preference store (``pbrl dataset label``). Then, for ``--seeds`` seeds, every agent
trains through ``pbrl train`` (a subprocess per run, ``--workers`` at a time, one
torch thread each) and is evaluated on fresh seeds at the end:

* BC and IQL on the dataset (IQL on the true reward),
* P-IQL with the first N₁ and the first N₂ labels (a reward-model ensemble, then IQL on
  its reward rescaled to [0, 1], P-IQL's default ``rm_reward_range=unit``), and
  ``piql-<N₂>-raw``: the same on the learned reward as is (``rm_reward_range=none``, see
  ``agents/offline/piql.py``),
* CPL (sparse, on the N₂ labels) and OPPO (on the N₂ labels; ``oppo-init2``: with
  OPPO's original start of z* far from the embeddings, see ``agents/offline/oppo.py``),
* ``cpl-regret``: CPL on N₂ labels from the same teacher scoring segments by *regret*
  (``pbrl dataset label --score regret``: Σ r + V(s_H) − V(s_0), CPL's own ``rl_sum``
  labels, with V the dataset's behaviour value) instead of partial return Σ r.

Scores are D4RL-normalised returns (the task card's reference returns, ×100). Per
agent, the IQM, mean, median and optimality gap over all seeds × datasets come with
95% stratified-bootstrap confidence intervals (``pbrl.evaluation.aggregate``: rliable's
definitions), plus probabilities of improvement for the comparisons the literature
makes (P-IQL ≈ IQL; CPL, OPPO > BC). JSON (every run's result) and a markdown table
are written to ``benchmarks/results/offline_pbrl[-<profile>].json`` / ``.md``.

Profiles (gradient steps per run; label budgets N₁/N₂; episodes per evaluation):

| profile | BC, IQL, P-IQL | CPL (BC pre-training + CPL) | OPPO | labels | segment | eval |
|---|---|---|---|---|---|---|
| quick  | 300  | 150 + 150, batch 16 | 300, batch 16 | 50 / 200 | 25 | 5 |
| small  | BC 10k, IQL and P-IQL 15k | 10k + 5k, batch 32, 256×256 | 4k, batch 32 | 500 / 2000 | 50 | 10 |
| claims | BC 10k, IQL and P-IQL 8k | 6k + 3k, batch 32, 256×256 | 2.5k, batch 32 | 500 / 2000 | 50 | 10 |
| medium | 100k | 50k + 50k, batch 32 | 50k, batch 32 | 500 / 2000 | 50 | 10 |
| full   | 1M   | 200k + 300k (CPL's)  | 100k          | 500 / 2000 | 50 | 10 |

**small** is the profile that runs on this 2-core machine; datasets from PPO (``pbrl dataset generate --algo ppo --train-steps 500000 --size 50000
--eval-episodes 5 --ref-episodes 20``: medium-expert 100k transitions, medium-replay
PPO's rollouts up to the medium checkpoint), 2–3 CPU-minutes per task; 3 seeds × 6
datasets × 9 rows = 162 runs. CPL gets CPU-sized settings (32 pairs per step instead of
96 and a 256×256 actor instead of 512×512: 10× faster per step; see
``agents/offline/README.md``), OPPO 32 pairs instead of 64; both warm up briefly.
``--estimate --workers 2`` gives its training time from ``offline_speed*.json``'s rates:
7.0 CPU-hours (+ ~10 CPU-s per run of reward-model fitting and evaluation), ~3.5 h with
``--workers 2`` on idle cores (``--tasks`` runs a subset; ``--reuse`` adds to earlier runs). It is sized to show the literature's relationships
(P-IQL ≈ IQL; CPL, OPPO > BC) on data where BC is not already at the top — not to
reproduce the papers' absolute scores, which need the full budgets. Its results (all
162 runs, BENCHMARKS.md): OPPO > BC (IQM 28.6 vs 16.7), CPL on regret labels ≥ BC
(19.7, P = 0.57), P-IQL ≈ IQL (17.5 vs 17.1). **claims** (issue 17) is the small profile's Hopper and Walker2d datasets (the same files,
made once in ``offline_pbrl-small/datasets``) with BC, IQL, P-IQL (2,000 labels), CPL and OPPO
at fewer steps, sized for 5 seeds in about two hours with ``--workers 2``
(``--profile claims --seeds 5 --estimate``): the headline comparisons with honest statistics.
**medium** needs
200k-step SAC datasets and ~26 h with 2 workers: infeasible on this machine.

**Why a ``cpl-regret`` row.** A 1-seed pilot on Hopper medium-replay found CPL's
contrastive phase wrecking its BC-pre-trained policy within ~1k steps (score 13.7 → 0.6)
while its label accuracy rose to 0.9. The cause is the labels, not the code (which
follows jhejna/cpl line for line): B-Pref's teacher prefers the higher *partial return*,
and segments that start at an episode's beginning (hopper at rest: little reward) lose
nearly every comparison whatever their actions. CPL reads a preference as "these actions
have higher advantage", so it pushes its actions at the start states away from every
action the data took there: the squared distance to the data at episode starts rose
from 0.4 to 4.7 (actions driven to the corner (−1, −1, −1)), and the hopper fell within
6 steps. CPL's own datasets are labelled by regret (``rl_sum`` from an oracle critic),
which partial-return and regret labels agree on only 46 % of these pairs. With regret
labels from the same BC-pre-trained checkpoint, CPL improved it instead: score 9.0 →
18–21 over 5k CPL steps (10 evaluation episodes each), no collapse.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, load_average, log, write_report  # noqa: E402

TASKS = {"HalfCheetah": "pbrl/HalfCheetah-v5", "Hopper": "pbrl/Hopper-v5", "Walker2d": "pbrl/Walker2d-v5"}
#: CPL's CPU-sized settings (agents/offline/README.md): 32 pairs per step, a 256×256 actor
CPL_CPU = {"batch_size": 32, "hidden_sizes": [256, 256]}
LEVELS = ("medium-replay", "medium-expert")
#: the small profile's data, labels and evaluation, which the claims profile shares
SMALL_DATA = {
    "labels": (500, 2000), "segment": 50, "eval_episodes": 10, "dataset_size": 50_000,
    "generation": {"algorithm": "ppo", "train_steps": 500_000, "eval_episodes": 5, "ref_episodes": 20, "seed": 0},
}

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "labels": (50, 200), "segment": 25, "eval_episodes": 5, "dataset_size": 3000,
        "agents": {
            "bc": ("bc", 300, {}),
            "iql": ("iql", 300, {}),
            "piql-50": ("piql", 300, {"max_pairs": 50, "rm_max_epochs": 20, "rm_reward_range": "unit"}),
            "piql-200": ("piql", 300, {"max_pairs": 200, "rm_max_epochs": 20, "rm_reward_range": "unit"}),
            "piql-200-raw": ("piql", 300, {"max_pairs": 200, "rm_max_epochs": 20, "rm_reward_range": "none"}),
            "cpl": ("cpl", 300, {"bc_steps": 150, "warmup_steps": 20, "batch_size": 16}),
            "cpl-regret": ("cpl", 300, {"bc_steps": 150, "warmup_steps": 20, "batch_size": 16}),
            "oppo": ("oppo", 300, {"batch_size": 16, "warmup_steps": 50}),
        },
    },
    "small": {
        **SMALL_DATA, "tasks": ("HalfCheetah", "Hopper", "Walker2d"),
        "agents": {
            "bc": ("bc", 10_000, {}),
            "iql": ("iql", 15_000, {}),
            # rm_reward_range is explicit: --reuse matches runs by their hp, and the default changed to unit
            "piql-500": ("piql", 15_000, {"max_pairs": 500, "rm_reward_range": "unit"}),
            "piql-2000": ("piql", 15_000, {"max_pairs": 2000, "rm_reward_range": "unit"}),
            "piql-2000-raw": ("piql", 15_000, {"max_pairs": 2000, "rm_reward_range": "none"}),
            # CPL's contrastive phase changes the BC-pre-trained policy within ~1k steps on these data (see the docstring)
            "cpl": ("cpl", 15_000, {"bc_steps": 10_000, "warmup_steps": 1_000, **CPL_CPU}),
            "cpl-regret": ("cpl", 15_000, {"bc_steps": 10_000, "warmup_steps": 1_000, **CPL_CPU}),
            # z* on the embeddings' sphere (pbrl's default, agents/offline/oppo.py); oppo-init2: OPPO's original N(0, 2²) start
            "oppo": ("oppo", 4_000, {"batch_size": 32, "warmup_steps": 500, "z_init_std": 0.25, "z_star_norm": True}),
            "oppo-init2": ("oppo", 4_000, {"batch_size": 32, "warmup_steps": 500, "z_init_std": 2.0, "z_star_norm": False}),
        },
    },
    # issue 17's claims at 5 seeds in about two hours on 2 cores (--workers 2): the small profile's
    # Hopper and Walker2d datasets, the agents of the literature's comparisons, fewer steps
    "claims": {
        **SMALL_DATA, "tasks": ("Hopper", "Walker2d"), "dataset_root": "offline_pbrl-small",
        "agents": {
            "bc": ("bc", 10_000, {}),
            "iql": ("iql", 8_000, {}),
            "piql-2000": ("piql", 8_000, {"max_pairs": 2000, "rm_reward_range": "unit"}),
            "cpl": ("cpl", 9_000, {"bc_steps": 6_000, "warmup_steps": 600, **CPL_CPU}),
            "oppo": ("oppo", 2_500, {"batch_size": 32, "warmup_steps": 300, "z_init_std": 0.25, "z_star_norm": True}),
        },
    },
    "medium": {
        "labels": (500, 2000), "segment": 50, "eval_episodes": 10, "dataset_size": 200_000,
        "agents": {
            "bc": ("bc", 100_000, {}),
            "iql": ("iql", 100_000, {}),
            "piql-500": ("piql", 100_000, {"max_pairs": 500}),
            "piql-2000": ("piql", 100_000, {"max_pairs": 2000}),
            "cpl": ("cpl", 100_000, {"bc_steps": 50_000, "batch_size": 32}),
            "oppo": ("oppo", 50_000, {"batch_size": 32}),
        },
    },
    "full": {
        "labels": (500, 2000), "segment": 50, "eval_episodes": 10, "dataset_size": 1_000_000,
        "agents": {
            "bc": ("bc", 1_000_000, {}),
            "iql": ("iql", 1_000_000, {}),
            "piql-500": ("piql", 1_000_000, {"max_pairs": 500}),
            "piql-2000": ("piql", 1_000_000, {"max_pairs": 2000}),
            "cpl": ("cpl", 500_000, {}),
            "oppo": ("oppo", 100_000, {}),
        },
    },
}  # fmt: skip

#: the comparisons the literature reports: (better, worse) — or (a, b) expected close
COMPARISONS = (("piql-{hi}", "iql"), ("piql-{hi}-raw", "iql"), ("cpl", "bc"), ("cpl-regret", "bc"), ("cpl-regret", "cpl"), ("oppo", "bc"), ("oppo", "oppo-init2"),
               ("piql-{hi}", "piql-{lo}"), ("iql", "bc"))  # fmt: skip
#: rows whose labels score segments by regret (CPL's rl_sum) instead of partial return
REGRET_ROWS = ("cpl-regret",)


# -- data --------------------------------------------------------------------------


def dataset_id(task: str, level: str) -> str:
    from pbrl.datasets import default_dataset_id

    return default_dataset_id(task, level)


def make_quick_datasets(task: str, size: int) -> dict[str, str]:
    """Tiny medium-replay and medium-expert datasets from a few thousand PPO steps."""
    from pbrl.datasets import DatasetError, dataset_exists
    from pbrl.runs.generate import GenerationConfig, generate

    ids = {level: dataset_id(task, level) for level in LEVELS}
    if all(dataset_exists(i) for i in ids.values()):
        return ids
    last = None
    for seed in (1, 2, 3, 4):
        cfg = GenerationConfig(
            task=task, levels=list(LEVELS), size=size, seed=seed, algorithm="ppo", train_steps=8192, eval_every=2048,
            eval_episodes=4, ref_episodes=4, num_envs=16, force=True,
            hyperparams={"n_envs": 8, "n_steps": 64, "batch_size": 128, "net_arch": [32, 32]},
            allow_weak=True,  # a smoke run: 8k PPO steps make no clear expert; the datasets say "weak"
        )  # fmt: skip
        try:
            return generate(cfg)
        except DatasetError as exc:  # a tiny run may not improve on its initial policy: another seed
            last = exc
            log(f"  {task}: seed {seed}: {exc}")
    raise RuntimeError(f"could not make quick datasets for {task}: {last}")


def profile_tasks(profile: str) -> dict[str, str]:
    return {name: TASKS[name] for name in PROFILES[profile].get("tasks", TASKS)}


def ensure_datasets(profile: str, generate_missing: bool) -> dict[tuple[str, str], str]:
    from pbrl.datasets import dataset_exists
    from pbrl.runs.generate import GenerationConfig, generate

    out = {}
    spec = PROFILES[profile]
    for name, task in profile_tasks(profile).items():
        if profile == "quick":
            t0 = time.time()
            ids = make_quick_datasets(task, PROFILES["quick"]["dataset_size"])
            log(f"{name}: quick datasets {sorted(ids.values())} ({time.time() - t0:.0f} s)")
        else:
            ids = {level: dataset_id(task, level) for level in LEVELS}
            missing = [lv for lv, i in ids.items() if not dataset_exists(i)]
            if missing and "generation" in spec:  # the small profile makes its own (PPO, minutes)
                t0 = time.time()
                generate(GenerationConfig(task=task, levels=missing, size=spec["dataset_size"], **spec["generation"]))
                log(f"{name}: generated {missing} with {spec['generation']['algorithm']} ({time.time() - t0:.0f} s)")
            elif missing and not generate_missing:
                raise SystemExit(
                    f"missing datasets {[ids[lv] for lv in missing]}: make them with `pbrl dataset generate --env {task} "
                    f"--level medium-replay --level medium-expert` or pass --generate"
                )
            elif missing:  # --generate: SAC, D4RL's way
                log(f"{name}: generating {missing} (SAC; hours on 2 cores)")
                generate(GenerationConfig(task=task, levels=missing, size=PROFILES[profile]["dataset_size"], seed=0))
        for level in LEVELS:
            out[(name, level)] = ids[level]
    return out


def ensure_labels(
    datasets: dict[tuple[str, str], str], root: str, pairs: int, segment: int, teacher: str, score: str = "return"
) -> dict[str, str]:
    from pbrl.datasets import label_dataset
    from pbrl.preferences import PreferenceStore

    stores = {}
    for (name, level), ds in datasets.items():
        suffix = "" if score == "return" else f"-{score}"
        path = os.path.join(root, f"{name}-{level}-{teacher}{suffix}-{pairs}x{segment}.sqlite")
        have = 0
        if os.path.exists(path):
            with PreferenceStore(path) as store:
                have = store.summary().get("labels", 0)
        if have < pairs:
            t0 = time.time()
            label_dataset(ds, path, teacher=teacher, pairs=pairs - have, segment=segment, seed=0, score=score)
            log(f"labelled {pairs - have} pairs of {ds} by {score} ({time.time() - t0:.0f} s)")
        stores[ds] = path
    return stores


# -- runs ----------------------------------------------------------------------------


def job_run_dir(job: dict[str, Any], runs_dir: str) -> str:
    """The run folder ``pbrl train`` makes for a job (see :func:`run_job`)."""
    from pbrl.runs.folder import run_path

    return run_path(runs_dir, job["task"], job["agent"], f"{job['label']}-{job['level']}", job["seed"])


def set_aside_unfinished(jobs: list[dict[str, Any]], runs_dir: str, root: str) -> list[str]:
    """Move the folders that an interrupted invocation left for these (unfinished) jobs to
    ``<root>/unfinished/<time>/``, so the runs can start again; returns the new places.

    Only each job's own folder (its task, agent, label, level and seed) moves, and nothing
    is deleted: finished runs of other tasks with the same label stay where they are.
    """
    moved = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for job in jobs:
        path = job_run_dir(job, runs_dir)
        if os.path.isdir(path):
            dest = os.path.join(root, "unfinished", stamp, os.path.relpath(path, runs_dir))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.move(path, dest)
            moved.append(dest)
    return moved


def run_job(job: dict[str, Any], runs_dir: str) -> dict[str, Any]:
    """One offline run through pbrl's run machinery (what ``pbrl train`` does); returns its final evaluation."""
    import traceback

    from pbrl.runs.offline import OfflineTrainConfig, train

    name = f"{job['label']}-{job['level']}"
    out = {**job, "seconds": None}
    t0 = time.time()
    try:
        result = train(OfflineTrainConfig(
            agent=job["agent"], dataset=job["dataset"], preferences=job.get("preferences"), steps=job["steps"], seed=job["seed"],
            hp=dict(job["hp"]), runs_dir=runs_dir, name=name, eval_freq=0, eval_episodes=job["eval_episodes"],
        ))  # fmt: skip
    except Exception as exc:  # one failing run is reported, the others go on
        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        out["seconds"] = round(time.time() - t0, 1)
        return out
    with open(os.path.join(result.run_dir, "summary.json")) as f:
        latest = json.load(f).get("latest", {})
    final = result.final
    out.update(
        seconds=round(time.time() - t0, 1),
        run_dir=result.run_dir,
        normalized_score=final["normalized_score"],
        dataset_normalized_score=final.get("dataset_normalized_score"),
        return_mean=final["return_mean"],
        train_seconds=round(result.wall_clock, 1),
        fps=latest.get("time/fps"),
        reward_model_accuracy=latest.get("reward_model/accuracy"),
        reward_model_epic_distance=latest.get("reward_model/epic_distance"),
        labels=latest.get("feedback/labels"),
    )
    return out


def worker(jobs_path: str, out_path: str, runs_dir: str) -> int:
    """Run a list of jobs in this process (imports paid once), appending results as JSON lines."""
    with open(jobs_path) as f:
        jobs = json.load(f)
    for job in jobs:
        result = run_job(job, runs_dir)
        with open(out_path, "a") as f:
            f.write(json.dumps(result, default=str) + "\n")
    return 0


def job_key(job: dict[str, Any]) -> str:
    """What makes two runs the same run (results carry their job's fields)."""
    fields = ("label", "agent", "steps", "hp", "seed", "task", "level", "dataset", "eval_episodes")
    key = {k: job.get(k) for k in fields}
    key["preferences"] = os.path.basename(job["preferences"]) if job.get("preferences") else None  # the store's name in its root
    return json.dumps(key, sort_keys=True, default=str)


def previous_results(root: str) -> list[dict[str, Any]]:
    """Complete result lines of earlier invocations (``results-*.jsonl`` and their archive)."""
    out = []
    archive = os.path.join(root, "results-archive.jsonl")
    for path in [p for p in sorted(glob.glob(os.path.join(root, "results-*.jsonl"))) if p != archive] + [archive]:
        if os.path.exists(path):
            with open(path) as f:
                out += [json.loads(line) for line in f if line.endswith("\n")]
    return out


def run_all(jobs: list[dict[str, Any]], runs_dir: str, workers: int, root: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Split the jobs over ``workers`` subprocesses (one torch thread each) and collect their results."""
    workers = max(1, min(workers, len(jobs)))
    procs, outs = [], []
    for w in range(workers):
        jobs_path = os.path.join(root, f"jobs-{w}.json")
        out_path = os.path.join(root, f"results-{w}.jsonl")
        with open(jobs_path, "w") as f:
            json.dump(jobs[w::workers], f)
        if os.path.exists(out_path):  # an earlier invocation's results go to the archive, for --reuse
            with open(out_path) as f, open(os.path.join(root, "results-archive.jsonl"), "a") as archive:
                archive.writelines(line for line in f if line.endswith("\n"))
            os.remove(out_path)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", jobs_path, out_path, "--root", runs_dir]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, f"worker-{w}.log"), "w")))
        outs.append(out_path)
    seen = [0] * workers  # lines already reported, per worker
    results: list[dict[str, Any]] = []
    while True:
        done = all(p.poll() is not None for p in procs)
        for w, path in enumerate(outs):
            if not os.path.exists(path):
                continue
            with open(path) as f:
                lines = [line for line in f if line.endswith("\n")]
            for line in lines[seen[w]:]:
                r = json.loads(line)
                results.append(r)
                status = f"error: {r['error'].splitlines()[0]}" if "error" in r else f"score {r['normalized_score']:.1f}"
                log(f"  [{len(results)}/{len(jobs)}] {r['label']:>9} {r['task_name']}/{r['level']} seed {r['seed']}: {status} ({r['seconds']} s)")
            seen[w] = len(lines)
        if done:
            break
        time.sleep(5)
    for w, p in enumerate(procs):
        if p.returncode != 0:
            log(f"worker {w} exited with {p.returncode}; see {os.path.join(root, f'worker-{w}.log')}")
    return results


def statistics_table(results: list[dict[str, Any]], labels: tuple[int, int], reps: int) -> tuple[dict, str]:
    from pbrl.evaluation.aggregate import aggregate, probability_of_improvement_interval
    from pbrl.runs.compare import claim

    ok = [r for r in results if "error" not in r]
    agents = list(dict.fromkeys(r["label"] for r in ok))
    cells = sorted({(r["task_name"], r["level"]) for r in ok})
    seeds = sorted({r["seed"] for r in ok})
    matrices, per_dataset = {}, {}
    for a in agents:
        m = np.full((len(seeds), len(cells)), np.nan)
        for r in ok:
            if r["label"] == a:
                m[seeds.index(r["seed"]), cells.index((r["task_name"], r["level"]))] = r["normalized_score"]
        if np.isnan(m).any():  # a failed run: keep the complete seeds only
            m = m[~np.isnan(m).any(1)]
        if m.size:
            matrices[a] = m
            per_dataset[a] = {f"{t}/{lv}": (float(m[:, j].mean()), float(m[:, j].std())) for j, (t, lv) in enumerate(cells)}
    stats = aggregate(matrices, reps=reps)
    lo, hi = labels
    poi, claims = {}, {}
    for x, y in COMPARISONS:
        x, y = x.format(lo=lo, hi=hi), y.format(lo=lo, hi=hi)
        if x in matrices and y in matrices and matrices[x].shape[1] == matrices[y].shape[1]:
            interval = probability_of_improvement_interval(matrices[x], matrices[y], reps=reps)
            poi[f"P({x} > {y})"] = list(interval)
            seeds_xy = min(matrices[x].shape[0], matrices[y].shape[0])
            claims[f"{x} vs {y}"] = claim(x, y, interval, stats[x]["iqm"], stats[y]["iqm"], seeds=seeds_xy)
    method = f"95% stratified bootstrap over seeds × datasets, {reps:,} reps"
    lines = [
        f"| agent | IQM [{method}] | mean [same] | median | optimality gap | runs |",
        "|---|---|---|---:|---:|---:|",
    ]
    for a in matrices:
        s = stats[a]
        fmt = lambda v: f"{v[0]:.1f} [{v[1]:.1f}, {v[2]:.1f}]"  # noqa: E731
        lines.append(f"| {a} | {fmt(s['iqm'])} | {fmt(s['mean'])} | {s['median'][0]:.1f} | {s['optimality_gap'][0]:.1f} | {matrices[a].size} |")
    lines += ["", "| agent | " + " | ".join(f"{t} {lv}" for t, lv in cells) + " |", "|---|" + "---:|" * len(cells)]
    for a in matrices:
        lines.append(f"| {a} | " + " | ".join(f"{per_dataset[a][f'{t}/{lv}'][0]:.1f} ± {per_dataset[a][f'{t}/{lv}'][1]:.1f}" for t, lv in cells) + " |")
    if poi:
        lines += ["", f"| probability of improvement | value [95% independent stratified bootstrap, {reps:,} reps] |", "|---|---:|"]
        lines += [f"| {k} | {v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}] |" for k, v in poi.items()]
        lines += [""] + [f"* {text}" for text in claims.values()]
    report = {
        "aggregate": {a: {k: list(v) for k, v in s.items()} for a, s in stats.items()},
        "per_dataset": per_dataset,
        "probability_of_improvement": poi,
        "claims": claims,
        "interval_method": method,
        "seeds": seeds,
        "datasets": [f"{t}/{lv}" for t, lv in cells],
    }
    return report, "\n".join(lines)


def estimate_hours(profile: str, seeds: int, workers: int, agents: list[str] | None = None) -> dict[str, float]:
    """Wall-clock estimate of a profile's gradient steps from the measured updates/s of
    ``benchmarks/results/offline_speed*.json`` (1 torch thread per run, ``workers`` runs on
    as many idle cores). Not included: dataset generation, reward-model fitting, evaluations."""
    paths = sorted(glob.glob(os.path.join(RESULTS, "offline_speed*.json")), key=os.path.getmtime)  # newest wins
    # measured on the 2-core machine of BENCHMARKS.md (per CPU-second of a 1-thread run), used when no JSON has them
    rates = {"bc": 617.0, "iql": 140.6, "piql": 139.6, "cpl_bc": 135.7, "cpl": 3.6, "cpl_cpu": 33.0, "oppo": 9.6, "oppo_32": 19.0,
             "iql_compiled": 176.3}
    for path in paths:
        with open(path) as f:
            measured = json.load(f)["results"]
        for key, value in measured.items():
            if key.startswith("pbrl ") and "(1 thread)" in key and "compile" not in key:
                name = key[5:].split(" (")[0]
                if "pre-training" in key:
                    name = "cpl_bc"
                elif "CPU-sized" in key:
                    name = "cpl_cpu"
                elif "32 pairs" in key:
                    name = "oppo_32"
                rates[name] = value.get("cpu_median", value["median"])  # a 1-thread run's rate on an idle core
        if "pbrl iql + torch.compile (1 thread)" in measured:
            value = measured["pbrl iql + torch.compile (1 thread)"]
            rates["iql_compiled"] = value.get("cpu_median", value["median"])
    hours = {}
    for label, (agent, steps, hp) in PROFILES[profile]["agents"].items():
        if agents and label not in agents:
            continue
        if agent == "cpl":
            bc = hp.get("bc_steps", 200_000)
            if hp.get("hidden_sizes") == CPL_CPU["hidden_sizes"]:  # measured as "cpl (CPU-sized ...)"
                rate = rates["cpl_cpu"] * CPL_CPU["batch_size"] / hp.get("batch_size", 96)
            else:  # CPL's step cost grows with its batch of pairs
                rate = rates["cpl"] * 96 / hp.get("batch_size", 96)
            sec = bc / rates["cpl_bc"] + (steps - bc) / rate
        elif agent == "oppo":
            batch = hp.get("batch_size", 64)
            sec = steps / (rates["oppo_32"] * 32 / batch if batch <= 32 else rates["oppo"] * 64 / batch)
        elif agent in ("iql", "piql") and steps >= 100_000:  # IQL and P-IQL compile their step in runs of >= 100k steps
            sec = steps / rates["iql_compiled"]
        else:
            sec = steps / rates[agent]
        hours[label] = sec * seeds * len(profile_tasks(profile)) * len(LEVELS) / 3600
    hours["total_cpu_hours"] = sum(hours.values())
    hours["wall_clock_hours"] = hours["total_cpu_hours"] / max(1, workers)
    return hours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick profile (makes tiny datasets in a temporary root)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--teacher", default="oracle", help="scripted teacher of the labels (oracle, noisy, ...)")
    parser.add_argument("--agents", default="", help="comma-separated subset of the profile's agents")
    parser.add_argument("--tasks", default="", help="comma-separated subset of the profile's tasks (HalfCheetah, Hopper, Walker2d)")
    parser.add_argument("--generate", action="store_true", help="generate missing datasets (SAC; hours per task; the small profile always makes its own with PPO)")
    parser.add_argument("--root", default=None, help="folder for runs, stores (and quick datasets); default: a temporary one")
    parser.add_argument("--reps", type=int, default=None, help="bootstrap repetitions (default: pbrl.evaluation.aggregate.DEFAULT_REPS)")
    parser.add_argument("--estimate", action="store_true", help="only print the profile's wall-clock estimate")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs of an earlier invocation with the same --root (a restart runs only the rest)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", nargs=2, metavar=("JOBS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.root)
    profile = "quick" if args.quick else (args.profile or "full")
    spec = PROFILES[profile]
    if args.tasks:
        names = [t.strip() for t in args.tasks.split(",") if t.strip()]
        unknown = [t for t in names if t not in profile_tasks(profile)]
        if unknown or not names:
            parser.error(f"--tasks {args.tasks!r}: the {profile} profile's tasks are {', '.join(profile_tasks(profile))}")
        spec["tasks"] = tuple(names)
    estimate = estimate_hours(profile, args.seeds, args.workers, [a for a in args.agents.split(",") if a])
    log(f"profile {profile}: estimated training {estimate['total_cpu_hours']:.2f} CPU-hours, "
        f"{estimate['wall_clock_hours']:.2f} h wall-clock with {args.workers} workers (from measured updates/s)")  # fmt: skip
    if args.estimate:
        print(json.dumps(estimate, indent=2))
        return 0
    default_root = os.path.join(RESULTS, f"offline_pbrl-{profile}") if profile in ("small", "claims") else None
    root = args.root or default_root or tempfile.mkdtemp(prefix=f"pbrl-offline-{profile}-")
    os.makedirs(root, exist_ok=True)
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), OMP_NUM_THREADS="1")
    if profile in ("quick", "small", "claims"):
        # the claims profile reads (or makes) the small profile's datasets: one set of data
        data_root = os.path.join(RESULTS, spec["dataset_root"]) if "dataset_root" in spec and not args.root else root
        env["MINARI_DATASETS_PATH"] = os.environ["MINARI_DATASETS_PATH"] = os.path.join(data_root, "datasets")
    load_before = load_average()
    t0 = time.time()
    datasets = ensure_datasets(profile, args.generate)
    t_data = time.time() - t0
    lo, hi = spec["labels"]
    chosen = [a for a in spec["agents"] if not args.agents or a in args.agents.split(",")]
    stores = ensure_labels(datasets, root, hi, spec["segment"], args.teacher)
    regret_stores = ensure_labels(datasets, root, hi, spec["segment"], args.teacher, "regret") if set(chosen) & set(REGRET_ROWS) else {}
    jobs = []
    for seed in range(args.seeds):
        for (name, level), ds in datasets.items():
            for label in chosen:
                agent, steps, hp = spec["agents"][label]
                jobs.append({
                    "label": label, "agent": agent, "steps": steps, "hp": hp, "seed": seed, "task_name": name, "task": TASKS[name],
                    "level": level, "dataset": ds, "preferences": (regret_stores if label in REGRET_ROWS else stores)[ds] if agent in ("piql", "cpl", "oppo", "ipl") else None,
                    "eval_episodes": spec["eval_episodes"],
                })  # fmt: skip
    runs_dir = os.path.join(root, "runs")
    done: list[dict[str, Any]] = []
    if args.reuse:  # keep the finished runs of an earlier invocation in this root (same job, no error)
        finished = {job_key(r): r for r in previous_results(root) if "error" not in r}
        done = [finished[job_key(j)] for j in jobs if job_key(j) in finished]
        jobs = [j for j in jobs if job_key(j) not in finished]
        set_aside_unfinished(jobs, runs_dir, root)
        log(f"reusing {len(done)} finished runs from {root}")
    log(f"{len(jobs)} runs ({len(chosen)} agents × {len(datasets)} datasets × {args.seeds} seeds), {args.workers} at a time, in {runs_dir}")
    t1 = time.time()
    results = done + (run_all(jobs, runs_dir, args.workers, root, env) if jobs else [])
    t_runs = time.time() - t1
    from pbrl.evaluation.aggregate import DEFAULT_REPS

    stats, table = statistics_table(results, (lo, hi), args.reps or DEFAULT_REPS)
    report = {
        "profile": profile,
        "config": {"seeds": args.seeds, "workers": args.workers, "teacher": args.teacher, "labels": [lo, hi], "segment": spec["segment"],
                   "agents": {k: spec["agents"][k] for k in chosen}, "eval_episodes": spec["eval_episodes"]},  # fmt: skip
        "datasets": {f"{k[0]}/{k[1]}": v for k, v in datasets.items()},
        "timing_s": {"datasets": round(t_data, 1), "runs": round(t_runs, 1), "total": round(time.time() - t0, 1)},
        "generation": PROFILES[profile].get("generation"),
        "estimate_hours": estimate,
        "load": {"before": load_before, "after": load_average()},
        "root": root,
        "results": results,
        "failed": [r for r in results if "error" in r],
        **stats,
        "table": table,
    }
    print(table)
    print(f"load average before {load_before}, after {report['load']['after']}; runs {t_runs:.0f} s, total {report['timing_s']['total']:.0f} s")
    out = args.json or os.path.join(RESULTS, f"offline_pbrl{'-' + profile if profile != 'full' else ''}.json")
    write_report(out, report, markdown=table, say=log)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
