"""Where OPPO's ``z*`` sits among the segment embeddings, and how ``π(s, z)`` acts at other ``z``.

A diagnostic for a trained OPPO run (see ``agents/offline/oppo.py``, "Where z* lives")::

    MINARI_DATASETS_PATH=benchmarks/results/offline_pbrl-small/datasets \\
    python benchmarks/oppo_z_star.py RUN_DIR pbrl/hopper/medium-replay-v0 [--windows 4000] [--episodes 10]

It encodes ``--windows`` random windows of the dataset (the store's segment length), prints
‖z*‖ against the embeddings' norms and the correlation between nearness to ``z*`` and a
window's return, then evaluates the policy with ``z`` set to: ``z*`` as learned,
``z*/‖z*‖``, and the mean embedding of the windows nearest to ``z*``, of the
highest-return windows and of all windows (same fresh seeds for each).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np
import torch


def z_star_report(agent: Any, data: Any, horizon: int, windows: int = 4000, episodes: int = 10, seed: int = 12345) -> dict[str, Any]:
    """The diagnostic for an OPPO ``agent`` on its dataset ``data`` (an ``OfflineData``)."""
    from pbrl.agents.offline._data import SegmentIndex

    index = SegmentIndex(data.lengths, horizon)
    _, _, rows, mask = index.sample(windows, np.random.default_rng(seed))
    obs = agent.normalizer.numpy(data.observations) if agent.config.normalize_states else data.observations
    with torch.no_grad():
        z = agent.encoder(torch.as_tensor(obs[rows]), torch.as_tensor(data.actions[rows]), torch.as_tensor(mask, dtype=torch.float32))
    returns = (data.rewards[rows] * mask).sum(1)
    learned = agent.z_star.z.detach().clone()
    distance = torch.linalg.vector_norm(z - learned, dim=1).numpy()
    tenth = max(1, windows // 10)
    candidates = {
        "z* (as learned)": learned,
        "z*/|z*|": learned / torch.linalg.vector_norm(learned).clamp(min=1e-8),
        "mean E(window) of the 10% nearest z*": z[np.argsort(distance)[:tenth]].mean(0),
        "mean E(window) of the 10% highest-return windows": z[np.argsort(returns)[-tenth:]].mean(0),
        "mean E(window) of all windows": z.mean(0),
    }
    evaluations = {}
    try:
        for name, value in candidates.items():
            agent.z_star.z.data.copy_(value)
            result = agent.evaluate(episodes, seed=seed).to_dict()
            evaluations[name] = {"return": float(np.mean(result["returns"])), "length": float(np.mean(result["lengths"])), "z_norm": float(torch.linalg.vector_norm(value))}
    finally:
        agent.z_star.z.data.copy_(learned)
    return {
        "z_star_norm": float(torch.linalg.vector_norm(learned)),
        "embedding_norm_mean": float(torch.linalg.vector_norm(z, dim=1).mean()),
        "nearness_return_correlation": float(np.corrcoef(-distance, returns)[0, 1]),
        "evaluations": evaluations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a finished OPPO run folder (pbrl train --agent oppo)")
    parser.add_argument("dataset", help="its dataset id")
    parser.add_argument("--windows", type=int, default=4000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=50, help="window length (the preference store's segment length)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from pbrl.agents.offline._base import OfflineAgent
    from pbrl.agents.offline._data import OfflineData

    agent = OfflineAgent.from_checkpoint(os.path.join(args.run_dir, "checkpoints"))
    if agent.name != "oppo":
        print(f"{args.run_dir} is a {agent.name} run, not oppo", file=sys.stderr)
        return 2
    report = z_star_report(agent, OfflineData.load(args.dataset), args.horizon, args.windows, args.episodes)
    print(f"|z*| {report['z_star_norm']:.2f}; embeddings' mean norm {report['embedding_norm_mean']:.2f}; "
          f"corr(nearness to z*, window return) {report['nearness_return_correlation']:.3f}")  # fmt: skip
    for name, e in report["evaluations"].items():
        print(f"  {name:50s} return {e['return']:8.1f}  episode length {e['length']:6.1f}  |z| {e['z_norm']:.2f}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
