"""Dataset collection and loading speed.

    python benchmarks/datasets.py [--quick] [--json PATH] [--tasks HalfCheetah,Hopper]
    pbrl bench datasets [--quick]

Measures, in one run:

* **collection**: env-steps/s of ``pbrl.datasets.collect`` — a policy acting on
  ``gym.make_vec(task, N)`` with everything a pbrl dataset records (observations,
  actions, rewards, flags, qpos/qvel, reward terms, quantities), episodes split with
  numpy at the end — against the same recording done the usual way, one Gymnasium
  env (``gym.make(task)``) stepped in a Python loop. Two policies: uniform random
  actions (the env's cost) and an untrained 256x256 MLP actor in torch (a SAC-sized
  policy, evaluated on the whole batch at once vs on one observation at a time).
* **loading**: the time to turn a 1M-step dataset (``--load-steps``) into training
  arrays: pbrl's ``load_trajectories(id).transitions()`` (its flat-array cache),
  the same from Minari's episode groups (``use_cache=False``), Minari's own
  ``load_dataset(id).iterate_episodes()`` concatenated, and
  ``d4rl.qlearning_dataset``. The datasets are random-policy datasets generated for
  the purpose (collection and write times are reported too): HalfCheetah (1000-step
  episodes, ~1k episodes) and Hopper (random Hopper falls within ~20 steps: ~50k
  episodes, the worst case for Minari's one-group-per-episode layout).

The machine is shared (2 cores): the load average before and after is recorded,
and the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, write_report  # noqa: E402

DEFAULT_JSON = os.path.join(RESULTS, "datasets.json")


def _policy(kind: str, obs_dim: int, act_dim: int, seed: int):
    """A batched policy ``(N, obs_dim) -> (N, act_dim)``: uniform random or an MLP actor."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return lambda obs: rng.uniform(-1.0, 1.0, size=(obs.shape[0], act_dim))
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(obs_dim, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, act_dim), torch.nn.Tanh()
    )

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mean = net(torch.as_tensor(obs, dtype=torch.float32)).numpy()
        return np.clip(mean + 0.1 * rng.standard_normal(mean.shape), -1.0, 1.0)

    return act


def collect_batched(task: str, kind: str, steps: int, num_envs: int) -> float:
    """env-steps/s of pbrl.datasets.collect (recording and splitting included)."""
    import gymnasium as gym

    from pbrl.datasets import collect

    env = gym.make_vec(task, num_envs=1)
    obs_dim, act_dim = env.single_observation_space.shape[0], env.single_action_space.shape[0]
    env.close()
    policy = _policy(kind, obs_dim, act_dim, 0)
    t0 = time.perf_counter()
    traj = collect(task, policy, steps, num_envs=num_envs, seed=0)
    dt = time.perf_counter() - t0
    assert traj.num_steps == steps
    return steps / dt


def _record_loop(env, kind: str, steps: int, state, info_rows: dict[str, Any]) -> float:
    """env-steps/s recording obs, actions, rewards, flags, ``state()``'s (qpos, qvel) and one
    row per ``info_rows`` entry (``name: info -> row``) through one env in a Python loop."""
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    policy = _policy(kind, obs_dim, act_dim, 0)
    rows: dict[str, list] = {k: [] for k in ("obs", "act", "rew", "term", "trunc", "qpos", "qvel", *info_rows)}
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        action = policy(obs[None])[0].astype(np.float32)
        qpos, qvel = state()
        rows["qpos"].append(qpos)
        rows["qvel"].append(qvel)
        rows["obs"].append(obs)
        nxt, reward, terminated, truncated, info = env.step(action)
        rows["act"].append(action)
        rows["rew"].append(reward)
        rows["term"].append(terminated)
        rows["trunc"].append(truncated)
        for name, row in info_rows.items():
            rows[name].append(row(info))
        if terminated or truncated:
            obs, _ = env.reset()
        else:
            obs = nxt
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    dt = time.perf_counter() - t0
    env.close()
    assert arrays["obs"].shape[0] == steps
    return steps / dt


