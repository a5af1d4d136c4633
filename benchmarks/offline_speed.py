"""Offline agents' speed: gradient updates per second, next to a reference IQL in the same run.

    python benchmarks/offline_speed.py [--quick] [--json PATH] [--threads 1,2] [--rounds N] [--steps N]
    python benchmarks/offline_speed.py --only cpl,oppo --json benchmarks/results/offline_speed-cpl-oppo.json
    pbrl bench offline_speed [--quick]

The **reference** is IQL written in the common single-file PyTorch style (CORL's
``iql.py``, reproduced below): separate ``nn.Sequential`` networks for Q₁, Q₂, V
and the actor, three Adam optimisers each stepped after its own backward, a
``torch.distributions.Normal`` built for every actor loss, ``.item()`` logging of
every loss every step, a Python loop for the Polyak update, a ``CosineAnnealingLR``
on the actor, and batches drawn with ``np.random.randint`` indexing five resident
tensors. It runs with torch's default thread count (what its users get; on this
machine = the number of cores) and with 1 thread.

**pbrl's IQL** (``pbrl.agents.offline.iql``) computes the same update — checked here: from
the same weights and batches the two agree to float rounding after several steps —
with the twin Q as one batched module, one backward and one fused Adam step over
three parameter groups, a fused ``lerp`` target update, batches gathered from one
resident tensor, and losses summed on the device and read every 1000 steps. It is
timed with 1 and 2 torch threads, and with ``torch.compile`` (``--compile``); the
other agents with 1 thread (``--other-threads``).

Every other agent is timed at its default batch (BC, P-IQL's IQL stage and IPL: 256
transitions; CPL: 96 pairs of 64-step segments, its BC pre-training 256
transitions; OPPO: 64 pairs of 50-step segments) and CPL and OPPO also at the CPU-sized
settings of ``offline_pbrl.py --profile small`` (CPL: 32 pairs, 256×256 actor; OPPO:
32 pairs) on synthetic HalfCheetah-sized
data (17-dim observations, 6-dim actions; 200 episodes × 1000 steps; 2000 labelled
pairs). Timings alternate between contenders over ``--rounds`` rounds; the table
shows the median (and best) round. The machine's load average is recorded before
and after: on 2 shared cores, other processes change every figure. ``--only`` times a
subset of the agents (the reference IQL is always timed); ``offline_pbrl.py --estimate``
reads the rates of every ``results/offline_speed*.json``, newest last.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Normal

from pbrl.envs.engine import usable_cores

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # _common.py beside this file, also when it is loaded by path
    sys.path.append(_HERE)
from _common import RESULTS, cpu_model, load_average, write_report  # noqa: E402

OBS_DIM, ACT_DIM = 17, 6
DEFAULT_THREADS = torch.get_num_threads()  # torch's default, before any agent sets its own
DEFAULT_JSON = os.path.join(RESULTS, "offline_speed.json")

# ---------------------------------------------------------------------------------
# The reference: IQL in the single-file style of CORL (algorithms/offline/iql.py)
# ---------------------------------------------------------------------------------

EXP_ADV_MAX = 100.0
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0


class ReplayBuffer:
    def __init__(self, data: dict[str, np.ndarray], device: str = "cpu"):
        self._states = torch.tensor(data["observations"], dtype=torch.float32, device=device)
        self._actions = torch.tensor(data["actions"], dtype=torch.float32, device=device)
        self._rewards = torch.tensor(data["rewards"][..., None], dtype=torch.float32, device=device)
        self._next_states = torch.tensor(data["next_observations"], dtype=torch.float32, device=device)
        self._dones = torch.tensor(data["terminals"][..., None], dtype=torch.float32, device=device)
        self._size = self._pointer = self._states.shape[0]

    def sample(self, batch_size: int) -> list[torch.Tensor]:
        indices = np.random.randint(0, min(self._size, self._pointer), size=batch_size)
        states = self._states[indices]
        actions = self._actions[indices]
        rewards = self._rewards[indices]
        next_states = self._next_states[indices]
        dones = self._dones[indices]
        return [states, actions, rewards, next_states, dones]


def soft_update(target: nn.Module, source: nn.Module, tau: float):
    for target_param, source_param in zip(target.parameters(), source.parameters()):
        target_param.data.copy_((1 - tau) * target_param.data + tau * source_param.data)


def asymmetric_l2_loss(u: torch.Tensor, tau: float) -> torch.Tensor:
    return torch.mean(torch.abs(tau - (u < 0).float()) * u**2)


class Squeeze(nn.Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(dim=self.dim)


class MLP(nn.Module):
    def __init__(self, dims, activation_fn=nn.ReLU, output_activation_fn=None, squeeze_output=False, dropout=None):
        super().__init__()
        n_dims = len(dims)
        layers = []
        for i in range(n_dims - 2):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            layers.append(activation_fn())
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(dims[-2], dims[-1]))
        if output_activation_fn is not None:
            layers.append(output_activation_fn())
        if squeeze_output:
            layers.append(Squeeze(-1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GaussianPolicy(nn.Module):
    def __init__(self, state_dim, act_dim, max_action=1.0, hidden_dim=256, n_hidden=2, dropout=None):
        super().__init__()
        self.net = MLP([state_dim, *([hidden_dim] * n_hidden), act_dim], output_activation_fn=nn.Tanh, dropout=dropout)
        self.log_std = nn.Parameter(torch.zeros(act_dim, dtype=torch.float32))
        self.max_action = max_action

    def forward(self, obs: torch.Tensor) -> Normal:
        mean = self.net(obs)
        std = torch.exp(self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX))
        return Normal(mean, std)


class TwinQ(nn.Module):
    def __init__(self, state_dim, action_dim, hidden_dim=256, n_hidden=2):
        super().__init__()
        dims = [state_dim + action_dim, *([hidden_dim] * n_hidden), 1]
        self.q1 = MLP(dims, squeeze_output=True)
        self.q2 = MLP(dims, squeeze_output=True)

    def both(self, state, action):
        sa = torch.cat([state, action], 1)
        return self.q1(sa), self.q2(sa)

    def forward(self, state, action):
        return torch.min(*self.both(state, action))


class ValueFunction(nn.Module):
    def __init__(self, state_dim, hidden_dim=256, n_hidden=2):
        super().__init__()
        dims = [state_dim, *([hidden_dim] * n_hidden), 1]
        self.v = MLP(dims, squeeze_output=True)

    def forward(self, state):
        return self.v(state)


class ImplicitQLearning:
    def __init__(self, state_dim, action_dim, max_steps=1_000_000, iql_tau=0.7, beta=3.0, discount=0.99, tau=0.005, lr=3e-4):
        self.qf = TwinQ(state_dim, action_dim)
        self.q_target = copy.deepcopy(self.qf).requires_grad_(False)
        self.vf = ValueFunction(state_dim)
        self.actor = GaussianPolicy(state_dim, action_dim)
        self.v_optimizer = torch.optim.Adam(self.vf.parameters(), lr=lr)
        self.q_optimizer = torch.optim.Adam(self.qf.parameters(), lr=lr)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.actor_lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.actor_optimizer, max_steps)
        self.iql_tau, self.beta, self.discount, self.tau = iql_tau, beta, discount, tau
        self.total_it = 0

    def _update_v(self, observations, actions, log_dict) -> torch.Tensor:
        with torch.no_grad():
            target_q = self.q_target(observations, actions)
        v = self.vf(observations)
        adv = target_q - v
        v_loss = asymmetric_l2_loss(adv, self.iql_tau)
        log_dict["value_loss"] = v_loss.item()
        self.v_optimizer.zero_grad()
        v_loss.backward()
        self.v_optimizer.step()
        return adv

    def _update_q(self, next_v, observations, actions, rewards, terminals, log_dict):
        targets = rewards + (1.0 - terminals.float()) * self.discount * next_v.detach()
        qs = self.qf.both(observations, actions)
        q_loss = sum(F.mse_loss(q, targets) for q in qs) / len(qs)
        log_dict["q_loss"] = q_loss.item()
        self.q_optimizer.zero_grad()
        q_loss.backward()
        self.q_optimizer.step()
        soft_update(self.q_target, self.qf, self.tau)

    def _update_policy(self, adv, observations, actions, log_dict):
        exp_adv = torch.exp(self.beta * adv.detach()).clamp(max=EXP_ADV_MAX)
        policy_out = self.actor(observations)
        bc_losses = -policy_out.log_prob(actions).sum(-1, keepdim=False)
        policy_loss = torch.mean(exp_adv * bc_losses)
        log_dict["actor_loss"] = policy_loss.item()
        self.actor_optimizer.zero_grad()
        policy_loss.backward()
        self.actor_optimizer.step()
        self.actor_lr_schedule.step()

    def train(self, batch: list[torch.Tensor]) -> dict[str, float]:
        self.total_it += 1
        observations, actions, rewards, next_observations, dones = batch
        log_dict: dict[str, float] = {}
        with torch.no_grad():
            next_v = self.vf(next_observations)
        adv = self._update_v(observations, actions, log_dict)
        rewards = rewards.squeeze(dim=-1)
        dones = dones.squeeze(dim=-1)
        self._update_q(next_v, observations, actions, rewards, dones, log_dict)
        self._update_policy(adv, observations, actions, log_dict)
        return log_dict


def copy_reference_into(reference: ImplicitQLearning, agent) -> None:
    """Give a pbrl IQL agent the reference's weights (and the same target network)."""
    with torch.no_grad():
        agent.q.net.load_from_sequentials([reference.qf.q1.net, reference.qf.q2.net])
        agent.q_target.net.load_from_sequentials([reference.q_target.q1.net, reference.q_target.q2.net])
        agent.v.net.load_state_dict(reference.vf.v.net.state_dict())
        agent.actor.net.load_state_dict(reference.actor.net.net.state_dict())
        agent.actor.log_std.copy_(reference.actor.log_std)


