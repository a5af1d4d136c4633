"""A whole training step — losses, gradients, Adam, Polyak update — compiled as one function.

``torch.compile`` of the loss alone leaves the autograd engine, the optimiser's Python
and the target update outside the compiled code; on a 2-core CPU those are a third
of an IQL step. :class:`CompiledStep` instead traces one function of tensors:

1. gather the batch rows (``index_select`` of the resident table),
2. ``torch.func.grad`` of the agent's own loss function, the networks' parameters
   swapped in with ``torch.func.functional_call`` (so the loss is still written once,
   as the algorithm module writes it, against its ``nn.Module`` s),
3. Adam, written out exactly as ``torch.optim.Adam``'s single-tensor update, on the
   state tensors held in the agent's ``torch.optim.Adam`` (checkpoints and the eager
   path keep working with the same optimiser),
4. the Polyak update of target networks,

all updated in place, with the step count and learning rates passed as tensors so the
function compiles once. Same numerics as the eager step (float rounding aside);
``tests/test_offline_agents.py`` checks it against the reference IQL.

Dropout inside the compiled step would draw from inductor's RNG rather than torch's
global one (different numbers, and not captured by checkpoints): use it without
``compile``.
"""

from __future__ import annotations

import warnings
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, grad


class _Container(nn.Module):
    """Holds the networks so ``functional_call`` can swap all their parameters at once."""

    def __init__(self, modules: Mapping[str, nn.Module], loss: Callable):
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)
        self._loss = loss

    def forward(self, *args):
        return self._loss(*args)


class CompiledStep:
    """One compiled training step.

    Args:
        loss: ``loss(*batch) -> (total loss, stats)``, computed with the networks in
            ``modules`` (``stats`` a 1-D tensor of detached values to record).
        modules: name -> network; their parameters are the optimiser's.
        optimizer: a ``torch.optim.Adam`` over exactly those parameters (any groups).
        targets: ``(target, source, tau)`` Polyak pairs updated after the step.
        split: maps gathered rows ``(B, D)`` to the loss's positional arguments.
        table: the resident ``(N, D)`` training table.
    """

    def __init__(
        self,
        loss: Callable,
        modules: Mapping[str, nn.Module],
        optimizer: torch.optim.Adam,
        targets: Sequence[tuple[nn.Module, nn.Module, float]],
        split: Callable[[torch.Tensor], tuple],
        table: torch.Tensor,
    ):
        if not isinstance(optimizer, torch.optim.Adam):
            raise TypeError("CompiledStep implements Adam only")
        self.container = _Container(modules, loss)
        self.optimizer = optimizer
        self.split = split
        self.table = table
        names = {id(p): name for name, p in self.container.named_parameters()}
        self.trainable = {names[id(p)]: p.detach() for group in optimizer.param_groups for p in group["params"]}
        frozen_ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
        self.frozen = {n: p.detach() for n, p in self.container.named_parameters() if id(p) not in frozen_ids}
        self.frozen.update({n: b for n, b in self.container.named_buffers()})
        self.groups = []  # per group: (names, exp_avg, exp_avg_sq, step tensors)
        for group in optimizer.param_groups:
            if group.get("amsgrad") or group.get("maximize") or group.get("weight_decay"):
                raise ValueError("CompiledStep implements plain Adam (no amsgrad, maximize or weight decay)")
            entries = []
            for p in group["params"]:
                state = optimizer.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                entries.append((names[id(p)], state))
            self.groups.append(entries)
        self.targets = [(list(t.parameters()), list(s.parameters()), float(tau)) for t, s, tau in targets]
        self._grad = grad(self._loss, has_aux=True)
        self._compiled = torch.compile(self._step)
        self._fallback = False

    def _loss(self, trainable, frozen, *batch):
        return functional_call(self.container, {**trainable, **frozen}, batch, strict=False)

    def _step(self, index: torch.Tensor, lrs: torch.Tensor) -> torch.Tensor:
        batch = self.split(self.table.index_select(0, index))
        grads, stats = self._grad(self.trainable, self.frozen, *batch)
        with torch.no_grad():
            for g, (entries, group) in enumerate(zip(self.groups, self.optimizer.param_groups)):
                beta1, beta2 = group["betas"]
                eps = group["eps"]
                for name, state in entries:
                    # torch.optim.Adam's single-tensor update, term by term
                    param, d_p = self.trainable[name], grads[name]
                    step = state["step"].add_(1)
                    state["exp_avg"].lerp_(d_p, 1 - beta1)
                    state["exp_avg_sq"].mul_(beta2).addcmul_(d_p, d_p, value=1 - beta2)
                    bias_correction1 = 1 - beta1**step
                    bias_correction2 = 1 - beta2**step
                    step_size = lrs[g] / bias_correction1
                    denom = (state["exp_avg_sq"].sqrt() / bias_correction2.sqrt()).add_(eps)
                    param.sub_(step_size * state["exp_avg"] / denom)
            for target, source, tau in self.targets:
                torch._foreach_lerp_(target, source, tau)
        return stats

    def __call__(self, index: torch.Tensor, lrs: torch.Tensor) -> torch.Tensor:
        if not self._fallback:
            try:
                return self._compiled(index, lrs)
            except Exception as exc:  # no C++ compiler, unsupported platform: eager gives the same numbers
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); running the step eagerly")
                self._fallback = True
        return self._step(index, lrs)


__all__ = ["CompiledStep"]
