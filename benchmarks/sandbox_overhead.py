"""What the sandboxed reward worker costs: PPO wall-clock with a program: reward vs trusted-program:.

    python benchmarks/sandbox_overhead.py [--quick] [--repeats 10] [--steps 32768] [--json PATH]
    pbrl bench sandbox_overhead [--quick] [-- --json PATH]

The reward is HalfCheetah's own, written as a reward program file::

    forward = info["x_velocity"];  ctrl = -0.1 * sum(action**2)
    return forward + ctrl, {"forward": forward, "ctrl": ctrl}

and run two ways, exactly as ``pbrl train --reward ...`` builds it
(``pbrl.rewards.source.make_reward_source``):

* ``sandboxed``: ``program:PATH`` — statically checked and run in a jailed reward
  worker process (``pbrl.sandbox``), every batch sent over a pipe and the answer
  checked in the training process;
* ``trusted``: ``trusted-program:PATH`` — the same file run in the training process.

**PPO**: ``pbrl.agents.make_agent("ppo", "pbrl/HalfCheetah-v5", ...)`` with the task's
hyperparameters and ``n_envs = 64``. Each run builds its agent (and, for
``sandboxed``, starts its worker), trains one warm-up rollout untimed, then times
``agent.learn`` over ``--steps`` more env steps: the figure is training wall-clock,
worker start-up, agent construction and torch's first calls excluded. Runs come in
pairs with the same seed (pair i: seed ``--seed + i``); within a pair the order
alternates (sandboxed first in even pairs, trusted first in odd ones) so that a
drift in the machine's load falls on both sides. Both sides compute the same
float64 rewards, so a pair trains the same policy: the script checks that both
end with the same policy weights (a checksum) and the same number of episodes.

**Reward call alone**: ``source(obs, action, next_obs, info)`` at batch sizes
1, 8, 64, 256, 1024 and 4096, random values with the widths, info keys and dtypes of
the task's own steps (read from one step of the env: ``reward_terms``, ``x_velocity``
and the rest, all sent to the worker as in training), µs per call, both
sources timed in alternating windows; each figure is the median of the windows
(min and max in the JSON).

The table gives each side's wall-clock (median over pairs), the ratio sandboxed /
trusted with its min / median / max over the pairs, and the per-call µs. The issue's
target is a wall-clock ratio below 1.15. Each run's CPU time is given too: this
process's (``time.process_time``: env threads, torch, the client) plus, for
``sandboxed``, the worker's processes' (from ``/proc``) over the same window — less
sensitive to other processes than wall-clock, and it shows what the worker itself uses.
And the time spent inside the reward source's calls during training (each side's source
behind the same timing wrapper): the sandboxed minus the trusted time, over the trusted
run's wall-clock, is the share of training that the worker's round trips take, free of
the noise in the rest of the run. JSON (default ``benchmarks/results/sandbox_overhead.json``)
has every run, the machine, the sandbox layers in force and the load average. On a
shared machine, trust the spread more than any one pair.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np

from pbrl.envs.engine import usable_cores

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, cpu_model, write_report  # noqa: E402

TASK = "pbrl/HalfCheetah-v5"
BATCH_SIZES = (1, 8, 64, 256, 1024, 4096)
DEFAULT_JSON = os.path.join(RESULTS, "sandbox_overhead.json")
SIDES = ("sandboxed", "trusted")

PROGRAM = '''"""HalfCheetah's reward: forward velocity minus 0.1 * the squared action."""
import numpy as np


def compute_reward(obs, action, next_obs, info):
    forward = info["x_velocity"]
    ctrl = -0.1 * np.sum(action ** 2, axis=1)
    return forward + ctrl, {"forward": forward, "ctrl": ctrl}
