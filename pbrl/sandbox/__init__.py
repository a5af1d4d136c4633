"""The sandbox for untrusted reward programs: the one way pbrl runs code nobody reviewed.

A reward program written by an LLM or sent by someone else runs only in a *reward
worker*: a separate process in a jail (``jail.py``: new mount, network, PID, IPC and
UTS namespaces, an empty read-only root file system, no capabilities, a seccomp
filter, rlimits), fed batches of transitions over a pipe by the trusted side
(``client.py``), which checks everything it gets back. The same worker serves
``pbrl train --reward program:``, reward synthesis (probe and training) and
relabelling; ``trusted-program:`` is the user's explicit opt-out for their own code.

Modules:

* ``check.py``: the static check, an AST allow-list (run by the trusted side first);
* ``policy.py``: the allow-lists themselves (modules, numpy functions, builtins);
* ``guard.py``: the runtime guard inside the worker;
* ``jail.py``: the OS layer;
* ``protocol.py``: the framing of requests and answers on the pipe;
* ``worker.py``: the reward worker (stdlib and numpy only; it never imports pbrl);
* ``client.py``: the trusted side — :class:`~pbrl.sandbox.client.RewardWorker`;
* ``errors.py``: the named failures.

This package imports nothing at import time, so that the worker can load its
modules (all standard library or numpy) without pbrl's own ``__init__``.
"""
