"""The OS layer of the sandbox: namespaces, a read-only file system, no capabilities, rlimits.

The parent (``sandbox.py``) starts each worker under ``unshare(1)`` with new mount,
network and PID namespaces (and a user namespace when it does not run as root):

* **network**: the new network namespace has only a loopback interface, down: no
  connection leaves the worker, not even to 127.0.0.1 of the host;
* **processes**: in its PID namespace the worker sees and can signal only its own
  processes (not the parent, so not its ``/proc/<pid>/environ`` either); when the
  namespace's first process exits, the kernel kills every process left in it
  (fork bombs, daemons);
* **a task limit without cgroups**: on Linux >= 6.14 ``/proc/sys/kernel/pid_max`` is
  per PID namespace, and :func:`limit_tasks` sets the worker's to a few hundred, so
  ``fork``/``clone`` fail with ``EAGAIN`` beyond that many tasks (threads count). It
  holds for root too, which ``RLIMIT_NPROC`` does not: the kernel never enforces
  ``RLIMIT_NPROC`` for uid 0 of the initial user namespace, capabilities or not;

and the worker, before importing anything else, calls:

* :func:`hide_directories`: covers the parent's home directory, ``/root``, ``/home``
  and the temporary directories with empty tmpfs mounts, binding back only what the
  worker needs (its Python, its packages, pbrl, its working directory): the user's
  keys and configuration, and other processes' temporary files, are not there
  (``/etc/shadow`` and ``/etc/gshadow`` read as empty);
* :func:`readonly_filesystem`: bind-mounts its temporary working directory on itself,
  then remounts every other writable mount (``/``, ``/dev/shm``, ``/sys``,
  ``/proc/sys``, ...) read-only — in its private mount namespace only;
* :func:`drop_capabilities`: empties the capability bounding, ambient, effective,
  permitted and inheritable sets and sets ``no_new_privs``. A worker started by root
  keeps uid 0 (its Python may live in root's home) but without capabilities: it
  cannot remount, mount, override file permissions or change uid. It can still read
  files that uid 0 *owns* (mode 0600 in root's home included): owner access needs no
  capability;
* :func:`set_rlimits`: address space, CPU seconds, file size, open files, processes
  (``RLIMIT_NPROC`` counts the user's tasks system-wide: the parent passes its count
  plus a margin; not enforced for root, see above) and no core files.

Where ``unshare`` or user namespaces are not available the worker runs with the
rlimits and the dropped capabilities only, and reports which layers it has
(:func:`describe_layers`); ``SandboxConfig(isolation="require")`` refuses to run then.
Linux only.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from typing import Any, Mapping

__all__ = [
    "describe_layers",
    "drop_capabilities",
    "empty_root",
    "install_seccomp",
    "hide_directories",
    "limit_tasks",
    "reap_namespace",
    "readonly_filesystem",
    "set_rlimits",
    "tighten_address_space",
]

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc: Any = None


def _lib():
    global _libc
    if _libc is None:
        # The C library is already loaded into Python: no ctypes.util.find_library (it runs ldconfig).
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _unescape(path: str) -> str:
    """Mount points in ``/proc/self/mountinfo`` escape space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(path):
        code = path[i + 1 : i + 4]
        if path[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _mounts() -> list[tuple[str, set[str]]]:
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            mounts.append((_unescape(fields[4]), set(fields[5].split(","))))
    return mounts


def _mount(source: str | None, target: str, flags: int) -> int:
    lib = _lib()
    rc = lib.mount(
        source.encode() if source else None, target.encode(), None, ctypes.c_ulong(flags), None
    )
    return 0 if rc == 0 else ctypes.get_errno()


def _flags(options: set[str]) -> int:
    flags = 0
    for name, bit in (("nosuid", MS_NOSUID), ("nodev", MS_NODEV), ("noexec", MS_NOEXEC), ("noatime", MS_NOATIME),
                      ("nodiratime", MS_NODIRATIME), ("relatime", MS_RELATIME), ("strictatime", MS_STRICTATIME)):
        if name in options:
            flags |= bit
    return flags


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _mount_tmpfs(target: str) -> int:
    lib = _lib()
    rc = lib.mount(b"tmpfs", target.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC),
                   b"size=1m,nr_inodes=4096,mode=0755")
    return 0 if rc == 0 else ctypes.get_errno()