def max_difference(reference: ImplicitQLearning, agent) -> float:
    """Largest absolute difference between the reference's and the agent's parameters."""
    pairs = []
    for i, head in enumerate((reference.qf.q1.net, reference.qf.q2.net)):
        lins = [m for m in head if isinstance(m, nn.Linear)]
        for layer, lin in enumerate(lins):
            pairs += [(lin.weight.T, agent.q.net.weights[layer][i]), (lin.bias, agent.q.net.biases[layer][i, 0])]
    for i, head in enumerate((reference.q_target.q1.net, reference.q_target.q2.net)):
        lins = [m for m in head if isinstance(m, nn.Linear)]
        for layer, lin in enumerate(lins):
            pairs += [(lin.weight.T, agent.q_target.net.weights[layer][i]), (lin.bias, agent.q_target.net.biases[layer][i, 0])]
    pairs += list(zip(reference.vf.v.net.state_dict().values(), agent.v.net.state_dict().values()))
    pairs += list(zip(reference.actor.net.net.state_dict().values(), agent.actor.net.state_dict().values()))
    pairs.append((reference.actor.log_std, agent.actor.log_std))
    return max(float((a.detach() - b.detach()).abs().max()) for a, b in pairs)


# ---------------------------------------------------------------------------------
# Data and agents
# ---------------------------------------------------------------------------------


