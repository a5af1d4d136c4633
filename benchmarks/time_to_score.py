"""Wall-clock time to a fixed return: pbrl's PPO/SAC vs Stable-Baselines3 with rl-zoo's settings.

For each task and algorithm, both sides train on the same machine, in one run of
this script, and are evaluated every ``eval_freq`` env steps (10 episodes,
deterministic actions, fresh seeds); a side stops as soon as its evaluation
return reaches the target. The clock counts training only (evaluations are
paused out), so both sides are charged the same way.

* pbrl: ``pbrl.agents`` (SB3 on pbrl's batched env) with ``agents/online/hyperparams.toml``.
* SB3: ``stable_baselines3`` on Gymnasium's own ``<Task>-v5`` in a ``DummyVecEnv``
  with rl-zoo's hyperparameters (``hyperparams/ppo.yml``: the tuned HalfCheetah-v4 /
  Hopper-v4 entries; ``sac.yml``: the MuJoCo defaults), VecNormalize as rl-zoo's
  ``normalize: true``.

Usage::

    python benchmarks/time_to_score.py [--quick] [--tasks HalfCheetah Hopper] [--algos ppo sac]
        [--max-minutes 20] [--out benchmarks/results/time_to_score.json]
    pbrl bench time_to_score --quick

Writes JSON (every run's evaluation curve against training seconds) and prints
a markdown table with the speed-up ratio SB3 time / pbrl time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, write_report  # noqa: E402

# rl-baselines3-zoo hyperparameters (hyperparams/ppo.yml, hyperparams/sac.yml), as SB3 keyword arguments.
ZOO_PPO_POLICY = "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]))"
ZOO = {
    ("ppo", "HalfCheetah"): dict(
        normalize=True, n_envs=1, batch_size=64, n_steps=512, gamma=0.98, learning_rate=2.0633e-05,
        ent_coef=0.000401762, clip_range=0.1, n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096,
        policy_kwargs=ZOO_PPO_POLICY,
    ),
    ("ppo", "Hopper"): dict(
        normalize=True, n_envs=1, batch_size=32, n_steps=512, gamma=0.999, learning_rate=9.80828e-05,
        ent_coef=0.00229519, clip_range=0.2, n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671,
        policy_kwargs=ZOO_PPO_POLICY,
    ),
    ("sac", "HalfCheetah"): dict(normalize=False, n_envs=1, learning_starts=10000),
    ("sac", "Hopper"): dict(normalize=False, n_envs=1, learning_starts=10000),
}

PROFILES = {
    # target return, max env steps per run, evaluation period, evaluation episodes
    "full": {
        "targets": {"HalfCheetah": 1500.0, "Hopper": 1000.0},
        "max_steps": {"ppo": 1_000_000, "sac": 300_000},
        "eval_freq": {"ppo": 10_000, "sac": 5_000},
        "episodes": 10,
    },
    "quick": {  # a smoke run: tiny budgets, a target reachable in seconds
        "targets": {"HalfCheetah": -100.0, "Hopper": 50.0},
        "max_steps": {"ppo": 4096, "sac": 1200},
        "eval_freq": {"ppo": 2048, "sac": 600},
        "episodes": 2,
    },
}


def _policy_kwargs(text: str) -> dict:
    import torch.nn as nn

    return eval(text, {"dict": dict, "nn": nn})  # the literal above, not user input


class _Clock:
    """Training seconds: wall-clock minus time spent evaluating."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0

    def pause(self):
        return time.perf_counter()

    def resume(self, t0: float) -> None:
        self.paused += time.perf_counter() - t0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused


def _eval_callback(evaluate, clock: _Clock, target: float, eval_freq: int, max_minutes: float, curve: list):
    from stable_baselines3.common.callbacks import BaseCallback

    class EvalStop(BaseCallback):
        def __init__(self):
            super().__init__()
            self.next = eval_freq
            self.reached = None

        def _on_step(self) -> bool:
            if self.model.num_timesteps < self.next:
                return clock.seconds() < max_minutes * 60
            self.next += eval_freq
            t0 = clock.pause()
            value = float(evaluate())
            clock.resume(t0)
            curve.append({"steps": int(self.model.num_timesteps), "train_seconds": round(clock.seconds(), 3), "return": value})
            if value >= target:
                self.reached = curve[-1]
                return False
            return clock.seconds() < max_minutes * 60

    return EvalStop()


