"""What the benchmark scripts share: the CPU's name, the load average, a log line, writing a report.

A script imports it as ``_common`` after putting its own folder on ``sys.path`` (at the
end, so nothing installed is shadowed); that works when the script runs as
``python benchmarks/NAME.py`` and when it is loaded by path (``pbrl bench NAME``, the
tests). Standard library only; ``pbrl bench`` does not list it (a leading underscore).
"""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Any, Callable

__all__ = ["RESULTS", "cpu_model", "load_average", "log", "write_report"]

#: the folder of the benchmarks' JSON and markdown results
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01 (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def log(msg: str) -> None:
    """Print ``msg`` after the time of day, at once (long runs are followed in their log)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_report(path: str, report: dict[str, Any], *, indent: int = 2, markdown: str | None = None,
                 say: Callable[[str], None] | None = print) -> None:
    """Write ``report`` as JSON to ``path`` (its folder made if missing; values JSON does not
    know written as text) and, given ``markdown``, that text to ``path`` with ``.md`` for
    ``.json``; then ``say("wrote PATH")`` (``say=None``: say nothing)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=indent, default=str)
    if markdown is not None:
        with open(os.path.splitext(path)[0] + ".md", "w", encoding="utf-8") as f:
            f.write(markdown + "\n")
    if say is not None:
        say(f"wrote {path}")
