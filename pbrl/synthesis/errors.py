"""Named failures of reward synthesis, one class per way a candidate can fail.

Every failure a candidate program meets on its way from an LLM answer to a
trained policy is one of these classes. The class's ``kind`` is what the run
folder records (``candidates.jsonl``), what the reflection feeds back to the
proposer ("Executing the reward function code above has the following error:
..."), and what tests assert on. The stages, in order, with their failure
classes (``kind``) and the modules that raise them:

* extraction (``extraction.py``): :class:`NoCodeFound` (``no_code``),
  :class:`ProgramSyntaxError` (``syntax``), :class:`MissingRewardFunction`
  (``missing_function``), :class:`BadSignature` (``bad_signature``);
* parametric mode (``params.py``): :class:`InvalidParameters` (``invalid_params``);
* static check (``check.py``): :class:`DisallowedConstruct` (``disallowed``),
  :class:`ProgramTooLarge` (``too_large``);
* sandbox, the worker (``worker.py``, inside the sandbox): :class:`RuntimeFailure`
  (``runtime_error``), :class:`GuardViolation` (``guard_violation``),
  :class:`NonFiniteReward` (``non_finite``), :class:`WrongShape` (``wrong_shape``),
  :class:`OutOfMemory` (``out_of_memory``);
* sandbox, the parent (``sandbox.py``, trusted): :class:`WorkerTimeout` (``timeout``),
  :class:`CpuTimeExceeded` (``cpu_time``), :class:`OutputLimitExceeded`
  (``output_limit``), :class:`WorkerCrashed` (``crashed``), :class:`TamperedOutput`
  (``tampered_output``);
* trusted evaluation (``sandbox.py`` / ``evaluator.py``): :class:`EvaluationFailed`
  (``evaluation_failed``).

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
    failure_classes,
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


class NoCodeFound(SynthesisFailure, kind="no_code", stage="extraction"):
    """The answer holds no code at all (empty, or prose only)."""


class MissingRewardFunction(SynthesisFailure, kind="missing_function", stage="extraction"):
    """The code defines no ``compute_reward`` function."""


class BadSignature(SynthesisFailure, kind="bad_signature", stage="extraction"):
    """``compute_reward`` does not take ``(obs, action, next_obs, info)``."""


# -- parametric mode -------------------------------------------------------------------


class InvalidParameters(SynthesisFailure, kind="invalid_params", stage="params"):
    """Parametric (Language-to-Rewards) JSON that is not valid for the task card."""


# -- trusted evaluation ------------------------------------------------------------------


class EvaluationFailed(SynthesisFailure, kind="evaluation_failed", stage="evaluation"):
    """The trusted evaluation of the candidate's weights failed."""


#: kind -> class, for records read back from a run folder or a worker's JSON (every
#: candidate failure: those of ``pbrl.sandbox.errors`` and the ones above)
FAILURE_CLASSES: dict[str, type[SynthesisFailure]] = {
    kind: cls for kind, cls in failure_classes().items() if cls is not SynthesisFailure
}


def failure_from_record(record: dict[str, Any]) -> SynthesisFailure:
    """Rebuild a failure from ``to_record()`` output (unknown kinds become :class:`WorkerCrashed`)."""
    cls = FAILURE_CLASSES.get(str(record.get("kind")), WorkerCrashed)
    return cls(str(record.get("message", "")), str(record.get("detail", "")))
