"""Run ``pbrl ARGS`` and stop it at its first import of torch (or Stable-Baselines3, which imports it: 2–4 s on
a small machine, where pbrl's CLI itself starts in under one), writing to REPORT how much it had printed by then, or stop it at its first whole line of output if that comes first
(so a server or a long job stops at once): ``python first_output_hook.py REPORT ARGS...``.

A command that prints before it imports any of them shows the user something within about a second of its start,
however slow the machine: the check `tests/cli/test_first_output.py` makes without measuring time."""

import importlib.abc
import json
import os
import sys

report, argv = sys.argv[1], sys.argv[2:]
SLOW = ("torch", "stable_baselines3")
printed = {"chars": 0, "text": ""}


class Counting:
    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        printed["chars"] += len(text)
        printed["text"] = (printed["text"] + text)[:300]
        written = self._stream.write(text)
        if "\n" in printed["text"]:  # a whole first line came before any slow import: that is all to know
            self._stream.flush()
            _write(None)
            os._exit(0)
        return written

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _write(slow):
    with open(report, "w", encoding="utf-8") as f:
        json.dump({"slow_import": slow, "printed": printed["chars"], "text": printed["text"]}, f)


class StopAtSlowImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in SLOW:
            _write(name)
            os._exit(0)
        return None


sys.stdout, sys.stderr = Counting(sys.stdout), Counting(sys.stderr)
sys.meta_path.insert(0, StopAtSlowImport())
sys.argv = ["pbrl", *argv]
try:
    from pbrl.cli.main import main

    main()
finally:
    _write(None)
