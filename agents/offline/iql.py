"""IQL — Implicit Q-Learning (Kostrikov, Nair & Levine, ICLR 2022).

Offline RL without ever querying Q at actions outside the dataset:

1. **Value** by expectile regression towards the (twin, target) Q of the dataset's
   action, ``L_V = E[ |τ - 1(u < 0)| u² ]`` with ``u = min_i Q̂_i(s, a) - V(s)``;
2. **Q** by TD towards the value of the next state,
   ``L_Q = ½ Σ_i E[ (Q_i(s, a) - (r + γ (1 - d) V(s')))² ]``;
3. **Policy** by advantage-weighted regression,
   ``L_π = E[ min(exp(β (Q̂(s,a) - V(s))), 100) · (-log π(a|s)) ]``.

Defaults are those of the common single-file PyTorch version (CORL
``algorithms/offline/iql.py``, its ``TrainConfig``; reference §5 and addendum §6):
τ = 0.7, β = 3, weights capped at 100, Adam 3e-4 for all three, batch 256, γ = 0.99,
Polyak 0.005, 2×256 ReLU MLPs, Gaussian actor with tanh mean and a state-independent
log-std in [-20, 2], cosine learning-rate decay on the actor, states normalised.

**Per-dataset settings, as CORL.** CORL's ``TrainConfig`` defaults are overridden per
D4RL dataset by its ``configs/offline/iql/<env>/<level>.yaml``: only hopper-medium and
hopper-medium-replay scale rewards (``normalize_reward``: ``r · 1000 / (max episode
return - min episode return)``), and they also use the deterministic actor
(``iql_deterministic``: BC term ``‖π(s) - a‖²``) and Polyak 0.001; hopper-medium-expert
uses β = 6 and τ = 0.5. ``reward_scaling = "corl"`` (the default) scales exactly the
datasets whose CORL config does, matched by family and level (``pbrl/hopper/medium-v0``
as ``hopper-medium-v2``); ``corl_preset = "<d4rl name>"`` takes the whole of one
dataset's CORL config (explicit values still win). ``reward_scaling = "locomotion"`` is
CORL's ``modify_reward`` applied unconditionally, as the IQL authors' code does (every
halfcheetah/hopper/walker2d dataset scaled, antmaze ``r - 1``); ``"always"`` scales
every dataset, whatever its task, by ``max_episode_steps / (max - min)`` (pbrl's only
behaviour before these options existed; P-IQL's default, as the Preference
Transformer's code scales every learned reward).

Remaining deviations from CORL: episode returns for the scale come from pbrl's episodes
(CORL splits D4RL's ``qlearning_dataset``, which drops each timeout's last transition,
at terminals or every 1000 rows); timeouts bootstrap from the true next observation
(see ``offline/README.md``).

**One step, the same numerics.** The three losses read the networks as they are at the
start of the step and touch disjoint parameters (every cross-network input detached),
so one backward of their sum and one Adam step over three parameter groups give
exactly CORL's three updates. With ``compile`` the whole step is one ``torch.compile``d
function (:mod:`pbrl.agents.offline._compiled`), the loss still the one written below;
what this buys is measured in BENCHMARKS.md (offline speed).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ._base import OfflineAgent
from ._config import OfflineConfig, hp
from ._data import OfflineData, TransitionBatches, check_batch, reward_scale
from ._nets import DeterministicPolicy, GaussianPolicy, TwinQ, ValueNet, soft_update

#: D4RL locomotion families whose rewards CORL's ``modify_reward`` scales (antmaze is shifted instead).
CORL_SCALED_FAMILIES = ("halfcheetah", "hopper", "walker2d")
_LEVELS = ("random", "medium", "medium-replay", "medium-expert", "expert", "full-replay")
#: CORL's IQL configs (``configs/offline/iql/<family>/<level>_v2.yaml`` at corl-team/CORL eeeeef2) for
#: the D4RL locomotion datasets, as pbrl hyperparameters; every value not listed is CORL's
#: ``TrainConfig`` default, which is pbrl's (β 3, τ 0.7, Polyak 0.005, no dropout, no reward scaling,
#: Gaussian actor). CORL's reward scaling is ``reward_scaling = "corl"`` on every preset.
CORL_PRESETS: dict[str, dict[str, Any]] = {
    f"{family}-{level}-v2": {
        "expectile": 0.7, "beta": 3.0, "tau": 0.005, "deterministic_actor": False, "actor_dropout": 0.0, "reward_scaling": "corl"
    }
    for family in CORL_SCALED_FAMILIES
    for level in _LEVELS
}
for _name in ("hopper-medium-v2", "hopper-medium-replay-v2"):
    CORL_PRESETS[_name].update(deterministic_actor=True, tau=0.001)  # and normalize_reward: true
CORL_PRESETS["hopper-medium-expert-v2"].update(beta=6.0, expectile=0.5)
#: datasets whose CORL config sets ``normalize_reward: true`` (all six antmaze configs do too)
CORL_NORMALIZE_REWARD = frozenset({"hopper-medium", "hopper-medium-replay"})
#: CORL's ``modify_reward`` uses ``max_episode_steps=1000`` whatever the task
CORL_EPISODE_STEPS = 1000


def corl_dataset_key(name: str) -> str | None:
    """``"hopper-medium-replay"`` for a D4RL name (``hopper-medium-replay-v2``), a pbrl
    dataset id (``pbrl/hopper/medium-replay-v0``, ``d4rl/hopper/medium-replay-v2``) or a
    CORL preset name; None when the name is no halfcheetah/hopper/walker2d/antmaze dataset."""
    text = str(name).lower().replace("_", "-")
    m = re.search(r"(?:^|[/\-])(halfcheetah|hopper|walker2d|antmaze)[/-]([a-z0-9-]+?)(?:-v\d+)?$", text)
    if m is None or re.fullmatch(r"v\d+", m.group(2)):
        return None  # not a dataset (``pbrl/Hopper-v5`` is a task)
    return f"{m.group(1)}-{m.group(2)}"


def corl_reward_transform(data: OfflineData, rewards: np.ndarray, mode: str, horizon: int) -> tuple[float, float]:
    """``(factor, shift)`` such that IQL trains on ``rewards * factor + shift``.

    ``mode``: ``"corl"`` (CORL's per-dataset ``normalize_reward``, then its ``modify_reward``),
    ``"locomotion"`` (``modify_reward`` on every dataset), ``"always"`` (``horizon / (max - min)``
    on every dataset) or ``"none"``. The dataset is named by ``data.source``.
    """
    if mode == "none":
        return 1.0, 0.0
    if mode == "always":
        return reward_scale(data, rewards, "locomotion", horizon), 0.0
    if mode not in ("corl", "locomotion"):
        raise ValueError(f"reward_scaling must be 'corl', 'locomotion', 'always' or 'none', got {mode!r}")
    key = corl_dataset_key(data.source)
    if key is None:
        return 1.0, 0.0
    if mode == "corl" and not (key in CORL_NORMALIZE_REWARD or key.startswith("antmaze-")):
        return 1.0, 0.0
    if key.startswith("antmaze-"):
        return 1.0, -1.0
    return reward_scale(data, rewards, "locomotion", CORL_EPISODE_STEPS), 0.0


def expectile_loss(u: torch.Tensor, tau: float) -> torch.Tensor:
    """IQL's asymmetric L2: ``E[ |τ - 1(u < 0)| u² ]``."""
    return torch.mean(torch.abs(tau - (u < 0).float()) * u.square())


def awr_weights(advantage: torch.Tensor, beta: float, max_weight: float) -> torch.Tensor:
    """Advantage-weighted regression weights ``min(exp(β A), max_weight)`` (no gradient)."""
    return torch.exp(beta * advantage.detach()).clamp(max=max_weight)


@dataclass
class IQLConfig(OfflineConfig):
    agent = "iql"
    presets: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {"corl_preset": CORL_PRESETS}

    gamma: float = hp(0.99, "discount factor", min=0.0, max=1.0)
    expectile: float = hp(0.7, "τ of the expectile regression of V", min=0.0, max=1.0)
    beta: float = hp(3.0, "inverse temperature β of the advantage weights", min=0.0)
    max_weight: float = hp(100.0, "cap of exp(β A)", min=0.0)
    tau: float = hp(0.005, "Polyak coefficient of the target Q", min=0.0, max=1.0)
    lr_q: float = hp(3e-4, "Adam learning rate of the twin Q", min=0.0)
    lr_v: float = hp(3e-4, "Adam learning rate of V", min=0.0)
    lr_actor: float = hp(3e-4, "Adam learning rate of the actor", min=0.0)
    actor_lr_schedule: str = hp("cosine", "actor learning rate: cosine decay to 0 over `steps`, or constant", choices=("cosine", "constant"))
    actor_dropout: float = hp(0.0, "dropout in the actor's hidden layers", min=0.0, max=1.0)
    deterministic_actor: bool = hp(False, "CORL's iql_deterministic: a deterministic tanh actor whose BC term is "
                                   "||pi(s) - a||^2 instead of the Gaussian's -log pi(a|s) (CORL: hopper-medium, -medium-replay)")
    reward_scaling: str = hp("corl", "corl: r x 1000 / (max - min episode return) only where CORL's per-dataset IQL config sets "
                             "normalize_reward (hopper-medium, hopper-medium-replay; antmaze r - 1), else as is; locomotion: "
                             "CORL's modify_reward on every halfcheetah/hopper/walker2d dataset (the IQL authors' code); always: "
                             "r x max_episode_steps / (max - min) on every dataset (pbrl's earlier behaviour); none",
                             choices=("corl", "locomotion", "always", "none"))
    corl_preset: str = hp("none", "take CORL's per-dataset IQL config (configs/offline/iql/*.yaml at corl-team/CORL eeeeef2): "
                          "expectile, beta, tau, deterministic_actor, actor_dropout, reward_scaling=corl; values you set win",
                          choices=("none", *CORL_PRESETS))
    compile: str = hp("auto", "compile the whole step (losses, gradients, Adam, target update) with torch.compile: ~1.3x "
                      "faster on a CPU after ~20 s of compiling; needs a C++ compiler ($CXX, default g++) and Python's "
                      "headers (Python.h); auto: on for runs of >= 100k steps when both are found",
                      choices=("auto", "on", "off"))


class IQL(OfflineAgent):
    """IQL on a dataset's reward (or on rewards given to :meth:`prepare` by a subclass)."""

    name = "iql"
    Config = IQLConfig
    loss_names = ("value_loss", "q_loss", "actor_loss", "advantage", "q_mean")

    def build(self) -> None:
        c = self.config
        self.q = TwinQ(self.obs_dim, self.act_dim, c.hidden_sizes).to(self.device)
        self.q_target = TwinQ(self.obs_dim, self.act_dim, c.hidden_sizes).to(self.device)
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.v = ValueNet(self.obs_dim, c.hidden_sizes).to(self.device)
        actor = DeterministicPolicy if c.deterministic_actor else GaussianPolicy
        self.actor = actor(self.obs_dim, self.act_dim, c.hidden_sizes, dropout=c.actor_dropout).to(self.device)
        # one Adam, three parameter groups (V, Q, actor): the same per-parameter update as three optimisers
        self.optimizer = torch.optim.Adam(
            [
                {"params": list(self.v.parameters()), "lr": c.lr_v},
                {"params": list(self.q.parameters()), "lr": c.lr_q},
                {"params": list(self.actor.parameters()), "lr": c.lr_actor},
            ],
            fused=self.device.type == "cpu" or None,
        )
        self.reward_factor, self.reward_shift = 1.0, 0.0
        self._compiled_step = None  # built at the first update (after data and checkpoint are loaded)

    # -- data -----------------------------------------------------------------------

    def training_rewards(self, data: OfflineData) -> np.ndarray:
        """The rewards IQL learns from (P-IQL overrides this with a learned reward)."""
        return data.rewards

    def prepare(self, data: OfflineData, preferences) -> None:
        rewards = np.asarray(self.training_rewards(data), dtype=np.float32)
        data.check_finite(rewards)
        from pbrl.envs import cards

        card = cards().get(self.task)
        horizon = card.max_episode_steps if card is not None else 1000
        c = self.config
        preset = corl_dataset_key(c.corl_preset) if c.corl_preset != "none" else None
        if preset is not None and preset != corl_dataset_key(data.source):
            warnings.warn(f"corl_preset={c.corl_preset!r} is CORL's config for another dataset than {data.source!r}", stacklevel=2)
        self.reward_factor, self.reward_shift = corl_reward_transform(data, rewards, c.reward_scaling, horizon)
        norm = self.normalizer.numpy if self.config.normalize_states else (lambda x: x)
        self._compiled_step = None
        self.batches = TransitionBatches(
            {
                "obs": norm(data.observations),
                "actions": data.actions,
                "rewards": rewards * self.reward_factor + self.reward_shift,
                "next_obs": norm(data.next_observations),
                "terminals": data.terminals.astype(np.float32),
            },
            self.device,
            self.generator,
        )

    # -- the update -----------------------------------------------------------------

    def losses(self, s, a, r, s2, d):
        c = self.config
        with torch.no_grad():
            target_q = self.q_target(s, a).min(0).values  # min over the twin target heads
            next_v = self.v(s2)
        # 1. V: expectile regression towards min Q̂(s, a)
        v = self.v(s)
        advantage = target_q - v
        value_loss = expectile_loss(advantage, c.expectile)
        # 2. Q: TD towards r + γ (1 - d) V(s'), both heads in one batched forward
        q = self.q(s, a)  # (2, B)
        td_target = r + c.gamma * (1.0 - d) * next_v
        q_loss = (q - td_target).square().mean(1).mean()  # mean over heads of each head's MSE
        # 3. policy: advantage-weighted regression (the advantage from before the V step)
        weights = awr_weights(advantage, c.beta, c.max_weight)
        actor_loss = torch.mean(weights * self.bc_loss(s, a))
        return value_loss, q_loss, actor_loss, advantage.detach().mean(), q.detach().mean()

    def bc_loss(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Per-sample behaviour-cloning term: ``-log π(a|s)`` (Gaussian) or ``‖π(s) - a‖²`` (deterministic, CORL's)."""
        if self.config.deterministic_actor:
            return (self.actor(s) - a).square().sum(-1)
        return -self.actor.log_prob(s, a)

    def actor_lr(self, step: int) -> float:
        c = self.config
        if c.actor_lr_schedule == "constant":
            return c.lr_actor
        return c.lr_actor * 0.5 * (1.0 + math.cos(math.pi * min(step, c.steps) / c.steps))

    @property
    def compiles(self) -> bool:
        """Whether updates run as one compiled step (``compile``: on, off, or auto)."""
        mode = self.config.compile
        if mode == "auto":
            from ._compiled import missing_requirements

            return self.config.steps >= 100_000 and not missing_requirements()
        return mode == "on"

    def update(self) -> None:
        if self.compiles:
            self.compiled_update()
        else:
            self.step_on(self.batches.sample(self.config.batch_size))

    def compiled_update(self, index: torch.Tensor | None = None) -> None:
        """The same step as :meth:`step_on`, traced and compiled whole (see :mod:`.offline.compiled`),
        on the rows ``index`` of the resident data (default: a uniform batch)."""
        if self._compiled_step is None:
            from ._compiled import CompiledStep

            def loss(s, a, r, s2, d):
                value_loss, q_loss, actor_loss, adv, q_mean = self.losses(s, a, r, s2, d)
                return value_loss + q_loss + actor_loss, torch.stack([value_loss.detach(), q_loss.detach(), actor_loss.detach(), adv, q_mean])

            columns = ("obs", "actions", "rewards", "next_obs", "terminals")
            self._compiled_step = CompiledStep(
                loss, {"v": self.v, "q": self.q, "actor": self.actor, "q_target": self.q_target}, self.optimizer,
                [(self.q_target, self.q, self.config.tau)], lambda rows: tuple(self.batches.split(rows)[k] for k in columns),
                self.batches.table,
            )  # fmt: skip
        c = self.config
        lrs = torch.tensor([c.lr_v, c.lr_q, self.actor_lr(self.step)], device=self.device)
        index = self.batches.indices(c.batch_size) if index is None else index
        self._loss_sum.add_(self._compiled_step(index, lrs))
        self._loss_count += 1

    def update_on(self, batch: dict[str, torch.Tensor]) -> None:
        """One gradient step on a given batch (``obs``, ``actions``, ``rewards``, ``next_obs``,
        ``terminals``; observations already normalised), checked for NaN/inf first."""
        missing = {"obs", "actions", "rewards", "next_obs", "terminals"} - set(batch)
        if missing:
            raise ValueError(f"{self.name}.update_on: the batch lacks {sorted(missing)}")
        check_batch(batch, f"{self.name}.update_on")
        self.step_on(batch)
        self.step += 1

    def step_on(self, b: dict[str, torch.Tensor]) -> None:
        value_loss, q_loss, actor_loss, adv, q_mean = self.losses(b["obs"], b["actions"], b["rewards"], b["next_obs"], b["terminals"])
        self.optimizer.zero_grad(set_to_none=True)
        (value_loss + q_loss + actor_loss).backward()
        self.optimizer.param_groups[2]["lr"] = self.actor_lr(self.step)
        self.optimizer.step()
        soft_update(self.q_target, self.q, self.config.tau)
        self.record(value_loss, q_loss, actor_loss, adv, q_mean)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def extra_state(self) -> dict[str, Any]:
        return {"reward_factor": self.reward_factor, "reward_shift": self.reward_shift}

    def load_extra_state(self, state, weights) -> None:
        super().load_extra_state(state, weights)
        self._compiled_step = None  # it holds the optimiser's old state tensors


__all__ = ["CORL_PRESETS", "IQL", "IQLConfig", "awr_weights", "corl_dataset_key", "corl_reward_transform", "expectile_loss"]