#: never covered, whatever ``hide`` says (a HOME of "/" or "/var" must not empty the system)
_SYSTEM_DIRS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt", "/proc",
                          "/run", "/sbin", "/srv", "/sys", "/usr", "/var"})


def hide_directories(hide: list[str], keep: list[str]) -> dict[str, Any]:
    """Cover each directory of ``hide`` with an empty tmpfs, re-binding the paths of ``keep`` under it;
    cover each file of ``hide`` with ``/dev/null``.

    The parent's home directory, ``/root``, ``/home`` and the temporary directories
    hold the user's keys, configuration and other processes' files; the worker needs
    only its Python, its packages and its working directory (``keep``). Only call it
    in a process started in a new mount namespace, before :func:`readonly_filesystem`
    (which then makes these mounts read-only too). A directory that is a ``keep`` path
    or lies inside one cannot be hidden and is reported as ``kept``. Returns
    ``{"hidden": [...], "kept": [...], "failed": {path: error}}``.
    """
    _mount(None, "/", MS_REC | MS_PRIVATE)  # nothing done here may propagate back to the host's mounts
    keep = sorted({os.path.realpath(k) for k in keep if k and os.path.exists(k)})
    dirs = sorted({os.path.realpath(d) for d in hide if d and os.path.isdir(d)})
    files = sorted({os.path.realpath(f) for f in hide if f and os.path.isfile(f)})
    hidden: list[str] = []
    kept: list[str] = []
    failed: dict[str, str] = {}
    for f in files:  # /etc/shadow and the like: /dev/null bound over them
        err = _mount("/dev/null", f, MS_BIND)
        if err:
            failed[f] = os.strerror(err)
        else:
            hidden.append(f)
    for d in dirs:
        if d in _SYSTEM_DIRS:
            failed[d] = "not hidden: a system directory"
            continue
        if any(_under(d, h) for h in hidden):
            continue  # already under a hidden directory
        if any(_under(d, k) for k in keep):
            kept.append(d)
            continue
        inside = [k for k in keep if _under(k, d)]
        # a kept path inside another kept path is visible through that one's bind mount
        inside = [k for k in inside if not any(o != k and _under(k, o) for o in inside)]
        # The originals stay reachable through a descriptor opened before the tmpfs covers them.
        try:
            fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
        except OSError as exc:
            failed[d] = exc.strerror or str(exc)
            continue
        try:
            err = _mount_tmpfs(d)
            if err:
                failed[d] = os.strerror(err)
                continue
            for k in inside:
                rel = os.path.relpath(k, d)
                target = os.path.join(d, rel)
                try:
                    if os.path.isdir(f"/proc/self/fd/{fd}/{rel}"):
                        os.makedirs(target, exist_ok=True)
                    else:
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
                except OSError as exc:
                    failed[k] = exc.strerror or str(exc)
                    continue
                err = _mount(f"/proc/self/fd/{fd}/{rel}", target, MS_BIND | MS_REC)
                if err:
                    failed[k] = os.strerror(err)
            hidden.append(d)
        finally:
            os.close(fd)
    return {"hidden": hidden, "kept": kept, "failed": failed}


def readonly_filesystem(workdir: str) -> dict[str, Any]:
    """Make every mount but ``workdir`` read-only in this (private) mount namespace.

    Only call it in a process started in a new mount namespace (``unshare --mount``):
    elsewhere it would remount the host's file systems. Returns ``{"ok": bool,
    "readonly": [...], "failed": {mount: errno name}}``.
    """
    workdir = os.path.realpath(workdir)
    # Nothing done here may propagate back to the host's mounts.
    _mount(None, "/", MS_REC | MS_PRIVATE)
    err = _mount(workdir, workdir, MS_BIND | MS_REC)
    if err:
        return {"ok": False, "readonly": [], "failed": {workdir: os.strerror(err)}}
    err = _mount("/proc/sys", "/proc/sys", MS_BIND | MS_REC) if os.path.isdir("/proc/sys") else 0
    readonly, failed = [], {}
    for point, options in _mounts():
        if point == workdir or "ro" in options:
            continue
        if point == "/proc" or (point.startswith("/proc/") and not point.startswith("/proc/sys")):
            continue
        if point.startswith("/dev") and not point.startswith("/dev/shm"):
            continue  # device nodes (/dev/null, /dev/urandom) stay usable
        e = _mount(None, point, MS_BIND | MS_REMOUNT | MS_RDONLY | _flags(options))
        if e:
            failed[point] = os.strerror(e)
        else:
            readonly.append(point)
    if err:
        failed["/proc/sys"] = os.strerror(err)
    return {"ok": "/" in readonly or ("/" not in failed and not failed), "readonly": readonly, "failed": failed}