def collect_single(task: str, kind: str, steps: int) -> float:
    """env-steps/s recording the same data through one Gymnasium env in a Python loop."""
    import gymnasium as gym

    env = gym.make(task)
    base = env.unwrapped
    names = list(base.card.quantities)
    return _record_loop(
        env, kind, steps, lambda: (base.engine.sim.qpos[0].copy(), base.engine.sim.qvel[0].copy()),
        {"terms": lambda info: list(info["reward_terms"].values()), "q": lambda info: [info[k] for k in names if k in info]},
    )


def collect_gymnasium(task: str, kind: str, steps: int) -> float | None:
    """env-steps/s recording obs, actions, rewards, flags, qpos/qvel and Gymnasium's
    reward infos through Gymnasium's own MuJoCo env (e.g. ``HalfCheetah-v5``)."""
    import gymnasium as gym

    name = task.split("/")[-1]
    try:
        env = gym.make(name)
    except Exception:  # gymnasium[mujoco] missing
        return None
    data = env.unwrapped.data
    return _record_loop(
        env, kind, steps, lambda: (data.qpos.copy(), data.qvel.copy()),
        {"info": lambda info: [v for v in info.values() if np.ndim(v) == 0]},
    )


def load_benchmark(task: str, steps: int, num_envs: int) -> dict[str, Any]:
    """Generate a random-policy dataset of ``steps`` steps and time every way to load it."""
    import minari

    from pbrl.datasets import RandomPolicy, collect, d4rl, load_trajectories, write_dataset

    import gymnasium as gym

    env = gym.make_vec(task, num_envs=1)
    space = env.single_action_space
    env.close()
    out: dict[str, Any] = {"task": task, "steps": steps}
    t0 = time.perf_counter()
    traj = collect(task, RandomPolicy(space.low, space.high, seed=0), steps, num_envs=num_envs, seed=0)
    out["collect_s"] = time.perf_counter() - t0
    out["episodes"] = traj.num_episodes
    dsid = "bench/" + task.split("/")[-1].lower().replace("-v5", "") + f"/random-{steps}-v0"
    t0 = time.perf_counter()
    path = write_dataset(traj, dsid, task, force=True)
    out["write_s"] = time.perf_counter() - t0
    out["size_mb"] = round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 1)
    del traj

    t0 = time.perf_counter()
    arrays = load_trajectories(dsid).transitions()
    out["pbrl_load_transitions_s"] = time.perf_counter() - t0
    assert arrays["rewards"].shape[0] == steps

    t0 = time.perf_counter()
    q = d4rl.qlearning_dataset(dsid)
    out["d4rl_qlearning_dataset_s"] = time.perf_counter() - t0
    assert q["rewards"].shape[0] <= steps

    t0 = time.perf_counter()
    slow = load_trajectories(dsid, use_cache=False).transitions()
    out["pbrl_load_without_cache_s"] = time.perf_counter() - t0
    assert slow["rewards"].shape[0] == steps

    t0 = time.perf_counter()
    ds = minari.load_dataset(dsid)
    obs, nxt, act, rew, term, trunc = [], [], [], [], [], []
    for ep in ds.iterate_episodes():
        obs.append(ep.observations[:-1])
        nxt.append(ep.observations[1:])
        act.append(ep.actions)
        rew.append(ep.rewards)
        term.append(ep.terminations)
        trunc.append(ep.truncations)
    minari_arrays = {k: np.concatenate(v) for k, v in (("obs", obs), ("next", nxt), ("act", act), ("rew", rew), ("term", term), ("trunc", trunc))}
    out["minari_iterate_episodes_s"] = time.perf_counter() - t0
    assert minari_arrays["rew"].shape[0] == steps
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--tasks", default="HalfCheetah,Hopper", help="task names for the collection rates")
    parser.add_argument("--num-envs", type=int, default=64, help="sub-envs of the batched collection")
    parser.add_argument("--collect-steps", type=int, default=None, help="steps per collection measurement")
    parser.add_argument("--single-steps", type=int, default=None, help="steps per single-env measurement")
    parser.add_argument("--load-steps", type=int, default=None, help="size of the dataset to load (full: 1M)")
    parser.add_argument(
        "--load-tasks", default=None,
        help="tasks of the random datasets to load (full: HalfCheetah (1000-step episodes) and Hopper (~20-step episodes))",
    )
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset (in MINARI_DATASETS_PATH)")
    args = parser.parse_args(argv)
    collect_steps = args.collect_steps or (4096 if args.quick else 200_000)
    single_steps = args.single_steps or (1000 if args.quick else 20_000)
    load_steps = args.load_steps or (20_000 if args.quick else 1_000_000)
    tasks = [t if "/" in t else f"pbrl/{t}-v5" for t in args.tasks.split(",") if t]

    import pbrl  # noqa: F401

    own_root = None
    if not args.keep:
        own_root = tempfile.mkdtemp(prefix="pbrl-bench-datasets-")
        os.environ["MINARI_DATASETS_PATH"] = own_root
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load": {"before": list(load_before)},
        "config": {"num_envs": args.num_envs, "collect_steps": collect_steps, "single_steps": single_steps, "load_steps": load_steps, "quick": args.quick},
        "collection": {},
    }
    try:
        for task in tasks:
            for kind in ("random", "mlp"):
                batched = collect_batched(task, kind, collect_steps, args.num_envs)
                single = collect_single(task, kind, single_steps)
                gymnasium = collect_gymnasium(task, kind, single_steps)
                report["collection"][f"{task} {kind}"] = {
                    "batched_steps_per_s": batched,
                    "single_steps_per_s": single,
                    "gymnasium_single_steps_per_s": gymnasium,
                    "speedup_vs_single": batched / single,
                    "speedup_vs_gymnasium": None if gymnasium is None else batched / gymnasium,
                }
                gtxt = "-" if gymnasium is None else f"{gymnasium:8.0f}"
                print(
                    f"{task:20s} {kind:6s} batched (N={args.num_envs}) {batched:8.0f} steps/s | single pbrl env {single:7.0f} "
                    f"(x{batched / single:4.1f}) | Gymnasium's own env {gtxt}"
                    + ("" if gymnasium is None else f" (x{batched / gymnasium:4.1f})"),
                    flush=True,
                )
        load_tasks = args.load_tasks or ("HalfCheetah" if args.quick else "HalfCheetah,Hopper")
        report["loading"] = {}
        for name in [t for t in load_tasks.split(",") if t]:
            task = name if "/" in name else f"pbrl/{name}-v5"
            load = load_benchmark(task, load_steps, args.num_envs)
            report["loading"][task] = load
            print(
                f"{task}: load {load['steps']} steps ({load['episodes']} episodes, {load['size_mb']} MB): "
                f"pbrl {load['pbrl_load_transitions_s']:.2f} s, d4rl.qlearning_dataset {load['d4rl_qlearning_dataset_s']:.2f} s, "
                f"pbrl without cache {load['pbrl_load_without_cache_s']:.2f} s, minari iterate_episodes {load['minari_iterate_episodes_s']:.2f} s "
                f"(collected in {load['collect_s']:.1f} s, written in {load['write_s']:.1f} s)",
                flush=True,
            )
            if own_root:  # free the disk before the next one
                shutil.rmtree(os.path.join(own_root, "bench"), ignore_errors=True)
    finally:
        if own_root:
            shutil.rmtree(own_root, ignore_errors=True)
    report["load"]["after"] = list(os.getloadavg())
    print(f"load average before {load_before[0]:.2f}, after {report['load']['after'][0]:.2f} (2 shared cores)")
    write_report(args.json, report, say=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
