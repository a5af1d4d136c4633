"""SAC's gradient step: pbrl's (agents/online/sac.py) against Stable-Baselines3's own, side by side.

Both are SB3's ``SAC`` with the same hyperparameters, weights and replay data (random
transitions of pbrl/HalfCheetah-v5's shapes); they differ only in what agents/online/sac.py
changes: the actor loss's critic forward without weight gradients (bit-identical
updates) and the fused Adam. Each configuration's models are timed in alternating
windows of ``--steps`` gradient steps, ``--repeat`` times, in one process with one
torch thread (``--threads``); the table gives milliseconds per gradient step (median) and the ratio
SB3 / pbrl (median of the per-window ratios, with its min-max).

    python benchmarks/sac_step.py [--quick] [--batch-sizes 64,256,512,1024] [--nets 256x256]
    pbrl bench sac_step --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, write_report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK = "pbrl/HalfCheetah-v5"
DEFAULT_JSON = os.path.join(RESULTS, "sac_step.json")


def _build(kind: str, net: list[int], batch_size: int, env):
    from stable_baselines3 import SAC

    from pbrl.agents.online.sac import PbrlSACPolicy, fused_adam_available

    if kind == "sb3":
        policy, kwargs = "MlpPolicy", {}
    else:
        policy, kwargs = PbrlSACPolicy, ({"optimizer_kwargs": {"fused": True}} if fused_adam_available() else {})
    model = SAC(
        policy, env, learning_rate=1e-3, batch_size=batch_size, learning_starts=0, seed=0, verbose=0,
        policy_kwargs=dict(net_arch=list(net), **kwargs),
    )
    rb = model.replay_buffer
    rng = np.random.default_rng(0)
    n = 5000
    for name in ("observations", "next_observations"):
        getattr(rb, name)[:n] = rng.standard_normal(getattr(rb, name)[:n].shape)
    rb.actions[:n] = rng.uniform(-1, 1, rb.actions[:n].shape)
    rb.rewards[:n] = rng.standard_normal(rb.rewards[:n].shape)
    rb.pos = n
    model._setup_learn(10_000, None)
    return model


def measure(net: list[int], batch_size: int, steps: int, repeat: int, threads: int = 1) -> dict:
    import torch

    from pbrl.agents import make_agent, resolve

    torch.set_num_threads(threads)
    agent = make_agent("sac", TASK, resolve("sac", TASK), seed=0)
    try:
        models = {kind: _build(kind, net, batch_size, agent.env) for kind in ("sb3", "pbrl")}
        for m in models.values():  # warm-up
            m.train(gradient_steps=max(2, steps // 10), batch_size=batch_size)
        times: dict[str, list[float]] = {k: [] for k in models}
        for _ in range(repeat):
            for kind, m in models.items():
                t0 = time.perf_counter()
                m.train(gradient_steps=steps, batch_size=batch_size)
                times[kind].append((time.perf_counter() - t0) / steps)
    finally:
        agent.close()
    ratios = np.array(times["sb3"]) / np.array(times["pbrl"])
    return {
        "net": net,
        "batch_size": batch_size,
        "torch_threads": threads,
        "sb3_ms": 1e3 * float(np.median(times["sb3"])),
        "pbrl_ms": 1e3 * float(np.median(times["pbrl"])),
        "ratio_median": float(np.median(ratios)),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
        "windows": {k: [1e3 * t for t in v] for k, v in times.items()},
    }


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sac_step", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: batch 64, 64x64 nets, 5 steps, 2 windows")
    p.add_argument("--batch-sizes", default=None, help="comma-separated (default 64,256,512,1024)")
    p.add_argument("--nets", default=None, help="comma-separated hidden sizes like 256x256 (default 256x256)")
    p.add_argument("--steps", type=int, default=None, help="gradient steps per window (default 100)")
    p.add_argument("--repeat", type=int, default=None, help="windows per model (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as pbrl's SAC and the time-to-score runs)")
    p.add_argument("--json", default=DEFAULT_JSON)
    args = p.parse_args(argv)
    try:
        sizes = [int(x) for x in (args.batch_sizes or ("64" if args.quick else "64,256,512,1024")).split(",")]
        nets = [[int(h) for h in n.split("x")] for n in (args.nets or ("64x64" if args.quick else "256x256")).split(",")]
    except ValueError:
        p.error("--batch-sizes takes integers and --nets sizes like 256x256")
    if any(s < 1 for s in sizes) or any(h < 1 for n in nets for h in n) or args.threads < 1:
        p.error("batch sizes, hidden sizes and --threads must be positive")
    steps = args.steps or (5 if args.quick else 100)
    repeat = args.repeat or (2 if args.quick else 5)
    import torch

    load_before = os.getloadavg()
    rows = []
    for net in nets:
        for b in sizes:
            r = measure(net, b, steps, repeat, args.threads)
            rows.append(r)
            print(
                f"net {'x'.join(map(str, net))}, batch {b}: SB3 {r['sb3_ms']:.2f} ms, pbrl {r['pbrl_ms']:.2f} ms per gradient step; "
                f"SB3/pbrl {r['ratio_median']:.2f}x ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})",
                flush=True,
            )
    report = {
        "commit": _commit(),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "load": {"before": list(load_before), "after": list(os.getloadavg())},
        "config": {"steps": steps, "repeat": repeat, "torch_threads": args.threads, "quick": args.quick},
        "rows": rows,
    }
    print("| net | batch | SB3 ms/step | pbrl ms/step | SB3/pbrl (median, min-max) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {'×'.join(map(str, r['net']))} | {r['batch_size']} | {r['sb3_ms']:.2f} | {r['pbrl_ms']:.2f} | "
            f"{r['ratio_median']:.2f}× ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |"
        )
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
