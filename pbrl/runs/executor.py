"""The executor interface: many independent jobs (reward candidates, seeds) in parallel.

An :class:`Executor` maps a module-level function over job objects and returns the
results in order. Jobs never raise for a candidate's failure (they return it as
data); an exception from the executor itself is an infrastructure error.

* :class:`LocalExecutor` (default): at most ``max_workers`` jobs at a time on this
  machine. Each job starts its own worker processes (the sandboxed worker, then the
  trusted evaluation), so the pool only supervises them from threads.
* :class:`RayExecutor` (``--executor ray``; ``pip install "pbrl[ray]"``): each job is
  a Ray task (``num_cpus`` per job), on a local Ray instance or the cluster at
  ``address``. The job runs the same sandbox on whichever node Ray picks, and the
  results (with weights as bytes) come back to the driver, which owns the run folder.
"""

from __future__ import annotations

import abc
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

from pbrl.envs.engine import usable_cores

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

T = TypeVar("T")
R = TypeVar("R")


class Executor(abc.ABC):
    """Runs independent jobs; see the module docstring."""

    name: str = "executor"

    @abc.abstractmethod
    def map(self, fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
        """``[fn(job) for job in jobs]``, run in parallel, in order."""

    def close(self) -> None:
        """Release the executor's resources."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name}

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class LocalExecutor(Executor):
    """Jobs on this machine, at most ``max_workers`` at once (default: the number of cores)."""

    name = "local"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = int(max_workers or usable_cores())
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers!r}")

    def map(self, fn, jobs):
        jobs = list(jobs)
        if not jobs:
            return []
        if self.max_workers == 1 or len(jobs) == 1:
            return [fn(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(jobs)), thread_name_prefix="pbrl-job") as pool:
            return list(pool.map(fn, jobs))

    def describe(self):
        return {"kind": self.name, "max_workers": self.max_workers}


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
        try:
            import ray
        except ImportError:
            raise ImportError('the Ray executor needs Ray: pip install "pbrl[ray]" (or pip install ray)') from None
        self.ray = ray
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

    def map(self, fn, jobs):
        jobs = list(jobs)
        if not jobs:
            return []
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self.ray.remote(num_cpus=self.num_cpus, max_retries=0)(fn)
        return self.ray.get([remote.remote(job) for job in jobs])

    def close(self):
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def describe(self):
        return {"kind": self.name, "address": self.address, "num_cpus_per_job": self.num_cpus}


#: names accepted by ``--executor``
EXECUTORS = ("local", "ray")


def make_executor(name: str = "local", max_workers: int | None = None, **kwargs: Any) -> Executor:
    """An executor by name (``"local"`` or ``"ray"``)."""
    if name == "local":
        return LocalExecutor(max_workers)
    if name == "ray":
        return RayExecutor(**kwargs)
    raise ValueError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")
