"""The reward-hacking check of a synthesis run: held-out labels, and candidates scored on them.

Every candidate reward is scored (:mod:`pbrl.rewards.hacking`) against preference labels the
proposer never sees, given by a *held-out* teacher (default: the scripted ``oracle``, which
answers from the task's own reward) or read from a preference store of people's labels:

* **before training**: on segments of a reference behaviour — random-action episodes of the
  task recorded once per run (or the labelled pairs of ``hacking_store``);
* **after training**: on segments of the candidate's own rollouts (the trusted evaluation's
  episodes), labelled by the held-out teacher.

Its program is evaluated on those segments in a sandboxed reward worker, as everywhere else
(``pbrl.sandbox``); only the rewards it returns are used here. The pairs and labels are kept in
``heldout.sqlite`` in the run folder (``meta``: which candidate, which phase). A candidate whose
agreement is below ``min_agreement`` in either phase is flagged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pbrl.preferences.segments import SegmentBatch
from pbrl.preferences.store import PreferenceStore
from pbrl.rewards.hacking import HackingScore, score_reward

from .rollouts import Rollouts, cut_segments, random_rollouts
from .worker import program_info

__all__ = ["HeldOutSet", "HeldOutCheck"]


class HeldOutSet:
    """Labelled pairs to score rewards on: segments, which pairs (indices into them), labels."""

    def __init__(self, segments: SegmentBatch, first: np.ndarray, second: np.ndarray, labels: np.ndarray, source: str):
        self.segments, self.first, self.second, self.labels, self.source = segments, first, second, labels, source

    def __len__(self) -> int:
        return int(self.labels.size)


class HeldOutCheck:
    """The reward-hacking check of one synthesis run (see the module docstring).

    Args:
        store_path: where the held-out pairs and labels go (``heldout.sqlite``).
        task: the task id; card: its card.
        teacher: the held-out teacher (a :class:`~pbrl.teachers.Teacher`).
        pairs: labelled pairs per set; horizon: segment length.
        min_agreement: the flag's threshold.
        seed: of the reference rollouts and the segment draws.
        env_kwargs: task keyword arguments.
        reference_store: a preference store whose labelled pairs are the "before" set instead.
    """

    def __init__(self, store_path: str, task: str, card: Any, teacher: Any, *, pairs: int, horizon: int,
                 min_agreement: float, seed: int, env_kwargs: dict[str, Any] | None = None,
                 reference_store: str | None = None):
        self.store = PreferenceStore(store_path)
        self.store.set_info("task", task)
        self.task, self.card, self.teacher = task, card, teacher
        self.pairs, self.horizon, self.min_agreement = int(pairs), int(horizon), float(min_agreement)
        self.seed, self.env_kwargs, self.reference_store = int(seed), dict(env_kwargs or {}), reference_store
        self._reference: HeldOutSet | None = None

    def close(self) -> None:
        self.store.close()

    def describe(self) -> dict[str, Any]:
        return {"teacher": self.teacher.provenance.kind, "teacher_params": dict(self.teacher.provenance.params),
                "pairs": self.pairs, "horizon": self.horizon, "min_agreement": self.min_agreement,
                "reference": self.reference_store or "random-action episodes"}

    # -- labelled sets ---------------------------------------------------------------------

    def _label(self, segments: SegmentBatch, meta: dict[str, Any], rng: np.random.Generator) -> HeldOutSet:
        """Pairs among ``segments`` (each in several pairs, so the labels imply a global ordering), labelled."""
        m = len(segments)
        first = rng.integers(0, m, size=self.pairs)
        second = (first + rng.integers(1, m, size=self.pairs)) % m
        ids = self.store.add_segments(segments)
        qids = self.store.add_queries(ids[first], ids[second], meta=meta)
        self.teacher.set_recent_returns(segments.returns * (self.card.max_episode_steps / max(segments.horizon, 1)))
        labels = self.teacher.label(segments[first], segments[second], query_ids=qids)
        self.store.add_labels(qids, labels)
        values = np.where(labels.answered, labels.values, np.nan)
        return HeldOutSet(segments, first, second, values, meta["phase"])

    def reference(self) -> HeldOutSet:
        """The "before" set: random-action segments labelled by the held-out teacher, or the reference store's pairs."""
        if self._reference is None:
            if self.reference_store:
                with PreferenceStore(self.reference_store, create=False) as ref:
                    data = ref.labelled_pairs()
                segs = SegmentBatch.concatenate([data.first, data.second])
                n = len(data)
                self._reference = HeldOutSet(segs, np.arange(n), n + np.arange(n), data.labels.copy(), self.reference_store)
            else:
                rng = np.random.default_rng([self.seed, 11])
                steps = min(int(self.card.max_episode_steps), max(4 * self.horizon, 200))
                rollouts = random_rollouts(self.task, 8, steps, self.seed + 7919, self.env_kwargs)
                segs = cut_segments(rollouts, min(self.horizon, int(rollouts.lengths.max())), max(8, self.pairs // 2),
                                    rng, "heldout/random-actions")
                self._reference = self._label(segs, {"phase": "before", "source": "random-actions"}, rng)
        return self._reference

    def own(self, candidate: str, rollouts: Rollouts) -> HeldOutSet:
        """The "after" set: segments of the candidate's own rollouts labelled by the held-out teacher."""
        rng = np.random.default_rng([self.seed, 13, sum(candidate.encode())])
        segs = cut_segments(rollouts, min(self.horizon, int(rollouts.lengths.max())), max(8, self.pairs // 2), rng,
                            f"heldout/{candidate}")
        return self._label(segs, {"phase": "after", "candidate": candidate}, rng)

    # -- scoring -----------------------------------------------------------------------------

    def score(self, reward_fn: Any, labelled: HeldOutSet) -> HackingScore:
        """Score a reward function ``(obs, action, next_obs, info) -> (N,)`` on a labelled set."""
        return score_reward(reward_fn, labelled.segments[labelled.first], labelled.segments[labelled.second],
                            labelled.labels, first_ids=labelled.first, second_ids=labelled.second,
                            min_agreement=self.min_agreement)

    def score_program(self, program: str, info_view: str, sandbox: Any, sets: list[HeldOutSet]) -> list[dict[str, Any]]:
        """Score a reward program, run in a sandboxed reward worker, on each set: a score's dict, or
        ``{"error": ...}`` when the program fails on these segments."""
        from pbrl.sandbox.client import RewardWorker

        from .errors import SynthesisFailure

        card = self.card

        def call(obs, action, next_obs, info):
            reward, _terms = worker(obs, action, next_obs, program_info(info, card, info_view))
            return reward

        out: list[dict[str, Any]] = []
        try:
            worker = RewardWorker(program, name="the reward program", limits=sandbox.worker_limits(),
                                  static_check=bool(sandbox.config.static_check),
                                  runtime_guard=bool(sandbox.config.runtime_guard), seccomp=bool(sandbox.config.seccomp))
        except SynthesisFailure as exc:
            return [{"error": f"{exc.kind}: {exc.message[:300]}"} for _ in sets]
        try:
            for labelled in sets:
                try:
                    out.append(dict(self.score(call, labelled).to_dict(), source=labelled.source))
                except (SynthesisFailure, ValueError, KeyError) as exc:
                    out.append({"error": f"{type(exc).__name__}: {str(exc)[:300]}", "source": labelled.source})
        finally:
            worker.close()
        return out
