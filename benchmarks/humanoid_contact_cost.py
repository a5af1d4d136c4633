"""What Humanoid's contact forces cost per env: env-steps/s with and without the cfrc_ext work.

Usage:
    python benchmarks/humanoid_contact_cost.py [--task Humanoid|HumanoidStandup|Ant] [--sizes 16,64]

For each N it steps ``gym.make_vec("pbrl/<task>-v5", num_envs=N)`` with the default
options (the persistent batch and the per-env ``get_data`` + ``mj_rnePostConstraint``
loop that ``cfrc_ext`` needs) and with ``include_cfrc_ext_in_observation=False`` and
a zero contact cost (no loop, non-persistent batch), on the same random actions,
autoreset included; windows alternate between the two so load drift hits both. It
also times the loop alone (``Sim.cfrc_ext`` after a batched step), per sub-env, in
wall and CPU time. Env-steps/s is the best window; CPU per env-step (process time,
native threads included) the least, which other processes disturb less.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import pbrl  # noqa: F401  (registers the pbrl tasks)

LEAN = {  # the options that skip the loop; Ant for comparison under the same load
    "Ant": {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0},
    "Humanoid": {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0},
    "HumanoidStandup": {"include_cfrc_ext_in_observation": False, "impact_cost_weight": 0.0},
}


def rate(env, actions, seconds: float) -> tuple[float, float]:
    """Env-steps/s of one window of ``seconds`` on the cycled action bank, and the
    process's CPU time (all threads, physics included) per env-step in µs."""
    n, k = 0, 0
    start, cpu = time.perf_counter(), time.process_time()
    while True:
        env.step(actions[k % len(actions)])
        n += 1
        k += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 5:
            return n * env.num_envs / elapsed, 1e6 * (time.process_time() - cpu) / (n * env.num_envs)


def loop_cost(task: str, n: int, steps: int = 100, seed: int = 0) -> tuple[float, float, float]:
    """(physics step ms, loop µs per sub-env wall, loop µs per sub-env CPU) on the same states."""
    env = gym.make_vec(f"pbrl/{task}-v5", num_envs=n)
    env.reset(seed=seed)
    engine = env.engine
    sim, batch = engine.sim, engine.batch
    rng = np.random.default_rng(seed)
    low, high = env.single_action_space.low, env.single_action_space.high
    t_step = t_loop = c_loop = 0.0
    for k in range(steps + 5):
        if k % 20 == 19:  # keep the humanoids near their start, as short episodes would
            env.reset()
        sim.ctrl[:] = rng.uniform(low, high, size=(n, low.size))
        t0 = time.perf_counter()
        batch.step(nstep=engine.task.frame_skip)
        t1, c1 = time.perf_counter(), time.thread_time()
        sim._invalidate()
        _ = sim.cfrc_ext  # the loop under test
        t2, c2 = time.perf_counter(), time.thread_time()
        if k >= 5:
            t_step += t1 - t0
            t_loop += t2 - t1
            c_loop += c2 - c1
    env.close()
    return 1e3 * t_step / steps, 1e6 * t_loop / steps / n, 1e6 * c_loop / steps / n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="Humanoid", choices=sorted(LEAN))
    p.add_argument("--sizes", default="16,64")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    print(f"{args.task}-v5, load average before: {os.getloadavg()[0]:.2f}")
    print("| N | threads | env-steps/s default | env-steps/s no cfrc_ext | ratio | CPU/env-step default | "
          "CPU/env-step no cfrc_ext | ratio | loop/sub-env wall | loop/sub-env CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        envs = {
            "default": gym.make_vec(f"pbrl/{args.task}-v5", num_envs=n),
            "lean": gym.make_vec(f"pbrl/{args.task}-v5", num_envs=n, **LEAN[args.task]),
        }
        rng = np.random.default_rng(0)
        low, high = envs["default"].single_action_space.low, envs["default"].single_action_space.high
        actions = rng.uniform(low, high, size=(64, n, low.size)).astype(np.float32)
        best, cpu = {}, {}
        for name, env in envs.items():
            env.reset(seed=0)
            for k in range(20):
                env.step(actions[k])
            best[name], cpu[name] = 0.0, np.inf
        for _ in range(args.repeat):
            for name, env in envs.items():
                r, c = rate(env, actions, args.seconds)
                best[name], cpu[name] = max(best[name], r), min(cpu[name], c)
        threads = envs["default"].engine.nthread
        for env in envs.values():
            env.close()
        _, wall_us, cpu_us = loop_cost(args.task, n)
        print(f"| {n} | {threads} | {best['default']:,.0f} | {best['lean']:,.0f} | "
              f"{best['default'] / best['lean']:.2f} | {cpu['default']:.0f} µs | {cpu['lean']:.0f} µs | "
              f"{cpu['default'] / cpu['lean']:.2f} | {wall_us:.1f} µs | {cpu_us:.1f} µs |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
