"""Named failures of reward synthesis, one class per way a candidate can fail.

Every failure a candidate program meets on its way from an LLM answer to a
trained policy is one of these classes. The class's ``kind`` is what the run
folder records (``candidates.jsonl``), what the reflection feeds back to the
proposer ("Executing the reward function code above has the following error:
..."), and what tests assert on. Stages, in order:

======================  ==============================  ====================================
stage                   failure classes (``kind``)      raised by
======================  ==============================  ====================================
extraction              :class:`NoCodeFound`            ``extraction.py``
                        (``no_code``),
                        :class:`ProgramSyntaxError`
                        (``syntax``),
                        :class:`MissingRewardFunction`
                        (``missing_function``),
                        :class:`BadSignature`
                        (``bad_signature``)
parametric mode         :class:`InvalidParameters`      ``params.py``
                        (``invalid_params``)
static check            :class:`DisallowedConstruct`    ``check.py``
                        (``disallowed``),
                        :class:`ProgramTooLarge`
                        (``too_large``)
sandbox (the worker)    :class:`RuntimeFailure`         ``worker.py`` (inside the sandbox)
                        (``runtime_error``),
                        :class:`GuardViolation`
                        (``guard_violation``),
                        :class:`NonFiniteReward`
                        (``non_finite``),
                        :class:`WrongShape`
                        (``wrong_shape``),
                        :class:`OutOfMemory`
                        (``out_of_memory``)
sandbox (the parent)    :class:`WorkerTimeout`          ``sandbox.py`` (trusted)
                        (``timeout``),
                        :class:`CpuTimeExceeded`
                        (``cpu_time``),
                        :class:`OutputLimitExceeded`
                        (``output_limit``),
                        :class:`WorkerCrashed`
                        (``crashed``),
                        :class:`TamperedOutput`
                        (``tampered_output``)
trusted evaluation      :class:`EvaluationFailed`       ``sandbox.py`` / ``evaluator.py``
                        (``evaluation_failed``)
======================  ==============================  ====================================

LLM backends raise :class:`BackendError` and its subclasses; those are errors of
the run (no answer), not failures of a candidate.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BackendRequestError",
    "BackendRetriesExhausted",
    "BadSignature",
    "CpuTimeExceeded",
    "DisallowedConstruct",
    "EvaluationFailed",
    "FAILURE_CLASSES",
    "GuardViolation",
    "InvalidParameters",
    "MissingRewardFunction",
    "NoCodeFound",
    "NonFiniteReward",
    "OutOfMemory",
    "OutputLimitExceeded",
    "ProgramSyntaxError",
    "ProgramTooLarge",
    "RuntimeFailure",
    "SandboxUnavailable",
    "SynthesisFailure",
    "TamperedOutput",
    "WorkerCrashed",
    "WorkerTimeout",
    "WrongShape",
    "failure_from_record",
]


class SynthesisFailure(Exception):
    """A candidate reward program failed; ``kind`` names how.

    Args:
        message: one line for people and for the feedback to the proposer.
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


# -- extraction ------------------------------------------------------------------------


class NoCodeFound(SynthesisFailure):
    """The answer holds no code at all (empty, or prose only)."""

    kind = "no_code"
    stage = "extraction"


class ProgramSyntaxError(SynthesisFailure):
    """The extracted code does not parse as Python."""

    kind = "syntax"
    stage = "extraction"


class MissingRewardFunction(SynthesisFailure):
    """The code defines no ``compute_reward`` function."""

    kind = "missing_function"
    stage = "extraction"


class BadSignature(SynthesisFailure):
    """``compute_reward`` does not take ``(obs, action, next_obs, info)``."""

    kind = "bad_signature"
    stage = "extraction"


# -- parametric mode -------------------------------------------------------------------


class InvalidParameters(SynthesisFailure):
    """Parametric (Language-to-Rewards) JSON that is not valid for the task card."""

    kind = "invalid_params"
    stage = "params"


# -- static check ----------------------------------------------------------------------


class DisallowedConstruct(SynthesisFailure):
    """The static check found a construct outside its allow-list (an import other than
    numpy/math, a dunder attribute, ``eval``/``open``/``getattr``..., a class, ...)."""

    kind = "disallowed"
    stage = "static_check"


