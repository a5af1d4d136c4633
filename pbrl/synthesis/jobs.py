"""Candidate jobs: what an executor runs for one reward program.

Two module-level functions, so that any executor (a local pool, Ray on a
cluster) can run them by reference:

* :func:`run_probe_job` — the program on a few random-action steps in a sandboxed
  worker (a second or so): is it executable at all?
* :func:`run_train_job` — PPO on the program's reward in a sandboxed worker, then
  the trusted evaluation of the weights it returned, on fresh seeds drawn by this
  function after the worker exited.

Both run the static check (``check.py``) before anything starts, unless the
sandbox's testing switch ``static_check`` is off, so no path into the sandbox skips
it. Both return plain data (:class:`JobResult`) carrying the artifacts (weights,
worker log) as bytes, so the process that owns the run folder — possibly on
another machine than the one that ran the job — writes them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pbrl.sandbox.check import check_program
from .errors import SynthesisFailure
from .sandbox import Sandbox, SandboxConfig, WorkerOutcome, run_evaluation

__all__ = ["JobResult", "ProbeJob", "TrainJob", "run_probe_job", "run_train_job"]


@dataclass
class ProbeJob:
    """Probe one program.

    Args:
        candidate: the candidate's id (for logs).
        task: pbrl task id.
        program: the program's source; None probes the task's own reward.
        info_view: ``"quantities"`` (the card's named quantities only) or ``"full"``
            (also the task's reward terms and success flag).
        seed: seed of the random actions and env resets.
        sandbox: the sandbox's settings.
        env_kwargs: task keyword arguments.
        num_envs, steps: size of the probe.
    """

    candidate: str
    task: str
    program: str | None
    info_view: str = "quantities"
    seed: int = 0
    sandbox: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 8
    steps: int = 64


@dataclass
class TrainJob:
    """Train PPO on one program and evaluate the result.

    Args:
        candidate: the candidate's id.
        task: pbrl task id.
        program: the program's source; None trains on the task's own reward.
        info_view: as for :class:`ProbeJob`.
        seed: training seed.
        steps: PPO environment steps.
        hyperparams: resolved PPO hyperparameters.
        eval_episodes: episodes of the trusted evaluation.
        sandbox: the sandbox's settings.
        env_kwargs: task keyword arguments.
        eval_seed: evaluation seed; None draws a fresh one from the OS after training.
        record_rollouts: keep the evaluation's episodes (:attr:`JobResult.rollouts`), for ICPL's
            teacher and the reward-hacking check.
    """

    candidate: str
    task: str
    program: str | None
    info_view: str
    seed: int
    steps: int
    hyperparams: dict[str, Any]
    eval_episodes: int = 5
    sandbox: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_seed: int | None = None
    record_rollouts: bool = False


@dataclass
class JobResult:
    """The outcome of a probe or train job (plain data, picklable).

    Args:
        candidate: the candidate's id.
        stage: ``"probe"`` or ``"train"``.
        ok: no failure.
        failure: the failure's record (``kind``, ``stage``, ``message``, ``detail``) or None.
        result: the validated worker result (curves, probe statistics, correlation, layers).
        fitness: the trusted evaluation (:class:`~pbrl.synthesis.fitness.FitnessResult` as a dict).
        weights: the policy's weights file (bytes).
        log_tail: the end of the worker's log.
        isolation: what the sandbox used.
        wall_clock: seconds for the whole job.
        rollouts: the trusted evaluation's episodes (``.npz`` bytes, see ``rollouts.py``), when asked.
    """

    candidate: str
    stage: str
    ok: bool
    failure: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    fitness: dict[str, Any] | None = None
    weights: bytes | None = None
    log_tail: str = ""
    isolation: dict[str, Any] = field(default_factory=dict)
    wall_clock: float = 0.0
    rollouts: bytes | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready, without the weights bytes and the log."""
        out = asdict(self)
        out.pop("weights")
        out.pop("log_tail")
        out.pop("rollouts")
        return out


def _refused(program: str | None, config: SandboxConfig) -> SynthesisFailure | None:
    """The static check again, here where every program enters the sandbox (whoever built
    the job: the loop, a resumed run's saved best program, a benchmark)."""
    if program is None or not config.static_check:
        return None
    try:
        check_program(program)
    except SynthesisFailure as exc:
        return exc
    return None


def _run_worker(job: ProbeJob | TrainJob, stage: str, section: dict[str, Any]) -> tuple[JobResult, WorkerOutcome, SandboxConfig]:
    """The job's program through the static check, then a sandboxed worker's ``stage`` on it
    (``section``: that stage's settings). Returns the job's result so far, the worker's
    outcome (a refused program's holds only its failure) and the sandbox's settings."""
    start = time.time()
    config = SandboxConfig(**job.sandbox)
    refused = _refused(job.program, config)
    out = WorkerOutcome(stage, refused, None, None, "", None, 0.0)
    if refused is None:
        out = Sandbox(config).run({
            "stage": stage, "task": job.task, "program": job.program, "info_view": job.info_view,
            "seed": int(job.seed), "env_kwargs": dict(job.env_kwargs), stage: section,
        })
    done = JobResult(
        job.candidate, stage, out.failure is None, failure=None if out.failure is None else out.failure.to_record(),
        result=out.result, log_tail=out.log_tail, isolation=out.isolation, wall_clock=time.time() - start,
    )
    return done, out, config


def run_probe_job(job: ProbeJob) -> JobResult:
    """Run a :class:`ProbeJob` (see the module docstring)."""
    return _run_worker(job, "probe", {"num_envs": int(job.num_envs), "steps": int(job.steps)})[0]


def run_train_job(job: TrainJob) -> JobResult:
    """Run a :class:`TrainJob`: sandboxed training, then the trusted evaluation."""
    from pbrl.evaluation import fresh_seed

    start = time.time()
    done, out, config = _run_worker(job, "train", {"steps": int(job.steps), "hyperparams": dict(job.hyperparams)})
    if not done.ok:
        return done
    seed = fresh_seed() if job.eval_seed is None else int(job.eval_seed)
    recorded: list | None = [] if job.record_rollouts else None
    try:
        done.fitness = run_evaluation(
            out.weights or b"", job.task, job.hyperparams, job.eval_episodes, seed, job.env_kwargs,
            timeout=config.eval_timeout, tmp_root=config.tmp_root, record=recorded,
        )
        done.rollouts = recorded[0] if recorded else None
    except SynthesisFailure as exc:
        done.stage, done.ok, done.failure = "evaluation", False, exc.to_record()
    done.weights = out.weights
    done.wall_clock = time.time() - start
    return done
