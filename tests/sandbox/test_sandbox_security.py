"""The hostile-program corpus: every route out of a reward program, tried against the reward worker.

Four layers stand between an untrusted reward program and the machine (pbrl/synthesis/README.md,
"Security", has the table of which layer stops what):

* S — the static check (``pbrl/sandbox/check.py``), on the trusted side, before anything runs;
* G — the runtime guard inside the reward worker (``guard.py``): restricted builtins and imports,
  dangerous functions of every loaded module replaced;
* F — the worker's seccomp filter (``jail.install_seccomp``): no open, exec, fork, socket, kill;
* O — the rest of the OS layer (``jail.py``, ``client.py``): namespaces (no network, own PIDs),
  an empty read-only root file system, no capabilities, rlimits, per-call CPU and wall-clock
  limits, a scrubbed environment, read-only input arrays; and the trusted side's checks of
  every answer.

Every attack runs with all layers, then with S off, with S and G off, and with S, G and F off
(the namespaces and limits alone), to show what each layer contains by itself. Programs that pass
the static check run with all layers. The switches exist for these tests only. After each run the
test checks the host: marker files absent, secrets absent from every message, this process's
numpy and environment untouched.
"""

import os
import socket
import threading

import numpy as np
import pytest

from pbrl.sandbox import jail
from pbrl.sandbox.check import check_program
from pbrl.sandbox.client import RewardWorker, WorkerLimits, isolation_status
from pbrl.sandbox.errors import DisallowedConstruct, ProgramFailure

NAMESPACES = isolation_status()[0]
#: the worker's PID namespace caps its tasks (pid_max per namespace: Linux >= 6.14)
TASK_LIMIT = NAMESPACES and jail._kernel_version() >= jail.PER_NAMESPACE_PID_MAX
SECCOMP = os.uname().machine in jail.SECCOMP_ALLOWED
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="unshare/namespaces unavailable here")

ALL = {}
NO_S = {"static_check": False}
NO_SG = {"static_check": False, "runtime_guard": False}
NO_SGF = {"static_check": False, "runtime_guard": False, "seccomp": False}
LIMITS = WorkerLimits(memory_mb=256, call_timeout=10.0, cpu_seconds=3.0)
SECRET = "sk-pbrl-test-secret-0123456789"
H = "def compute_reward(obs, action, next_obs, info):\n"
RETURN = "    return info['x_velocity'], {}\n"
_ISFINITE = np.isfinite


def run(source, limits=LIMITS, **switches):
    """``("ok", reward)`` or ``(kind, message + detail)`` of loading ``source`` and one call on 4 rows.

    A hostile program with neither the runtime guard nor a seccomp filter is contained by the
    namespaces alone: where there are none (or ``isolation="off"``), it is not run at all."""
    namespaces = NAMESPACES and limits.isolation != "off"
    filtered = SECCOMP and switches.get("seccomp", True)
    if not switches.get("runtime_guard", True) and not (namespaces or filtered):
        pytest.skip("no namespaces and no seccomp filter here: an unguarded hostile program would not be contained")
    obs = np.arange(4 * 17, dtype=np.float64).reshape(4, 17)
    info = {"x_velocity": np.array([1.0, 2.0, 3.0, 4.0]), "reward_terms": {"forward": np.ones(4), "ctrl": -np.ones(4)}}
    kept = {k: (v.copy() if isinstance(v, np.ndarray) else {s: a.copy() for s, a in v.items()}) for k, v in info.items()}
    try:
        with RewardWorker(source, name="hostile.py", limits=limits, **switches) as worker:
            reward, terms = worker(obs, obs[:, :6], obs, info)
            outcome = ("ok", reward)
    except ProgramFailure as exc:
        outcome = (exc.kind, exc.message + "\n" + exc.detail)
    # the trusted side's arrays are untouched, whatever the program did to its copies
    np.testing.assert_array_equal(info["x_velocity"], kept["x_velocity"])
    np.testing.assert_array_equal(info["reward_terms"]["forward"], kept["reward_terms"]["forward"])
    assert np.isfinite is _ISFINITE                       # this process's numpy is this process's
    return outcome


