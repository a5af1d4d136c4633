"""IQL on a dataset's *true* reward, as is and rescaled to [0, 1] — is a failure P-IQL shows
on a dataset the learned reward's, or IQL's own at that budget? (a diagnostic)

    MINARI_DATASETS_PATH=benchmarks/results/offline_pbrl-small/datasets \\
    python benchmarks/iql_reward_range.py pbrl/walker2d/medium-expert-v0 --seeds 0,1,2 --steps 15000

Prints one JSON line per (range, seed): mean return and episode length over ``--episodes``
fresh-seeded evaluation episodes (seed 1000 + run seed). ``unit`` is what P-IQL's default
``rm_reward_range=unit`` does to its learned reward, applied here to the true one.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def run(dataset: str, reward_range: str, seed: int, steps: int = 15_000, episodes: int = 10) -> dict:
    """Train pbrl's IQL (default hyperparameters) for ``steps`` on the true reward in ``reward_range``."""
    from pbrl.agents.offline.iql import IQL
    from pbrl.agents.offline._data import unit_range

    class RangedIQL(IQL):
        def training_rewards(self, data):  # P-IQL's rescaling (rm_reward_range=unit), on the true reward
            return unit_range(data.rewards) if reward_range == "unit" else data.rewards

    agent = RangedIQL.for_dataset(dataset, {}, seed=seed)
    agent.fit(steps, log_every=max(1, steps // 3))
    result = agent.evaluate(episodes, seed=1000 + seed).to_dict()
    return {"dataset": dataset, "reward_range": reward_range, "seed": seed, "steps": steps,
            "return": float(np.mean(result["returns"])), "length": float(np.mean(result["lengths"]))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=15_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--ranges", default="none,unit")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for reward_range in args.ranges.split(","):
        if reward_range not in ("none", "unit"):
            print(f"unknown reward range {reward_range!r}: none or unit", file=sys.stderr)
            return 2
        for seed in (int(s) for s in args.seeds.split(",")):
            print(json.dumps(run(args.dataset, reward_range, seed, args.steps, args.episodes)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
