"""The human teacher: people answering in the labeling web app.

:class:`HumanTeacher` implements :class:`pbrl.teachers.Teacher` (asynchronous), so
any loop that takes a teacher can ask people. The loop stores each batch of pairs
first (``store.add_pairs``) and passes their ids; the pairs appear on the labeling
page of every labeler; the teacher waits for answers — as many and as long as it
is told — and returns what has arrived, the rest *pending*. Answers that arrive
later land in the store, and the loop picks them up the next time it reads
``store.labelled_pairs()``.

Waiting is the loop's choice:

===============================================  ==========================================
``HumanTeacher(store)``                           wait until every pair is answered
``HumanTeacher(store, min_labels=0)``             never wait: queue the pairs and go on
``HumanTeacher(store, min_labels=20, timeout=600)``  go on after 20 answers or 10 minutes
``HumanTeacher(store, min_labels=0.5)``           wait for half of each batch
===============================================  ==========================================

A skip counts as an answer (the person declined), as with scripted teachers.

The answers are already in the store (the web app wrote them, one per labeler).
The returned :class:`~pbrl.preferences.Labels` carry one labeler (a ``Labels``
object has one provenance): the answers of the labeler who answered most of the
batch are returned as answered, with that labeler's name, and the answers of
other labelers as pending. So the loop's usual ``store.add_labels(query_ids,
labels)`` stores nothing new — a submission identical to a stored one is a no-op
— and no answer is counted twice; ``store.labelled_pairs()`` sees them all.
(Call ``store.add_labels`` right after :meth:`HumanTeacher.label`: an answer the
person undoes in between would be stored again by it.)

**Ratings** work the same way (:meth:`HumanTeacher.rate`): the loop stores the segments as
rating queries (``query_ids = store.add_rating_queries(segments, n_classes)``), people
rate them on the page's ``/rate`` view, and ``rate(segments, query_ids=query_ids)`` waits
as configured and returns :class:`HumanRatings` — a :class:`~pbrl.preferences.Ratings`
whose ratings not given in time are ``pending`` (and marked skipped, so nothing trains on
them); the loop reads them later with ``store.rated_segments()``. Nothing to store: the
web app wrote every rating.

``make_teacher("human", store=..., card=card, min_labels=..., timeout=...)`` builds
one by name. Pass ``serve=`` a function that starts the labeling page on the store
(``pbrl.web.LabelServer``; the preference loop does this for ``human_serve``) to have
it announced and stopped with the teacher; its address is recorded in the store's
``label_server`` info while it runs (``pbrl label add-labeler`` prints it).

In a live run (``pbrl train --reward learned --teacher human``, PrefPPO or PEBBLE)
the preference loop builds this teacher on the run's store,
``<run>/preferences.sqlite``, from the run's ``--pref human_*`` options::

    pbrl train --env pbrl/Hopper-v5 --agent ppo --reward learned --teacher human --feedback 200 \\
        --pref human_serve=true --pref human_port=8000 --pref human_min_labels=0
    pbrl label add-labeler alice --store runs/pbrl_Hopper-v5/ppo/<name>-s0/preferences.sqlite

(``human_min_labels``: ``all`` (default), a number, 0 = do not wait, or a fraction;
``human_timeout``: seconds, default none). Without ``human_serve`` the page is served
from another terminal, ``pbrl label serve --store <run>/preferences.sqlite``: the
store is SQLite in WAL mode, so the run and the server read and write it at once.
Answers that arrive after their round (pending) are used by the loop's next
reward-model update — the next round, or, once the budget is spent, every
``interval`` steps and at the end of training — and survive a resume (they are in
the store). See ``agents/preference/README.md``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..preferences.labels import LabelError, Labels, Provenance
from ..preferences.ratings import RatingError, Ratings
from ..preferences.segments import SegmentBatch
from ..preferences.store import PreferenceStore
from .base import Teacher, check_pairs

#: the teacher kind of labels people give (in the labeling page or through this teacher)
HUMAN_KIND = "human"

__all__ = ["Answer", "HumanRatings", "HumanTeacher", "make_human_teacher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """One person's answer to a query, as stored."""

    value: float  # NaN when skipped
    skipped: bool
    labeler: str
    time: float


