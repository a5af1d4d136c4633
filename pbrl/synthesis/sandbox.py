"""The trusted side of the sandbox: start a worker, contain it, distrust what it writes.

:class:`Sandbox` runs one job of ``worker.py`` (a ``probe`` or a ``train`` stage) in
its own process:

* a fresh temporary working directory (mode 0700), holding only ``job.json``;
* a scrubbed environment: ``PATH``, ``HOME``/``TMPDIR`` (the working directory),
  ``PYTHONPATH`` (to find pbrl), thread counts and nothing else — no API keys, no
  proxies, no user configuration;
* under ``unshare --mount --net --pid --fork --kill-child --mount-proc`` (plus
  ``--user --map-root-user`` for a non-root user) when that works here, so the
  worker has no network, sees only its own processes (at most ``max_tasks`` of
  them), takes every process it started down with it, finds the parent's home and
  temporary directories empty (``hide_dirs``; what it needs is bound back), and
  makes the file system read-only but for its working directory (``jail.py``);
* rlimits set by the worker before it reads the program: address space, CPU
  seconds, file size, open files, processes (``RLIMIT_NPROC``: this user's current
  task count plus a margin; the kernel ignores it for root), no core dumps; and, in
  the PID namespace, a cap on its tasks that holds for root too (``max_tasks``);
* a wall-clock timeout: ``SIGTERM`` to the worker's process group, then ``SIGKILL``
  after a grace period; the group is killed after every run in any case.

Afterwards the parent reads ``result.json`` and ``weights.npz`` without following
symlinks, refusing anything but small regular files, and validates the JSON
against a schema (:func:`validate_result`): only known keys, finite numbers,
identifier term names, bounded lengths. Fitness never comes from that JSON: the
weights go to a separate trusted evaluation process (``evaluator.py``) that
measures the task metric on fresh seeds. Every way this can fail is a named class
from ``errors.py``.

The two switches ``static_check`` and ``runtime_guard`` of :class:`SandboxConfig`
exist to test the layers separately (tests/synthesis/test_synthesis_security.py); never
turn them off otherwise.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Mapping

from pbrl.settings import Settings, boolean, integer, one_of, optional, positive_number, setting, string
from pbrl.sandbox.client import RewardWorker, WorkerLimits, isolation_status, printable, signal_name, unshare_command

from .errors import (
    FAILURE_CLASSES,
    CpuTimeExceeded,
    EvaluationFailed,
    OutputLimitExceeded,
    SandboxUnavailable,
    SynthesisFailure,
    TamperedOutput,
    WorkerCrashed,
    WorkerTimeout,
    failure_from_record,
)
from .limits import (
    LOG_TAIL_BYTES,
    MAX_CURVE_POINTS,
    MAX_DETAIL_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_RESULT_BYTES,
    MAX_TERMS,
    MAX_WEIGHTS_BYTES,
    TERM_NAME,
)

__all__ = [
    "Sandbox",
    "SandboxConfig",
    "WorkerOutcome",
    "count_user_tasks",
    "default_hidden_dirs",
    "isolation_status",
    "read_regular_file",
    "scrubbed_env",
    "validate_result",
    "worker_needs",
]

WORKER_FORMAT = "pbrl.synthesis.worker/1"
_WORKER_KINDS = {
    "runtime_error", "guard_violation", "non_finite", "wrong_shape", "out_of_memory",
    "output_limit", "crashed", "syntax", "missing_function", "tampered_output", "timeout", "cpu_time",
}


def _paths(v: Any) -> list[str]:
    if isinstance(v, str) or not isinstance(v, (list, tuple)) or not all(isinstance(p, str) for p in v):
        raise TypeError("a list of paths (strings)")
    return list(v)


_paths.kind = "list[str]"  # type: ignore[attr-defined]


@dataclass
class SandboxConfig(Settings):
    """Limits and switches of the sandbox: the settings below, each with its meaning and check."""

    what: ClassVar[str] = ""  # messages name the key alone: "memory_mb must be a positive number, got 0"

    isolation: str = setting(
        "auto", "auto (namespaces when unshare works here, else rlimits and dropped capabilities only), require (refuse to "
        "run without namespaces) or off", check=one_of("auto", "require", "off"),
    )  # fmt: skip
    memory_mb: int = setting(1024, "memory the program and training may add after the worker's imports (MB; the worker lowers RLIMIT_AS to that)", check=positive_number)
    address_space_mb: int = setting(8192, "the outer RLIMIT_AS from the start (MB)", check=positive_number)
    file_size_mb: int = setting(64, "RLIMIT_FSIZE (MB)", check=positive_number)
    open_files: int = setting(512, "RLIMIT_NOFILE", check=positive_number)
    nproc_margin: int = setting(256, "tasks the worker may add to this user's count (RLIMIT_NPROC; not enforced for root)", check=integer(0, whole_floats=False))
    max_tasks: int = setting(400, "most tasks (processes and threads) in the worker's PID namespace, root's too (pid_max, Linux >= 6.14; at least 301)", check=positive_number)
    hide_dirs: list[str] | None = setting(
        None, "directories covered by an empty tmpfs (files: by /dev/null) in the worker's mount namespace; what the worker "
        "needs is bound back (default: default_hidden_dirs(): the parent's home, /root, /home, the temporary directories, "
        "/etc/shadow)", check=optional(_paths),
    )  # fmt: skip
    probe_timeout: float = setting(60.0, "wall-clock seconds for a probe", check=positive_number)
    train_timeout: float | None = setting(None, "wall-clock seconds for training (default: 120 + steps / 250)", check=optional(positive_number))
    call_timeout: float = setting(30.0, "wall-clock and CPU seconds for one call of the reward program (and for its module body)", check=positive_number)
    cpu_factor: float = setting(1.5, "CPU-seconds limit = cpu_factor x the wall-clock timeout", check=positive_number)
    grace: float = setting(3.0, "seconds between SIGTERM and SIGKILL", check=positive_number)
    eval_timeout: float = setting(300.0, "wall-clock seconds for a trusted evaluation", check=positive_number)
    static_check: bool = setting(True, "run the static check (testing switch; keep True)", check=boolean)
    runtime_guard: bool = setting(True, "install the runtime guard in the reward worker (testing switch; keep True)", check=boolean)
    seccomp: bool = setting(True, "install the reward worker's seccomp filter (testing switch; keep True)", check=boolean)
    keep_workdirs: bool = setting(False, "leave the workers' temporary directories (debugging)", check=boolean)
    tmp_root: str | None = setting(None, "where the temporary directories go (default: the system's)", check=optional(string))

    def __post_init__(self):
        self.check_fields()

    def timeout_for(self, stage: str, steps: int = 0) -> float:
        if stage == "probe":
            return float(self.probe_timeout)
        if self.train_timeout is not None:
            return float(self.train_timeout)
        return 120.0 + steps / 250.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WorkerOutcome:
    """What one sandboxed worker run produced, as seen by the trusted parent.

    Args:
        stage: ``"probe"`` or ``"train"``.
        failure: the named failure, or None.
        result: the validated result JSON (None when missing or refused).
        weights: the weights file's bytes (train stage, on success).
        log_tail: the end of the worker's stdout/stderr.
        returncode: the worker's exit status (negative: killed by that signal).
        wall_clock: seconds from start to exit.
        isolation: what the parent asked for (``namespaces``: True/False and why).
    """

    stage: str
    failure: SynthesisFailure | None
    result: dict[str, Any] | None
    weights: bytes | None
    log_tail: str
    returncode: int | None
    wall_clock: float
    isolation: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None


# -- the host ------------------------------------------------------------------------------


def count_user_tasks(uid: int | None = None) -> int:
    """Tasks (threads) of ``uid`` on this machine: what ``RLIMIT_NPROC`` is compared with."""
    uid = os.getuid() if uid is None else uid
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as f:
                real_uid, threads = None, 1
                for line in f:
                    if line.startswith("Uid:"):
                        real_uid = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if real_uid == uid:
            total += threads
    return total


def _pbrl_root() -> str:
    import pbrl

    return os.path.dirname(os.path.dirname(os.path.abspath(pbrl.__file__)))


def scrubbed_env(workdir: str) -> dict[str, str]:
    """The worker's whole environment: nothing inherited but the location of pbrl."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONPATH": _pbrl_root(),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MUJOCO_GL": "disable",
    }


