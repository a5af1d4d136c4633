"""Offline datasets: D4RL-style levels in Minari's format, D4RL's API without d4rl,
imports, corruption and preference labelling.

Everything a dataset holds is a :class:`Trajectories` in memory (flat arrays in
Minari's episode layout) and a Minari dataset on disk, under
``$MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``)::

    import minari
    from pbrl.datasets import d4rl, load_trajectories, load_transitions

    batch = load_transitions("pbrl/hopper/medium-v0")   # training arrays (float32):
        # observations, actions, rewards, next_observations, terminals, timeouts, episode, step
    traj = load_trajectories("pbrl/hopper/medium-v0")    # the episodes (Minari's layout, flat)
    data = d4rl.qlearning_dataset("pbrl/hopper/medium-v0")   # D4RL's exact semantics
    ds = minari.load_dataset("pbrl/hopper/medium-v0")        # Minari opens it too

Modules, one concern each: :mod:`~pbrl.datasets.trajectories` (the in-memory
layout), :mod:`~pbrl.datasets.collect` (vectorised collection and recording),
:mod:`~pbrl.datasets.storage` (Minari storage, atomic writes, provenance),
:mod:`~pbrl.datasets.d4rl` (D4RL's API), :mod:`~pbrl.datasets.d4rl_import`
(D4RL hdf5 files), :mod:`~pbrl.datasets.remote` (``--download``),
:mod:`~pbrl.datasets.corruption` (robustness studies),
:mod:`~pbrl.datasets.labeling` (preference datasets) and
:mod:`~pbrl.datasets.summary` (list/show). Generating the D4RL-style levels trains
an agent, so it lives with the runs: :mod:`pbrl.runs.generate` (``pbrl dataset
generate``).
"""

from . import d4rl
from .collect import RandomPolicy, StepRecorder, as_policy, collect
from .corruption import Corruption, corrupt_dataset, corrupt_trajectories, corrupt_transitions, flip_labels
from .d4rl_import import import_d4rl, read_d4rl_file
from .errors import DatasetError, DatasetExistsError, DatasetNotFoundError, DownloadError
from .labeling import label_dataset
from .remote import download
from .storage import (
    dataset_exists,
    datasets_root,
    default_dataset_id,
    list_datasets,
    load_trajectories,
    load_transitions,
    make_provenance,
    read_metadata,
    task_of,
    write_dataset,
)
from .summary import describe, normalized_score
from .trajectories import Trajectories

__all__ = [
    "Corruption",
    "DatasetError",
    "DatasetExistsError",
    "DatasetNotFoundError",
    "DownloadError",
    "RandomPolicy",
    "StepRecorder",
    "Trajectories",
    "as_policy",
    "collect",
    "corrupt_dataset",
    "corrupt_trajectories",
    "corrupt_transitions",
    "d4rl",
    "dataset_exists",
    "datasets_root",
    "default_dataset_id",
    "describe",
    "download",
    "flip_labels",
    "import_d4rl",
    "label_dataset",
    "list_datasets",
    "load_trajectories",
    "load_transitions",
    "make_provenance",
    "normalized_score",
    "read_d4rl_file",
    "read_metadata",
    "task_of",
    "write_dataset",
]
