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
    "failure_classes",
]


#: kind -> class of every failure declared so far (the first class to declare a kind keeps it)
_KINDS: dict[str, type["ProgramFailure"]] = {}


class ProgramFailure(Exception):
    """A reward program failed; ``kind`` names how.

    Args:
        message: one line for people (and, in synthesis, for the feedback to the proposer).
        detail: more text, e.g. a traceback of the reward program (may be empty).

    Each subclass is declared as ``class Name(Base, kind=..., stage=...)`` with a docstring:
    it inherits the message, detail and record from this class (and ``stage`` from its base
    when left out), and its ``kind`` becomes known to :func:`failure_class`.
    """

    kind: str = "failure"
    #: the pipeline stage that detects this failure
    stage: str = ""

    def __init_subclass__(cls, kind: str | None = None, stage: str | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind
        if stage is not None:
            cls.stage = stage
        if "kind" in cls.__dict__:
            _KINDS.setdefault(cls.kind, cls)

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


_KINDS[ProgramFailure.kind] = ProgramFailure


class ProgramSyntaxError(ProgramFailure, kind="syntax", stage="extraction"):
    """The extracted code does not parse as Python."""


class DisallowedConstruct(ProgramFailure, kind="disallowed", stage="static_check"):
    """The static check found a construct outside its allow-list (an import other than
    numpy/math, a dunder attribute, ``eval``/``open``/``getattr``..., a class, ...)."""


class ProgramTooLarge(ProgramFailure, kind="too_large", stage="static_check"):
    """The program exceeds the static check's caps on characters or AST nodes."""


class RuntimeFailure(ProgramFailure, kind="runtime_error", stage="sandbox"):
    """The reward program raised an exception; ``detail`` is its traceback."""


class GuardViolation(RuntimeFailure, kind="guard_violation"):
    """The program used something the sandbox's runtime guard removed (an import other
    than numpy/math, ``open``, ``os.system``, ``os.fork``, sockets, ...)."""


class NonFiniteReward(ProgramFailure, kind="non_finite", stage="sandbox"):
    """The reward or one of its terms is NaN or infinite."""


class WrongShape(ProgramFailure, kind="wrong_shape", stage="sandbox"):
    """The reward is not an (N,) array, or the terms are not a dict of (N,) arrays
    with valid names (at most :data:`pbrl.synthesis.limits.MAX_TERMS`)."""


class OutOfMemory(ProgramFailure, kind="out_of_memory", stage="sandbox"):
    """The worker hit its address-space limit (``MemoryError``) or was killed for memory."""


class WorkerTimeout(ProgramFailure, kind="timeout", stage="sandbox"):
    """The worker ran past its wall-clock timeout and was terminated (then killed)."""


class CpuTimeExceeded(WorkerTimeout, kind="cpu_time"):
    """The worker used up its CPU-time limit (``SIGXCPU``/``SIGKILL`` from ``RLIMIT_CPU``)."""


class OutputLimitExceeded(ProgramFailure, kind="output_limit", stage="sandbox"):
    """The worker wrote more than its file-size limit (``SIGXFSZ`` from ``RLIMIT_FSIZE``)
    or more output than the parent reads."""


class WorkerCrashed(ProgramFailure, kind="crashed", stage="sandbox"):
    """The worker died (a signal or an exit code) without a valid result."""


class TamperedOutput(ProgramFailure, kind="tampered_output", stage="sandbox"):
    """The worker's result JSON or weights file is missing, malformed, oversized, or
    does not fit the policy the parent built (the parent trusts neither)."""


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here (not Linux, or isolation was required but is missing)."""


def failure_class(kind: str) -> type[ProgramFailure]:
    """The class of a failure record's ``kind`` (unknown kinds: :class:`WorkerCrashed`)."""
    return _KINDS.get(str(kind), WorkerCrashed)


def failure_classes() -> dict[str, type[ProgramFailure]]:
    """Every declared failure kind and its class, in the order they were declared."""
    return dict(_KINDS)