def synthetic_data(episodes: int = 200, length: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = episodes * length
    return {
        "observations": rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, ACT_DIM)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "next_observations": rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        "terminals": np.zeros(n, dtype=bool),
        "timeouts": (np.arange(n) % length) == length - 1,
        "episode": np.repeat(np.arange(episodes), length),
    }


def synthetic_pairs(data, pairs: int, horizon: int, seed: int = 0):
    from pbrl.agents.offline._data import SegmentIndex
    from pbrl.agents.offline._preferences import PreferencePairs

    rng = np.random.default_rng(seed)
    seg = SegmentIndex(data.lengths, horizon)
    _, _, i1, m1 = seg.sample(pairs, rng)
    _, _, i2, m2 = seg.sample(pairs, rng)
    labels = rng.integers(0, 2, size=pairs).astype(np.float64)
    return PreferencePairs(np.stack([i1, i2], 1), np.stack([m1, m2], 1), labels, np.arange(pairs))


def build_agent(name: str, data, threads: int, hp: dict | None = None, pairs=None):
    from pbrl.agents.registry import offline_agent_class

    cls = offline_agent_class(name)
    config = dict(hp or {}, torch_threads=threads)
    if "compile" in {f.name for f in dataclasses.fields(cls.Config)}:
        config.setdefault("compile", "off")
    agent = cls(config, task="pbrl/HalfCheetah-v5", obs_dim=OBS_DIM, act_dim=ACT_DIM, seed=0)
    if name == "piql":  # the IQL stage: the reward model is timed on its own
        agent.reward_model = _ConstantReward()
    agent.setup(data, pairs if cls.uses_preferences != "none" else None)
    return agent


class _ConstantReward:
    """Stands in for a fitted reward model when only P-IQL's IQL stage is timed."""

    kind = "ensemble"

    def reward(self, obs, actions, aggregate="mean"):
        return np.asarray(obs, dtype=np.float32)[:, 0]


def time_updates(step: Callable[[], Any], n: int, sync: Callable[[], Any] | None = None, warmup: int = 10) -> tuple[float, float]:
    """``(updates per wall-clock second, updates per CPU second of this process)``.

    The CPU-time rate counts only the time this process ran (all its threads), so it
    is far less sensitive to other processes on a shared machine; for a 1-thread
    contender it is the rate it would reach on an idle core.
    """
    for _ in range(warmup):
        step()
    if sync:
        sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    if sync:
        sync()
    return n / (time.perf_counter() - t0), n / max(time.process_time() - c0, 1e-9)


