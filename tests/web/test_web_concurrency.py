"""Many parallel submits, requests without a valid token, and the store surviving a
server killed mid-write — all against real servers on 127.0.0.1 (bounded request
counts, loopback only)."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor


from web_support import Client, free_port, make_store, start_server_process, store_snapshot

from pbrl.preferences import PreferenceStore
from pbrl.web import LabelServer

CHOICE_VALUE = {"left": 0.0, "right": 1.0, "equal": 0.5}


def test_parallel_submits_neither_lose_nor_double_labels(tmp_path):
    path = str(tmp_path / "prefs.sqlite")
    ids = [int(i) for i in make_store(path, pairs=24, horizon=5)]
    names = ["ann", "ben", "cat"]
    with PreferenceStore(path) as store:
        tokens = {n: store.add_labeler(n) for n in names + ["dan"]}
    rng = random.Random(0)
    wanted = {(n, q): rng.choice(list(CHOICE_VALUE)) for n in names for q in ids}
    # every answer sent three times, all shuffled together
    jobs = [(n, q, c) for (n, q), c in wanted.items() for _ in range(3)]
    # dan sends two different answers to each of 8 queries at once: one must win
    contested = ids[:8]
    jobs += [("dan", q, c) for q in contested for c in ("left", "right")]
    rng.shuffle(jobs)

    with LabelServer(path, render_ahead=0) as server:
        def send(job):
            name, qid, choice = job
            status, body = Client(server.url, tokens[name]).post("/api/labels", {"query_id": qid, "choice": choice})
            return job, status, body

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(send, jobs))
        assert Client(server.url).get("/api/health")[0] == 200

    assert len(results) == 3 * len(wanted) + 2 * len(contested)
    for (name, qid, choice), status, body in results:
        if name == "dan":
            assert status in (200, 409), body
        else:
            assert status == 200, body
    dan_ok = {}
    for (name, qid, choice), status, _ in results:
        if name == "dan" and status == 200:
            assert qid not in dan_ok or dan_ok[qid] == choice
            dan_ok[qid] = choice
    assert sorted(dan_ok) == sorted(contested)  # exactly one answer won each contest

    with PreferenceStore(path, create=False) as store:
        every = store.labels(include_retracted=True)
        active = store.labels()
        statuses = set(store.queries()["status"].tolist())
    # nothing doubled: no retracted rows, one active label per (labeler, query)
    assert every["id"].size == active["id"].size == len(wanted) + len(contested)
    got = {(n, q): v for n, q, v in zip(active["labeler"].tolist(), active["query_id"].tolist(), active["label"].tolist())}
    assert len(got) == active["id"].size
    # nothing lost: every answer is there with its value
    for key, choice in wanted.items():
        assert got[key] == CHOICE_VALUE[choice]
    for qid, choice in dan_ok.items():
        assert got[("dan", qid)] == CHOICE_VALUE[choice]
    assert statuses == {"labelled"}


def test_requests_without_a_valid_token_change_nothing(tmp_path):
    path = str(tmp_path / "prefs.sqlite")
    ids = [int(i) for i in make_store(path, pairs=3, horizon=5)]
    with PreferenceStore(path) as store:
        token = store.add_labeler("ann")
    with LabelServer(path, render_ahead=0) as server:
        good = Client(server.url, token)
        assert good.post("/api/labels", {"query_id": ids[0], "choice": "left"})[0] == 200
        before = store_snapshot(path)
        bad_auth = [
            {"token": None},
            {"token": ""},
            {"token": token[:-1] + ("A" if token[-1] != "A" else "B")},
            {"token": "x" * 5000},
            {"token": None, "headers": {"Authorization": token}},  # no "Bearer"
            {"token": None, "headers": {"Authorization": f"Basic {token}"}},
            {"token": None, "headers": {"X-Pbrl-Token": "wrong"}},
        ]
        for kw in bad_auth:
            c = Client(server.url)
            label = c.request("POST", "/api/labels", {"query_id": ids[1], "choice": "right"}, **kw)
            undo = c.request("POST", "/api/undo", **kw)
            nxt = c.request("GET", "/api/next", **kw)
            assert (label[0], undo[0], nxt[0]) == (401, 401, 401), kw
            # a token in the URL is not accepted either
            assert c.post(f"/api/labels?token={token}", {"query_id": ids[1], "choice": "right"}, token=None)[0] == 401
        assert store_snapshot(path) == before
        # the other header form works with a valid token
        assert Client(server.url).post(
            "/api/labels", {"query_id": ids[1], "choice": "right"}, token=None, headers={"X-Pbrl-Token": token}
        )[0] == 200


def test_store_survives_the_server_killed_mid_write(tmp_path):
    path = str(tmp_path / "prefs.sqlite")
    ids = [int(i) for i in make_store(path, pairs=160, horizon=4)]
    with PreferenceStore(path) as store:
        token = store.add_labeler("ann")
    port = free_port()
    proc = start_server_process(path, port, "--render-ahead", "0")
    acked: dict[int, str] = {}
    lock = threading.Lock()
    enough = threading.Event()
    todo = list(ids)

    def submitter(k: int) -> None:
        c = Client(f"http://127.0.0.1:{port}", token)
        for qid in todo[k::8]:
            choice = ("left", "right", "equal")[qid % 3]
            try:
                status, _ = c.post("/api/labels", {"query_id": qid, "choice": choice}, timeout=10)
            except OSError:  # the server is gone
                return
            if status != 200:
                return
            with lock:
                acked[qid] = choice
                if len(acked) >= 40:
                    enough.set()

    try:
        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        assert enough.wait(120), "the server acknowledged fewer than 40 labels"
        proc.send_signal(signal.SIGKILL)  # while the other submits are in flight
        proc.wait(30)
        for t in threads:
            t.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert len(acked) < len(ids), "every submit finished before the kill: nothing was in flight"

    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    with PreferenceStore(path, create=False) as store:
        active = store.labels()
        q = store.queries()
    got = dict(zip(active["query_id"].tolist(), active["label"].tolist()))
    assert len(got) == active["id"].size  # one label per query, none doubled
    for qid, choice in acked.items():  # every acknowledged label survived
        assert got[qid] == CHOICE_VALUE[choice]
    for qid, status in zip(q["id"].tolist(), q["status"].tolist()):  # statuses agree with the labels
        assert status == ("labelled" if qid in got else "open")

    # the store works after the crash: a new server takes the remaining labels
    proc = start_server_process(path, free_port(), "--render-ahead", "0")
    try:
        port2 = int(proc.args[proc.args.index("--port") + 1])
        c = Client(f"http://127.0.0.1:{port2}", token)
        rest = [qid for qid in ids if qid not in got]
        for qid in rest[:5]:
            assert c.post("/api/labels", {"query_id": qid, "choice": "skip"})[0] == 200
        if acked:
            qid, choice = next(iter(acked.items()))
            status, body = c.post("/api/labels", {"query_id": qid, "choice": choice})
            assert status == 200 and body["duplicate"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except Exception:  # noqa: BLE001
            proc.kill()
            proc.wait(30)