def run_pbrl(algo: str, task: str, target: float, max_steps: int, eval_freq: int, episodes: int, max_minutes: float, seed: int) -> dict:
    from pbrl.agents import make_agent, resolve

    task_id = f"pbrl/{task}-v5"
    hp = resolve(algo, task_id)
    clock = _Clock()
    agent = make_agent(algo, task_id, hp, seed=seed)
    curve: list = []
    evals = iter(range(10**9))
    cb = _eval_callback(lambda: agent.evaluate(episodes, seed=10_000 + next(evals)).return_mean, clock, target, eval_freq, max_minutes, curve)
    agent.learn(max_steps, callback=cb)
    agent.close()
    return _result("pbrl", algo, task, target, clock, cb, curve, hp)


def run_sb3(algo: str, task: str, target: float, max_steps: int, eval_freq: int, episodes: int, max_minutes: float, seed: int) -> dict:
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)  # the same (best on 2 cores) setting as pbrl's, see BENCHMARKS.md
    zoo = dict(ZOO[(algo, task)])
    normalize = zoo.pop("normalize")
    n_envs = zoo.pop("n_envs")
    if "policy_kwargs" in zoo:
        zoo["policy_kwargs"] = _policy_kwargs(zoo["policy_kwargs"])
    clock = _Clock()
    env = make_vec_env(f"{task}-v5", n_envs=n_envs, seed=seed)
    if normalize:
        env = VecNormalize(env, gamma=zoo.get("gamma", 0.99))
    cls = PPO if algo == "ppo" else SAC
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **zoo)
    eval_env = gym.make_vec(f"{task}-v5", num_envs=episodes, vectorization_mode="sync")
    evals = iter(range(10**9))

    def evaluate() -> float:
        # Gymnasium's own env, deterministic actions, normaliser frozen, all episodes run to their end.
        obs, _ = eval_env.reset(seed=10_000 + next(evals) * 1000)
        alive = np.ones(episodes, bool)
        total = np.zeros(episodes)
        while alive.any():
            o = env.normalize_obs(obs) if normalize else obs
            action, _ = model.predict(o.astype(np.float32), deterministic=True)
            obs, reward, term, trunc, _ = eval_env.step(action)
            total += np.where(alive, reward, 0.0)
            alive &= ~(term | trunc)
        return float(total.mean())

    curve: list = []
    cb = _eval_callback(evaluate, clock, target, eval_freq, max_minutes, curve)
    model.learn(max_steps, callback=cb)
    env.close()
    eval_env.close()
    hp = dict(ZOO[(algo, task)])
    return _result("sb3", algo, task, target, clock, cb, curve, hp)


def _result(impl, algo, task, target, clock, cb, curve, hp) -> dict:
    return {
        "impl": impl,
        "algo": algo,
        "task": task,
        "target": target,
        "reached": cb.reached is not None,
        "seconds_to_target": cb.reached["train_seconds"] if cb.reached else None,
        "steps_to_target": cb.reached["steps"] if cb.reached else None,
        "train_seconds": round(clock.seconds(), 3),
        "final_return": curve[-1]["return"] if curve else None,
        "curve": curve,
        "hyperparams": {k: (v if isinstance(v, (int, float, str, bool, list)) else str(v)) for k, v in hp.items()},
    }


