"""The rating and ranking API of the labeling app against a real server: answers, undo, and bad payloads
answered with clear errors and no lost data."""

from __future__ import annotations

import pytest

from web_support import TASK, Client, rollout_buffer, store_snapshot

from pbrl.preferences import PreferenceStore, SegmentSampler
from pbrl.web import LabelServer


def make_feedback_store(path: str, *, ratings: int = 4, n_classes: int = 5, ranked: int = 3, horizon: int = 20, seed: int = 0):
    """A store with open rating queries and one open ranking over real, renderable segments."""
    sampler = SegmentSampler(rollout_buffer(seed=seed), horizon=horizon, seed=seed)
    with PreferenceStore(path) as store:
        store.set_info("task", TASK)
        qids = store.add_rating_queries(sampler.sample(ratings), n_classes) if ratings else []
        rid = store.start_ranking(sampler.sample(ranked)) if ranked else None
    return [int(q) for q in qids], rid


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("web-feedback") / "prefs.sqlite")
    qids, rid = make_feedback_store(path)
    with PreferenceStore(path) as store:
        tokens = {name: store.add_labeler(name) for name in ("alice", "bob")}
    with LabelServer(path, port=0) as server:
        yield {"path": path, "qids": qids, "rid": rid, "tokens": tokens, "url": server.url}


def test_pages_are_served(served):
    c = Client(served["url"])
    for page in ("/rate", "/rank", "/static/feedback.js"):
        status, body = c.get(page)
        assert status == 200 and len(body) > 500, page


def test_rate_skip_and_undo(served):
    c = Client(served["url"], served["tokens"]["alice"])
    status, nxt = c.get("/api/rating/next")
    assert status == 200 and nxt["query"]["id"] == served["qids"][0] and nxt["query"]["n_classes"] == 5
    assert nxt["query"]["clip"]["clip"].startswith(f"/clips/{nxt['query']['clip']['segment']}.mp4")
    status, r = c.post("/api/ratings", {"rating_query_id": served["qids"][0], "rating": 5})
    assert status == 200 and not r["duplicate"] and r["progress"]["labelled"] == 1
    status, r = c.post("/api/ratings", {"rating_query_id": served["qids"][0], "rating": 5})
    assert status == 200 and r["duplicate"]  # the same answer twice: stored once
    status, r = c.post("/api/ratings", {"rating_query_id": served["qids"][1], "skip": True})
    assert status == 200
    with PreferenceStore(served["path"], create=False) as store:
        rows = store.ratings(labeler="alice")
        assert rows["rating"][0] == 4 and rows["skipped"].tolist() == [False, True]  # level 5 is class 4
    status, r = c.post("/api/ratings/undo")
    assert status == 200 and r["rating_query_id"] == served["qids"][1] and r["query"]["answer"] is None
    assert c.get("/api/rating/next")[1]["query"]["id"] == served["qids"][1]


@pytest.mark.parametrize(
    "body, code, detail",
    [
        ({"rating_query_id": 1, "rating": 6}, 422, "0..4 on a 5-class scale"),
        ({"rating_query_id": 1, "rating": 0}, 422, "greater than or equal to 1"),
        ({"rating_query_id": 1, "rating": "3"}, 422, "integer"),
        ({"rating_query_id": 1}, 422, "either a rating"),
        ({"rating_query_id": 1, "rating": 2, "skip": True}, 422, "either a rating"),
        ({"rating_query_id": 999, "rating": 2}, 404, "rating query 999"),
        ({"rating_query_id": 1, "rating": 2, "extra": 1}, 422, "extra"),
    ],
)
def test_bad_rating_payloads_change_nothing(served, body, code, detail):
    c = Client(served["url"], served["tokens"]["bob"])
    before = store_snapshot(served["path"]), PreferenceStore(served["path"]).ratings(include_retracted=True)["id"].tolist()
    status, r = c.post("/api/ratings", body)
    assert status == code and detail in str(r["detail"]), r
    after = store_snapshot(served["path"]), PreferenceStore(served["path"]).ratings(include_retracted=True)["id"].tolist()
    assert after == before


def test_a_different_rating_is_a_conflict(served):
    c = Client(served["url"], served["tokens"]["bob"])
    qid = served["qids"][2]
    assert c.post("/api/ratings", {"rating_query_id": qid, "rating": 2})[0] == 200
    status, r = c.post("/api/ratings", {"rating_query_id": qid, "rating": 3})
    assert status == 409 and "undo first" in r["detail"]
    with PreferenceStore(served["path"], create=False) as store:
        assert store.ratings(labeler="bob")["rating"].tolist() == [1.0]
    assert Client(served["url"]).post("/api/ratings", {"rating_query_id": qid, "rating": 3}, token=None)[0] == 401


def test_build_a_ranking_and_refuse_stale_or_foreign_answers(served):
    alice, bob = Client(served["url"], served["tokens"]["alice"]), Client(served["url"], served["tokens"]["bob"])
    status, nxt = alice.get("/api/ranking/next")
    r = nxt["ranking"]
    assert status == 200 and r["id"] == served["rid"] and r["step"] == 0 and r["placed"] == 1 and r["pending"] == 2
    assert r["reference"]["clip"] and r["candidate"]["clip"]
    for bad, code, detail in (
        ({"ranking_id": r["id"], "step": 0, "choice": "up"}, 422, "left"),
        ({"ranking_id": r["id"], "step": -1, "choice": "left"}, 422, "greater than or equal to 0"),
        ({"ranking_id": 999, "step": 0, "choice": "left"}, 404, "ranking 999"),
        ({"ranking_id": r["id"], "choice": "left"}, 422, "step"),
    ):
        status, out = alice.post("/api/ranking/answer", bad)
        assert status == code and detail in str(out["detail"]), out
    status, out = alice.post("/api/ranking/answer", {"ranking_id": r["id"], "step": 0, "choice": "right"})
    assert status == 200 and out["placed"] and not out["done"]
    status, out = alice.post("/api/ranking/answer", {"ranking_id": r["id"], "step": 0, "choice": "right"})
    assert status == 409 and "reload" in out["detail"]  # a repeated submit is not applied twice
    status, out = bob.post("/api/ranking/answer", {"ranking_id": r["id"], "step": 1, "choice": "right"})
    assert status == 409 and "being built by 'alice'" in out["detail"]
    assert bob.get("/api/ranking/next")[1]["ranking"] is None  # alice's list is not offered to bob
    status, out = alice.post("/api/ranking/undo", {"ranking_id": r["id"]})
    assert status == 200 and out["undone"] and out["ranking"]["step"] == 0
    step = 0
    while True:
        status, out = alice.post("/api/ranking/answer", {"ranking_id": r["id"], "step": step, "choice": "right"})
        assert status == 200, out
        step += 1
        if out["done"]:
            break
    assert out["pairs"] == 3 and out["ranking"] is None
    with PreferenceStore(served["path"], create=False) as store:
        (ranking,) = store.rankings("done")
        assert ranking["labeler"] == "alice" and [len(g) for g in ranking["groups"]] == [1, 1, 1]
        assert ranking["groups"] == [[s] for s in ranking["builder"].items()]
        assert store.labels(labeler="alice")["label"].tolist() == [1.0, 1.0, 1.0]
