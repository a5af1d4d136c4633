"""The run folder of a synthesis run: everything, so it can be inspected, resumed and compared.

``runs/<task>/synthesis/<name>-s<seed>/`` holds:

====================================  ==============================================================
``config.json``                       the resolved settings (backend and model, no API key),
                                      proposer, sandbox, executor, prompt version, label
``state.json``                        where the loop is: iterations done, best candidate, the next
                                      messages, the proposer's state (for ``--resume``)
``messages/it<I>-r<R>.json``          every prompt sent (iteration I, sampling round R)
``responses.jsonl``                   every answer: iteration, round, index, candidate id, origin,
                                      text, model, tokens
``ledger.jsonl``                      every LLM request attempt: tokens, cost, status, backoff
``candidates.jsonl``                  one line per candidate: status, failure (kind, message,
                                      detail), fitness, correlation, sandbox layers, timings
``candidates/<id>/``                  ``response.txt``, ``program.py`` (or ``params.json``),
                                      ``probe.json``, ``train.json`` (validated curves),
                                      ``fitness.json``, ``reflection.json``, ``weights.npz``,
                                      ``worker.log``
``reflection/it<I>.txt``              the feedback sent after iteration I
``critique/it<I>.txt``                a person's critique added to iteration I
``final.json``                        the best program retrained with several seeds, against the
                                      task's own reward on the same seeds
``summary.json``                      the outcome in brief (with the hacking scores and warnings)
``preferences.sqlite``                ICPL: every pair of segments shown to the teacher and its label
``preferences/it<I>.json``            ICPL: the comparisons, win rates, preferred and rejected candidate
``preferences/it<I>-proposer.json``   ICPL: what the proposer was given for the next iteration
``heldout.sqlite``                    the reward-hacking check's held-out pairs and labels
``candidates/<id>/rollouts.npz``      the trusted evaluation's episodes of the candidate's policy
``events.out.tfevents.*``             TensorBoard: fitness, hacking scores and flags, ICPL win rates
====================================  ==============================================================
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

from pbrl.runs.folder import write_json

__all__ = ["RunStore"]


class RunStore:
    """Reads and writes one synthesis run folder."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)

    # -- files -------------------------------------------------------------------------

    def file(self, *parts: str) -> str:
        path = os.path.join(self.path, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def write_json(self, relpath: str, data: Any) -> None:
        write_json(self.file(*relpath.split("/")), data)

    def read_json(self, relpath: str, default: Any = None) -> Any:
        path = os.path.join(self.path, *relpath.split("/"))
        if not os.path.isfile(path):
            return default
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def write_text(self, relpath: str, text: str) -> None:
        with open(self.file(*relpath.split("/")), "w", encoding="utf-8") as f:
            f.write(text)

    def write_bytes(self, relpath: str, data: bytes) -> None:
        with open(self.file(*relpath.split("/")), "wb") as f:
            f.write(data)

    def append(self, name: str, record: dict[str, Any]) -> None:
        """Append one JSON line to ``name`` (flushed and synced: a crash keeps what was written)."""
        with open(self.file(name), "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def records(self, name: str) -> Iterator[dict[str, Any]]:
        """The JSON lines of ``name`` (a torn last line is skipped)."""
        path = os.path.join(self.path, name)
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    # -- summaries -----------------------------------------------------------------------

    def candidates(self) -> list[dict[str, Any]]:
        """The last record of every candidate, in order of first appearance."""
        latest: dict[str, dict[str, Any]] = {}
        for rec in self.records("candidates.jsonl"):
            latest[rec["id"]] = rec
        return list(latest.values())

    def responses(self) -> dict[tuple[int, int, int], dict[str, Any]]:
        """Answers by (iteration, round, index)."""
        return {(r["iteration"], r["round"], r["index"]): r for r in self.records("responses.jsonl")}
