"""Reward synthesis's sandbox: candidate programs run only in their reward worker.

The hostile-program corpus itself (every route out of a program, layer by layer) is in
``tests/sandbox/test_sandbox_security.py``: it runs against the reward worker that every path
uses. Here: synthesis's jobs put the program in that worker and never in the training
worker (``pbrl.synthesis.worker``), its failures come back named, its layers are recorded
with the candidate, hostile programs leave the host untouched through the probe and the
training stage, and the parent reads what the training worker writes with distrust.
"""

import json
import os

import numpy as np
import pytest

from pbrl.sandbox import jail
from pbrl.sandbox.check import check_program
from pbrl.sandbox.client import isolation_status
from pbrl.synthesis.errors import DisallowedConstruct
from pbrl.synthesis.jobs import ProbeJob, TrainJob, run_probe_job, run_train_job

TASK = "pbrl/HalfCheetah-v5"
#: the sandboxes of this module put their working directories here
TMP_ROOT = None


@pytest.fixture(autouse=True, scope="module")
def _tmp_root(tmp_path_factory):
    global TMP_ROOT
    TMP_ROOT = str(tmp_path_factory.mktemp("sandboxes"))
    yield


NAMESPACES = isolation_status()[0]
TASK_LIMIT = NAMESPACES and jail._kernel_version() >= jail.PER_NAMESPACE_PID_MAX
TINY_HP = None
H = "def compute_reward(obs, action, next_obs, info):\n"
GOOD = "import numpy as np\n\n" + H + "    return info['x_velocity'] - 0.1 * np.sum(action ** 2, axis=1), {'run': info['x_velocity']}\n"


