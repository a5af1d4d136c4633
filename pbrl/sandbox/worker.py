"""The reward worker: the only process that runs an untrusted reward program.

Started by :class:`pbrl.sandbox.client.RewardWorker` as ``python -I -S _boot.py CONFIG``
(usually under ``unshare`` with new mount, network, PID, IPC and UTS namespaces).
It never imports pbrl: ``_boot.py`` loads this package's standard-library modules
by path. In order:

1. its imports: numpy (with ``linalg``, ``random`` and the submodules numpy loads
   lazily from inside its own functions), ``math`` and what the worker needs;
2. the OS layer, as process 1 of its PID namespace: a cap on the namespace's tasks,
   an **empty read-only root** (``jail.empty_root``: nothing of the host's file
   system is left, not even Python's or numpy's files — everything is in memory
   already), no capabilities; then a fork, so that process 1 only reaps;
3. rlimits: address space (what it uses now plus ``memory_mb``), open files, file
   size, no core files; a CPU-time limit is set before each call of the program;
4. the runtime guard (``guard.py``) and the seccomp filter (``jail.install_seccomp``:
   no ``open``, ``execve``, ``fork``, ``socket``, ``kill`` at the kernel);
5. it says it is ready (with the layers it has) on stdout, then serves requests
   from stdin (``protocol.py``): load the program, call it on batches, close.

The program sees read-only arrays: ``obs``, ``action``, ``next_obs`` and an ``info``
dict built afresh for every call. What it returns is converted to float64 and sent
back; the trusted side checks shapes and finiteness again with its own numpy.
"""

from __future__ import annotations

import builtins
import json
import linecache
import math
import os
import resource
import sys
import traceback
import warnings
from typing import Any, Callable

from . import guard, jail, protocol
from .policy import MAX_TERMS

__all__ = ["PRELOAD", "Worker", "main", "program_traceback", "run"]

PROGRAM_FILE = "reward_program.py"
#: numpy modules the worker imports before its root file system goes away: the allowed ones and
#: those numpy's own functions import lazily (``np.unique`` asks ``np.ma.is_masked``)
PRELOAD = ("numpy", "numpy.linalg", "numpy.random", "numpy.ma", "numpy.dtypes", "numpy.exceptions")
# Bound before the runtime guard replaces them for the rest of the process.
_setrlimit, _getrusage = resource.setrlimit, resource.getrusage


def _import_everything(paths: list[str]):
    sys.path[:0] = [p for p in paths if p not in sys.path]
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    import numpy as np

    np.random.default_rng(0).random()  # the generator's own lazy imports
    np.unique(np.zeros(2))
    np.percentile(np.arange(3.0), 50)
    return np


