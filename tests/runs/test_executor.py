"""The executor's results as they finish: real worker processes, one that dies, and leaving early."""

import importlib.util
import os
import threading
import time

import pytest

from pbrl.runs.executor import JobFailed, LocalExecutor, make_executor


def act(job):
    """A job: ``("wait", path)`` waits for the file ``path``; ``("touch", path)`` writes it; ``("die",)`` kills its process."""
    what = job[0]
    if what == "die":
        os._exit(3)
    if what == "raise":
        raise ValueError("bad job")
    if what == "touch":
        open(job[1], "w").close()
    if what == "wait":
        deadline = time.monotonic() + 60
        while not os.path.exists(job[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(job[1]):
            return what, "gave up waiting", os.getpid()
    return what, "done", os.getpid()


def test_results_come_as_they_finish_each_job_in_its_own_process_and_a_dead_one_is_reported(tmp_path):
    marker, seen_2 = str(tmp_path / "marker"), str(tmp_path / "seen-2")
    jobs = [("wait", seen_2), ("die",), ("touch", marker), ("raise",)]
    seen = []
    with make_executor("local", 3, processes=True) as ex:
        assert ex.describe() == {"kind": "local", "max_workers": 3, "processes": True}
        for index, result in ex.as_completed(act, jobs):
            seen.append((index, result))
            if index == 2:  # job 0 finishes only once job 2's result has come back here
                open(seen_2, "w").close()
    order = [index for index, _ in seen]
    assert sorted(order) == [0, 1, 2, 3] and order.index(2) < order.index(0)
    results = dict(seen)
    # the process that died fails its own job, not the others (each job has a fresh process of its own)
    assert isinstance(results[1], JobFailed) and results[1].error.startswith("worker process failed: BrokenProcessPool")
    assert isinstance(results[3], JobFailed) and results[3].error == "worker process failed: ValueError: bad job"
    assert results[0][:2] == ("wait", "done") and results[2][:2] == ("touch", "done")
    assert len({results[0][2], results[2][2], os.getpid()}) == 3
    # map keeps the order, and raises what a job raised
    assert [r[:2] for r in LocalExecutor(2, processes=True).map(act, [("touch", marker), ("wait", marker)])] == [
        ("touch", "done"), ("wait", "done")]
    with pytest.raises(ValueError, match="bad job"):
        LocalExecutor(2, processes=True).map(act, [("touch", marker), ("raise",)])


def test_leaving_early_cancels_the_jobs_not_yet_started(monkeypatch):
    import concurrent.futures

    started, release = [], threading.Event()
    cancel, asked = concurrent.futures.Future.cancel, []

    def cancel_then_release(future):  # once every job was asked to cancel, the two running ones may end
        done = cancel(future)
        asked.append(done)
        if len(asked) == len(jobs):
            release.set()
        return done

    monkeypatch.setattr(concurrent.futures.Future, "cancel", cancel_then_release)

    def job(i):
        started.append(i)
        if i:
            release.wait(60)
        return i

    jobs = list(range(6))
    completed = LocalExecutor(2).as_completed(job, jobs)
    assert next(completed) == (0, 0)
    deadline = time.monotonic() + 60
    while len(started) < 3 and time.monotonic() < deadline:  # jobs 1 and 2 now hold the two threads
        time.sleep(0.01)
    completed.close()  # what Ctrl-C in the caller's loop does: the jobs not yet started never start
    assert sorted(started) == [0, 1, 2] and asked.count(True) == 3  # jobs 3, 4 and 5 were cancelled
    monkeypatch.undo()
    # in the caller's thread (one worker), a job that raises is reported and the next one still runs
    assert list(LocalExecutor(1).as_completed(lambda x: 1 // x, [0, 1]))[1] == (1, 1)
    (failed,) = [r for _, r in LocalExecutor(1).as_completed(lambda x: 1 // x, [0])]
    assert failed.error == "job failed: ZeroDivisionError: integer division or modulo by zero"


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='Ray is an optional extra: pip install "pbrl[ray]"')
def test_ray_reports_a_task_whose_worker_dies(tmp_path):
    import sys

    from ray import cloudpickle

    # Ray's workers cannot import this test module (pbrl's own jobs live in pbrl, which they can): send `act` by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = str(tmp_path / "marker")
    with make_executor("ray", address=None, num_cpus=1, local_cpus=2) as ex:
        results = dict(ex.as_completed(act, [("touch", marker), ("die",)]))
    assert results[0][:2] == ("touch", "done")
    assert isinstance(results[1], JobFailed) and results[1].error.startswith("Ray task failed:")
