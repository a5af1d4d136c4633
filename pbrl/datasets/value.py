"""The behaviour value of a dataset, for regret-style preference labels.

CPL (Hejna et al., 2024) assumes people prefer by *regret*: the sum of a segment's
optimal advantages, ``Σ_t A(s_t, a_t) = Σ_t r_t + V(s_H) − V(s_0)`` (undiscounted, as
CPL's ``rl_sum`` labels, computed there from an oracle SAC's critic). B-Pref's scripted
teachers prefer by *partial return* ``Σ_t r_t``, which also rewards a segment for
starting in a good state. On data with many episode starts the two disagree on about
half of the pairs (Hopper medium-replay: 46 % agreement), and CPL fitted to
partial-return labels pushes its actions at the start states away from the data.

pbrl has no oracle critic for a dataset, so :func:`behaviour_value` fits one to the
data itself: an MLP regressed on each step's discounted return-to-go (γ = 0.99), i.e.
the value of the dataset's mixture of behaviour policies, averaged over the actions
they took. :func:`regret_rewards` turns it into per-step *shaped* rewards
``r_t + V(s_{t+1}) − V(s_t)`` (``V`` = 0 after a termination), whose sum over any
window of an episode is that window's regret score; a teacher fed these instead of
``r_t`` labels by regret with all its knobs (β, mistakes, myopia) intact.
"""

from __future__ import annotations

import numpy as np

from pbrl import phases

from .trajectories import Trajectories

__all__ = ["behaviour_value", "discounted_returns_to_go", "regret_rewards"]


def discounted_returns_to_go(traj: Trajectories, gamma: float = 0.99) -> np.ndarray:
    """(T,) Σ_k γ^k r_{t+k} inside each episode (no bootstrap at truncation)."""
    t = traj.step_in_episode().astype(np.float64)
    # γ^t-weighted reverse cumulative sum per episode, rescaled by γ^-t
    weighted = traj.rewards * gamma**t
    rev = np.cumsum(weighted[::-1])[::-1]
    ends = np.cumsum(traj.lengths)
    tail = np.append(rev, 0.0)[ends]  # the sum belonging to later episodes
    return (rev - np.repeat(tail, traj.lengths)) / gamma**t


def behaviour_value(
    traj: Trajectories,
    gamma: float = 0.99,
    *,
    steps: int = 3000,
    batch_size: int = 512,
    hidden: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """V(o) for every observation row of ``traj`` ((T + E,) float64), V = behaviour value.

    An MLP (2 × ``hidden``, ReLU) on standardised observations, fitted for ``steps``
    Adam steps on standardised discounted returns-to-go. Deterministic for a seed.
    """
    phases.report("fitting the behaviour value", 0, int(steps))  # said before torch loads (seconds)
    import torch

    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    if traj.num_steps == 0:
        raise ValueError("the dataset holds no steps to fit a value function on")
    rows = traj.step_rows()
    obs = np.asarray(traj.observations, dtype=np.float32)
    mean, std = obs[rows].mean(0), obs[rows].std(0) + 1e-3
    x_all = torch.as_tensor((obs - mean) / std)
    x = x_all[torch.as_tensor(rows)]
    y = torch.as_tensor(discounted_returns_to_go(traj, gamma), dtype=torch.float32)
    y_mean, y_std = y.mean(), y.std().clamp(min=1e-6)
    target = (y - y_mean) / y_std
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = torch.nn.Sequential(
            torch.nn.Linear(obs.shape[1], hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, 1),
        )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for step in range(int(steps)):
        idx = torch.randint(len(target), (int(batch_size),), generator=gen)
        loss = (net(x[idx]).squeeze(-1) - target[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0 or step + 1 == int(steps):
            phases.report("fitting the behaviour value", step + 1, int(steps))
    with torch.no_grad():
        value = net(x_all).squeeze(-1) * y_std + y_mean
    return value.double().numpy()


def regret_rewards(traj: Trajectories, value: np.ndarray) -> np.ndarray:
    """(T,) shaped rewards ``r_t + V(o_{t+1}) − V(o_t)``, with ``V(o_{t+1})`` = 0 when
    step t terminated its episode (the final observation of a truncated one keeps its value)."""
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (traj.observations.shape[0],):
        raise ValueError(f"value must have one entry per observation row ({traj.observations.shape[0]}), got {value.shape}")
    rows = traj.step_rows()
    after = np.where(traj.terminations, 0.0, value[rows + 1])
    return traj.rewards.astype(np.float64) + after - value[rows]
