"""The statistics count ratings and rankings beside the pairs: /api/stats against the real server (pair keys
unchanged), and the statistics page in real Chromium showing the new counts."""

from __future__ import annotations

import pytest

from test_web_browser import wait_for
from test_web_feedback import make_feedback_store
from test_web_feedback_browser import opened
from web_support import Client, rollout_buffer

from pbrl.preferences import PreferenceStore, Provenance, SegmentSampler
from pbrl.web import LabelServer
from pbrl.web.stats import labeling_stats

#: the keys /api/stats had before ratings and rankings were counted
PAIR_KEYS = {"store", "labelers", "agreement", "oracle"}
PAIR_LABELER_KEYS = {"labeler", "kind", "registered", "answers", "labels", "left", "right", "equal", "skipped", "first", "last"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store with 4 rating queries (5 levels), one open ranking of 3 clips and a scripted finished ranking;
    alice and bob rate over HTTP and alice builds the open list."""
    path = str(tmp_path_factory.mktemp("stats-feedback") / "prefs.sqlite")
    qids, rid = make_feedback_store(path, ratings=4, n_classes=5, ranked=3)
    with PreferenceStore(path) as store:
        tokens = {name: store.add_labeler(name) for name in ("alice", "bob")}
        scripted = Provenance("scripted", {"preset": "oracle"}, "oracle")
        # a scripted list of 4 fresh segments in 3 groups: 5 implied pairs of the oracle's
        fresh = SegmentSampler(rollout_buffer(seed=3, steps=60), horizon=20, seed=3).sample(4)
        store.add_ranked_segments(fresh, [[0], [1, 2], [3]], scripted, comparisons=5)
    with LabelServer(path, port=0) as server:
        alice, bob = Client(server.url, tokens["alice"]), Client(server.url, tokens["bob"])
        for qid, body in ((qids[0], {"rating": 5}), (qids[1], {"rating": 2}), (qids[2], {"skip": True})):
            assert alice.post("/api/ratings", {"rating_query_id": qid, **body})[0] == 200
        assert bob.post("/api/ratings", {"rating_query_id": qids[0], "rating": 4})[0] == 200
        step = 0
        while True:  # alice ranks the open list: every new clip better
            status, out = alice.post("/api/ranking/answer", {"ranking_id": rid, "step": step, "choice": "right"})
            assert status == 200, out
            step += 1
            if out["done"]:
                break
        yield {"path": path, "url": server.url, "qids": qids, "alice_steps": step}


def test_api_stats_counts_ratings_and_rankings_and_keeps_the_pair_keys(served):
    status, stats = Client(served["url"]).get("/api/stats")
    assert status == 200
    assert PAIR_KEYS <= set(stats) and set(stats) - PAIR_KEYS == {"ratings", "rankings"}
    assert all(set(r) == PAIR_LABELER_KEYS for r in stats["labelers"])
    with PreferenceStore(served["path"], create=False) as store:
        assert stats["store"] == store.summary()  # the store line: unchanged
        expected = labeling_stats(store)
    assert stats["labelers"] == expected["labelers"]

    rt = stats["ratings"]
    # 4 queries: q0 rated (alice and bob), q1 rated, q2 skipped, q3 open
    assert {k: rt[k] for k in ("queries", "open", "rated", "skipped", "ratings", "skips", "rated_segments")} == {
        "queries": 4, "open": 1, "rated": 2, "skipped": 1, "ratings": 3, "skips": 1, "rated_segments": 2,
    }  # fmt: skip
    assert rt["scales"] == [5]
    per = {r["labeler"]: r for r in rt["labelers"]}
    assert per["alice"]["ratings"] == 2 and per["alice"]["skipped"] == 1 and per["alice"]["kind"] == "human"
    assert per["alice"]["levels"] == [0, 1, 0, 0, 1]  # levels 2 and 5
    assert per["bob"]["levels"] == [0, 0, 0, 1, 0] and per["bob"]["skipped"] == 0

    rk = stats["rankings"]
    assert rk["lists"] == 2 and rk["open"] == 0
    assert rk["ranked_segments"] == 3 + 4
    assert rk["comparisons"] == 5 + served["alice_steps"]
    per = {r["labeler"]: r for r in rk["labelers"]}
    assert per["alice"] == {"labeler": "alice", "kind": "human", "lists": 1, "in_progress": 0, "segments": 3, "comparisons": served["alice_steps"]}
    assert per["oracle"]["kind"] == "scripted" and per["oracle"]["segments"] == 4


def test_an_empty_store_and_an_open_list_count_zero(tmp_path):
    path = str(tmp_path / "empty.sqlite")
    make_feedback_store(path, ratings=0, ranked=2)
    with PreferenceStore(path, create=False) as store:
        stats = labeling_stats(store)
    assert stats["ratings"]["queries"] == stats["ratings"]["rated_segments"] == 0 and stats["ratings"]["labelers"] == []
    assert stats["rankings"]["lists"] == 0 and stats["rankings"]["open"] == 1 and stats["rankings"]["labelers"] == []


def test_stats_page_shows_ratings_and_rankings(served):
    with opened(served["path"], "/stats", "") as page:
        wait_for(page, "() => document.getElementById('rating-line').textContent.length > 0")
        line = page.inner_text("#rating-line")
        assert "4 rating queries: 1 open, 2 rated, 1 skipped" in line and "2 segments rated" in line
        assert "2 ranked lists finished, 0 open · 7 segments ranked" in page.inner_text("#ranking-line")
        raters = page.eval_on_selector_all("#raters tbody tr", "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
        assert [r[:5] for r in raters] == [
            ["alice", "human", "2", "1", "1: 0 · 2: 1 · 3: 0 · 4: 0 · 5: 1"],
            ["bob", "human", "1", "0", "1: 0 · 2: 0 · 3: 0 · 4: 1 · 5: 0"],
        ]
        rankers = page.eval_on_selector_all("#rankers tbody tr", "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
        assert rankers == [["alice", "human", "1", "0", "3", str(served["alice_steps"])], ["oracle", "scripted", "1", "0", "4", "5"]]
        # the pair table is still there: the lists' implied pairs are pair labels
        assert page.eval_on_selector_all("#labelers tbody tr", "trs => trs.length") == 3  # alice, oracle; bob (registered, no pair)
