"""The human teacher against the real labeling server: a loop asks, a person answers
over HTTP, and the teacher waits — or not — as configured."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from web_support import TASK, Client, rollout_buffer

import pbrl.web  # noqa: F401  (registers the "human" teacher)
from pbrl.envs import cards
from pbrl.preferences import PreferenceStore, SegmentSampler
from pbrl.teachers import Teacher, make_teacher
from pbrl.teachers.human import HumanTeacher
from pbrl.web import LabelServer


@pytest.fixture(scope="module")
def sampler():
    return SegmentSampler(rollout_buffer(steps=80), horizon=8, seed=1)


@pytest.fixture()
def store(tmp_path):
    with PreferenceStore(tmp_path / "prefs.sqlite") as s:
        s.set_info("task", TASK)
        yield s


def _person(url: str, token: str, answers: list[tuple[int, str]]) -> threading.Thread:
    """Someone at the page, answering over HTTP."""

    def run():
        c = Client(url, token)
        for qid, choice in answers:
            status, body = c.post("/api/labels", {"query_id": qid, "choice": choice})
            assert status == 200, body

    t = threading.Thread(target=run)
    t.start()
    return t


def test_waits_for_min_labels_then_goes_on_with_the_rest_pending(store, sampler):
    token = store.add_labeler("alice")
    first, second = sampler.sample_pairs(5)
    query_ids = store.add_pairs(first, second)
    teacher = HumanTeacher(store, min_labels=2, poll=0.05)
    assert isinstance(teacher, Teacher) and teacher.asynchronous and teacher.kind == "human"
    with LabelServer(store, render_ahead=0) as server:
        person = _person(server.url, token, [(int(query_ids[3]), "right"), (int(query_ids[0]), "skip")])
        labels = teacher.label(first, second, query_ids=query_ids)
        person.join()
    assert labels.pending.tolist() == [False, True, True, False, True]
    assert labels.skipped.tolist() == [True, False, False, False, False]
    assert labels.values[3] == 1.0
    assert labels.provenance.kind == "human" and labels.provenance.labeler == "alice"
    # the loop's usual next step stores nothing twice
    before = store.labels(include_retracted=True)["id"].size
    store.add_labels(query_ids, labels)
    assert store.labels(include_retracted=True)["id"].size == before == 2
    data = store.labelled_pairs()
    assert data.query_ids.tolist() == [int(query_ids[3])] and data.labelers.tolist() == ["alice"]


def test_waits_for_every_pair_by_default(store, sampler):
    token = store.add_labeler("alice")
    first, second = sampler.sample_pairs(3)
    query_ids = store.add_pairs(first, second)
    with LabelServer(store, render_ahead=0) as server:
        person = _person(server.url, token, [(int(q), c) for q, c in zip(query_ids, ("left", "equal", "right"))])
        labels = HumanTeacher(store, poll=0.05).label(first, second, query_ids=query_ids)
        person.join()
    assert not labels.pending.any()
    assert labels.values.tolist() == [0.0, 0.5, 1.0]


def test_goes_on_without_labels_when_told(store, sampler):
    first, second = sampler.sample_pairs(4)
    query_ids = store.add_pairs(first, second)
    now = HumanTeacher(store, min_labels=0).label(first, second, query_ids=query_ids)
    assert now.pending.all()
    timed = HumanTeacher(store, timeout=0.2, poll=0.05).label(first, second, query_ids=query_ids)
    assert timed.pending.all()
    store.add_labels(query_ids, timed)
    assert store.labels()["id"].size == 0 and store.open_queries().size == 4


def test_several_labelers_and_a_labeler_filter(store, sampler):
    tokens = {n: store.add_labeler(n) for n in ("alice", "bob")}
    first, second = sampler.sample_pairs(3)
    q = [int(i) for i in store.add_pairs(first, second)]
    with LabelServer(store, render_ahead=0) as server:
        _person(server.url, tokens["alice"], [(q[0], "left"), (q[1], "right")]).join()
        _person(server.url, tokens["bob"], [(q[2], "equal"), (q[0], "right")]).join()
    anyone = HumanTeacher(store, min_labels=0).label(first, second, query_ids=q)
    # alice answered most of the batch: hers are returned, bob's (already stored) stay pending
    assert anyone.provenance.labeler == "alice"
    assert anyone.pending.tolist() == [False, False, True]
    assert anyone.values[:2].tolist() == [0.0, 1.0]
    only_bob = HumanTeacher(store, labeler="bob", min_labels=0).label(first, second, query_ids=q)
    assert only_bob.provenance.labeler == "bob"
    assert only_bob.pending.tolist() == [False, True, False]
    assert only_bob.values[[0, 2]].tolist() == [1.0, 0.5]
    before = store.labels(include_retracted=True)["id"].size
    store.add_labels(q, anyone)
    store.add_labels(q, only_bob)
    assert store.labels(include_retracted=True)["id"].size == before == 4


def test_make_teacher_by_name_records_the_task_and_can_serve(tmp_path, sampler):
    path = tmp_path / "fresh.sqlite"
    teacher = make_teacher("human", card=cards()[TASK], store=str(path), min_labels=0, serve=lambda s: LabelServer(s, port=0).start())
    try:
        assert teacher.store.info()["task"] == TASK
        status, health = Client(teacher.server.url).get("/api/health")
        assert status == 200 and health["task"] == TASK
    finally:
        teacher.close()
    with pytest.raises(ValueError, match="store"):
        make_teacher("human")


def test_bad_use_is_explained(store, sampler):
    first, second = sampler.sample_pairs(2)
    teacher = HumanTeacher(store, min_labels=0)
    with pytest.raises(ValueError, match="add_pairs"):
        teacher.label(first, second)
    with pytest.raises(KeyError, match="not in the store"):
        teacher.label(first, second, query_ids=[9001, 9002])
    for bad in (dict(min_labels=-1), dict(min_labels=1.5), dict(timeout=-1.0), dict(poll=0), dict(labeler="")):
        with pytest.raises(ValueError):
            HumanTeacher(store, **bad)
    assert HumanTeacher(store, min_labels=0.5).needed(5) == 3
    assert HumanTeacher(store, min_labels=10).needed(4) == 4
    assert HumanTeacher(store).needed(7) == 7
    assert np.isnan(teacher.label(first, second, query_ids=store.add_pairs(first, second)).values).all()