@dataclass(frozen=True, eq=False)
class HumanRatings(Ratings):
    """:class:`~pbrl.preferences.Ratings` from people, some of them *pending* (not answered in time).

    A pending rating is also marked skipped, with value and time NaN, so code that only knows
    ``Ratings`` trains on none of them; ``pending`` tells them apart from a person's skip
    (a skip has the time it was given). Not to be passed to ``store.add_ratings``: the answers
    are in the store already (``HumanTeacher.answers_in_store``).
    """

    pending: Any = None

    def __post_init__(self):
        super().__post_init__()
        pending = np.zeros(len(self), bool) if self.pending is None else np.asarray(self.pending, dtype=bool).reshape(-1)
        if pending.shape != self.values.shape:
            raise RatingError(f"{len(self)} ratings but {pending.size} pending flags")
        if not self.skipped[pending].all():
            raise RatingError("a pending rating must also be marked skipped (it carries no value)")
        object.__setattr__(self, "pending", pending)


class HumanTeacher(Teacher):
    """People answering pairs in the labeling web app (an asynchronous teacher).

    Args:
        store: the preference store the labeling app serves — the one the loop
            stores its pairs in (a path or an open store).
        labeler: count only this labeler's answers (default: any human labeler's;
            a query answered by several counts the earliest answer).
        min_labels: answers to wait for in each :meth:`label` or :meth:`rate` call: None = all
            queries, an int = that many (capped at the batch size), a float in (0, 1)
            = that fraction of the batch, 0 = do not wait.
        timeout: seconds to wait at most (None: no limit). Then :meth:`label`
            returns what has arrived; the rest are pending.
        poll: seconds between looks at the store while waiting.
        card: the task card; its id is recorded as the store's ``task`` info (the
            labeling app draws that task's robot).
        serve: starts the labeling app on the opened store and returns the running server
            (``host``, ``port``, ``stop()``; e.g. ``lambda store: pbrl.web.LabelServer(store,
            port=0).start()``): the teacher announces its address, records it in the store
            and stops it on :meth:`close`. None: the page is served elsewhere.
        announce: print to stderr where to label, and when a round starts waiting
            (the preference loop of a live run sets it).
    """

    kind = HUMAN_KIND
    asynchronous = True
    #: the answers are in the store already (the web app wrote them): the loop need not store them
    answers_in_store = True

    def __init__(
        self,
        store: str | os.PathLike | PreferenceStore,
        *,
        labeler: str | None = None,
        min_labels: int | float | None = None,
        timeout: float | None = None,
        poll: float = 0.5,
        card: Any = None,
        serve: Callable[[PreferenceStore], Any] | None = None,
        announce: bool = False,
    ):
        self._owned = not isinstance(store, PreferenceStore)
        self.store = PreferenceStore(store) if self._owned else store
        if labeler is not None and (not isinstance(labeler, str) or not labeler):
            raise ValueError(f"labeler must be a non-empty string or None, got {labeler!r}")
        self._labeler = labeler
        if min_labels is not None:
            if isinstance(min_labels, bool) or not isinstance(min_labels, (int, float, np.integer, np.floating)):
                raise ValueError(f"min_labels must be None, an int >= 0 or a fraction in (0, 1), got {min_labels!r}")
            if isinstance(min_labels, (float, np.floating)) and not float(min_labels).is_integer():
                if not 0.0 < float(min_labels) < 1.0:
                    raise ValueError(f"a fractional min_labels must be in (0, 1), got {min_labels!r}")
            elif min_labels < 0:
                raise ValueError(f"min_labels must be >= 0, got {min_labels!r}")
        self.min_labels = min_labels
        if timeout is not None and (not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout < 0):
            raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
        self.timeout = None if timeout is None or math.isinf(timeout) else float(timeout)
        if not isinstance(poll, (int, float)) or not poll > 0:
            raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
        self.poll = float(poll)
        self.card = card
        if card is not None:
            self._record_task(getattr(card, "id", None))
        self.announce = bool(announce)
        self.server = None
        if serve is not None:
            self.server = serve(self.store)
            self.store.set_info("label_server", {"url": self.url, "pid": os.getpid()})
            print(
                f"pbrl: the labeling page is at {self.url}/ — make a labeler token with "
                f"`pbrl label add-labeler NAME --store {self.store.path}` and open {self.url}/?token=TOKEN",
                file=sys.stderr,
                flush=True,
            )
        elif self.announce:
            print(
                f"pbrl: people answer these queries in the labeling app: `pbrl label serve --store {self.store.path}` "
                f"and a token from `pbrl label add-labeler NAME --store {self.store.path}`",
                file=sys.stderr,
                flush=True,
            )

    @property
    def url(self) -> str | None:
        """The labeling page's address if this teacher serves it (``0.0.0.0``/``::`` shown as loopback)."""
        if self.server is None:
            return None
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.server.host, self.server.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server.port}"

    def _record_task(self, task_id: str | None) -> None:
        if not task_id:
            return
        stored = self.store.info().get("task")
        if stored is None:
            self.store.set_info("task", task_id)
        elif stored != task_id:
            warnings.warn(
                f"the store {self.store.path} records task {stored!r} but the teacher's card is {task_id!r}: "
                "the labeling page draws the store's task",
                stacklevel=3,
            )

    # -- Teacher interface --------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        return {"labeler": self._labeler, "min_labels": self.min_labels, "timeout": self.timeout}

    @property
    def labeler(self) -> str | None:
        return self._labeler

    @property
    def provenance(self) -> Provenance:
        # as the web app stores a person's labels: kind "human", no parameters
        return Provenance(self.kind, {}, self._labeler or HUMAN_KIND)

    def needed(self, n: int) -> int:
        """How many of ``n`` queries :meth:`label` (pairs) or :meth:`rate` (segments) waits for."""
        m = self.min_labels
        if m is None:
            return n
        if isinstance(m, (float, np.floating)) and not float(m).is_integer():
            return min(n, int(math.ceil(float(m) * n)))
        return min(n, int(m))

    def label(
        self,
        first: SegmentBatch,
        second: SegmentBatch,
        *,
        query_ids: Sequence[int] | np.ndarray | None = None,
    ) -> Labels:
        """Wait for people's answers to these stored pairs (see the class doc).

        Raises:
            ValueError: ``query_ids`` missing (store the pairs first with
                ``store.add_pairs`` and pass its ids) or of the wrong length.
            KeyError: a query id is not in the store.
        """
        n = check_pairs(first, second)
        ids = self._stored(
            query_ids, n, self.store.queries()["id"], "answers pairs", "query_ids = store.add_pairs(first, second) and "
            "call label(first, second, query_ids=query_ids)", lambda k: LabelError(f"{k} query ids for {n} pairs"), "query",
        )  # fmt: skip
        return self.wait(ids)

    def wait(self, query_ids: Sequence[int] | np.ndarray) -> Labels:
        """Wait (as configured) for answers to stored queries; returns the labels."""
        ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        return self._labels(ids, self._wait_for(ids, self.answers, "answers", "/"))

    def rate(self, segments: SegmentBatch, *, query_ids: Sequence[int] | np.ndarray | None = None) -> HumanRatings:
        """Wait for people's ratings of these stored rating queries (the page's ``/rate`` view).

        The ratings counterpart of :meth:`label`: the loop stores the segments first
        (``query_ids = store.add_rating_queries(segments, n_classes)``), this waits as
        ``min_labels`` / ``timeout`` say and returns :class:`HumanRatings` on the queries' scale,
        the ratings not given in time (or given by another labeler than the batch's main one)
        pending. It writes nothing: the web app stored every rating already.

        Raises:
            ValueError: ``query_ids`` missing or of the wrong length; the queries on several scales.
            KeyError: a rating query id is not in the store.
        """
        n = len(segments)
        queries = self.store.rating_queries()
        ids = self._stored(
            query_ids, n, queries["id"], "rates segments", "query_ids = store.add_rating_queries(segments, n_classes) "
            "and call rate(segments, query_ids=query_ids)", lambda k: RatingError(f"{k} rating query ids for {n} segments"),
            "rating query",
        )  # fmt: skip
        scales = np.unique(queries["n_classes"][np.isin(queries["id"], ids)])
        if scales.size > 1:
            raise RatingError(f"these rating queries are on several scales ({scales.tolist()} classes); rate one scale per call")
        n_classes = int(scales[0]) if scales.size else 2
        answers = self._wait_for(ids, self.rating_answers, "ratings", "/rate")
        values, skipped, pending, times, main = self._collect(ids, answers)
        return HumanRatings(values, skipped | pending, n_classes, Provenance(self.kind, {}, main), times, pending=pending)

    def _stored(self, query_ids, n: int, known: np.ndarray, does: str, how: str, wrong_length, noun: str) -> np.ndarray:
        """``query_ids`` as an array, checked: given, ``n`` of them, each in ``known`` (the store's ids)."""
        if query_ids is None:
            raise ValueError(f"the human teacher {does} that are in the preference store: store them with {how}")
        ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        if ids.size != n:
            raise wrong_length(ids.size)
        missing = ids[~np.isin(ids, known)]
        if missing.size:
            raise KeyError(f"{noun} id(s) {missing[:10].tolist()} are not in the store {self.store.path}")
        return ids

    def _wait_for(self, ids: np.ndarray, fetch: Callable[[np.ndarray], dict[int, Answer]], what: str, view: str) -> dict[int, Answer]:
        """Poll ``fetch(ids)`` until :meth:`needed` answers arrived or the timeout passed; the answers."""
        need = self.needed(ids.size)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        told = False
        while True:
            answers = fetch(ids)
            if len(answers) >= need:
                return answers
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return answers
            if not told:
                where = f" at {self.url}{view}" if self.server is not None else f" (`pbrl label serve --store {self.store.path}`, page {view})"
                limit = "" if self.timeout is None else f", at most {self.timeout:g} s"
                log.info("waiting for %d of %d human %s%s%s", need - len(answers), ids.size, what, where, limit)
                if self.announce:
                    print(f"pbrl: waiting for {need - len(answers)} of {ids.size} human {what}{where}{limit}", file=sys.stderr, flush=True)
                told = True
            time.sleep(self.poll if deadline is None else max(0.0, min(self.poll, deadline - now)))

    def answers(self, query_ids: Sequence[int] | np.ndarray) -> dict[int, Answer]:
        """query id -> the answer that counts, for the queries answered so far."""
        ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
        return self._earliest(self.store.labels(query_ids=ids), "query_id", "label")

    def rating_answers(self, rating_query_ids: Sequence[int] | np.ndarray) -> dict[int, Answer]:
        """rating query id -> the rating that counts (a class index, NaN if skipped), for those rated so far."""
        ids = np.asarray(rating_query_ids, dtype=np.int64).reshape(-1)
        rows = self.store.ratings(labeler=self._labeler)
        mine = np.isin(rows["rating_query_id"], ids)
        return self._earliest({k: v[mine] for k, v in rows.items()}, "rating_query_id", "rating")

    def _earliest(self, rows: dict[str, np.ndarray], query_key: str, value_key: str) -> dict[int, Answer]:
        """The earliest human answer (of :attr:`labeler`, if set) per query, from answer rows."""
        keep = rows["teacher_kind"] == HUMAN_KIND
        if self._labeler is not None:
            keep &= rows["labeler"] == self._labeler
        out: dict[int, Answer] = {}
        order = np.lexsort((rows["id"], rows["created"]))  # earliest first
        for i in order[keep[order]]:
            qid = int(rows[query_key][i])
            if qid not in out:
                out[qid] = Answer(
                    value=float(rows[value_key][i]),
                    skipped=bool(rows["skipped"][i]),
                    labeler=str(rows["labeler"][i]),
                    time=float(rows["created"][i]),
                )
        return out

    def _collect(self, ids: np.ndarray, answers: dict[int, Answer]):
        """(values, skipped, pending, times, labeler): the answers of the labeler who answered most of
        the batch (one provenance per batch); the rest pending."""
        names = [a.labeler for a in answers.values()]
        main = max(sorted(set(names)), key=names.count) if names else (self._labeler or HUMAN_KIND)
        n = ids.size
        values = np.full(n, np.nan)
        skipped = np.zeros(n, bool)
        pending = np.ones(n, bool)
        times = np.full(n, np.nan)
        for i, qid in enumerate(ids.tolist()):
            a = answers.get(qid)
            if a is None or a.labeler != main:
                continue
            pending[i] = False
            skipped[i] = a.skipped
            values[i] = a.value
            times[i] = a.time
        return values, skipped, pending, times, main

    def _labels(self, ids: np.ndarray, answers: dict[int, Answer]) -> Labels:
        values, skipped, pending, times, main = self._collect(ids, answers)
        return Labels(values=values, skipped=skipped, provenance=Provenance(self.kind, {}, main), times=times, pending=pending)

    def close(self) -> None:
        """Stop the labeling server (if this teacher started one) and close the store (if opened here)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
            try:
                self.store.set_info("label_server", None)
            except Exception:  # noqa: BLE001  (closing must not fail on a store that went away)
                log.debug("could not clear the store's label_server info", exc_info=True)
        if self._owned:
            self.store.close()

    def __enter__(self) -> "HumanTeacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_human_teacher(card: Any = None, seed: Any = None, *, store: Any = None, **kwargs: Any) -> HumanTeacher:
    """Factory for :func:`pbrl.teachers.make_teacher` (``"human"``); ``seed`` is unused."""
    if store is None:
        raise ValueError(
            "the human teacher needs store=... : the preference store (path) that the labeling app "
            "serves (`pbrl label serve --store PATH`)"
        )
    return HumanTeacher(store, card=card, **kwargs)
