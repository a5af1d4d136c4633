"""The OS layer of the sandbox: namespaces, a read-only file system, no capabilities, rlimits.

The parent (``sandbox.py``) starts each worker under ``unshare(1)`` with new mount,
network and PID namespaces (and a user namespace when it does not run as root):

* **network**: the new network namespace has only a loopback interface, down: no
  connection leaves the worker, not even to 127.0.0.1 of the host;
* **processes**: in its PID namespace the worker sees and can signal only its own
  processes; when the namespace's first process exits, the kernel kills every
  process left in it (fork bombs, daemons);

and the worker, before importing anything else, calls:

* :func:`readonly_filesystem`: bind-mounts its temporary working directory on itself,
  then remounts every other writable mount (``/``, ``/dev/shm``, ``/sys``,
  ``/proc/sys``, ...) read-only — in its private mount namespace only;
* :func:`drop_capabilities`: empties the capability bounding, ambient, effective,
  permitted and inheritable sets and sets ``no_new_privs``. A worker started by root
  keeps uid 0 (its Python may live in root's home) but without capabilities: it
  cannot remount, override file permissions, or escape ``RLIMIT_NPROC``;
* :func:`set_rlimits`: address space, CPU seconds, file size, open files, processes
  (``RLIMIT_NPROC`` counts the user's tasks system-wide: the parent passes its count
  plus a margin) and no core files.

Where ``unshare`` or user namespaces are not available the worker runs with the
rlimits and the dropped capabilities only, and reports which layers it has
(:func:`describe_layers`); ``SandboxConfig(isolation="require")`` refuses to run then.
Linux only.
"""

from __future__ import annotations

import ctypes
import os
import resource
from typing import Any, Mapping

__all__ = ["describe_layers", "drop_capabilities", "readonly_filesystem", "set_rlimits", "tighten_address_space"]

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
    effective = _status_field("CapEff")
    return {"ok": effective is not None and int(effective, 16) == 0, "effective": effective}


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
                    rlimits: Mapping[str, int]) -> dict[str, Any]:
    """What the OS layer of this worker consists of (recorded with every candidate)."""
    return {
        "namespaces": bool(namespaces),
        "pid_namespace": bool(namespaces),
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