#: the smallest pid_max the kernel accepts (RESERVED_PIDS + 1)
MIN_PID_MAX = 301
#: first kernel with a pid_max per PID namespace (earlier, the file is global: never write it there)
PER_NAMESPACE_PID_MAX = (6, 14)


def _kernel_version(release: str | None = None) -> tuple[int, int]:
    release = os.uname().release if release is None else release
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


def limit_tasks(max_tasks: int, release: str | None = None) -> dict[str, Any]:
    """Cap the number of tasks (processes and threads) of this PID namespace.

    Writes ``/proc/sys/kernel/pid_max`` of the worker's own PID namespace: a new task
    needs a PID below it, so ``fork`` fails with ``EAGAIN`` once about ``max_tasks``
    exist. Only call it as process 1 of a new PID namespace with a private ``/proc``
    (``unshare --pid --mount-proc``), before dropping capabilities. It does nothing
    on kernels older than 6.14, where the file is global and writing it would cap the
    whole machine. Returns ``{"ok": bool, "max_tasks": int | None, "reason": str}``.
    """
    if os.getpid() != 1:
        return {"ok": False, "max_tasks": None, "reason": "not process 1 of a PID namespace"}
    if _kernel_version(release) < PER_NAMESPACE_PID_MAX:
        return {"ok": False, "max_tasks": None, "reason": f"kernel {os.uname().release}: pid_max is global before Linux 6.14"}
    value = max(MIN_PID_MAX, int(max_tasks))
    try:
        with open("/proc/sys/kernel/pid_max", "w", encoding="ascii") as f:
            f.write(str(value))
        with open("/proc/sys/kernel/pid_max", encoding="ascii") as f:
            now = int(f.read().strip())
    except (OSError, ValueError) as exc:
        return {"ok": False, "max_tasks": None, "reason": f"pid_max: {exc}"}
    return {"ok": now == value, "max_tasks": now, "reason": "pid_max of the worker's PID namespace"}


#: the pivot_root system call by machine (glibc has no wrapper for it)
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
MNT_DETACH = 2


