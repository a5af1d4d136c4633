"""The engine's finiteness check: one dot product per vector (before) vs pieces of DOT_CHUNK values.

``python benchmarks/finite_check.py [--quick]`` (or ``pbrl bench finite_check``) steps each
task side by side in one process, switching ``pbrl.envs.engine.zero_dot`` between the old
single ``np.dot`` over the whole vector (which lets OpenBLAS start its threads above 10 000
values) and the current chunked one, in alternating windows, and prints env-steps/s of each and
their ratio (median, min-max over the windows). Results are in BENCHMARKS.md ("The finiteness
check at large N").
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import pbrl  # noqa: F401  (registers the tasks)
from pbrl.envs import engine

_ZEROS: dict[tuple[int, str], np.ndarray] = {}


def single_dot(flat: np.ndarray) -> float:
    """The check before: one dot product over the whole vector."""
    zeros = _ZEROS.setdefault((flat.size, flat.dtype.str), np.zeros(flat.size, flat.dtype if flat.dtype == np.float32 else np.float64))
    return float(np.dot(flat, zeros))


def rate(env, actions, seconds: float) -> float:
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % len(actions)])
        steps += 1
    return steps * env.num_envs / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small case, short windows (a smoke run)")
    parser.add_argument("--cases", default="HalfCheetah:64,HalfCheetah:1024,Ant:256,Humanoid:64,Humanoid:256",
                        help="task:N pairs, comma-separated")
    parser.add_argument("--windows", type=int, default=4, help="windows per side")
    parser.add_argument("--seconds", type=float, default=0.8, help="seconds per window")
    parser.add_argument("--threads", type=int, default=2, help="MuJoCo threads")
    args = parser.parse_args(argv)
    cases = "HalfCheetah:16" if args.quick else args.cases
    windows, seconds = (2, 0.05) if args.quick else (args.windows, args.seconds)
    current = engine.zero_dot
    print("| task | N | single dot env-steps/s | pieces env-steps/s | pieces/single (median, min-max) |")
    print("|---|---:|---:|---:|---|")
    try:
        for case in cases.split(","):
            name, n = case.split(":")
            env = gym.make_vec(f"pbrl/{name}-v5", num_envs=int(n), nthread=args.threads)
            env.reset(seed=0)
            rng = np.random.default_rng(0)
            shape = (int(n),) + env.single_action_space.shape
            actions = [rng.uniform(-0.4, 0.4, shape).astype(np.float32) for _ in range(8)]
            result: dict[str, list[float]] = {"single": [], "pieces": []}
            for w in range(windows):
                order = (("single", single_dot), ("pieces", current))
                for label, fn in order if w % 2 == 0 else order[::-1]:
                    engine.zero_dot = fn
                    result[label].append(rate(env, actions, seconds))
            engine.zero_dot = current
            env.close()
            ratios = [b / a for a, b in zip(result["single"], result["pieces"])]
            print(f"| {name} | {n} | {np.median(result['single']):,.0f} | {np.median(result['pieces']):,.0f} | "
                  f"{np.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)
    finally:
        engine.zero_dot = current
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