def tiny_hp():
    global TINY_HP
    if TINY_HP is None:
        from pbrl.agents.online.hyperparams import resolve

        TINY_HP = resolve("ppo", TASK, {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": [16, 16]})
    return TINY_HP


def sandbox(static=True, guard=True, **kw):
    cfg = dict(static_check=static, runtime_guard=guard, probe_timeout=30.0, grace=1.0, memory_mb=512, call_timeout=10.0)
    cfg.update(kw)
    return cfg


def probe(source, **sandbox_kw):
    sandbox_kw.setdefault("tmp_root", TMP_ROOT)
    return run_probe_job(ProbeJob("hostile", TASK, source, "quantities", seed=0, sandbox=sandbox(**sandbox_kw), steps=8, num_envs=2))


def train(source, **sandbox_kw):
    sandbox_kw.setdefault("tmp_root", TMP_ROOT)
    return run_train_job(TrainJob("hostile", TASK, source, "quantities", seed=0, steps=256, hyperparams=tiny_hp(),
                                  eval_episodes=1, sandbox=sandbox(**sandbox_kw)))


def kinds(result):
    return None if result.ok else result.failure["kind"]


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield str(path)
    assert not path.exists(), "a hostile program wrote outside its sandbox"


def test_a_good_program_probes_and_trains_in_its_reward_worker():
    r = probe(GOOD)
    assert r.ok, r.failure
    layers = r.result["layers_reported"]
    worker = layers["reward_worker"]                          # the program's own worker, recorded with the candidate
    assert worker["runtime_guard"] and worker["rlimits"]["address_space_mb"] > 512
    if NAMESPACES:
        assert worker["empty_root"] and worker["network_isolated"] and worker["capabilities_dropped"]
        assert layers["filesystem_readonly"] and layers["hidden"]     # the training worker stays contained too
    if TASK_LIMIT:
        assert worker["task_limit"] == 400
    assert np.isfinite(r.result["probe"]["reward"]["mean"]) and set(r.result["probe"]["terms"]) == {"run"}
    t = train(GOOD)
    assert t.ok, t.failure
    assert set(t.result["curves"]["program_terms"]) == {"run"} and set(t.result["curves"]["task_terms"]) == {"forward", "ctrl"}
    assert abs(t.fitness["fitness"]) < 100 and t.weights


def test_the_training_worker_never_sees_the_program(tmp_path):
    # The job file of the training worker holds no program; the pipe to the reward worker is all it has.
    r = run_probe_job(ProbeJob("c", TASK, GOOD, "quantities", seed=0, steps=4, num_envs=2,
                               sandbox=sandbox(keep_workdirs=True, tmp_root=str(tmp_path))))
    assert r.ok, r.failure
    jobs = [os.path.join(d, "job.json") for d in (tmp_path.iterdir()) if (d / "job.json").exists()]
    assert len(jobs) == 1
    job = json.load(open(jobs[0]))
    assert job["program"] is None and "compute_reward" not in open(jobs[0]).read()
    assert set(job["reward_worker"]) == {"read_fd", "write_fd", "limits"}


def test_hostile_programs_through_probe_and_training(marker, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-synthesis-secret")
    escape = ("import numpy as np\n\n" + H +
              f"    np.ma.core.builtins.open('{marker}', 'w')\n"
              "    raise ValueError(str(np.lib._npyio_impl.os.environ))\n")
    with pytest.raises(DisallowedConstruct) as refused:
        check_program(escape)
    assert "numpy.ma" in refused.value.detail and "numpy.lib" in refused.value.detail
    assert kinds(probe(escape)) == "disallowed"
    layers = [{"static": False}]
    if NAMESPACES or os.uname().machine in jail.SECCOMP_ALLOWED:
        layers.append({"static": False, "guard": False})
    if NAMESPACES:  # without the guard and the filter, only the namespaces contain it: not run where there are none
        layers.append({"static": False, "guard": False, "seccomp": False})
    for kw in layers:
        r = probe(escape, **kw)
        assert kinds(r) in ("guard_violation", "runtime_error")
        assert "sk-synthesis-secret" not in r.failure["message"] + r.failure["detail"]
    tamper = H + "    info['x_velocity'][:] = 1e6\n    return info['x_velocity'], {}\n"
    check_program(tamper)                                     # passes the static check ...
    r = train(tamper)
    assert kinds(r) == "runtime_error" and "read-only" in r.failure["message"]     # ... and meets read-only arrays
    nan_later = "import numpy as np\n\n" + H + "    return np.where(info['x_velocity'] > 0.2, np.nan, 0.0), {}\n"
    r = train(nan_later)
    assert kinds(r) == "non_finite" and "the reward is NaN" in r.failure["message"]


def test_limits_end_the_candidate_not_the_run():
    bomb = "import numpy as np\n\n" + H + "    x = np.ones((1 << 16, 1 << 16))\n    return info['x_velocity'], {}\n"
    assert kinds(probe(bomb)) == "out_of_memory"
    loop = H + "    for i in range(10 ** 12):\n        pass\n    return info['x_velocity'], {}\n"
    r = probe(loop, call_timeout=2.0)
    assert kinds(r) in ("cpu_time", "timeout") and "per call" in r.failure["message"]
    many = H + "    r = info['x_velocity']\n    return r, {'t' + str(i): r for i in range(100000)}\n"
    assert kinds(probe(many)) == "wrong_shape"


def test_the_task_cap_never_touches_the_hosts_pid_max(monkeypatch):
    # Before Linux 6.14 /proc/sys/kernel/pid_max is global: writing it would cap the whole machine.
    def no_open(path, *args, **kwargs):
        raise AssertionError(f"limit_tasks opened {path}")

    monkeypatch.setattr(jail, "open", no_open, raising=False)     # any write attempt fails the test, harmlessly
    assert jail.limit_tasks(400)["ok"] is False                    # not process 1 of a PID namespace
    monkeypatch.setattr(jail.os, "getpid", lambda: 1)
    out = jail.limit_tasks(400, release="6.13.7-generic")
    assert out["ok"] is False and "global" in out["reason"]
    assert jail._kernel_version("6.14.0-rc1") == (6, 14) and jail._kernel_version("garbage") == (0, 0)


# -- what crosses back from the training worker ------------------------------------------------------


def test_a_zip_bomb_in_the_weights_file_is_refused_before_unpacking(tmp_path):
    from pbrl.agents import make_agent
    from pbrl.synthesis.errors import TamperedOutput
    from pbrl.synthesis.weights import load_weights, save_weights

    hp = dict(tiny_hp(), n_envs=1)
    agent = make_agent("ppo", TASK, hp, seed=0)
    good = tmp_path / "good.npz"
    save_weights(agent, str(good))
    load_weights(agent, str(good))                                      # the honest file loads
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    key = next(iter(arrays))
    arrays[key] = np.zeros(2_000_000)                                   # 16 MB of zeros, ~16 KB compressed
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, **arrays)
    assert os.path.getsize(bomb) < 200_000
    with pytest.raises(TamperedOutput, match="more than the policy needs"):
        load_weights(agent, str(bomb))


def test_what_crosses_back_is_read_and_validated_with_distrust(tmp_path):
    from pbrl.synthesis.errors import OutputLimitExceeded, TamperedOutput
    from pbrl.synthesis.sandbox import WORKER_FORMAT, read_regular_file, validate_result

    secret = tmp_path / "secret"
    secret.write_text("host file")
    link = tmp_path / "result.json"
    link.symlink_to(secret)                                             # a link to a file of the host
    with pytest.raises(TamperedOutput, match="symbolic link"):
        read_regular_file(str(link), 1 << 20)
    fifo = tmp_path / "weights.npz"
    os.mkfifo(fifo)                                                     # would block a naive reader forever
    with pytest.raises(TamperedOutput, match="not a regular file"):
        read_regular_file(str(fifo), 1 << 20)
    big = tmp_path / "big.json"
    big.write_bytes(b"0" * 2048)
    with pytest.raises(OutputLimitExceeded):
        read_regular_file(str(big), 1024)
    probe_result = {"format": WORKER_FORMAT, "stage": "probe", "ok": True, "failure": None, "correlation": 0.5,
                    "probe": {"reward": {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0, "count": 8}, "terms": {}},
                    "fitness": 1e9, "layers": {"namespaces": "yes", "rlimits": {"nproc": "many", "cpu_seconds": 9}}}
    clean = validate_result(json.loads(json.dumps(probe_result)), "probe")
    assert "fitness" not in clean and clean["layers_reported"] == {"rlimits": {"cpu_seconds": 9}, "hidden": [], "task_limit": None}
    for bad in ({"correlation": float("nan")}, {"correlation": 3.0}, {"stage": "train"},
                {"probe": {"reward": probe_result["probe"]["reward"], "terms": {"bad name!": probe_result["probe"]["reward"]}}}):
        with pytest.raises(TamperedOutput):
            validate_result(json.loads(json.dumps(dict(probe_result, **bad))), "probe")
    failed = validate_result({"format": WORKER_FORMAT, "stage": "probe", "ok": False,
                              "failure": {"kind": "runtime_error", "message": "x\x1b[2Jy" * 1000, "detail": None}}, "probe")
    assert "\x1b" not in failed["failure"]["message"] and len(failed["failure"]["message"]) <= 2000


def test_the_probe_gives_every_step_the_quantities():
    # One Hopper under random actions falls within the probe: on the step where its only sub-env
    # resets, the vector env's top-level info holds reset keys only; the program still gets the
    # step's quantities.
    src = H + "    return info['x_velocity'], {}\n"
    r = run_probe_job(ProbeJob("c", "pbrl/Hopper-v5", src, "quantities", seed=0, steps=64, num_envs=1,
                               sandbox=sandbox(tmp_root=TMP_ROOT)))
    assert r.ok, r.failure
