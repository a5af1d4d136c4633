"""The runtime guard: what a reward program can reach inside the reward worker.

The second layer after the static check, applied by the worker (``worker.py``)
after its own imports and before the program is loaded:

* :func:`safe_builtins`: the program's ``__builtins__`` hold only the builtins the
  static check allows (``policy.ALLOWED_BUILTINS``), and an ``__import__`` that hands
  out the allowed modules (``numpy``, ``numpy.linalg``, ``numpy.random``, ``math``)
  from those the worker already imported — it never loads anything — and raises
  :class:`BlockedByGuard` for anything else. No ``open``, ``eval``, ``exec``,
  ``getattr``, ``print``, ...
* :func:`disable_dangerous_functions` (in the spirit of human-eval's
  ``reliability_guard``, but over *every* module the worker has loaded, since a
  program that walks object graphs reaches any of them through ``sys.modules``):
  process creation and signals (``os``/``posix``/``nt`` ``system``, ``fork``,
  ``exec*``, ``spawn*``, ``kill``, ``_posixsubprocess.fork_exec``), file access
  (``open`` in ``builtins``, ``io`` and ``_io``, ``io.open_code``, ``FileIO``,
  ``os.open``, removal, renaming, links, ``chmod``...), code loading
  (``importlib.import_module``, ``reload``, ``_imp.create_dynamic``, ``ctypes.CDLL``,
  ``dlopen``), sockets, ``signal.signal`` and friends are replaced by functions that
  raise :class:`BlockedByGuard`.

As human-eval's authors say of their guard, this is not a sandbox by itself: code
objects, ``marshal`` and object-graph walks remain. The OS layer (``jail.py``: an
empty read-only root, no network, a seccomp filter that refuses ``open``, ``exec``,
``fork`` and ``socket`` at the kernel) and the trusted side's distrust of every
answer are what contain such programs.

Standard library only (the reward worker loads it before its jail closes).
"""

from __future__ import annotations

import builtins
import sys
from typing import Any, Callable

from .policy import ALLOWED_BUILTINS, ALLOWED_MODULES

__all__ = ["BlockedByGuard", "disable_dangerous_functions", "restricted_import", "safe_builtins"]

#: names replaced in every loaded module that has them (when they are callables)
DANGEROUS_NAMES = frozenset(
    """
    system popen fork forkpty vfork execv execve execvp execvpe execl execle execlp execlpe
    spawnv spawnve spawnvp spawnvpe spawnl spawnle spawnlp spawnlpe posix_spawn posix_spawnp
    fork_exec kill killpg tgkill pidfd_open pidfd_send_signal remove unlink rmdir removedirs rename renames
    replace truncate ftruncate chmod fchmod lchmod chown fchown lchown link symlink mkfifo mknod
    mkdir makedirs putenv unsetenv chdir fchdir chroot setuid setgid seteuid setegid setreuid
    setregid setresuid setresgid setgroups setsid setpgid setpgrp nice plock register_at_fork
    memfd_create open openpty open_code FileIO listdir scandir walk readlink sendfile
    import_module reload create_dynamic exec_dynamic create_builtin load_dynamic load_source
    spec_from_file_location dlopen CDLL PyDLL WinDLL OleDLL LoadLibrary
    socket create_connection create_server socketpair fromfd
    signal setitimer alarm pthread_kill siginterrupt set_wakeup_fd setrlimit prlimit
    Popen run call check_call check_output getoutput getstatusoutput rmtree move copyfile copytree
    breakpoint input
    """.split()
)

#: modules left alone: the namespaces a program's own names come from (numpy's and math's:
#: their functions are array maths) and the guard itself
_KEEP_MODULES = frozenset({"numpy", "numpy.linalg", "numpy.random", "math", __name__})


class BlockedByGuard(PermissionError):
    """Raised by a function the guard disabled (a ``PermissionError``, so that library code
    which tolerates a failing ``open`` still works). The worker reports it as a
    ``guard_violation``."""


def _blocked(what: str) -> Callable[..., Any]:
    def blocked(*args: Any, **kwargs: Any) -> Any:
        raise BlockedByGuard(f"{what} is blocked by the sandbox's runtime guard")

    blocked.__name__ = f"blocked_{what.replace('.', '_')}"
    return blocked


def restricted_import(name: str, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
    """``__import__`` for reward programs: the allowed modules, from those already loaded only.

    numpy's C code imports its own ``numpy._core`` helpers while a program's frame is the
    current one (so through this function): those are handed out too, if already loaded."""
    internal = name.startswith("numpy._core.") and name in sys.modules
    if level != 0 or not (name in ALLOWED_MODULES or internal) or name not in sys.modules:
        raise BlockedByGuard(f"import of {name!r} is blocked by the sandbox's runtime guard "
                             "(numpy, numpy.linalg, numpy.random and math only)")
    return sys.modules[name] if fromlist else sys.modules[name.split(".")[0]]


def safe_builtins() -> dict[str, Any]:
    """The ``__builtins__`` of a reward program's namespace."""
    out = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS if hasattr(builtins, name)}
    out["__import__"] = restricted_import
    return out


def disable_dangerous_functions() -> list[str]:
    """Replace the callables of :data:`DANGEROUS_NAMES` in every loaded module (numpy's and
    math's own namespaces aside) by ones that raise :class:`BlockedByGuard`; returns what was
    replaced. Irreversible for the process: call it after the worker's last import."""
    replaced = []
    for module_name, module in sorted(sys.modules.items()):
        if module is None or module_name in _KEEP_MODULES:
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name in DANGEROUS_NAMES.intersection(namespace):
            if callable(namespace[name]):
                namespace[name] = _blocked(f"{module_name}.{name}")
                replaced.append(f"{module_name}.{name}")
    return replaced
