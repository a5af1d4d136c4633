"""Named failures of a reward program, one class per way it can fail.

These are shared by every path that runs an untrusted reward program: the static
check (``check.py``), the sandboxed reward worker (``worker.py``, its failures sent
back as ``{"kind", "message", "detail"}`` records) and the trusted side that starts
it (``client.py``), in ``pbrl train --reward program:``, in reward synthesis and in
relabelling. ``pbrl.synthesis.errors`` re-exports them beside the failures that only
synthesis has (no code in an answer, a bad signature, invalid parameters, ...), and
calls the base class ``SynthesisFailure``.

Standard library only: the reward worker loads this package before its jail closes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CpuTimeExceeded",
    "DisallowedConstruct",
    "GuardViolation",
    "NonFiniteReward",
    "OutOfMemory",
    "OutputLimitExceeded",
    "ProgramFailure",
    "ProgramSyntaxError",
    "ProgramTooLarge",
    "RuntimeFailure",
    "SandboxUnavailable",
    "TamperedOutput",
    "WorkerCrashed",
    "WorkerTimeout",
    "WrongShape",
    "failure_class",
]


class ProgramFailure(Exception):
    """A reward program failed; ``kind`` names how.

    Args:
        message: one line for people (and, in synthesis, for the feedback to the proposer).
        detail: more text, e.g. a traceback of the reward program (may be empty).
    """

    kind: str = "failure"
    #: the pipeline stage that detects this failure
    stage: str = ""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = str(message)
        self.detail = str(detail or "")

    def to_record(self) -> dict[str, Any]:
        """JSON-ready ``{"kind", "stage", "message", "detail"}``."""
        return {"kind": self.kind, "stage": self.stage, "message": self.message, "detail": self.detail}

    def feedback(self) -> str:
        """The text fed back to the proposer: the message, then the detail."""
        return self.message + (("\n" + self.detail) if self.detail else "")



class ProgramSyntaxError(ProgramFailure):
    """The extracted code does not parse as Python."""

    kind = "syntax"
    stage = "extraction"

class DisallowedConstruct(ProgramFailure):
    """The static check found a construct outside its allow-list (an import other than
    numpy/math, a dunder attribute, ``eval``/``open``/``getattr``..., a class, ...)."""

    kind = "disallowed"
    stage = "static_check"

class ProgramTooLarge(ProgramFailure):
    """The program exceeds the static check's caps on characters or AST nodes."""

    kind = "too_large"
    stage = "static_check"

class RuntimeFailure(ProgramFailure):
    """The reward program raised an exception; ``detail`` is its traceback."""

    kind = "runtime_error"
    stage = "sandbox"

class GuardViolation(RuntimeFailure):
    """The program used something the sandbox's runtime guard removed (an import other
    than numpy/math, ``open``, ``os.system``, ``os.fork``, sockets, ...)."""

    kind = "guard_violation"

class NonFiniteReward(ProgramFailure):
    """The reward or one of its terms is NaN or infinite."""

    kind = "non_finite"
    stage = "sandbox"

class WrongShape(ProgramFailure):
    """The reward is not an (N,) array, or the terms are not a dict of (N,) arrays
    with valid names (at most :data:`pbrl.synthesis.limits.MAX_TERMS`)."""

    kind = "wrong_shape"
    stage = "sandbox"

class OutOfMemory(ProgramFailure):
    """The worker hit its address-space limit (``MemoryError``) or was killed for memory."""

    kind = "out_of_memory"
    stage = "sandbox"

class WorkerTimeout(ProgramFailure):
    """The worker ran past its wall-clock timeout and was terminated (then killed)."""

    kind = "timeout"
    stage = "sandbox"

class CpuTimeExceeded(WorkerTimeout):
    """The worker used up its CPU-time limit (``SIGXCPU``/``SIGKILL`` from ``RLIMIT_CPU``)."""

    kind = "cpu_time"

class OutputLimitExceeded(ProgramFailure):
    """The worker wrote more than its file-size limit (``SIGXFSZ`` from ``RLIMIT_FSIZE``)
    or more output than the parent reads."""

    kind = "output_limit"
    stage = "sandbox"

class WorkerCrashed(ProgramFailure):
    """The worker died (a signal or an exit code) without a valid result."""

    kind = "crashed"
    stage = "sandbox"

class TamperedOutput(ProgramFailure):
    """The worker's result JSON or weights file is missing, malformed, oversized, or
    does not fit the policy the parent built (the parent trusts neither)."""

    kind = "tampered_output"
    stage = "sandbox"

class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here (not Linux, or isolation was required but is missing)."""


def failure_class(kind: str) -> type[ProgramFailure]:
    """The class of a failure record's ``kind`` (unknown kinds: :class:`WorkerCrashed`)."""
    stack, found = [ProgramFailure], {}
    while stack:
        cls = stack.pop()
        found.setdefault(cls.kind, cls)
        stack.extend(cls.__subclasses__())
    return found.get(str(kind), WorkerCrashed)
