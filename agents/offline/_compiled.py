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
``tests/agents/offline/test_offline_agents.py`` checks it against the reference IQL.

Dropout inside the compiled step would draw from inductor's RNG rather than torch's
global one (different numbers, and not captured by checkpoints): use it without
``compile``.

**What it needs.** On a CPU, torch.compile's inductor backend writes C++ and builds it
with the C++ compiler in ``$CXX`` (default ``g++``; ``clang++`` on macOS) against
Python's headers (``Python.h``; Debian/Ubuntu: ``python3-dev``) — see
:func:`missing_requirements`. When compiling fails for any reason, the step runs
eagerly (the same numbers, slower: BENCHMARKS.md, offline speed)
and a :class:`CompileFallbackWarning` says why, once per :class:`CompiledStep`: the
exception inside dynamo's ``BackendCompilerFailed``, whose own first line is only
``backend='inductor' raised:``.

**One graph per step, static shapes.** Each :class:`CompiledStep` compiles its own
function (a copy of :meth:`CompiledStep._step` with a code object of its own) with
``dynamic=False``. Dynamo keys compiled graphs, the shapes it has seen and its
recompile limit (8) by code object: with one shared ``_step``, a second agent of other
sizes in the same process (another task, another network) made dynamo recompile with
symbolic shapes, which inductor's AOTAutograd pass cannot do for this step
(``RuntimeError: Expected !size_bytes_is_heap_allocated_ to be true, but got false``,
in ``merge_view_inputs``), so every later agent ran eagerly (in the test suite: after
``benchmarks/iql_reward_range.py``'s IQL; in ``benchmarks/offline_pbrl.py``'s workers:
after the first task); with static shapes alone, the ninth step built in a process
hits the recompile limit and runs eagerly with only a log line from torch.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import sysconfig
import types
import warnings
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, grad


class CompileFallbackWarning(UserWarning):
    """torch.compile failed: the step runs eagerly (same numbers, slower); the message says why."""


def missing_requirements() -> list[str]:
    """What torch.compile's CPU backend needs and this machine lacks (empty: nothing known missing):
    the C++ compiler inductor calls (``$CXX``, default ``g++``; ``clang++`` on macOS) and
    Python's headers (``Python.h`` in the running Python's include folder)."""
    missing = []
    cxx = os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")
    if shutil.which(cxx) is None:
        missing.append(f"a C++ compiler ({cxx!r} is not on PATH; set $CXX to use another)")
    include = sysconfig.get_path("include")
    if not include or not os.path.exists(os.path.join(include, "Python.h")):
        missing.append(f"Python's headers (no Python.h in {include}; on Debian/Ubuntu: apt install python3-dev)")
    return missing


def describe_failure(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of why compiling failed, from inside dynamo's wrapper.

    ``BackendCompilerFailed`` (message ``backend='inductor' raised:`` and the inner one on
    the next lines) is unwrapped to its ``inner_exception``, and an exception without a
    message to its cause; a compiler's ``error:`` line is added to a multi-line message
    (a ``CppCompileError`` starts with the command line)."""
    chain = [exc]
    while True:
        current = chain[-1]
        inner = getattr(current, "inner_exception", None)
        if inner is None and not str(current).strip():
            inner = current.__cause__ or current.__context__
        if not isinstance(inner, BaseException) or any(inner is e for e in chain):
            break
        chain.append(inner)
    last = chain[-1]
    lines = [line.strip() for line in str(last).splitlines() if line.strip()]
    message = lines[0][:limit] if lines else "(no message)"
    error = next((line for line in lines[1:] if "error:" in line.lower()), None)
    if error:
        message += f" ... {error[:limit]}"
    names = " from ".join(type(e).__name__ for e in chain)
    return f"{names}: {message}"


_copies = itertools.count()


def _own_code(method):
    """``method`` bound to the same object, through a copy of its function with a code object
    of its own (another ``co_name``): dynamo keeps compiled graphs, seen shapes and the
    recompile count per code object (and its shape profile per file, line and name)."""
    fn = method.__func__
    n = next(_copies)
    name = f"{fn.__name__}_{n}"
    code = fn.__code__.replace(co_name=name, co_qualname=f"{fn.__qualname__}_{n}")
    copy = types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    return types.MethodType(copy, method.__self__)


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
        backend: torch.compile's backend (tests pass one that fails).
    """

    def __init__(
        self,
        loss: Callable,
        modules: Mapping[str, nn.Module],
        optimizer: torch.optim.Adam,
        targets: Sequence[tuple[nn.Module, nn.Module, float]],
        split: Callable[[torch.Tensor], tuple],
        table: torch.Tensor,
        backend: str | Callable = "inductor",
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
        self._compiled = torch.compile(_own_code(self._step), backend=backend, dynamic=False)
        self._fallback = False
        self.fallback_reason: str | None = None  # why the step runs eagerly (None: it runs compiled)

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
            except Exception as exc:  # no C++ compiler, no Python.h, a torch limitation: eager gives the same numbers
                self.fallback_reason = describe_failure(exc)
                missing = missing_requirements()
                hint = f"; missing: {'; '.join(missing)}" if missing else ""
                warnings.warn(
                    f"torch.compile failed ({self.fallback_reason}){hint}; the training step runs eagerly from now on "
                    "(same numbers, slower); compile=off skips compiling",
                    CompileFallbackWarning, stacklevel=2,
                )  # fmt: skip
                self._fallback = True
        return self._step(index, lrs)


__all__ = ["CompileFallbackWarning", "CompiledStep", "describe_failure", "missing_requirements"]