def default_hidden_dirs() -> list[str]:
    """What a worker's mount namespace covers by default: this user's home, ``/root``,
    ``/home``, the temporary directories and ``/run/user`` (keys, configuration, other
    processes' files), and the password hashes (``/etc/shadow``, ``/etc/gshadow``)."""
    return [os.path.expanduser("~"), "/root", "/home", tempfile.gettempdir(), "/tmp", "/var/tmp", "/run/user",
            "/etc/shadow", "/etc/gshadow"]


def worker_needs() -> list[str]:
    """The paths a worker reads: its Python, its packages and pbrl (bound back under hidden
    directories). The parent's working directory is not among them (unless pbrl is there)."""
    import site

    cwd = os.getcwd()
    paths = [_pbrl_root(), sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))]
    try:
        paths += site.getsitepackages()
    except AttributeError:  # pragma: no cover - old virtualenv's site module
        pass
    paths += [p for p in sys.path if p and os.path.isdir(p) and os.path.realpath(p) != os.path.realpath(cwd)]
    return sorted(set(paths))


def read_regular_file(path: str, limit: int) -> bytes:
    """Read ``path`` only if it is a regular file (no symlink, FIFO or device) of at most ``limit`` bytes.

    Raises:
        FileNotFoundError: no such file.
        TamperedOutput: a symlink, not a regular file, or too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(path) from None
        if exc.errno == errno.ELOOP:
            raise TamperedOutput(f"{os.path.basename(path)} is a symbolic link") from None
        raise TamperedOutput(f"{os.path.basename(path)} cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TamperedOutput(f"{os.path.basename(path)} is not a regular file")
        if st.st_size > limit:
            raise OutputLimitExceeded(f"{os.path.basename(path)} has {st.st_size} bytes, more than the {limit} accepted")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise OutputLimitExceeded(f"{os.path.basename(path)} grew past {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _tail(path: str, size: int = LOG_TAIL_BYTES) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ""
        os.lseek(fd, max(0, st.st_size - size), os.SEEK_SET)
        return os.read(fd, size).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


# -- validating what the worker wrote -------------------------------------------------------


def _num(value: Any, what: str, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TamperedOutput(f"result {what}: expected a finite number, got {str(value)[:40]!r}")
    return float(value)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not TERM_NAME.match(value):
        raise TamperedOutput(f"result {what}: {str(value)[:40]!r} is not a valid term name")
    return value


def _series(value: Any, what: str, length: int | None = None) -> list[float | None]:
    if not isinstance(value, list) or len(value) > MAX_CURVE_POINTS or (length is not None and len(value) != length):
        raise TamperedOutput(f"result {what}: expected a list of at most {MAX_CURVE_POINTS} numbers")
    return [_num(v, what) for v in value]


def _summary(value: Any, what: str) -> dict[str, float | None]:
    if not isinstance(value, dict):
        raise TamperedOutput(f"result {what}: expected a summary object")
    out = {k: _num(value.get(k), f"{what}.{k}") for k in ("mean", "std", "min", "max")}
    out["count"] = _num(value.get("count", 0), f"{what}.count")
    return out


def _term_map(value: Any, what: str, fn) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) > MAX_TERMS + 8:
        raise TamperedOutput(f"result {what}: expected at most {MAX_TERMS} named terms")
    return {_name(k, what): fn(v, f"{what}.{k}") for k, v in value.items()}


def validate_result(data: Any, stage: str) -> dict[str, Any]:
    """A clean copy of a worker's result JSON, or :class:`TamperedOutput`.

    Only known fields are copied; numbers must be finite, names identifiers, lists bounded.
    """
    if not isinstance(data, dict) or data.get("format") != WORKER_FORMAT:
        raise TamperedOutput("the result is not a pbrl worker result")
    if data.get("stage") != stage:
        raise TamperedOutput(f"the result is for stage {data.get('stage')!r}, not {stage!r}")
    ok = data.get("ok")
    if not isinstance(ok, bool):
        raise TamperedOutput("the result has no ok flag")
    out: dict[str, Any] = {"stage": stage, "ok": ok, "failure": None}
    layers = data.get("layers")
    clean_layers: dict[str, Any] = {}
    if isinstance(layers, dict):
        for key in ("namespaces", "pid_namespace", "network_isolated", "filesystem_readonly", "capabilities_dropped"):
            if isinstance(layers.get(key), bool):
                clean_layers[key] = layers[key]
        hidden = layers.get("hidden")
        clean_layers["hidden"] = [h[:300] for h in hidden[:16] if isinstance(h, str)] if isinstance(hidden, list) else []
        task_limit = layers.get("task_limit")
        clean_layers["task_limit"] = task_limit if isinstance(task_limit, int) and not isinstance(task_limit, bool) else None
        if isinstance(layers.get("rlimits"), dict):
            clean_layers["rlimits"] = {
                k: int(v) for k, v in layers["rlimits"].items()
                if k in ("address_space_mb", "cpu_seconds", "file_size_mb", "open_files", "nproc") and isinstance(v, int)
            }
    out["layers_reported"] = clean_layers
    if not ok:
        failure = data.get("failure")
        if not isinstance(failure, dict) or failure.get("kind") not in _WORKER_KINDS:
            raise TamperedOutput("the result reports a failure of no known kind")
        out["failure"] = {
            "kind": failure["kind"],
            "message": printable(failure.get("message"), MAX_MESSAGE_CHARS),
            "detail": printable(failure.get("detail"), MAX_DETAIL_CHARS),
        }
        return out
    out["correlation"] = _num(data.get("correlation"), "correlation")
    if out["correlation"] is not None and not -1.0 <= out["correlation"] <= 1.0:
        raise TamperedOutput("result correlation outside [-1, 1]")
    if stage == "probe":
        probe = data.get("probe")
        if not isinstance(probe, dict):
            raise TamperedOutput("the probe result has no probe statistics")
        out["probe"] = {
            "reward": _summary(probe.get("reward"), "probe.reward"),
            "terms": _term_map(probe.get("terms", {}), "probe.terms", _summary),
        }
        return out
    curves = data.get("curves")
    if not isinstance(curves, dict):
        raise TamperedOutput("the training result has no curves")
    steps = curves.get("steps")
    if not isinstance(steps, list) or len(steps) > MAX_CURVE_POINTS or not all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
        raise TamperedOutput("result curves.steps: expected a list of integers")
    n = len(steps)
    out["curves"] = {
        "steps": list(steps),
        "program_reward": _series(curves.get("program_reward"), "curves.program_reward", n),
        "task_score": _series(curves.get("task_score"), "curves.task_score", n),
        "true_return": _series(curves.get("true_return"), "curves.true_return", n),
        "episode_length": _series(curves.get("episode_length"), "curves.episode_length", n),
        "program_terms": _term_map(curves.get("program_terms", {}), "curves.program_terms", lambda v, w: _series(v, w)),
        "task_terms": _term_map(curves.get("task_terms", {}), "curves.task_terms", lambda v, w: _series(v, w)),
    }
    num = data.get("num_timesteps")
    if not isinstance(num, int) or isinstance(num, bool) or num < 0:
        raise TamperedOutput("result num_timesteps: expected a non-negative integer")
    out["num_timesteps"] = num
    out["train_seconds"] = _num(data.get("train_seconds"), "train_seconds")
    return out


# -- running a worker ------------------------------------------------------------------------


def _clean_layers(layers: Mapping[str, Any]) -> dict[str, Any]:
    """The reward worker's layers as recorded with a candidate (booleans and numbers only)."""
    out: dict[str, Any] = {}
    for key, value in layers.items():
        if isinstance(value, bool) or (isinstance(value, int) and not isinstance(value, bool)):
            out[str(key)[:40]] = value
    rl = layers.get("rlimits")
    if isinstance(rl, Mapping):
        out["rlimits"] = {str(k)[:40]: float(v) for k, v in rl.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return out


class Sandbox:
    """Runs worker jobs under :class:`SandboxConfig`'s limits (see the module docstring)."""

    def __init__(self, config: SandboxConfig | Mapping[str, Any] | None = None):
        if isinstance(config, Mapping):
            config = SandboxConfig(**config)
        self.config = config or SandboxConfig()

    def isolation(self) -> dict[str, Any]:
        """Whether this sandbox will use namespaces, and why (not)."""
        if self.config.isolation == "off":
            return {"namespaces": False, "reason": "isolation='off'"}
        ok, reason = isolation_status()
        if not ok and self.config.isolation == "require":
            raise SandboxUnavailable(f"isolation='require' but namespaces are unavailable here: {reason}")
        return {"namespaces": ok, "reason": reason}

    def limits(self, stage: str, steps: int = 0) -> dict[str, Any]:
        timeout = self.config.timeout_for(stage, steps)
        return {
            "memory_mb": int(self.config.memory_mb),
            "address_space_mb": int(self.config.address_space_mb),
            "cpu_seconds": int(math.ceil(timeout * self.config.cpu_factor)) + 5,
            "file_size_mb": int(self.config.file_size_mb),
            "open_files": int(self.config.open_files),
            "nproc": count_user_tasks() + int(self.config.nproc_margin),
            "max_tasks": int(self.config.max_tasks),
        }

    def run(self, job: Mapping[str, Any]) -> WorkerOutcome:
        """Run one worker job (a dict for ``worker.py``; ``limits`` and ``runtime_guard`` are filled in)."""
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable("the reward-program sandbox needs Linux (rlimits, namespaces)")
        stage = str(job["stage"])
        steps = int(job.get("train", {}).get("steps", 0)) if stage == "train" else 0
        isolation = self.isolation()
        timeout = self.config.timeout_for(stage, steps)
        reward_worker, pass_fds = None, ()
        full_job = dict(job, program=None, limits=self.limits(stage, steps))
        if job.get("program") is not None:
            # The program runs only in its own reward worker; the training worker gets the pipe to it.
            limits = self.worker_limits()
            try:
                reward_worker = RewardWorker(str(job["program"]), name="the reward program", limits=limits,
                                             static_check=bool(self.config.static_check),
                                             runtime_guard=bool(self.config.runtime_guard), seccomp=bool(self.config.seccomp))
            except SynthesisFailure as exc:
                return WorkerOutcome(stage, exc, None, None, "", None, 0.0, dict(isolation))
            isolation = dict(isolation, reward_worker=dict(reward_worker.layers))
            read_fd, write_fd = reward_worker.handoff()
            pass_fds = (read_fd, write_fd)
            full_job["reward_worker"] = {"read_fd": read_fd, "write_fd": write_fd, "limits": limits.to_dict()}
        try:
            outcome = self._run_worker(full_job, stage, timeout, isolation, pass_fds)
        finally:
            if reward_worker is not None:
                ended = reward_worker.exit_failure()
                reward_worker.close()
        if reward_worker is not None:
            if ended is not None and outcome.failure is not None:
                outcome.failure = ended  # the reward worker's own end says precisely what the program did
            if outcome.result is not None:
                outcome.result.setdefault("layers_reported", {})["reward_worker"] = _clean_layers(reward_worker.layers)
        return outcome

    def worker_limits(self) -> WorkerLimits:
        """The limits of a candidate's reward worker."""
        return WorkerLimits(memory_mb=int(self.config.memory_mb), call_timeout=float(self.config.call_timeout),
                            cpu_seconds=float(self.config.call_timeout), max_tasks=max(301, int(self.config.max_tasks)),
                            isolation=self.config.isolation)

    def _run_worker(self, full_job: dict[str, Any], stage: str, timeout: float, isolation: dict[str, Any],
                    pass_fds: tuple[int, ...]) -> WorkerOutcome:
        workdir = tempfile.mkdtemp(prefix="pbrl-sandbox-", dir=self.config.tmp_root)
        hide = default_hidden_dirs() if self.config.hide_dirs is None else list(self.config.hide_dirs)
        full_job["jail"] = {"hide": hide, "keep": worker_needs()}
        os.chmod(workdir, 0o700)
        try:
            with open(os.path.join(workdir, "job.json"), "w", encoding="utf-8") as f:
                json.dump(full_job, f)
            cmd = [sys.executable, "-m", "pbrl.synthesis.worker", "job.json"]
            env = scrubbed_env(workdir)
            if isolation["namespaces"]:
                cmd = unshare_command() + cmd
                env["PBRL_SANDBOX_NS"] = "1"
            log_path = os.path.join(workdir, "worker.log")
            start = time.time()
            timed_out = False
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, close_fds=True, pass_fds=pass_fds,
                )
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    self._kill_group(proc, signal.SIGTERM)
                    try:
                        proc.wait(timeout=self.config.grace)
                    except subprocess.TimeoutExpired:
                        self._kill_group(proc, signal.SIGKILL)
                        proc.wait()
                finally:
                    self._reap_group(proc)  # whatever the worker left behind
            wall = time.time() - start
            log_tail = _tail(log_path)
            outcome = self._collect(stage, workdir, proc.returncode, timed_out, timeout, isolation, log_tail)
            outcome.wall_clock = wall
            return outcome
        finally:
            if not self.config.keep_workdirs:
                shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _reap_group(proc: subprocess.Popen, patience: float = 10.0) -> None:
        """SIGKILL the worker's process group until it is empty (bounded by ``patience`` seconds)."""
        deadline = time.time() + patience
        while time.time() < deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)

    @staticmethod
    def _kill_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _collect(self, stage, workdir, returncode, timed_out, timeout, isolation, log_tail) -> WorkerOutcome:
        namespaces = isolation["namespaces"]
        sig = None
        if returncode is not None and returncode < 0:
            sig = -returncode
        elif namespaces and returncode is not None and returncode > 128:
            sig = returncode - 128  # process 1 of the namespace reports its child's signal so
        result, refused = None, None
        try:
            raw = read_regular_file(os.path.join(workdir, "result.json"), MAX_RESULT_BYTES)
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise TamperedOutput(f"result.json is not valid JSON ({type(exc).__name__})") from None
            result = validate_result(data, stage)
        except FileNotFoundError:
            refused = TamperedOutput("the worker wrote no result.json")
        except SynthesisFailure as exc:
            refused = exc
        failure: SynthesisFailure | None
        if timed_out:
            failure = WorkerTimeout(f"the worker did not finish within its {timeout:.0f} s wall-clock limit and was stopped")
        elif sig == signal.SIGXCPU:
            failure = CpuTimeExceeded("the worker used up its CPU-time limit (RLIMIT_CPU)")
        elif sig == signal.SIGXFSZ:
            failure = OutputLimitExceeded("the worker exceeded its file-size limit (RLIMIT_FSIZE)")
        elif sig is not None:
            hint = " (killed: out of memory?)" if sig == signal.SIGKILL else ""
            failure = WorkerCrashed(f"the worker was killed by {signal_name(sig)}{hint}", log_tail[-2000:])
        elif result is not None and not result["ok"]:
            failure = failure_from_record(result["failure"])
        elif result is not None:
            failure = None
        elif returncode not in (0, None):
            failure = WorkerCrashed(f"the worker exited with status {returncode}", log_tail[-2000:])
        else:
            failure = refused or TamperedOutput("the worker's result was refused")
        weights = None
        if failure is None and stage == "train":
            try:
                weights = read_regular_file(os.path.join(workdir, "weights.npz"), MAX_WEIGHTS_BYTES)
            except FileNotFoundError:
                failure = TamperedOutput("the worker wrote no weights file")
            except SynthesisFailure as exc:
                failure = exc
        return WorkerOutcome(stage, failure, result, weights, log_tail, returncode, 0.0, dict(isolation))


