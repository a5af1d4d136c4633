"""The executor interface: many independent jobs (sweep cells, reward candidates) in parallel.

An :class:`Executor` runs a module-level function over job objects. :meth:`~Executor.map`
returns the results in order; :meth:`~Executor.as_completed` yields ``(index, result)``
as each job finishes, with a job that raised, or whose worker process or Ray task died,
yielded as a :class:`JobFailed` so that it never stops the others. Leaving
``as_completed`` early (Ctrl-C, an exception in the caller) cancels the jobs not yet
started. Jobs never raise for their own failure (they return it as data); in ``map``,
an exception from a job is an infrastructure error and is raised.

* :class:`LocalExecutor` (default): at most ``max_workers`` jobs at a time on this
  machine, supervised from threads. With ``processes=True`` each job runs in a fresh
  *spawned* process of its own (sweeps); otherwise in the thread itself (synthesis
  jobs start their own worker processes).
* :class:`RayExecutor` (``--executor ray``; ``pip install "pbrl[ray]"``): each job is
  a Ray task (``num_cpus`` per job), on a local Ray instance or the cluster at
  ``address``. The job runs on whichever node Ray picks, and its result comes back
  to the driver.
"""

from __future__ import annotations

import abc
import concurrent.futures
import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, TypeVar

from pbrl.envs.engine import usable_cores

__all__ = ["EXECUTORS", "Executor", "JobFailed", "LocalExecutor", "RayExecutor", "check_executor", "make_executor"]

T = TypeVar("T")
R = TypeVar("R")

#: names accepted by ``--executor``
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class JobFailed:
    """A job that ended without a result: it raised, or its worker process or Ray task died."""

    error: str  # "worker process failed: BrokenProcessPool: ..."
    exception: BaseException = field(repr=False, compare=False)


class Executor(abc.ABC):
    """Runs independent jobs; see the module docstring."""

    name: str = "executor"

    @abc.abstractmethod
    def as_completed(self, fn: Callable[[T], R], jobs: Sequence[T]) -> Iterator[tuple[int, R | JobFailed]]:
        """Yield ``(index, fn(jobs[index]))`` as each job finishes, a failed job as a :class:`JobFailed`."""

    def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        """``[fn(job) for job in jobs]``, run in parallel, in order; the first job to raise raises here."""
        jobs = list(jobs)
        results: list[Any] = [None] * len(jobs)
        completed = self.as_completed(fn, jobs)
        try:
            for index, result in completed:
                if isinstance(result, JobFailed):
                    raise result.exception
                results[index] = result
        finally:
            completed.close()  # cancels the jobs not yet started
        return results

    def close(self) -> None:
        """Release the executor's resources."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name}

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _in_fresh_process(fn: Callable[[T], R], job: T) -> R:
    """``fn(job)`` in a spawned process of its own, so that a process that dies fails this job alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, job).result()


class LocalExecutor(Executor):
    """Jobs on this machine, at most ``max_workers`` at once (default: the number of cores).

    Args:
        max_workers: jobs at a time.
        processes: run each job in a fresh spawned process (nothing a job leaves behind,
            threads, memory or a crash, reaches the next one), not in a thread.
    """

    name = "local"

    def __init__(self, max_workers: int | None = None, processes: bool = False):
        self.max_workers = int(max_workers or usable_cores())
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers!r}")
        self.processes = bool(processes)

    def as_completed(self, fn, jobs):
        jobs = list(jobs)
        call = functools.partial(_in_fresh_process, fn) if self.processes else fn
        failed = "worker process failed" if self.processes else "job failed"
        if self.max_workers == 1 or len(jobs) <= 1:  # in this thread: Ctrl-C stops the loop, the rest never start
            for index, job in enumerate(jobs):
                try:
                    result = call(job)
                except Exception as exc:  # noqa: BLE001 - reported to the caller, not raised
                    result = JobFailed(f"{failed}: {type(exc).__name__}: {exc}", exc)
                yield index, result
            return
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(jobs)), thread_name_prefix="pbrl-job") as pool:
            futures = {pool.submit(call, job): index for index, job in enumerate(jobs)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    try:
                        result = future.result()
                    except BaseException as exc:  # noqa: BLE001 - e.g. BrokenProcessPool: the worker process died
                        result = JobFailed(f"{failed}: {type(exc).__name__}: {exc}", exc)
                    yield futures[future], result
            finally:  # Ctrl-C or the caller stopped: the jobs not yet started never start
                for future in futures:
                    future.cancel()

    def describe(self):
        return {"kind": self.name, "max_workers": self.max_workers, **({"processes": True} if self.processes else {})}


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError('the Ray executor needs Ray: pip install "pbrl[ray]" (or pip install ray)') from None
    return ray


class RayExecutor(Executor):
    """Jobs as Ray tasks.

    Args:
        address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``); None starts
            a local Ray instance (or joins the one this process already started).
        num_cpus: CPUs each job asks Ray for.
        local_cpus: CPUs of the local instance (default: the number of cores).
        init_kwargs: more ``ray.init`` arguments.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float = 1.0, local_cpus: int | None = None,
                 **init_kwargs: Any):
        ray = self.ray = _import_ray()
        self.address = address
        self.num_cpus = float(num_cpus)
        self._started = False
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
            if address is None:
                kwargs["num_cpus"] = int(local_cpus or usable_cores())
            kwargs.update(init_kwargs)
            ray.init(address=address, **kwargs)
            self._started = True
        self._remote: dict[Callable, Any] = {}

    def as_completed(self, fn, jobs):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self.ray.remote(num_cpus=self.num_cpus, max_retries=0)(fn)
        pending = {remote.remote(job): index for index, job in enumerate(jobs)}
        try:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    index = pending.pop(ref)
                    try:
                        result = self.ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - the Ray task raised, or its worker died
                        result = JobFailed(f"Ray task failed: {type(exc).__name__}: {exc}", exc)
                    yield index, result
        finally:  # Ctrl-C or the caller stopped: cancel what is left
            for ref in pending:
                self.ray.cancel(ref)

    def close(self):
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def describe(self):
        return {"kind": self.name, "address": self.address, "num_cpus_per_job": self.num_cpus}


def check_executor(name: str) -> None:
    """Raise now, before any work, what :func:`make_executor` would: an unknown name, or Ray not installed."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")
    if name == "ray":
        _import_ray()


def make_executor(name: str = "local", max_workers: int | None = None, *, processes: bool = False,
                  **ray_kwargs: Any) -> Executor:
    """An executor by name: ``"local"`` (``max_workers`` jobs at a time, in fresh ``processes`` or threads) or
    ``"ray"`` (:class:`RayExecutor`'s ``ray_kwargs``: ``address``, ``num_cpus`` per job, ...); the options of the
    other kind are ignored, so that one call serves both."""
    check_executor(name)
    if name == "local":
        return LocalExecutor(max_workers, processes=processes)
    return RayExecutor(**ray_kwargs)