def empty_root() -> dict[str, Any]:
    """Make an empty, read-only tmpfs this process's root file system, with nothing of the old one left.

    For the reward worker, which imports everything it will ever need first (numpy and
    the standard-library modules it uses are in memory, with their shared libraries):
    afterwards there is no file to read — not the host's ``/etc``, home, temporary or
    project folders, not pbrl's or Python's own files — and nowhere to write. Only
    call it in a process started in a new mount namespace (``unshare --mount``), with
    ``CAP_SYS_ADMIN`` there. The old root is detached (``pivot_root`` then a lazy
    unmount), so no open descriptor or ``..`` leads back. Returns ``{"ok": bool,
    "reason": str}``.
    """
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        return {"ok": False, "reason": f"pivot_root: unknown machine {os.uname().machine}"}
    lib = _lib()
    _mount(None, "/", MS_REC | MS_PRIVATE)  # nothing done here may propagate back to the host's mounts
    for point in ("/tmp", "/mnt", "/var/tmp", "/opt", "/srv"):
        if os.path.isdir(point) and not os.path.islink(point):
            break
    else:
        return {"ok": False, "reason": "no directory to mount the new root on"}
    rc = lib.mount(b"tmpfs", point.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC),
                   b"size=64k,nr_inodes=16,mode=0555")
    if rc != 0:
        return {"ok": False, "reason": f"mount tmpfs: {os.strerror(ctypes.get_errno())}"}
    os.mkdir(os.path.join(point, "old"), 0o000)
    if lib.syscall(ctypes.c_long(number), point.encode(), os.path.join(point, "old").encode()) != 0:
        return {"ok": False, "reason": f"pivot_root: {os.strerror(ctypes.get_errno())}"}
    os.chdir("/")
    if lib.umount2(b"/old", ctypes.c_int(MNT_DETACH)) != 0:
        return {"ok": False, "reason": f"detaching the old root: {os.strerror(ctypes.get_errno())}"}
    os.rmdir("/old")
    err = _mount(None, "/", MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if err:
        return {"ok": False, "reason": f"remounting the new root read-only: {os.strerror(err)}"}
    left = os.listdir("/")
    return {"ok": not left, "reason": "an empty read-only tmpfs" if not left else f"the new root holds {left}"}


#: system calls the reward worker may make once its program is loaded (x86_64 numbers): reading and
#: writing its pipes, memory, time, futexes, its own rlimits, exit. Not ``open``/``openat``,
#: ``execve``, ``fork``/``clone``, ``socket``, ``kill``, ``mount``, ``ptrace``, ``unshare``...
SECCOMP_ALLOWED = {
    "x86_64": {
        "read": 0, "write": 1, "close": 3, "fstat": 5, "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10,
        "munmap": 11, "brk": 12, "rt_sigprocmask": 14, "rt_sigreturn": 15, "pread64": 17, "readv": 19,
        "writev": 20, "select": 23, "sched_yield": 24, "mremap": 25, "madvise": 28, "getpid": 39,
        "exit": 60, "fcntl": 72, "getrlimit": 97, "getrusage": 98, "sysinfo": 99, "times": 100,
        "sigaltstack": 131, "setrlimit": 160, "gettid": 186, "futex": 202, "sched_getaffinity": 204,
        "clock_gettime": 228, "clock_getres": 229, "clock_nanosleep": 230, "exit_group": 231,
        "pselect6": 270, "ppoll": 271, "prlimit64": 302, "getrandom": 318, "rseq": 334,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E}
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000


def install_seccomp() -> dict[str, Any]:
    """Let this process (and its threads) make only the system calls of :data:`SECCOMP_ALLOWED`.

    Every other call fails with ``EPERM`` (so Python reports an error, nothing crashes):
    no file is opened, no program executed, no process or thread created, no socket
    made, no signal sent, whatever a reward program reaches. A call made with another
    architecture's numbering (the x32 ABI, ``int 0x80``) kills the process. Needs
    ``no_new_privs`` (set by :func:`drop_capabilities`). Irreversible. Returns
    ``{"ok": bool, "reason": str}``; only x86_64 has a table (elsewhere: not installed).
    """
    machine = os.uname().machine
    allowed = SECCOMP_ALLOWED.get(machine)
    if allowed is None:
        return {"ok": False, "reason": f"no system-call table for {machine}"}

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    numbers = sorted(set(allowed.values()))
    m = len(numbers)
    deny = SECCOMP_RET_ERRNO | 1  # EPERM
    code = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, _AUDIT_ARCH[machine]),
        (ret, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (ld, 0, 0, 0),  # seccomp_data.nr
        (jge, m, 0, 0x40000000),  # the x32 ABI: denied
    ]
    code += [(jeq, m - i, 0, nr) for i, nr in enumerate(numbers)]
    code += [(ret, 0, 0, deny), (ret, 0, 0, SECCOMP_RET_ALLOW)]
    filters = (Instruction * len(code))(*[Instruction(*c) for c in code])
    program = Program(len(code), filters)
    lib = _lib()
    lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if lib.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        return {"ok": False, "reason": f"prctl(PR_SET_SECCOMP): {os.strerror(ctypes.get_errno())}"}
    return {"ok": True, "reason": f"{len(numbers)} system calls allowed, the rest fail with EPERM"}


def reap_namespace(child: int, close: tuple[int, ...] = ()) -> int:
    """Process 1 of a worker's PID namespace: forward ``SIGTERM`` to ``child`` (as ``SIGKILL``),
    close the descriptors ``close`` (so that only the child holds the pipes), reap every process
    until ``child`` ends, and return its status (128 + the signal if it was killed)."""
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    for fd in close:
        os.close(fd)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:  # pragma: no cover
            continue
        if pid == child:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def drop_capabilities() -> dict[str, Any]:
    """Drop every Linux capability for good and set ``no_new_privs``.

    Returns ``{"ok": bool, "effective": hex string of CapEff afterwards}``.
    """
    lib = _lib()
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            last = int(f.read().strip())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails without CAP_SETPCAP: nothing to drop then
    lib.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)()
    lib.capset(ctypes.byref(header), ctypes.byref(data))
    lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    # Read back with capget (not /proc/self/status: the reward worker has no /proc by now).
    after = (Data * 2)()
    if lib.capget(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), ctypes.byref(after)) != 0:
        return {"ok": False, "effective": None}
    effective = (after[1].effective << 32) | after[0].effective
    permitted = (after[1].permitted << 32) | after[0].permitted
    return {"ok": effective == 0 and permitted == 0, "effective": f"{effective:016x}"}