# -- trusted evaluation ----------------------------------------------------------------------


def run_evaluation(
    weights: bytes,
    task: str,
    hyperparams: Mapping[str, Any],
    episodes: int,
    seed: int,
    env_kwargs: Mapping[str, Any] | None = None,
    timeout: float = 300.0,
    tmp_root: str | None = None,
    record: list | None = None,
) -> dict[str, Any]:
    """Measure the fitness of ``weights`` in a separate trusted process (``evaluator.py``).

    With ``record`` (a list), the evaluation's episodes are recorded too and their
    ``.npz`` bytes (:class:`~pbrl.synthesis.rollouts.Rollouts`) appended to it.

    The process runs pbrl's own code only (it builds the policy, validates and loads
    the weights, and runs the episodes); it gets a scrubbed environment, rlimits and
    a timeout too. Returns the :class:`~pbrl.synthesis.fitness.FitnessResult` as a dict.

    Raises:
        TamperedOutput: the weights do not fit the policy.
        EvaluationFailed: anything else went wrong.
    """
    workdir = tempfile.mkdtemp(prefix="pbrl-eval-", dir=tmp_root)
    try:
        with open(os.path.join(workdir, "weights.npz"), "wb") as f:
            f.write(weights)
        job = {"task": task, "hyperparams": dict(hyperparams), "episodes": int(episodes), "seed": int(seed),
               "env_kwargs": dict(env_kwargs or {}), "weights": "weights.npz", "out": "eval.json",
               "record": "rollouts.npz" if record is not None else None}
        with open(os.path.join(workdir, "job.json"), "w", encoding="utf-8") as f:
            json.dump(job, f)
        env = scrubbed_env(workdir)
        with open(os.path.join(workdir, "eval.log"), "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pbrl.synthesis.evaluator", "job.json"], cwd=workdir, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise EvaluationFailed(f"the trusted evaluation did not finish within {timeout:.0f} s") from None
        try:
            data = json.loads(read_regular_file(os.path.join(workdir, "eval.json"), MAX_RESULT_BYTES))
        except (FileNotFoundError, ValueError):
            raise EvaluationFailed(f"the trusted evaluation failed (exit {proc.returncode})", _tail(os.path.join(workdir, "eval.log"))[-2000:]) from None
        if not data.get("ok"):
            failure = data.get("failure") or {}
            cls = FAILURE_CLASSES.get(failure.get("kind"), EvaluationFailed)
            raise cls(str(failure.get("message", "evaluation failed")), str(failure.get("detail", "")))
        if record is not None:
            from .rollouts import MAX_ROLLOUT_BYTES

            try:
                record.append(read_regular_file(os.path.join(workdir, "rollouts.npz"), MAX_ROLLOUT_BYTES))
            except FileNotFoundError:
                raise EvaluationFailed("the trusted evaluation recorded no rollouts") from None
        return data["fitness"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
