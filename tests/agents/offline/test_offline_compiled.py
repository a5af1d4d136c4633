"""The compiled training step (``agents/offline/compiled.py``): a failed compile says why, once,
and runs eagerly; what inductor needs is checked before ``compile=auto`` turns it on.
(That the step really compiles, and matches the eager one, is in test_offline_agents.py.)"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from pbrl.agents.offline.iql import IQL
from pbrl.agents.offline import _compiled as compiled_module
from pbrl.agents.offline._compiled import CompiledStep, CompileFallbackWarning, describe_failure, missing_requirements

OBS, ACT = 5, 2


def _tiny_step(backend, seed=0):
    """A CompiledStep over one linear layer fitted by least squares, its Adam and its table."""
    torch.manual_seed(seed)
    net = nn.Linear(3, 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    table = torch.randn(32, 4)

    def loss(x, y):
        value = ((net(x).squeeze(-1) - y) ** 2).mean()
        return value, value.detach().reshape(1)

    return net, CompiledStep(loss, {"net": net}, optimizer, [], lambda rows: (rows[:, :3], rows[:, 3]), table, backend=backend)


def _broken_backend(gm, example_inputs):
    raise RuntimeError("no C++ compiler here")


def test_a_failed_compile_warns_once_with_the_reason_and_runs_eagerly():
    net, step = _tiny_step(_broken_backend)
    reference, eager = _tiny_step("eager")  # dynamo's eager backend: the step's own numbers
    index, lrs = torch.arange(8), torch.tensor([1e-2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            stats = step(index, lrs)
            expected = eager(index, lrs)
    fallbacks = [w for w in caught if issubclass(w.category, CompileFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]  # once, not once per step
    message = str(fallbacks[0].message)
    # the exception inside dynamo's BackendCompilerFailed, not its empty first line
    assert "BackendCompilerFailed from RuntimeError: no C++ compiler here" in message, message
    assert "eagerly" in message and step.fallback_reason in message
    assert eager.fallback_reason is None
    assert torch.allclose(stats, expected)
    for p, q in zip(net.parameters(), reference.parameters()):
        assert torch.allclose(p, q)  # three eager Adam steps, the same as three compiled-by-`eager` ones


def test_describe_failure_digs_out_the_message():
    class Wrapper(Exception):  # dynamo's BackendCompilerFailed keeps the real one here
        def __init__(self, inner):
            super().__init__("backend='inductor' raised:\n" + f"{type(inner).__name__}: {inner}")
            self.inner_exception = inner

    assert describe_failure(Wrapper(OSError("AF_UNIX path too long"))) == "Wrapper from OSError: AF_UNIX path too long"
    try:
        try:
            raise FileNotFoundError("g++")
        except FileNotFoundError as cause:
            raise RuntimeError() from cause  # no message of its own: its cause says why
    except RuntimeError as exc:
        assert describe_failure(Wrapper(exc)) == "Wrapper from RuntimeError from FileNotFoundError: g++"
    assert describe_failure(TimeoutError()) == "TimeoutError: (no message)"
    compile_error = RuntimeError("C++ compile error\n\nCommand:\ng++ x.cpp -o x.so\n\n"
                                 "Output:\nx.cpp:1:10: fatal error: Python.h: No such file or directory")  # inductor's CppCompileError
    assert describe_failure(compile_error).endswith("C++ compile error ... x.cpp:1:10: fatal error: Python.h: No such file or directory")


def test_missing_requirements_name_the_compiler_and_the_headers(monkeypatch):
    monkeypatch.setenv("CXX", "/no/such/g++")
    monkeypatch.setattr(compiled_module.sysconfig, "get_path", lambda name, *a, **k: "/no/such/include")
    missing = missing_requirements()
    assert len(missing) == 2 and "'/no/such/g++'" in missing[0] and "Python.h" in missing[1]
    # compile=auto stays off where they are missing (it would fail and run eagerly anyway)
    agent = IQL({"hidden_sizes": [8], "steps": 1_000_000}, task="pbrl/HalfCheetah-v5", obs_dim=OBS, act_dim=ACT)
    assert agent.config.compile == "auto" and not agent.compiles

