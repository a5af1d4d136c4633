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

from pbrl.llm.errors import BackendError, BackendRequestError, BackendRetriesExhausted
from pbrl.sandbox.errors import (
    CpuTimeExceeded,
    DisallowedConstruct,
    GuardViolation,
    NonFiniteReward,
    OutOfMemory,
    OutputLimitExceeded,
    ProgramFailure,
    ProgramSyntaxError,
    ProgramTooLarge,
    RuntimeFailure,
    SandboxUnavailable,
    TamperedOutput,
    WorkerCrashed,
    WorkerTimeout,
    WrongShape,
)

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


#: the base class of every candidate failure (the program failures of ``pbrl.sandbox.errors``
#: and the synthesis-only ones below)
SynthesisFailure = ProgramFailure


# -- extraction ------------------------------------------------------------------------


class NoCodeFound(SynthesisFailure):
    """The answer holds no code at all (empty, or prose only)."""

    kind = "no_code"
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


# -- trusted evaluation ------------------------------------------------------------------


class EvaluationFailed(SynthesisFailure):
    """The trusted evaluation of the candidate's weights failed."""

    kind = "evaluation_failed"
    stage = "evaluation"


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
