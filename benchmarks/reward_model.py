"""Reward-model speed: the batched ensemble against a Python loop over its members.

    python benchmarks/reward_model.py [--quick] [--json PATH] [--threads 1,2]
    pbrl bench reward_model [--quick] [-- --json PATH]

Measured in the same run, for each torch thread count in ``--threads``:

* **training steps/s** of a B-Pref-sized ensemble (3 members × 3×256 LeakyReLU,
  tanh output; batch 128 pairs per member; segments of H=50 steps; HalfCheetah's
  17-dim observations and 6-dim actions): ``RewardEnsemble.fit`` (stacked weights,
  one ``baddbmm`` per layer for all members; every member on its own shuffle)
  against the B-Pref reference structure (a Python loop over ``nn.Sequential``
  members inside each step, losses summed, one backward, one Adam) on the same data;
  a step is one gradient step of every member;
* **reward evaluation throughput** (transitions/s) for batches of N transitions —
  N = 8 is one step of 8 envs (what the online reward wrapper calls), larger N is
  replay-buffer / dataset relabelling: the batched ensemble's ``reward`` (numpy in,
  numpy out, the member mean) against ``torch.stack([m(x) for m in members]).mean(0)``
  with the same numpy conversions;
* the Preference Transformer's training steps/s and single-step reward throughput.

The table prints rates and the batched/loop ratios; the JSON (default
``benchmarks/results/reward_model.json``) has every number, the machine, versions
and the load average before and after. Other processes on a 2-core machine change
these figures a lot (and make 2 torch threads slower than 1): rerun on a quiet machine
for final numbers.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pbrl.envs.engine import usable_cores

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, cpu_model, load_average, write_report  # noqa: E402

OBS_DIM, ACT_DIM = 17, 6
DEFAULT_JSON = os.path.join(RESULTS, "reward_model.json")


# -- machine ------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "nproc": usable_cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


# -- timing -------------------------------------------------------------------------


def rate(fn: Callable[[], int], seconds: float, warmup: int = 1) -> tuple[float, float]:
    """Units per wall-clock second and per CPU second of this process, of ``fn`` (which
    returns how many units it did), timed for at least ``seconds``."""
    for _ in range(warmup):
        fn()
    done, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        done += fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed, done / max(time.process_time() - c0, 1e-9)


def compare(
    fa: Callable[[], int], fb: Callable[[], int], seconds: float, rounds: int, warmup: int = 1
) -> tuple[float, float, float, float]:
    """Best-of-``rounds`` rates of ``fa`` and ``fb``, measured alternately (a, b, a, b, …) so
    that changes in the machine's load hit both alike.

    :return: ``(wall_a, wall_b, cpu_a, cpu_b)``: units per wall second and per CPU second.
    """
    wa = wb = ca = cb = 0.0
    for r in range(rounds):
        w, c = rate(fa, seconds / rounds, warmup if r == 0 else 0)
        wa, ca = max(wa, w), max(ca, c)
        w, c = rate(fb, seconds / rounds, warmup if r == 0 else 0)
        wb, cb = max(wb, w), max(cb, c)
    return wa, wb, ca, cb


# -- the reference: B-Pref's structure ----------------------------------------------


class LoopEnsemble:
    """M separate ``nn.Sequential`` members evaluated one after another (B-Pref style)."""

    def __init__(self, members: list[nn.Module], lr: float = 3e-4):
        self.members = members
        self.opt = torch.optim.Adam([p for m in members for p in m.parameters()], lr=lr)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray) -> None:
        """One step of every member, each on its own batch ``idx[m]``, losses summed."""
        loss = 0.0
        for m, member in enumerate(self.members):
            i = torch.from_numpy(idx[m])
            xb, yb = x[i], y[i]
            b, _, h, d = xb.shape
            r = member(xb.reshape(-1, d)).reshape(b, 2, h).sum(-1)
            target = torch.stack([1 - yb, yb], -1)
            loss = loss + -(target * F.log_softmax(r, -1)).sum(-1).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    @torch.no_grad()
    def reward(self, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.concatenate([obs, act], -1))
        return torch.stack([m(x).squeeze(-1) for m in self.members]).mean(0).numpy()


def make_pairs(n: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 2, h, OBS_DIM)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 2, h, ACT_DIM)).astype(np.float32)
    w = rng.normal(size=OBS_DIM + ACT_DIM)
    ret = (np.concatenate([obs, act], -1) @ w).sum(-1)
    return obs, act, (ret[:, 1] > ret[:, 0]).astype(np.float32)


# -- measurements -------------------------------------------------------------------


def bench_training(cfg: dict, seconds: float) -> dict[str, Any]:
    from pbrl.rewards.ensemble import RewardEnsemble

    n_pairs, h, bs = cfg["train_pairs"], cfg["segment"], cfg["batch"]
    obs, act, y = make_pairs(n_pairs, h)
    steps_per_epoch = math.ceil(n_pairs / bs)
    model = RewardEnsemble(OBS_DIM, ACT_DIM, n_members=3, hidden_sizes=cfg["hidden"], batch_size=bs, seed=0)
    loop = LoopEnsemble([model.net.member(i) for i in range(3)])

    epochs = cfg["epochs_per_fit"]

    def batched_epoch() -> int:
        model.fit(obs, act, y, max_epochs=epochs, target_accuracy=2.0)  # never reaches 2.0: all epochs
        return epochs * steps_per_epoch

    x = torch.from_numpy(np.concatenate([obs, act], -1))
    yt = torch.from_numpy(y)
    rng = np.random.default_rng(0)

    def loop_epoch() -> int:
        for _ in range(epochs):
            order = np.argsort(rng.random((3, n_pairs)), axis=1)
            for start in range(0, n_pairs, bs):
                loop.train_step(x, yt, order[:, start : start + bs])
        return epochs * steps_per_epoch

    b, l, cb, cl = compare(batched_epoch, loop_epoch, cfg["train_seconds"], cfg["rounds"])
    return {
        "batched_steps_per_s": b,
        "loop_steps_per_s": l,
        "batched_over_loop": b / l,
        "batched_steps_per_cpu_s": cb,
        "loop_steps_per_cpu_s": cl,
        "batched_over_loop_cpu": cb / cl,
    }


def bench_reward(cfg: dict, seconds: float) -> dict[str, Any]:
    from pbrl.rewards.ensemble import RewardEnsemble

    model = RewardEnsemble(OBS_DIM, ACT_DIM, n_members=3, hidden_sizes=cfg["hidden"], seed=0)
    loop = LoopEnsemble([model.net.member(i) for i in range(3)])
    source = model.as_reward_source()
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for n in cfg["eval_sizes"]:
        obs = rng.normal(size=(n, OBS_DIM)).astype(np.float32)
        act = rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32)
        np.testing.assert_allclose(source(obs, act, obs, {}), loop.reward(obs, act), atol=1e-5)
        b, l, cb, cl = compare(
            lambda: (source(obs, act, obs, {}), n)[1], lambda: (loop.reward(obs, act), n)[1], seconds, cfg["rounds"], 3
        )
        out[str(n)] = {
            "batched_per_s": b,
            "loop_per_s": l,
            "batched_over_loop": b / l,
            "batched_per_cpu_s": cb,
            "loop_per_cpu_s": cl,
            "batched_over_loop_cpu": cb / cl,
        }
    return out


def bench_transformer(cfg: dict, seconds: float) -> dict[str, Any]:
    from pbrl.rewards.transformer import PreferenceTransformer

    h, bs = cfg["segment"], cfg["pt_batch"]
    obs, act, y = make_pairs(bs * 2, h, seed=1)
    model = PreferenceTransformer(OBS_DIM, ACT_DIM, max_len=max(h, 1), batch_size=bs, seed=0, **cfg["pt_arch"])

    def epoch() -> int:
        model.fit(obs, act, y, max_epochs=1, target_accuracy=2.0)
        return 2

    train = rate(epoch, seconds)[0]
    rng = np.random.default_rng(0)
    rewards = {}
    source = model.as_reward_source()
    for n in cfg["eval_sizes"]:
        o = rng.normal(size=(n, OBS_DIM)).astype(np.float32)
        a = rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32)
        rewards[str(n)] = rate(lambda: (source(o, a, o, {}), n)[1], seconds, warmup=2)[0]
    return {"train_steps_per_s": train, "reward_per_s": rewards}


# -- CLI ----------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="reward_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: short timings, small sizes")
    p.add_argument("--json", default=DEFAULT_JSON, help=f"where to write the results (default {DEFAULT_JSON})")
    p.add_argument("--threads", default=None, help="comma-separated torch thread counts (default: 1,2 capped at the cores)")
    p.add_argument("--seconds", type=float, default=None, help="timed seconds per comparison (default 4, training 5x; quick 0.3)")
    p.add_argument("--no-transformer", action="store_true", help="skip the Preference Transformer")
    return p.parse_args(argv)


def _fmt(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.2f}"


def render_table(report: dict[str, Any]) -> str:
    lines = []
    for threads, res in report["results"].items():
        lines.append(f"torch threads = {threads}")
        t = res["training"]
        lines.append(
            f"  ensemble train steps/s   batched {_fmt(t['batched_steps_per_s']):>8}   loop {_fmt(t['loop_steps_per_s']):>8}"
            f"   ratio {t['batched_over_loop']:.2f}x   (per CPU-s ratio {t['batched_over_loop_cpu']:.2f}x)"
        )
        for n, r in res["reward"].items():
            lines.append(
                f"  reward N={n:<6} trans/s     batched {_fmt(r['batched_per_s']):>8}   loop {_fmt(r['loop_per_s']):>8}"
                f"   ratio {r['batched_over_loop']:.2f}x   (per CPU-s ratio {r['batched_over_loop_cpu']:.2f}x)"
            )
        if "transformer" in res:
            pt = res["transformer"]
            rs = ", ".join(f"N={n}: {_fmt(v)}/s" for n, v in pt["reward_per_s"].items())
            lines.append(f"  transformer train steps/s {_fmt(pt['train_steps_per_s'])}; single-step reward {rs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cores = usable_cores()
    if args.threads:
        thread_counts = [int(t) for t in args.threads.split(",")]
    else:
        thread_counts = sorted({1, min(2, cores)})
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 4.0)
    if args.quick:
        cfg = {
            "hidden": [64, 64, 64],
            "segment": 10,
            "batch": 32,
            "train_pairs": 64,
            "eval_sizes": [8, 1024],
            "pt_batch": 16,
            "pt_arch": {"embed_dim": 32, "pref_attn_dim": 32, "n_heads": 2},
            "rounds": 1,
            "epochs_per_fit": 10,
            "train_seconds": seconds,
        }
    else:
        cfg = {
            "hidden": [256, 256, 256],  # B-Pref
            "segment": 50,
            "batch": 128,
            "train_pairs": 512,
            "eval_sizes": [8, 256, 16384],
            "pt_batch": 64,
            "pt_arch": {},  # PT defaults: 256 wide, 1 layer, 4 heads
            "rounds": 5,
            "epochs_per_fit": 1,
            "train_seconds": 5 * seconds,
        }
    report: dict[str, Any] = {
        "machine": machine_info(),
        "load": {"before": load_average()},
        "config": dict(cfg, quick=args.quick, seconds=seconds, threads=thread_counts, n_members=3),
        "results": {},
        "notes": [
            "training: a step is one gradient step of all 3 members, each on its own batch of "
            f"{cfg['batch']} pairs of {cfg['segment']}-step segments",
            "reward: numpy (N, obs_dim), (N, act_dim) in, (N,) member-mean out, no_grad",
            "each figure is the best of `rounds` alternating measurements (batched, loop, batched, …)",
            "per CPU-s: units per CPU second of this process (less sensitive to other processes; "
            "with 2 threads it counts both threads, spin-waits included)",
        ],
    }
    before_threads = torch.get_num_threads()
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            res: dict[str, Any] = {
                "training": bench_training(cfg, seconds),
                "reward": bench_reward(cfg, seconds),
            }
            if not args.no_transformer:
                res["transformer"] = bench_transformer(cfg, seconds)
            report["results"][str(threads)] = res
    finally:
        torch.set_num_threads(before_threads)
    report["load"]["after"] = load_average()
    print(f"reward models on {report['machine']['cpu']} ({cores} cores), load {report['load']['before']} -> {report['load']['after']}")
    print(render_table(report))
    if args.json:
        write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