def _status_field(name: str) -> str | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def vm_size_bytes() -> int:
    """This process's current virtual memory size (``VmSize``), in bytes."""
    value = _status_field("VmSize")
    return int(value.split()[0]) * 1024 if value else 0


def _limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    value = int(value)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def set_rlimits(limits: Mapping[str, Any]) -> dict[str, int]:
    """Apply the worker's rlimits (soft = hard, so the worker cannot raise them again).

    ``limits`` keys (missing or ``None``: left alone): ``address_space_mb``,
    ``cpu_seconds`` (soft limit: ``SIGXCPU``; hard limit 5 s later: ``SIGKILL``),
    ``file_size_mb``, ``open_files``, ``nproc``. Core dumps are always off.
    """
    applied: dict[str, int] = {}
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.get("address_space_mb"):
        _limit(resource.RLIMIT_AS, int(limits["address_space_mb"]) << 20)
        applied["address_space_mb"] = int(limits["address_space_mb"])
    if limits.get("cpu_seconds"):
        cpu = int(limits["cpu_seconds"])
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5 if hard == resource.RLIM_INFINITY else min(cpu + 5, hard)))
        applied["cpu_seconds"] = cpu
    if limits.get("file_size_mb"):
        _limit(resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) << 20)
        applied["file_size_mb"] = int(limits["file_size_mb"])
    if limits.get("open_files"):
        _limit(resource.RLIMIT_NOFILE, int(limits["open_files"]))
        applied["open_files"] = int(limits["open_files"])
    if limits.get("nproc"):
        _limit(resource.RLIMIT_NPROC, int(limits["nproc"]))
        applied["nproc"] = int(limits["nproc"])
    return applied


def tighten_address_space(memory_mb: int) -> int:
    """Lower ``RLIMIT_AS`` to the current virtual size plus ``memory_mb``; returns the limit (MB).

    The worker calls this after building its env and policy, so the budget is what the
    reward program and training may add, whatever torch and MuJoCo reserved at import.
    """
    limit = vm_size_bytes() + (int(memory_mb) << 20)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit >> 20


def describe_layers(namespaces: bool, filesystem: Mapping[str, Any] | None, capabilities: Mapping[str, Any],
                    rlimits: Mapping[str, int], tasks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the OS layer of this worker consists of (recorded with every candidate)."""
    return {
        "namespaces": bool(namespaces),
        "pid_namespace": bool(namespaces),
        "task_limit": int(tasks["max_tasks"]) if tasks and tasks.get("ok") else None,
        "network_isolated": bool(namespaces) and _only_loopback(),
        "filesystem_readonly": bool(filesystem and filesystem.get("ok")),
        "capabilities_dropped": bool(capabilities.get("ok")),
        "rlimits": dict(rlimits),
    }


def _only_loopback() -> bool:
    """True when this process's network namespace has no interface but ``lo``, and ``lo`` is down."""
    try:
        with open("/proc/self/net/dev", encoding="ascii") as f:
            names = [line.split(":", 1)[0].strip() for line in f.readlines()[2:]]
        with open("/proc/self/net/route", encoding="ascii") as f:
            routes = f.readlines()[1:]
    except OSError:
        return False
    return names == ["lo"] and not routes