@pytest.fixture
def marker(tmp_path):
    """A path on the host that a hostile program tries to create."""
    path = tmp_path / "PWNED"
    yield str(path)
    assert not path.exists(), "a hostile program wrote outside its sandbox"


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def refused(source, *words):
    with pytest.raises(DisallowedConstruct) as info:
        check_program(source)
    text = info.value.message + "\n" + info.value.detail
    for word in words:
        assert word in text
    kind, _ = run(source)
    assert kind == "disallowed"


# -- processes and shells ------------------------------------------------------------------------


def test_os_system(marker):
    src = f"import os\n{H}    os.system('touch {marker}')\n{RETURN}"
    refused(src, "import 'os'")
    kind, text = run(src, **NO_S)
    assert kind == "guard_violation" and "import of 'os'" in text                  # G: no import of os
    assert run(src, **NO_SG)[0] == "ok"                                            # F: fork fails, system() returns -1
    assert run(src, **NO_SGF)[0] == "ok"                                           # O: no /bin/sh in an empty root


def test_posix_system_through_sys_modules(marker):
    # The worker's guard used to replace os.system but not posix.system.
    src = f"import sys\n{H}    sys.modules['posix'].system('touch {marker}')\n{RETURN}"
    refused(src, "import 'sys'")
    via_numpy = f"import numpy as np\n{H}    np.lib._npyio_impl.os.sys.modules['posix'].system('touch {marker}')\n{RETURN}"
    refused(via_numpy, "numpy.lib")
    kind, text = run(via_numpy, **NO_S)
    assert kind == "guard_violation" and "posix.system" in text                    # G covers posix, not only os
    assert run(via_numpy, **NO_SG)[0] == "ok"
    assert run(via_numpy, **NO_SGF)[0] == "ok"


def test_numpy_submodules_reaching_operator_and_builtins(marker):
    # The routes found from outside: public numpy submodules re-export operator, builtins, os...
    for src in (
        f"import numpy as np\n{H}    np.ma.core.builtins.open('{marker}', 'w')\n{RETURN}",
        f"import numpy as np\n{H}    np.random.mtrand.operator.methodcaller('system', 'touch {marker}')(np.lib._npyio_impl.os)\n{RETURN}",
        f"from numpy.ma import core\n{H}    core.builtins.open('{marker}', 'w')\n{RETURN}",
        f"import numpy.testing\n{H}    numpy.testing.assert_equal(1, 1)\n{RETURN}",
        f"import numpy.typing\n{H}    return info['x_velocity'], {{}}\n",
        f"import numpy as np\n{H}    f = np.tests\n{RETURN}",
    ):
        refused(src)
    src = f"import numpy as np\n{H}    np.ma.core.builtins.open('{marker}', 'w')\n{RETURN}"
    kind, text = run(src, **NO_S)
    assert kind == "guard_violation" and "builtins.open" in text
    kind, text = run(src, **NO_SG)
    assert kind == "runtime_error" and "Operation not permitted" in text           # F: no open()
    kind, text = run(src, **NO_SGF)
    assert kind == "runtime_error" and ("Read-only file system" in text or "No such file" in text)  # O: empty, read-only root


