"""The labeling app's API against a real uvicorn server on 127.0.0.1 (random free port).

One server (a background thread) over one store serves the tests of this module in
order; each test uses its own queries or labelers, so they do not depend on each
other's answers.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import warnings

import numpy as np
import pytest

from web_support import ROOT, TASK, Client, make_store, store_snapshot

from pbrl.preferences import PreferenceStore
from pbrl.web import LabelServer
from pbrl.web.server import NonLoopbackWarning, is_loopback


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-api")
    path = str(folder / "prefs.sqlite")
    ids = make_store(path, pairs=8, horizon=20)
    with PreferenceStore(path) as store:
        tokens = {name: store.add_labeler(name) for name in ("alice", "bob", "carol")}
    server = LabelServer(path, port=0).start()
    try:
        yield {"path": path, "ids": [int(i) for i in ids], "tokens": tokens, "url": server.url, "server": server}
    finally:
        server.stop()


def test_binds_loopback_on_a_random_port(served):
    server = served["server"]
    assert server.host == "127.0.0.1" and server.port > 0
    status, health = Client(served["url"]).get("/api/health")
    assert status == 200 and health["ok"] and health["task"] == TASK


def test_task_and_pages(served):
    c = Client(served["url"])
    status, task = c.get("/api/task")
    assert status == 200 and task["task"] == TASK
    assert task["goal"].startswith("Make the two-legged planar cheetah")
    assert task["playback"]["fps"] == pytest.approx(20.0)
    for path in ("/", "/stats", "/static/app.js", "/static/style.css", "/static/stats.js"):
        status, body = c.get(path)
        assert status == 200 and len(body) > 100, path
    with urllib.request.urlopen(served["url"] + "/") as res:
        assert "script-src 'self'" in res.headers["content-security-policy"]


def test_next_serves_oldest_open_query_with_playable_clips(served):
    c = Client(served["url"], served["tokens"]["carol"])
    status, data = c.get("/api/next")
    assert status == 200
    q = data["query"]
    assert q["id"] == served["ids"][0]
    assert data["progress"] == {"labelled": 0, "skipped": 0, "queued": 8, "total": 8}
    status, clip = c.get(q["left"]["clip"])
    assert status == 200 and clip[4:8] == b"ftyp"  # an MP4
    assert b"avc1" in clip[:4096]  # H.264
    # nothing in the payload reveals rewards or origins (they would bias the labeler)
    assert set(q["left"]) == {"segment", "clip", "problem"}


def test_label_is_stored_with_its_labeler_and_submission_is_idempotent(served):
    c = Client(served["url"], served["tokens"]["alice"])
    qid = served["ids"][1]
    status, first = c.post("/api/labels", {"query_id": qid, "choice": "right"})
    assert status == 200 and not first["duplicate"]
    status, again = c.post("/api/labels", {"query_id": qid, "choice": "right"})
    assert status == 200 and again["duplicate"] and again["label_id"] == first["label_id"]
    with PreferenceStore(served["path"], create=False) as store:
        rows = store.labels(query_ids=[qid])
    assert rows["labeler"].tolist() == ["alice"]
    assert rows["label"].tolist() == [1.0]
    assert rows["teacher_kind"].tolist() == ["human"]
    # a different answer to the same query is a conflict, and changes nothing
    status, body = c.post("/api/labels", {"query_id": qid, "choice": "left"})
    assert status == 409 and "undo" in body["detail"]
    with PreferenceStore(served["path"], create=False) as store:
        assert store.labels(query_ids=[qid])["label"].tolist() == [1.0]


def test_undo_retracts_the_last_answer_and_the_query_comes_back(served):
    c = Client(served["url"], served["tokens"]["bob"])
    a, b = served["ids"][2], served["ids"][3]
    assert c.post("/api/labels", {"query_id": a, "choice": "equal"})[0] == 200
    assert c.post("/api/labels", {"query_id": b, "choice": "skip"})[0] == 200
    status, undone = c.post("/api/undo")
    assert status == 200 and undone["query_id"] == b
    status, shown = c.get(f"/api/queries/{b}")
    assert status == 200 and shown["query"]["answer"] is None
    with PreferenceStore(served["path"], create=False) as store:
        mine = store.labels(labeler="bob")
        assert mine["query_id"].tolist() == [a] and mine["label"].tolist() == [0.5]
        assert b in store.open_queries("bob").tolist()
    # after the undo the answer can be given again, differently
    assert c.post("/api/labels", {"query_id": b, "choice": "left"})[0] == 200
    assert c.get(f"/api/queries/{b}")[1]["query"]["answer"] == "left"


def test_malformed_requests_get_4xx_and_the_server_stays_up(served):
    c = Client(served["url"], served["tokens"]["carol"])
    qid = served["ids"][4]
    before = store_snapshot(served["path"])
    json_header = {"Content-Type": "application/json"}
    cases = [
        ({"query_id": qid, "choice": "maybe"}, None, 422),
        ({"query_id": qid, "choice": 0.5}, None, 422),
        ({"query_id": str(qid), "choice": "left"}, None, 422),
        ({"query_id": 1.5, "choice": "left"}, None, 422),
        ({"query_id": qid}, None, 422),
        ({"query_id": qid, "choice": "left", "extra": 1}, None, 422),
        ({"query_id": -3, "choice": "left"}, None, 422),
        ({"query_id": 2**70, "choice": "left"}, None, 422),
        ({"query_id": 99999, "choice": "left"}, None, 404),
        ([1, 2, 3], None, 422),
        (None, b"{not json", 422),
        (None, b"\xff\xfe\x00garbage", 422),
        (None, b"", 422),
        (None, b'{"query_id": 1, "choice": "' + b"x" * 10_000 + b'"}', 413),
    ]
    for body, raw, expected in cases:
        status, answer = c.request("POST", "/api/labels", body, raw=raw, headers=json_header)
        assert status == expected, (body, raw and raw[:40], status, answer)
    assert c.get("/api/queries/abc")[0] == 422
    assert c.get("/api/queries/0")[0] == 422
    assert c.get("/api/queries/424242")[0] == 404
    assert c.get("/clips/424242.mp4")[0] == 404
    assert c.get("/clips/abc.mp4")[0] in (404, 422)
    assert c.get("/api/nothing-here")[0] == 404
    assert c.request("DELETE", "/api/labels")[0] == 405
    assert c.get("/api/health", headers={"Host": "rebinding.example:80"})[0] == 400
    assert store_snapshot(served["path"]) == before
    assert c.get("/api/health")[0] == 200


def test_stats_count_labelers_and_agreement(served):
    path = served["path"]
    alice = Client(served["url"], served["tokens"]["alice"])
    carol = Client(served["url"], served["tokens"]["carol"])
    qid = served["ids"][5]
    assert alice.post("/api/labels", {"query_id": qid, "choice": "left"})[0] == 200
    assert carol.post("/api/labels", {"query_id": qid, "choice": "left"})[0] == 200
    status, stats = Client(served["url"]).get("/api/stats")
    assert status == 200
    per = {r["labeler"]: r for r in stats["labelers"]}
    with PreferenceStore(path, create=False) as store:
        rows = store.labels()
        for name in ("alice", "carol"):
            assert per[name]["answers"] == int(np.sum(rows["labeler"] == name))
        first, second = store.get_pairs([qid])
    pair = next(p for p in stats["agreement"] if {p["a"], p["b"]} == {"alice", "carol"})
    assert pair["shared"] >= 1 and pair["agree"] >= 1
    # agreement with the oracle: the oracle prefers the larger true return
    oracle_label = 1.0 if second.returns[0] > first.returns[0] else 0.0
    carol_vs_oracle = next(r for r in stats["oracle"] if r["labeler"] == "carol")
    assert carol_vs_oracle["compared"] == 1
    assert carol_vs_oracle["agree"] == int(oracle_label == 0.0)


def test_a_segment_without_states_explains_why_it_has_no_clip(tmp_path):
    path = str(tmp_path / "nostate.sqlite")
    make_store(path, pairs=1, horizon=10, with_state=False)
    with PreferenceStore(path) as store:
        token = store.add_labeler("dora")
    with LabelServer(path) as server:
        c = Client(server.url, token)
        status, data = c.get("/api/next")
        assert status == 200
        side = data["query"]["left"]
        assert side["clip"] is None and "qpos" in side["problem"]
        status, body = c.get(f"/clips/{side['segment']}.mp4")
        assert status == 422 and "qpos/qvel" in body["detail"]
        # the pair can still be skipped
        assert c.post("/api/labels", {"query_id": data["query"]["id"], "choice": "skip"})[0] == 200


def test_non_loopback_binding_warns():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    from pbrl.web.server import _check_host

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_host("0.0.0.0")
        _check_host("127.0.0.1")
    assert [w.category for w in caught] == [NonLoopbackWarning]


def test_cli_add_labeler_prints_a_working_token(tmp_path):
    path = str(tmp_path / "cli.sqlite")
    out = subprocess.run(
        [sys.executable, "-m", "pbrl.cli.main", "label", "add-labeler", "erin", "--store", path],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    token = out.stdout.strip()
    with PreferenceStore(path, create=False) as store:
        assert store.verify_token(token) == "erin"
    again = subprocess.run(
        [sys.executable, "-m", "pbrl.cli.main", "label", "add-labeler", "erin", "--store", path],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
