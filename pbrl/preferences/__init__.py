"""Preferences: segments, query selection and the durable preference store.

Pure numpy and sqlite3 (no torch). The flow, online or offline::

    from pbrl.preferences import (PreferenceStore, QuerySelector, SegmentSampler,
                                  TrajectoryBuffer)
    from pbrl.teachers import make_teacher

    buffer = TrajectoryBuffer.from_env(env)          # env: gym.make_vec("pbrl/...")
    # ... buffer.add(obs, actions, rewards, terminated, truncated, infos) every step,
    # or buffer.add_episodes(observations, actions, rewards, dones=...) for a dataset
    sampler = SegmentSampler(buffer, horizon=50, seed=0)
    selector = QuerySelector("disagreement", batch_size=128, seed=0)
    teacher = make_teacher("noisy", card=env.card, seed=0)
    with PreferenceStore("prefs.sqlite") as store:
        first, second = selector.select(sampler, ensemble=reward_model.probabilities)
        query_ids = store.add_pairs(first, second)
        teacher.set_recent_returns(buffer.recent_returns(10))
        store.add_labels(query_ids, teacher.label(first, second, query_ids=query_ids))
        data = store.labelled_pairs()    # data.first, data.second, data.labels

Label semantics: 1 = the second segment is preferred, 0 = the first, 0.5 = equal.

Modules, one concern each: ``segments`` (Segment, SegmentBatch), ``buffer``
(TrajectoryBuffer), ``sampler`` (SegmentSampler), ``queries`` (query selection),
``labels`` (Labels, Provenance), ``store`` (PreferenceStore), ``schema`` (its SQLite
tables), ``database`` (opening the file, connections, transactions), ``export`` (the
portable ``.npz`` file, FORMAT.md).
"""

from .buffer import TrajectoryBuffer
from .database import DamagedStoreError, NotAPbrlStoreError
from .export import EXPORT_FORMAT, EXPORT_VERSION, PreferenceFormatError
from .labels import (
    EQUAL,
    FIRST_PREFERRED,
    LABEL_VALUES,
    SECOND_PREFERRED,
    LabelError,
    Labels,
    Provenance,
    check_label_values,
)
from .queries import (
    METHODS,
    EnsembleFn,
    QuerySelector,
    disagreement,
    ensemble_entropy,
    kcenter_greedy,
    pair_features,
    select_indices,
)
from .sampler import SegmentSampler
from .schema import SCHEMA_VERSION, STORE_FORMAT
from .segments import (
    ORIGIN_KINDS,
    Origin,
    Segment,
    SegmentBatch,
    SegmentShapeError,
    check_pair_batches,
)
from .store import (
    EmptyPreferencesError,
    LabelConflictError,
    PreferenceData,
    PreferenceStore,
)

__all__ = [
    "EQUAL",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "FIRST_PREFERRED",
    "LABEL_VALUES",
    "METHODS",
    "ORIGIN_KINDS",
    "SCHEMA_VERSION",
    "SECOND_PREFERRED",
    "STORE_FORMAT",
    "DamagedStoreError",
    "EmptyPreferencesError",
    "EnsembleFn",
    "LabelConflictError",
    "LabelError",
    "Labels",
    "NotAPbrlStoreError",
    "Origin",
    "PreferenceData",
    "PreferenceFormatError",
    "PreferenceStore",
    "Provenance",
    "QuerySelector",
    "Segment",
    "SegmentBatch",
    "SegmentSampler",
    "SegmentShapeError",
    "TrajectoryBuffer",
    "check_label_values",
    "check_pair_batches",
    "disagreement",
    "ensemble_entropy",
    "kcenter_greedy",
    "pair_features",
    "select_indices",
]
