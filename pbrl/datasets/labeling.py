"""Preference datasets over offline data: pairs of dataset segments labelled by a teacher.

``pbrl dataset label DATASET --teacher noisy --pairs 2000 --segment 50`` loads the
dataset, cuts pairs of ``segment``-step windows out of its episodes with the one
segment sampler of :mod:`pbrl.preferences` (uniform over all windows, episodes
shorter than the window padded with their absorbing last state), asks the teacher
and writes the pairs and labels to a preference store (SQLite), in batches of
``batch_size`` pairs, each batch durable before the next is drawn.

Every stored segment references where it came from: ``source_kind="dataset"``,
``source_id`` = the dataset id, ``episode`` = the episode's index in the dataset
(Minari's ``episode_<i>``, ``Trajectories.episode(i)``) and ``start`` = the step
inside the episode. Segments carry the reward terms (``terms/<name>``, needed by
hierarchical teachers) and, as extras, the task card's quantities and the
``qpos``/``qvel`` of the observation each action was taken in (to render clips).

Feedback beyond pairs (``--feedback``):

* ``rating``: ``pairs`` segments, each rated on an ``n_classes`` scale by a rating
  teacher (:class:`pbrl.teachers.RatingTeacher` with the preset named by ``teacher``;
  its buckets are the quantiles of the returns of up to 2000 segments drawn from the
  dataset first, so every batch is rated on the same scale);
* ``ranking``: ``pairs`` segments ranked by binary insertion with the pairwise teacher
  (LiRE), lists of at most ``budget`` comparisons; each list is stored with its
  implied pairs.

With ``teacher="human"`` the rating queries / rankings are left open in the store for
people to answer on the labeling page (``pbrl label serve --store STORE``: the
``/rate`` and ``/rank`` views).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np

from pbrl import phases

from .storage import load_trajectories, read_metadata, task_of
from .trajectories import Trajectories

__all__ = ["FEEDBACK", "SCORES", "dataset_buffer", "label_dataset"]

#: what a labelling teacher compares (see :func:`label_dataset`)
SCORES = ("return", "regret")
#: the kinds of feedback :func:`label_dataset` collects
FEEDBACK = ("pairs", "rating", "ranking")


def _rescored(batch, traj: Trajectories, step_rewards: np.ndarray):
    """``batch`` with its rewards replaced by ``step_rewards`` of the same dataset steps (padding 0)."""
    from pbrl.preferences import SegmentBatch

    steps = traj.starts[batch.episode][:, None] + batch.start[:, None] + np.arange(batch.horizon)
    rewards = np.where(batch.mask, step_rewards[np.where(batch.mask, steps, 0)], 0.0)
    return SegmentBatch(batch.obs, batch.actions, rewards, mask=batch.mask, origin_kind=batch.origin_kind,
                        source_id=batch.source_id, episode=batch.episode, start=batch.start)  # fmt: skip


def dataset_buffer(traj: Trajectories, dataset_id: str):
    """A :class:`pbrl.preferences.TrajectoryBuffer` holding every episode of a dataset.

    Episode ``i`` of the buffer is episode ``i`` of the dataset (``episode_ids``), so
    segment origins point back into the dataset.
    """
    from pbrl.preferences import TrajectoryBuffer

    buffer = TrajectoryBuffer(source_id=dataset_id, return_history=max(traj.num_episodes, 1))
    terms = traj.reward_terms()
    extras = {
        name: traj.step_info(name)
        for name in traj.infos
        if not name.startswith("reward_terms/") and not name.startswith("corrupted/") and traj.infos[name].dtype.kind in "biuf"
    }
    rows = traj.step_rows()
    buffer.add_episodes(
        traj.observations[rows],
        traj.actions,
        traj.rewards,
        episode_lengths=traj.lengths,
        terminals=traj.terminations,
        reward_terms=terms,
        extras=extras,
        source_id=dataset_id,
        kind="dataset",
        episode_ids=np.arange(traj.num_episodes),
    )
    return buffer


def label_dataset(
    dataset_id: str,
    store_path: str | os.PathLike,
    *,
    teacher: str = "noisy",
    pairs: int = 2000,
    segment: int = 50,
    seed: int = 0,
    batch_size: int = 500,
    teacher_kwargs: Mapping[str, Any] | None = None,
    weighting: str = "window",
    score: str = "return",
    progress: Callable[[int], None] | None = None,
    feedback: str = "pairs",
    n_classes: int = 5,
    budget: int | None = None,
) -> dict[str, Any]:
    """Label ``pairs`` pairs of dataset segments with a teacher into a preference store.

    Args:
        dataset_id: the local dataset.
        store_path: the preference store file (created if missing; labels are added
            to an existing store).
        teacher: a registered teacher name (``oracle``, ``noisy``, ``mistake``,
            ``skip``, ``myopic``, ``equal``, ``hierarchical``, ...).
        pairs: number of pairs to label.
        segment: H, steps per segment.
        seed: seeds the sampler and the teacher.
        batch_size: pairs per store transaction.
        teacher_kwargs: knobs for the teacher (``beta=0.5``, ...).
        weighting: ``"window"`` (every window equally likely) or ``"episode"`` (B-Pref).
        score: what the teacher compares: ``"return"`` (B-Pref's partial return
            Σ r_t) or ``"regret"`` (CPL's Σ r_t + V(s_H) − V(s_0), with V the
            dataset's behaviour value, :mod:`pbrl.datasets.value`). The store keeps
            the true rewards either way; the query meta records the score.
        progress: called with the number of pairs stored so far.
        feedback: ``pairs``, ``rating`` or ``ranking`` (module docstring); for the
            last two ``pairs`` counts segments.
        n_classes: the rating scale (``rating``).
        budget: comparisons per ranked list (``ranking``; LiRE's q_budget; None: one
            list per batch).

    Returns:
        A summary: pairs, labels, skipped, store path and the store's counts.

    The teacher's skip/equal thresholds (B-Pref's ε_skip, ε_equal) are relative to
    the mean return of the dataset's episodes.
    """
    import pbrl.envs  # noqa: F401
    from pbrl.envs import cards
    from pbrl.preferences import PreferenceStore, SegmentSampler
    from pbrl.teachers import make_teacher

    if int(pairs) < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs!r}")
    if int(segment) < 1:
        raise ValueError(f"segment must be >= 1, got {segment!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    if feedback not in FEEDBACK:
        raise ValueError(f"feedback must be one of {', '.join(FEEDBACK)}, got {feedback!r}")
    if feedback != "pairs":
        return _label_beyond_pairs(
            dataset_id, store_path, feedback=feedback, teacher=teacher, count=int(pairs), segment=int(segment), seed=seed,
            batch_size=int(batch_size), teacher_kwargs=dict(teacher_kwargs or {}), weighting=weighting, score=score,
            n_classes=n_classes, budget=budget, progress=progress,
        )  # fmt: skip
    meta = read_metadata(dataset_id)
    task = task_of(dataset_id, meta)
    card = cards().get(task)
    traj = load_trajectories(dataset_id)
    buffer = dataset_buffer(traj, dataset_id)
    sampler = SegmentSampler(buffer, horizon=int(segment), weighting=weighting, seed=np.random.SeedSequence([seed, 1]))
    knobs = dict(teacher_kwargs or {})
    if teacher == "human":  # people answer in the labeling app, on this very store
        knobs.setdefault("store", os.fspath(store_path))
        knobs.setdefault("announce", True)
    judge = make_teacher(teacher, card=card, seed=seed, **knobs)
    try:
        if score == "regret" and judge.kind not in ("scripted", "boltzmann"):
            raise ValueError(f"score 'regret' needs a teacher that compares rewards (scripted presets, boltzmann), not {teacher!r}")
        judge.set_recent_returns(traj.returns())
        shaped = None
        if score == "regret":
            from .value import behaviour_value, regret_rewards

            shaped = regret_rewards(traj, behaviour_value(traj, seed=seed))
        done = answered = skipped = 0
        with PreferenceStore(store_path) as store:
            _open_dataset_store(store, store_path, dataset_id, task)
            while done < int(pairs):
                n = min(int(batch_size), int(pairs) - done)
                first, second = sampler.sample_pairs(n)
                query_ids = store.add_pairs(
                    first, second, meta={"dataset": dataset_id, "segment": int(segment), "teacher": teacher, "seed": int(seed), "score": score}
                )
                if shaped is None:
                    labels = judge.label(first, second, query_ids=query_ids)
                else:
                    labels = judge.label(_rescored(first, traj, shaped), _rescored(second, traj, shaped), query_ids=query_ids)
                if not getattr(judge, "answers_in_store", False):  # the human teacher's are stored already
                    store.add_labels(query_ids, labels)
                answered += int(labels.answered.sum())
                skipped += int(labels.skipped.sum())
                done += n
                phases.report("labelling pairs", done, int(pairs), f"{answered:,} labelled, {skipped:,} skipped")
                if progress is not None:
                    progress(done)
            counts = store.summary()
        return {
            "dataset": dataset_id,
            "task": task,
            "store": os.fspath(store_path),
            "pairs": done,
            "labels": answered,
            "skipped": skipped,
            "teacher": judge.provenance.labeler,
            "store_counts": counts,
        }
    finally:
        close = getattr(judge, "close", None)
        if close is not None:
            close()  # the human teacher stops serving the page and lets go of the store


def _open_dataset_store(store, store_path, dataset_id: str, task: str) -> None:
    """Check the store is whole and of this task; record the task and the dataset."""
    store.check()  # a damaged file is refused before anything is written into it
    existing = store.info()
    if isinstance(existing.get("task"), str) and existing["task"] != task:
        raise ValueError(
            f"the preference store {store_path} holds segments of {existing['task']}; {dataset_id!r} is a {task} dataset: "
            "label it into another store"
        )
    store.set_info("task", task)
    datasets = list(existing.get("datasets", []))
    if dataset_id not in datasets:
        store.set_info("datasets", datasets + [dataset_id])


def _label_beyond_pairs(
    dataset_id, store_path, *, feedback, teacher, count, segment, seed, batch_size, teacher_kwargs, weighting, score,
    n_classes, budget, progress,
) -> dict[str, Any]:  # fmt: skip
    """:func:`label_dataset` for ratings and rankings (see the module docstring)."""
    import pbrl.envs  # noqa: F401
    from pbrl.envs import cards
    from pbrl.preferences import PreferenceStore, SegmentSampler
    from pbrl.preferences.ratings import check_scale
    from pbrl.teachers import PRESETS, make_teacher, rank_segments

    n_classes = check_scale(n_classes)
    if budget is not None and int(budget) < 1:
        raise ValueError(f"budget must be >= 1 comparisons per ranked list, got {budget!r}")
    human = teacher == "human"
    if human and teacher_kwargs:
        raise ValueError(f"--teacher human with --feedback {feedback} takes no teacher knobs, got {sorted(teacher_kwargs)}")
    if feedback == "rating" and not human and teacher not in PRESETS and teacher != "rating":
        raise ValueError(f"ratings come from a scripted rating teacher: --teacher one of {', '.join(PRESETS)}, rating or human")
    if score == "regret" and human:
        raise ValueError("score 'regret' needs a scripted teacher")
    meta = read_metadata(dataset_id)
    task = task_of(dataset_id, meta)
    card = cards().get(task)
    traj = load_trajectories(dataset_id)
    sampler = SegmentSampler(dataset_buffer(traj, dataset_id), horizon=segment, weighting=weighting, seed=np.random.SeedSequence([seed, 1]))
    shaped = None
    if score == "regret":
        from .value import behaviour_value, regret_rewards

        shaped = regret_rewards(traj, behaviour_value(traj, seed=seed))
    judged = (lambda b: b) if shaped is None else (lambda b: _rescored(b, traj, shaped))
    judge = None
    if not human:
        if feedback == "rating":
            preset = teacher_kwargs.pop("preset", "oracle" if teacher == "rating" else teacher)
            judge = make_teacher("rating", card=card, seed=seed, preset=preset, n_classes=n_classes, **teacher_kwargs)
            if "bounds" not in teacher_kwargs and "return_range" not in teacher_kwargs:
                judge.calibrate(judge.segment_returns(judged(sampler.sample(min(2000, max(count, 100))))))
        else:
            judge = make_teacher(teacher, card=card, seed=seed, **teacher_kwargs)
        judge.set_recent_returns(traj.returns())
    query_meta = {"dataset": dataset_id, "segment": segment, "teacher": teacher, "seed": int(seed), "score": score}
    done = answered = skipped = lists = comparisons = 0
    with PreferenceStore(store_path) as store:
        _open_dataset_store(store, store_path, dataset_id, task)
        while done < count:
            n = min(batch_size, count - done)
            batch = sampler.sample(n)
            if feedback == "rating":
                qids = store.add_rating_queries(batch, n_classes, meta=query_meta)
                if judge is not None:
                    ratings = judge.rate(judged(batch))
                    store.add_ratings(qids, ratings)
                    answered += int(ratings.answered.sum())
                    skipped += int(ratings.skipped.sum())
            elif judge is None:
                store.start_ranking(batch, meta=query_meta)
                lists += 1
            else:
                for ranking in rank_segments(judge, judged(batch), budget=budget):
                    kept = sum(len(g) for g in ranking.groups)
                    if kept:
                        store.add_ranked_segments(batch, ranking.groups, ranking.provenance, comparisons=ranking.comparisons, meta=query_meta)
                    lists += 1
                    comparisons += ranking.comparisons
                    answered += kept
                    skipped += len(ranking.dropped)
            done += n
            phases.report(f"labelling segments ({feedback})", done, count, f"{answered:,} answered, {skipped:,} skipped")
            if progress is not None:
                progress(done)
        counts = store.summary()
    return {
        "dataset": dataset_id,
        "task": task,
        "store": os.fspath(store_path),
        "feedback": feedback,
        "segments": done,
        "pairs": done,
        "labels": answered,
        "skipped": skipped,
        "lists": lists,
        "comparisons": comparisons,
        "teacher": "human (waiting in the store)" if judge is None else judge.provenance.labeler,
        "store_counts": counts,
    }
