"""The runtime guard: what a reward program can reach inside the sandboxed worker.

The second layer after the static check, applied by the worker (``worker.py``)
after its own imports and before the program is loaded:

* :func:`safe_builtins`: the program's ``__builtins__`` hold only the builtins the
  static check allows, and an ``__import__`` that hands out ``numpy`` (with its
  submodules) and ``math`` and raises :class:`~pbrl.synthesis.errors.GuardViolation`
  for anything else. No ``open``, ``eval``, ``exec``, ``getattr``, ``print``, ...
* :func:`disable_dangerous_functions` (in the spirit of human-eval's
  ``reliability_guard``): ``os.system``, ``os.fork``, ``os.exec*``, ``os.kill``,
  file removal and renaming, ``subprocess.Popen``, ``socket.socket``,
  ``shutil.rmtree``, ``builtins.open``, ... are replaced by functions that raise
  :class:`GuardViolation`, for programs that reach those modules through numpy's
  or Python's internals (attribute walks the static check would have refused).

As human-eval's authors say of their guard, this is not a sandbox by itself: a
program can still walk object graphs at runtime. The OS layer (``jail.py``) and the
parent's distrust of everything the worker writes are what contain such programs.
"""

from __future__ import annotations

import builtins
from typing import Any, Callable

from .check import ALLOWED_BUILTINS, ALLOWED_MODULES
from .errors import GuardViolation

__all__ = ["BlockedByGuard", "disable_dangerous_functions", "restricted_import", "safe_builtins"]

_OS_FUNCTIONS = (
    "system", "popen", "fork", "forkpty", "vfork", "execv", "execve", "execvp", "execvpe",
    "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp", "kill",
    "killpg", "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace",
    "truncate", "ftruncate", "chmod", "fchmod", "lchmod", "chown", "fchown", "lchown",
    "link", "symlink", "mkfifo", "mknod", "putenv", "unsetenv", "chdir", "fchdir",
    "chroot", "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setsid", "setpgid", "setpgrp", "nice",
    "plock", "register_at_fork", "pidfd_open", "memfd_create",
)
_MODULE_FUNCTIONS = {
    "subprocess": ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"),
    "socket": ("socket", "create_connection", "create_server", "socketpair", "fromfd"),
    "shutil": ("rmtree", "move", "copy", "copy2", "copyfile", "copytree", "chown", "make_archive"),
    "signal": ("signal", "setitimer", "alarm", "pthread_kill"),
    "ctypes": ("CDLL", "PyDLL", "cdll", "pydll"),
    "builtins": ("open", "breakpoint", "input"),
}


class BlockedByGuard(GuardViolation, PermissionError):
    """Raised by a function the guard disabled. Also a ``PermissionError``, so that library
    code which tolerates a failing ``open`` (``linecache`` formatting a traceback) still works."""


def _blocked(what: str) -> Callable[..., Any]:
    def blocked(*args: Any, **kwargs: Any) -> Any:
        raise BlockedByGuard(f"{what} is blocked by the sandbox's runtime guard")

    blocked.__name__ = f"blocked_{what.replace('.', '_')}"
    return blocked


def restricted_import(name: str, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
    """``__import__`` for reward programs: numpy (and submodules) and math only."""
    if level != 0 or name.split(".")[0] not in ALLOWED_MODULES:
        raise BlockedByGuard(f"import of {name!r} is blocked by the sandbox's runtime guard (numpy and math only)")
    return builtins.__import__(name, globals, locals, fromlist, level)


def safe_builtins() -> dict[str, Any]:
    """The ``__builtins__`` of a reward program's namespace."""
    out = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS if hasattr(builtins, name)}
    out["__import__"] = restricted_import
    return out


def disable_dangerous_functions() -> list[str]:
    """Replace process, file-system, network and code-loading functions by ones that raise
    :class:`GuardViolation`; returns what was replaced. Irreversible for the process."""
    import importlib
    import os

    replaced = []
    for name in _OS_FUNCTIONS:
        if hasattr(os, name):
            setattr(os, name, _blocked(f"os.{name}"))
            replaced.append(f"os.{name}")
    for module_name, names in _MODULE_FUNCTIONS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # pragma: no cover - all are standard library
            continue
        for name in names:
            if hasattr(module, name):
                setattr(module, name, _blocked(f"{module_name}.{name}"))
                replaced.append(f"{module_name}.{name}")
    return replaced