def pbrl_stepper(agent):
    def step():
        agent.train_step()

    return step, agent.pop_losses


def machine_info() -> dict[str, Any]:
    return {"cpu": cpu_model(), "nproc": usable_cores(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_default_threads": DEFAULT_THREADS}  # fmt: skip


# ---------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------


def check_numerics(raw: dict[str, np.ndarray], steps: int = 5, compiled: bool = False) -> dict[str, float]:
    """Same weights, same batches: how far pbrl's IQL drifts from the reference (float rounding).

    ``compiled``: pbrl's step is the whole-step ``torch.compile`` one (fed the reference's batch indices).
    """
    from pbrl.agents.offline.iql import IQL
    from pbrl.agents.offline._data import OfflineData

    torch.manual_seed(0)
    reference = ImplicitQLearning(OBS_DIM, ACT_DIM)
    data = OfflineData.from_transitions(raw, source="synthetic", task="pbrl/HalfCheetah-v5")
    agent = IQL({"normalize_states": False, "reward_scaling": "none", "steps": 1_000_000, "compile": "on" if compiled else "off"},
                task="pbrl/HalfCheetah-v5", obs_dim=OBS_DIM, act_dim=ACT_DIM)  # fmt: skip
    agent.setup(data)
    copy_reference_into(reference, agent)
    start = max_difference(reference, agent)
    buffer = ReplayBuffer(raw)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        index = rng.integers(0, len(data), size=256)
        s, a, r, s2, d = (buffer._states[index], buffer._actions[index], buffer._rewards[index], buffer._next_states[index],
                          buffer._dones[index])  # fmt: skip
        reference.train([s, a, r, s2, d])
        if compiled:
            agent.compiled_update(torch.as_tensor(index))
            agent.step += 1
        else:
            agent.update_on({"obs": s, "actions": a, "rewards": r[:, 0], "next_obs": s2, "terminals": d[:, 0]})
    return {"steps": steps, "compiled": compiled, "max_abs_difference_before": start, "max_abs_difference_after": max_difference(reference, agent)}


def run(args) -> dict[str, Any]:
    from pbrl.agents.offline._data import OfflineData

    raw = synthetic_data(episodes=args.episodes)
    data = OfflineData.from_transitions(raw, source="synthetic", task="pbrl/HalfCheetah-v5")
    threads = [int(t) for t in args.threads.split(",")]
    default_threads = DEFAULT_THREADS
    results: dict[str, list[float]] = {}
    cpu_results: dict[str, list[float]] = {}

    def add(key: str, value: tuple[float, float]) -> None:
        results.setdefault(key, []).append(value[0])
        cpu_results.setdefault(key, []).append(value[1])

    # contenders: name -> (threads, factory returning (step, sync))
    contenders: dict[str, tuple[int, Callable[[], tuple[Callable, Callable | None]]]] = {}

    def reference_factory():
        torch.manual_seed(0)
        np.random.seed(0)
        trainer = ImplicitQLearning(OBS_DIM, ACT_DIM)
        buffer = ReplayBuffer(raw)
        log: list[dict] = []

        def step():
            log.append(trainer.train(buffer.sample(256)))  # .item() logging every step

        return step, None

    ref_threads = {default_threads if x == "default" else int(x) for x in args.reference_threads.split(",")}
    for t in sorted(ref_threads):
        contenders[f"reference IQL ({t} thread{'s' if t > 1 else ''}{', torch default' if t == default_threads else ''})"] = (t, reference_factory)
    agents = {"iql": {}, "bc": {}, "piql": {}, "ipl": {}, "cpl (BC pre-training)": {"bc_steps": 10**9}, "cpl": {"bc_steps": 0},
              "cpl (CPU-sized: 256×256, 32 pairs)": {"bc_steps": 0, "hidden_sizes": [256, 256], "batch_size": 32},
              "oppo": {}, "oppo (32 pairs)": {"batch_size": 32}}  # fmt: skip
    if args.only:
        agents = {k: v for k, v in agents.items() if k.split()[0] in args.only.split(",")}
    pairs64 = synthetic_pairs(data, 2000, 64)
    pairs50 = synthetic_pairs(data, 2000, 50)
    other_threads = [int(t) for t in args.other_threads.split(",")]
    for name, hp in agents.items():
        algo = name.split()[0]
        for t in threads if algo == "iql" else other_threads:
            def factory(algo=algo, hp=hp, t=t):
                pairs = pairs64 if algo == "cpl" else pairs50
                return pbrl_stepper(build_agent(algo, data, t, hp, pairs))

            contenders[f"pbrl {name} ({t} thread{'s' if t > 1 else ''})"] = (t, factory)
    if args.compile:
        for t in threads:
            contenders[f"pbrl iql + torch.compile ({t} thread{'s' if t > 1 else ''})"] = (
                t, lambda t=t: pbrl_stepper(build_agent("iql", data, t, {"compile": "on"})),
            )  # fmt: skip

    steppers = {}
    for name, (t, factory) in contenders.items():
        torch.set_num_threads(t)
        t0 = time.perf_counter()
        steppers[name] = factory()
        if "compile" in name:
            steppers[name][0]()  # compile outside the timing
        print(f"  built {name} ({time.perf_counter() - t0:.1f} s)", flush=True)
    for r in range(args.rounds):
        for name, (t, _) in contenders.items():
            torch.set_num_threads(t)
            slow = ("pbrl cpl " in name and "pre-training" not in name) or "pbrl oppo" in name
            n = max(10, args.steps // 20) if slow else args.steps
            step, sync = steppers[name]
            add(name, time_updates(step, n, sync, warmup=3 if slow else 10))
            print(f"  round {r + 1}/{args.rounds}: {name}: {results[name][-1]:.1f} updates/s, {cpu_results[name][-1]:.1f} per CPU-s "
                  f"(load {load_average()[0]})", flush=True)  # fmt: skip
    torch.set_num_threads(default_threads)
    return {
        name: {"median": statistics.median(v), "best": max(v), "rounds": v, "cpu_median": statistics.median(cpu_results[name]),
               "cpu_rounds": cpu_results[name]}
        for name, v in results.items()
    }  # fmt: skip


def table(rates: dict[str, dict[str, float]]) -> str:
    ref_keys = [k for k in rates if k.startswith("reference")]
    base = {k: rates[k]["median"] for k in ref_keys}
    one = next((v for k, v in base.items() if "(1 thread" in k), None)
    default = next((v for k, v in base.items() if "torch default" in k), None)
    cpu_one = next((rates[k]["cpu_median"] for k in ref_keys if "(1 thread" in k), None)
    lines = [
        "| contender | updates/s (median) | best round | vs reference 1 thread | vs reference torch default | updates per CPU-s | CPU-s vs reference 1 thread |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rates.items():
        vs1 = f"{r['median'] / one:.2f}×" if one else ""
        vsd = f"{r['median'] / default:.2f}×" if default else ""
        cpu = f"{r['cpu_median'] / cpu_one:.2f}×" if cpu_one and "(1 thread" in name else ""
        lines.append(f"| {name} | {r['median']:.1f} | {r['best']:.1f} | {vs1} | {vsd} | {r['cpu_median']:.1f} | {cpu} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, 1 round, small data")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    parser.add_argument("--threads", default="1,2", help="torch thread counts for pbrl's IQL")
    parser.add_argument("--other-threads", default="1", help="torch thread counts for the other agents")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300, help="updates per timing (CPL and OPPO: a twentieth)")
    parser.add_argument("--episodes", type=int, default=200, help="synthetic episodes of 1000 steps")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="also time IQL with torch.compile")
    parser.add_argument("--only", default="", help="comma-separated agents to time (default: all)")
    parser.add_argument("--reference-threads", default="default,1", help="thread counts of the reference ('default': torch's)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.episodes = 1, 30, 20
        args.compile = bool(args.compile)
        args.threads = args.other_threads = "1"
        args.reference_threads = "1"  # torch's default (all cores) can crawl on a busy machine
    elif args.compile is None:
        args.compile = True
    load_before = load_average()
    t0 = time.time()
    numerics = check_numerics(synthetic_data(episodes=2))
    print(f"numerics: max |pbrl - reference| over all parameters after {numerics['steps']} identical updates: "
          f"{numerics['max_abs_difference_after']:.2e}", flush=True)  # fmt: skip
    numerics_compiled = None
    if args.compile:
        numerics_compiled = check_numerics(synthetic_data(episodes=2), compiled=True)
        print(f"numerics (compiled step): {numerics_compiled['max_abs_difference_after']:.2e}", flush=True)
    rates = run(args)
    report = {
        "machine": machine_info(),
        "load": {"before": load_before, "after": load_average()},
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "numerics": numerics,
        "numerics_compiled": numerics_compiled,
        "results": rates,
        "wall_clock_s": round(time.time() - t0, 1),
    }
    report["table"] = table(rates)
    print(report["table"])
    print(f"load average before {load_before}, after {report['load']['after']}")
    if args.json:
        write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
