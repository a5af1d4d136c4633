"""The trusted side of the reward worker: start it, feed it batches, distrust its answers.

:class:`RewardWorker` is how pbrl runs an untrusted reward program, in training
(``pbrl train --reward program:``), in reward synthesis (its probe and training
workers) and in relabelling: the program is statically checked here, then loaded
into a separate jailed process (``worker.py``) and called there on batches sent
over a pipe. This process never imports or executes it.

Every call has limits — wall-clock seconds and CPU seconds per call, memory for
the worker's whole life — and every answer is checked here with this process's
own numpy: the reward has shape (N,), every term too, names are identifiers, all
of it finite. Whatever goes wrong is one of the named failures of ``errors.py``,
naming the program and, for a limit, the limit; after a failure the worker is gone
and every later call raises the same failure.

Linux only (pipes, rlimits, namespaces, seccomp).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import protocol
from .check import check_program
from .policy import MAX_TERMS, TERM_NAME
from .errors import (
    CpuTimeExceeded,
    NonFiniteReward,
    OutOfMemory,
    OutputLimitExceeded,
    ProgramFailure,
    SandboxUnavailable,
    TamperedOutput,
    WorkerCrashed,
    WorkerTimeout,
    WrongShape,
    failure_class,
)

__all__ = ["WorkerLimits", "RewardWorker", "isolation_status", "printable", "signal_name", "unshare_command"]

#: most bytes of arrays sent in one request (bigger batches go in chunks)
MAX_REQUEST_BYTES = 8 << 20
#: pipe buffer asked for each way (Linux's default is 64 KiB: big batches would take many round trips)
PIPE_BYTES = 1 << 20
_BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot.py")


@dataclass(frozen=True)
class WorkerLimits:
    """Limits of a reward worker.

    Args:
        memory_mb: memory the program may allocate, on top of what the worker uses after
            importing numpy (``RLIMIT_AS``).
        call_timeout: wall-clock seconds for one call (and for running the module body).
        cpu_seconds: CPU seconds for one call (``RLIMIT_CPU``, moved before each call).
        start_timeout: wall-clock seconds for the worker to start.
        max_tasks: most tasks in the worker's PID namespace (``pid_max`` there; at least 301).
        isolation: ``"auto"`` (namespaces where ``unshare`` works, else the rlimits, the
            seccomp filter and the runtime guard only, recorded in :attr:`RewardWorker.layers`),
            ``"require"`` (refuse to start without namespaces) or ``"off"``.
    """

    memory_mb: int = 1024
    call_timeout: float = 30.0
    cpu_seconds: float = 30.0
    start_timeout: float = 60.0
    max_tasks: int = 301
    isolation: str = "auto"

    def __post_init__(self):
        if self.isolation not in ("auto", "require", "off"):
            raise ValueError(f"isolation must be 'auto', 'require' or 'off', got {self.isolation!r}")
        for name in ("memory_mb", "call_timeout", "cpu_seconds", "start_timeout", "max_tasks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"reward worker limit {name} must be a positive number, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unshare_command() -> list[str]:
    """``unshare`` with new mount, network, PID, IPC and UTS namespaces (and a user namespace
    when not root); the child is killed with it and gets its own ``/proc``."""
    cmd = ["unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        cmd[1:1] = ["--user", "--map-root-user"]
    return cmd


@functools.lru_cache(maxsize=1)
def isolation_status() -> tuple[bool, str]:
    """Whether workers can run in new namespaces here, and why not."""
    if not sys.platform.startswith("linux"):
        return False, "not Linux"
    if shutil.which("unshare") is None:
        return False, "the unshare command (util-linux) is not installed"
    try:
        done = subprocess.run(
            unshare_command() + ["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=20, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"unshare failed: {exc}"
    if done.returncode != 0:
        return False, "unshare failed: " + done.stderr.decode(errors="replace").strip()[:200]
    return True, "mount, network, PID, IPC and UTS namespaces" + (" in a user namespace" if os.geteuid() != 0 else "")


def printable(value: Any, limit: int) -> str:
    """Printable text of at most ``limit`` characters (no escape sequences reach a terminal or a prompt)."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:limit] if ch in "\n\t" or ch.isprintable())