def test_attrgetter_with_string_built_dunders(marker):
    # attrgetter/methodcaller turn strings into attribute names: neither the '_' attribute rule nor
    # the '__'-in-a-string rule sees "_" + "_class_" + "_".
    src = (f"import numpy as np\n{H}"
           "    u = '_' + '_'\n"
           "    get = np.ma.core.operator.attrgetter(u + 'class' + u + '.' + u + 'base' + u)\n"
           "    walk = np.ma.core.operator.methodcaller(u + 'subclasses' + u)\n"
           "    name = np.ma.core.operator.attrgetter(u + 'name' + u)\n"
           "    meta = np.ma.core.operator.attrgetter(u + 'class' + u)(int)\n"
           "    mro = np.ma.core.operator.attrgetter(u + 'mro' + u)\n"
           "    todo, found = [get(())], []\n"
           "    for step in range(100000):\n"
           "        if not todo:\n            break\n"
           "        c = todo.pop()\n"
           "        found += [c] if name(c) == 'FileIO' else []\n"
           "        todo += walk(c) if isinstance(c, meta) and meta not in mro(c) else []\n"
           f"    found[0]('{marker}', 'w')\n"
           f"{RETURN}")
    refused(src, "numpy.ma", "attrgetter")
    # The guard cannot take a class away from a walk over subclasses: the seccomp filter refuses the open ...
    kind, text = run(src, **NO_S)
    assert kind == "runtime_error" and "Operation not permitted" in text, text
    assert run(src, **NO_SG)[0] == "runtime_error"
    kind, text = run(src, **NO_SGF)                                                # ... and without it, the
    assert kind == "runtime_error" and ("Read-only" in text or "No such file" in text), text   # root is empty and read-only


def test_subclasses_walk_to_os_system(marker):
    src = (f"{H}    for c in ().__class__.__base__.__subclasses__():\n"
           "        if c.__name__ == '_wrap_close':\n"
           f"            c.__init__.__globals__['system']('touch {marker}')\n{RETURN}")
    refused(src, "attributes starting with '_'")
    kind, text = run(src, **NO_S)
    assert kind in ("guard_violation", "ok")          # _wrap_close lives in os; its system() is replaced when loaded
    assert run(src, **NO_SG)[0] == "ok"                                            # F: fork fails
    assert run(src, **NO_SGF)[0] == "ok"                                           # O: no shell to run


def test_ctypes_reaching_libc(marker):
    src = f"import ctypes\n{H}    ctypes.CDLL(None).system(b'touch {marker}')\n{RETURN}"
    refused(src, "import 'ctypes'")
    assert run(src, **NO_S)[0] == "guard_violation"
    run(src, **NO_SG)                                                              # F: fork/exec fail inside system()
    run(src, **NO_SGF)                                                             # O: no shell; the marker fixture checks


def test_frame_walking_to_the_workers_globals(marker):
    # From the program's frame up to the worker's module: its saved setrlimit, its protocol...
    src = (f"{H}    try:\n        1 / 0\n    except ZeroDivisionError as e:\n        frame = e.__traceback__.tb_frame\n"
           "    while frame is not None and '_setrlimit' not in frame.f_globals:\n        frame = frame.f_back\n"
           "    g = frame.f_globals\n"
           f"    g['builtins'].open('{marker}', 'w')\n{RETURN}")
    with pytest.raises(DisallowedConstruct) as info:
        check_program(src)
    assert "try" in info.value.detail and "__traceback__" in info.value.detail
    assert run(src, **NO_S)[0] in ("guard_violation", "runtime_error")            # G does not stop frame walks ...
    assert run(src, **NO_SG)[0] == "runtime_error"                                 # ... F and O do: no file opens


@needs_namespaces
def test_fork_bomb_and_kill_everything():
    parent = os.getppid()  # 1 when the test runner was started detached (nohup ... &): still a parent to check
    bomb = f"import os\n{H}    for i in range(100000):\n        os.fork()\n{RETURN}"
    refused(bomb, "import 'os'")
    assert run(bomb, **NO_S)[0] == "guard_violation"
    kind, text = run(bomb, **NO_SG)
    assert kind == "runtime_error" and ("Operation not permitted" in text or not SECCOMP)   # F: fork refused at once
    if TASK_LIMIT:
        kind, text = run(bomb, **NO_SGF)                           # O: the PID namespace's own pid_max
        assert kind == "runtime_error" and "Resource temporarily unavailable" in text
    killer = f"import os\n{H}    os.kill(-1, 9)\n{RETURN}"
    refused(killer)
    kind, text = run(killer, **NO_SG)
    assert kind == "runtime_error"                                                 # F: no kill()
    kind, text = run(killer, **NO_SGF)                                             # O: kill(-1) reaches only its namespace
    assert kind in ("runtime_error", "crashed", "ok")
    assert os.getppid() == parent                                                  # this process and its parent live
    try:
        os.kill(parent, 0)                                                         # ProcessLookupError if it is gone
    except PermissionError:                                                        # it exists (another user's, e.g. init)
        pass


# -- files, the environment, the network ------------------------------------------------------------


def test_reading_host_files_never_reaches_a_message(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-FILE-CONTENT")
    for path in (str(secret), "/etc/passwd", "/etc/hostname", os.path.abspath(np.__file__)):
        src = f"{H}    raise ValueError(open({path!r}).read())\n"
        refused(src, "'open'")
        via_numpy = f"import numpy as np\n{H}    raise ValueError(str(np.loadtxt({path!r}, dtype=str)))\n"
        refused(via_numpy, "'loadtxt'")
        for switches in (NO_S, NO_SG, NO_SGF):
            for program in (src, via_numpy):
                kind, text = run(program, **switches)
                assert kind in ("runtime_error", "guard_violation"), (kind, text)
                assert "TOPSECRET" not in text and "root:" not in text
                if switches is not NO_S and program is src:                        # a clear error names the file
                    assert "no files to read or write" in text and path in text, text
    listing = f"import os\n{H}    raise ValueError(str(os.listdir('/')))\n"
    kind, text = run(listing, **NO_SGF)
    if NAMESPACES:
        assert kind == "runtime_error" and "ValueError: []" in text                # O: the root is empty


def test_environment_and_secrets(monkeypatch):
    src = f"import os\n{H}    raise ValueError(repr(dict(os.environ)))\n"
    refused(src)
    for switches in (NO_SG, NO_SGF):
        kind, text = run(src, **switches)
        assert kind == "runtime_error" and SECRET not in text and "OPENAI_API_KEY" not in text
    proc_environ = f"{H}    raise ValueError(open('/proc/1/environ').read() + open('/proc/self/environ').read())\n"
    kind, text = run(proc_environ, **NO_SGF)
    assert kind == "runtime_error" and SECRET not in text


def test_socket_to_loopback_gets_nowhere():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    received, stop = [], threading.Event()

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
    src = (f"import numpy as np\n{H}"
           "    s = np.lib._npyio_impl.os.sys.modules['_socket'].socket(2, 1)\n"
           f"    s.connect(('127.0.0.1', {port}))\n    s.send(b'secret')\n{RETURN}")
    try:
        refused(src)
        for switches in (NO_S, NO_SG, NO_SGF):
            assert run(src, **switches)[0] in ("runtime_error", "guard_violation")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert received == []


# -- what trusted code measures ----------------------------------------------------------------------


def test_writing_into_the_inputs_changes_nothing():
    # Subscript assignment passes the static check: the arrays themselves are read-only.
    for target in ("info['x_velocity']", "info['reward_terms']['forward']", "obs", "next_obs", "action"):
        src = f"{H}    {target}[:] = 1e6\n{RETURN}"
        check_program(src)
        kind, text = run(src)
        assert kind == "runtime_error" and "read-only" in text, (target, text)
    for src in (f"import numpy as np\n{H}    np.copyto(info['x_velocity'], 1e6)\n{RETURN}",
                f"{H}    info['x_velocity'].setflags(write=True)\n{RETURN}"):
        refused(src)
        kind, text = run(src, **NO_SGF)
        assert kind == "runtime_error" and ("read-only" in text or "WRITEABLE" in text)
    # adding keys to info is harmless: each call gets a fresh dict
    src = f"{H}    info['x_velocity'] = info['x_velocity'] * 0 + 1e6\n    return info['x_velocity'], {{}}\n"
    kind, reward = run(src)
    assert kind == "ok" and np.all(reward == 1e6)


def test_rebinding_numpy_functions_changes_nothing_outside():
    src = f"import numpy as np\nnp.isfinite = lambda x: np.ones(np.shape(x), bool)\n{H}    return info['x_velocity'] * np.nan, {{}}\n"
    refused(src, "assigning to attribute 'isfinite'")
    for switches in (NO_S, NO_SGF):
        kind, text = run(src, **switches)                  # rebinding happens in the worker only; the
        assert kind == "non_finite" and "NaN" in text      # trusted side checks with its own numpy
    assert np.isfinite(np.nan) == False  # noqa: E712


def test_forged_answers_are_refused():
    # A program that writes its own frames to the worker's stdout: the trusted side reads exactly
    # the bytes it expects, refuses oversized frames, and checks what it decodes.
    forge = ("import os\nimport struct\n" + H +
             "    os.write(1, struct.pack('<II', 8, 2 ** 31) + b'{\"ok\":1}')\n" + RETURN)
    kind, text = run(forge, **NO_SGF)
    assert kind in ("tampered_output", "crashed")


# -- limits -------------------------------------------------------------------------------------------


def test_memory_bombs():
    for src in (f"import numpy as np\n{H}    x = np.ones((1 << 16, 1 << 15))\n{RETURN}",
                f"import numpy as np\n{H}    x = np.broadcast_to(np.ones(1), (1 << 20, 1 << 12)).copy()\n{RETURN}",
                f"{H}    keep = []\n    for i in range(10 ** 6):\n        keep.append(list(range(10 ** 4)))\n{RETURN}"):
        check_program(src)
        kind, text = run(src)
        assert kind == "out_of_memory" and "256 MB" in text


def test_cpu_bombs_are_stopped_per_call():
    for src in (f"{H}    for i in range(10 ** 12):\n        pass\n{RETURN}",
                f"{H}    return sum(range(10 ** 13)), {{}}\n"):
        check_program(src)
        kind, text = run(src)
        assert kind in ("cpu_time", "timeout") and "per call" in text


def test_ignoring_the_cpu_signal_and_raising_the_limit_still_ends_at_the_wall_clock():
    src = (f"import signal\nimport resource\n{H}"
           "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
           "    resource.setrlimit(resource.RLIMIT_CPU, (10 ** 6, -1))\n"
           f"    for i in range(10 ** 12):\n        pass\n{RETURN}")
    refused(src)
    limits = WorkerLimits(memory_mb=256, call_timeout=3.0, cpu_seconds=30.0)
    kind, text = run(src, limits=limits, **NO_SGF)
    assert kind == "timeout" and "wall-clock limit of 3 s" in text


def test_huge_and_malformed_outputs():
    cases = {
        f"{H}    r = info['x_velocity']\n    return r, {{'t' + str(i): r for i in range(100000)}}\n": "wrong_shape",
        f"{H}    r = info['x_velocity']\n    return r, {{'x' * 10000: r}}\n": "wrong_shape",
        f"{H}    r = info['x_velocity']\n    return r, {{'bad name!': r}}\n": "wrong_shape",
        f"import numpy as np\n{H}    return np.zeros((len(obs), 3)), {{}}\n": "wrong_shape",
        f"import numpy as np\n{H}    return np.zeros(len(obs) + 1), {{}}\n": "wrong_shape",
        f"{H}    return [None] * len(obs), {{}}\n": "non_finite",
        f"{H}    return ['x'] * len(obs), {{}}\n": "wrong_shape",
        f"import numpy as np\n{H}    return np.full(len(obs), np.inf), {{}}\n": "non_finite",
        f"import numpy as np\n{H}    return info['x_velocity'], {{'t': np.full(len(obs), np.nan)}}\n": "non_finite",
        f"{H}    raise ValueError('\\x1b[2J' + 'x' * 10 ** 7)\n": "runtime_error",
        f"def f(x):\n    return f(x)\n\n{H}    return f(obs), {{}}\n": "runtime_error",
    }
    for src, expected in cases.items():
        kind, text = run(src)
        assert kind == expected, (src, kind, text[:300])
        assert "\x1b" not in text and len(text) < 10_000


def test_flooding_stderr_hits_the_output_limit():
    src = f"import os\n{H}    for i in range(100):\n        os.write(2, b'x' * (1 << 16))\n{RETURN}"
    refused(src)
    kind, text = run(src, **NO_SGF)
    assert kind == "output_limit" and "output limit" in text


def test_a_good_program_runs_with_every_layer():
    src = (f"import numpy as np\nimport math\nfrom numpy.linalg import norm\n{H}"
           "    rng = np.random.default_rng(0)\n"
           "    speed = np.clip(info['x_velocity'], -1, 1) + 0 * rng.normal(size=len(obs))\n"
           "    upright = np.exp(-np.abs(obs[:, 1])) + 0 * np.percentile(obs, 50, axis=1) + 0 * np.unique(obs[:, 0])[:1].sum()\n"
           "    effort = -0.1 * norm(action, axis=1) ** 2 + 0 * math.pi\n"
           "    return speed + upright + effort, {'speed': speed, 'upright': upright, 'effort': effort}\n")
    check_program(src)
    with RewardWorker(src, name="good.py", limits=LIMITS) as worker:
        layers = worker.layers
        reward, terms = worker(np.zeros((3, 17)), np.ones((3, 6)), np.zeros((3, 17)), {"x_velocity": np.array([0.5, 2.0, -3.0])})
    np.testing.assert_allclose(reward, [0.5 + 1 - 0.6, 1 + 1 - 0.6, -1 + 1 - 0.6])
    assert set(terms) == {"speed", "upright", "effort"}
    assert layers["runtime_guard"] and layers["rlimits"]["address_space_mb"] > 256
    assert layers["seccomp"] == SECCOMP
    if NAMESPACES:
        assert layers["namespaces"] and layers["network_isolated"] and layers["empty_root"] and layers["capabilities_dropped"]
    if TASK_LIMIT:
        assert layers["task_limit"] == 301


def test_without_namespaces_the_other_layers_remain(marker):
    off = WorkerLimits(memory_mb=256, call_timeout=10.0, cpu_seconds=3.0, isolation="off")
    with RewardWorker(f"{H}{RETURN}", limits=off) as worker:
        assert worker.layers["namespaces"] is False and worker.layers["seccomp"] == SECCOMP
    src = f"import os\n{H}    os.system('touch {marker}')\n    raise ValueError(os.environ.get('OPENAI_API_KEY'))\n"
    kind, text = run(src, limits=off, static_check=False)
    assert kind == "guard_violation"
    kind, text = run(src, limits=off, **NO_SG)
    assert kind == "runtime_error" and SECRET not in text                          # the environment is scrubbed
    kind, _ = run(f"import numpy as np\n{H}    x = np.ones(1 << 34)\n{RETURN}", limits=off)
    assert kind == "out_of_memory"


def test_a_failed_worker_stays_failed_and_leaves_no_process():
    worker = RewardWorker(f"import numpy as np\n{H}    return np.full(len(obs), np.nan), {{}}\n", limits=LIMITS)
    pid = worker.proc.pid
    with pytest.raises(ProgramFailure, match="NaN"):
        worker(np.zeros((2, 17)), np.zeros((2, 6)), np.zeros((2, 17)), {"x_velocity": np.zeros(2)})
    with pytest.raises(ProgramFailure, match="NaN"):                # every later call: the same failure
        worker(np.zeros((2, 17)), np.zeros((2, 6)), np.zeros((2, 17)), {"x_velocity": np.zeros(2)})
    assert not worker.alive and not os.path.exists(f"/proc/{pid}")


# -- through the entry points: pbrl train --reward program: and pbrl synthesize ------------------------


def _cli(args):
    from typer.testing import CliRunner

    from pbrl.cli.main import app

    return CliRunner().invoke(app, args)


def test_pbrl_train_with_hostile_programs(tmp_path, marker):
    from console_support import printed

    programs = {
        "escape.py": (f"import numpy as np\n\n{H}    np.ma.core.builtins.open('{marker}', 'w')\n{RETURN}", "static check"),
        "tamper.py": (f"{H}    info['reward_terms']['forward'][:] = 1e6\n{RETURN}", "read-only"),
        "bomb.py": (f"import numpy as np\n\n{H}    x = np.broadcast_to(np.ones(1), (1 << 20, 1 << 14)).copy()\n{RETURN}", "ran out of memory"),
        "nan.py": (f"import numpy as np\n\n{H}    return np.where(info['x_velocity'] > 0.1, np.nan, 0.0), {{}}\n", "NaN or infinite"),
    }
    for name, (source, message) in programs.items():
        path = tmp_path / name
        path.write_text(source)
        result = _cli(["train", "--env", "pbrl/HalfCheetah-v5", "--reward", f"program:{path}", "--steps", "2048",
                       "--num-envs", "4", "--runs-dir", str(tmp_path / "runs"), "--name", name[:-3], "--quiet"])
        assert result.exit_code != 0, (name, result.output)
        assert printed(message, result.output) and printed(name, result.output), (name, result.output)
        assert "Traceback" not in result.output and 'File "/' not in result.output   # no trace of pbrl's own code
    # the one that ran a little before failing logged nothing it touched: no reward term near 1e6
    metrics = tmp_path / "runs" / "pbrl_HalfCheetah-v5" / "ppo" / "tamper-s0" / "metrics.jsonl"
    if metrics.exists():
        assert "1000000" not in metrics.read_text()
    good = tmp_path / "good.py"
    good.write_text(f"import numpy as np\n\n{H}    return info['x_velocity'] - 0.1 * np.sum(action ** 2, axis=1), {{'run': info['x_velocity']}}\n")
    result = _cli(["train", "--env", "pbrl/HalfCheetah-v5", "--reward", f"program:{good}", "--steps", "1024",
                   "--num-envs", "4", "--runs-dir", str(tmp_path / "runs"), "--name", "good", "--quiet"])
    assert result.exit_code == 0, result.output


def test_pbrl_synthesize_goes_on_after_hostile_candidates(tmp_path, marker, monkeypatch):
    import json as _json

    from synthesis_server import CannedServer

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-FILE-CONTENT")
    monkeypatch.setenv("PBRL_CANNED_KEY", "sk-canned")
    fence = "```python\n{}```"
    answers = [
        fence.format(f"import numpy as np\n\n{H}    raise ValueError(np.ma.core.builtins.open({str(secret)!r}).read())\n"),
        fence.format(f"{H}    info['x_velocity'][:] = 1e6\n{RETURN}"),
        fence.format(f"import numpy as np\n\n{H}    x = np.ones((1 << 16, 1 << 16))\n{RETURN}"),
        fence.format(f"import numpy as np\n\n{H}    return info['x_velocity'] - 0.1 * np.sum(action ** 2, axis=1), {{'run': info['x_velocity']}}\n"),
    ]
    script = iter(answers)
    with CannedServer(lambda body: [next(script, answers[-1])], honour_n=False) as server:
        args = ["synthesize", "--env", "pbrl/HalfCheetah-v5", "--backend", "openai", "--model", "canned",
                "--base-url", server.base_url, "--api-key-env", "PBRL_CANNED_KEY", "--samples", "4", "--iterations", "2",
                "--steps", "512", "--final-seeds", "0", "--eval-episodes", "1", "--regenerations", "0",
                "--runs-dir", str(tmp_path), "--name", "hostile", "--label", "canned answers, not an LLM",
                "--hp", "n_envs=4", "--hp", "n_steps=64", "--hp", "batch_size=64", "--hp", "n_epochs=1"]
        result = _cli(args)
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    run = tmp_path / "pbrl_HalfCheetah-v5" / "synthesis" / "hostile-s0"
    cands = [_json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    kinds = [(c.get("failure") or {}).get("kind") for c in cands[:4]]
    assert kinds == ["disallowed", "runtime_error", "out_of_memory", None]
    assert "read-only" in cands[1]["failure"]["message"]
    everything = (run / "candidates.jsonl").read_text() + "".join(_json.dumps(r["body"]) for r in requests)
    assert "TOPSECRET" not in everything and SECRET not in everything and "sk-canned" not in everything