'''

PROFILES = {
    # timed PPO env steps per run, pairs, reward calls per window (per batch size: at least this
    # many calls or this many transitions), windows per batch size
    "full": {"steps": 64 * 64 * 8, "repeats": 10, "calls": 300, "rows": 300_000, "windows": 7},
    "quick": {"steps": 64 * 64, "repeats": 1, "calls": 20, "rows": 8192, "windows": 2},
}


def _spec(side: str, path: str) -> str:
    return ("program:" if side == "sandboxed" else "trusted-program:") + path


def machine() -> dict[str, Any]:
    return {"nproc": usable_cores(), "cpu": cpu_model(), "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__}


# -- PPO --------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def worker_cpu_seconds(source: Any) -> float | None:
    """CPU seconds used so far by a sandboxed source's worker processes (``unshare``, the namespace's
    process 1 and the worker itself), from /proc; None where that cannot be read."""
    proc = getattr(getattr(source, "worker", None), "proc", None)
    if proc is None:
        return None
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in _descendants(proc.pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def timed_source(inner: Any) -> Any:
    """``inner`` behind a reward source that adds up the wall-clock of each call (the wrapper's own
    checks repeat ``inner``'s: a few µs, on both sides alike)."""
    from pbrl.rewards.source import RewardSource

    class Timed(RewardSource):
        def __init__(self):
            super().__init__()
            self.name, self.inner, self.latencies = inner.name, inner, []

        def compute(self, obs, action, next_obs, info):
            t0 = time.perf_counter()
            reward = self.inner(obs, action, next_obs, info)
            self.latencies.append(time.perf_counter() - t0)
            self.last_terms = self.inner.last_terms
            return reward

        def close(self):
            self.inner.close()

    return Timed()


def ppo_run(side: str, path: str, seed: int, steps: int, n_envs: int) -> dict[str, Any]:
    """One PPO run; returns its timed training wall-clock and what it trained."""
    from pbrl.agents import make_agent, resolve
    from pbrl.rewards.source import make_reward_source

    hp = resolve("ppo", TASK, {"n_envs": n_envs})
    rollout = hp["n_steps"] * hp["n_envs"]
    inner = make_reward_source(_spec(side, path))
    source = timed_source(inner)
    agent = make_agent("ppo", TASK, hp, seed=seed, reward_source=source)
    try:
        agent.learn(rollout)  # warm-up rollout and update: torch's first calls, untimed
        start_steps = agent.num_timesteps
        source.latencies.clear()
        w0, c0, t0 = worker_cpu_seconds(inner), time.process_time(), time.perf_counter()
        agent.learn(start_steps + steps)
        seconds = time.perf_counter() - t0
        cpu, w1 = time.process_time() - c0, worker_cpu_seconds(inner)
        worker_cpu = w1 - w0 if w0 is not None and w1 is not None else None
        lat = np.asarray(source.latencies) * 1e6
        stats = agent.reward_env.rollout_stats()
        params = sum(float(p.detach().double().sum()) for p in agent.model.policy.parameters())
        return {
            "side": side, "seed": seed, "seconds": seconds, "timed_steps": agent.num_timesteps - start_steps,
            "cpu_seconds": cpu, "worker_cpu_seconds": worker_cpu,
            "reward_seconds": float(lat.sum() / 1e6), "reward_calls": int(lat.size),
            "reward_call_us": {"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)), "max": float(lat.max())},
            "episodes": int(agent.reward_env.episodes_finished),
            "true_return": stats.get("rollout/true_return"), "learned_return": stats.get("rollout/learned_return"),
            "policy_checksum": params,
        }
    finally:
        agent.env.close()


def ppo_pairs(path: str, repeats: int, steps: int, n_envs: int, seed: int, log) -> list[dict[str, Any]]:
    pairs = []
    for i in range(repeats):
        order = SIDES if i % 2 == 0 else SIDES[::-1]
        runs = {}
        for side in order:
            runs[side] = ppo_run(side, path, seed + i, steps, n_envs)
            run = runs[side]
            log(f"  pair {i + 1}/{repeats} {side:9s}: {run['seconds']:.2f} s, CPU {_cpu(run):.2f} s "
                f"(worker {run['worker_cpu_seconds'] or 0:.2f} s), in reward calls {run['reward_seconds']:.3f} s "
                f"({run['reward_calls']} calls, median {run['reward_call_us']['median']:.0f} µs); "
                f"{run['timed_steps']} steps, {run['episodes']} episodes")
        a, b = runs["sandboxed"], runs["trusted"]
        same = a["policy_checksum"] == b["policy_checksum"] and a["episodes"] == b["episodes"]
        pairs.append({"seed": seed + i, "order": list(order), "sandboxed": a, "trusted": b,
                      "ratio": a["seconds"] / b["seconds"], "cpu_ratio": _cpu(a) / _cpu(b), "same_training": same})
    return pairs


# -- reward call alone ------------------------------------------------------------------------


def env_layout() -> dict[str, Any]:
    """What the training process hands a reward source each step on this task: the observation and
    action widths and the per-transition info (key -> (dtype, trailing shape), nested dicts as dicts),
    read from one step of a 2-env instance."""
    import pbrl  # noqa: F401  (registers the tasks)
    from pbrl.envs.sb3 import SB3VecEnv
    from pbrl.rewards.source import transition_info

    env = SB3VecEnv(TASK, num_envs=2)
    try:
        env.reset()
        env.step_async(np.zeros((2,) + env.action_space.shape))
        env.step_wait()
        info = transition_info(env.last_info)
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    finally:
        env.close()

    def layout(d):
        return {k: layout(v) if isinstance(v, dict) else (v.dtype.str, v.shape[1:])
                for k, v in d.items() if isinstance(v, dict) or (isinstance(v, np.ndarray) and v.ndim >= 1)}

    return {"obs_dim": obs_dim, "act_dim": act_dim, "info": layout(info)}


def batch(n: int, rng: np.random.Generator, layout: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """A batch of n transitions shaped like the task's (random values; the info keys and dtypes of its steps)."""

    def fill(spec):
        if isinstance(spec, dict):
            return {k: fill(v) for k, v in spec.items()}
        dtype, tail = np.dtype(spec[0]), (n,) + tuple(spec[1])
        if dtype.kind == "f":
            return rng.standard_normal(tail).astype(dtype)
        return np.zeros(tail, dtype=dtype)

    obs_dim, act_dim = layout["obs_dim"], layout["act_dim"]
    return (rng.standard_normal((n, obs_dim)), rng.uniform(-1, 1, (n, act_dim)), rng.standard_normal((n, obs_dim)),
            fill(layout["info"]))


def call_timings(path: str, sizes: tuple[int, ...], calls: int, rows: int, windows: int, log) -> dict[str, Any]:
    from pbrl.rewards.source import make_reward_source

    layout = env_layout()
    sources = {side: make_reward_source(_spec(side, path)) for side in SIDES}
    out: dict[str, Any] = {"batch_layout": layout}
    try:
        rng = np.random.default_rng(0)
        for n in sizes:
            obs, action, next_obs, info = batch(n, rng, layout)
            k = max(calls, rows // n)
            expected = None
            for side, source in sources.items():  # the same answer both ways, and a warm-up
                r = source(obs, action, next_obs, info)
                if expected is None:
                    expected = r
                elif not np.array_equal(r, expected):
                    raise AssertionError(f"the two sources disagree at batch size {n}")
            per: dict[str, list[float]] = {side: [] for side in SIDES}
            for w in range(windows):
                for side in (SIDES if w % 2 == 0 else SIDES[::-1]):
                    source = sources[side]
                    t0 = time.perf_counter()
                    for _ in range(k):
                        source(obs, action, next_obs, info)
                    per[side].append((time.perf_counter() - t0) / k * 1e6)
            row = {side: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v), "windows_us": v}
                   for side, v in per.items()}
            row["calls_per_window"] = k
            row["extra_us"] = row["sandboxed"]["median_us"] - row["trusted"]["median_us"]
            out[str(n)] = row
            log(f"  batch {n:5d}: sandboxed {row['sandboxed']['median_us']:9.1f} µs, trusted "
                f"{row['trusted']['median_us']:8.1f} µs per call ({k} calls x {windows} windows)")
        out["layers"] = sources["sandboxed"].layers
    finally:
        for source in sources.values():
            source.close()
    return out


# -- report -------------------------------------------------------------------------------


def _cpu(run: dict[str, Any]) -> float:
    return run["cpu_seconds"] + (run["worker_cpu_seconds"] or 0.0)


def table(pairs: list[dict[str, Any]], calls: dict[str, Any], sizes: tuple[int, ...], n_envs: int) -> str:
    lines = []
    if pairs:
        a = [p["sandboxed"]["seconds"] for p in pairs]
        b = [p["trusted"]["seconds"] for p in pairs]
        r = [p["ratio"] for p in pairs]
        ca = [_cpu(p["sandboxed"]) for p in pairs]
        cb = [_cpu(p["trusted"]) for p in pairs]
        rc = [p["cpu_ratio"] for p in pairs]
        ra = [p["sandboxed"]["reward_seconds"] for p in pairs]
        rb = [p["trusted"]["reward_seconds"] for p in pairs]
        ua = [p["sandboxed"]["reward_call_us"]["median"] for p in pairs]
        ub = [p["trusted"]["reward_call_us"]["median"] for p in pairs]
        share = [(p["sandboxed"]["reward_seconds"] - p["trusted"]["reward_seconds"]) / p["trusted"]["seconds"] for p in pairs]
        steps = pairs[0]["sandboxed"]["timed_steps"]
        lines += [
            f"PPO on {TASK}, N = {n_envs} envs, {steps} timed env steps per run, {len(pairs)} pair(s):",
            "",
            "| reward | wall-clock (s), median | min | max | CPU (s) incl. worker, median | in reward calls (s), median | µs per reward call in training, median |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| program: (sandboxed worker) | {statistics.median(a):.2f} | {min(a):.2f} | {max(a):.2f} | {statistics.median(ca):.2f} "
            f"| {statistics.median(ra):.3f} | {statistics.median(ua):.0f} |",
            f"| trusted-program: (in process) | {statistics.median(b):.2f} | {min(b):.2f} | {max(b):.2f} | {statistics.median(cb):.2f} "
            f"| {statistics.median(rb):.3f} | {statistics.median(ub):.0f} |",
            "",
            "| sandboxed / trusted, per pair | min | median | max |",
            "|---|---:|---:|---:|",
            f"| wall-clock | {min(r):.3f} | {statistics.median(r):.3f} | {max(r):.3f} |",
            f"| CPU time (training process + worker) | {min(rc):.3f} | {statistics.median(rc):.3f} | {max(rc):.3f} |",
            f"| 1 + (extra time in reward calls) / trusted wall-clock | {1 + min(share):.3f} | {1 + statistics.median(share):.3f} | {1 + max(share):.3f} |",
            "",
        ]
    if calls:
        lines += [
            "Reward call alone, µs per call (median of the windows):",
            "",
            "| batch size | sandboxed | trusted | extra | sandboxed / trusted |",
            "|---:|---:|---:|---:|---:|",
        ]
        for n in sizes:
            row = calls[str(n)]
            s, t = row["sandboxed"]["median_us"], row["trusted"]["median_us"]
            lines.append(f"| {n} | {s:.1f} | {t:.1f} | {s - t:.1f} | {s / t:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke profile: one pair of one rollout, short call windows")
    parser.add_argument("--repeats", type=int, default=None, help="PPO pairs (default: 10, quick: 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed PPO env steps per run (default: 32768, quick: 4096)")
    parser.add_argument("--n-envs", type=int, default=64, help="PPO sub-envs (default: 64)")
    parser.add_argument("--sizes", default=",".join(map(str, BATCH_SIZES)), help="reward-call batch sizes")
    parser.add_argument("--skip-ppo", action="store_true", help="only the reward-call timings")
    parser.add_argument("--skip-calls", action="store_true", help="only the PPO runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"JSON output (default: {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    profile = PROFILES["quick" if args.quick else "full"]
    repeats = args.repeats if args.repeats is not None else profile["repeats"]
    steps = args.steps if args.steps is not None else profile["steps"]
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    if repeats < 1 or steps < 1 or args.n_envs < 1 or not sizes or min(sizes) < 1:
        parser.error("--repeats, --steps, --n-envs and every --sizes entry must be positive")

    def log(text: str) -> None:
        print(text, flush=True)

    started, load_before = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pbrl-sandbox-bench-") as folder:
        path = os.path.join(folder, "halfcheetah_reward.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(PROGRAM)
        calls: dict[str, Any] = {}
        pairs: list[dict[str, Any]] = []
        if not args.skip_calls:
            log("reward call alone:")
            calls = call_timings(path, sizes, profile["calls"], profile["rows"], profile["windows"], log)
        if not args.skip_ppo:
            log(f"PPO, {repeats} pair(s) of {steps} timed steps:")
            pairs = ppo_pairs(path, repeats, steps, args.n_envs, args.seed, log)
    text = table(pairs, calls, sizes, args.n_envs)
    print()
    print(text)
    notes = []
    if any(not p["same_training"] for p in pairs):
        notes.append("a pair's two runs ended with different policy weights: they did not do the same work")
        print("\nnote: " + notes[-1])
    report = {
        "profile": "quick" if args.quick else "full",
        "command": "python benchmarks/sandbox_overhead.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "task": TASK, "n_envs": args.n_envs, "steps": steps, "repeats": repeats, "program": PROGRAM,
        "machine": machine(), "load": {"before": list(load_before), "after": list(os.getloadavg())},
        "wall_clock_s": round(time.time() - started, 1),
        "ppo": pairs, "calls": calls, "notes": notes, "table": text,
    }
    if pairs:
        ratios = [p["ratio"] for p in pairs]
        report["ratio"] = {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)}
        ratios = [p["cpu_ratio"] for p in pairs]
        report["cpu_ratio"] = {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)}
    print()
    write_report(args.json, report, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