def program_traceback(exc: BaseException, limit: int = 6000) -> str:
    """The traceback of ``exc`` restricted to the program's own frames (what its author can fix)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == PROGRAM_FILE]
    lines = ["in the reward program (most recent call last):"] if frames else []
    for frame in frames:
        lines.append(f'  File "{PROGRAM_FILE}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    message = str(exc)
    lines.append(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 20] + "\n... (truncated)"


def _failure(kind: str, message: str, detail: str = "") -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message[:2000], "detail": detail[:6000]}


def _program_failure(exc: BaseException, memory_mb: int) -> dict[str, Any]:
    if isinstance(exc, guard.BlockedByGuard):
        return _failure("guard_violation", str(exc), program_traceback(exc))
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: RLIMIT_FSIZE (Python ignores SIGXFSZ)
        return _failure("output_limit", "the reward program wrote more than its worker's 1 MB output limit")
    if isinstance(exc, OSError) and exc.errno in (1, 2, 13, 30) and exc.filename is not None:  # EPERM ENOENT EACCES EROFS
        return _failure("runtime_error", f"the reward program tried to use the file {str(exc.filename)[:200]!r}: reward "
                        "programs have no files to read or write (the sandbox's root is empty and read-only)",
                        program_traceback(exc))
    if isinstance(exc, MemoryError):
        return _failure("out_of_memory", f"the reward program ran out of memory (its limit: {memory_mb} MB "
                        "on top of what the worker uses)", program_traceback(exc))
    return _failure("runtime_error", f"{type(exc).__name__}: {exc}"[:2000], program_traceback(exc))


class Worker:
    """The request loop of the worker (after the jail is closed)."""

    def __init__(self, np, config: dict[str, Any], layers: dict[str, Any]):
        self.np = np
        # numpy functions bound before the program runs: rebinding np.* later changes nothing here
        self.asarray, self.frombuffer, self.full = np.asarray, np.frombuffer, np.full
        self.float64 = np.float64
        self.config = config
        self.layers = layers
        self.fn: Callable[..., Any] | None = None
        self.cpu_seconds = float(config.get("cpu_seconds", 30))
        self.pid = os.getpid()
        self.memory_mb = int(config.get("memory_mb", 1024))

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        self.only_the_worker()
        protocol.write_all(1, protocol.encode(header, payload))

    def only_the_worker(self) -> None:
        """In a copy of the worker that the program forked (possible only without the seccomp
        filter), exit at once: only the worker answers and reads requests."""
        if os.getpid() != self.pid:
            os._exit(0)

    def _cpu_limit(self) -> None:
        usage = _getrusage(resource.RUSAGE_SELF)
        soft = int(math.ceil(usage.ru_utime + usage.ru_stime + self.cpu_seconds))
        _setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        source = request.get("source")
        if not isinstance(source, str):
            return _failure("syntax", "no program source")
        try:
            code = builtins.compile(source, PROGRAM_FILE, "exec")
        except (SyntaxError, ValueError) as exc:
            return _failure("syntax", f"the reward program does not compile: {exc}")
        linecache.cache[PROGRAM_FILE] = (len(source), None, source.splitlines(True), PROGRAM_FILE)
        namespace: dict[str, Any] = {
            "__name__": "reward_program",
            "__builtins__": guard.safe_builtins() if self.config.get("guard", True) else builtins,
        }
        try:
            self._cpu_limit()
            builtins.exec(code, namespace)
        except BaseException as exc:  # noqa: BLE001 - everything the program raises is its failure
            return _program_failure(exc, self.memory_mb)
        fn = namespace.get("compute_reward")
        if not callable(fn):
            return _failure("missing_function", "the program must define compute_reward(obs, action, next_obs, info)")
        self.fn = fn
        return {"ok": True}

    def arrays(self, request: dict[str, Any], payload: bytes) -> tuple[int, dict[str, Any]]:
        n = int(request["n"])
        out: dict[str, Any] = {}
        for name, dtype, shape, offset in request["arrays"]:
            if dtype not in protocol.ALLOWED_DTYPES:
                raise ValueError(f"array {name!r}: dtype {dtype!r} is not allowed")
            count = 1
            for s in shape:
                count *= int(s)
            out[name] = self.frombuffer(payload, dtype=dtype, count=count, offset=int(offset)).reshape(shape)
        return n, out

    def call(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        if self.fn is None:
            return _failure("missing_function", "no program is loaded"), b""
        n, arrays = self.arrays(request, payload)
        info: dict[str, Any] = {}
        for name, value in arrays.items():
            parts = name.split("/")
            if parts[0] != "info":
                continue
            if len(parts) == 2:
                info[parts[1]] = value
            else:
                info.setdefault(parts[1], {})[parts[2]] = value
        try:
            self._cpu_limit()
            out = self.fn(arrays["obs"], arrays["action"], arrays["next_obs"], info)
            return self.answer(out, n)
        except BaseException as exc:  # noqa: BLE001
            return _program_failure(exc, self.memory_mb), b""

    def answer(self, out: Any, n: int) -> tuple[dict[str, Any], bytes]:
        terms: Any = {}
        if isinstance(out, tuple):
            if len(out) != 2:
                return _failure("wrong_shape", f"compute_reward must return (reward, terms); it returned a tuple of {len(out)} items"), b""
            out, terms = out
        if terms is None:
            terms = {}
        if not isinstance(terms, dict):
            return _failure("wrong_shape", f"terms must be a dict of name -> (N,) array, got {type(terms).__name__}"), b""
        if len(terms) > MAX_TERMS:
            return _failure("wrong_shape", f"compute_reward returned {len(terms)} terms; at most {MAX_TERMS} are allowed"), b""
        try:
            reward = self.asarray(out, dtype=self.float64)
        except (TypeError, ValueError) as exc:
            return _failure("wrong_shape", f"the reward is not an array of numbers ({type(exc).__name__}: {str(exc)[:200]})"), b""
        if reward.shape != (n,):
            return _failure("wrong_shape", f"the reward has shape {reward.shape}; it must be ({n},), one value per transition of the batch"), b""
        names, parts = [], [reward.tobytes()]
        for key, value in terms.items():
            if not isinstance(key, str):
                return _failure("wrong_shape", "term names must be strings"), b""
            try:
                arr = self.asarray(value, dtype=self.float64)
            except (TypeError, ValueError):
                return _failure("wrong_shape", f"term {key[:40]!r} is not an array of numbers"), b""
            if arr.shape == ():
                arr = self.full(n, float(arr))
            if arr.shape != (n,):
                return _failure("wrong_shape", f"term {key[:40]!r} has shape {arr.shape}; it must be ({n},)"), b""
            names.append(key[:200])
            parts.append(arr.tobytes())
        return {"ok": True, "terms": names}, b"".join(parts)

    def serve(self) -> int:
        self.send({"ok": True, "ready": True, "layers": self.layers})
        while True:
            try:
                request, payload = protocol.read_message(0)
            except EOFError:
                return 0
            op = request.get("op")
            if op == "load":
                answer = self.load(request)
                self.send(answer)
            elif op == "call":
                header, body = self.call(request, payload)
                self.send(header, body)
            elif op == "close":
                return 0
            else:
                self.send(_failure("crashed", f"unknown request {op!r}"))


def main(config: dict[str, Any]) -> int:
    np = _import_everything(list(config.get("paths", [])))
    warnings.simplefilter("ignore")  # numpy's warnings would only write to stderr (1 MB file-size limit)
    namespaces = bool(config.get("namespaces")) and os.getpid() == 1
    tasks = jail.limit_tasks(int(config.get("max_tasks", 301))) if namespaces else None
    network_isolated = namespaces and jail._only_loopback()  # read from /proc before the root goes
    vm = jail.vm_size_bytes() >> 20
    root = jail.empty_root() if namespaces else {"ok": False, "reason": "no mount namespace"}
    capabilities = jail.drop_capabilities()
    if namespaces:
        child = os.fork()
        if child:
            return jail.reap_namespace(child, close=(0, 1))
    memory_mb = int(config.get("memory_mb", 1024))
    resource.setrlimit(resource.RLIMIT_AS, (int(vm + memory_mb) << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    guarded = bool(config.get("guard", True))
    disabled = guard.disable_dangerous_functions() if guarded else []
    seccomp = jail.install_seccomp() if config.get("seccomp", True) else {"ok": False, "reason": "switched off"}
    jail._libc = None  # the C library handle is not left for the program to find
    layers = {
        "namespaces": namespaces,
        "pid_namespace": namespaces,
        "network_isolated": network_isolated,
        "empty_root": bool(root.get("ok")),
        "filesystem_readonly": bool(root.get("ok")),
        "capabilities_dropped": bool(capabilities.get("ok")),
        "task_limit": int(tasks["max_tasks"]) if tasks and tasks.get("ok") else None,
        "seccomp": bool(seccomp.get("ok")),
        "runtime_guard": guarded,
        "guard_disabled": len(disabled),
        "rlimits": {"address_space_mb": int(vm + memory_mb), "open_files": 16, "file_size_mb": 1,
                    "cpu_seconds_per_call": float(config.get("cpu_seconds", 30))},
        "reasons": {"root": root.get("reason", ""), "seccomp": seccomp.get("reason", "")},
    }
    return Worker(np, config, layers).serve()


def run(argv: list[str]) -> None:
    """Entry point for ``_boot.py``: ``argv[0]`` is the JSON config."""
    try:
        code = main(json.loads(argv[0]))
    except BaseException:  # noqa: BLE001 - a failure to start is reported on stderr, the parent reads it
        traceback.print_exc()
        code = 70
    try:
        sys.stderr.flush()
    finally:
        os._exit(code)