class ProgramTooLarge(SynthesisFailure):
    """The program exceeds the static check's caps on characters or AST nodes."""

    kind = "too_large"
    stage = "static_check"


# -- sandbox: detected inside the worker -------------------------------------------------


class RuntimeFailure(SynthesisFailure):
    """The reward program raised an exception; ``detail`` is its traceback."""

    kind = "runtime_error"
    stage = "sandbox"


class GuardViolation(RuntimeFailure):
    """The program used something the sandbox's runtime guard removed (an import other
    than numpy/math, ``open``, ``os.system``, ``os.fork``, sockets, ...)."""

    kind = "guard_violation"


class NonFiniteReward(SynthesisFailure):
    """The reward or one of its terms is NaN or infinite."""

    kind = "non_finite"
    stage = "sandbox"


class WrongShape(SynthesisFailure):
    """The reward is not an (N,) array, or the terms are not a dict of (N,) arrays
    with valid names (at most :data:`pbrl.synthesis.limits.MAX_TERMS`)."""

    kind = "wrong_shape"
    stage = "sandbox"


class OutOfMemory(SynthesisFailure):
    """The worker hit its address-space limit (``MemoryError``) or was killed for memory."""

    kind = "out_of_memory"
    stage = "sandbox"


# -- sandbox: detected by the trusted parent ----------------------------------------------


class WorkerTimeout(SynthesisFailure):
    """The worker ran past its wall-clock timeout and was terminated (then killed)."""

    kind = "timeout"
    stage = "sandbox"


class CpuTimeExceeded(WorkerTimeout):
    """The worker used up its CPU-time limit (``SIGXCPU``/``SIGKILL`` from ``RLIMIT_CPU``)."""

    kind = "cpu_time"


class OutputLimitExceeded(SynthesisFailure):
    """The worker wrote more than its file-size limit (``SIGXFSZ`` from ``RLIMIT_FSIZE``)
    or more output than the parent reads."""

    kind = "output_limit"
    stage = "sandbox"


class WorkerCrashed(SynthesisFailure):
    """The worker died (a signal or an exit code) without a valid result."""

    kind = "crashed"
    stage = "sandbox"


class TamperedOutput(SynthesisFailure):
    """The worker's result JSON or weights file is missing, malformed, oversized, or
    does not fit the policy the parent built (the parent trusts neither)."""

    kind = "tampered_output"
    stage = "sandbox"


class EvaluationFailed(SynthesisFailure):
    """The trusted evaluation of the candidate's weights failed."""

    kind = "evaluation_failed"
    stage = "evaluation"


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here (not Linux, or isolation was required but is missing)."""


#: kind -> class, for records read back from a run folder or a worker's JSON
FAILURE_CLASSES: dict[str, type[SynthesisFailure]] = {
    cls.kind: cls
    for cls in (
        NoCodeFound,
        ProgramSyntaxError,
        MissingRewardFunction,
        BadSignature,
        InvalidParameters,
        DisallowedConstruct,
        ProgramTooLarge,
        RuntimeFailure,
        GuardViolation,
        NonFiniteReward,
        WrongShape,
        OutOfMemory,
        WorkerTimeout,
        CpuTimeExceeded,
        OutputLimitExceeded,
        WorkerCrashed,
        TamperedOutput,
        EvaluationFailed,
    )
}


def failure_from_record(record: dict[str, Any]) -> SynthesisFailure:
    """Rebuild a failure from ``to_record()`` output (unknown kinds become :class:`WorkerCrashed`)."""
    cls = FAILURE_CLASSES.get(str(record.get("kind")), WorkerCrashed)
    return cls(str(record.get("message", "")), str(record.get("detail", "")))


# -- LLM backends ---------------------------------------------------------------------


class BackendError(RuntimeError):
    """An LLM backend could not produce an answer."""


class BackendRequestError(BackendError):
    """The server refused the request for a reason retrying cannot fix (HTTP 400, 401,
    403, 404, ...)."""


class BackendRetriesExhausted(BackendError):
    """Every attempt failed with a retryable error (429, 5xx, timeout, malformed body)."""
