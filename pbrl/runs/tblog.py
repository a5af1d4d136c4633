"""The SB3 logger of a run: TensorBoard events and ``metrics.jsonl`` in the run folder.

Imports Stable-Baselines3 (torch). Events go straight into the run folder, so
``tensorboard --logdir runs`` shows each run under its folder path.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

from stable_baselines3.common.logger import HParam, KVWriter, Logger, TensorBoardOutputFormat
from torch.utils.tensorboard import SummaryWriter

from .folder import METRICS
from .metrics import format_line


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

    On a resume from a checkpoint at step T, events the interrupted run logged at
    steps >= T are hidden by TensorBoard, so curves don't double back.
    """

    def __init__(self, folder: str, purge_step: int | None = None):
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


def make_logger(run_dir: str, purge_step: int | None = None) -> Logger:
    return Logger(folder=run_dir, output_formats=[TensorBoardOutput(run_dir, purge_step), JSONLOutput(os.path.join(run_dir, METRICS))])


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
