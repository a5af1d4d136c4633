"""``pbrl reward-check MODEL --labels STORE``: the reward-hacking check of a learned reward model.

Scores a saved reward model (``pbrl.rewards.persist``: a run's ``reward_model/``, or the run
folder itself) against the labelled pairs of a preference store or export file — e.g. people's
labels — with :mod:`pbrl.rewards.hacking`: agreement, rank correlation with the labels' implied
ordering, rank distance, and FLAGGED below ``--min-agreement``. Segments are scored as the model
scores them in training (each segment's summed or mean reward, averaged over ensemble members).

Exit codes: 0 not flagged, 1 flagged, 2 bad input. Only weights are loaded (``torch.load``
with ``weights_only``); reward *programs* are never run here.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import typer

from .common import err, fail

#: the first bytes of the two label files this command reads
_SQLITE_MAGIC, _ZIP_MAGIC = b"SQLite format 3\x00", b"PK"


def reward_check(
    model: str = typer.Argument(..., help="A saved reward model folder (config.json + weights, e.g. a run's reward_model/) "
                                          "or a run folder that has one (runs with --reward learned)."),
    labels: str = typer.Option(..., "--labels", help="A preference store (.sqlite) or an exported preference file (.npz, "
                                                     "PreferenceStore.export_to) whose labelled pairs are the held-out labels."),
    min_agreement: float = typer.Option(0.6, "--min-agreement", min=0.0, max=1.0,
                                        help="Flag the model when it orders fewer of the decisive labelled pairs as the labels do."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON on stdout."),
) -> None:
    """Check a learned reward model against preference labels (the reward-hacking check).

    Prints agreement, rank correlation and rank distance to the labels' implied ordering, the number of decisive pairs, and FLAGGED when agreement is below --min-agreement. Exit code 0: not flagged, 1: flagged, 2: bad input.

    Only learned models (weights) are checked here; reward programs are checked through pbrl synthesize's sandboxed path (--hacking-*).
    """
    folder = _model_folder(model)
    if not os.path.exists(labels):
        fail(f"--labels {labels}: no such file")
    if not os.path.isfile(labels):
        fail(f"--labels {labels}: not a file (a preference store .sqlite or an export .npz)")
    err.print(f"checking the reward model {folder} against the labelled pairs of {labels} ...", markup=False, soft_wrap=True)
    result = check(folder, labels, min_agreement)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print(result)
    raise typer.Exit(1 if result["flagged"] else 0)


def _model_folder(model: str) -> str:
    """The checkpoint folder: ``model`` itself, or ``model/reward_model`` for a run folder (no torch here)."""
    if not os.path.exists(model):
        fail(f"{model}: no such folder (give a reward model folder or a run folder)")
    if not os.path.isdir(model):
        fail(f"{model} is a file; a reward model is a folder holding config.json and a weights file (e.g. <run>/reward_model)")
    inner = os.path.join(model, "reward_model")
    return inner if os.path.isdir(inner) else model


def check(folder: str, labels_path: str, min_agreement: float) -> dict[str, Any]:
    """Load the model and the labels, score; any bad input fails (exit 2) with its problem named."""
    from pbrl.preferences import DamagedStoreError, EmptyPreferencesError, NotAPbrlStoreError
    from pbrl.preferences.export import PreferenceFormatError
    from pbrl.preferences.segments import SegmentShapeError
    from pbrl.rewards.persist import CheckpointError, load_reward_model

    try:
        reward_model = load_reward_model(folder, device="cpu")
    except (CheckpointError, KeyError, TypeError, RuntimeError) as exc:  # refused, or a config the model cannot be built from
        looks_like_run = os.path.isfile(os.path.join(folder, "summary.json")) or os.path.isdir(os.path.join(folder, "checkpoints"))
        if looks_like_run:
            fail(f"{folder} is a run folder without a saved reward model (reward_model/: only --reward learned runs have one)")
        fail(f"not a reward model: {exc}" if isinstance(exc, CheckpointError) else f"{folder}: cannot load the reward model ({type(exc).__name__}: {exc})")
    try:
        data, first_ids, second_ids = _labelled_pairs(labels_path)
    except (EmptyPreferencesError, NotAPbrlStoreError, DamagedStoreError, PreferenceFormatError, SegmentShapeError) as exc:
        fail(str(exc))
    dims = (data.first.obs_dim, data.first.act_dim)
    if dims != (reward_model.obs_dim, reward_model.act_dim):
        fail(f"the labels' segments have obs_dim {dims[0]} and act_dim {dims[1]}, the reward model "
             f"obs_dim {reward_model.obs_dim} and act_dim {reward_model.act_dim}: labels of another task?")  # fmt: skip
    from pbrl.rewards.hacking import score_returns

    try:
        scores = reward_model.pair_scores((data.first.obs, data.second.obs), (data.first.actions, data.second.actions),
                                          mask=(data.first.mask, data.second.mask)).mean(0)  # fmt: skip
    except ValueError as exc:  # e.g. segments longer than a Preference Transformer's context
        fail(f"the reward model cannot score these segments: {exc}")
    score = score_returns(scores[:, 0], scores[:, 1], data.labels, first_ids=first_ids, second_ids=second_ids,
                          min_agreement=min_agreement)  # fmt: skip
    if score.decisive == 0:
        fail(f"{labels_path}: none of its {score.pairs} labelled pairs is decisive (all 'equal'): nothing to agree with")
    kind = type(reward_model).__name__
    return {"model": folder, "model_kind": kind, "labels": labels_path, **score.to_dict()}


def _labelled_pairs(path: str):
    """(labelled pairs, first and second segment ids) of a store, or of an export file read into a temporary store."""
    from pbrl.preferences import PreferenceStore
    from pbrl.preferences.export import PreferenceFormatError

    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head.startswith(_ZIP_MAGIC):
        with tempfile.TemporaryDirectory(prefix="pbrl-reward-check-") as tmp, PreferenceStore(os.path.join(tmp, "labels.sqlite")) as store:
            store.import_from(path)
            return _pairs_of(store)
    if head != _SQLITE_MAGIC:
        raise PreferenceFormatError(f"{path} is neither a pbrl preference store (SQLite) nor a preference export (.npz)")
    with PreferenceStore(path, create=False) as store:
        return _pairs_of(store)


def _pairs_of(store):
    import numpy as np

    data = store.labelled_pairs()
    queries = store.queries()
    row = np.searchsorted(queries["id"], data.query_ids)  # ids are sorted; every labelled query is there
    # segment ids shared between pairs let the labels imply one ordering (the rank correlation)
    return data, queries["segment1"][row], queries["segment2"][row]


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    table = Table(title="reward-hacking check", show_header=False)
    table.add_row("reward model", f"{result['model']} ({result['model_kind']})")
    table.add_row("labels", result["labels"])
    table.add_row("labelled pairs", f"{result['pairs']:,} ({result['decisive']:,} decisive)")
    table.add_row("agreement", num(result["agreement"]))
    table.add_row("rank correlation", num(result["rank_correlation"]))
    table.add_row("rank distance", num(result["rank_distance"]))
    verdict = "FLAGGED" if result["flagged"] else "not flagged"
    table.add_row("verdict", f"{verdict} (agreement {'<' if result['flagged'] else '>='} {result['min_agreement']:.2f})")
    Console().print(table)
