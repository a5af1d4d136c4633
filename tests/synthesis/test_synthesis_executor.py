"""The executor interface: the local pool, and Ray (optional extra) with a local Ray instance."""

import importlib.util

import numpy as np
import pytest

from pbrl.runs.executor import LocalExecutor, make_executor
from pbrl.synthesis.jobs import ProbeJob, TrainJob, run_probe_job, run_train_job

PROGRAM = "import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'], {}\n"
HOSTILE = "import os\n" + PROGRAM


def square(x):
    return x * x


def test_local_executor_keeps_order():
    with LocalExecutor(max_workers=2) as ex:
        assert ex.map(square, list(range(7))) == [x * x for x in range(7)]
        assert ex.map(square, []) == []
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("dask")


#: the sandbox with its static check switched off (a testing switch), so the hostile program reaches the worker
NO_STATIC = {"static_check": False}


def test_local_executor_runs_probe_jobs_in_parallel():
    jobs = [ProbeJob("0", "pbrl/Reacher-v5", PROGRAM.replace("x_velocity", "distance"), steps=8, num_envs=2),
            ProbeJob("1", "pbrl/Reacher-v5", HOSTILE, steps=8, num_envs=2, sandbox=NO_STATIC),
            ProbeJob("2", "pbrl/Reacher-v5", HOSTILE, steps=8, num_envs=2)]
    first, second, third = make_executor("local", 2).map(run_probe_job, jobs)
    assert first.ok and first.candidate == "0"
    assert second.failure["kind"] == "guard_violation" and second.candidate == "1"
    # every job runs the static check before it starts a worker
    assert third.failure["kind"] == "disallowed" and third.failure["stage"] == "static_check" and not third.isolation


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='Ray is an optional extra: pip install "pbrl[ray]"')
def test_ray_executor_with_a_local_instance():
    from pbrl.agents.online.hyperparams import resolve

    from pbrl.runs.executor import RayExecutor

    hp = resolve("ppo", "pbrl/HalfCheetah-v5", {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": [16, 16]})
    ex = RayExecutor(num_cpus=1, local_cpus=2)
    try:
        assert ex.describe()["kind"] == "ray"
        probes = ex.map(run_probe_job, [ProbeJob("a", "pbrl/HalfCheetah-v5", PROGRAM, steps=8, num_envs=2),
                                        ProbeJob("b", "pbrl/HalfCheetah-v5", HOSTILE, steps=8, num_envs=2, sandbox=NO_STATIC)])
        assert probes[0].ok and probes[1].failure["kind"] == "guard_violation"
        (trained,) = ex.map(run_train_job, [TrainJob("t", "pbrl/HalfCheetah-v5", PROGRAM, "quantities", seed=0, steps=256,
                                                     hyperparams=hp, eval_episodes=1)])
        assert trained.ok, trained.failure
        assert trained.weights[:2] == b"PK" and np.isfinite(trained.fitness["fitness"])  # weights came back as bytes
    finally:
        ex.close()
