"""How many bootstrap repetitions give stable interval ends: spread of the ends over bootstrap seeds, and time per call.

    python benchmarks/bootstrap_reps.py [--quick] [--repeats 30] [--json PATH]
    pbrl bench bootstrap_reps [--quick] [-- --json PATH]

For data shaped like pbrl's comparisons — 5 and 10 seeds × 1 and 3 tasks of
normalized scores (×100) — the script computes the 95% stratified-bootstrap interval
(``pbrl.evaluation.aggregate``) ``--repeats`` times, each with a different bootstrap
seed, at 1 000, 2 000, 5 000, 10 000, 20 000 and 50 000 repetitions, for two
statistics:

* ``iqm``: ``interval_estimate(scores, iqm, reps)`` of one group;
* ``poi``: ``probability_of_improvement_interval(x, y, reps)`` of two groups.

The scores are fixed (drawn once, seed 0): per task a mean of 40, 60 or 80 and a
between-seed spread of 15 (``poi``'s X is 10 points above Y), with one seed of each
group far below the rest (a run that failed to take off: a skewed spread, as real
seeds have). What moves between the repeats is the bootstrap alone.

Per (shape, statistic, reps) the table gives the standard deviation of the low and
the high end over the repeats, as a percentage of the interval's mean width (the
Monte-Carlo noise of the ends), and the median wall-clock time of one call; then per
``reps`` the worst and the median of those spreads over all ends of all cases, and
the smallest ``reps`` at which each is below 1% of the width.

With few seeds the bootstrap distribution is a lattice (P(X > Y) of 5 vs 5 runs
takes multiples of 1/25; an IQM of 5 runs averages 3 of them), and an end that falls
between two attainable values jumps between them whatever ``reps`` is: such a case
keeps a spread of a few % of the width long after the smooth cases have settled.
The JSON (default ``benchmarks/results/bootstrap_reps.json``) holds every figure,
the machine, the load and the numpy version.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, write_report  # noqa: E402

DEFAULT_JSON = os.path.join(RESULTS, "bootstrap_reps.json")
REPS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
SHAPES = ((5, 1), (10, 1), (5, 3), (10, 3))
TASK_MEANS = (40.0, 60.0, 80.0)
SPREAD = 15.0
THRESHOLD = 0.01  # an end's std over bootstrap seeds, as a share of the interval's width


def scores(runs: int, tasks: int, shift: float, rng: np.random.Generator) -> np.ndarray:
    """``(runs, tasks)`` normalized scores: per task mean + ``shift``, spread 15, the last seed failed."""
    out = np.empty((runs, tasks))
    for j in range(tasks):
        out[:, j] = rng.normal(TASK_MEANS[j] + shift, SPREAD, size=runs)
        out[-1, j] = TASK_MEANS[j] + shift - 3 * SPREAD
    return out


def measure(call, repeats: int) -> dict:
    """``repeats`` intervals with bootstrap seeds 0.. ; the ends' spread and the time per call."""
    lows, highs, times = [], [], []
    for seed in range(repeats):
        start = time.perf_counter()
        _, low, high = call(seed)
        times.append(time.perf_counter() - start)
        lows.append(low)
        highs.append(high)
    lows, highs = np.array(lows), np.array(highs)
    width = float(np.mean(highs - lows))
    return {
        "low_mean": float(lows.mean()),
        "high_mean": float(highs.mean()),
        "width": width,
        "low_std_pct_width": 100.0 * float(lows.std(ddof=1)) / width if width > 0 else 0.0,
        "high_std_pct_width": 100.0 * float(highs.std(ddof=1)) / width if width > 0 else 0.0,
        "seconds_per_call_median": float(np.median(times)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke profile: 5 repeats at 1 000 and 5 000 repetitions, two shapes")
    parser.add_argument("--repeats", type=int, default=30, help="intervals per (shape, statistic, reps), each with its own bootstrap seed")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    args = parser.parse_args(argv)

    from pbrl.evaluation import aggregate as agg

    reps_list = (1_000, 5_000) if args.quick else REPS
    shapes = SHAPES[:2] if args.quick else SHAPES
    repeats = 5 if args.quick else args.repeats
    if repeats < 2:
        parser.error("--repeats must be at least 2 (a spread needs two intervals)")
    rows = []
    for runs, tasks in shapes:
        rng = np.random.default_rng(0)
        y = scores(runs, tasks, 0.0, rng)
        x = scores(runs, tasks, 10.0, rng)
        cases = {
            "iqm": lambda seed, reps, x=x: agg.interval_estimate(x, agg.iqm, reps, 0.95, seed),
            "poi": lambda seed, reps, x=x, y=y: agg.probability_of_improvement_interval(x, y, reps, 0.95, seed),
        }
        for statistic, call in cases.items():
            for reps in reps_list:
                row = {"runs": runs, "tasks": tasks, "statistic": statistic, "reps": reps, "repeats": repeats}
                row.update(measure(functools.partial(call, reps=reps), repeats))
                rows.append(row)
                print(
                    f"{runs:>2} seeds × {tasks} task(s)  {statistic:<4} reps {reps:>6,}  "
                    f"[{row['low_mean']:7.3f}, {row['high_mean']:7.3f}]  "
                    f"std low {row['low_std_pct_width']:5.2f}%  high {row['high_std_pct_width']:5.2f}% of width  "
                    f"{1000 * row['seconds_per_call_median']:7.2f} ms/call",
                    flush=True,
                )
    ends = {reps: [e for r in rows if r["reps"] == reps for e in (r["low_std_pct_width"], r["high_std_pct_width"])] for reps in reps_list}
    worst = {reps: max(v) for reps, v in ends.items()}
    typical = {reps: float(np.median(v)) for reps, v in ends.items()}
    stable = [reps for reps in reps_list if worst[reps] < 100 * THRESHOLD]
    stable_typical = [reps for reps in reps_list if typical[reps] < 100 * THRESHOLD]
    slowest = {reps: max(r["seconds_per_call_median"] for r in rows if r["reps"] == reps) for reps in reps_list}

    print()
    print("| reps | median end std (% of width) | worst end std (% of width) | slowest call (ms) |")
    print("|---:|---:|---:|---:|")
    for reps in reps_list:
        print(f"| {reps:,} | {typical[reps]:.2f} | {worst[reps]:.2f} | {1000 * slowest[reps]:.1f} |")
    print()
    print(f"smallest reps with the median end's std < {100 * THRESHOLD:g}% of the width: {f'{stable_typical[0]:,}' if stable_typical else 'none measured'}")
    print(f"smallest reps with every end's std < {100 * THRESHOLD:g}% of the width: {f'{stable[0]:,}' if stable else 'none measured'}")

    result = {
        "benchmark": "bootstrap_reps",
        "command": " ".join(["python", "benchmarks/bootstrap_reps.py"] + (argv if argv is not None else sys.argv[1:])),
        "quick": args.quick,
        "threshold_share_of_width": THRESHOLD,
        "smallest_stable_reps": stable[0] if stable else None,
        "smallest_stable_reps_median": stable_typical[0] if stable_typical else None,
        "worst_end_std_pct_width": {str(k): v for k, v in worst.items()},
        "median_end_std_pct_width": {str(k): v for k, v in typical.items()},
        "slowest_seconds_per_call": {str(k): v for k, v in slowest.items()},
        "rows": rows,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()},
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    write_report(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
