"""HumanTeacher.rate: people rate stored segments on the page's /rate view (over HTTP to the real server
the teacher serves) and the teacher waits, or not, as configured — the ratings counterpart of label()."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from web_support import TASK, Client, rollout_buffer

from pbrl.preferences import PreferenceStore, SegmentSampler
from pbrl.preferences.ratings import RatingError, Ratings
from pbrl.teachers.human import HumanRatings, HumanTeacher
from pbrl.web import LabelServer


@pytest.fixture(scope="module")
def sampler():
    """Segments of 8 steps from real HalfCheetah rollouts (clips the page can draw)."""
    return SegmentSampler(rollout_buffer(steps=80), horizon=8, seed=1)


@pytest.fixture()
def run(tmp_path):
    """A run's store with two registered people: ``(store, {name: token})``."""
    with PreferenceStore(tmp_path / "prefs.sqlite") as store:
        store.set_info("task", TASK)
        yield store, {name: store.add_labeler(name) for name in ("alice", "bob")}


def _serve(store):
    return LabelServer(store, port=0, render_ahead=0).start()


def _person(url: str, token: str, answers: list[tuple[int, int | None]]) -> threading.Thread:
    """Someone at the /rate view: levels 1..n as the page shows them, None = skip."""

    def run():
        c = Client(url, token)
        for qid, level in answers:
            body = {"rating_query_id": qid, "skip": True} if level is None else {"rating_query_id": qid, "rating": level}
            status, out = c.post("/api/ratings", body)
            assert status == 200, out

    t = threading.Thread(target=run)
    t.start()
    return t


def test_a_served_run_shows_its_rating_queries_and_rate_waits_for_min_labels(run, sampler):
    store, token = run[0], run[1]["alice"]
    segments = sampler.sample(5)
    qids = [int(q) for q in store.add_rating_queries(segments, 5)]
    teacher = HumanTeacher(store, min_labels=2, poll=0.05, serve=_serve)
    try:
        # the page the teacher serves offers the run's open rating queries, oldest first
        status, nxt = Client(teacher.url, token).get("/api/rating/next")
        assert status == 200 and nxt["query"]["id"] == qids[0] and nxt["query"]["n_classes"] == 5
        assert nxt["progress"]["queued"] == 5
        person = _person(teacher.url, token, [(qids[3], 5), (qids[0], None)])
        before = store.ratings(include_retracted=True)["id"].size
        ratings = teacher.rate(segments, query_ids=qids)
        person.join()
        assert store.ratings(include_retracted=True)["id"].size == before + 2  # the page's two, nothing from rate()
    finally:
        teacher.close()
    assert isinstance(ratings, HumanRatings) and isinstance(ratings, Ratings) and ratings.n_classes == 5
    assert ratings.pending.tolist() == [False, True, True, False, True]
    # pending ones are marked skipped (nothing trains on them) and have no time; the real skip has one
    assert ratings.skipped.tolist() == [True, True, True, False, True]
    assert ratings.values[3] == 4.0 and np.isnan(ratings.values[[0, 1, 2, 4]]).all()  # level 5 is class 4
    assert np.isfinite(ratings.times[[0, 3]]).all() and np.isnan(ratings.times[[1, 2, 4]]).all()
    assert ratings.provenance.kind == "human" and ratings.provenance.labeler == "alice"
    assert teacher.answers_in_store
    data = store.rated_segments()
    assert data.rating_query_ids.tolist() == [qids[3]] and data.ratings.tolist() == [4]


def test_waits_for_every_segment_by_default_and_late_answers_reach_the_store(run, sampler):
    store, token = run[0], run[1]["alice"]
    segments = sampler.sample(3)
    qids = [int(q) for q in store.add_rating_queries(segments, 3)]
    with LabelServer(store, render_ahead=0) as server:
        person = _person(server.url, token, list(zip(qids, (1, 2, 3))))
        ratings = HumanTeacher(store, poll=0.05).rate(segments, query_ids=qids)
        person.join()
    assert not ratings.pending.any() and not ratings.skipped.any()
    assert ratings.values.tolist() == [0.0, 1.0, 2.0]

    later = sampler.sample(2)
    more = [int(q) for q in store.add_rating_queries(later, 3)]
    now = HumanTeacher(store, min_labels=0).rate(later, query_ids=more)
    assert now.pending.all() and now.skipped.all()
    timed = HumanTeacher(store, timeout=0.2, poll=0.05).rate(later, query_ids=more)
    assert timed.pending.all()
    assert store.open_rating_queries().tolist() == more
    with LabelServer(store, render_ahead=0) as server:
        _person(server.url, token, [(more[1], 3)]).join()
    assert store.rated_segments().rating_query_ids.tolist() == qids + [more[1]]  # read by the loop's next update


def test_several_labelers_and_a_labeler_filter(run, sampler):
    store, tokens = run
    segments = sampler.sample(3)
    q = [int(i) for i in store.add_rating_queries(segments, 4)]
    with LabelServer(store, render_ahead=0) as server:
        _person(server.url, tokens["alice"], [(q[0], 1), (q[1], 4)]).join()
        _person(server.url, tokens["bob"], [(q[2], 2), (q[0], 3)]).join()
    anyone = HumanTeacher(store, min_labels=0).rate(segments, query_ids=q)
    # alice rated most of the batch: hers are returned, bob's (stored all the same) stay pending
    assert anyone.provenance.labeler == "alice"
    assert anyone.pending.tolist() == [False, False, True]
    assert anyone.values[:2].tolist() == [0.0, 3.0]
    only_bob = HumanTeacher(store, labeler="bob", min_labels=0).rate(segments, query_ids=q)
    assert only_bob.provenance.labeler == "bob"
    assert only_bob.pending.tolist() == [False, True, False]
    assert only_bob.values[[0, 2]].tolist() == [2.0, 1.0]


def test_bad_use_is_explained(run, sampler):
    store = run[0]
    segments = sampler.sample(2)
    teacher = HumanTeacher(store, min_labels=0)
    with pytest.raises(ValueError, match="add_rating_queries"):
        teacher.rate(segments)
    with pytest.raises(KeyError, match="not in the store"):
        teacher.rate(segments, query_ids=[9001, 9002])
    five = store.add_rating_queries(segments, 5)
    with pytest.raises(RatingError, match="3 rating query ids for 2 segments"):
        teacher.rate(segments, query_ids=[*five, five[0]])
    three = store.add_rating_queries(segments[:1], 3)
    with pytest.raises(RatingError, match="several scales"):
        teacher.rate(segments, query_ids=[five[0], three[0]])
    # a pending rating carries no value
    with pytest.raises(RatingError, match="pending"):
        HumanRatings(np.array([1.0]), np.array([False]), 3, teacher.provenance, np.array([0.0]), pending=np.array([True]))