def _table(results: list[dict]) -> str:
    lines = [
        "| task | algo | seed | target | pbrl s (steps) | SB3 rl-zoo s (steps) | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    pairs: dict[tuple, dict] = {}
    for r in results:
        pairs.setdefault((r["task"], r["algo"], r.get("seed", 0)), {})[r["impl"]] = r

    def cell(r):
        if r is None:
            return "not run"
        if not r["reached"]:
            return f"not reached in {r['train_seconds']:.0f} s (best {max((c['return'] for c in r['curve']), default=float('nan')):.0f})"
        return f"{r['seconds_to_target']:.1f} ({r['steps_to_target']:,})"

    for (task, algo, seed), sides in pairs.items():
        p, s = sides.get("pbrl"), sides.get("sb3")
        r = speedup(p, s)
        ratio = "-" if r is None else (f"> {r[0]:.1f}x" if r[1] else f"{r[0]:.1f}x")
        target = (p or s)["target"]
        lines.append(f"| {task} | {algo} | {seed} | {target:g} | {cell(p)} | {cell(s)} | {ratio} |")
    return "\n".join(lines)


def speedup(p: dict | None, s: dict | None) -> tuple[float, bool] | None:
    """(SB3 seconds / pbrl seconds, whether it is only a lower bound) or None.

    A lower bound when SB3 did not reach the target (its training time so far is used).
    """
    if not (p and s and p["reached"]):
        return None
    if s["reached"]:
        return s["seconds_to_target"] / max(p["seconds_to_target"], 1e-9), False
    return s["train_seconds"] / max(p["seconds_to_target"], 1e-9), True


def summary(results: list[dict]) -> dict[str, dict]:
    """Per (task, algo): each seed's speed-up, their median, min and max (lower bounds marked)."""
    pairs: dict[tuple, dict] = {}
    for r in results:
        pairs.setdefault((r["task"], r["algo"]), {}).setdefault(r.get("seed", 0), {})[r["impl"]] = r
    out = {}
    for (task, algo), seeds in pairs.items():
        per_seed = {str(seed): speedup(sides.get("pbrl"), sides.get("sb3")) for seed, sides in sorted(seeds.items())}
        values = [v[0] for v in per_seed.values() if v is not None]
        out[f"{task}/{algo}"] = {
            "per_seed": {k: (None if v is None else {"speedup": round(v[0], 3), "lower_bound": v[1]}) for k, v in per_seed.items()},
            "median": float(np.median(values)) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "seeds": len(per_seed),
            "missing": [k for k, v in per_seed.items() if v is None],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke profile: tiny budgets")
    parser.add_argument("--tasks", nargs="+", default=None, choices=["HalfCheetah", "Hopper"])
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--impls", nargs="+", default=["pbrl", "sb3"], choices=["pbrl", "sb3"])
    parser.add_argument("--max-minutes", type=float, default=None, help="training-time cap per run (default: 30, quick: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: --seed); each seed runs both sides")
    parser.add_argument(
        "--out",
        default=os.path.join(RESULTS, "time_to_score.json"),
        help="JSON output path (default: benchmarks/results/time_to_score.json)",
    )
    args = parser.parse_args(argv)
    profile = PROFILES["quick" if args.quick else "full"]
    tasks = args.tasks or (["HalfCheetah"] if args.quick else ["HalfCheetah", "Hopper"])
    max_minutes = args.max_minutes if args.max_minutes is not None else (2.0 if args.quick else 30.0)
    runners = {"pbrl": run_pbrl, "sb3": run_sb3}
    results = []
    started = time.time()
    load_before = os.getloadavg()
    try:
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    for seed in seeds:
        for task in tasks:
            for algo in args.algos:
                for impl in args.impls:
                    r = runners[impl](
                        algo, task, profile["targets"][task], profile["max_steps"][algo], profile["eval_freq"][algo],
                        profile["episodes"], max_minutes, seed,
                    )
                    r["seed"] = seed
                    results.append(r)
                    print(f"{impl:4s} {algo} {task} seed {seed}: reached={r['reached']} seconds={r['seconds_to_target']} "
                          f"steps={r['steps_to_target']} last eval={r['final_return']}", flush=True)
    table = _table(results)
    print(table)
    speedups = summary(results)
    for key, sm in speedups.items():
        if sm["median"] is not None:
            print(f"{key}: speed-up median {sm['median']:.2f}x over {sm['seeds'] - len(sm['missing'])} seed(s), "
                  f"min {sm['min']:.2f}x, max {sm['max']:.2f}x (lower bounds where SB3 did not reach the target)")
    out = {
        "profile": "quick" if args.quick else "full",
        "command": "python benchmarks/time_to_score.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "wall_clock_s": round(time.time() - started, 1),
        "seeds": seeds,
        "results": results,
        "speedups": speedups,
        "table": table,
    }
    write_report(args.out, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
