"""The SB3 logger of a run: TensorBoard events and ``metrics.jsonl`` in the run folder.

Imports Stable-Baselines3 (torch). Events go straight into the run folder, so
``tensorboard --logdir runs`` shows each run under its folder path.

Each (tag, step) is written once. A run resumed from a checkpoint at step T keeps
what the interrupted run logged up to T, in both files (``metrics.jsonl`` drops the
rows after T, TensorBoard purges the events after T), and goes on from there; a tag
logged again at a step that already has it is dropped (:class:`RunLogger`).
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from stable_baselines3.common.logger import HParam, KVWriter, Logger, TensorBoardOutputFormat
from torch.utils.tensorboard import SummaryWriter

from .folder import METRICS
from .metrics import format_line, read_metrics


class JSONLOutput(KVWriter):
    """Append each dump as one line of ``metrics.jsonl`` (numeric values only)."""

    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8")

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        values = {k: v for k, v in key_values.items() if not (key_excluded.get(k) and "jsonl" in key_excluded[k])}
        line = format_line(step, values, time.time())
        if line is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        self.file.close()


class TensorBoardOutput(TensorBoardOutputFormat):
    """SB3's TensorBoard writer, with ``purge_step`` for resumed runs.

    On a resume from a checkpoint at step T, ``purge_step = T + 1``: events the
    interrupted run logged after T are hidden by TensorBoard, so curves don't double
    back; those at T (logged before the checkpoint was written) stay, as in
    ``metrics.jsonl``.
    """

    def __init__(self, folder: str, purge_step: int | None = None):
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


class RunLogger(Logger):
    """SB3's logger that writes each (tag, step) once: a tag recorded again at a step
    already written is dropped (SB3 steps never go back, so the last step is enough).

    Args:
        logged: (step, tags) already written, e.g. by the run a resume continues.
    """

    def __init__(self, folder: str | None, output_formats: list, logged: tuple[int, set[str]] | None = None):
        super().__init__(folder=folder, output_formats=output_formats)
        self._step, self._tags = logged if logged is not None else (None, set())

    def dump(self, step: int = 0) -> None:
        if step != self._step:
            self._step, self._tags = step, set()
        for key in [k for k in self.name_to_value if k in self._tags]:
            del self.name_to_value[key]
            self.name_to_excluded.pop(key, None)
        self._tags.update(self.name_to_value)
        super().dump(step)


def make_logger(run_dir: str, resumed_from: int | None = None) -> Logger:
    """The run's logger; ``resumed_from``: the checkpoint step a resumed run continues from."""
    metrics = os.path.join(run_dir, METRICS)
    logged = None
    if resumed_from is not None:
        tags = {k for row in read_metrics(metrics) if row.get("step") == resumed_from for k in row if k not in ("step", "time")}
        logged = (int(resumed_from), tags)
    purge = None if resumed_from is None else int(resumed_from) + 1
    return RunLogger(run_dir, [TensorBoardOutput(run_dir, purge), JSONLOutput(metrics)], logged)


def flat_hparams(config: Mapping[str, Any], hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as TensorBoard's HPARAMS tab takes them (scalars and strings)."""
    out: dict[str, Any] = {}
    for key in ("env", "agent", "seed", "steps", "reward", "num_envs", "name"):
        if key in config:
            out[key] = config[key]
    for key, value in hyperparams.items():
        out[f"hp/{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def log_hparams(logger: Logger, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Write the HPARAMS summary; ``metrics`` name the scalar tags TensorBoard shows next to them."""
    if not metrics:
        return
    logger.record("hparams", HParam(dict(hparams), dict(metrics)), exclude=("stdout", "log", "json", "csv", "jsonl"))
    logger.dump(step=step)