def signal_name(sig: int) -> str:
    """``SIGKILL`` for 9, ``signal 99`` for a number that names no signal."""
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class RewardWorker:
    """A reward program running in its own jailed worker process.

    Args:
        source: the program's Python source (defining ``compute_reward(obs, action, next_obs, info)``).
        name: how messages name the program (e.g. its path).
        limits: :class:`WorkerLimits`.
        static_check, runtime_guard, seccomp: testing switches of the layers (keep them on).

    Raises (at construction): :class:`~pbrl.sandbox.errors.DisallowedConstruct` and the other
    static-check failures; :class:`~pbrl.sandbox.errors.SandboxUnavailable`; any failure of the
    program's module body (:class:`~pbrl.sandbox.errors.RuntimeFailure`, ...).

    Calling it returns ``(reward, terms)``: a float64 (N,) array and a dict of them, fresh
    arrays of this process. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, source: str, *, name: str = "the reward program", limits: WorkerLimits | Mapping[str, Any] | None = None,
                 static_check: bool = True, runtime_guard: bool = True, seccomp: bool = True):
        if isinstance(limits, Mapping):
            limits = WorkerLimits(**limits)
        self.limits = limits or WorkerLimits()
        self.name = name
        self.proc: subprocess.Popen | None = None
        self._failure: ProgramFailure | None = None
        self._read_fd = self._write_fd = -1
        self._attached = False
        self._heads: dict[Any, bytes] = {}
        self._stderr = None
        self.layers: dict[str, Any] = {}
        if static_check:
            check_program(source)
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable("the reward-program sandbox needs Linux (namespaces, rlimits, seccomp)")
        namespaces, reason = (False, "isolation='off'") if self.limits.isolation == "off" else isolation_status()
        if not namespaces and self.limits.isolation == "require":
            raise SandboxUnavailable(f"isolation='require' but namespaces are unavailable here: {reason}")
        self.isolation = {"namespaces": namespaces, "reason": reason}
        self._start(namespaces, runtime_guard, seccomp)
        self._request({"op": "load", "source": source}, b"", self.limits.call_timeout)
        self.layers["isolation_reason"] = reason

    @classmethod
    def attach(cls, read_fd: int, write_fd: int, *, name: str = "the reward program",
               limits: WorkerLimits | Mapping[str, Any] | None = None) -> "RewardWorker":
        """A client of a worker that another (trusted) process started and loaded, over the pipe
        ends it handed down (reward synthesis: the sandbox's parent owns the worker, its training
        process calls it). Calls have the same checks and per-call wall-clock limit; the owner
        stops the worker and tells how it ended."""
        self = cls.__new__(cls)
        if isinstance(limits, Mapping):
            limits = WorkerLimits(**limits)
        self.limits = limits or WorkerLimits()
        self.name = name
        self.proc = None
        self._failure = None
        self._attached = True
        self._heads = {}
        self._stderr = None
        self._read_fd, self._write_fd = int(read_fd), int(write_fd)
        self.layers = {}
        self.isolation = {}
        _nonblocking(self._read_fd, self._write_fd)
        return self

    def handoff(self) -> tuple[int, int]:
        """``(read_fd, write_fd)`` of the loaded worker's pipe, for a child process to :meth:`attach` to
        (pass them with ``pass_fds``; this side must not call the worker meanwhile)."""
        if self._attached or self.proc is None:
            raise RuntimeError("only the process that started a reward worker can hand it over")
        return self._read_fd, self._write_fd

    def exit_failure(self) -> ProgramFailure | None:
        """For the owner, after an attached client failed: how the worker ended (None: still running)."""
        if self._failure is not None:
            return self._failure
        if self.proc is None or self.proc.poll() is None:
            return None
        return self._fail(self._ended(False))

    # -- process ---------------------------------------------------------------------------

    def _start(self, namespaces: bool, runtime_guard: bool, seccomp: bool) -> None:
        config = {
            "paths": [os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))],
            "namespaces": namespaces, "max_tasks": int(self.limits.max_tasks), "memory_mb": int(self.limits.memory_mb),
            "cpu_seconds": float(self.limits.cpu_seconds), "guard": bool(runtime_guard), "seccomp": bool(seccomp),
        }
        cmd = [sys.executable, "-I", "-S", _BOOT, json.dumps(config)]
        if namespaces:
            cmd = unshare_command() + cmd
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
                                     cwd="/", start_new_session=True, close_fds=True)
        self._write_fd = self.proc.stdin.fileno()
        self._read_fd = self.proc.stdout.fileno()
        _nonblocking(self._read_fd, self._write_fd)
        header = self._answer(time.monotonic() + self.limits.start_timeout, starting=True)
        if not header.get("ready"):
            raise self._fail(WorkerCrashed(f"the reward worker for {self.name} did not start properly"))
        layers = header.get("layers")
        self.layers = dict(layers) if isinstance(layers, dict) else {}

    @property
    def alive(self) -> bool:
        return self._failure is None and self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Stop the worker (its whole process group) and release its pipes. Idempotent."""
        if self._attached:
            self._attached_closed = True
            return
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                try:
                    protocol.write_all(self._write_fd, protocol.encode({"op": "close"}), time.monotonic() + 0.5)
                except (OSError, TimeoutError):
                    pass
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            _kill_group(proc)
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            if self._stderr is not None:
                self._stderr.close()

    def __enter__(self) -> "RewardWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def __getstate__(self):
        raise TypeError("a RewardWorker is a running process; it cannot be pickled or copied")

    # -- failures --------------------------------------------------------------------------

    def _fail(self, failure: ProgramFailure) -> ProgramFailure:
        """Record ``failure`` (every later call raises it), stop the worker, return it to raise."""
        self._failure = failure
        self.close()
        return failure

    def _stderr_tail(self, size: int = 2000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            end = self._stderr.tell()
            self._stderr.seek(max(0, end - size))
            return printable(self._stderr.read().decode("utf-8", errors="replace"), size)
        except (OSError, ValueError):
            return ""

    def _ended(self, starting: bool) -> ProgramFailure:
        """The worker closed its pipe: classify how it ended."""
        if self._attached:
            return WorkerCrashed(f"the reward worker for {self.name} ended")
        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                code = proc.wait()
        sig = -code if code is not None and code < 0 else (code - 128 if code is not None and code > 128 else None)
        if starting and code == 70:
            return WorkerCrashed(f"the reward worker for {self.name} failed to start", self._stderr_tail())
        if sig == signal.SIGXCPU:
            return CpuTimeExceeded(f"{self.name} used more than its CPU-time limit of {self.limits.cpu_seconds:g} s "
                                   "per call and was stopped")
        if sig == signal.SIGKILL:
            return OutOfMemory(f"{self.name} was killed while running (SIGKILL: most likely memory; its limit is "
                               f"{self.limits.memory_mb} MB)")
        if sig == signal.SIGXFSZ:
            return OutputLimitExceeded(f"{self.name} wrote more than its worker's 1 MB output limit and was stopped")
        if sig == signal.SIGSYS:
            return WorkerCrashed(f"{self.name} made a forbidden system call and was killed (seccomp)")
        if sig is not None:
            return WorkerCrashed(f"{self.name} ended its worker with {signal_name(sig)}")
        return WorkerCrashed(f"{self.name} ended its worker (exit status {code})")

    # -- requests --------------------------------------------------------------------------

    def _answer(self, deadline: float, starting: bool = False, max_payload: int | None = 0) -> dict[str, Any]:
        try:
            header, payload = protocol.read_message(self._read_fd, deadline, max_payload)
        except TimeoutError:
            what = "start" if starting else "return"
            limit = self.limits.start_timeout if starting else self.limits.call_timeout
            raise self._fail(WorkerTimeout(f"{self.name} did not {what} within its wall-clock limit of {limit:g} s "
                                           "per call and was stopped")) from None
        except EOFError:
            raise self._fail(self._ended(starting)) from None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise self._fail(TamperedOutput(f"the reward worker for {self.name} sent a malformed answer ({type(exc).__name__})")) from None
        if not header.get("ok"):
            kind = str(header.get("kind"))
            cls = failure_class(kind)
            message = printable(header.get("message"), 2000)
            raise self._fail(cls(f"{self.name}: {message}", printable(header.get("detail"), 6000)))
        self._payload = payload
        return header

    def _request(self, header: dict[str, Any], payload: bytes, timeout: float, max_payload: int | None = 0) -> dict[str, Any]:
        return self._exchange(protocol.encode(header, payload), timeout, max_payload)

    def _exchange(self, frame: bytes, timeout: float, max_payload: int | None) -> dict[str, Any]:
        """Send one encoded request, return the answer's header (its payload in ``self._payload``)."""
        if self._failure is not None:
            raise self._failure
        if self.proc is None and (not self._attached or getattr(self, "_attached_closed", False)):
            raise WorkerCrashed(f"the reward worker for {self.name} is closed")
        deadline = time.monotonic() + timeout
        try:
            protocol.write_all(self._write_fd, frame, deadline)
        except TimeoutError:
            raise self._fail(WorkerTimeout(f"{self.name} did not take its input within its wall-clock limit of "
                                           f"{timeout:g} s per call and was stopped")) from None
        except (BrokenPipeError, OSError):
            raise self._fail(self._ended(False)) from None
        return self._answer(deadline, max_payload=max_payload)

    def __call__(self, obs: Any, action: Any, next_obs: Any, info: Mapping[str, Any] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(reward, terms)`` of a batch of N transitions, checked here."""
        obs, action, next_obs = (np.ascontiguousarray(a) for a in (obs, action, next_obs))
        n = len(obs)
        arrays = [("obs", obs), ("action", action), ("next_obs", next_obs)]
        for key, value in (info or {}).items():
            if isinstance(value, Mapping):
                arrays += [(f"info/{key}/{sub}", np.ascontiguousarray(v)) for sub, v in value.items() if _batched(v, n)]
            elif _batched(value, n):
                arrays.append((f"info/{key}", np.ascontiguousarray(value)))
        row_bytes = sum(a.nbytes for _, a in arrays) / max(n, 1)
        chunk = max(1, int(MAX_REQUEST_BYTES // max(row_bytes, 1)))
        if n <= chunk:
            return self._call(arrays, n)
        rewards, terms_parts = [], []
        for start in range(0, n, chunk):
            part = [(name, a[start:start + chunk]) for name, a in arrays]
            r, t = self._call(part, len(part[0][1]))
            rewards.append(r)
            terms_parts.append(t)
        names = list(terms_parts[0])
        if any(list(t) != names for t in terms_parts):
            raise self._fail(WrongShape(f"{self.name} returned different terms for different parts of one batch"))
        return np.concatenate(rewards), {k: np.concatenate([t[k] for t in terms_parts]) for k in names}

    def _call(self, arrays: list[tuple[str, np.ndarray]], n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        layout, parts, offset = [], [], 0
        for name, a in arrays:
            if a.dtype.str not in protocol.ALLOWED_DTYPES:
                a = a.astype(np.float64)
            layout.append((name, a.dtype.str, a.shape))
            parts.append(a)  # C-contiguous: its bytes are copied straight into the frame
            offset += a.nbytes
        key = (n, tuple(layout))
        head = self._heads.get(key)
        if head is None:  # the request's JSON header, encoded once per batch layout
            meta, at = [], 0
            for (name, dtype, shape), a in zip(layout, parts):
                meta.append([name, dtype, list(shape), at])
                at += a.nbytes
            head = json.dumps({"op": "call", "n": n, "arrays": meta}, allow_nan=False, separators=(",", ":")).encode("utf-8")
            if len(self._heads) >= 8:
                self._heads.clear()
            self._heads[key] = head
        frame = b"".join([protocol.FRAME.pack(len(head), offset), head, *parts])
        header = self._exchange(frame, self.limits.call_timeout, max_payload=8 * n * (1 + MAX_TERMS))
        names = header.get("terms")
        if not isinstance(names, list) or len(names) > MAX_TERMS:
            raise self._fail(WrongShape(f"{self.name} returned more than {MAX_TERMS} terms"))
        for key in names:
            if not isinstance(key, str) or not TERM_NAME.match(key):
                raise self._fail(WrongShape(f"{self.name}: term name {printable(str(key), 50)!r} is not an identifier of at most 40 characters"))
        if len(set(names)) != len(names):
            raise self._fail(WrongShape(f"{self.name} returned a term name twice"))
        payload = self._payload
        if len(payload) != 8 * n * (1 + len(names)):
            raise self._fail(TamperedOutput(f"the reward worker for {self.name} sent {len(payload)} bytes for {n} rewards"))
        values = np.frombuffer(payload, dtype="<f8").reshape(1 + len(names), n).astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            what = "the reward" if row == 0 else f"term {names[row - 1]!r}"
            rows = np.flatnonzero(bad[row])[:5].tolist()
            raise self._fail(NonFiniteReward(f"{self.name}: {what} is NaN or infinite (batch rows {rows})"))
        return values[0], {k: values[i + 1] for i, k in enumerate(names)}


def _nonblocking(*fds: int) -> None:
    """Make the pipe ends non-blocking (reads and writes then wait, with the call's deadline, only
    when they must) and ask for bigger pipe buffers where Linux allows it."""
    for fd in fds:
        os.set_blocking(fd, False)
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (OSError, AttributeError):  # over /proc/sys/fs/pipe-max-size or the user's pipe quota: keep 64 KiB
            pass


def _batched(value: Any, n: int) -> bool:
    """An info entry the program gets: a numeric or boolean array with one row per transition."""
    if not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != n:
        return False
    return value.dtype.kind in "fiub"


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's process group (its namespace dies with its first process) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass
