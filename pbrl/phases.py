"""Progress of the long phases that are not training steps (fitting a reward model, relabelling a
dataset, ...): code that runs one calls :func:`report`; whoever shows progress (the CLI) listens
with :func:`listening`. Nobody listening costs a function call.

Standard library only."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

#: called with (phase, done, total, detail); total None when unknown
Listener = Callable[[str, int, "int | None", str], None]
_listeners: list[Listener] = []


def report(phase: str, done: int, total: int | None = None, detail: str = "") -> None:
    """Say how far ``phase`` is (``done`` of ``total`` units; ``detail``: e.g. the accuracy so far)."""
    for listener in list(_listeners):
        listener(phase, done, total, detail)


def active() -> bool:
    """Whether anyone listens: a caller in a loop can skip computing a report's numbers when nobody does."""
    return bool(_listeners)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every :func:`report` to ``listener`` inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


__all__ = ["Listener", "active", "listening", "report"]
