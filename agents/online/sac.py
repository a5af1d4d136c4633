"""SAC: Stable-Baselines3's SAC on a pbrl batched task.

A thin layer: the hyperparameters of ``hyperparams.toml`` become SB3 arguments.
With ``n_envs`` sub-envs, every vector step adds ``n_envs`` transitions, so the
update-to-data ratio is ``gradient_steps / (train_freq * n_envs)``; on a small CPU
the gradient steps dominate wall-clock, and that ratio is the main speed knob.

Two changes to SB3's SAC that keep its algorithm, and make a gradient step ~1.1-1.2×
cheaper on a CPU (BENCHMARKS.md, "SAC's gradient step"):

* the critic's forward for the actor loss builds no graph to the critic's own weights
  (:class:`ActorLossCritic`): SB3 computes those gradients and zeroes them before the next
  critic step unused, so the updates are bit-identical to SB3's (tested);
* the actor's and critics' Adam is torch's fused kernel where this torch has it on the
  CPU (the same update as the per-tensor loop, up to float rounding).

A checkpoint holds the actor, critics, target critics, their optimizers, the
entropy coefficient and the replay buffer (``.npz``), so a resumed run continues
with the same data. :meth:`SACAgent.relabel_replay_buffer` recomputes the stored
rewards with a new reward source (PEBBLE, after each reward-model update).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.sac.policies import SACPolicy

from pbrl.rewards.source import RewardSource

from ..checkpoint import CheckpointError
from .base import ACTIVATIONS, OnlineAgent

_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


class ActorLossCritic(ContinuousCritic):
    """SB3's twin critic, minus the weight gradients the actor loss would compute.

    In SB3's ``SAC.train`` the critic sees actions that require grad only in the actor
    loss (``critic(obs, actions_pi)``); there only the gradient to the actions is used
    (the critic's gradients are zeroed before its next step). Such a forward runs with
    the critic's parameters not requiring grad, so autograd records no weight-gradient
    matmuls for them; ``requires_grad`` is restored before the backward, which needs
    only the recorded graph.
    """

    def forward(self, obs, actions):
        if not (torch.is_grad_enabled() and actions.requires_grad):
            return super().forward(obs, actions)
        params = [p for p in self.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            return super().forward(obs, actions)
        finally:
            for p in params:
                p.requires_grad_(True)


class PbrlSACPolicy(SACPolicy):
    """SB3's ``MlpPolicy`` for SAC with :class:`ActorLossCritic` (same modules, same state dict)."""

    def make_critic(self, features_extractor=None) -> ContinuousCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return ActorLossCritic(**critic_kwargs).to(self.device)


_FUSED: dict[str, bool] = {}


def fused_adam_available(device: str = "cpu") -> bool:
    """Whether this torch has a fused Adam for ``device`` (CPU: torch >= 2.4)."""
    key = str(torch.device(device).type)
    if key not in _FUSED:
        try:
            w = torch.zeros(1, device=key, requires_grad=True)
            w.grad = torch.zeros_like(w)
            torch.optim.Adam([w], fused=True).step()
            _FUSED[key] = True
        except (RuntimeError, TypeError, ValueError):
            _FUSED[key] = False
    return _FUSED[key]


class SACAgent(OnlineAgent):
    """SAC from a hyperparameter dict (declared by ``SACHyperparams`` in ``hyperparams.py``)."""

    algo = "sac"

    def build_model(self, env) -> SAC:
        hp = self.hp
        policy_kwargs: dict[str, Any] = dict(net_arch=list(hp["net_arch"]), activation_fn=ACTIVATIONS[hp["activation"]])
        if hp["use_sde"]:
            policy_kwargs["log_std_init"] = hp["log_std_init"]
        if fused_adam_available(self.device):
            policy_kwargs["optimizer_kwargs"] = {"fused": True}
        buffer_class, buffer_kwargs = self.replay_buffer()
        return SAC(
            PbrlSACPolicy,
            env,
            replay_buffer_class=buffer_class,
            replay_buffer_kwargs=buffer_kwargs,
            policy_kwargs=policy_kwargs,
            **self.sb3_kwargs(
                "buffer_size", "batch_size", "learning_starts", "tau", "gamma", "train_freq", "gradient_steps",
                "ent_coef", "target_entropy", "use_sde",
            ),  # fmt: skip
        )

    def replay_buffer(self) -> tuple[type | None, dict[str, Any] | None]:
        """SAC's ``replay_buffer_class`` and its kwargs (None: SB3's ``ReplayBuffer``)."""
        return None, None

    def learn_kwargs(self) -> dict[str, Any]:
        # SB3 would dump logs every 4 episodes, several times per vector step when
        # sub-envs end together; pbrl's training callback dumps on a step schedule.
        return {"log_interval": None}

    # -- checkpoints --------------------------------------------------------------

    def torch_state(self) -> dict[str, Any]:
        m = self.model
        state = {
            "policy": m.policy.state_dict(),
            "optim/actor": m.actor.optimizer.state_dict(),
            "optim/critic": m.critic.optimizer.state_dict(),
        }
        if m.ent_coef_optimizer is not None:
            state["log_ent_coef"] = m.log_ent_coef.detach().clone()
            state["optim/ent_coef"] = m.ent_coef_optimizer.state_dict()
        return state

    def load_torch_state(self, state: Mapping[str, Any]) -> None:
        m = self.model
        m.policy.load_state_dict(state["policy"])
        m.actor.optimizer.load_state_dict(state["optim/actor"])
        m.critic.optimizer.load_state_dict(state["optim/critic"])
        if m.ent_coef_optimizer is not None:
            with torch.no_grad():
                m.log_ent_coef.copy_(state["log_ent_coef"])
            m.ent_coef_optimizer.load_state_dict(state["optim/ent_coef"])

    def array_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        rb = self.model.replay_buffer
        size = rb.buffer_size if rb.full else rb.pos
        arrays = {f: getattr(rb, f)[:size] for f in _BUFFER_FIELDS if getattr(rb, f, None) is not None}
        return arrays, {"pos": int(rb.pos), "full": bool(rb.full), "buffer_size": int(rb.buffer_size), "n_envs": int(rb.n_envs)}

    def load_array_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        rb = self.model.replay_buffer
        if not arrays:
            raise CheckpointError("the checkpoint has no replay buffer (replay_buffer.npz)")
        if meta.get("buffer_size") != rb.buffer_size or meta.get("n_envs") != rb.n_envs:
            raise CheckpointError(
                f"replay buffer of the checkpoint is {meta.get('buffer_size')} x {meta.get('n_envs')} envs, "
                f"this agent's {rb.buffer_size} x {rb.n_envs}"
            )
        for name, value in arrays.items():
            target = getattr(rb, name, None)
            if target is None or value.shape[1:] != target.shape[1:] or len(value) > len(target):
                raise CheckpointError(f"replay buffer field {name!r} has shape {value.shape}, expected rows of {None if target is None else target.shape[1:]}")
            target[: len(value)] = value
        rb.pos = int(meta["pos"])
        rb.full = bool(meta["full"])

    # -- PEBBLE support -----------------------------------------------------------

    def replay_size(self) -> int:
        rb = self.model.replay_buffer
        return rb.buffer_size if rb.full else rb.pos

    def relabel_replay_buffer(self, source: RewardSource, chunk: int = 65536) -> int:
        """Recompute every stored reward with ``source`` (``info`` is empty); returns transitions relabelled.

        The buffer holds raw observations (before VecNormalize), as the source expects.
        """
        rb = self.model.replay_buffer
        size = self.replay_size()
        obs = rb.observations[:size].reshape(size * rb.n_envs, -1)
        nxt = rb.next_observations[:size].reshape(size * rb.n_envs, -1)
        # SB3 stores actions scaled to [-1, 1]; the source gets them as sent to the env.
        act = self.model.policy.unscale_action(rb.actions[:size].reshape(size * rb.n_envs, -1))
        out = np.empty(size * rb.n_envs, dtype=np.float32)
        for start in range(0, len(out), chunk):
            sl = slice(start, start + chunk)
            out[sl] = source(obs[sl].astype(np.float64), act[sl].astype(np.float64), nxt[sl].astype(np.float64), {})
        rb.rewards[:size] = out.reshape(size, rb.n_envs)
        return len(out)
